#!/usr/bin/env bash
# cli_onnx_import.sh — `fovea import`: a tiny CNN trained in PyTorch (tests/data/onnx_torch.py:
# convolutions with padding 1, BatchNorm, max pooling, a residual add, flatten of NCHW data,
# dropout, softmax; flatten by nn.Flatten or by x.view(x.size(0), -1); a depthwise convolution
# with stride 2 and padding 1, AvgPool2d counting its padding, global average pooling, torch.cat) exported by torch.onnx.export
# at opsets 11, 13 and 17 becomes a fovea model
# whose predictions equal PyTorch's within 1e-5 (largest difference printed) with the same test
# accuracy, and which summary, evaluate and train --weights take; fovea's own exports (NHWC and
# --nchw) come back with the same outputs; hostile files are refused with one message each.
# Skipped (77) without ONNX in the build or without python3-torch/python3-onnx, except in CI.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
source "$DATA/onnx_lib.bash"
D=$DATA/quad
need_onnx_build
$PY -c 'import torch, onnx, numpy' 2>/dev/null || skip "python3-torch, python3-onnx or python3-numpy missing"

echo "# a CNN trained in PyTorch"
for run in 11 13 17 11-view 13-view; do
    opset=${run%-view}
    W=$TMP/torch$run
    mkdir -p "$W"
    variant=()
    [ "$run" != "$opset" ] && variant=(view)
    if ! $PY "$DATA/onnx_torch.py" "$D" "$W" $opset "${variant[@]}" >"$W/log" 2>&1; then
        fail "opset $run: PyTorch training and export" "$(tail -3 "$W/log")"
        continue
    fi
    tacc=$(sed -n 's/^PyTorch test accuracy: //p' "$W/log")
    expect_ok "opset $run: import" "$FOVEA" import "$W/torch.onnx" -o "$W/m.safetensors" \
        --compile "loss=categorical_crossentropy optimizer=adam learning_rate=0.001 metrics=accuracy"
    expect_ok "opset $run: summary" "$FOVEA" summary "$W/m.safetensors"
    for kind in BatchNormalization Add Dense ZeroPadding2D DepthwiseConv2D AveragePooling2D \
        GlobalAveragePooling2D Concatenate; do
        check "opset $run: the summary shows $kind" grep -q "($kind)" "$TMP/out"
    done
    expect_ok "opset $run: predict" "$FOVEA" predict "$W/m.safetensors" --input "$W/x.npy" \
        --output "$W/p.npy"
    d=$(maxdiff "$W/p.npy" "$W/torch.npy")
    check "opset $run: fovea's predictions equal PyTorch's within 1e-5 (largest difference $d)" within "$d"
    expect_ok "opset $run: evaluate" "$FOVEA" evaluate "$W/m.safetensors" --data "$D"
    facc=$(sed -n 's/^Test accuracy: //p' "$TMP/out")
    check "opset $run: test accuracy $facc equals PyTorch's $tacc" \
        awk -v a="$facc" -v b="$tacc" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }'
    expect_ok "opset $run: fine-tuning with train --weights" "$FOVEA" train "$W/m.safetensors" \
        --data "$D" --epochs 1 --verbose 0 --save "$W/tuned.safetensors"
done

echo "# fovea -> ONNX -> fovea: the quad CNN and the graphs of every layer kind"
# The models hold every layer kind the exporter writes (its kinds[] table).
exported=$(sed -n '/^} kinds\[\] = {/,/^};/s/^ *{"\([a-z0-9_]*\)",.*/\1/p' "$ROOT/src/io/onnx_export.c" | sort)
written=$(cat "$DATA/quad.fv" "$DATA/onnx_all_kinds.fv" "$DATA/onnx_more_kinds.fv" "$DATA/onnx_relu_max.fv" \
    "$DATA/onnx_augment.fv" |
    sed -n 's/^\([a-z0-9_]*\) .*/\1/p' | sort -u)
