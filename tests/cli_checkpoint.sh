#!/usr/bin/env bash
# cli_checkpoint.sh — `fovea train --checkpoint DIR [--resume]` end to end: training killed with
# SIGKILL at chosen steps (before the first checkpoint, on either side of one, mid-run, at the
# last step, and a resumed run killed again) leaves the checkpoint of the last finished epoch,
# which loads, and resuming ends with the very bytes (weights file and history) of a run that
# never stopped; Ctrl-C and SIGTERM save and say how to resume; a NaN loss names the epoch and
# step and writes nothing; an impossible batch size is a clear message; --save-best, early
# stopping and the option checks.
# The kills are deterministic: FOVEA_TEST_KILL_AFTER_STEP=k (read by cli/train.c, for tests
# only) makes fovea raise SIGKILL on itself right after its k-th step.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
D=$DATA/quad
EPOCHS=20
STEPS=15 # per epoch: 240 training images in batches of 16
# A model with every stateful part: weights, Adam's slots and step count, and a dropout layer
# whose masks follow (seed, step), so that a resumed run must pick up the dropout stream too.
M=$TMP/quad_dropout.fv
sed '/^maxpool2d/a dropout rate=0.3' "$DATA/quad.fv" >"$M"
check "the model has a dropout layer" grep -q '^dropout rate=0.3$' "$M"
# The same run every time: 20 epochs of a small CNN on 240 8x8 images, validated on 80.
ARGS=("$M" --data "$D" --epochs $EPOCHS --seed 11 --verbose 2)

# The epochs and the dropout steps held by the checkpoint in folder $1 ("0 0" when there is
# none), read from its metadata.
held() {
    local f=$1/checkpoint.safetensors
    if [ ! -e "$f" ]; then
        echo "0 0"
        return
    fi
    local e d
    e=$(head -c 65536 "$f" | grep -ao 'epochs_done\\":[0-9]*' | head -1 | grep -o '[0-9]*$')
    d=$(head -c 65536 "$f" | grep -ao 'dropout_step\\":[0-9]*' | head -1 | grep -o '[0-9]*$')
    echo "${e:-?} ${d:-?}"
}

echo "# the uninterrupted reference run"
expect_ok "train $EPOCHS epochs" "$FOVEA" train "${ARGS[@]}" --save "$TMP/ref.safetensors" --history "$TMP/ref.csv"
expect_ok "train $EPOCHS epochs with --checkpoint" "$FOVEA" train "${ARGS[@]}" --checkpoint "$TMP/ck0" \
    --save "$TMP/ck0.safetensors" --history "$TMP/ck0.csv"
same_file "checkpointing changes no weight" "$TMP/ref.safetensors" "$TMP/ck0.safetensors"
same_file "checkpointing changes no history value" "$TMP/ref.csv" "$TMP/ck0.csv"
check "the checkpoint is DIR/checkpoint.safetensors" test -s "$TMP/ck0/checkpoint.safetensors"
check "  ... holding $EPOCHS epochs and $((EPOCHS * STEPS)) dropout steps" test "$(held "$TMP/ck0")" = "$EPOCHS $((EPOCHS * STEPS))"
check "no temporary file left in DIR" test "$(ls "$TMP/ck0" | grep -c tmp)" -eq 0
expect_ok "the checkpoint loads as a model (evaluate)" "$FOVEA" evaluate "$TMP/ck0/checkpoint.safetensors" --data "$D"
expect_ok "resuming a finished run" "$FOVEA" train "${ARGS[@]}" --checkpoint "$TMP/ck0" --resume \
    --save "$TMP/ck0b.safetensors" --history "$TMP/ck0b.csv"
check "  ... says there is nothing left to train" grep -q "holds $EPOCHS epochs already" "$TMP/out"
same_file "  ... and saves the same model" "$TMP/ref.safetensors" "$TMP/ck0b.safetensors"
same_file "  ... and the same history" "$TMP/ref.csv" "$TMP/ck0b.csv"

