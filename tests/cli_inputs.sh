#!/usr/bin/env bash
# cli_inputs.sh — inputs are checked by meaning, not by count: every route by which data enters a
# model (train, evaluate, predict, viz features, report) refuses a .npy or IDX array of another
# shape than the model's input, naming the file and both shapes; CSV labels that are not class
# indices are named by file, line and column; class names and the label column travel with the
# saved model; model files and tables from other editors (BOM, CRLF, CR) are read; predict prints
# and writes the predicted classes. Small files are made here (python3, standard library only).
set -u
source "$(dirname "$0")/data/cli_lib.bash"

cat >"$TMP/mk.py" <<'EOF'
# mk.py npy PATH f4|u1 DIMS... | vals PATH D1,D2 V1,V2,... | idx PATH DIMS... | nan PATH.safetensors
import json, struct, sys
kind, path, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
values = None
if kind == "vals":  # a float32 .npy of these values
    kind, rest, values = "npy", ["f4"] + rest[0].split(","), [float(v) for v in rest[1].split(",")]
if kind == "nan":  # the first weight of a saved model becomes NaN
    b = bytearray(open(path, "rb").read())
    n = struct.unpack("<Q", b[:8])[0]
    b[8 + n:8 + n + 4] = struct.pack("<f", float("nan"))
    open(path, "wb").write(bytes(b))
    sys.exit(0)
dt = rest.pop(0) if kind == "npy" else "u1"
dims = [int(a) for a in rest]
n = 1
for d in dims:
    n *= d
if values is not None:
    data = struct.pack("<%df" % n, *values)
elif dt == "f4":
    data = struct.pack("<%df" % n, *[(i * 0.37) % 1 for i in range(n)])
else:
    data = bytes((i * 7) % 256 for i in range(n))
if kind == "idx":
    open(path, "wb").write(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data)
else:
    shape = "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % ("<f4" if dt == "f4" else "|u1", shape)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data)
EOF
mk() { python3 "$TMP/mk.py" "$@"; }
absent() { [ ! -e "$1" ]; }
no_epoch_line() { ! grep -q "^Epoch" "$TMP/out"; }

Q=$TMP/q.safetensors
expect_ok "a model of 8x8x1 images to check against" \
    "$FOVEA" train "$DATA/quad.fv" --data "$DATA/quad" --epochs 1 --save "$Q" --verbose 0

echo "# shapes: every route refuses another shape, naming the file and both shapes"
mk npy "$TMP/nchw.npy" f4 3 1 8 8
mk npy "$TMP/flat.npy" f4 3 64
mk npy "$TMP/nhw.npy" f4 3 8 8
mkdir -p "$TMP/small"
mk idx "$TMP/small/train-images-idx3-ubyte" 4 5 5
mk idx "$TMP/small/train-labels-idx1-ubyte" 4
mk idx "$TMP/small/t10k-images-idx3-ubyte" 3 5 5
mk idx "$TMP/small/t10k-labels-idx1-ubyte" 3
mk idx "$TMP/rgb.idx" 3 8 8 3
NCHW="nchw\.npy has shape \(3, 1, 8, 8\); the model.s input is \(None, 8, 8, 1\): channels last"
SMALL="t10k-images-idx3-ubyte has shape \(3, 5, 5\); the model.s input is \(None, 8, 8, 1\)"
expect_error "predict: an NCHW .npy" 1 "$NCHW.*looks channels first" \
    "$FOVEA" predict "$Q" --input "$TMP/nchw.npy" --output "$TMP/p.csv"
expect_error "predict: a flat .npy is not reshaped" 1 "flat\.npy has shape \(3, 64\);.*reshape the array to \(N, 8, 8, 1\)" \
    "$FOVEA" predict "$Q" --input "$TMP/flat.npy"
expect_error "predict: IDX images of another size" 1 "$SMALL" \
    "$FOVEA" predict "$Q" --input "$TMP/small/t10k-images-idx3-ubyte"
expect_error "predict: IDX images with three channels" 1 "rgb\.idx has shape \(3, 8, 8, 3\); the model.s input is \(None, 8, 8, 1\)" \
    "$FOVEA" predict "$Q" --input "$TMP/rgb.idx"
check "no predictions written" absent "$TMP/p.csv"
expect_ok "predict: (N, H, W) for a one-channel input" "$FOVEA" predict "$Q" --input "$TMP/nhw.npy"
expect_error "evaluate: an NCHW .npy" 1 "$NCHW" "$FOVEA" evaluate "$Q" --data "$TMP/nchw.npy"
expect_error "evaluate: IDX images of another size" 1 "$SMALL" "$FOVEA" evaluate "$Q" --data "$TMP/small"
expect_error "viz features: an NCHW .npy" 1 "$NCHW" \
    "$FOVEA" viz features "$Q" --input "$TMP/nchw.npy" --index 0 -o "$TMP/f.png"
