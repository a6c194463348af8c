#!/usr/bin/python3
"""detect_torch.py — trains a fovea detector's model file (a backbone and a `yolo` head) in
PyTorch, the same network layer for layer, with the same loss, target assignment,
hyperparameters and data, then detects on the test images and writes COCO's results file, which
`fovea evaluate --detections` scores with the same evaluator as fovea's own detections.
bench/detect.py runs it beside `fovea train` for examples/detect_scenes.fv.

usage: detect_torch.py MODEL.fv --data DIR [--epochs N] [--seed S] [--threads T]
                       --results OUT.json [--json TIMES.json]

DIR is a detection folder as `fovea data make detection` writes it (YOLO's labels and COCO's
annotations over the same images; images the size of the model's input, so no letterbox). The
network is built by bench/resnet_torch.py from the model file (Keras' 'same' padding, Keras 3's
BatchNormalization, glorot_uniform); the head's loss is written here, vectorised, after the same
rules as src/layers/yolo.c and tests/fixtures/make_yolo_fixture.py (YOLOv5's decoding, CIoU with
α held constant, objectness with the IoU as target, class BCE; a box to its centre cell at every
anchor whose side ratios stay below anchor_t and at least its best, with neighbor_cells=2 also in
YOLOv5's two nearest neighbour cells; a slot two boxes want to the smaller). Detection: YOLOv5's validation settings as `fovea evaluate` uses them (score 0.001 on
objectness × class for every class, torchvision's batched_nms at IoU 0.6, 100 per image); the
detection speed is timed at `fovea detect`'s defaults (score 0.25, best class, IoU 0.45).
"""

import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from resnet_torch import build, parse  # noqa: E402


def yolo_cfg(layers):
    head = layers[-1]
    if head["kind"] != "yolo":
        raise SystemExit("detect_torch: the model's last layer is not a yolo head")
    a = head["args"]
    cfg = dict(classes=int(a["classes"]), anchors=[float(v) for v in a["anchors"].split(",")],
               max_boxes=int(a.get("max_boxes", 16)), box=float(a.get("box", 0.05)),
               obj=float(a.get("obj", 1.0)), cls=float(a.get("cls", 0.5)),
               anchor_t=float(a.get("anchor_t", 4.0)), giou=a.get("iou_loss", "ciou") == "giou",
               neighbors=int(a.get("neighbor_cells", 0)) == 2)
    cfg["A"] = len(cfg["anchors"]) // 2
    return cfg


def read_split(d, split, shape):
    """Images (N, H, W, C) uint8 sorted by file name, their boxes [(class, cx, cy, w, h)] and
    file names."""
    from PIL import Image

    files = sorted(glob.glob(os.path.join(d, "images", split, "*.png")))
    if not files:
        raise SystemExit("detect_torch: no images in %s/images/%s" % (d, split))
    X = np.zeros((len(files),) + tuple(shape), dtype=np.uint8)
    boxes = []
    for i, f in enumerate(files):
        im = np.asarray(Image.open(f).convert("L" if shape[2] == 1 else "RGB"))
        if im.shape[:2] != tuple(shape[:2]):
            raise SystemExit("detect_torch: %s is %s, not the model's input %s (no letterbox here)"
                             % (f, im.shape[:2], shape[:2]))
        X[i] = im.reshape(shape)
        lab = os.path.join(d, "labels", split, os.path.splitext(os.path.basename(f))[0] + ".txt")
        rows = []
        if os.path.exists(lab):
            with open(lab) as fl:
                rows = [[float(v) for v in line.split()] for line in fl if line.strip()]
        boxes.append(rows)
    return X, boxes, [os.path.basename(f) for f in files]


def near(g, n):
    """YOLOv5's neighbour cell for a centre at g (cells) on an axis of n cells, or None."""
    f = g % 1
    if f < 0.5 and g > 1:
        return min(int(g - 0.5), n - 1)
    if f > 0.5 and g < n - 1:
        return min(int(g + 0.5), n - 1)
    return None


