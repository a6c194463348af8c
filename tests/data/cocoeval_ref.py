#!/usr/bin/env python3
"""cocoeval_ref.py — a second, independent implementation of COCO's box evaluation (pycocotools'
COCOeval: evaluate, accumulate, summarize) and of VOC's AP50 (all-point interpolation), in
NumPy only, written from the published algorithm (pycocotools' cocoeval.py and maskApi.c's bbIou;
py-faster-rcnn's voc_eval.py) for tests/cli_detection.sh. pycocotools itself is not installable
here. Not fovea's code: array-at-a-time NumPy, as pycocotools is written.

usage: cocoeval_ref.py make SEED DIR     writes DIR/instances.json and DIR/det.json (a random case)
       cocoeval_ref.py eval INSTANCES DET  prints the figures as JSON (the keys of fovea's --json)
"""
import json
import sys

import numpy as np

IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = [1, 10, 100]
AREA_RNG = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]


def bb_iou(dt, gt, crowd):
    """IoU of every detection (rows) with every ground truth (columns), xywh; a crowd region's
    union is the detection's area (maskApi.c bbIou)."""
    dt = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(dt), len(gt)))
    for g in range(len(gt)):
        G = gt[g]
        ga = G[2] * G[3]
        for d in range(len(dt)):
            D = dt[d]
            da = D[2] * D[3]
            w = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
            if w <= 0:
                continue
            h = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
            if h <= 0:
                continue
            i = w * h
            u = da if crowd[g] else da + ga - i
            out[d, g] = i / u
    return out


def evaluate_img(gts, dts, arng, maxdet):
    if not gts and not dts:
        return None
    ig = np.array([1 if (g["iscrowd"] or g["area"] < arng[0] or g["area"] > arng[1]) else 0
                   for g in gts], dtype=int)
    gord = np.argsort(ig, kind="mergesort")
    gts = [gts[i] for i in gord]
    ig = ig[gord]
    dord = np.argsort([-d["score"] for d in dts], kind="mergesort")
    dts = [dts[i] for i in dord[:maxdet]]
    crowd = [int(g["iscrowd"]) for g in gts]
    ious = bb_iou([d["bbox"] for d in dts], [g["bbox"] for g in gts], crowd)
    T, G, D = len(IOU_THRS), len(gts), len(dts)
    gtm = np.zeros((T, G))
    dtm = np.zeros((T, D))
    dtig = np.zeros((T, D))
    for t, thr in enumerate(IOU_THRS):
        for di in range(D):
            best, m = min(thr, 1 - 1e-10), -1
            for gi in range(G):
                if gtm[t, gi] > 0 and not crowd[gi]:
                    continue
                if m > -1 and ig[m] == 0 and ig[gi] == 1:
                    break
                if ious[di, gi] < best:
                    continue
                best, m = ious[di, gi], gi
            if m == -1:
                continue
            dtig[t, di] = ig[m]
            dtm[t, di] = gts[m]["id"]
            gtm[t, m] = dts[di]["id"]
    outside = np.array([d["bbox"][2] * d["bbox"][3] < arng[0] or d["bbox"][2] * d["bbox"][3] > arng[1]
                        for d in dts]).reshape(1, D)
    dtig = np.logical_or(dtig, np.logical_and(dtm == 0, np.repeat(outside, T, 0)))
    return {"scores": np.array([d["score"] for d in dts]), "dtm": dtm, "dtig": dtig, "gtig": ig}


