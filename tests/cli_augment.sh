#!/usr/bin/env bash
# cli_augment.sh — the preprocessing and augmentation layers end to end: a model file with
# random_flip, random_translation, random_rotation, random_zoom, random_contrast,
# random_brightness and random_crop trains to the same bytes on every run with the same seed,
# on 1, 2 or 3 threads, and when killed and resumed from its checkpoint; another seed gives
# other weights; the summary lists each layer's arguments with fovea's defaults; a rescaling by
# 1/255 of data already in [0, 1] is warned about; `fovea viz augment` draws the same picture
# every time, and its bad options are one clear message each.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
D=$DATA/quad
M=$TMP/aug.fv
sed '/^input/a random_flip mode=horizontal\
random_translation height_factor=0.1 width_factor=-0.2,0.2 fill_mode=constant\
random_rotation factor=0.05 fill_mode=nearest\
random_zoom height_factor=0.1\
random_contrast factor=0.2\
random_brightness factor=0.1\
random_crop height=7 width=7' "$DATA/quad.fv" >"$M"
check "the model has seven augmentation layers" test "$(grep -c '^random_' "$M")" -eq 7
ARGS=("$M" --data "$D" --epochs 3 --seed 11 --verbose 2)

echo "# reproducible: seed, threads, checkpoints"
expect_ok "train with augmentation" "$FOVEA" train "${ARGS[@]}" --save "$TMP/a.safetensors" \
    --history "$TMP/a.csv"
expect_ok "the same run again" "$FOVEA" train "${ARGS[@]}" --save "$TMP/b.safetensors"
same_file "  ... gives the same weights, byte for byte" "$TMP/a.safetensors" "$TMP/b.safetensors"
for t in 1 3; do
    FOVEA_THREADS=$t expect_ok "the same run on $t thread(s)" "$FOVEA" train "${ARGS[@]}" \
        --save "$TMP/t$t.safetensors"
    same_file "  ... gives the same weights" "$TMP/a.safetensors" "$TMP/t$t.safetensors"
done
expect_ok "another seed" "$FOVEA" train "$M" --data "$D" --epochs 3 --seed 12 --verbose 2 \
    --save "$TMP/s12.safetensors"
check "  ... gives other weights" bash -c "! cmp -s '$TMP/a.safetensors' '$TMP/s12.safetensors'"
sed '/^random_/d' "$M" >"$TMP/plain.fv"
expect_ok "the model without its augmentation layers" "$FOVEA" train "$TMP/plain.fv" --data "$D" \
    --epochs 3 --seed 11 --verbose 2 --save "$TMP/plain.safetensors"
check "  ... trains otherwise (the layers act in training)" \
    bash -c "! cmp -s '$TMP/a.safetensors' '$TMP/plain.safetensors'"
# 240 training images in batches of 16: 15 steps an epoch; killed after step 20, in epoch 2.
run env FOVEA_TEST_KILL_AFTER_STEP=20 "$FOVEA" train "${ARGS[@]}" --checkpoint "$TMP/ck"
check "a run killed after step 20 dies of SIGKILL" test "$status" -eq 137
expect_ok "  ... resumes from its checkpoint" "$FOVEA" train "${ARGS[@]}" --checkpoint "$TMP/ck" \
    --resume --save "$TMP/resumed.safetensors" --history "$TMP/resumed.csv"
same_file "  ... to the weights of the run that never stopped" "$TMP/a.safetensors" \
    "$TMP/resumed.safetensors"
same_file "  ... and its history" "$TMP/a.csv" "$TMP/resumed.csv"

echo "# the summary"
expect_ok "summary of the model file" "$FOVEA" summary "$M"
check "  ... RandomFlip's row" grep -q "random_flip (RandomFlip) *(None, 8, 8, 1) *0" "$TMP/out"
check "  ... random_crop's output is 7x7" grep -q "random_crop (RandomCrop) *(None, 7, 7, 1)" "$TMP/out"
check "  ... every argument with its default, value_range=0,1 (fovea's pixels)" \
    grep -q "random_contrast  *factor=0.2 value_range=0,1$" "$TMP/out"
check "  ... fill_mode as given, interpolation by default" \
    grep -q "random_rotation  *factor=0.05 fill_mode=nearest interpolation=bilinear fill_value=0$" "$TMP/out"
expect_ok "summary of the saved model" "$FOVEA" summary "$TMP/a.safetensors"
check "  ... keeps the lines (factor pairs as given)" \
    grep -q "random_translation  *height_factor=0.1 width_factor=-0.2,0.2 fill_mode=constant" "$TMP/out"