def assign(cfg, H, W, rows):
    """slot -> box index, as src/layers/yolo.c assigns (dict over positive slots)."""
    A, an = cfg["A"], cfg["anchors"]
    owner = {}
    for b, (c, cx, cy, w, h) in enumerate(rows):
        gw, gh = w * W, h * H
        col, row = min(int(cx * W), W - 1), min(int(cy * H), H - 1)
        cells = [(row, col)]
        if cfg["neighbors"]:
            nc, nr = near(cx * W, W), near(cy * H, H)
            cells += [(row, nc)] if nc is not None and nc != col else []
            cells += [(nr, col)] if nr is not None and nr != row else []
        rs = [max(gw / an[2 * a], an[2 * a] / gw, gh / an[2 * a + 1], an[2 * a + 1] / gh)
              for a in range(A)]
        best = int(np.argmin(rs))
        for r, k in cells:
            for a in range(A):
                if a != best and not rs[a] < cfg["anchor_t"]:
                    continue
                s = (r * W + k) * A + a
                if s in owner:
                    q = rows[owner[s]]
                    if not w * h < q[3] * q[4]:
                        continue
                owner[s] = b
    return owner


def ciou(torch, p, g, giou):
    """CIoU (or GIoU) of boxes p, g [n, 4] as (cx, cy, w, h); α of CIoU held constant."""
    eps = 1e-7
    p1, p2 = p[:, :2] - p[:, 2:] / 2, p[:, :2] + p[:, 2:] / 2
    g1, g2 = g[:, :2] - g[:, 2:] / 2, g[:, :2] + g[:, 2:] / 2
    wh = (torch.minimum(p2, g2) - torch.maximum(p1, g1)).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = p[:, 2] * p[:, 3] + g[:, 2] * g[:, 3] - inter + eps
    iou = inter / union
    c = torch.maximum(p2, g2) - torch.minimum(p1, g1)
    if giou:
        area = c[:, 0] * c[:, 1] + eps
        return iou - (area - union) / area
    c2 = (c**2).sum(1) + eps
    rho2 = ((p[:, :2] - g[:, :2]) ** 2).sum(1)
    v = (4 / math.pi**2) * (torch.atan(g[:, 2] / g[:, 3]) - torch.atan(p[:, 2] / p[:, 3])) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + alpha * v)


