#!/usr/bin/env bash
# cli_report_kinds.sh — `fovea report` of a detector, of generative models (a VAE, a GAN) and of a
# pose network, each trained briefly on tiny data: the page has its kind's sections and pictures
# (and not a classifier's), its figures are those `fovea evaluate` prints for the same model and
# data, and data of the wrong kind is refused with one message and no page. (cli_report.sh checks
# a classifier's page and renders it in Chromium.)
set -u
source "$(dirname "$0")/data/cli_lib.bash"
D=$DATA/quad

absent() { [ ! -e "$1" ]; }
# pngs PAGE: the count of pictures inlined as PNG.
pngs() { grep -o '<img [^>]*src="data:image/png;base64,' "$1" | wc -l; }
# no_section PAGE ID: the page has no section of that id.
no_section() { ! grep -q "<h2 id=\"$2\"" "$1"; }

# table_matches PAGE JSON: every row <tr data-key="K"><th>..</th><td>V</td> of the page's tables
# equals JSON's K (top level or under "stats") at the page's decimals, and there is at least one.
table_matches() {
    python3 - "$1" "$2" <<'PY'
import json, re, sys
page, want = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
flat = dict(want.get("stats", {}), **{k: v for k, v in want.items() if not isinstance(v, (dict, list))})
rows = re.findall(r'<tr data-key="([^"]+)"><th>.*?</th><td>([-+0-9.e]+)</td>', page)
def half_unit(v):  # half a unit in the last digit the page shows
    m = re.fullmatch(r'-?\d+(?:\.(\d+))?(?:e([-+]\d+))?', v)
    return 0.5 * 10.0 ** (int(m.group(2) or 0) - len(m.group(1) or ""))
bad = [(k, v, flat.get(k)) for k, v in rows
       if k not in flat or abs(float(v) - flat[k]) > half_unit(v) + 1e-12]
print("rows", len(rows), "mismatches", bad, file=sys.stderr) if bad or not rows else None
sys.exit(1 if bad or not rows else 0)
PY
}

# pngs_sound PAGE: every inlined PNG has PNG's signature and an IHDR of the <img>'s width and height.
pngs_sound() {
    python3 - "$1" <<'PY'
import base64, re, struct, sys
imgs = re.findall(r'<img width="(\d+)" height="(\d+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"',
                  open(sys.argv[1]).read())
for w, h, b in imgs:
    d = base64.b64decode(b)
    assert d[:8] == b"\x89PNG\r\n\x1a\n" and d[12:16] == b"IHDR", d[:16]
    assert struct.unpack(">II", d[16:24]) == (int(w), int(h)), (w, h, struct.unpack(">II", d[16:24]))
sys.exit(0 if imgs else 1)
PY
}

# pre_matches PAGE FILE: the page's block "As fovea evaluate prints it" is FILE's text (after
# FILE's first MODEL-specific lines SKIP, default 0).
pre_matches() {
    python3 - "$1" "$2" "${3:-0}" <<'PY'
import html, re, sys
page, text, skip = open(sys.argv[1]).read(), open(sys.argv[2]).read(), int(sys.argv[3])
m = re.search(r'prints it</summary>\n<pre>(.*?)</pre>', page, re.S)
want = "".join(text.splitlines(True)[skip:])
sys.exit(0 if m and html.unescape(m.group(1)) == want else 1)
PY
}

echo "# a detector"
expect_ok "scenes" "$FOVEA" data make detection "$TMP/scenes" --source mnist --from "$D" \
    --train 96 --test 8 --size 32 --min-object 10 --max-object 16 --max-objects 2 --seed 3
expect_ok "train the detector" "$FOVEA" train "$DATA/det32.fv" --data "$TMP/scenes" --seed 1 \
    --save "$TMP/det.safetensors" --history "$TMP/dh.csv" --verbose 0
R=$TMP/det.html
expect_ok "report of the detector" "$FOVEA" report "$TMP/det.safetensors" --data "$TMP/scenes" \
    --history "$TMP/dh.csv" -o "$R"
