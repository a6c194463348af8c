#!/usr/bin/env bash
# cli_report.sh — `fovea report`: one self-contained HTML page (summary, curves, metrics,
# confusion matrix, kernels, feature maps of right and wrong test images), written atomically;
# bad input refused with one message and no page left behind; and the page rendered in headless
# Chromium as a person would open it: every image decodes and the console stays clean. Without
# chromium the rendering check is skipped, except in CI (CI set), where it must run.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
M=$DATA/quad.fv
D=$DATA/quad
Q=$TMP/q.safetensors
R=$TMP/report.html

absent() { [ ! -e "$1" ]; }
no_temp_files() { [ -z "$(find "$TMP" -maxdepth 1 -name '*.tmp.*' -print -quit)" ]; }

echo "# a model that gets some test images wrong (one short epoch)"
expect_ok "train one epoch" "$FOVEA" train "$M" --data "$D" --epochs 1 --learning-rate 0.002 \
    --save "$Q" --history "$TMP/h.csv" --verbose 0
acc=$(grep '^Test accuracy:' "$TMP/out" | cut -d' ' -f3)
check "test accuracy $acc is below 1, so there are wrong examples" awk -v a="$acc" 'BEGIN { exit !(a < 1) }'

echo "# the page"
expect_ok "report with a history" "$FOVEA" report "$Q" --data "$D" --history "$TMP/h.csv" -o "$R" \
    --class-names up-left,up-right,down-left,down-right
check "the page is HTML" grep -q '^<!DOCTYPE html>' "$R"
check "the summary table" grep -q 'Total params: 188' "$R"
check "the test loss and accuracy" grep -q 'Test accuracy' "$R"
check "the per-class metrics with class names" grep -q '<th>down-right</th>' "$R"
check "the macro averages" grep -q 'macro avg' "$R"
check "the training curves" grep -q 'alt="training curves"' "$R"
check "the confusion matrix" grep -q 'alt="confusion matrix"' "$R"
check "the kernels of conv2d" grep -q 'alt="kernels of conv2d"' "$R"
check "4 feature map figures" test "$(grep -c '<figure>' "$R")" -eq 4
check "some of them wrong, with true and predicted labels" grep -q 'class="wrong">wrong' "$R"
check "some of them right" grep -q 'class="right">right' "$R"
check "7 pictures, all inlined as PNG data" test "$(grep -o '<img [^>]*src="data:image/png;base64,' "$R" | wc -l)" -eq 7
check "self-contained: nothing fetched from elsewhere" bash -c "! grep -Eq '(src|href)=\"(https?:|//|file:)' '$R'"
check "no temporary files left" no_temp_files
expect_ok "report without a history, no examples" "$FOVEA" report "$Q" --data "$D" -o "$TMP/r2.html" --examples 0
check "no curves without a history" bash -c "! grep -q 'alt=\"training curves\"' '$TMP/r2.html'"
check "no feature maps with --examples 0" bash -c "! grep -q '<figure>' '$TMP/r2.html'"

echo "# bad input: one message, no page"
printf 'epoch,accuracy,val_accuracy\n0,0.5,0.4\n' >"$TMP/noloss.csv"
expect_error "a history without a loss column" 1 "noloss\.csv: .*'loss'" \
    "$FOVEA" report "$Q" --data "$D" --history "$TMP/noloss.csv" -o "$TMP/bad.html"
check "no page after the bad history" absent "$TMP/bad.html"
mkdir -p "$TMP/small"
{ printf '\0\0\010\003\0\0\0\002\0\0\0\005\0\0\0\005'; head -c 50 /dev/zero; } >"$TMP/small/t10k-images-idx3-ubyte"
{ printf '\0\0\010\001\0\0\0\002'; printf '\001\002'; } >"$TMP/small/t10k-labels-idx1-ubyte"
expect_error "data that do not fit the model" 1 "has shape \(.*, 5, 5\); the model.s input is \(None, 8, 8, 1\)" \
    "$FOVEA" report "$Q" --data "$TMP/small" -o "$TMP/bad.html"
check "no page after the mismatch" absent "$TMP/bad.html"
expect_error "a model file without weights" 1 "no trained weights" "$FOVEA" report "$M" --data "$D" -o "$TMP/bad.html"
expect_error "--class-names of the wrong length" 1 "3 names given, but the model has 4 classes" \
    "$FOVEA" report "$Q" --data "$D" --class-names a,b,c -o "$TMP/bad.html"
