#!/usr/bin/env bash
# make_corpus.sh — regenerates the seed corpora of the fuzz targets (tests/fuzz/corpus/NAME/):
# small valid and near-valid files of each format, written with Python's standard library, plus
# model weights and histories written by fovea itself. The output is committed; this runs only
# when the seeds are to change. Deterministic given the same fovea binary.
# usage: bash tests/fuzz/make_corpus.sh PATH_TO_FOVEA
# Regression inputs (files named regress-*) are kept: they are added by hand, one per finding.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash $0 PATH_TO_FOVEA" >&2; exit 2; }
fovea=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=$here/corpus
for d in idx npy safetensors csv history model image onnx coco yolo; do
    mkdir -p "$corpus/$d"
    find "$corpus/$d" -type f ! -name 'regress-*' -delete
done

# ---- written by fovea: weights of two small models, and histories with and without validation
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FOVEA_THREADS=1
"$fovea" train "$root/tests/data/tiny_csv.fv" --data "$root/tests/data/tiny.csv" --epochs 2 \
    --save "$corpus/safetensors/perceptron.safetensors" --history "$corpus/history/fovea-train.csv" \
    --verbose 0 >/dev/null
"$fovea" train "$root/tests/data/tiny_csv.fv" --data "$root/tests/data/tiny.csv" --epochs 3 \
    --validation-split 0.2 --history "$corpus/history/fovea-val.csv" --verbose 0 >/dev/null
cat >"$tmp/small.fv" <<'EOF'
input shape=4,4,1
conv2d filters=2 kernel_size=2 activation=relu
maxpool2d pool_size=2
flatten
dense units=3 activation=softmax
compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1 momentum=0.9
EOF
python3 - "$tmp/small.idx" "$tmp/small-labels.idx" <<'PY'
import struct, sys
n = 6
open(sys.argv[1], "wb").write(struct.pack(">BBBBIII", 0, 0, 8, 3, n, 4, 4) + bytes((i * 37) % 256 for i in range(n * 16)))
open(sys.argv[2], "wb").write(struct.pack(">BBBBI", 0, 0, 8, 1, n) + bytes(i % 3 for i in range(n)))
PY
mkdir -p "$tmp/small"
cp "$tmp/small.idx" "$tmp/small/train-images-idx3-ubyte"
cp "$tmp/small-labels.idx" "$tmp/small/train-labels-idx1-ubyte"
"$fovea" train "$tmp/small.fv" --data "$tmp/small" --epochs 1 --batch-size 3 \
    --save "$corpus/safetensors/small-cnn.safetensors" --verbose 0 >/dev/null
cp "$corpus/safetensors/perceptron.safetensors" "$corpus/safetensors/small-cnn.safetensors" \
    "$corpus/model/"

# ---- ONNX: the small CNN exported in both layouts, and a PyTorch export (when fovea has ONNX)
if "$fovea" export "$corpus/safetensors/small-cnn.safetensors" -o "$corpus/onnx/small-cnn-nhwc.onnx" 2>/dev/null; then
    "$fovea" export "$corpus/safetensors/small-cnn.safetensors" -o "$corpus/onnx/small-cnn-nchw.onnx" --nchw --opset 17
    "$fovea" export "$corpus/safetensors/perceptron.safetensors" -o "$corpus/onnx/perceptron.onnx" --batch 4
    /usr/bin/python3 "$root/tests/data/onnx_torch.py" "$root/tests/data/quad" "$tmp" 13 >/dev/null
    cp "$tmp/torch.onnx" "$corpus/onnx/torch-cnn.onnx"
    /usr/bin/python3 "$root/tests/data/onnx_torch.py" "$root/tests/data/quad" "$tmp" 13 view >/dev/null
    cp "$tmp/torch.onnx" "$corpus/onnx/torch-cnn-view.onnx"
    # PyTorch's ConvTranspose, Resize, Slice, separable pair, ZeroPad2d chain, Clip and Reshape
    /usr/bin/python3 "$root/tests/data/onnx_torch_ops.py" "$tmp" 13 >"$tmp/ops"
    while read -r m; do cp "$tmp/$m.onnx" "$corpus/onnx/torch-ops-$m.onnx"; done <"$tmp/ops"
    # fovea's own padding, cropping, depthwise, separable, transposed, upsampling, reshape
    "$fovea" train "$root/tests/data/onnx_more_kinds.fv" --data "$root/tests/data/quad" \
        --epochs 1 --save "$tmp/more.safetensors" --verbose 0 >/dev/null
    "$fovea" export "$tmp/more.safetensors" -o "$corpus/onnx/more-kinds-nchw.onnx" --nchw
fi

