#!/usr/bin/env bash
# cli_train.sh — `fovea train`, `evaluate` and `predict` end to end on small synthetic data:
# Keras' per-epoch lines, accuracy above chance, the history CSV, save -> evaluate giving the
# loss printed by training, predict's .npy, CSV tables, validation split, --weights, and the
# same result twice from the same seed.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
M=$DATA/quad.fv
D=$DATA/quad
Q=$TMP/quad.safetensors

echo "# train a small CNN 3 epochs on 240 synthetic 8x8 images of 4 classes (not a terminal)"
expect_ok "train --save --history" "$FOVEA" train "$M" --data "$D" --epochs 3 --seed 7 \
    --save "$Q" --history "$TMP/h.csv"
cp "$TMP/out" "$TMP/train.out"
for e in 1 2 3; do
    check "'Epoch $e/3' line" grep -qx "Epoch $e/3" "$TMP/train.out"
done
line_re='^15/15 - [0-9]+s - [0-9]+(s|ms|us)/step - loss: [0-9.e+-]+ - accuracy: [0-9.e+-]+ - val_loss: [0-9.e+-]+ - val_accuracy: [0-9.e+-]+$'
n=$(grep -Ec "$line_re" "$TMP/train.out")
if [ "$n" -eq 3 ]; then ok "three Keras verbose=2 epoch lines (15/15 - Ns - Nms/step - loss - accuracy - val_loss - val_accuracy)"; else
    fail "three Keras verbose=2 epoch lines" "found $n lines matching $line_re in:" "$(cat "$TMP/train.out")"
fi
check "no carriage returns when not on a terminal" bash -c "! grep -q $'\r' '$TMP/train.out'"
acc=$(metric accuracy "$TMP/train.out")
val_acc=$(metric val_accuracy "$TMP/train.out")
if float_ge "$acc" 0.5 && float_ge "$val_acc" 0.5; then ok "accuracy above chance (0.25): last epoch accuracy $acc, val_accuracy $val_acc"; else
    fail "accuracy above chance" "accuracy $acc, val_accuracy $val_acc, expected >= 0.5"
fi
check "'Test loss: X' line" grep -Eq '^Test loss: [0-9.e+-]+$' "$TMP/train.out"
check "'Test accuracy: Y' line" grep -Eq '^Test accuracy: [0-9.e+-]+$' "$TMP/train.out"
test_acc=$(sed -n 's/^Test accuracy: //p' "$TMP/train.out")
check "test accuracy $test_acc above chance" float_ge "$test_acc" 0.5
check "--save wrote a safetensors file" test -s "$Q"
check "--history has the Keras columns" test "$(head -1 "$TMP/h.csv")" = "epoch,accuracy,loss,val_accuracy,val_loss"
check "--history has one row per epoch" test "$(tail -n +2 "$TMP/h.csv" | grep -c .)" -eq 3
check "--history rows start with epochs 0, 1, 2" test "$(tail -n +2 "$TMP/h.csv" | cut -d, -f1 | tr '\n' ' ')" = "0 1 2 "
hist_acc=$(tail -1 "$TMP/h.csv" | cut -d, -f2)
check "history accuracy $hist_acc matches the last epoch line ($acc)" \
    awk -v a="$hist_acc" -v b="$acc" 'BEGIN { d = a - b; exit !(d < 0.00006 && d > -0.00006) }'

cp "$M" "$TMP/mine.fv"
expect_error "--save onto the model file being trained is refused" 2 \
    "^fovea train: --save '.*mine.fv' is the model file being trained" \
    "$FOVEA" train "$TMP/mine.fv" --data "$D" --epochs 1 --save "$TMP/../$(basename "$TMP")/mine.fv"
same_file "the model file is left as it was" "$M" "$TMP/mine.fv"

echo "# evaluate the saved model"
expect_ok "evaluate the saved model" "$FOVEA" evaluate "$Q" --data "$D"
check "evaluate prints the test loss training printed" \
    test "$(grep '^Test loss:' "$TMP/out")" = "$(grep '^Test loss:' "$TMP/train.out")"
check "evaluate prints the test accuracy training printed" \
    test "$(grep '^Test accuracy:' "$TMP/out")" = "$(grep '^Test accuracy:' "$TMP/train.out")"
