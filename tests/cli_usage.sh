#!/usr/bin/env bash
# cli_usage.sh — the fovea command's help, version and usage errors: every unknown option,
# missing value and malformed number is refused with exit status 2 and one message naming the
# flag and the text given, before any file is read.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
M=$DATA/quad.fv
D=$DATA/quad

echo "# help and version"
expect_ok "fovea --help" "$FOVEA" --help
check "--help shows the commands" grep -q "usage: fovea COMMAND" "$TMP/out"
for c in train evaluate predict summary; do
    expect_ok "fovea $c --help" "$FOVEA" $c --help
    check "fovea $c --help shows its usage" grep -q "usage: fovea $c" "$TMP/out"
done
expect_ok "fovea data --help" "$FOVEA" data --help
check "fovea data --help shows its usage" grep -q "usage: fovea data get" "$TMP/out"
expect_ok "fovea help train" "$FOVEA" help train
check "fovea help train is train's usage" grep -q "usage: fovea train" "$TMP/out"
expect_ok "fovea --version" "$FOVEA" --version
check "--version prints 'fovea X.Y.Z'" grep -Eq '^fovea [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/out"
check "--version names the kernels' path" grep -Eq '^kernels: (avx512|avx2|generic)$' "$TMP/out"
expect_ok "FOVEA_KERNELS=generic fovea --version" env FOVEA_KERNELS=generic "$FOVEA" --version
check "FOVEA_KERNELS chooses the path" grep -q '^kernels: generic$' "$TMP/out"
expect_error "FOVEA_KERNELS naming no path" 2 \
    "FOVEA_KERNELS: kernel path 'sse9' is not one this CPU has .it has: auto, generic" \
    env FOVEA_KERNELS=sse9 "$FOVEA" --version
run "$FOVEA"
if [ "$status" -eq 2 ] && grep -q "usage:" "$TMP/err"; then
    ok "no command: usage on stderr, exit 2"
else
    fail "no command: usage on stderr, exit 2"
    show_output
fi

echo "# unknown commands and options"
expect_error "unknown command" 2 "unknown command 'frobnicate'" "$FOVEA" frobnicate
expect_error "unknown top-level option" 2 "unknown option '--frobnicate'" "$FOVEA" --frobnicate
expect_error "unknown train option (typo)" 2 "^fovea train: unknown option '--epoch'" \
    "$FOVEA" train "$M" --data "$D" --epoch 3
expect_error "single-dash option" 2 "unknown option '-x'" "$FOVEA" train "$M" -x
expect_error "switch given a value" 2 "--no-shuffle takes no value" \
    "$FOVEA" train "$M" --data "$D" --no-shuffle=yes
expect_error "missing value at the end" 2 "^fovea train: --epochs: missing value" \
    "$FOVEA" train "$M" --data "$D" --epochs
expect_error "missing value before another option" 2 "--save: missing value" \
    "$FOVEA" train "$M" --data "$D" --save --epochs 3
expect_error "empty value" 2 "--data: empty value" "$FOVEA" train "$M" --data=
expect_error "train without --data" 2 "--data is required" "$FOVEA" train "$M"
expect_error "train without a model" 2 "missing argument" "$FOVEA" train --data "$D"
expect_error "two models" 2 "unexpected argument 'extra.fv'" "$FOVEA" train "$M" extra.fv --data "$D"
expect_error "evaluate without --data" 2 "--data is required" "$FOVEA" evaluate m.safetensors
expect_error "predict --output of another kind" 2 "--output: 'p.txt': expected a .csv or a .npy file name" \
    "$FOVEA" predict m.safetensors --input x.npy --output p.txt
expect_error "predict --top-k 0" 2 "--top-k: expected a positive integer, got '0'" \
    "$FOVEA" predict m.safetensors --input x.npy --top-k 0
expect_error "predict without --input" 2 "--input is required" \
    "$FOVEA" predict m.safetensors --output p.npy
expect_error "summary with two files" 2 "unexpected argument 'b.fv'" "$FOVEA" summary a.fv b.fv
expect_error "data: unknown action" 2 "unknown action 'fetch'" "$FOVEA" data fetch mnist
expect_error "data get: unknown dataset" 2 "unknown dataset 'cifar10'" "$FOVEA" data get cifar10
expect_error "data get: no dataset" 2 "missing DATASET" "$FOVEA" data get

echo "# malformed numbers, each named with the text given"
bad() { # bad FLAG VALUE EXPECTED_WORDS
    expect_error "$1 '$2'" 2 "^fovea train: $1: expected $3, got '$2'" \
        "$FOVEA" train "$M" --data "$D" "$1" "$2"
}
bad --epochs 5x "a whole number >= 0"
bad --epochs -3 "a whole number >= 0"
bad --epochs " 5" "a whole number >= 0"
bad --epochs 99999999999999999999 "a whole number >= 0"
bad --batch-size 1e3 "a positive integer"
bad --batch-size 12.5 "a positive integer"
bad --learning-rate abc "a positive number up to 1000"
bad --learning-rate 0 "a positive number up to 1000"
bad --learning-rate nan "a positive number up to 1000"
bad --learning-rate inf "a positive number up to 1000"
bad --learning-rate 0.01x "a positive number up to 1000"
bad --learning-rate 5000 "a positive number up to 1000"
bad --validation-split 1 "a fraction at least 0 and below 1"
bad --validation-split -0.1 "a fraction at least 0 and below 1"
bad --validation-split 0.2.1 "a fraction at least 0 and below 1"
bad --seed -1 "a non-negative integer"
bad --seed 18446744073709551616 "a non-negative integer"
bad --seed 0x10 "a non-negative integer"
bad --threads 0 "a positive integer"
bad --verbose 3 "0, 1 or 2"
bad --verbose high "0, 1 or 2"
expect_error "--epochs=5x form" 2 "--epochs: expected a whole number >= 0, got '5x'" \
    "$FOVEA" train "$M" --data "$D" --epochs=5x
expect_error "--optimizer rmsprop" 2 "--optimizer: expected adam, adamw or sgd, got 'rmsprop'" \
    "$FOVEA" train "$M" --data "$D" --optimizer rmsprop
expect_error "evaluate --batch-size 0" 2 "^fovea evaluate: --batch-size: expected a positive integer, got '0'" \
    "$FOVEA" evaluate m.safetensors --data "$D" --batch-size 0
expect_error "predict --batch-size x" 2 "^fovea predict: --batch-size: expected a positive integer, got 'x'" \
    "$FOVEA" predict m.safetensors --input x.npy --output p.npy --batch-size x

finish
