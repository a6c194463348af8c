#!/usr/bin/env bash
# cli_viz.sh — the pictures of the fovea command: `plot` (training curves), `viz kernels`,
# `viz features`, `viz activations`, `evaluate --plot/--json/--metrics` and `train --plot`, on
# the small quad data. Each picture is checked to be a PNG (or SVG) of the expected size; each
# bad input ends with one message, a non-zero exit and no output file.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
M=$DATA/quad.fv
D=$DATA/quad
Q=$TMP/q.safetensors

absent() { [ ! -e "$1" ]; }
no_temp_files() { [ -z "$(find "$TMP" -maxdepth 1 -name '*.tmp.*' -print -quit)" ]; }

echo "# train --plot: the curves at the end of training"
expect_ok "train with --history and --plot" "$FOVEA" train "$M" --data "$D" --save "$Q" \
    --history "$TMP/h.csv" --plot "$TMP/trained.png" --verbose 0
check "train --plot wrote a 1200x450 PNG (two panels side by side)" \
    test "$(png_size "$TMP/trained.png")" = "1200x450"
expect_error "train --plot with another extension: refused before training" 2 \
    "--plot: .*\.png or \.svg" "$FOVEA" train "$M" --data "$D" --plot "$TMP/c.jpg" --verbose 0
check "nothing written for the refused --plot" absent "$TMP/c.jpg"

echo "# plot"
expect_ok "plot a history to PNG" "$FOVEA" plot "$TMP/h.csv" -o "$TMP/c.png"
check "plot: 1200x450 PNG" test "$(png_size "$TMP/c.png")" = "1200x450"
same_file "plot draws what train --plot drew" "$TMP/c.png" "$TMP/trained.png"
expect_ok "plot to SVG by the extension" "$FOVEA" plot "$TMP/h.csv" --output "$TMP/c.svg"
check "the SVG is an SVG document 1200 px wide" grep -q '<svg[^>]* width="1200px"' "$TMP/c.svg"
expect_ok "plot --metrics loss" "$FOVEA" plot "$TMP/h.csv" -o "$TMP/loss.png" --metrics loss
check "one panel: 600x450" test "$(png_size "$TMP/loss.png")" = "600x450"
printf 'epoch,accuracy,val_accuracy\n0,0.5,0.4\n1,0.6,0.5\n' >"$TMP/noloss.csv"
expect_error "a history without a loss column: file and column named" 1 \
    "noloss\.csv: .*'loss'" "$FOVEA" plot "$TMP/noloss.csv" -o "$TMP/bad.png"
check "no picture left after the refused history" absent "$TMP/bad.png"
expect_error "--metrics naming a missing column" 1 "h\.csv: .*'f1'.*accuracy, loss" \
    "$FOVEA" plot "$TMP/h.csv" -o "$TMP/bad.png" --metrics accuracy,f1
check "no picture left after the missing metric" absent "$TMP/bad.png"
expect_error "a missing history file" 1 "nosuch\.csv" "$FOVEA" plot "$TMP/nosuch.csv" -o "$TMP/bad.png"
printf 'epoch,loss\n0,abc\n' >"$TMP/garbage.csv"
expect_error "a history with a cell that is not a number" 1 "garbage\.csv" \
    "$FOVEA" plot "$TMP/garbage.csv" -o "$TMP/bad.png"
expect_error "plot without -o" 2 "-o OUT.png is required" "$FOVEA" plot "$TMP/h.csv"
expect_error "plot -o with an unknown extension" 2 "\.png or \.svg" "$FOVEA" plot "$TMP/h.csv" -o "$TMP/bad.gif"
expect_error "plot -o into a missing folder" 1 "does not exist" "$FOVEA" plot "$TMP/h.csv" -o "$TMP/no/c.png"
check "no temporary files left" no_temp_files

echo "# viz kernels"
expect_ok "kernels of the first conv layer" "$FOVEA" viz kernels "$Q" -o "$TMP/k.png"
check "kernels: a PNG" is_png "$TMP/k.png"
expect_ok "kernels --layer conv2d, as SVG" "$FOVEA" viz kernels "$Q" --layer conv2d -o "$TMP/k.svg"
check "kernels: an SVG" grep -q '<svg' "$TMP/k.svg"
expect_error "--layer naming a dense layer: named, conv layers listed" 1 \
    "'dense' is a dense layer, not a convolution; the convolution layers are: conv2d" \
    "$FOVEA" viz kernels "$Q" --layer dense -o "$TMP/bad.png"
check "no picture left after the non-conv layer" absent "$TMP/bad.png"
expect_error "--layer naming no layer" 1 "no layer 'conv9'.*conv2d" \
    "$FOVEA" viz kernels "$Q" --layer conv9 -o "$TMP/bad.png"
expect_error "kernels of a model file without weights" 1 "no trained weights" \
    "$FOVEA" viz kernels "$M" -o "$TMP/bad.png"
check "no picture left" absent "$TMP/bad.png"