expect_ok "summary of the saved model" "$FOVEA" summary "$Q"
cp "$TMP/out" "$TMP/sum_saved"
expect_ok "summary of the model file" "$FOVEA" summary "$M"
same_file "the saved model's summary is the model file's" "$TMP/out" "$TMP/sum_saved"

echo "# predict"
expect_ok "predict from an IDX image file" "$FOVEA" predict "$Q" --input "$D/t10k-images-idx3-ubyte" --output "$TMP/p.npy"
# 80 samples x 4 outputs x 4 bytes after a header padded to a multiple of 64 bytes.
size=$(stat -c %s "$TMP/p.npy")
hlen=$(od -A n -t u2 -j 8 -N 2 "$TMP/p.npy" | tr -d ' ')
check "the .npy magic and version 1.0" test "$(head -c 8 "$TMP/p.npy" | od -A n -t x1 | tr -d ' ')" = "934e554d50590100"
check "the header ends on a multiple of 64 bytes (10 + $hlen)" test $(((10 + hlen) % 64)) -eq 0
check "the header says '<f4', C order, shape (80, 4)" \
    grep -q "{'descr': '<f4', 'fortran_order': False, 'shape': (80, 4), }" "$TMP/p.npy"
check "the file is header + 80 x 4 float32 ($size bytes)" test "$size" -eq $((10 + hlen + 80 * 4 * 4))
od -A n -t f4 -v -j $((10 + hlen)) "$TMP/p.npy" | awk '{ for (i = 1; i <= NF; i++) print $i }' >"$TMP/p.txt"
check "every row of softmax outputs sums to 1" awk '{ s += $1 } NR % 4 == 0 { if (s < 0.999 || s > 1.001) bad = 1; s = 0 } END { exit bad || NR != 320 }' "$TMP/p.txt"
gzip -c "$D/t10k-images-idx3-ubyte" >"$TMP/t10k.gz"
expect_ok "predict from a gzipped IDX file" "$FOVEA" predict "$Q" --input "$TMP/t10k.gz" --output "$TMP/pgz.npy"
same_file "gzipped and plain IDX give the same predictions" "$TMP/p.npy" "$TMP/pgz.npy"
expect_ok "predict from a float32 .npy array (10, 8, 8, 1)" "$FOVEA" predict "$Q" --input "$DATA/quad_x.npy" --output "$TMP/px.npy"
check "the .npy input gives shape (10, 4)" grep -q "'shape': (10, 4), }" "$TMP/px.npy"
hx=$(od -A n -t u2 -j 8 -N 2 "$TMP/px.npy" | tr -d ' ')
od -A n -t f4 -v -j $((10 + hx)) "$TMP/px.npy" | awk '{ for (i = 1; i <= NF; i++) print $i }' >"$TMP/px.txt"
check "the .npy input's predictions match the first 10 IDX images'" \
    awk 'NR == FNR { a[FNR] = $1; next } FNR <= 40 { d = a[FNR] - $1; if (d > 1e-5 || d < -1e-5) bad = 1; n++ } END { exit bad || n != 40 }' \
    "$TMP/px.txt" "$TMP/p.txt"
expect_ok "predict --timing" "$FOVEA" predict "$Q" --input "$D/t10k-images-idx3-ubyte" --output "$TMP/pt.npy" --timing
check "--timing prints the model's load, the input's read and the prediction's time" grep -Eq \
    '^Timing: model loaded in [0-9.]+ ms, input read in [0-9.]+ ms, 80 samples predicted in [0-9.]+ ms \([0-9.]+ ms/sample, batch [0-9]+\)$' "$TMP/out"
same_file "--timing leaves the predictions as they were" "$TMP/p.npy" "$TMP/pt.npy"
echo "old" >"$TMP/keep.npy"
expect_error "predict with a wrong --input leaves --output alone" 1 "--input" \
    "$FOVEA" predict "$Q" --input "$DATA/tiny.csv" --output "$TMP/keep.npy"
check "the existing output file is untouched" test "$(cat "$TMP/keep.npy")" = "old"
check "no temporary files left beside the output" test "$(ls "$TMP" | grep -c 'tmp')" -eq 0

echo "# the same seed gives the same model"
expect_ok "train again with the same seed" "$FOVEA" train "$M" --data "$D" --epochs 3 --seed 7 --save "$TMP/again.safetensors"
same_file "identical weights file" "$Q" "$TMP/again.safetensors"
check "identical test loss" test "$(grep '^Test loss:' "$TMP/out")" = "$(grep '^Test loss:' "$TMP/train.out")"

