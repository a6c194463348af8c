#!/usr/bin/env bash
# cli_images.sh — folders of images end to end: a small IDX set written as PNG files by
# scripts/datasets.py idx-to-png (what `fovea data get ... --format png` runs) trains to
# bit-identical weights with --file-order name; Keras' "Found" line, class names kept in the
# saved model; predict on image files (top-k by name, CSV rows, .npy); a single tree split by
# --validation-split; CIFAR-10 binary files; and bad input: each one message naming the file.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
SCRIPTS=$DATA/../../scripts

echo "# 200 training and 50 test images of 28x28 in IDX files, then as PNG folders"
mkdir -p "$TMP/idx"
"$PY" - "$TMP/idx" <<'PY'
import random, struct, sys
d = sys.argv[1]
rng = random.Random(5)
def write(name, n):
    labels = [rng.randrange(10) for _ in range(n)]
    pix = bytearray()
    for l in labels:
        for y in range(28):
            for x in range(28):
                v = 40 + 20 * l if (x // 4 + y // 4 + l) % 3 == 0 else 0
                pix.append(min(255, v + rng.randrange(30)))
    open(f"{d}/{name}-images-idx3-ubyte", "wb").write(struct.pack(">BBBBIII", 0, 0, 8, 3, n, 28, 28) + bytes(pix))
    open(f"{d}/{name}-labels-idx1-ubyte", "wb").write(struct.pack(">BBBBI", 0, 0, 8, 1, n) + bytes(labels))
write("train", 200)
write("t10k", 50)
PY
NAMES="T-shirt_top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle_boot"
expect_ok "datasets.py idx-to-png" "$PY" "$SCRIPTS/datasets.py" idx-to-png "$TMP/idx" "$TMP/png" --names "$NAMES"
check "250 PNG files, named by IDX index" test "$(find "$TMP/png" -name '[0-9][0-9][0-9][0-9][0-9].png' | wc -l)" -eq 250
check "class folders by name" test -d "$TMP/png/train/Ankle_boot" -a -d "$TMP/png/test/T-shirt_top"
check "class_names.txt in IDX label order" test "$(tr '\n' , <"$TMP/png/class_names.txt")" = "$NAMES,"
# a class without test images has no test folder: an empty class there, not a shift of labels
missing=$(cd "$TMP/png/train" && for c in *; do [ -d "../test/$c" ] || echo "$c"; done)
check "some class has no test folder (${missing:-none})" test -n "$missing"

cat >"$TMP/m.fv" <<'EOF'
input shape=28,28,1
conv2d filters=4 kernel_size=3 activation=relu
maxpool2d pool_size=2
flatten
dense units=10 activation=softmax
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=accuracy
fit batch_size=32 epochs=1
EOF
expect_ok "train on IDX" "$FOVEA" train "$TMP/m.fv" --data "$TMP/idx" --seed 3 --save "$TMP/idx.safetensors"
cp "$TMP/out" "$TMP/idx.out"
expect_ok "train on the PNG folder in IDX order" "$FOVEA" train "$TMP/m.fv" --data "$TMP/png" \
    --file-order name --class-names "@$TMP/png/class_names.txt" --seed 3 --save "$TMP/png.safetensors"
cp "$TMP/out" "$TMP/png.out"
check "Keras' line: Found 200 files belonging to 10 classes (train)" \
    grep -qx "Found 200 files belonging to 10 classes (train)." "$TMP/png.out"
check "Keras' line for the test folder" grep -qx "Found 50 files belonging to 10 classes (test)." "$TMP/png.out"
check "same test loss and accuracy" test "$(grep ^Test "$TMP/idx.out")" = "$(grep ^Test "$TMP/png.out")"
# Every tensor's bytes compared (the metadata differs: the PNG model holds the class names).
cmp_weights() {
    "$PY" - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}, meta
a, _ = tensors(sys.argv[1])
b, meta = tensors(sys.argv[2])
if a != b:
    sys.exit("tensors differ: " + ", ".join(k for k in a if a.get(k) != b.get(k)))
if json.loads(meta.get("fovea.class_names", "[]"))[9] != "Ankle_boot":
    sys.exit("no class names in the metadata: %r" % meta)
PY
}
check "bit-identical weights from the PNG folder and from IDX (seed 3, 1 epoch)" cmp_weights "$TMP/idx.safetensors" "$TMP/png.safetensors"