expect_error "viz features: IDX images of another size" 1 "$SMALL" \
    "$FOVEA" viz features "$Q" --input "$TMP/small/t10k-images-idx3-ubyte" --index 0 -o "$TMP/f.png"
check "no feature maps written" absent "$TMP/f.png"
expect_error "report: an NCHW .npy" 1 "$NCHW" "$FOVEA" report "$Q" --data "$TMP/nchw.npy" -o "$TMP/r.html"
expect_error "report: IDX images of another size" 1 "$SMALL" "$FOVEA" report "$Q" --data "$TMP/small" -o "$TMP/r.html"
check "no report written" absent "$TMP/r.html"
expect_error "train: IDX images of another size" 1 "train-images-idx3-ubyte has shape \(4, 5, 5\); the model.s input is \(None, 8, 8, 1\)" \
    "$FOVEA" train "$DATA/quad.fv" --data "$TMP/small" --save "$TMP/t.safetensors" --verbose 2
check "train: no 'Epoch 1/N' before the data error" no_epoch_line
mk vals "$TMP/y3.npy" 3 0,1,2
expect_error "train: an NCHW .npy with its labels" 1 "$NCHW" \
    "$FOVEA" train "$DATA/quad.fv" --data "$TMP/nchw.npy" --labels "$TMP/y3.npy" --verbose 2
check "train: no 'Epoch 1/N' before the shape error" no_epoch_line
printf 'a,b,label\n0,1,0\n1,0,1\n' >"$TMP/rows.csv"
expect_error "train: a table for an image model" 1 "rows\.csv has shape \(2, 2\); the model.s input is \(None, 8, 8, 1\)" \
    "$FOVEA" train "$DATA/quad.fv" --data "$TMP/rows.csv" --verbose 2
check "no model written" absent "$TMP/t.safetensors"

echo "# labels: a label that is not a class index is named by file, line and column"
M3=$TMP/mlp3.fv
printf 'input shape=2\ndense units=3 activation=softmax\ncompile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.05\nfit batch_size=4 epochs=2\n' >"$M3"
printf 'x,y,label\n0,1,0\n1,0,1\n1,1,2\n0,0,1\n' >"$TMP/good.csv"
expect_ok "a table of class indices trains" "$FOVEA" train "$M3" --data "$TMP/good.csv" --save "$TMP/m3.safetensors" --verbose 0
for bad in -1 1.5 3; do
    printf 'x,y,label\n0,1,0\n1,0,1\n1,1,%s\n0,0,2\n' "$bad" >"$TMP/data.csv"
    want="data\.csv:4: column 'label': $bad is not a class index in \[0, 3\)"
    expect_error "train: label $bad" 1 "$want" "$FOVEA" train "$M3" --data "$TMP/data.csv" --verbose 2
    check "train: label $bad: no 'Epoch' line first" no_epoch_line
    expect_error "evaluate: label $bad" 1 "$want" "$FOVEA" evaluate "$TMP/m3.safetensors" --data "$TMP/data.csv"
done
printf 'x,y,label\n0,1,0\n1,0,1\n1,1,two\n0,0,2\n' >"$TMP/data.csv"
expect_error "train: a word among numbers" 1 "data\.csv:4: column 'label': 'two' is not a number" \
    "$FOVEA" train "$M3" --data "$TMP/data.csv"
expect_error "evaluate: a word among numbers" 1 "data\.csv:4: column 'label': 'two' is not a number" \
    "$FOVEA" evaluate "$TMP/m3.safetensors" --data "$TMP/data.csv"
mkdir -p "$TMP/big"
mk idx "$TMP/big/t10k-images-idx3-ubyte" 3 8 8
printf '\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x07' >"$TMP/big/t10k-labels-idx1-ubyte"
expect_error "evaluate: an IDX label too large" 1 "t10k-labels-idx1-ubyte: sample 2 \(counting from 0\): 7 is not a class index in \[0, 4\)" \
    "$FOVEA" evaluate "$Q" --data "$TMP/big"