# kill_at DIR K [--resume]: a run killed by itself right after its K-th step. It must die of
# SIGKILL (exit status 137: the kill landed, the run did not finish), and leave the checkpoint of
# the last epoch that finished before that step: (epochs held before + K - 1) / STEPS epochs, the
# last step of an epoch coming before that epoch's checkpoint.
kill_at() {
    local ck=$1 k=$2 before want got
    shift 2
    before=$(held "$ck")
    before=${before%% *}
    want=$(((before * STEPS + k - 1) / STEPS))
    # (in a subshell that does not exec, so that bash's "Killed" notice goes to /dev/null)
    (
        FOVEA_TEST_KILL_AFTER_STEP=$k "$FOVEA" train "${ARGS[@]}" --checkpoint "$ck" "$@" >"$TMP/killed.out" 2>&1
        exit $?
    ) 2>/dev/null
    status=$?
    check "killed after step $((before * STEPS + k)) of $((EPOCHS * STEPS)) (exit status $status)" test "$status" -eq 137
    got=$(held "$ck")
    if [ "$got" = "$want $((want * STEPS))" ]; then
        ok "  ... between the checkpoints of epochs $want and $((want + 1)): it holds $want epochs, $((want * STEPS)) dropout steps"
    else
        fail "  ... between the checkpoints of epochs $want and $((want + 1))" \
            "the checkpoint holds (epochs, dropout steps) $got, expected $want $((want * STEPS))"
    fi
    if [ "$want" -gt 0 ]; then
        run "$FOVEA" summary "$ck/checkpoint.safetensors"
        check "  ... and the checkpoint loads" test "$status" -eq 0
    fi
}

echo "# kill -9 at chosen steps, then resume"
# Each case: the step of the first kill, then of a second kill of the resumed run (0: none).
# Step 1: before any checkpoint; 15 and 16: either side of the first; 158: mid-run; 300: the
# last step, before the last checkpoint; 40 then 23: a resumed run killed mid-epoch; 16 then
# 15: a resumed run killed at the last step before its first new checkpoint.
k=0
for kills in "1 0" "15 0" "16 0" "158 0" "300 0" "40 23" "16 15"; do
    k=$((k + 1))
    read -r first second <<<"$kills"
    ck=$TMP/ck$k
    kill_at "$ck" "$first"
    if [ "$second" -gt 0 ]; then kill_at "$ck" "$second" --resume; fi
    # results do not depend on the thread count: every other resume runs on one thread
    threads=$((1 + k % 2))
    expect_ok "kill $k: --resume --threads $threads" "$FOVEA" train "${ARGS[@]}" --checkpoint "$ck" --resume \
        --threads $threads --save "$TMP/r$k.safetensors" --history "$TMP/r$k.csv"
    from=$(grep -Eo '^(Resuming after epoch [0-9]+|No checkpoint)' "$TMP/out" | head -1)
    same_file "kill $k: resumed (${from:-?}) to the reference's weights, byte for byte" \
        "$TMP/ref.safetensors" "$TMP/r$k.safetensors"
    same_file "kill $k: and to its history" "$TMP/ref.csv" "$TMP/r$k.csv"
    check "kill $k: no temporary file left in DIR" test "$(ls "$ck" | grep -c tmp)" -eq 0
done

echo "# Ctrl-C and SIGTERM: stop after the step, keep the checkpoint, say how to resume"
for sig in INT TERM; do
    ck=$TMP/sig$sig
    interrupt_training "$sig" "$ck" "${ARGS[@]}"
done
# The printed command resumes (run for two more epochs than the checkpoint holds, not 100000).
held=$(sed -n 's/.*the checkpoint of epoch \([0-9]*\) is in.*/\1/p' "$TMP/err")
resume_cmd=$(sed -n "s/.*resume with 'fovea \(.*\)'$/\1/p" "$TMP/err" | sed "s/--epochs 100000/--epochs $((held + 2))/")
eval "set -- $resume_cmd"
expect_ok "the printed resume command runs" "$FOVEA" "$@"
check "  ... from the checkpoint" grep -q "^Resuming after epoch" "$TMP/out"

echo "# a loss that becomes NaN"
awk 'BEGIN { print "a,b,c,d,species"; srand(3); for (i = 0; i < 60; i++) { v = i == 45 ? "3e37" : ""; if (v == "") printf "%.3f,%.3f,%.3f,%.3f,%d\n", rand(), rand(), rand(), rand(), i % 3; else printf "%s,%s,%s,%s,%d\n", v, v, v, v, i % 3 } }' >"$TMP/huge.csv"
cat >"$TMP/huge.fv" <<'EOF'
input shape=4
dense units=64 activation=relu
dense units=3 activation=softmax
compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01 metrics=accuracy
fit batch_size=8 epochs=5 shuffle=false
EOF
echo "old" >"$TMP/keep.safetensors"
expect_error "a row of 3e37 makes the loss NaN: the message names epoch and step" 1 \
    "^fovea train: epoch 1, step [0-9]+: the loss is NaN; training stopped and nothing was saved$" \
    "$FOVEA" train "$TMP/huge.fv" --data "$TMP/huge.csv" --checkpoint "$TMP/cknan" --save "$TMP/keep.safetensors"