def coco_eval(inst, dets):
    img_ids = sorted(im["id"] for im in inst["images"])
    cat_ids = sorted(c["id"] for c in inst["categories"])
    known = set(img_ids)
    assert all(d["image_id"] in known for d in dets)
    gts, dts = {}, {}
    for a in inst["annotations"]:
        gts.setdefault((a["image_id"], a["category_id"]), []).append(dict(a))
    for i, d in enumerate(dets):
        d = dict(d, id=i + 1)
        dts.setdefault((d["image_id"], d["category_id"]), []).append(d)
    T, R, K, A, M = len(IOU_THRS), len(REC_THRS), len(cat_ids), len(AREA_RNG), len(MAX_DETS)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for k, c in enumerate(cat_ids):
        for a, arng in enumerate(AREA_RNG):
            E = [evaluate_img(gts.get((i, c), []), dts.get((i, c), []), arng, MAX_DETS[-1])
                 for i in img_ids]
            E = [e for e in E if e is not None]
            if not E:
                continue
            for m, maxdet in enumerate(MAX_DETS):
                scores = np.concatenate([e["scores"][:maxdet] for e in E])
                order = np.argsort(-scores, kind="mergesort")
                dtm = np.concatenate([e["dtm"][:, :maxdet] for e in E], axis=1)[:, order]
                dtig = np.concatenate([e["dtig"][:, :maxdet] for e in E], axis=1)[:, order]
                gtig = np.concatenate([e["gtig"] for e in E])
                npig = np.count_nonzero(gtig == 0)
                if npig == 0:
                    continue
                tps = np.logical_and(dtm, np.logical_not(dtig))
                fps = np.logical_and(np.logical_not(dtm), np.logical_not(dtig))
                tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
                fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
                for t in range(T):
                    tp, fp = tp_sum[t], fp_sum[t]
                    nd = len(tp)
                    rc = tp / npig
                    pr = tp / (fp + tp + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if nd else 0
                    pr = np.maximum.accumulate(pr[::-1])[::-1] if nd else pr
                    inds = np.searchsorted(rc, REC_THRS, side="left")
                    q = np.zeros(R)
                    ok = inds < nd
                    q[ok] = pr[inds[ok]]
                    precision[t, :, k, a, m] = q
    return precision, recall, cat_ids


def mean_defined(s):
    s = s[s > -1]
    return float(np.mean(s)) if s.size else -1.0


def summarize(precision, recall):
    t50, t75 = 0, 5
    ap = lambda t=None, a=0, m=2: mean_defined(
        (precision if t is None else precision[[t]])[:, :, :, a, m])
    ar = lambda a=0, m=2: mean_defined(recall[:, :, a, m])
    return [ap(), ap(t50), ap(t75), ap(a=1), ap(a=2), ap(a=3),
            ar(m=0), ar(m=1), ar(m=2), ar(a=1), ar(a=2), ar(a=3)]


def voc_ap50(inst, dets, cat):
    gts = {}
    npos = 0
    for a in inst["annotations"]:
        if a["category_id"] != cat:
            continue
        gts.setdefault(a["image_id"], []).append(a)
        npos += 0 if a["iscrowd"] else 1
    if npos == 0:
        return -1.0
    mine = [d for d in dets if d["category_id"] == cat]
    order = np.argsort([-d["score"] for d in mine], kind="mergesort")
    taken = set()
    tp = np.zeros(len(mine))
    fp = np.zeros(len(mine))
    for q, i in enumerate(order):
        d = mine[i]
        bb = np.array(d["bbox"], dtype=np.float64)
        g = gts.get(d["image_id"], [])
        ovmax, jmax = -np.inf, -1
        if g:
            G = np.array([x["bbox"] for x in g], dtype=np.float64)
            ixmin = np.maximum(G[:, 0], bb[0])
            iymin = np.maximum(G[:, 1], bb[1])
            ixmax = np.minimum(G[:, 0] + G[:, 2], bb[0] + bb[2])
            iymax = np.minimum(G[:, 1] + G[:, 3], bb[1] + bb[3])
            iw = np.maximum(ixmax - ixmin, 0.0)
            ih = np.maximum(iymax - iymin, 0.0)
            inter = iw * ih
            uni = bb[2] * bb[3] + G[:, 2] * G[:, 3] - inter
            ov = np.where(uni > 0, inter / np.where(uni > 0, uni, 1), 0.0)
            jmax = int(np.argmax(ov))
            ovmax = ov[jmax]
        if ovmax > 0.5:
            if not g[jmax]["iscrowd"]:
                if g[jmax]["id"] not in taken:
                    tp[q] = 1
                    taken.add(g[jmax]["id"])
                else:
                    fp[q] = 1
        else:
            fp[q] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def figures(inst, dets):
    precision, recall, cat_ids = coco_eval(inst, dets)
    names = {c["id"]: c["name"] for c in inst["categories"]}
    stat_names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs",
                  "ARm", "ARl"]
    out = {"stats": dict(zip(stat_names, summarize(precision, recall))), "per_class": []}
    vocs = []
    for k, c in enumerate(cat_ids):
        v = voc_ap50(inst, dets, c)
        vocs.append(v)
        out["per_class"].append({
            "id": c, "name": names[c],
            "AP": mean_defined(precision[:, :, k, 0, 2]),
            "AP50": mean_defined(precision[[0], :, k, 0, 2]),
            "AP75": mean_defined(precision[[5], :, k, 0, 2]),
            "voc_AP50": v})
    defined = [v for v in vocs if v > -1]
    out["voc_mAP50"] = float(np.mean(defined)) if defined else -1.0
    return out