echo "# predict on image files"
P=$TMP/png/test
first=$(ls "$P/Trouser" | head -1)
expect_ok "predict two files, top 2" "$FOVEA" predict "$TMP/png.safetensors" --input "$P/Trouser/$first" "$P/Bag" --top-k 2
check "one line per file" test "$(grep -c '' "$TMP/out")" -eq $((1 + $(ls "$P/Bag" | wc -l)))
check "lines are FILE: NAME P, NAME P (class names from the model)" \
    grep -Eq "^$P/Trouser/$first: [A-Za-z_-]+ [01]\.[0-9]{4}, [A-Za-z_-]+ [01]\.[0-9]{4}\$" "$TMP/out"
expect_error "predict --timing on image files is refused" 2 "^fovea predict: --timing times IDX and .npy input" \
    "$FOVEA" predict "$TMP/png.safetensors" --input "$P/Coat" --timing
expect_ok "predict a folder to CSV" "$FOVEA" predict "$TMP/png.safetensors" --input "$P/Coat" --output "$TMP/p.csv"
check "CSV header" test "$(head -1 "$TMP/p.csv")" = "index,file,rank,class,name,probability"
check "CSV: 3 rows per image (default --top-k 3)" test "$(tail -n +2 "$TMP/p.csv" | wc -l)" -eq $((3 * $(ls "$P/Coat" | wc -l)))
check "CSV rows: index,file,rank,class,name,probability" \
    grep -Eq "^0,$P/Coat/[0-9]{5}\.png,1,[0-9],[A-Za-z_-]+,0\.[0-9]+" "$TMP/p.csv"
expect_ok "predict to .npy" "$FOVEA" predict "$TMP/png.safetensors" --input "$P/Coat" --output "$TMP/p.npy"
check ".npy written" test -s "$TMP/p.npy"

echo "# viz features and report take image files and folders"
expect_ok "viz features on one PNG file" "$FOVEA" viz features "$TMP/png.safetensors" --input "$P/Coat/$(ls "$P/Coat" | head -1)" -o "$TMP/f.png"
expect_ok "viz features on a plain folder of PNG files" "$FOVEA" viz features "$TMP/png.safetensors" --input "$P/Coat" --index 1 -o "$TMP/f2.png"
check "feature maps written" test -s "$TMP/f.png"
expect_ok "report on the image folder (its test set, labels by the model's class names)" \
    "$FOVEA" report "$TMP/png.safetensors" --data "$TMP/png" -o "$TMP/r.html"
check "the report names the classes" grep -q "Ankle_boot" "$TMP/r.html"
expect_ok "evaluate on the image folder" "$FOVEA" evaluate "$TMP/png.safetensors" --data "$TMP/png"
# the same images in another order (class order here, name order in training): equal up to the sum's rounding
check "evaluate's loss is train's test loss" awk -v a="$(sed -n 's/^Test loss: //p' "$TMP/png.out")" \
    -v b="$(sed -n 's/^Test loss: //p' "$TMP/out")" 'BEGIN { d = a - b; exit !(b != "" && d < 1e-9 && d > -1e-9) }'
check "evaluate's report names the classes" grep -q "Ankle_boot" "$TMP/out"

echo "# the resize flags"
expect_ok "--interpolation nearest --crop-to-aspect-ratio" "$FOVEA" train "$TMP/m.fv" --data "$TMP/png" \
    --interpolation nearest --crop-to-aspect-ratio --epochs 1 --verbose 0
expect_error "--interpolation with a bad value" 2 "expected bilinear or nearest, got 'cubic'" \
    "$FOVEA" train "$TMP/m.fv" --data "$TMP/png" --interpolation cubic
expect_error "--file-order with a bad value" 2 "expected class or name" \
    "$FOVEA" train "$TMP/m.fv" --data "$TMP/png" --file-order random
expect_error "--class-names naming a folder twice" 1 "'Bag' is named twice" \
    "$FOVEA" train "$TMP/m.fv" --data "$TMP/png" --class-names Bag,Bag

echo "# a single tree split by --validation-split (Keras: shuffled by the seed, then the tail)"
expect_ok "train on one tree with --validation-split 0.25" "$FOVEA" train "$TMP/m.fv" \
    --data "$TMP/png/train" --validation-split 0.25 --seed 1 --verbose 2
check "Keras' lines: Using 150 files for training, 50 for validation" \
    bash -c "grep -qx 'Using 150 files for training.' '$TMP/out' && grep -qx 'Using 50 files for validation.' '$TMP/out'"

