#!/usr/bin/env bash
# cli_onnx.sh — `fovea export`: the seed CNN, a ResNet with BatchNormalization and residual adds
# (examples/resnet_fashion.fv) and graphs of every layer kind (tests/data/onnx_all_kinds.fv and
# onnx_more_kinds.fv),
# each trained briefly, exported in fovea's NHWC layout and with --nchw, with dynamic and fixed
# batches and opsets 13, 15 and 17. Each file passes onnx.checker's full check and gives
# `fovea predict`'s outputs within 1e-5 in ONNX Runtime (onnxruntime-node 1.30, installed into the
# build folder by scripts/install-onnxruntime.sh) and in OpenCV's DNN module (python3-opencv);
# tests/data/onnx_check.py prints the largest differences. Bad requests fail with one message and
# leave no file. Skipped (77) when fovea is built without ONNX or a runtime is missing, except in
# CI (CI set), where everything must run.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
source "$DATA/onnx_lib.bash"

echo "# what the test needs"
"$FOVEA" train "$DATA/quad.fv" --data "$DATA/quad" --epochs 1 --save "$TMP/quad.safetensors" \
    --verbose 0 >/dev/null 2>&1 || { echo "FAIL - training the quad model"; exit 1; }
"$FOVEA" export "$TMP/quad.safetensors" -o "$TMP/probe.onnx" 2>"$TMP/err"
if grep -q "built without ONNX" "$TMP/err"; then skip "fovea is built without ONNX"; fi
$PY -c 'import onnx, cv2, numpy' 2>/dev/null || skip "python3-onnx, python3-opencv or python3-numpy missing"
need_onnxruntime

echo "# data: 64 + 20 random 28x28 images with 10 classes, 20 random 8x8 images (seeded)"
mkdir -p "$TMP/d28"
$PY - "$TMP/d28" "$TMP" <<'PY' || { echo "FAIL - making the test data"; exit 1; }
import struct, sys
import numpy as np
d, tmp = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(14)
def idx(path, a):
    head = struct.pack(">BBBB", 0, 0, 8, a.ndim) + b"".join(struct.pack(">I", n) for n in a.shape)
    open(path, "wb").write(head + a.astype(np.uint8).tobytes())
for name, n in (("train", 64), ("t10k", 20)):
    idx(f"{d}/{name}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
    idx(f"{d}/{name}-labels-idx1-ubyte", rng.integers(0, 10, (n,)))
np.save(f"{tmp}/x28.npy", rng.random((20, 28, 28, 1), dtype=np.float32))
np.save(f"{tmp}/x8.npy", rng.random((20, 8, 8, 1), dtype=np.float32))
PY

# model NAME FILE DATA X: trains one epoch, saves, and writes fovea predict's outputs for X.
model() {
    expect_ok "$1: train one epoch" "$FOVEA" train "$2" --data "$3" --epochs 1 --batch-size 16 \
        --save "$TMP/$1.safetensors" --verbose 0 --seed 3
    expect_ok "$1: predict" "$FOVEA" predict "$TMP/$1.safetensors" --input "$4" \
        --output "$TMP/$1.npy"
}

# exported NAME X INPUT OUTPUT TAG [export options]: exports, then checks the file in both runtimes.
exported() {
    local name=$1 x=$2 in=$3 out=$4 tag=$5
    shift 5
    local f="$TMP/$name-$tag.onnx" nchw=()
    case " $* " in *" --nchw "*) nchw=(--nchw) ;; esac
    expect_ok "$name: export ${*:-(defaults)}" "$FOVEA" export "$TMP/$name.safetensors" -o "$f" "$@"
    local cv=()
    [ "$name" = relu_max ] && cv=(--skip-opencv "OpenCV 4.6 reads Clip with min and max attributes (opset 6), not inputs (opset 11 on)")
    if $PY "$DATA/onnx_check.py" "$f" --input "$x" --expect "$TMP/$name.npy" --input-name "$in" \
        --output-name "$out" "${nchw[@]}" "${cv[@]}" --node-script "$DATA/onnx_run.js" >"$TMP/check" 2>&1; then
        ok "$name (${*:-defaults}): checker${cv:+ and onnxruntime-node (OpenCV skipped)}${cv:-, onnxruntime-node and opencv} agree with fovea predict"
    else
        fail "$name (${*:-defaults}): onnx_check.py failed"
    fi
    sed 's/^/       /' "$TMP/check" | grep -v '^ *\[ERROR'
}

