#!/usr/bin/env bash
# cli_gan_checkpoint.sh — a GAN's training (fit gan=NODE) checkpointed and resumed bit for bit: two
# epochs straight against one epoch and a resumed second (weights, the generator's BatchNormalization
# moving statistics, both Adams' moments and step counts, the noise stream and the d_loss/g_loss
# history); runs killed with SIGKILL mid-epoch and at an epoch's last step, then resumed on another
# thread count; Ctrl-C keeps the checkpoint and prints a resume command that works; the checkpoint
# loads as a model (generate) and refuses another run's settings.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
D=$DATA/quad
STEPS=15 # per epoch: 240 training images in batches of 16
ARGS=("$DATA/quad_gan.fv" --data "$D" --seed 5 --verbose 2)

# The epochs, the steps (dropout_step: the noise stream's position) and both Adams' step counts
# held by the checkpoint in folder $1, read from its metadata.
held() {
    local f=$1/checkpoint.safetensors k v out=""
    [ -e "$f" ] || {
        echo "none"
        return
    }
    for k in epochs_done dropout_step g_iterations d_iterations; do
        v=$(head -c 65536 "$f" | grep -ao "$k\\\\\":[0-9]*" | head -1 | grep -o '[0-9]*$')
        out="$out${out:+ }${v:-?}"
    done
    echo "$out"
}

echo "# 2 epochs straight, and 1 epoch + 1 resumed"
expect_ok "2 epochs straight" "$FOVEA" train "${ARGS[@]}" --epochs 2 \
    --save "$TMP/ref.safetensors" --history "$TMP/ref.csv"
check "history columns: d_loss, g_loss" test "$(head -1 "$TMP/ref.csv")" = "epoch,d_loss,g_loss"
expect_ok "2 epochs with --checkpoint" "$FOVEA" train "${ARGS[@]}" --epochs 2 \
    --checkpoint "$TMP/ck0" --save "$TMP/ck0.safetensors" --history "$TMP/ck0.csv"
same_file "checkpointing changes no weight" "$TMP/ref.safetensors" "$TMP/ck0.safetensors"
same_file "checkpointing changes no history value" "$TMP/ref.csv" "$TMP/ck0.csv"
check "the checkpoint holds 2 epochs, 30 steps and both Adams' 30 steps" \
    test "$(held "$TMP/ck0")" = "2 30 30 30"
check "  ... and both optimizers' moments" bash -c "head -c 65536 '$TMP/ck0/checkpoint.safetensors' |
    grep -a 'g_optimizer.m' | grep -a 'g_optimizer.v' | grep -a 'd_optimizer.m' | grep -aq 'd_optimizer.v'"
expect_ok "1 epoch with --checkpoint" "$FOVEA" train "${ARGS[@]}" --epochs 1 --checkpoint "$TMP/ck1"
check "  ... the checkpoint holds 1 epoch" test "$(held "$TMP/ck1")" = "1 15 15 15"
expect_ok "resumed to 2 epochs" "$FOVEA" train "${ARGS[@]}" --epochs 2 --checkpoint "$TMP/ck1" \
    --resume --save "$TMP/r1.safetensors" --history "$TMP/r1.csv"
check "  ... from epoch 1" grep -q "^Resuming after epoch 1/2 from the checkpoint in" "$TMP/out"
same_file "the resumed GAN has the straight run's weights, byte for byte" \
    "$TMP/ref.safetensors" "$TMP/r1.safetensors"
same_file "  ... and its d_loss and g_loss history" "$TMP/ref.csv" "$TMP/r1.csv"
expect_ok "the checkpoint loads as a model: generate" "$FOVEA" generate "$TMP/ck1/checkpoint.safetensors" \
    --n 4 -o "$TMP/g.png"
check "  ... a PNG" is_png "$TMP/g.png"

echo "# killed (SIGKILL) mid-epoch and at an epoch's last step, resumed on one thread"
EPOCHS=3
k=0
for at in 22 30; do
    k=$((k + 1))
    expect_ok "$EPOCHS epochs straight" "$FOVEA" train "${ARGS[@]}" --epochs $EPOCHS \
        --save "$TMP/ref3.safetensors" --history "$TMP/ref3.csv"
    (
        FOVEA_TEST_KILL_AFTER_STEP=$at "$FOVEA" train "${ARGS[@]}" --epochs $EPOCHS \
            --checkpoint "$TMP/k$k" >"$TMP/killed.out" 2>&1
        exit $?
    ) 2>/dev/null
    status=$?
    check "killed after step $at (exit status $status)" test "$status" -eq 137
    want=$(((at - 1) / STEPS))
    check "  ... the checkpoint holds the $want epochs finished before it" \
        test "$(held "$TMP/k$k")" = "$want $((want * STEPS)) $((want * STEPS)) $((want * STEPS))"
    expect_ok "  ... resumed with --threads 1" "$FOVEA" train "${ARGS[@]}" --epochs $EPOCHS \
        --checkpoint "$TMP/k$k" --resume --threads 1 --save "$TMP/rk$k.safetensors" \
        --history "$TMP/rk$k.csv"
    same_file "  ... to the straight run's weights, byte for byte" \
        "$TMP/ref3.safetensors" "$TMP/rk$k.safetensors"
    same_file "  ... and history" "$TMP/ref3.csv" "$TMP/rk$k.csv"
done

echo "# Ctrl-C: stop after the step, keep the checkpoint, say how to resume"
ck=$TMP/sigint
interrupt_training INT "$ck" "${ARGS[@]}"
# The printed command resumes (for one more epoch than the checkpoint holds, not 100000), and
# ends where a straight run of that many epochs does.
held=$(sed -n 's/.*the checkpoint of epoch \([0-9]*\) is in.*/\1/p' "$TMP/err")
resume_cmd=$(sed -n "s/.*resume with 'fovea \(.*\)'$/\1/p" "$TMP/err" |
    sed "s/--epochs 100000/--epochs $((held + 1))/; s|--save [^ ]*|--save $TMP/resumed.safetensors|")
eval "set -- $resume_cmd"
expect_ok "the printed resume command runs" "$FOVEA" "$@"
check "  ... from the checkpoint" grep -q "^Resuming after epoch $held/" "$TMP/out"
expect_ok "a straight run of $((held + 1)) epochs" "$FOVEA" train "${ARGS[@]}" --epochs $((held + 1)) \
    --save "$TMP/straight.safetensors"
same_file "  ... has the interrupted and resumed run's weights" \
    "$TMP/straight.safetensors" "$TMP/resumed.safetensors"

echo "# another run's checkpoint"
expect_error "--resume with another --batch-size" 1 "another run .*batch_size=16.*batch_size=8" \
    "$FOVEA" train "${ARGS[@]}" --epochs 2 --checkpoint "$TMP/ck1" --resume --batch-size 8
expect_error "--resume with another seed" 1 "another run .*seed=5.*seed=6" \
    "$FOVEA" train "$DATA/quad_gan.fv" --data "$D" --seed 6 --epochs 2 --checkpoint "$TMP/ck1" --resume
expect_error "a classifier's checkpoint resumed as a GAN" 1 "another run" \
    bash -c "'$FOVEA' train '$DATA/quad.fv' --data '$D' --seed 5 --epochs 1 --checkpoint '$TMP/ckc' --verbose 0 >/dev/null &&
             exec '$FOVEA' train $(printf '%q ' "${ARGS[@]}") --epochs 2 --checkpoint '$TMP/ckc' --resume"

finish