echo "# bad input: skipped with a warning naming the file and the reason; --strict makes it an error"
B=$TMP/bad/train
mkdir -p "$B/a" "$B/b" "$B/empty"
cp "$TMP/png/train/Trouser/"*.png "$B/a/"
cp "$TMP/png/train/Bag/"*.png "$B/b/"
: >"$B/a/zero.png"
echo "not an image" >"$B/a/text.jpg"
head -c 100 "$B/b/$(ls "$B/b" | head -1)" >"$B/b/cut.png"
"$PY" -c "
import struct, zlib, sys
ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 2, 0, 0, 0)
c = b'IHDR' + ihdr
sys.stdout.buffer.write(b'\x89PNG\r\n\x1a\n' + struct.pack('>I', 13) + c + struct.pack('>I', zlib.crc32(c)))" >"$B/b/bomb.png"
ln -s .. "$B/a/loop"
cat >"$TMP/tiny.fv" <<'EOF'
input shape=28,28,1
flatten
dense units=3 activation=softmax
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=accuracy
EOF
run "$FOVEA" train "$TMP/tiny.fv" --data "$TMP/bad" --epochs 1 --verbose 2
if [ "$status" -eq 0 ]; then ok "training goes on past bad files"; else fail "training goes on past bad files"; show_output; fi
for why in "zero.png: empty file" "text.jpg: not a PNG, JPEG, BMP or GIF file" "cut.png: bad PNG file" \
    "bomb.png: the PNG header claims 100000 x 100000 pixels, more than the limit" \
    "empty: an empty class folder" "loop: a symbolic link to a folder, not followed"; do
    check "warning: $why" grep -q "^fovea train: warning: .*$why" "$TMP/err"
done
check "Skipped 4, by reason" grep -qx "Skipped 4 of them that could not be decoded: 1 empty, 1 not an image, 1 over the size limit, 1 cut short or corrupt (the warnings name each)." "$TMP/out"
mkdir -p "$TMP/strict/a" "$TMP/strict/b"
cp "$B/a/"*.png "$B/a/text.jpg" "$TMP/strict/a/" 2>/dev/null
cp "$TMP/png/train/Bag/"*.png "$TMP/strict/b/"
rm -f "$TMP/strict/a/zero.png"
expect_error "--strict: a bad file is an error" 1 "strict/a/text.jpg: not a PNG" \
    "$FOVEA" train "$TMP/tiny.fv" --data "$TMP/strict" --strict --verbose 0
run "$FOVEA" train "$TMP/tiny.fv" --data "$TMP/bad" --follow-links --epochs 1 --verbose 2
check "--follow-links: the loop is reported" grep -q "loop: a symbolic link loop" "$TMP/err"
expect_error "a model without an image input" 1 "not an image" \
    "$FOVEA" train "$DATA/tiny_csv.fv" --data "$TMP/png"
expect_error "predict: a file that is not an image" 1 "text.jpg: not a PNG, JPEG, BMP or GIF" \
    "$FOVEA" predict "$TMP/png.safetensors" --input "$B/a/text.jpg"

echo "# CIFAR-10 binary files (written here as the format's page describes them)"
mkdir -p "$TMP/cifar"
"$PY" - "$TMP/cifar" <<'PY'
import sys
d = sys.argv[1]
def rec(label, k):  # label byte, then 1024 R, 1024 G, 1024 B, rows top to bottom
    return bytes([label]) + bytes((k * 31 + c * 90 + (i if label % 2 else 255 - i)) % 256
                                  for c in range(3) for i in range(1024))
for b in range(1, 6):
    open(f"{d}/data_batch_{b}.bin", "wb").write(b"".join(rec((b + k) % 10, k) for k in range(20)))
open(f"{d}/test_batch.bin", "wb").write(b"".join(rec(k % 10, k) for k in range(20)))
open(f"{d}/batches.meta.txt", "w").write("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n")
PY
cat >"$TMP/c.fv" <<'EOF'
input shape=32,32,3
flatten
dense units=10 activation=softmax
compile loss=sparse_categorical_crossentropy optimizer=adam metrics=accuracy
EOF
expect_ok "train on CIFAR-10 binary files" "$FOVEA" train "$TMP/c.fv" --data "$TMP/cifar" --epochs 1 --verbose 2 --save "$TMP/c.safetensors"
check "the CIFAR names are kept in the model" grep -q 'fovea.class_names":"\[\\"airplane\\",\\"automobile' "$TMP/c.safetensors"
head -c 5000 "$TMP/cifar/test_batch.bin" >"$TMP/cifar/cut" && mv "$TMP/cifar/cut" "$TMP/cifar/test_batch.bin"
expect_error "a cut CIFAR file" 1 "test_batch.bin: 5000 bytes is not a whole number of 3073-byte" \
    "$FOVEA" train "$TMP/c.fv" --data "$TMP/cifar" --epochs 1 --verbose 0

finish