expect_error "report without --data" 2 "--data is required" "$FOVEA" report "$Q" -o "$TMP/bad.html"
expect_error "a report named .png" 2 "--output: '.*bad.png': the report is an HTML page; name it .html" \
    "$FOVEA" report "$Q" --data "$D" -o "$TMP/bad.png"
check "nothing written under the .png name" test ! -e "$TMP/bad.png"
expect_error "report without -o" 2 "-o REPORT.html is required" "$FOVEA" report "$Q" --data "$D"
expect_error "--examples out of range" 2 "--examples: expected a count from 0 to 64" \
    "$FOVEA" report "$Q" --data "$D" -o "$TMP/bad.html" --examples 100
check "no page after any of them" absent "$TMP/bad.html"
cp "$R" "$TMP/keep.html"
# As an ordinary user (nobody, when the test runs as root): root may write anywhere.
if can_drop_root; then
    chmod 555 "$TMP" && chmod a+r "$Q" "$R"
    expect_error "an unwritable folder" 1 "--output" unprivileged "$FOVEA" report "$Q" --data "$D" -o "$R"
    same_file "the old page is untouched" "$R" "$TMP/keep.html"
    check "no temporary files left" no_temp_files
    chmod 700 "$TMP"
else
    skip "an unwritable folder: running as root, and setpriv cannot drop to uid 65534"
fi

echo "# the page in headless Chromium"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    skip "the page in headless Chromium: chromium is not installed (scripts/install-deps.sh --test installs it)"
    finish
fi

# render PAGE: the page with tests/data/report_check.js injected first in its <head>, dumped
# after load; the DOM in $TMP/dom, Chromium's log (console messages included) in $TMP/log.
render() {
    local page=$1 checked=$TMP/checked.html
    { sed -n '1,/<head>/p' "$page"; echo "<script>"; cat "$DATA/report_check.js"; echo "</script>"
      sed '1,/<head>/d' "$page"; } >"$checked"
    local profile
    profile=$(mktemp -d "$TMP/chromium.XXXXXX")
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --disable-dev-shm-usage \
        --user-data-dir="$profile" --enable-logging=stderr --v=0 --virtual-time-budget=10000 \
        --dump-dom "file://$checked" >"$TMP/dom" 2>"$TMP/log"
}

render "$R"
check "Chromium rendered the page" grep -q 'id="fovea-check"' "$TMP/dom"
marker=$(grep -o 'FOVEA-IMAGES [0-9]*/[0-9]* FOVEA-ERRORS [0-9]*' "$TMP/dom")
check "every image decoded, no error: ${marker:-no marker}" test "$marker" = "FOVEA-IMAGES 7/7 FOVEA-ERRORS 0"
# The page itself logs nothing: any console line (Chromium logs them as INFO:CONSOLE, older
# versions as ERROR:CONSOLE) or uncaught exception is a failure.
if grep -Eq 'Uncaught|:CONSOLE' "$TMP/log"; then
    fail "no console messages" "$(grep -E 'Uncaught|:CONSOLE' "$TMP/log" | head -5)"
else
    ok "no console messages"
fi

# The check itself must catch a broken picture: one bad image in a copy of the page.
sed 's|<h2 id="kernels">|<img alt="broken" src="data:image/png;base64,AAAA"><h2 id="kernels">|' "$R" >"$TMP/broken.html"
render "$TMP/broken.html"
check "a broken image is noticed (8 images, 7 decoded)" grep -Eq 'FOVEA-IMAGES 7/8 FOVEA-ERRORS [1-9]' "$TMP/dom"
check "and reported on the console" grep -Eq ':CONSOLE.*did not load: broken' "$TMP/log"
# And so must a script error.
sed 's|<h2 id="kernels">|<script>undefinedFunction();</script><h2 id="kernels">|' "$R" >"$TMP/throws.html"
render "$TMP/throws.html"
check "a script error is noticed" grep -Eq 'FOVEA-IMAGES 7/7 FOVEA-ERRORS [1-9]' "$TMP/dom"
check "an uncaught exception is logged" grep -q 'Uncaught' "$TMP/log"

finish