def make_case(seed):
    """Random ground truth and detections: sizes over the three area ranges, crowd regions, an
    image without annotations, a category without annotations, jittered and duplicated
    detections, misses, false alarms, scores on a coarse grid (ties), and on one image more than
    100 detections of one category."""
    r = np.random.RandomState(seed)
    W = H = 400
    images = [{"id": int(i), "file_name": "%d.png" % i, "width": W, "height": H}
              for i in r.permutation(np.arange(1, 9)) + 10]
    cats = [{"id": c, "name": "c%d" % c} for c in (3, 1, 7, 5)]  # 5: no annotations
    anns, dets = [], []
    aid = 1
    for im in images[1:]:  # images[0]: no annotations
        for _ in range(r.randint(1, 9)):
            side = float(r.choice([8, 20, 31, 32, 40, 90, 96, 120, 200]))
            w = side * r.uniform(0.6, 1.2)
            h = side * r.uniform(0.6, 1.2)
            x, y = r.uniform(0, W - w), r.uniform(0, H - h)
            cat = int(r.choice([3, 1, 7]))
            crowd = int(r.rand() < 0.08)
            anns.append({"id": aid, "image_id": im["id"], "category_id": cat,
                         "bbox": [x, y, w, h], "area": w * h * r.uniform(0.7, 1.0),
                         "iscrowd": crowd})
            aid += 1
            for _ in range(r.choice([0, 1, 1, 1, 2])):
                j = side * 0.15
                dets.append({"image_id": im["id"],
                             "category_id": cat if r.rand() < 0.85 else int(r.choice([1, 3, 5, 7])),
                             "bbox": [x + r.normal(0, j), y + r.normal(0, j),
                                      max(1.0, w + r.normal(0, j)), max(1.0, h + r.normal(0, j))],
                             "score": float(np.round(r.rand(), 1))})
    for _ in range(12):
        im = images[r.randint(len(images))]
        dets.append({"image_id": im["id"], "category_id": int(r.choice([1, 3, 5, 7])),
                     "bbox": [r.uniform(0, 300), r.uniform(0, 300), r.uniform(5, 100),
                              r.uniform(5, 100)], "score": float(np.round(r.rand(), 2))})
    crowded = images[2]["id"]
    for _ in range(110):
        dets.append({"image_id": crowded, "category_id": 3,
                     "bbox": [r.uniform(0, 350), r.uniform(0, 350), r.uniform(5, 50),
                              r.uniform(5, 50)], "score": float(np.round(r.rand(), 1))})
    r.shuffle(dets)
    return {"images": images, "annotations": anns, "categories": cats}, dets


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        inst, dets = make_case(int(sys.argv[2]))
        with open(sys.argv[3] + "/instances.json", "w") as f:
            json.dump(inst, f)
        with open(sys.argv[3] + "/det.json", "w") as f:
            json.dump(dets, f)
    elif len(sys.argv) == 4 and sys.argv[1] == "eval":
        inst = json.load(open(sys.argv[2]))
        dets = json.load(open(sys.argv[3]))
        json.dump(figures(inst, dets), sys.stdout, indent=1)
        print()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