echo "# labels as arrays: (N,) and (N, 1) class indices, (N, K) one-hot rows as wide as the output"
mk npy "$TMP/x4.npy" f4 4 2
mk vals "$TMP/y4.npy" 4 0,2,1,2
mk vals "$TMP/y41.npy" 4,1 0,2,1,2
mk vals "$TMP/y43.npy" 4,3 1,0,0,0,0,1,0,1,0,0,0,1
mk vals "$TMP/ybad.npy" 4 0,2,-1,2
expect_ok "train --data X.npy --labels Y.npy (N,)" "$FOVEA" train "$M3" --data "$TMP/x4.npy" --labels "$TMP/y4.npy" --save "$TMP/xy.safetensors" --verbose 0
expect_ok "evaluate with (N, 1) labels" "$FOVEA" evaluate "$TMP/xy.safetensors" --data "$TMP/x4.npy" --labels "$TMP/y41.npy"
expect_ok "evaluate with one-hot (N, 3) labels" "$FOVEA" evaluate "$TMP/xy.safetensors" --data "$TMP/x4.npy" --labels "$TMP/y43.npy"
mk npy "$TMP/img4.npy" f4 4 8 8
expect_error "one-hot rows of 3 for a 4-unit output" 1 "y43\.npy has shape \(4, 3\); the model.s output is \(None, 4\): one class index per sample" \
    "$FOVEA" train "$DATA/quad_mlp.fv" --data "$TMP/img4.npy" --labels "$TMP/y43.npy"
expect_error "a label array with -1" 1 "ybad\.npy: sample 2 \(counting from 0\): -1 is not a class index in \[0, 3\)" \
    "$FOVEA" evaluate "$TMP/xy.safetensors" --data "$TMP/x4.npy" --labels "$TMP/ybad.npy"
expect_error "--labels with a CSV" 2 "--labels applies to a \.npy array" \
    "$FOVEA" evaluate "$TMP/xy.safetensors" --data "$TMP/good.csv" --labels "$TMP/y4.npy"

echo "# class names and the label column are saved with the model"
printf 'species,a,b\nvirginica,1,1\nsetosa,0,0\nversicolor,1,0\nsetosa,0,1\nvirginica,1,1\nversicolor,1,0\n' >"$TMP/iris.csv"
expect_ok "train on named classes in the first column" \
    "$FOVEA" train "$M3" --data "$TMP/iris.csv" --label-column species --save "$TMP/iris.safetensors" --verbose 0
check "the saved model holds the names and the column" python3 -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
meta = json.loads(b[8:8 + n])['__metadata__']
assert json.loads(meta['fovea.class_names']) == ['setosa', 'versicolor', 'virginica'], meta
assert meta['fovea.label_column'] == 'species', meta" "$TMP/iris.safetensors"
expect_ok "evaluate uses the column without --label-column" "$FOVEA" evaluate "$TMP/iris.safetensors" --data "$TMP/iris.csv"
check "evaluate names the classes" grep -q "versicolor" "$TMP/out"
printf 'species,a,b\nvirginica,1,1\nsetosa,0,0\n' >"$TMP/iris2.csv"
expect_ok "a test table with two of the three names" "$FOVEA" evaluate "$TMP/iris.safetensors" --data "$TMP/iris2.csv" --json
check "its labels are the model's classes" python3 -c "
import json, sys; d = json.load(open(sys.argv[1])); assert d['classes'] == ['setosa', 'versicolor', 'virginica'], d" "$TMP/out"
printf 'species,a,b\nvirginia,1,1\n' >"$TMP/iris3.csv"
expect_error "a name the model does not know" 1 "iris3\.csv:2: column 'species': 'virginia' is not one of the model's classes \(setosa, versicolor, virginica\)" \
    "$FOVEA" evaluate "$TMP/iris.safetensors" --data "$TMP/iris3.csv"