echo "# --weights, overrides and validation split"
expect_ok "--weights continues from saved weights (1 epoch)" "$FOVEA" train "$M" --data "$D" --epochs 1 --weights "$Q"
acc1=$(metric accuracy "$TMP/out")
check "starting from trained weights, the first epoch's accuracy ($acc1) is already high" float_ge "$acc1" 0.95
expect_ok "a saved model as MODEL continues training" "$FOVEA" train "$Q" --data "$D" --epochs 1
expect_ok "--epochs 0 saves the initial weights" "$FOVEA" train "$M" --data "$D" --epochs 0 \
    --seed 5 --save "$TMP/init_a.safetensors"
expect_ok "the same seed, the same initial weights" "$FOVEA" train "$M" --data "$D" --epochs 0 \
    --seed 5 --save "$TMP/init_b.safetensors"
same_file "identical initial weights files" "$TMP/init_a.safetensors" "$TMP/init_b.safetensors"
expect_ok "--validation-split 0.25 --batch-size 20 --no-shuffle --optimizer sgd --learning-rate 0.1" \
    "$FOVEA" train "$M" --data "$D" --epochs 2 --validation-split 0.25 --batch-size 20 --no-shuffle \
    --optimizer sgd --learning-rate 0.1
# 240 x 0.75 = 180 training samples in batches of 20: 9 steps.
check "9 steps per epoch on the first 180 samples" test "$(grep -Ec '^9/9 - .* - val_loss: ' "$TMP/out")" -eq 2
expect_ok "--no-validation" "$FOVEA" train "$M" --data "$D" --epochs 2 --no-validation \
    --history "$TMP/hnv.csv"
check "--no-validation: epoch lines without val_ figures" \
    test "$(grep -Ec '^15/15 - [0-9]+s - [0-9]+(s|ms|us)/step - loss: [0-9.e+-]+ - accuracy: [0-9.e+-]+$' "$TMP/out")" -eq 2
check "--no-validation: the test figures still" grep -q '^Test accuracy: ' "$TMP/out"
check "--no-validation: the history has no val_ columns" test "$(head -1 "$TMP/hnv.csv")" = "epoch,accuracy,loss"
expect_error "--no-validation with --validation-split" 2 "contradict each other" \
    "$FOVEA" train "$M" --data "$D" --epochs 1 --no-validation --validation-split 0.2
expect_error "--no-validation with --save-best (val_loss)" 1 "there is no validation data" \
    "$FOVEA" train "$M" --data "$D" --epochs 1 --no-validation --save-best "$TMP/best.safetensors"
check "--save-best without validation wrote nothing" test ! -e "$TMP/best.safetensors"
expect_ok "--verbose 0 prints no progress" "$FOVEA" train "$M" --data "$D" --epochs 1 --verbose 0
check "--verbose 0: no 'Epoch' lines" bash -c "! grep -q '^Epoch' '$TMP/out'"
check "--verbose 0: the test figures still" grep -q '^Test accuracy: ' "$TMP/out"
expect_ok "--threads 1" "$FOVEA" train "$M" --data "$D" --epochs 1 --threads 1 --verbose 0

echo "# a CSV table (the seed's perceptron: 4 features, 3 classes)"
expect_ok "train on tiny.csv" "$FOVEA" train "$DATA/tiny_csv.fv" --data "$DATA/tiny.csv" --save "$TMP/csv.safetensors" --history "$TMP/hcsv.csv"
check "20 epoch lines of 12 steps (90 rows, batch 8), no validation" \
    test "$(grep -Ec '^12/12 - [0-9]+s - [0-9]+(s|ms|us)/step - loss: [0-9.e+-]+ - accuracy: [0-9.e+-]+$' "$TMP/out")" -eq 20
check "no test figures without a test set" bash -c "! grep -q '^Test' '$TMP/out'"
csv_acc=$(metric accuracy "$TMP/out")
check "CSV accuracy $csv_acc above chance (0.33)" float_ge "$csv_acc" 0.6
check "the history of a run without validation: epoch,accuracy,loss" test "$(head -1 "$TMP/hcsv.csv")" = "epoch,accuracy,loss"
expect_ok "--label-column species" "$FOVEA" train "$DATA/tiny_csv.fv" --data "$DATA/tiny.csv" --label-column species --epochs 2
expect_ok "evaluate on a CSV table" "$FOVEA" evaluate "$TMP/csv.safetensors" --data "$DATA/tiny.csv"
check "evaluate on CSV prints test loss and accuracy" grep -q '^Test accuracy: ' "$TMP/out"
expect_ok "--validation-split on a CSV table" "$FOVEA" train "$DATA/tiny_csv.fv" --data "$DATA/tiny.csv" --epochs 2 --validation-split 0.2
check "validation figures from the split" grep -q ' - val_accuracy: ' "$TMP/out"

