#!/usr/bin/env bash
# make_image_corpus.sh — the seed corpus of fuzz_image (tests/fuzz/corpus/image/): small real PNG
# (grey 1/8/16-bit, RGB, RGBA, palette with transparency, interlaced), JPEG (grey, baseline,
# progressive, CMYK), BMP (24-bit, 8-bit palette) and GIF files written by Pillow, plus near-valid
# ones (cut short, a size claimed too large). Each file ends with one extra byte: the knob
# fuzz_image.c takes from the input's end. Deterministic. Called by make_corpus.sh.
# usage: bash tests/fuzz/make_image_corpus.sh OUTDIR
set -euo pipefail
out=$1
mkdir -p "$out"
find "$out" -type f ! -name 'regress-*' -delete
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" - "$out" <<'PY'
import io, os, struct, sys, zlib
from PIL import Image
out = sys.argv[1]

def put(name, data, knob):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data + bytes([knob]))

def img(mode, w, h):
    im = Image.new(mode, (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            v = (x * 37 + y * 11) % 256
            px[x, y] = {"1": v & 1, "L": v, "I;16": v * 257, "P": v % 16, "RGB": (v, 255 - v, x * 9 % 256),
                        "RGBA": (v, y * 20 % 256, 255 - v, x * 30 % 256), "CMYK": (v, 40, 255 - v, y * 5 % 256),
                        "LA": (v, 255 - v)}[mode]
    if mode == "P":
        im.putpalette([c for i in range(16) for c in (i * 16, 255 - i * 16, i * 7)])
    return im

def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()

seeds = [
    ("grey1.png", save(img("1", 9, 5), "PNG"), 0x00),
    ("grey8.png", save(img("L", 8, 6), "PNG"), 0x2d),
    ("grey16.png", save(img("I;16", 7, 5), "PNG"), 0x51),
    ("grey-alpha.png", save(img("LA", 6, 6), "PNG"), 0x02),
    ("rgb.png", save(img("RGB", 10, 7), "PNG"), 0x25),
    ("rgba.png", save(img("RGBA", 5, 9), "PNG"), 0xe6),
    ("palette-trns.png", save(img("P", 12, 4), "PNG", transparency=bytes(range(0, 160, 10))), 0x41),
    ("interlaced.png", save(img("RGB", 11, 9), "PNG", interlace=1), 0x8d),
    ("grey.jpg", save(img("L", 16, 8), "JPEG", quality=90), 0x04),
    ("rgb.jpg", save(img("RGB", 17, 9), "JPEG", quality=75), 0xa5),
    ("progressive.jpg", save(img("RGB", 24, 16), "JPEG", progressive=True, quality=80), 0x31),
    ("cmyk.jpg", save(img("CMYK", 8, 8), "JPEG"), 0x7d),
    ("rgb24.bmp", save(img("RGB", 7, 3), "BMP"), 0x09),
    ("palette8.bmp", save(img("P", 6, 5), "BMP"), 0x62),
    ("first-frame.gif", save(img("P", 9, 7), "GIF"), 0x1d),
]
for name, data, knob in seeds:
    put(name, data, knob)
# near-valid: cut in half; a PNG header claiming 70000 x 70000 pixels; a JPEG frame of 60000 x 60000
for name, data, knob in seeds[1::3]:
    put("near-cut-" + name, data[: len(data) // 2], knob)
ihdr = b"IHDR" + struct.pack(">IIBBBBB", 70000, 70000, 8, 2, 0, 0, 0)
put("near-bomb.png", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)), 0x05)
j = bytearray(seeds[8][1])
k = j.find(b"\xff\xc0")
j[k + 5:k + 9] = struct.pack(">HH", 60000, 60000)
put("near-bomb.jpg", bytes(j), 0x05)
PY
echo "make_image_corpus: $(ls "$out" | wc -l) files in $out"