echo "# predict: a table, a summary, a CSV of the top classes"
mk npy "$TMP/two.npy" f4 2 2
expect_ok "predict a few samples" "$FOVEA" predict "$TMP/iris.safetensors" --input "$TMP/two.npy"
check "a table with the class names" grep -Eq "^1 +[0-2] +(setosa|versicolor|virginica) +0\.[0-9]{4}$" "$TMP/out"
expect_ok "predict --top-k 2 --output P.csv" "$FOVEA" predict "$TMP/iris.safetensors" --input "$TMP/two.npy" --top-k 2 --output "$TMP/p.csv"
check "the CSV's header" test "$(head -1 "$TMP/p.csv")" = "index,file,rank,class,name,probability"
check "one row per sample and rank" test "$(wc -l <"$TMP/p.csv")" -eq 5
check "rows: index, empty file, rank, class, name, probability" grep -Eq "^1,,2,[0-2],(setosa|versicolor|virginica),0\.[0-9]+" "$TMP/p.csv"
check "ranks in order of probability" python3 -c "
import csv, sys; r = list(csv.DictReader(open(sys.argv[1])))
assert float(r[0]['probability']) >= float(r[1]['probability']), r" "$TMP/p.csv"
expect_ok "predict many samples" "$FOVEA" predict "$Q" --input "$DATA/quad/t10k-images-idx3-ubyte" --output "$TMP/q.csv"
check "a summary of the predicted classes" grep -q "^80 samples; predicted class counts:" "$TMP/out"
check "and the file written" grep -q "^Wrote $TMP/q.csv" "$TMP/out"
check "80 rows" test "$(wc -l <"$TMP/q.csv")" -eq 81
expect_ok "predict --output P.npy still writes the raw outputs" "$FOVEA" predict "$Q" --input "$TMP/nhw.npy" --output "$TMP/p.npy"
check "a .npy of (3, 4) float32" python3 -c "
import sys; b = open(sys.argv[1], 'rb').read(); assert b[:6] == b'\x93NUMPY' and b\"'shape': (3, 4)\" in b, b[:80]" "$TMP/p.npy"

echo "# evaluate --metrics loss"
expect_ok "evaluate --metrics loss,accuracy --json" "$FOVEA" evaluate "$TMP/m3.safetensors" --data "$TMP/good.csv" --metrics loss,accuracy --json
check "the JSON has loss and accuracy" python3 -c "
import json, sys; d = json.load(open(sys.argv[1])); assert d['loss'] > 0 and 0 <= d['accuracy'] <= 1 and 'crossentropy' not in d, d" "$TMP/out"
expect_ok "evaluate --metrics loss" "$FOVEA" evaluate "$TMP/m3.safetensors" --data "$TMP/good.csv" --metrics loss
check "the text has a loss line" grep -Eq "^loss +[0-9]" "$TMP/out"
cp "$TMP/m3.safetensors" "$TMP/nan.safetensors"
mk nan "$TMP/nan.safetensors"
expect_error "NaN outputs: one 'metrics:' prefix" 1 "^fovea evaluate: metrics: [^:]*nan" \
    "$FOVEA" evaluate "$TMP/nan.safetensors" --data "$TMP/good.csv"

echo "# text files from other editors"
for form in bom crlf cr bomcr; do
    case $form in
    bom) { printf '\xef\xbb\xbf'; cat "$M3"; } >"$TMP/$form.fv" ;;
    crlf) sed 's/$/\r/' "$M3" >"$TMP/$form.fv" ;;
    cr) tr '\n' '\r' <"$M3" >"$TMP/$form.fv" ;;
    bomcr) { printf '\xef\xbb\xbf'; tr '\n' '\r' <"$M3"; } >"$TMP/$form.fv" ;;
    esac
    expect_ok "a model file ($form) trains" "$FOVEA" train "$TMP/$form.fv" --data "$TMP/good.csv" --verbose 0
    { printf '\xef\xbb\xbf'; tr '\n' '\r' <"$TMP/good.csv"; } >"$TMP/$form.csv"
    [ $form = crlf ] && sed 's/$/\r/' "$TMP/good.csv" >"$TMP/$form.csv"
    expect_ok "a table ($form) trains" "$FOVEA" train "$M3" --data "$TMP/$form.csv" --verbose 0
done
{ printf 'input shape=2\r'; printf 'dense units=3 activation=softmx\r'; } >"$TMP/typo.fv"
expect_error "an error in a CR-only file names its line" 1 "typo\.fv:2: " "$FOVEA" summary "$TMP/typo.fv"
printf 'input shape=2\ndense units=3 name=caf\xe9\n' >"$TMP/latin1.fv"
expect_error "Latin-1 text is refused with line and byte" 1 "latin1\.fv:2: byte 36 of the file: 0xe9 is not valid UTF-8" \
    "$FOVEA" summary "$TMP/latin1.fv"

echo "# the progress line"
expect_ok "train --verbose 1 with no metrics" "$FOVEA" train "$M3" --data "$TMP/good.csv" --verbose 1
check "no line ends with a space" bash -c "! tr '\r' '\n' <'$TMP/out' | grep -q ' \$'"

echo "# report takes a .npy array with its labels"
mk npy "$TMP/rx.npy" f4 6 8 8 1
mk vals "$TMP/ry.npy" 6 0,1,2,3,0,1
expect_ok "report --data X.npy --labels Y.npy" "$FOVEA" report "$Q" --data "$TMP/rx.npy" --labels "$TMP/ry.npy" -o "$TMP/rx.html"
check "  wrote the page" test -s "$TMP/rx.html"

finish
