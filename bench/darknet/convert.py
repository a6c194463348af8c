#!/usr/bin/python3
"""convert.py — Fashion-MNIST (four IDX files) as darknet's classifier reads data: one image file
per sample (binary PGM, which darknet's OpenCV loader reads), a text file listing the paths, and
the label of each image named in its path. Darknet finds a label by searching the path for each
label string, so the names are tokens that never occur inside one another or elsewhere in the
path: c0x .. c9x.

usage: convert.py DATA_DIR OUT_DIR [--train N] [--test M]
Writes OUT_DIR/{train,test}/NNNNN_cKx.pgm, train.list, test.list, labels.txt and seed.data
(with backup=OUT_DIR/backup). OUT_DIR should be a temporary folder: 70,000 small files.
"""
import argparse
import gzip
import os
import struct


def read_idx(directory, base):
    for name in (base, base + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                raw = f.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            rank = raw[3]
            dims = struct.unpack(">%dI" % rank, raw[4:4 + 4 * rank])
            return dims, raw[4 + 4 * rank:]
    raise SystemExit("convert.py: %s/%s[.gz] not found" % (directory, base))


def write_split(data, images, labels, out, split, limit):
    (n, h, w), pix = read_idx(data, images)
    (_,), lab = read_idx(data, labels)
    n = min(n, limit) if limit else n
    os.makedirs(os.path.join(out, split), exist_ok=True)
    paths = []
    for i in range(n):
        path = os.path.join(out, split, "%05d_c%dx.pgm" % (i, lab[i]))
        with open(path, "wb") as f:
            f.write(b"P5\n%d %d\n255\n" % (w, h))
            f.write(pix[i * h * w:(i + 1) * h * w])
        paths.append(path)
    with open(os.path.join(out, split + ".list"), "w") as f:
        f.write("\n".join(paths) + "\n")
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=0, help="first N training images (0: all)")
    ap.add_argument("--test", type=int, default=0, help="first M test images (0: all)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    if any("c%dx" % k in out for k in range(10)):
        raise SystemExit("convert.py: the output path must not contain a label token (cKx)")
    ntr = write_split(a.data, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", out, "train", a.train)
    nte = write_split(a.data, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", out, "test", a.test)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("".join("c%dx\n" % k for k in range(10)))
    os.makedirs(os.path.join(out, "backup"), exist_ok=True)
    with open(os.path.join(out, "seed.data"), "w") as f:
        f.write("classes=10\ntrain=%s/train.list\nvalid=%s/test.list\nlabels=%s/labels.txt\n"
                "backup=%s/backup\ntop=1\n" % (out, out, out, out))
    print("convert.py: %d training and %d test images in %s" % (ntr, nte, out))


if __name__ == "__main__":
    main()