check "the COCO evaluation" grep -q '<h2 id="coco">COCO evaluation on the test set</h2>' "$R"
check "the precision-recall curves" grep -q '<h2 id="pr">Precision-recall curves</h2>' "$R"
check "the best and worst images" grep -q '<h2 id="images">Best and worst test images</h2>' "$R"
check "the summary table" grep -q 'Total params' "$R"
check "no confusion matrix, no feature maps" bash -c "! grep -Eq 'id=\"(confusion|features)\"' '$R'"
check "the header says what the test data are" grep -q '(8 test images, [0-9]* boxes, 10 categories)' "$R"
# curves, PR curves, best, worst, kernels of conv2d, conv2d_1 and pred
check "7 pictures: $(pngs "$R")" test "$(pngs "$R")" -eq 7
check "each a PNG of its stated size" pngs_sound "$R"
expect_ok "evaluate --json" "$FOVEA" evaluate "$TMP/det.safetensors" --data "$TMP/scenes" --json
cp "$TMP/out" "$TMP/det.json"
check "some AP is above 0, so the comparison means something" \
    python3 -c "import json,sys; sys.exit(not json.load(open('$TMP/det.json'))['stats']['AP50'] > 0)"
check "the twelve figures are evaluate --json's" table_matches "$R" "$TMP/det.json"
check "the twelve figures, twelve rows" test "$(grep -c '<tr data-key="A[PR]' "$R")" -eq 12
python3 - "$R" "$TMP/det.json" >"$TMP/cls.out" 2>&1 <<'PY'
import json, re, sys
page, want = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
table = re.search(r'<table class="grid" id="coco-classes">(.*?)</table>', page, re.S).group(1)
rows = re.findall(r'<tr><th>([^<]*)</th><td>(\d+)</td><td>([-0-9.]+)</td><td>([-0-9.]+)</td>'
                  r'<td>([-0-9.]+)</td><td>([-0-9.]+)</td></tr>', table)
assert len(rows) == len(want["per_class"]), (len(rows), len(want["per_class"]))
for row, c in zip(rows, want["per_class"]):
    assert row[0] == c["name"] and int(row[1]) == c["id"], (row, c)
    for v, k in zip(row[2:], ("AP", "AP50", "AP75", "voc_AP50")):
        assert abs(float(v) - c[k]) <= 5e-5 + 1e-12, (row, c)
PY
check "each class's AP, AP50, AP75 and VOC AP50 are evaluate --json's" test $? -eq 0
expect_ok "evaluate as text" "$FOVEA" evaluate "$TMP/det.safetensors" --data "$TMP/scenes"
check "the text block is evaluate's, character for character" pre_matches "$R" "$TMP/out"
python3 - "$R" >"$TMP/f1.out" 2>&1 <<'PY'
import re, sys
page = open(sys.argv[1]).read()
def rows(title):
    part = page.split("<h3>%s</h3>" % title)[1].split("</table>")[0]
    return [(float(f), int(t), int(p), int(m)) for f, t, p, m in re.findall(
        r'<td>([0-9.]+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>', part)]
best, worst = rows("Best"), rows("Worst")
assert len(best) == 2 and len(worst) == 2, (best, worst)
for f, tp, fp, miss in best + worst:  # F1 = 2 TP / (2 TP + FP + missed), 1 with none of them
    want = 1.0 if tp + fp + miss == 0 else 2 * tp / (2 * tp + fp + miss)
    assert abs(f - want) < 5e-5, (f, tp, fp, miss)
key = lambda r: (r[0], r[1] - r[2] - r[3])  # F1, then TP - FP - missed
assert min(map(key, best)) >= max(map(key, worst)), (best, worst)
assert key(best[0]) >= key(best[1]) and key(worst[0]) <= key(worst[1]), (best, worst)
PY
check "best and worst: 2 each, F1 from their counts, ranked by F1 then TP - FP - missed" test $? -eq 0
expect_ok "--examples 0: no images drawn" "$FOVEA" report "$TMP/det.safetensors" \
    --data "$TMP/scenes" -o "$TMP/det0.html" --examples 0
check "4 pictures without the images" test "$(pngs "$TMP/det0.html")" -eq 4
expect_error "a detector with an IDX folder" 1 \
    "--data: '.*quad' is not a detection dataset .* is a detector \(its output is a yolo head\)" \
    "$FOVEA" report "$TMP/det.safetensors" --data "$D" -o "$TMP/bad.html"
expect_ok "a classifier" "$FOVEA" train "$DATA/quad.fv" --data "$D" --epochs 1 \
    --save "$TMP/cls.safetensors" --verbose 0