echo "# --precision bf16: dense and conv2d multiply in bf16 where the CPU can"
expect_error "--precision names no precision" 2 "^fovea train: --precision: expected fp32 or bf16, got 'fp16'" \
    "$FOVEA" train "$M" --data "$D" --precision fp16
if grep -qw avx512_bf16 /proc/cpuinfo; then
    expect_ok "train --precision bf16" "$FOVEA" train "$M" --data "$D" --epochs 3 --seed 7 \
        --precision bf16 --save "$TMP/bf16.safetensors"
    bf_acc=$(sed -n 's/^Test accuracy: //p' "$TMP/out")
    check "bf16 test accuracy $bf_acc above chance" float_ge "$bf_acc" 0.5
    expect_ok "evaluate the bf16 model (its compile line says precision=bf16)" \
        "$FOVEA" evaluate "$TMP/bf16.safetensors" --data "$D"
    echo "# predict and evaluate --precision: bf16 inference of the fp32 model, fp32 of the bf16 one"
    expect_ok "predict --precision fp32 (the fp32 model's own)" "$FOVEA" predict "$Q" \
        --input "$D/t10k-images-idx3-ubyte" --output "$TMP/p32.npy" --precision fp32
    same_file "--precision fp32 gives the fp32 model's predictions" "$TMP/p.npy" "$TMP/p32.npy"
    expect_ok "predict --precision bf16 on the fp32 model" "$FOVEA" predict "$Q" \
        --input "$D/t10k-images-idx3-ubyte" --output "$TMP/p16.csv" --precision bf16
    expect_ok "predict the fp32 model's classes as CSV" "$FOVEA" predict "$Q" \
        --input "$D/t10k-images-idx3-ubyte" --output "$TMP/p32.csv"
    # index,file,rank,class,name,probability: bf16 products change the probabilities a little
    # (8 significant bits) and the classes rarely.
    differ=$(paste -d, "$TMP/p32.csv" "$TMP/p16.csv" | awk -F, 'NR > 1 && $6 != $12' | wc -l)
    flips=$(paste -d, "$TMP/p32.csv" "$TMP/p16.csv" | awk -F, 'NR > 1 && $4 != $10' | wc -l)
    check "bf16 changed some of the 80 probabilities ($differ)" test "$differ" -gt 0
    check "bf16 kept the class of at least 76 of 80 samples ($flips changed)" test "$flips" -le 4
    maxd=$(paste -d, "$TMP/p32.csv" "$TMP/p16.csv" | awk -F, 'NR > 1 { d = $6 - $12; if (d < 0) d = -d; if (d > m) m = d } END { print m + 0 }')
    check "bf16 probabilities within 0.05 of fp32's (largest difference $maxd)" \
        awk -v d="$maxd" 'BEGIN { exit !(d < 0.05) }'
    expect_ok "evaluate the bf16 model in fp32" "$FOVEA" evaluate "$TMP/bf16.safetensors" --data "$D" \
        --precision fp32
    cp "$TMP/out" "$TMP/eval32.out"
    expect_ok "evaluate the bf16 model as saved" "$FOVEA" evaluate "$TMP/bf16.safetensors" --data "$D"
    check "evaluate --precision fp32 changed the bf16 model's test loss" \
        test "$(grep '^Test loss:' "$TMP/out")" != "$(grep '^Test loss:' "$TMP/eval32.out")"
else
    expect_error "--precision bf16 without bf16 instructions" 1 "neither AVX512_BF16 nor AMX-BF16" \
        "$FOVEA" train "$M" --data "$D" --epochs 1 --precision bf16
    expect_error "predict --precision bf16 without bf16 instructions" 1 \
        "neither AVX512_BF16 nor AMX-BF16" "$FOVEA" predict "$Q" \
        --input "$D/t10k-images-idx3-ubyte" --output "$TMP/p16.npy" --precision bf16
    check "the refused predict wrote no output" test ! -e "$TMP/p16.npy"