missing=$(comm -23 <(echo "$exported") <(echo "$written"))
check "the round trips cover all $(echo "$exported" | wc -l) kinds the exporter writes${missing:+ (missing: $missing)}" \
    test -n "$exported" -a -z "$missing"
"$PY" -c 'import numpy as np; np.save("'"$TMP"'/x8.npy", np.random.default_rng(5).random((12, 8, 8, 1), dtype=np.float32))'
# same_weights A B: the two files hold the same tensors, bit for bit (names may differ).
same_weights() {
    $PY - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    return sorted((tuple(v["shape"]), b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
                  for k, v in h.items() if k != "__metadata__")
sys.exit(tensors(sys.argv[1]) != tensors(sys.argv[2]))
PY
}
for model in quad onnx_all_kinds onnx_more_kinds onnx_relu_max onnx_augment; do
    expect_ok "$model: train" "$FOVEA" train "$DATA/$model.fv" --data "$D" --epochs 1 \
        --save "$TMP/$model.safetensors" --verbose 0
    expect_ok "$model: predict" "$FOVEA" predict "$TMP/$model.safetensors" --input "$TMP/x8.npy" \
        --output "$TMP/$model.npy"
    for layout in nhwc nchw; do
        flag=()
        [ $layout = nchw ] && flag=(--nchw)
        r=$TMP/$model-$layout
        expect_ok "$model $layout: export" "$FOVEA" export "$TMP/$model.safetensors" -o "$r.onnx" "${flag[@]}"
        expect_ok "$model $layout: import" "$FOVEA" import "$r.onnx" -o "$r.safetensors"
        expect_ok "$model $layout: predict" "$FOVEA" predict "$r.safetensors" --input "$TMP/x8.npy" \
            --output "$r.npy"
        same_file "$model $layout: the same outputs, bit for bit" "$TMP/$model.npy" "$r.npy"
        check "$model $layout: the same weights, bit for bit" same_weights "$TMP/$model.safetensors" "$r.safetensors"
        if [ $model = onnx_more_kinds ]; then
            expect_ok "$model $layout: summary" "$FOVEA" summary "$r.safetensors"
            for kind in ZeroPadding2D Cropping2D DepthwiseConv2D SeparableConv2D AveragePooling2D \
                UpSampling2D Conv2DTranspose Reshape; do
                check "$model $layout: the summary shows $kind" grep -q "($kind)" "$TMP/out"
            done
        fi
    done
done

echo "# MatMul + Add (Linear as some exporters write it), written with onnx.helper, against numpy"
$PY - "$TMP" <<'PY' || fail "making the MatMul model"
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
tmp = sys.argv[1]
rng = np.random.default_rng(7)
w1, b1 = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
w2 = rng.standard_normal((3, 2)).astype(np.float32)
x = rng.standard_normal((6, 4)).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
     helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["z"]),
     helper.make_node("Softmax", ["z"], ["p"], axis=1)],
    "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
    [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 2])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
     numpy_helper.from_array(w2, "w2")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.checker.check_model(m, full_check=True)
onnx.save(m, f"{tmp}/mlp.onnx")
z = np.maximum(x @ w1 + b1, 0) @ w2
p = np.exp(z - z.max(1, keepdims=True))
np.save(f"{tmp}/mlp_x.npy", x)
np.save(f"{tmp}/mlp_p.npy", (p / p.sum(1, keepdims=True)).astype(np.float32))
PY
expect_ok "MatMul: import" "$FOVEA" import "$TMP/mlp.onnx" -o "$TMP/mlp.safetensors"
expect_ok "MatMul: summary" "$FOVEA" summary "$TMP/mlp.safetensors"
check "MatMul: two dense layers, the Add as the first one's bias" grep -q "Total params: 21 " "$TMP/out"
expect_ok "MatMul: predict" "$FOVEA" predict "$TMP/mlp.safetensors" --input "$TMP/mlp_x.npy" --output "$TMP/mlp.npy"
d=$(maxdiff "$TMP/mlp.npy" "$TMP/mlp_p.npy")
check "MatMul: outputs equal numpy's within 1e-5 (largest difference $d)" within "$d"