# ---- model files: the examples, the test models, and every layer kind and argument
for f in "$root"/examples/*.fv "$root"/tests/data/*.fv; do
    cp "$f" "$corpus/model/$(basename "$f")"
done
cp "$tmp/small.fv" "$corpus/model/small-cnn.fv"

python3 - "$corpus" "$root" <<'PY'
import gzip, json, os, struct, sys

corpus, root = sys.argv[1], sys.argv[2]

def put(sub, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(corpus, sub, name), "wb") as f:
        f.write(data)

def gz(data):
    return gzip.compress(data, mtime=0)

# ---- IDX: magic 0 0 8 rank, big-endian u32 dims, bytes
def idx(dims, data=None, typ=8):
    n = 1
    for d in dims:
        n *= d
    if data is None:
        data = bytes((i * 7) % 256 for i in range(n))
    return struct.pack(">BBBB", 0, 0, typ, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + data

labels = idx([10], bytes(i % 4 for i in range(10)))
images = idx([4, 8, 8])
put("idx", "labels-rank1", labels)
put("idx", "images-rank3", images)
put("idx", "images-rank4", idx([2, 3, 3, 2]))
put("idx", "images-rank3.gz", gz(images))
put("idx", "labels-rank1.gz", gz(labels))
put("idx", "two-members.gz", gz(images[:20]) + gz(images[20:]))
put("idx", "no-images", idx([0, 8, 8]))
put("idx", "quad-labels", open(os.path.join(root, "tests/data/quad/t10k-labels-idx1-ubyte"), "rb").read())
put("idx", "near-float32-type", idx([2, 2], bytes(16), typ=0x0D))
put("idx", "near-rank5", struct.pack(">BBBB", 0, 0, 8, 5) + struct.pack(">IIIII", 1, 1, 1, 1, 1) + b"x")
put("idx", "near-short-data", images[:-3])
put("idx", "near-trailing", images + b"\0\0")
put("idx", "near-huge-claim", struct.pack(">BBBBIII", 0, 0, 8, 3, 1000000, 1000000, 1000000) + bytes(8))
put("idx", "near-truncated.gz", gz(images)[:-6])

# ---- .npy: magic, version, header length, dict padded to 64 bytes, data
def npy(descr, shape, data, version=(1, 0), fortran=False, extra=""):
    sh = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}" % (descr, fortran, sh, extra)
    pre = 10 if version[0] == 1 else 12
    pad = (64 - (pre + len(d) + 1) % 64) % 64
    h = (d + " " * pad + "\n").encode("utf-8" if version[0] == 3 else "latin1")
    ln = struct.pack("<H", len(h)) if version[0] == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes(version) + ln + h + data

def f32(n):
    return b"".join(struct.pack("<f", i * 0.25 - 1) for i in range(n))

put("npy", "f4-2x3.npy", npy("<f4", (2, 3), f32(6)))
put("npy", "u1-3x2x2.npy", npy("|u1", (3, 2, 2), bytes(range(12))))
put("npy", "f4-v2-rank1.npy", npy("<f4", (4,), f32(4), version=(2, 0)))
put("npy", "f4-v3-4d.npy", npy("<f4", (2, 2, 2, 1), f32(8), version=(3, 0)))
put("npy", "f4-scalar.npy", npy("<f4", (), f32(1)))
put("npy", "f4-empty.npy", npy("<f4", (0, 4), b""))
put("npy", "f4-2x3.npy.gz", gz(npy("<f4", (2, 3), f32(6))))
py2 = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }"
put("npy", "python2-long.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(py2) + 1) + py2 + b"\n" + f32(4))
put("npy", "quad_x.npy", open(os.path.join(root, "tests/data/quad_x.npy"), "rb").read())
put("npy", "near-fortran.npy", npy("<f4", (2, 2), f32(4), fortran=True))
put("npy", "near-big-endian.npy", npy(">f4", (2, 2), f32(4)))
put("npy", "near-f8.npy", npy("<f8", (2,), bytes(16)))
put("npy", "near-structured.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 40) + b"{'descr': [('a', '<f4')], 'shape': ()}\n")
put("npy", "near-huge-claim.npy", npy("<f4", (1000000, 1000000, 1000000), f32(2)))
put("npy", "near-short.npy", npy("<f4", (3, 3), f32(8)))

# ---- safetensors: u64 header length, JSON, data
def st(tensors, meta=None, raw=None):
    h, data = {}, b""
    if meta is not None:
        h["__metadata__"] = meta
    for name, dtype, shape, blob in tensors:
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    j = (raw if raw is not None else json.dumps(h, separators=(",", ":"))).encode()
    j += b" " * ((8 - len(j) % 8) % 8)
    return struct.pack("<Q", len(j)) + j + data

put("safetensors", "empty.safetensors", st([]))
put("safetensors", "meta-only.safetensors", st([], {"format": "pt"}))
put("safetensors", "f32-two.safetensors", st([("dense.kernel", "F32", [2, 3], f32(6)), ("dense.bias", "F32", [3], f32(3))], {"format": "pt"}))
put("safetensors", "mixed-dtypes.safetensors", st([
    ("a", "F16", [2, 2], bytes(8)), ("b", "BF16", [3], bytes(6)), ("c", "I64", [1], bytes(8)),
    ("d", "U8", [5], bytes(5)), ("e", "BOOL", [2], b"\x00\x01"), ("f", "F4", [2, 2], bytes(2)),
    ("g", "F6_E2M3", [4], bytes(3)), ("h", "F64", [], bytes(8)), ("i", "C64", [1], bytes(8))]))
put("safetensors", "scalar-and-empty.safetensors", st([("s", "F32", [], f32(1)), ("z", "F32", [0, 3], b"")]))
put("safetensors", "escaped-names.safetensors", st([("w\u00e9ight\\\"q", "F32", [1], f32(1))], {"k\nx": "v\u2603"}))
put("safetensors", "near-overlap.safetensors", st([], raw='{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') + f32(1))
put("safetensors", "near-gap.safetensors", st([], raw='{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}') + f32(2))
put("safetensors", "near-duplicate.safetensors", st([], raw='{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}') + f32(2))
put("safetensors", "near-shape-mismatch.safetensors", st([], raw='{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}') + f32(3))
put("safetensors", "near-huge-shape.safetensors", st([], raw='{"a":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,4]}}') + f32(1))
put("safetensors", "near-header-too-long.safetensors", struct.pack("<Q", 1 << 40) + b"{}      ")
put("safetensors", "near-metadata-number.safetensors", st([], raw='{"__metadata__":{"format":1}}'))

# ---- dataset CSV
tiny = open(os.path.join(root, "tests/data/tiny.csv"), "rb").read()
put("csv", "tiny.csv", tiny)
put("csv", "tiny.csv.gz", gz(tiny))
put("csv", "quoted-crlf.csv", '\ufeff"a","b ""2""",label\r\n1,2.5e-3,0\r\n\r\n-3,"4",1\r\n')
put("csv", "blank-and-spaces.csv", "x , y\n\n  1.5 , 2\n\t\n3,  -4e2 \n")
put("csv", "multiline-header.csv", '"first\ncolumn",second\n1,2\n')
put("csv", "regression.csv", "f1,f2,target\n0.1,0.2,3.5\n0.3,0.4,-1.25\n")
put("csv", "header-only.csv", "a,b,c\n")
put("csv", "lone-cr.csv", "a,b\r1,2\r3,4\r")
put("csv", "near-text-cell.csv", "a,b\n1,two\n")
put("csv", "near-ragged.csv", "a,b,c\n1,2\n")
put("csv", "near-unclosed-quote.csv", 'a,b\n"1,2\n')
put("csv", "near-nan.csv", "a,b\nnan,1\ninf,2\n1e999,3\n")

# ---- history CSV: Keras' CSVLogger layout and variations
put("history", "keras.csv", "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.25,0.5,1.3\n1,0.75,0.8,0.7,0.9\n")
put("history", "keras-crlf-nan.csv", "epoch,loss,lr\r\n0,nan,0.001\r\n1,inf,-inf\r\n2,1e-300,0.0005\r\n")
put("history", "quoted-names.csv", '"loss, total","say ""hi""",epoch\n1,2,0\n')
put("history", "epoch-last.csv", "loss,epoch\n0.5,0\n0.25,1\n")
put("history", "header-only.csv", "epoch,loss\n")
put("history", "blank-lines.csv", "\nepoch,loss\n\n0, 0.5 \n\n")
put("history", "near-no-epoch.csv", "loss,acc\n1,2\n")
put("history", "near-text-cell.csv", "epoch,loss\n0,abc\n")
put("history", "near-repeated.csv", "epoch,loss,loss\n0,1,2\n")
put("history", "near-unterminated.csv", 'epoch,"loss\n0,1\n')

# ---- detection: COCO's instances and results JSON, YOLO's label files and data.yaml
put("coco", "instances.json", '{"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}, {"id": 2, "file_name": "b.png", "width": 32, "height": 32}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 5, 20, 30], "area": 600, "iscrowd": 0}, {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 32, 32], "area": 1024, "iscrowd": 1}, {"id": 3, "image_id": 1, "category_id": 2, "bbox": [10.5, 0, 3, 4]}], "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}')
put("coco", "results.json", '[{"image_id": 1, "category_id": 1, "bbox": [4, 5, 20, 30], "score": 0.9, "file_name": "a.png"}, {"image_id": 2, "category_id": 2, "bbox": [1, 1, 3, 3], "score": 0.5}]')
put("coco", "empty.json", '{"images": [], "annotations": [], "categories": []}')
put("coco", "near-unknown-category.json", '{"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}], "annotations": [{"id": 1, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}], "categories": [{"id": 1, "name": "x"}]}')
put("coco", "near-outside.json", '{"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 5, 1]}], "categories": [{"id": 1, "name": "x"}]}')
put("yolo", "labels.txt", "0 0.5 0.5 0.25 0.5\n4 0.1 0.9 0.2 0.2\r\n\n")
put("yolo", "data-list.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: [person, 'car', \"bus\"]\n")
put("yolo", "data-map.yaml", "nc: 2\nnames:\n  0: person\n  1: car\n")
put("yolo", "near-outside.txt", "0 0.95 0.5 0.2 0.2\n")
put("yolo", "near-class.txt", "5 0.5 0.5 0.2 0.2\n")

# ---- model text: every kind, argument and directive, and a compile argument string after a NUL
put("model", "every-layer.fv", """# every layer kind and argument
input shape=12,12,3
conv2d filters=4 kernel_size=3,2 strides=1 padding=same dilation_rate=2 activation=tanh use_bias=false name=c1
maxpool2d pool_size=2 strides=1 padding=same
conv2d filters=6 kernel_size=2 strides=2 activation=leaky_relu
maxout units=3
relu
leaky_relu negative_slope=0.2
elu alpha=0.5
sigmoid
tanh
dropout rate=0.1
flatten
dense units=7 activation=elu use_bias=true
activation activation=linear
dense units=2 activation=sigmoid name=out-put_2
softmax
compile loss=binary_crossentropy optimizer=adam learning_rate=0.0003 beta_1=0.8 beta_2=0.99 epsilon=1e-8 metrics=accuracy
fit batch_size=4 epochs=2 shuffle=false validation_split=0.25 seed=123
""")
put("model", "callbacks.fv", "input shape=3\ndense units=2 activation=softmax\ncompile loss=sparse_categorical_crossentropy metrics=accuracy\nfit epochs=9 early_stopping=val_loss patience=3 min_delta=0.001 restore_best_weights=true reduce_lr_on_plateau=val_accuracy lr_factor=0.5 lr_patience=2 lr_min_delta=0.0001 lr_cooldown=1 min_lr=1e-6\n")
put("model", "sgd-nesterov.fv", "input shape=3\ndense units=1\ncompile loss=mse optimizer=sgd learning_rate=0.1 momentum=0.5 nesterov=true\nfit seed=0\n")
put("model", "compile-args.fv", b"input shape=2\ndense units=2 activation=softmax\n\0loss=categorical_crossentropy optimizer=sgd momentum=0.9 metrics=acc")
put("model", "mae-comment.fv", "input input_shape=5 # a comment\n\n  dense   units=3\tactivation=relu  \ndense units=1\ncompile loss=mean_absolute_error\n")
put("model", "near-unknown-kind.fv", "input shape=4\nlstm units=3\n")
put("model", "near-shape.fv", "input shape=2,2,1\nconv2d filters=1 kernel_size=3\n")
put("model", "near-no-input.fv", "dense units=3\n")
put("model", "near-big.fv", "input shape=16777216\ndense units=2147483647\ndense units=2147483647\n")
# pooling, resizing, padding and reshaping kinds, and relu's arguments (issue 8)
put("model", "shape-layers.fv", """# pooling, resizing, padding, reshaping
input shape=9,8,2
zero_padding2d padding=1,0,2,1
conv2d filters=4 kernel_size=3 padding=same
relu max_value=6 negative_slope=0.1 threshold=0.5
average_pooling2d pool_size=3 strides=2 padding=same
up_sampling2d size=2 interpolation=bilinear
cropping2d cropping=1,2
reshape target_shape=-1,4
reshape target_shape=8,8,4
upsampling2d size=1,2 interpolation=nearest
zero_padding2d
cropping2d cropping=1
relu max_value=None
flatten
dense units=3 activation=softmax
compile loss=categorical_crossentropy
""")
put("model", "near-reshape.fv", "input shape=4,5,2\nreshape target_shape=3,-1\n")
put("model", "near-padding.fv", "input shape=4,4,1\nzero_padding2d padding=1,2,3\ncropping2d cropping=9\n")
PY
# ---- images: small real files of every decoder and variant, written by Pillow (python3-pil),
# each followed by one byte that fuzz_image.c reads as its size/channels/interpolation knob
bash "$here/make_image_corpus.sh" "$corpus/image"

echo "make_corpus: $(find "$corpus" -type f | wc -l) files in $corpus"
