#!/usr/bin/env bash
# cli_profile.sh — `fovea train --profile`: per layer the executed GFLOP beside the
# dense-equivalent GFLOP, the total line "executed X MFLOP per training image against Y
# dense-equivalent (Z%)" with Y counted by hand, and the same trained weights with or without it.
set -u
source "$(dirname "$0")/data/cli_lib.bash"

# Per image, dense: conv2d 8x8x1 -> 8x8x8 (3x3, same) 2*64*9*8 = 9216 forward and backward (a
# first layer: no input gradient); conv2d_1 8x8x8 -> 8x8x8 2*64*72*8 = 73728 forward, twice
# that backward; dense 128 -> 4 2*128*4 = 1024 forward, twice that backward: 242688 FLOPs.
cat >"$TMP/two_convs.fv" <<'MODEL'
input shape=8,8,1
conv2d filters=8 kernel_size=3 padding=same activation=relu
conv2d filters=8 kernel_size=3 padding=same activation=relu
maxpool2d pool_size=2
flatten
dense units=4 activation=softmax
compile loss=categorical_crossentropy optimizer=adam learning_rate=0.01
fit batch_size=16 epochs=2
MODEL
train=("$FOVEA" train "$TMP/two_convs.fv" --data "$DATA/quad" --seed 5 --threads 2)
run "${train[@]}" --profile --save "$TMP/profiled.safetensors"
check "training with --profile succeeds" test "$status" -eq 0
total=$(grep -E '^  executed [0-9.e+-]+ MFLOP per training image against [0-9.e+-]+ dense-equivalent \([0-9.]+%\)' "$TMP/out")
check "the total line: executed X MFLOP per training image against Y dense-equivalent (Z%)" \
    test -n "$total"
executed=$(sed -E 's/^  executed ([0-9.e+-]+) MFLOP.*/\1/' <<<"$total")
dense=$(sed -E 's/.* against ([0-9.e+-]+) dense-equivalent.*/\1/' <<<"$total")
check "the dense-equivalent figure is the hand count, 0.242688 MFLOP per image (got $dense)" \
    test "$dense" = 0.242688
check "the convolution behind the max-pool skips zero gradients: fewer executed ($executed)" \
    python3 -c "import sys; sys.exit(not 0 < float('$executed') < float('$dense'))"
# conv2d_1's row: forward executed = dense, backward executed < dense
row=$(grep -E '^  conv2d_1 ' "$TMP/out")
check "conv2d_1's row: forward executed GFLOP equal its dense count, backward fewer" \
    python3 -c "
import sys
f = '$row'.split()[-4:]
sys.exit(not (f[0] == f[1] and float(f[2]) < float(f[3])))"
run "${train[@]}" --save "$TMP/plain.safetensors"
check "training without --profile succeeds" test "$status" -eq 0
check "the same weights, bit for bit, with and without --profile" \
    cmp "$TMP/profiled.safetensors" "$TMP/plain.safetensors"

finish
