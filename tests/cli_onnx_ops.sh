#!/usr/bin/env bash
# cli_onnx_ops.sh — `fovea import` of the operators PyTorch writes for ConvTranspose2d, Upsample
# (nearest and bilinear, by scale and by size), slicing, a depthwise + 1x1 convolution pair,
# ZeroPad2d (its pads computed by a ConstantOfShape-Concat-Reshape-Slice-Transpose-Cast chain),
# ReLU6 (Clip) and view/reshape: the models of tests/data/onnx_torch_ops.py, exported by
# torch.onnx.export at opsets 11, 13 and 17, become fovea models with the expected layers whose
# predictions equal ONNX Runtime's (onnxruntime-node 1.30, on the same file) and PyTorch's within
# 1e-5 (largest differences printed). Skipped (77) without ONNX in the build, python3-torch,
# python3-onnx, node or onnxruntime-node, except in CI (CI set).
set -u
source "$(dirname "$0")/data/cli_lib.bash"
source "$DATA/onnx_lib.bash"
need_onnx_build
$PY -c 'import torch, onnx, numpy' 2>/dev/null || skip "python3-torch, python3-onnx or python3-numpy missing"
need_onnxruntime

# The fovea layers each model must become (the summary's types).
declare -A KINDS=(
    [convtranspose]="Conv2D Conv2DTranspose Cropping2D ReLU"
    [resize]="UpSampling2D Add"
    [slice]="Cropping2D"
    [separable]="SeparableConv2D ZeroPadding2D"
    [zeropad]="ZeroPadding2D ReLU Conv2D"
    [reshape]="Reshape Dense Conv2D Flatten"
)

for opset in 11 13 17; do
    W=$TMP/o$opset
    mkdir -p "$W"
    echo "# opset $opset"
    if ! $PY "$DATA/onnx_torch_ops.py" "$W" $opset >"$W/log" 2>&1; then
        fail "opset $opset: the PyTorch models and their export" "$(tail -3 "$W/log")"
        continue
    fi
    for m in convtranspose resize slice separable zeropad reshape; do
        expect_ok "$m $opset: import" "$FOVEA" import "$W/$m.onnx" -o "$W/$m.safetensors"
        expect_ok "$m $opset: summary" "$FOVEA" summary "$W/$m.safetensors"
        for kind in ${KINDS[$m]}; do
            check "$m $opset: the summary shows $kind" grep -q "($kind)" "$TMP/out"
        done
        expect_ok "$m $opset: predict" "$FOVEA" predict "$W/$m.safetensors" \
            --input "$W/${m}_x.npy" --output "$W/${m}_fovea.npy"
        if node "$DATA/onnx_run.js" "$W/$m.onnx" "$W/${m}_x_nchw.npy" "$W/${m}_ort.npy" \
            2>"$W/ort.err"; then
            d=$(maxdiff "$W/${m}_fovea.npy" "$W/${m}_ort.npy")
            check "$m $opset: fovea's predictions equal ONNX Runtime's within 1e-5 (largest difference $d)" within "$d"
        else
            fail "$m $opset: ONNX Runtime ran the file" "$(cat "$W/ort.err")"
        fi
        d=$(maxdiff "$W/${m}_fovea.npy" "$W/${m}_torch.npy")
        check "$m $opset: fovea's predictions equal PyTorch's within 1e-5 (largest difference $d)" within "$d"
    done
done

echo "# what the import refuses, with the node and attribute named"
$PY - "$TMP" <<'PY' || fail "making the refused models"
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
tmp = sys.argv[1]
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
def save(name, nodes, inits):
    g = helper.make_graph(nodes, name, [x], [y], [numpy_helper.from_array(a, n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.save(m, f"{tmp}/{name}.onnx")
f32 = lambda *v: np.array(v, np.float32)
i64 = lambda *v: np.array(v, np.int64)
save("resize_cubic", [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="cubic")],
     [("s", f32(1, 1, 2, 2))])
save("resize_frac", [helper.make_node("Resize", ["x", "", "s"], ["y"])], [("s", f32(1, 1, 1.5, 2))])
save("resize_align", [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="linear",
                                       coordinate_transformation_mode="align_corners")],
     [("s", f32(1, 1, 2, 2))])
save("resize_round", [helper.make_node("Resize", ["x", "", "s"], ["y"],
                                       coordinate_transformation_mode="asymmetric")],
     [("s", f32(1, 1, 3, 3))])
save("slice_step", [helper.make_node("Slice", ["x", "a", "b", "ax", "st"], ["y"])],
     [("a", i64(0)), ("b", i64(4)), ("ax", i64(2)), ("st", i64(2))])
save("slice_channels", [helper.make_node("Slice", ["x", "a", "b", "ax"], ["y"])],
     [("a", i64(1)), ("b", i64(2)), ("ax", i64(1))])
save("convt_group", [helper.make_node("ConvTranspose", ["x", "w"], ["y"], group=2)],
     [("w", np.zeros((2, 1, 3, 3), np.float32))])
save("reshape_nchw", [helper.make_node("Reshape", ["x", "s"], ["y"])], [("s", i64(0, 4, 2, 4))])
save("clip_min", [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [("lo", f32(-1)), ("hi", f32(1))])
PY
expect_error "Resize cubic" 1 "node 'y' \\(Resize\\): mode=cubic" "$FOVEA" import "$TMP/resize_cubic.onnx" -o "$TMP/bad.safetensors"
expect_error "Resize by 1.5" 1 "\\(Resize\\): scale 1.5: fovea's upsampling2d has whole factors" "$FOVEA" import "$TMP/resize_frac.onnx" -o "$TMP/bad.safetensors"
expect_error "Resize linear align_corners" 1 "\\(Resize\\): coordinate_transformation_mode=align_corners" "$FOVEA" import "$TMP/resize_align.onnx" -o "$TMP/bad.safetensors"
expect_error "Resize nearest rounding that does not repeat" 1 "\\(Resize\\): coordinate_transformation_mode=asymmetric with nearest_mode=round_prefer_floor does not repeat" "$FOVEA" import "$TMP/resize_round.onnx" -o "$TMP/bad.safetensors"
expect_error "Slice with step 2" 1 "\\(Slice\\): steps other than 1" "$FOVEA" import "$TMP/slice_step.onnx" -o "$TMP/bad.safetensors"
expect_error "Slice of channels" 1 "\\(Slice\\): it cuts the channels" "$FOVEA" import "$TMP/slice_channels.onnx" -o "$TMP/bad.safetensors"
expect_error "ConvTranspose with groups" 1 "\\(ConvTranspose\\): group other than 1" "$FOVEA" import "$TMP/convt_group.onnx" -o "$TMP/bad.safetensors"
expect_error "Reshape of NCHW data" 1 "\\(Reshape\\): a reshape of NCHW data" "$FOVEA" import "$TMP/reshape_nchw.onnx" -o "$TMP/bad.safetensors"
expect_error "Clip from -1" 1 "\\(Clip\\): min must be 0" "$FOVEA" import "$TMP/clip_min.onnx" -o "$TMP/bad.safetensors"
check "no file left by the failures" test ! -e "$TMP/bad.safetensors"

finish