echo "# the seed CNN (conv2d, maxpool2d, dropout, flatten, dense)"
model seed "$DATA/seed_cnn.fv" "$TMP/d28" "$TMP/x28.npy"
exported seed "$TMP/x28.npy" input_layer dense_1 nhwc
exported seed "$TMP/x28.npy" input_layer dense_1 nchw17 --nchw --opset 17
exported seed "$TMP/x28.npy" input_layer dense_1 b20 --batch 20 --opset 15

echo "# a ResNet: BatchNormalization, residual adds, strided same convolutions, global pooling"
model resnet "$ROOT/examples/resnet_fashion.fv" "$TMP/d28" "$TMP/x28.npy"
exported resnet "$TMP/x28.npy" input_layer classifier nhwc
exported resnet "$TMP/x28.npy" input_layer classifier nchw --nchw

echo "# every layer kind"
model all "$DATA/onnx_all_kinds.fv" "$DATA/quad" "$TMP/x8.npy"
exported all "$TMP/x8.npy" image out nhwc
exported all "$TMP/x8.npy" image out nchw15 --nchw --opset 15 --batch 20

echo "# padding, cropping, depthwise, separable, transposed, average pooling, upsampling, reshape"
model more "$DATA/onnx_more_kinds.fv" "$DATA/quad" "$TMP/x8.npy"
exported more "$TMP/x8.npy" image out nhwc
exported more "$TMP/x8.npy" image out nchw17 --nchw --opset 17

echo "# relu with max_value: Clip with min and max inputs, which OpenCV 4.6 refuses (it reads Clip's opset-6 attributes only)"
model relu_max "$DATA/onnx_relu_max.fv" "$DATA/quad" "$TMP/x8.npy"
exported relu_max "$TMP/x8.npy" image out nchw --nchw
exported relu_max "$TMP/x8.npy" image out nhwc

echo "# metadata and layout"
expect_ok "export with class names" "$FOVEA" export "$TMP/quad.safetensors" -o "$TMP/q.onnx" \
    --class-names up-left,up-right,down-left,down-right --nchw
meta() {
    $PY -c 'import onnx, sys; print({p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}[sys.argv[2]])' "$@"
}
check "class names in metadata_props, a JSON array" test "$(meta "$TMP/q.onnx" fovea.class_names)" = '["up-left","up-right","down-left","down-right"]'
expect_ok "import it" "$FOVEA" import "$TMP/q.onnx" -o "$TMP/qc.safetensors"
expect_ok "export the import: the model's own class names" "$FOVEA" export "$TMP/qc.safetensors" -o "$TMP/qc.onnx"
check "the class names came back" test "$(meta "$TMP/qc.onnx" fovea.class_names)" = '["up-left","up-right","down-left","down-right"]' 
check "layout in metadata_props" test "$(meta "$TMP/q.onnx" fovea.layout)" = NCHW
check "model text in metadata_props" bash -c "$(printf '%q ' $PY -c 'import onnx, sys; m = {p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}; sys.exit(not m["fovea.model"].startswith("input shape=8,8,1\nconv2d filters=4"))' "$TMP/q.onnx")"

echo "# bad requests: one message, no file"
expect_error "a model file without weights" 1 "no trained weights|model text" \
    "$FOVEA" export "$DATA/quad.fv" -o "$TMP/bad.onnx"
expect_error "opset 12" 2 "--opset: expected an opset from 13 to 17" \
    "$FOVEA" export "$TMP/quad.safetensors" -o "$TMP/bad.onnx" --opset 12
expect_error "batch 0" 2 "--batch: expected a positive integer or 'dynamic'" \
    "$FOVEA" export "$TMP/quad.safetensors" -o "$TMP/bad.onnx" --batch 0
expect_error "wrong count of class names" 1 "3 class names for the 4 units of dense" \
    "$FOVEA" export "$TMP/quad.safetensors" -o "$TMP/bad.onnx" --class-names a,b,c
expect_error "no -o" 2 "-o MODEL.onnx is required" "$FOVEA" export "$TMP/quad.safetensors"
expect_error "a folder as output" 1 "--output" \
    "$FOVEA" export "$TMP/quad.safetensors" -o "$TMP"
check "no file left by the failures" test ! -e "$TMP/bad.onnx"
check "no temporary files left" test -z "$(find "$TMP" -maxdepth 1 -name '*.tmp.*' -print -quit)"

finish
