#!/usr/bin/env bash
# cli_errors.sh — bad input of every kind given to `fovea train/evaluate/predict` ends with one
# message on stderr naming the file, line, tensor or flag, a non-zero exit and no crash; an
# existing --save target is left byte-identical by every failed or interrupted run, and an
# unwritable --save is refused before training starts.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
M=$DATA/quad.fv
D=$DATA/quad
KEEP=$TMP/keep.safetensors
printf 'precious bytes of an earlier run\n' >"$KEEP"
cp "$KEEP" "$TMP/keep.orig"

kept() {
    same_file "  ... and the existing --save target is byte-identical" "$KEEP" "$TMP/keep.orig"
}

echo "# bad model files"
printf 'input shape=8,8,1\nconv2d filters=4 kernel_size=3 activation=relu\nmaxpol2d pool_size=2\nflatten\ndense units=4 activation=softmax\ncompile loss=categorical_crossentropy optimizer=adam\n' >"$TMP/typo.fv"
expect_error "a typo in a layer name names file and line" 1 "typo\.fv.*3.*maxpol2d" \
    "$FOVEA" train "$TMP/typo.fv" --data "$D" --save "$KEEP"
kept
printf 'input shape=8,8,1\nflatten\ndense units=4 activation=softmax\n' >"$TMP/nocompile.fv"
expect_error "a model without a compile line" 1 "nocompile\.fv.*compile" \
    "$FOVEA" train "$TMP/nocompile.fv" --data "$D" --save "$KEEP"
kept
printf 'input shape=8,8,1\nflatten\ndense units=4 activation=softmax\ncompile loss=categorical_crosentropy optimizer=adam\n' >"$TMP/loss.fv"
expect_error "an unknown loss name" 1 "categorical_crosentropy" "$FOVEA" train "$TMP/loss.fv" --data "$D"
expect_error "a missing model file" 1 "nosuch\.fv" "$FOVEA" train "$TMP/nosuch.fv" --data "$D" --save "$KEEP"
kept
printf 'input shape=28,28,1\nflatten\ndense units=4 activation=softmax\ncompile loss=categorical_crossentropy optimizer=adam\n' >"$TMP/big.fv"
expect_error "data of another shape than the model's input: both shapes named" 1 "train-images-idx3-ubyte.* has shape \(.*, 8, 8\); the model.s input is \(None, 28, 28, 1\)" \
    "$FOVEA" train "$TMP/big.fv" --data "$D" --save "$KEEP"
kept

