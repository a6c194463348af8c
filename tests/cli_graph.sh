#!/usr/bin/env bash
# cli_graph.sh — models that are graphs from the command line: a folder of .npy arrays (Keras'
# dicts: x.npy or one per input by name, one per output by name) trains a model with two inputs
# and two outputs, a loss each, with Keras 3's history columns; evaluate reads the same folder;
# a missing array is named. Small files are made here (python3, standard library only).
set -u
source "$(dirname "$0")/data/cli_lib.bash"

cat >"$TMP/mk.py" <<'EOF'
# mk.py DIR N: x.npy (N, 4), aux.npy (N, 3), cls.npy (N,) class ids, reg.npy (N, 2) targets
import random, struct, sys
d, n = sys.argv[1], int(sys.argv[2])
random.seed(5)
def save(name, rows, width):
    shape = "(%d,)" % n if width == 0 else "(%d, %d)" % (n, width)
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    flat = [v for r in rows for v in (r if isinstance(r, list) else [r])]
    with open("%s/%s.npy" % (d, name), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode())
        f.write(struct.pack("<%df" % len(flat), *flat))
x = [[random.uniform(-1, 1) for _ in range(4)] for _ in range(n)]
aux = [[random.uniform(-1, 1) for _ in range(3)] for _ in range(n)]
save("x", x, 4)
save("aux", aux, 3)
save("cls", [float(r[0] + a[1] > 0) for r, a in zip(x, aux)], 0)
save("reg", [[r[2] - r[3], 0.5 * a[0]] for r, a in zip(x, aux)], 2)
EOF

cat >"$TMP/two.fv" <<'EOF'
input shape=4 name=x
input shape=3 name=aux
dense name=h units=8 activation=tanh inputs=x
concatenate name=both inputs=h,aux
dense name=cls units=2 activation=softmax
dense name=reg units=2 inputs=both
model outputs=cls,reg
compile loss=cls:sparse_categorical_crossentropy,reg:mse loss_weights=cls:1,reg:0.5 optimizer=adam learning_rate=0.02 metrics=cls:accuracy,reg:mae
fit batch_size=16 epochs=8
EOF

echo "# two inputs, two outputs, from a folder of .npy arrays"
mkdir -p "$TMP/d"
python3 "$TMP/mk.py" "$TMP/d" 160
expect_ok "train from the folder" "$FOVEA" train "$TMP/two.fv" --data "$TMP/d" --validation-split 0.25 \
    --history "$TMP/h.csv" --save "$TMP/two.safetensors"
check "Keras 3's columns, sorted" test "$(head -1 "$TMP/h.csv")" = \
    "epoch,cls_accuracy,cls_loss,loss,reg_loss,reg_mae,val_cls_accuracy,val_cls_loss,val_loss,val_reg_loss,val_reg_mae"
check "the progress line names each output's figures" grep -q "cls_loss: .* reg_mae: " "$TMP/out"
check "the loss falls" python3 -c "
import csv
rows = list(csv.DictReader(open('$TMP/h.csv')))
assert float(rows[-1]['loss']) < 0.8 * float(rows[0]['loss']), rows"
expect_ok "evaluate reads the same folder" "$FOVEA" evaluate "$TMP/two.safetensors" --data "$TMP/d"
check "  and prints the loss" grep -q "^Test loss: " "$TMP/out"
check "  and each output's" grep -q "^Test reg_loss: " "$TMP/out"
expect_ok "predict takes the folder too" "$FOVEA" predict "$TMP/two.safetensors" --input "$TMP/d"
check "  and prints the classes' counts" grep -q "160 samples; predicted class counts" "$TMP/out"

echo "# a missing array is named"
mkdir -p "$TMP/e"
cp "$TMP/d/x.npy" "$TMP/d/cls.npy" "$TMP/d/reg.npy" "$TMP/e/"
expect_error "no aux.npy for the second input" 1 "e.* has no aux\.npy for the model's input 'aux'" \
    "$FOVEA" train "$TMP/two.fv" --data "$TMP/e"
cp "$TMP/d/aux.npy" "$TMP/e/"
rm "$TMP/e/reg.npy"
expect_error "no reg.npy for the second output" 1 "e.* has no reg\.npy for the model's output 'reg'" \
    "$FOVEA" train "$TMP/two.fv" --data "$TMP/e"

finish
