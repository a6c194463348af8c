#!/usr/bin/env bash
# make_test_data.sh — regenerates the small synthetic data of the CLI end-to-end tests
# (tests/cli_*.sh) with Python's standard library only; the output is committed, so this runs
# only when the data is to change. Deterministic: the same files every time.
#   quad/      IDX files of 8x8 images in 4 classes: a bright 3x3 square in one quadrant
#              (train 240 gzipped images + plain labels, test 80 plain images + labels)
#   quad_x.npy the first 10 test images as float32 (10, 8, 8, 1), scaled by 1/255
#   tiny.csv   90 rows, 4 features, 3 well-separated classes in column "species" (last)
set -eu
cd "$(dirname "$0")"
python3 - <<'PY'
import gzip, random, struct

rng = random.Random(1234)

def image(cls):
    px = [rng.randint(0, 40) for _ in range(64)]
    qy, qx = divmod(cls, 2)
    oy = qy * 4 + rng.randint(0, 1)
    ox = qx * 4 + rng.randint(0, 1)
    for y in range(oy, oy + 3):
        for x in range(ox, ox + 3):
            px[y * 8 + x] = rng.randint(180, 255)
    return px

def dataset(n):
    labels = [i % 4 for i in range(n)]
    rng.shuffle(labels)
    return [image(c) for c in labels], labels

def idx_images(imgs):
    return struct.pack(">BBBBIII", 0, 0, 8, 3, len(imgs), 8, 8) + bytes(p for im in imgs for p in im)

def idx_labels(labels):
    return struct.pack(">BBBBI", 0, 0, 8, 1, len(labels)) + bytes(labels)

import os
os.makedirs("quad", exist_ok=True)
tx, ty = dataset(240)
vx, vy = dataset(80)
with open("quad/train-images-idx3-ubyte.gz", "wb") as f:
    f.write(gzip.compress(idx_images(tx), mtime=0))
with open("quad/train-labels-idx1-ubyte", "wb") as f:
    f.write(idx_labels(ty))
with open("quad/t10k-images-idx3-ubyte", "wb") as f:
    f.write(idx_images(vx))
with open("quad/t10k-labels-idx1-ubyte", "wb") as f:
    f.write(idx_labels(vy))

# .npy v1.0: magic, version, header length, dict padded to a multiple of 64 bytes, '<f4' data.
n = 10
d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 8, 8, 1), }" % n
pad = (64 - (10 + len(d) + 1) % 64) % 64
header = d + " " * pad + "\n"
with open("quad_x.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
    f.write(b"".join(struct.pack("<f", p / 255.0) for im in vx[:n] for p in im))

centres = [(5.0, 3.4, 1.5, 0.2), (5.9, 2.8, 4.3, 1.3), (6.6, 3.0, 5.6, 2.1)]
rows = []
for i in range(90):
    c = i % 3
    rows.append([round(v + rng.uniform(-0.25, 0.25), 2) for v in centres[c]] + [c])
rng.shuffle(rows)
with open("tiny.csv", "w") as f:
    f.write("sepal_length,sepal_width,petal_length,petal_width,species\n")
    for r in rows:
        f.write(",".join(str(v) for v in r) + "\n")
PY
echo "wrote $(pwd)/quad, quad_x.npy, tiny.csv"