echo "# hostile files: one message each, no output file"
$PY - "$TMP" "$TMP/quad-nchw.onnx" <<'PY'
import sys
import onnx
from onnx import helper, TensorProto
tmp, good = sys.argv[1], sys.argv[2]
b = open(good, "rb").read()
open(f"{tmp}/truncated.onnx", "wb").write(b[: len(b) // 2])
m = onnx.load(good)
t = m.graph.initializer[0]
del t.dims[:]
t.dims.extend([1000000, 1000000])           # 10^12 elements claimed, a few bytes present
open(f"{tmp}/huge.onnx", "wb").write(m.SerializeToString())
m = onnx.load(good)
m.graph.node[1].input[0] = "nowhere"         # a dangling name
open(f"{tmp}/dangling.onnx", "wb").write(m.SerializeToString())
m = onnx.load(good)
m.opset_import[0].version = 99
open(f"{tmp}/opset.onnx", "wb").write(m.SerializeToString())
m = onnx.load(good)
m.graph.node[1].op_type = "Frobnicate"
open(f"{tmp}/unknown_op.onnx", "wb").write(m.SerializeToString())
m = onnx.load(good)
for n in m.graph.node:
    for a in n.attribute:
        if n.op_type == "MaxPool" and a.name == "pads":
            a.ints[:] = [1, 0, 0, 1]
open(f"{tmp}/pads.onnx", "wb").write(m.SerializeToString())
# A node nested 40 graphs deep through If's then_branch attributes.
empty = g = helper.make_graph([], "g", [], [])
for i in range(40):
    n = helper.make_node("If", ["c"], ["y"], then_branch=g, else_branch=empty)
    g = helper.make_graph([n], f"g{i}", [], [])
open(f"{tmp}/deep.onnx", "wb").write(helper.make_model(g).SerializeToString())
m = onnx.load(good)
m.graph.initializer[0].data_location = TensorProto.EXTERNAL
open(f"{tmp}/external.onnx", "wb").write(m.SerializeToString())
PY
expect_error "truncated" 1 "truncated|runs past the end" "$FOVEA" import "$TMP/truncated.onnx" -o "$TMP/bad.safetensors"
expect_error "a tensor claiming 10^12 elements" 1 "initializer .*dims give" "$FOVEA" import "$TMP/huge.onnx" -o "$TMP/bad.safetensors"
expect_error "a node reading a missing input" 1 "reads 'nowhere', which no earlier node" "$FOVEA" import "$TMP/dangling.onnx" -o "$TMP/bad.safetensors"
expect_error "an unknown opset" 1 "opset 99 of the default domain: fovea reads opsets 11 to 17" "$FOVEA" import "$TMP/opset.onnx" -o "$TMP/bad.safetensors"
expect_error "an unknown operator" 1 "\\(Frobnicate\\): an operator fovea does not have" "$FOVEA" import "$TMP/unknown_op.onnx" -o "$TMP/bad.safetensors"
expect_error "max pooling pads Keras cannot express" 1 "\\(MaxPool\\): pads=\\[1,0,0,1\\].*would change a max pooling" "$FOVEA" import "$TMP/pads.onnx" -o "$TMP/bad.safetensors"
expect_error "nesting 40 graphs deep" 1 "nested deeper than 24 levels" "$FOVEA" import "$TMP/deep.onnx" -o "$TMP/bad.safetensors"
expect_error "external data" 1 "external file" "$FOVEA" import "$TMP/external.onnx" -o "$TMP/bad.safetensors"
expect_error "an empty file" 1 "empty file" "$FOVEA" import "$TMP/empty.onnx" -o "$TMP/bad.safetensors"
expect_error "bad --input-shape" 2 "--input-shape: expected H,W,C" "$FOVEA" import "$TMP/quad-nchw.onnx" -o "$TMP/bad.safetensors" --input-shape 8,8
check "no file left by the failures" test ! -e "$TMP/bad.safetensors"

finish