fi
expect_error "predict --precision names no precision" 2 \
    "^fovea predict: --precision: expected fp32 or bf16, got 'fp16'" \
    "$FOVEA" predict "$Q" --input "$D/t10k-images-idx3-ubyte" --precision fp16
expect_error "evaluate --precision names no precision" 2 \
    "^fovea evaluate: --precision: expected fp32 or bf16, got 'int8'" \
    "$FOVEA" evaluate "$Q" --data "$D" --precision int8

echo "# --conv-algorithm winograd: the 3x3 stride-1 conv2d layers of 16 channels by Winograd F(2x2,3x3)"
W=$TMP/wide.fv
cat >"$W" <<'EOF'
input shape=8,8,1
conv2d filters=16 kernel_size=3 padding=same activation=relu
conv2d filters=16 kernel_size=3 padding=same activation=relu
maxpool2d pool_size=2
flatten
dense units=4 activation=softmax
compile loss=categorical_crossentropy optimizer=adam learning_rate=0.01 metrics=accuracy
fit batch_size=16 epochs=2
EOF
expect_error "--conv-algorithm names no algorithm" 2 \
    "^fovea train: --conv-algorithm: expected direct or winograd, got 'fast'" \
    "$FOVEA" train "$W" --data "$D" --conv-algorithm fast
expect_ok "train --conv-algorithm winograd" "$FOVEA" train "$W" --data "$D" --seed 7 \
    --conv-algorithm winograd --save "$TMP/wino.safetensors"
wino_acc=$(sed -n 's/^Test accuracy: //p' "$TMP/out")
check "winograd test accuracy $wino_acc above chance" float_ge "$wino_acc" 0.5
expect_ok "the same training, direct" "$FOVEA" train "$W" --data "$D" --seed 7 \
    --save "$TMP/direct.safetensors"
check "the saved model's compile line keeps conv_algorithm=winograd" \
    grep -aq 'conv_algorithm=winograd' "$TMP/wino.safetensors"
check "the direct model's has none" bash -c "! grep -aq conv_algorithm '$TMP/direct.safetensors'"
expect_ok "evaluate the winograd model as saved" "$FOVEA" evaluate "$TMP/wino.safetensors" --data "$D"
cp "$TMP/out" "$TMP/eval_wino.out"
expect_ok "evaluate it --conv-algorithm direct" "$FOVEA" evaluate "$TMP/wino.safetensors" \
    --data "$D" --conv-algorithm direct
check "direct evaluation changes the test loss in its last digits only" awk \
    -v a="$(sed -n 's/^Test loss: //p' "$TMP/out")" -v b="$(sed -n 's/^Test loss: //p' "$TMP/eval_wino.out")" \
    'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d > 0 && d < 1e-4) }'
expect_ok "predict the winograd model" "$FOVEA" predict "$TMP/wino.safetensors" \
    --input "$D/t10k-images-idx3-ubyte" --output "$TMP/pw.csv"
expect_ok "predict it --conv-algorithm direct" "$FOVEA" predict "$TMP/wino.safetensors" \
    --input "$D/t10k-images-idx3-ubyte" --output "$TMP/pd.csv" --conv-algorithm direct
flips=$(paste -d, "$TMP/pw.csv" "$TMP/pd.csv" | awk -F, 'NR > 1 && $4 != $10' | wc -l)
check "direct and winograd give the same classes ($flips changed)" test "$flips" -eq 0
expect_error "predict --conv-algorithm names no algorithm" 2 \
    "^fovea predict: --conv-algorithm: expected direct or winograd, got 'fft'" \
    "$FOVEA" predict "$Q" --input "$D/t10k-images-idx3-ubyte" --conv-algorithm fft
expect_error "evaluate --conv-algorithm names no algorithm" 2 \
    "^fovea evaluate: --conv-algorithm: expected direct or winograd, got 'Winograd'" \
    "$FOVEA" evaluate "$Q" --data "$D" --conv-algorithm Winograd
sed 's/^compile .*/& conv_algorithm=fast/' "$W" >"$TMP/bad_alg.fv"
expect_error "compile conv_algorithm=fast is refused naming the file, line and field" 1 \
    "bad_alg.fv:7.*conv_algorithm=fast: expected direct or winograd" \
    "$FOVEA" train "$TMP/bad_alg.fv" --data "$D" --epochs 1

finish
