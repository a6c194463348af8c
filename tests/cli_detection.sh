#!/usr/bin/env bash
# cli_detection.sh — detection from the command line: `fovea evaluate --detections
# --annotations` against a second, independent implementation of pycocotools' COCOeval and VOC's
# AP50 (tests/data/cocoeval_ref.py, NumPy) on generated cases; `fovea data make detection` on a
# small count (both layouts, perfect detections score 1); and the errors of each.
set -u
source "$(dirname "$0")/data/cli_lib.bash"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
REF=$DATA/cocoeval_ref.py

# same FILE_A FILE_B: the figures of two --json outputs agree to 1e-12
same() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
bad = []
def cmp(what, x, y):
    if abs(x - y) > 1e-12:
        bad.append("%s: %r vs %r" % (what, x, y))
for k, v in a["stats"].items():
    cmp(k, v, b["stats"][k])
assert len(a["per_class"]) == len(b["per_class"])
for x, y in zip(a["per_class"], b["per_class"]):
    assert x["id"] == y["id"] and x["name"] == y["name"]
    for k in ("AP", "AP50", "AP75", "voc_AP50"):
        cmp("%s %s" % (x["name"], k), x[k], y[k])
cmp("voc_mAP50", a["voc_mAP50"], b["voc_mAP50"])
for line in bad[:10]:
    print(line, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

echo "# COCO's evaluation against the independent implementation"
if ! "$PY" -c 'import numpy' 2>/dev/null; then
    skip "python3 with numpy is needed for the reference implementation"
else
    for seed in 1 2 3 4 5 6; do
        mkdir -p "$TMP/case$seed"
        "$PY" "$REF" make "$seed" "$TMP/case$seed"
        "$PY" "$REF" eval "$TMP/case$seed/instances.json" "$TMP/case$seed/det.json" >"$TMP/ref$seed.json"
        run "$FOVEA" evaluate --json --detections "$TMP/case$seed/det.json" \
            --annotations "$TMP/case$seed/instances.json"
        cp "$TMP/out" "$TMP/fv$seed.json"
        check "case $seed: the twelve figures, per-class AP, AP50, AP75 and VOC AP50 agree" \
            same "$TMP/ref$seed.json" "$TMP/fv$seed.json"
    done
fi

echo "# the summary as pycocotools prints it"
expect_ok "evaluate --detections --annotations" "$FOVEA" evaluate --detections \
    "$TMP/case1/det.json" --annotations "$TMP/case1/instances.json" --plot "$TMP/pr.png"
check "twelve summary lines" test "$(grep -c '^ Average \(Precision\|Recall\) ' "$TMP/out")" -eq 12
check "the first one" grep -q '^ Average Precision  (AP) @\[ IoU=0.50:0.95 | area=   all | maxDets=100 \] = 0\.[0-9][0-9][0-9]$' "$TMP/out"
check "a row per category" grep -q '^c5  *-1.000  *-1.000  *-1.000  *-1.000$' "$TMP/out"
check "the PR curves were drawn" test -s "$TMP/pr.png"
expect_ok "--metric voc" "$FOVEA" evaluate --metric voc --detections "$TMP/case1/det.json" \
    --annotations "$TMP/case1/instances.json"
check "VOC's mean" grep -q '^mAP50 (VOC, all-point interpolation) = 0\.[0-9]*$' "$TMP/out"

echo "# bad input"
expect_error "a detection on an unknown image" 1 'detection [0-9]+ is on image id 99' \
    "$FOVEA" evaluate --detections <(echo '[{"image_id": 99, "category_id": 1, "bbox": [0,0,1,1], "score": 1}]') \
    --annotations "$TMP/case1/instances.json"
sed 's/"category_id": 3/"category_id": 4/' "$TMP/case1/instances.json" >"$TMP/bad.json"
expect_error "an unknown category names the annotation id" 1 \
    'bad.json: annotation id [0-9]+: category_id 4 is not among the categories' \
    "$FOVEA" evaluate --detections "$TMP/case1/det.json" --annotations "$TMP/bad.json"
echo '[{"image_id": 11, "category_id": 1, "bbox": [0, 0, 1], "score": 1}]' >"$TMP/d.json"
expect_error "a short bbox names the element" 1 'd.json: element 0: "bbox" must be' \
    "$FOVEA" evaluate --detections "$TMP/d.json" --annotations "$TMP/case1/instances.json"
expect_error "--detections alone" 2 '--detections needs --annotations' \
    "$FOVEA" evaluate --detections "$TMP/d.json"
expect_error "--metric" 2 "--metric: expected coco or voc, got 'map'" \
    "$FOVEA" evaluate --metric map --detections "$TMP/d.json" --annotations "$TMP/bad.json"

echo "# data make detection"
expect_ok "scenes from a small IDX source" "$FOVEA" data make detection "$TMP/scenes" \
    --source mnist --from "$DATA/quad" --train 12 --test 5 --size 32 --min-object 8 \
    --max-object 16 --max-objects 3 --seed 7
check "train images" test "$(ls "$TMP/scenes/images/train" | wc -l)" -eq 12
check "test labels" test "$(ls "$TMP/scenes/labels/test" | wc -l)" -eq 5
check "data.yaml names the classes" grep -q '^  9: "9"$' "$TMP/scenes/data.yaml"
check "COCO's annotations" test -s "$TMP/scenes/annotations/instances_test.json"
check "no temporary folder left" test -z "$(ls "$TMP" | grep 'scenes.tmp')"
if "$PY" -c 'import json' 2>/dev/null; then
    "$PY" - "$TMP/scenes/annotations/instances_test.json" "$TMP/perfect.json" <<'EOF'
import json, sys
inst = json.load(open(sys.argv[1]))
json.dump([{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
            "score": 1.0} for a in inst["annotations"]], open(sys.argv[2], "w"))
EOF
    for layout in coco yolo; do
        if [ $layout = yolo ]; then
            cp -r "$TMP/scenes" "$TMP/yolo" && rm -r "$TMP/yolo/annotations"
            gt=$TMP/yolo
        else
            gt=$TMP/scenes
        fi
        expect_ok "the scenes' own boxes as detections, $layout layout" "$FOVEA" evaluate \
            --json --detections "$TMP/perfect.json" --annotations "$gt"
        check "score AP 1, and AP large -1 (objects of 8-16 px)" "$PY" -c "
import json, sys
s = json.load(open('$TMP/out'))['stats']
sys.exit(0 if abs(s['AP'] - 1) < 1e-9 and s['APl'] == -1 else 1)"
    done
fi
expect_ok "viz boxes draws scenes with their boxes" "$FOVEA" viz boxes "$TMP/scenes" --count 3 \
    --split test -o "$TMP/boxes.png"
check "a picture" test -s "$TMP/boxes.png"
expect_ok "and a detector's boxes over them" "$FOVEA" viz boxes "$TMP/scenes" --split test \
    --detections "$TMP/perfect.json" -o "$TMP/boxes.svg"
check "dashed boxes with scores" grep -q 'stroke-dasharray' "$TMP/boxes.svg"
expect_error "viz boxes past the end" 1 'first 9: the set has 5 images' \
    "$FOVEA" viz boxes "$TMP/scenes" --split test --first 9 -o "$TMP/b.png"
expect_ok "the same seed makes the same scenes" "$FOVEA" data make detection "$TMP/again" \
    --source mnist --from "$DATA/quad" --train 12 --test 5 --size 32 --min-object 8 \
    --max-object 16 --max-objects 3 --seed 7
check "identical files" diff -r "$TMP/scenes" "$TMP/again"
expect_error "an existing folder is refused" 1 'already exists' \
    "$FOVEA" data make detection "$TMP/scenes" --from "$DATA/quad"
expect_error "a missing source says how to get it" 1 \
    "run 'fovea data get fashion-mnist' first, or give --from DIR" \
    "$FOVEA" data make detection "$TMP/none" --from "$TMP/nowhere"
expect_error "an object larger than the scene" 2 'must be in order and fit the scene' \
    "$FOVEA" data make detection "$TMP/none" --size 32 --max-object 40 --from "$DATA/quad"
check "nothing written after a failure" test ! -e "$TMP/none"

finish