echo "# rescaling by 1/255 of pixels already in [0, 1]"
sed '/^input/a rescaling scale=0.00392156862745098' "$DATA/quad.fv" >"$TMP/r255.fv"
run "$FOVEA" train "$TMP/r255.fv" --data "$D" --epochs 1 --verbose 0
check "training still runs" test "$status" -eq 0
check "  ... with one warning naming the file, line and layer" \
    test "$(grep -c "warning: $TMP/r255.fv: layer 'rescaling' (line 3) rescales by 1/255, but the data is already in \[0, 1\]" "$TMP/err")" -eq 1
sed '/^input/a rescaling scale=2 offset=-1' "$DATA/quad.fv" >"$TMP/r2.fv"
expect_ok "rescaling scale=2 offset=-1 trains without a warning" "$FOVEA" train "$TMP/r2.fv" \
    --data "$D" --epochs 1 --verbose 0

echo "# normalization adapt=true: Keras' adapt() on the training data, once, before the first epoch"
sed '/^input/a normalization adapt=true' "$DATA/quad.fv" >"$TMP/norm.fv"
expect_ok "train with an adapted normalization" "$FOVEA" train "$TMP/norm.fv" --data "$D" --epochs 1 \
    --seed 4 --verbose 0 --save "$TMP/norm.safetensors"
FOVEA_THREADS=1 expect_ok "  ... again on one thread" "$FOVEA" train "$TMP/norm.fv" --data "$D" \
    --epochs 1 --seed 4 --verbose 0 --save "$TMP/norm1.safetensors"
same_file "  ... the same bytes" "$TMP/norm.safetensors" "$TMP/norm1.safetensors"
expect_ok "summary of the trained model" "$FOVEA" summary "$TMP/norm.safetensors"
check "  ... mean, variance and count are its 3 non-trainable weights" \
    grep -q "^Non-trainable params: 3 " "$TMP/out"
expect_ok "  ... it evaluates" "$FOVEA" evaluate "$TMP/norm.safetensors" --data "$D"

echo "# fovea viz augment"
expect_ok "viz augment" "$FOVEA" viz augment "$M" --data "$D" --index 3 --copies 7 -o "$TMP/aug.png"
check "  ... writes a PNG" bash -c "head -c 8 '$TMP/aug.png' | od -An -tx1 | grep -q '89 50 4e 47'"
expect_ok "  ... again" "$FOVEA" viz augment "$M" --data "$D" --index 3 --copies 7 -o "$TMP/aug2.png"
same_file "  ... the same picture" "$TMP/aug.png" "$TMP/aug2.png"
expect_ok "  ... another step" "$FOVEA" viz augment "$M" --data "$D" --index 3 --copies 7 --step 5 \
    -o "$TMP/aug3.png"
check "  ... draws other copies" bash -c "! cmp -s '$TMP/aug.png' '$TMP/aug3.png'"
expect_ok "  ... of a trained model, as SVG" "$FOVEA" viz augment "$TMP/a.safetensors" --data "$D" \
    -o "$TMP/aug.svg"
check "  ... an SVG file" grep -q "<svg" "$TMP/aug.svg"
run "$FOVEA" viz augment "$TMP/plain.fv" --data "$D" -o "$TMP/plain.png"
check "a model without augmentation layers: a picture and a note" \
    test "$status" -eq 0 -a -s "$TMP/plain.png" -a "$(grep -c 'has no preprocessing layers' "$TMP/err")" -eq 1
expect_error "--copies 0" 2 "--copies: expected a count from 1 to 63" \
    "$FOVEA" viz augment "$M" --data "$D" --copies 0 -o "$TMP/x.png"
expect_error "no --data" 2 "--data is required" "$FOVEA" viz augment "$M" -o "$TMP/x.png"
expect_error "an index past the end" 1 "--index 999: .* has 80 images" \
    "$FOVEA" viz augment "$M" --data "$D" --index 999 -o "$TMP/x.png"
expect_error "a picture that is not .png or .svg" 2 "\.png or \.svg" \
    "$FOVEA" viz augment "$M" --data "$D" -o "$TMP/x.jpg"
check "no picture left behind by the failures" test ! -e "$TMP/x.png" -a ! -e "$TMP/x.jpg"

echo "# ONNX: the random layers are identities in the exported inference graph"
PY=/usr/bin/python3
ROOT=$(cd "$DATA/../.." && pwd)
ORT=$(dirname "$FOVEA")/onnxruntime
sed '/^random_crop/d' "$M" >"$TMP/nocrop.fv"
expect_ok "train the model without random_crop" "$FOVEA" train "$TMP/nocrop.fv" --data "$D" --epochs 1 \
    --seed 3 --verbose 0 --save "$TMP/nocrop.safetensors"