echo "# bad data"
expect_error "a missing data folder" 1 "no-such-folder" "$FOVEA" train "$M" --data "$TMP/no-such-folder" --save "$KEEP"
kept
mkdir "$TMP/empty"
expect_error "a folder without IDX files" 1 "empty" "$FOVEA" train "$M" --data "$TMP/empty" --save "$KEEP"
kept
mkdir "$TMP/cut"
cp "$D"/* "$TMP/cut/"
head -c 1000 "$D/t10k-images-idx3-ubyte" >"$TMP/cut/t10k-images-idx3-ubyte"
expect_error "a truncated IDX file is named" 1 "t10k-images-idx3-ubyte" \
    "$FOVEA" train "$M" --data "$TMP/cut" --save "$KEEP"
kept
mkdir "$TMP/cutgz"
cp "$D"/* "$TMP/cutgz/"
head -c 3000 "$D/train-images-idx3-ubyte.gz" >"$TMP/cutgz/train-images-idx3-ubyte.gz"
expect_error "a truncated gzipped IDX file is named" 1 "train-images-idx3-ubyte" \
    "$FOVEA" train "$M" --data "$TMP/cutgz" --save "$KEEP"
kept
mkdir "$TMP/fewlabels"
cp "$D"/* "$TMP/fewlabels/"
printf '\0\0\10\1\0\0\0\12\0\1\2\3\0\1\2\3\0\1' >"$TMP/fewlabels/train-labels-idx1-ubyte"
expect_error "10 labels for 240 images" 1 "label" "$FOVEA" train "$M" --data "$TMP/fewlabels" --save "$KEEP"
kept
printf 'a,b,c,d,species\n1,2,3,4,0\n1,2,x,4,1\n' >"$TMP/bad.csv"
expect_error "a CSV cell that is not a number: file and line" 1 "bad\.csv.*3" \
    "$FOVEA" train "$DATA/tiny_csv.fv" --data "$TMP/bad.csv" --save "$KEEP"
kept
expect_error "an unknown --label-column" 1 "kind" \
    "$FOVEA" train "$DATA/tiny_csv.fv" --data "$DATA/tiny.csv" --label-column kind
expect_error "--label-column with an IDX folder" 2 "label-column" \
    "$FOVEA" train "$M" --data "$D" --label-column species
expect_error "a .npy array as training data (no labels)" 1 "quad_x\.npy.*label" \
    "$FOVEA" train "$M" --data "$DATA/quad_x.npy"
expect_error "data of an unknown kind" 1 "tiny_csv\.fv" "$FOVEA" train "$M" --data "$DATA/tiny_csv.fv"

echo "# weights of another model"
expect_ok "train another model (an MLP) for its weights" "$FOVEA" train "$DATA/quad_mlp.fv" --data "$D" --save "$TMP/mlp.safetensors"
expect_error "--weights of another model names a tensor" 1 "weights.*(conv2d|dense)" \
    "$FOVEA" train "$M" --data "$D" --weights "$TMP/mlp.safetensors" --save "$KEEP"
kept
expect_error "--weights that do not exist" 1 "--weights.*nosuch" \
    "$FOVEA" train "$M" --data "$D" --weights "$TMP/nosuch.safetensors" --save "$KEEP"
kept
head -c 200 "$TMP/mlp.safetensors" >"$TMP/cut.safetensors"
expect_error "a truncated weights file" 1 "cut\.safetensors" \
    "$FOVEA" train "$M" --data "$D" --weights "$TMP/cut.safetensors" --save "$KEEP"
kept
expect_error "evaluate a truncated saved model" 1 "cut\.safetensors" "$FOVEA" evaluate "$TMP/cut.safetensors" --data "$D"
expect_error "evaluate a model file without weights" 1 "no trained weights" "$FOVEA" evaluate "$M" --data "$D"
expect_error "evaluate on a folder without a test set" 1 "empty.*t10k-images" "$FOVEA" evaluate "$TMP/mlp.safetensors" --data "$TMP/empty"

echo "# predict's input"
# A 2-image IDX file of 4x4 pixels: not the model's 8x8x1.
printf '\0\0\10\3\0\0\0\2\0\0\0\4\0\0\0\4' >"$TMP/small.idx"
head -c 32 /dev/zero >>"$TMP/small.idx"
expect_error "input of the wrong shape names both shapes" 1 "small.idx has shape \(.*, 4, 4\); the model.s input is \(None, 8, 8, 1\)" \
    "$FOVEA" predict "$TMP/mlp.safetensors" --input "$TMP/small.idx" --output "$TMP/p.npy"
head -c 100 "$DATA/quad_x.npy" >"$TMP/cut.npy"
expect_error "a truncated .npy input is named" 1 "cut\.npy" \
    "$FOVEA" predict "$TMP/mlp.safetensors" --input "$TMP/cut.npy" --output "$TMP/p.npy"
expect_error "a missing input" 1 "nosuch\.idx" \
    "$FOVEA" predict "$TMP/mlp.safetensors" --input "$TMP/nosuch.idx" --output "$TMP/p.npy"
check "no output written by failed predictions" test ! -e "$TMP/p.npy"
expect_error "an output in a missing folder" 1 "--output.*no-dir" \
    "$FOVEA" predict "$TMP/mlp.safetensors" --input "$DATA/quad_x.npy" --output "$TMP/no-dir/p.npy"

echo "# outputs that cannot be written are refused before training"
expect_error "--save into a missing folder" 1 "--save.*no-dir" \
    "$FOVEA" train "$M" --data "$D" --save "$TMP/no-dir/m.safetensors"
check "  ... before any epoch ran" bash -c "! grep -q Epoch '$TMP/out'"
expect_error "--save under a file" 1 "--save.*keep\.safetensors' is not a folder" "$FOVEA" train "$M" --data "$D" --save "$KEEP/m.safetensors"
expect_error "--save naming a folder" 1 "--save.*folder" "$FOVEA" train "$M" --data "$D" --save "$TMP"
expect_error "--history into a missing folder" 1 "--history.*no-dir" \
    "$FOVEA" train "$M" --data "$D" --history "$TMP/no-dir/h.csv"
# As an ordinary user (nobody, when the test runs as root): root may write anywhere.
if can_drop_root; then
    mkdir "$TMP/ro" && chmod 555 "$TMP/ro" && chmod a+rx "$TMP"
    expect_error "--save into a read-only folder" 1 "--save.*ro" \
        unprivileged "$FOVEA" train "$M" --data "$D" --save "$TMP/ro/m.safetensors"
    check "  ... and nothing written there" test -z "$(ls -A "$TMP/ro")"
    chmod 755 "$TMP/ro" && chmod 700 "$TMP"
else
    skip "--save into a read-only folder: running as root, and setpriv cannot drop to uid 65534"
fi
check "the probe leaves no temporary files" test "$(ls -A "$TMP" | grep -c fovea-write-check)" -eq 0

echo "# an interrupted run saves nothing"
"$FOVEA" train "$M" --data "$D" --epochs 100000 --save "$KEEP" >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do
    grep -q "^15/15" "$TMP/out" && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
status=$?
if [ "$status" -eq 130 ] && tail -1 "$TMP/err" | grep -q "^fovea train: interrupted in epoch"; then
    ok "Ctrl-C stops training with exit 130 (128 + SIGINT): $(tail -1 "$TMP/err")"
else
    fail "Ctrl-C stops training with exit 130 and says so" "exit status $status"
    show_output
fi
kept

finish
