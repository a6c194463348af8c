#!/usr/bin/env bash
# cli_summary.sh — `fovea summary`: the seed CNN's Keras table (names, shapes, 1,199,882
# parameters), and model files with mistakes refused with the file and line named.
set -u
source "$(dirname "$0")/data/cli_lib.bash"

echo "# the seed model's summary"
expect_ok "summary of the seed CNN" "$FOVEA" summary "$DATA/seed_cnn.fv"
check "Total params: 1,199,882" grep -q "Total params: 1,199,882" "$TMP/out"
check "Trainable params: 1,199,882" grep -q "Trainable params: 1,199,882" "$TMP/out"
for name in conv2d conv2d_1 max_pooling2d dropout flatten dense dropout_1 dense_1; do
    check "Keras layer name '$name'" grep -Eq "^ *$name " "$TMP/out"
done
check "conv2d output (None, 26, 26, 32), 320 params" grep -Eq "^ *conv2d .*\(None, 26, 26, 32\) +320 *$" "$TMP/out"
check "conv2d_1 output (None, 24, 24, 64), 18,496 params" grep -Eq "conv2d_1 .*\(None, 24, 24, 64\) +18,496" "$TMP/out"
check "max_pooling2d output (None, 12, 12, 64)" grep -Eq "max_pooling2d .*\(None, 12, 12, 64\)" "$TMP/out"
check "flatten output (None, 9216)" grep -Eq "flatten .*\(None, 9216\)" "$TMP/out"
check "dense output (None, 128), 1,179,776 params" grep -Eq "^ *dense .*\(None, 128\) +1,179,776" "$TMP/out"
check "dense_1 output (None, 10), 1,290 params" grep -Eq "dense_1 .*\(None, 10\) +1,290" "$TMP/out"

echo "# a graph: the functional summary"
expect_ok "summary of the residual block" "$FOVEA" summary "$DATA/../../examples/residual_block.fv"
check "Model: \"functional\"" grep -q 'Model: "functional"' "$TMP/out"
check "a row per input layer" grep -Eq "^ *input_layer \(InputLayer\) +\(None, 28, 28, 1\) +0 +\[\]" "$TMP/out"
check "Connected to, one connection a line" grep -Eq "^ *res \(Add\) .*\['r0\[0\]\[0\]',$" "$TMP/out"
check "moving statistics are non-trainable" grep -q "Non-trainable params: 192 (768.00 B)" "$TMP/out"
printf 'input shape=8,8,1\nconv2d name=p filters=16 kernel_size=1\nconv2d name=q filters=32 kernel_size=1 inputs=input_layer\nadd inputs=p,q\n' >"$TMP/add.fv"
expect_error "add of two shapes: line and both shapes" 1 "add\.fv:4:.*\(None, 8, 8, 16\).*\(None, 8, 8, 32\)" "$FOVEA" summary "$TMP/add.fv"
printf 'input shape=4\ndense name=lost units=2\ndense units=3 inputs=input_layer\n' >"$TMP/lost.fv"
expect_error "a layer nobody reads: its line and name" 1 "lost\.fv:2:.*'lost'.*read by no layer" "$FOVEA" summary "$TMP/lost.fv"

echo "# model files with mistakes"
printf 'input shape=8,8,1\nconv2d filters=4 kernel_size=3 activation=relu\nconv2x filters=4 kernel_size=3\nflatten\ndense units=4 activation=softmax\n' >"$TMP/typo.fv"
expect_error "unknown layer kind: file, line and name" 1 "typo\.fv.*3.*conv2x" "$FOVEA" summary "$TMP/typo.fv"
printf 'input shape=8,8,1\nflatten\ndense units=4 activation=softmx\n' >"$TMP/act.fv"
expect_error "unknown activation: never a silent default" 1 "act\.fv.*3.*softmx" "$FOVEA" summary "$TMP/act.fv"
printf 'input shape=8,8,1\nconv2d filters=4 kernel_size=3 activaton=relu\n' >"$TMP/arg.fv"
expect_error "unknown argument name" 1 "arg\.fv.*2.*activaton" "$FOVEA" summary "$TMP/arg.fv"
printf 'input shape=8,8,1\nconv2d filters=4 kernel_size=9\n' >"$TMP/shape.fv"
expect_error "a kernel larger than its input" 1 "shape\.fv.*2" "$FOVEA" summary "$TMP/shape.fv"
printf 'input shape=8,8,1\nconv2d filters=four kernel_size=3\n' >"$TMP/value.fv"
expect_error "a value that is not a number" 1 "value\.fv.*2.*four" "$FOVEA" summary "$TMP/value.fv"
expect_error "a missing model file" 1 "nosuch\.fv" "$FOVEA" summary "$TMP/nosuch.fv"
expect_error "a folder as model file" 1 "is a folder" "$FOVEA" summary "$TMP"
head -c 100 /dev/urandom >"$TMP/noise.fv"
run "$FOVEA" summary "$TMP/noise.fv"
if [ "$status" -eq 1 ] && [ -s "$TMP/err" ]; then ok "random bytes as model file: refused"; else
    fail "random bytes as model file: refused"
    show_output
fi
printf '\0\0\0\0\0\0\0\0{"x"' >"$TMP/cut.safetensors"
expect_error "a truncated safetensors file" 1 "cut\.safetensors" "$FOVEA" summary "$TMP/cut.safetensors"

finish