def yolo_loss(torch, cfg, y, batch_rows):
    """y (N, H, W, A·K) raw predictions; batch_rows: each image's boxes. The loss of yolo.c."""
    N, H, W, _ = y.shape
    A, C = cfg["A"], cfg["classes"]
    K = 5 + C
    P = y.reshape(N, H * W * A, K)
    img, slot, tb, tc, anc = [], [], [], [], []
    for i, rows in enumerate(batch_rows):
        for s, b in assign(cfg, H, W, rows).items():
            c, cx, cy, w, h = rows[b]
            img.append(i), slot.append(s), tc.append(int(c))
            tb.append([cx * W, cy * H, w * W, h * H])
            a = s % A
            anc.append(cfg["anchors"][2 * a : 2 * a + 2])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    tobj = torch.zeros(N, H * W * A)
    npos = len(img)
    if npos:
        img_t, slot_t = torch.tensor(img), torch.tensor(slot)
        ps = P[img_t, slot_t]
        cell = slot_t // A
        grid = torch.stack([cell % W, cell // W], 1).float()
        sig = torch.sigmoid(ps[:, :4])
        pb = torch.cat([2 * sig[:, :2] - 0.5 + grid, (2 * sig[:, 2:]) ** 2 * torch.tensor(anc)], 1)
        iou = ciou(torch, pb, torch.tensor(tb), cfg["giou"])
        lbox = (1 - iou).mean()
        tobj[img_t, slot_t] = iou.detach().clamp(min=0)
        onehot = torch.zeros(npos, C)
        onehot[torch.arange(npos), torch.tensor(tc)] = 1
        lcls = bce(ps[:, 5:], onehot, reduction="mean")
    else:
        lbox = lcls = torch.zeros(())
    lobj = bce(P[:, :, 4], tobj, reduction="mean")
    return cfg["box"] * lbox + cfg["obj"] * lobj + cfg["cls"] * lcls


def decode(torch, cfg, y):
    """One image's grid y (H, W, A·K) decoded: the sigmoids of every value, and each slot's
    centre and size in grid cells."""
    H, W, _ = y.shape
    A, C = cfg["A"], cfg["classes"]
    P = y.reshape(H * W * A, 5 + C)
    slot = torch.arange(H * W * A)
    cell = slot // A
    grid = torch.stack([cell % W, cell // W], 1).float()
    an = torch.tensor(cfg["anchors"]).reshape(A, 2)[slot % A]
    sig = torch.sigmoid(P)
    xy = 2 * sig[:, :2] - 0.5 + grid
    wh = (2 * sig[:, 2:4]) ** 2 * an
    return sig, xy, wh


def detect_all(torch, tv, cfg, model, X, in_hw, score, iou, multi_label, batch=64):
    """Per image: (boxes xyxy in pixels, scores, classes) after NMS, at most 100."""
    H_in, W_in = in_hw
    out = []
    with torch.no_grad():
        for i in range(0, X.shape[0], batch):
            y = model(X[i : i + batch]).permute(0, 2, 3, 1)
            for j in range(y.shape[0]):
                H, W = y.shape[1:3]
                sig, xy, wh = decode(torch, cfg, y[j])
                obj = sig[:, 4:5]
                cls = sig[:, 5:]
                if multi_label:
                    sc = obj * cls
                    idx, k = (sc >= score).nonzero(as_tuple=True)
                    s = sc[idx, k]
                else:
                    best, k = cls.max(1)
                    s = obj[:, 0] * best
                    idx = (s >= score).nonzero(as_tuple=True)[0]
                    s, k = s[idx], k[idx]
                scale = torch.tensor([W_in / W, H_in / H])
                c = xy[idx] * scale
                half = wh[idx] * scale / 2
                b = torch.cat([c - half, c + half], 1)
                keep = tv.ops.batched_nms(b.double(), s.double(), k, iou)[:100]
                out.append((b[keep], s[keep], k[keep]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--results", required=True)
    ap.add_argument("--json")
    args = ap.parse_args()

    import torch
    import torchvision as tv

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    shape, layers, comp, fit = parse(args.model)
    cfg = yolo_cfg(layers)
    epochs = args.epochs or int(fit.get("epochs", 1))
    batch = int(fit.get("batch_size", 32))
    X, rows, _ = read_split(args.data, "train", shape)
    TX, _, tnames = read_split(args.data, "test", shape)
    to_nchw = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    X, TX = to_nchw(X), to_nchw(TX)
    model = build(torch, shape, layers)
    opt = torch.optim.Adam(model.parameters(), lr=float(comp.get("learning_rate", 0.001)),
                           betas=(0.9, 0.999), eps=1e-7)
    gen = torch.Generator().manual_seed(args.seed)
    epochs_out = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(X.shape[0], generator=gen)
        total, seen = 0.0, 0
        for i in range(0, X.shape[0], batch):
            idx = perm[i : i + batch]
            opt.zero_grad(set_to_none=True)
            y = model(X[idx]).permute(0, 2, 3, 1)
            loss = yolo_loss(torch, cfg, y, [rows[k] for k in idx.tolist()])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        dt = time.perf_counter() - t0
        epochs_out.append(dict(epoch=epoch + 1, seconds=dt, loss=total / seen))
        print("torch epoch %d/%d - %.1fs - loss: %.4f" % (epoch + 1, epochs, dt, total / seen),
              flush=True)
    model.eval()
    # COCO's ids from the annotations, by file name
    with open(os.path.join(args.data, "annotations", "instances_test.json")) as f:
        coco = json.load(f)
    ids = {im["file_name"].split("/")[-1]: im["id"] for im in coco["images"]}
    cats = {i: c["id"] for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    dets = detect_all(torch, tv, cfg, model, TX, shape[:2], 0.001, 0.6, True)
    res = []
    for name, (b, s, k) in zip(tnames, dets):
        for bb, ss, kk in zip(b.tolist(), s.tolist(), k.tolist()):
            res.append(dict(image_id=ids[name], category_id=cats[kk],
                            bbox=[bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1]], score=ss))
    with open(args.results, "w") as f:
        json.dump(res, f)
    # detection speed at fovea detect's defaults: forward, decoding and NMS of every test image
    t0 = time.perf_counter()
    detect_all(torch, tv, cfg, model, TX, shape[:2], 0.25, 0.45, False)
    det_s = time.perf_counter() - t0
    print("torch detect %d images: %.2fs" % (TX.shape[0], det_s))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(epochs=epochs_out, detect_seconds=det_s, images=int(TX.shape[0]),
                           torch=torch.__version__, threads=args.threads), f, indent=1)


if __name__ == "__main__":
    main()