check "  ... --save is untouched" test "$(cat "$TMP/keep.safetensors")" = "old"
check "  ... no checkpoint was written" test ! -e "$TMP/cknan/checkpoint.safetensors"

echo "# an impossible batch size"
cat >"$TMP/wide.fv" <<'EOF'
input shape=8,8,1
conv2d filters=1048576 kernel_size=1
maxpool2d pool_size=8
flatten
dense units=4 activation=softmax
compile loss=categorical_crossentropy
EOF
expect_error "--batch-size 2000000000 on a model with 256 MB of activations per image" 1 \
    "^fovea train: batch size 240: out of memory: .* need .*, more than this machine's .* of memory \(a smaller --batch-size needs less memory\)$" \
    "$FOVEA" train "$TMP/wide.fv" --data "$D" --batch-size 2000000000 --save "$TMP/keep.safetensors"
check "  ... --save is untouched" test "$(cat "$TMP/keep.safetensors")" = "old"

echo "# --save-best and early stopping"
expect_ok "--save-best" "$FOVEA" train "${ARGS[@]}" --epochs 4 --save-best "$TMP/best.safetensors" --history "$TMP/h.csv"
check "  ... wrote the best model" test -s "$TMP/best.safetensors"
expect_ok "  ... which evaluates" "$FOVEA" evaluate "$TMP/best.safetensors" --data "$D"
expect_error "--monitor of a column the run lacks" 1 "save_best monitors 'val_auc'" \
    "$FOVEA" train "${ARGS[@]}" --save-best "$TMP/best.safetensors" --monitor val_auc
sed 's/^fit .*/fit batch_size=16 epochs=40 early_stopping=val_accuracy patience=1 restore_best_weights=true/' "$M" >"$TMP/es.fv"
expect_ok "early_stopping on the fit line" "$FOVEA" train "$TMP/es.fv" --data "$D" --seed 11 --verbose 2
check "  ... prints Keras' 'Epoch N: early stopping'" grep -Eq '^Epoch [0-9]+: early stopping$' "$TMP/out"
check "  ... and restores the best epoch's weights" grep -Eq '^Restoring model weights from the end of the best epoch: [0-9]+\.$' "$TMP/out"

echo "# AdamW's two slots (m and v) resume too"
sed 's/optimizer=adam /optimizer=adamw /' "$M" >"$TMP/adamw.fv"
AW=("$TMP/adamw.fv" --data "$D" --seed 11 --verbose 0)
expect_ok "adamw: 2 epochs straight" "$FOVEA" train "${AW[@]}" --epochs 2 --save "$TMP/aw_ref.safetensors"
expect_ok "adamw: 1 epoch with a checkpoint" "$FOVEA" train "${AW[@]}" --epochs 1 --checkpoint "$TMP/ckaw"
expect_ok "adamw: resumed to 2 epochs" "$FOVEA" train "${AW[@]}" --epochs 2 --checkpoint "$TMP/ckaw" \
    --resume --save "$TMP/aw_res.safetensors"
same_file "adamw: the resumed run's weights, byte for byte" "$TMP/aw_ref.safetensors" "$TMP/aw_res.safetensors"

echo "# option checks"
expect_error "--resume without --checkpoint" 2 "--resume needs --checkpoint" "$FOVEA" train "${ARGS[@]}" --resume
expect_error "--monitor without --save-best" 2 "--monitor" "$FOVEA" train "${ARGS[@]}" --monitor val_loss
expect_error "--checkpoint naming a file" 1 "--checkpoint: .* is not a folder" \
    "$FOVEA" train "${ARGS[@]}" --checkpoint "$TMP/keep.safetensors"
expect_error "--resume with another --batch-size" 1 "another run .*batch_size=16.*batch_size=8" \
    "$FOVEA" train "${ARGS[@]}" --checkpoint "$TMP/ck0" --resume --batch-size 8
expect_error "--resume with a damaged checkpoint" 1 "--resume: .*checkpoint.safetensors" \
    bash -c "head -c 1000 '$TMP/ck0/checkpoint.safetensors' >'$TMP/ck0/c' && mv '$TMP/ck0/c' '$TMP/ck0/checkpoint.safetensors' && exec '$FOVEA' train $(printf '%q ' "${ARGS[@]}") --checkpoint '$TMP/ck0' --resume"

finish