run "$FOVEA" export "$TMP/nocrop.safetensors" -o "$TMP/nocrop.onnx"
if grep -q "built without ONNX" "$TMP/err"; then
    skip "ONNX export: fovea is built without ONNX"
elif ! [ -x "$PY" ] || ! "$PY" -c 'import onnx, cv2, numpy' 2>/dev/null; then
    skip "ONNX export: python3-onnx, python3-opencv or python3-numpy missing"
elif ! command -v node >/dev/null 2>&1 ||
    ! bash "$ROOT/scripts/install-onnxruntime.sh" "$ORT" >"$TMP/npm.log" 2>&1; then
    skip "ONNX export: node or onnxruntime-node missing"
else
    check "  ... exported" test "$status" -eq 0 -a -s "$TMP/nocrop.onnx"
    "$PY" -c 'import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(2).random((10, 8, 8, 1), dtype=np.float32))' "$TMP/x.npy"
    expect_ok "  ... fovea predict (inference: the layers pass the image through)" "$FOVEA" predict \
        "$TMP/nocrop.safetensors" --input "$TMP/x.npy" --output "$TMP/nocrop.npy"
    if NODE_PATH=$ORT/node_modules "$PY" "$DATA/onnx_check.py" "$TMP/nocrop.onnx" --input "$TMP/x.npy" \
        --expect "$TMP/nocrop.npy" --input-name input_layer --output-name dense \
        --node-script "$DATA/onnx_run.js" >"$TMP/check" 2>&1; then
        ok "  ... the ONNX checker, onnxruntime-node and OpenCV agree with fovea predict"
    else
        fail "  ... onnx_check.py failed" "$(cat "$TMP/check")"
    fi
fi
expect_error "random_crop has no ONNX export yet" 1 "random_crop.*no ONNX export" \
    "$FOVEA" export "$TMP/a.safetensors" -o "$TMP/a.onnx"

echo "# a detector: boxes do not move with the pixels yet, so geometric layers are refused"
expect_ok "detection scenes" "$FOVEA" data make detection "$TMP/scenes" --source mnist --from "$D" \
    --train 16 --test 4 --size 32 --min-object 8 --max-object 16 --max-objects 2 --seed 3
cat >"$TMP/det.fv" <<'MODEL'
input shape=32,32,1
random_contrast factor=0.2
random_flip
conv2d filters=8 kernel_size=3 strides=4 padding=same activation=relu
conv2d name=pred filters=30 kernel_size=1
yolo name=boxes classes=10 anchors=2,2,3.5,3.5 max_boxes=4
compile loss=yolo optimizer=adam learning_rate=0.01
fit batch_size=8 epochs=1
MODEL
expect_error "random_flip in front of a yolo head" 1 \
    "layer 'random_flip' \(line 3\) moves pixels, but the targets of the yolo loss do not move with them yet" \
    "$FOVEA" train "$TMP/det.fv" --data "$TMP/scenes" --verbose 0
sed -i '/^random_flip/d' "$TMP/det.fv"
expect_ok "  ... random_contrast alone trains" "$FOVEA" train "$TMP/det.fv" --data "$TMP/scenes" --verbose 0

echo "# bad arguments: one message naming the file, line and argument"
printf 'input shape=8,8,1\nrandom_zoom height_factor=-1.5\nflatten\n' >"$TMP/bad.fv"
expect_error "random_zoom height_factor=-1.5" 1 "bad.fv:2: random_zoom: argument height_factor=-1.5: must be at least -1" \
    "$FOVEA" summary "$TMP/bad.fv"
printf 'input shape=8,8,1\nrandom_flip mode=diagonal\nflatten\n' >"$TMP/bad.fv"
expect_error "random_flip mode=diagonal" 1 "bad.fv:2: random_flip: argument mode=diagonal: expected one of horizontal, vertical, horizontal_and_vertical" \
    "$FOVEA" summary "$TMP/bad.fv"
printf 'input shape=8,8,1\nrandom_contrast factor=0.1 value_range=255\nflatten\n' >"$TMP/bad.fv"
expect_error "value_range=255" 1 "bad.fv:2: random_contrast: argument value_range: expected two numbers low,high" \
    "$FOVEA" summary "$TMP/bad.fv"
printf 'input shape=64\nrandom_rotation factor=0.1\n' >"$TMP/bad.fv"
expect_error "random_rotation on vectors" 1 "bad.fv:2: random_rotation: input \\(None, 64\\) has rank 1; random_rotation needs images" \
    "$FOVEA" summary "$TMP/bad.fv"

finish