expect_error "a classifier with a detection folder" 1 \
    "--data: '.*scenes' is a detection dataset, but .*cls.safetensors is a classifier" \
    "$FOVEA" report "$TMP/cls.safetensors" --data "$TMP/scenes" -o "$TMP/bad.html"
expect_error "an option of another kind" 2 "--object applies to pose networks only" \
    "$FOVEA" report "$TMP/det.safetensors" --data "$TMP/scenes" --object 1 -o "$TMP/bad.html"
check "no page after any of them" absent "$TMP/bad.html"

echo "# a VAE"
V=$TMP/vae.safetensors
expect_ok "train the VAE" "$FOVEA" train "$DATA/quad_vae.fv" --data "$D" --save "$V" \
    --history "$TMP/vh.csv" --verbose 0
R=$TMP/vae.html
expect_ok "report of the VAE, with the FID-style distance" "$FOVEA" report "$V" --data "$D" \
    --history "$TMP/vh.csv" --features "$TMP/cls.safetensors" --layer flatten --samples 60 -o "$R"
for s in 'figures">Figures on the test set' 'samples">Samples' 'reconstructions">Reconstructions' \
    'latent">Latent space' 'kernels">Kernels'; do
    check "section ${s#*>}" grep -q "<h2 id=\"$s</h2>" "$R"
done
check "no classifier's sections" bash -c "! grep -Eq 'id=\"(metrics|confusion|features)\"' '$R'"
# curves, samples, reconstructions, latent space, kernels of conv2d
check "5 pictures: $(pngs "$R")" test "$(pngs "$R")" -eq 5
check "each a PNG of its stated size" pngs_sound "$R"
expect_ok "evaluate the VAE" "$FOVEA" evaluate "$V" --data "$D" --features "$TMP/cls.safetensors" \
    --layer flatten --samples 60
cp "$TMP/out" "$TMP/vae.txt"
expect_ok "evaluate the VAE, --json" "$FOVEA" evaluate "$V" --data "$D" \
    --features "$TMP/cls.safetensors" --layer flatten --samples 60 --json
cp "$TMP/out" "$TMP/vae.json"
check "the figures are evaluate --json's" table_matches "$R" "$TMP/vae.json"
check "all eight of them (the loss, kl_loss, MSE, 2 BCE, KL, ELBO, FID)" \
    test "$(grep -c '<tr data-key=' "$R")" -eq 8
check "the figures as evaluate prints them, character for character" pre_matches "$R" "$TMP/vae.txt"
elbo=$(sed -n 's/^Negative ELBO per image: \([0-9.]*\) .*/\1/p' "$TMP/vae.txt")
check "the negative ELBO card is evaluate's ($elbo)" grep -q "<div class=\"v\">$(printf '%.2f' "$elbo")</div><div class=\"l\">Negative ELBO" "$R"
fid=$(sed -n 's/^FID-style distance: \([0-9.e+-]*\) .*/\1/p' "$TMP/vae.txt")
check "the FID-style distance in the table is evaluate's ($fid)" \
    grep -q "<th>FID-style distance</th><td>$(printf '%.6g' "$fid")</td></tr>" "$R"
expect_error "a VAE with a detection folder" 1 "is a detection dataset, but .* is a generative model" \
    "$FOVEA" report "$V" --data "$TMP/scenes" -o "$TMP/bad.html"
expect_error "--features without --layer" 2 "--features CLASSIFIER and --layer NAME go together" \
    "$FOVEA" report "$V" --data "$D" --features "$TMP/cls.safetensors" -o "$TMP/bad.html"

echo "# a GAN"
G=$TMP/gan.safetensors
expect_ok "train the GAN" "$FOVEA" train "$DATA/quad_gan.fv" --data "$D" --save "$G" \
    --history "$TMP/gh.csv" --verbose 0
expect_ok "report of the GAN, without --features, with its d_loss/g_loss history" "$FOVEA" report \
    "$G" --data "$D" --history "$TMP/gh.csv" -o "$TMP/gan.html"
check "the curves' section counts 2 epochs" grep -q 'gh.csv</code>, 2 epochs.</p>' "$TMP/gan.html"
head -2 "$TMP/gh.csv" >"$TMP/gh1.csv"
expect_ok "report with a history of 1 epoch" "$FOVEA" report "$G" --data "$D" \
    --history "$TMP/gh1.csv" -o "$TMP/gan1.html"