echo "# viz features"
expect_ok "features of test image 3 of an IDX folder" "$FOVEA" viz features "$Q" --input "$D" --index 3 -o "$TMP/f.png"
check "features: a PNG" is_png "$TMP/f.png"
expect_ok "features of an IDX image file" "$FOVEA" viz features "$Q" --input "$D/t10k-images-idx3-ubyte" -o "$TMP/f2.png"
expect_ok "features of a .npy array, grey" "$FOVEA" viz features "$Q" --input "$DATA/quad_x.npy" --index 9 --cmap grey -o "$TMP/f3.svg"
check "features: an SVG" grep -q '<svg' "$TMP/f3.svg"
expect_error "an index past the data" 1 "--index 80: .* 80 images \(indices 0 to 79\)" \
    "$FOVEA" viz features "$Q" --input "$D" --index 80 -o "$TMP/bad.png"
check "no picture left after the index past the data" absent "$TMP/bad.png"
expect_error "a negative index" 2 "--index: expected" "$FOVEA" viz features "$Q" --input "$D" --index -1 -o "$TMP/bad.png"
# Two 5x5 images: a model for 8x8 images cannot take them.
mkdir -p "$TMP/small"
{ printf '\0\0\010\003\0\0\0\002\0\0\0\005\0\0\0\005'; head -c 50 /dev/zero; } >"$TMP/small/t10k-images-idx3-ubyte"
{ printf '\0\0\010\001\0\0\0\002'; printf '\001\002'; } >"$TMP/small/t10k-labels-idx1-ubyte"
expect_error "images that do not fit the model" 1 "has shape \(.*, 5, 5\); the model.s input is \(None, 8, 8, 1\)" \
    "$FOVEA" viz features "$Q" --input "$TMP/small" -o "$TMP/bad.png"
check "no picture left after the mismatch" absent "$TMP/bad.png"
expect_error "an unknown colour map" 2 "--cmap: expected viridis or grey, got 'jet'" \
    "$FOVEA" viz features "$Q" --input "$D" --cmap jet -o "$TMP/bad.png"
expect_error "--class-names of the wrong length" 1 "2 names given, but the model has 4 classes" \
    "$FOVEA" viz features "$Q" --input "$D" --class-names a,b -o "$TMP/bad.png"
expect_error "features without --input" 2 "--input is required" "$FOVEA" viz features "$Q" -o "$TMP/bad.png"

echo "# viz activations, help"
expect_ok "activations" "$FOVEA" viz activations -o "$TMP/a.png"
check "activations: 1380x760 PNG (2 rows of 3 panels)" test "$(png_size "$TMP/a.png")" = "1380x760"
expect_ok "fovea viz --help" "$FOVEA" viz --help
check "viz --help lists the pictures" grep -q "fovea viz features" "$TMP/out"
expect_ok "fovea viz kernels --help" "$FOVEA" viz kernels --help
expect_ok "fovea plot --help" "$FOVEA" plot --help
check "plot --help shows its usage" grep -q "usage: fovea plot" "$TMP/out"
expect_error "an unknown picture" 2 "unknown picture 'filters'" "$FOVEA" viz filters "$Q" -o "$TMP/bad.png"

echo "# evaluate: metrics, JSON and the confusion matrix picture"
expect_ok "evaluate with --plot and class names" "$FOVEA" evaluate "$Q" --data "$D" --plot "$TMP/cm.png" --class-names up-left,up-right,down-left,down-right
check "Test loss stays the first line" test "$(head -1 "$TMP/out" | cut -d: -f1)" = "Test loss"
check "Test accuracy the second" test "$(sed -n 2p "$TMP/out" | cut -d: -f1)" = "Test accuracy"
check "the full report: per-class table with macro average" grep -q "macro avg" "$TMP/out"
check "the full report: the confusion matrix" grep -q "confusion matrix" "$TMP/out"
check "the report uses the class names" grep -q "down-right" "$TMP/out"
check "--plot: a PNG" is_png "$TMP/cm.png"
expect_ok "evaluate --json" "$FOVEA" evaluate "$Q" --data "$D" --json
check "--json prints one JSON object" python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['samples'] == 80" "$TMP/out"
expect_ok "evaluate --metrics accuracy,f1" "$FOVEA" evaluate "$Q" --data "$D" --metrics accuracy,f1
check "--metrics: no confusion matrix" bash -c "! grep -q 'confusion matrix' '$TMP/out'"
expect_error "--metrics with an unknown name" 2 "--metrics: .*bogus" "$FOVEA" evaluate "$Q" --data "$D" --metrics accuracy,bogus
expect_error "--plot with an unknown extension" 2 "--plot: .*\.png or \.svg" "$FOVEA" evaluate "$Q" --data "$D" --plot "$TMP/cm.bmp"
rm -f "$TMP/cm.png"
expect_error "evaluate on data that do not fit the model" 1 "has shape \(.*, 5, 5\); the model.s input is \(None, 8, 8, 1\)" \
    "$FOVEA" evaluate "$Q" --data "$TMP/small" --plot "$TMP/cm.png"
check "no confusion matrix left after the mismatch" absent "$TMP/cm.png"
check "no temporary files left" no_temp_files

finish