check "  ... '1 epoch.', singular" grep -q 'gh1.csv</code>, 1 epoch.</p>' "$TMP/gan1.html"
check "points to the evaluate command that works for a GAN (with --features and --layer)" \
    grep -q '<code>fovea evaluate MODEL --data DIR --features CLASSIFIER.safetensors --layer NAME</code>' "$TMP/gan.html"
check "its samples" grep -q '<h2 id="samples">Samples</h2>' "$TMP/gan.html"
check "no reconstructions, no latent space" bash -c "! grep -Eq 'id=\"(reconstructions|latent)\"' '$TMP/gan.html'"
check "says the FID-style distance needs --features" grep -q 'needs --features' "$TMP/gan.html"
check "3 pictures (curves, samples, kernels of conv2d)" test "$(pngs "$TMP/gan.html")" -eq 3
check "  ... the curves: two panels (d_loss, g_loss), 1200x450" \
    grep -q '<img width="1200" height="450" alt="training curves"' "$TMP/gan.html"
expect_ok "report of the GAN, with --features" "$FOVEA" report "$G" --data "$D" \
    --features "$TMP/cls.safetensors" --layer flatten --samples 60 --seed 3 -o "$TMP/gan2.html"
expect_ok "evaluate the GAN, --json" "$FOVEA" evaluate "$G" --data "$D" \
    --features "$TMP/cls.safetensors" --layer flatten --samples 60 --seed 3 --json
cp "$TMP/out" "$TMP/gan.json"
check "its FID-style distance is evaluate --json's" table_matches "$TMP/gan2.html" "$TMP/gan.json"
check "  ... as the evaluate command it names prints it" \
    grep -q "As <code>fovea evaluate MODEL --data DIR --features $TMP/cls.safetensors --layer flatten</code> prints them" "$TMP/gan2.html"
check "the samples' classes, 4 rows" test "$(grep -c '<tr><th>[0-3]</th><td>[0-9]*</td><td>' "$TMP/gan2.html")" -eq 4
check "no page after the errors" absent "$TMP/bad.html"

echo "# a pose network"
cd "$TMP"
run "$FOVEA" data make pose ds --object tripod --train 8 --test 4 --size 32 --seed 2 --backgrounds none
if [ "$status" -ne 0 ] && grep -q "OSMesa cannot create an OpenGL context" "$TMP/err"; then
    skip "a pose network's report: OSMesa cannot render here ($(cat "$TMP/err"))"
    finish
fi
check "data make pose succeeds" test "$status" -eq 0
run "$FOVEA" train "$DATA/pose16.fv" --data ds --save pose.safetensors --seed 1 --history ph.csv --verbose 0
check "train the pose network" test "$status" -eq 0
R=$TMP/pose.html
expect_ok "report of the pose network" "$FOVEA" report pose.safetensors --data ds --history ph.csv -o "$R"
check "the pose figures" grep -q '<h2 id="pose">Pose figures on the test set</h2>' "$R"
check "the ADD(-S) curve" grep -q '<h2 id="add">ADD(-S) accuracy against the threshold</h2>' "$R"
check "the best and worst images" grep -q '<h2 id="images">Best and worst test images</h2>' "$R"
check "no classifier's sections" bash -c "! grep -Eq 'id=\"(metrics|confusion|features)\"' '$R'"
# curves, ADD(-S) curve, best, worst, kernels of conv2d
check "5 pictures: $(pngs "$R")" test "$(pngs "$R")" -eq 5
check "each a PNG of its stated size" pngs_sound "$R"
expect_ok "evaluate --json" "$FOVEA" evaluate pose.safetensors --data ds --json
cp "$TMP/out" pose.json
check "the figures are evaluate --json's" table_matches "$R" pose.json
check "all eleven of them" test "$(grep -c '<tr data-key=' "$R")" -eq 11
expect_error "a pose network with an IDX folder" 1 "is not a 6D pose dataset in BOP's layout .* is a pose network" \
    "$FOVEA" report pose.safetensors --data "$D" -o bad.html
expect_error "a pose network with a detection folder" 1 "is not a 6D pose dataset" \
    "$FOVEA" report pose.safetensors --data "$TMP/scenes" -o bad.html
expect_error "a classifier with a BOP folder" 1 "is a 6D pose \(BOP\) dataset, but .* is a classifier" \
    "$FOVEA" report "$TMP/cls.safetensors" --data ds -o bad.html
check "no page after them" absent bad.html

finish
