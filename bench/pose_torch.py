#!/usr/bin/python3
"""pose_torch.py — examples/pose.fv (a 6D pose CNN with the continuous 6-D rotation and PoseCNN's
PLoss) in PyTorch, trained with the same hyperparameters on the same BOP folder: the anchor for
`fovea train examples/pose.fv --data DIR` then `fovea evaluate MODEL --data DIR` (issue 13).

usage: pose_torch.py --data DIR [--crop] [--epochs N] [--seed S] [--threads N] [--batch-size N]
                     [--learning-rate X] [--decay-steps N] [--translation-weight W] [--limit N]
                     [--device cpu|cuda] [--json OUT] [--poses OUT.csv]
                     [--init WEIGHTS.safetensors] [--no-shuffle] [--no-jitter]

The network, layer for layer as examples/pose.fv: four Conv2D(3x3, strides 2, same, no bias) +
BatchNormalization (Keras' momentum 0.99, epsilon 1e-3) + ReLU with 32, 64, 64, 128 filters,
Flatten, Dense(256, relu), Dense(9); the pose head turns the first six numbers into R by
Gram-Schmidt on the two columns r6 = (R00, R10, R20, R01, R11, R21) (Zhou et al. 2019, as
fv_rot6d_to_matrix: norms clamped at 1e-12) and passes the last three (x/z, y/z, z/f, f = (fx +
fy)/2) on. Keras' initialisers (glorot_uniform with Keras' fans, zero biases, BN gamma 1 beta 0),
Keras' 'same' padding for stride 2 (the extra row and column at the bottom/right: F.pad then a
valid convolution), Adam (lr 1e-3, eps 1e-7), batch 32, shuffled each epoch; Flatten in Keras'
(H, W, C) order. --init, --no-shuffle and --no-jitter make the same start as a fovea run: its
initial weights (`fovea train M.fv --epochs 0 --save W.safetensors`), the batches in file order
(`--no-shuffle`), the crops unjittered (`crop_jitter_shift=0 crop_jitter_scale=0` on the pose
head), so that the two trajectories differ only by rounding.

The loss, as fovea's `loss=pose` (src/layers/pose.c): PoseCNN's PLoss, 1/(2m) sum_j |R~x_j - R x_j|^2
over the 8 corners of the bounding box (models_info's size_x, size_y, size_z) in units of its
diagonal, plus translation_weight * 1/2 [(z/f)^2 ((p~_0 - p_0)^2 + (p~_1 - p_1)^2) + (p~_2 - p_2)^2] on
p = (x/z, y/z, z/f) with the target's z/f (to first order 1/2 |t~ - t|^2 / f^2), both averaged over
the batch.

The data: BOP's layout read as fovea reads it (each image's most visible instance of the only
object; scene_gt.json, scene_camera.json, scene_gt_info.json); without --crop the images must
already be the network's 64 x 64 (`fovea data make pose DIR --size 64`), so no resize is involved.
With --crop (a pose head with crop=box, examples/pose.fv): fovea's crop around the object, written
again here in NumPy from its definition (fv_pose_crop_camera, fv_pose_crop_image: a virtual camera
turned through the centre of scene_gt_info.json's bbox_visib, a square of 1.5 times the box's longer
side resampled bilinearly to 64 x 64, black outside the image; the pose and K taken into the
crop's camera), the training crops jittered once per image as fovea's (centre moved by up to 0.25
of the box, side scaled by 1 +- 0.25, uniformly; drawn from NumPy's generator seeded with --seed,
so the same distribution, not the same draws), the test crops not. The figures, as
`fovea evaluate` prints them: ADD accuracy at 10 % of the diameter over the PLY model's vertices
(Hinterstoisser et al. 2012), the mean geodesic rotation error (degrees) and translation error (mm).
This script scores the asymmetric object (ADD) only; a symmetric one needs ADD-S and SLoss.
--poses writes the last epoch's test estimates in BOP's result format, so that `fovea evaluate
--poses OUT.csv --data DIR` scores them with the same code as fovea's own (bench/pose_compare.sh
does): the ADD here averages over the PLY's vertices as the file lists them, fovea's over the
mesh assimp reads (identical vertices joined), which moves the accuracy by a few tenths of a percent.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bop_files import single_asymmetric_object  # noqa: E402

FILTERS = (32, 64, 64, 128)
DENSE = 256
SIZE = 64
PAD, JITTER_SCALE, JITTER_SHIFT = 1.5, 0.25, 0.25  # the pose head's crop_pad, crop_jitter_*


def crop_camera(K, centre, side, out):
    """fv_pose_crop_camera: Rv (the smallest rotation taking the ray through centre onto the axis)
    and Kv (f * out / side, principal point at the crop's centre)."""
    a = np.array([(centre[0] - K[0, 2]) / K[0, 0], (centre[1] - K[1, 2]) / K[1, 1], 1.0])
    a /= np.linalg.norm(a)
    v = np.cross(a, [0.0, 0.0, 1.0])
    X = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    Rv = np.eye(3) + X + X @ X / (1 + a[2])
    Kv = np.array([[K[0, 0] * out / side, 0, (out - 1) / 2], [0, K[1, 1] * out / side, (out - 1) / 2],
                   [0, 0, 1]])
    return Rv, Kv


def crop_image(im, K, Rv, Kv, out):
    """fv_pose_crop_image: im (h, w, 3) uint8 sampled bilinearly at K Rv^T Kv^-1 (u, v, 1), 0 outside."""
    h, w = im.shape[:2]
    M = K @ Rv.T @ np.linalg.inv(Kv)
    yy, xx = np.mgrid[0:out, 0:out].astype(np.float64)
    p = np.einsum("ij,jhw->ihw", M, np.stack([xx, yy, np.ones_like(xx)]))
    u, v = p[0] / p[2], p[1] / p[2]
    ok = (p[2] > 0) & (u > -1) & (u < w) & (v > -1) & (v < h)
    u0, v0 = np.floor(u), np.floor(v)
    du, dv = u - u0, v - v0
    acc = np.zeros((out, out, im.shape[2]))
    for dx, dy, wt in ((0, 0, (1 - du) * (1 - dv)), (1, 0, du * (1 - dv)), (0, 1, (1 - du) * dv),
                       (1, 1, du * dv)):
        x, y = u0 + dx, v0 + dy
        inside = ok & (x >= 0) & (x < w) & (y >= 0) & (y < h)
        xi, yi = np.where(inside, x, 0).astype(int), np.where(inside, y, 0).astype(int)
        acc += (wt * inside)[..., None] * im[yi, xi]
    return np.where(ok[..., None], np.floor(np.minimum(acc, 255) + 0.5), 0).astype(np.uint8)


def read_split(root, split, limit, crop=None):
    """(images uint8 (n, 3, 64, 64), R (n, 3, 3), t (n, 3) mm, K (n, 3, 3), Rv (n, 3, 3), the
    (scene_id, im_id, obj_id) of each) of DIR/split: with crop (None, or (jitter, NumPy
    generator)) the crops, the pose and K in the crop's camera and Rv its rotation from the
    image's camera; else the images, Rv = I."""
    d = os.path.join(root, split)
    ims, Rs, ts, Ks, Rvs, ids = [], [], [], [], [], []
    for scene in sorted(s for s in os.listdir(d) if s.isdigit()):
        sd = os.path.join(d, scene)
        gt = json.load(open(os.path.join(sd, "scene_gt.json")))
        cam = json.load(open(os.path.join(sd, "scene_camera.json")))
        info = json.load(open(os.path.join(sd, "scene_gt_info.json")))
        for key in sorted(gt, key=int):
            fr = [i.get("visib_fract", 0) for i in info[key]]
            g = gt[key][int(np.argmax(fr))]  # the most visible instance, the first on a tie
            im = np.asarray(Image.open(os.path.join(sd, "rgb", "%06d.png" % int(key))).convert("RGB"))
            R = np.array(g["cam_R_m2c"], dtype=np.float64).reshape(3, 3)
            t = np.array(g["cam_t_m2c"], dtype=np.float64)
            K = np.array(cam[key]["cam_K"], dtype=np.float64).reshape(3, 3)
            Rv = np.eye(3)
            if crop is not None:
                gi = info[key][int(np.argmax(fr))]
                b = gi["bbox_visib"] if gi["bbox_visib"][2] > 0 else gi["bbox_obj"]
                centre = np.array([b[0] + b[2] / 2 - 0.5, b[1] + b[3] / 2 - 0.5])
                scale = 1.0
                if crop[0] and crop[2]:
                    j = crop[1].uniform(-1, 1, 3)
                    centre += np.array([b[2], b[3]]) * JITTER_SHIFT * j[:2]
                    scale += JITTER_SCALE * j[2]
                Rv, K = crop_camera(K, centre, PAD * max(b[2], b[3]) * scale, SIZE)
                im = crop_image(im, np.array(cam[key]["cam_K"]).reshape(3, 3), Rv, K, SIZE)
                R, t = Rv @ R, Rv @ t
            elif im.shape[:2] != (SIZE, SIZE):
                raise SystemExit("%s: images of %dx%d; this script takes %dx%d (make the set with "
                                 "--size %d, or use --crop)" % (sd, im.shape[1], im.shape[0], SIZE,
                                                                SIZE, SIZE))
            ims.append(im.transpose(2, 0, 1))
            Rs.append(R)
            ts.append(t)
            Ks.append(K)
            Rvs.append(Rv)
            ids.append((int(scene), int(key), int(g["obj_id"])))
            if limit and len(ims) == limit:
                break
        if limit and len(ims) == limit:
            break
    return np.stack(ims), np.stack(Rs), np.stack(ts), np.stack(Ks), np.stack(Rvs), ids


def glorot(shape, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(shape).uniform_(-limit, limit)


class PoseNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = torch.nn.ParameterList()
        self.bns = torch.nn.ModuleList()
        cin = 3
        for f in FILTERS:
            self.convs.append(torch.nn.Parameter(glorot((f, cin, 3, 3), 9 * cin, 9 * f)))
            self.bns.append(torch.nn.BatchNorm2d(f, eps=1e-3, momentum=0.01))
            cin = f
        side = SIZE // 2 ** len(FILTERS)
        flat = cin * side * side
        self.h = torch.nn.Parameter(glorot((flat, DENSE), flat, DENSE))
        self.hb = torch.nn.Parameter(torch.zeros(DENSE))
        self.o = torch.nn.Parameter(glorot((DENSE, 9), DENSE, 9))
        self.ob = torch.nn.Parameter(torch.zeros(9))

    def forward(self, x):
        for w, bn in zip(self.convs, self.bns):
            x = F.relu(bn(F.conv2d(F.pad(x, (0, 1, 0, 1)), w, stride=2)))
        x = F.relu(x.permute(0, 2, 3, 1).flatten(1) @ self.h + self.hb)
        y = x @ self.o + self.ob
        return rot6d_to_matrix(y[:, :6]), y[:, 6:]


def load_init(model, path):
    """Copies a fovea model's weights (safetensors, Keras' layouts, examples/pose.fv's layer names)
    into model: conv kernels (kh, kw, in, out) -> (out, in, kh, kw), dense (in, out) as they are,
    BatchNormalization's gamma, beta, moving mean and variance."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    T = {k: torch.from_numpy(np.frombuffer(raw[8 + n + d["data_offsets"][0]:8 + n + d["data_offsets"][1]],
                                           dtype="<f4").reshape(d["shape"]).copy())
         for k, d in header.items()}
    suffix = lambda i: "_%d" % i if i else ""
    with torch.no_grad():
        for i, (w, bn) in enumerate(zip(model.convs, model.bns)):
            w.copy_(T["conv2d%s.kernel" % suffix(i)].permute(3, 2, 0, 1))
            b = "batch_normalization%s." % suffix(i)
            for ours, theirs in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                                 ("moving_variance", "running_var")):
                getattr(bn, theirs).copy_(T[b + ours])
        model.h.copy_(T["dense.kernel"])
        model.hb.copy_(T["dense.bias"])
        model.o.copy_(T["dense_1.kernel"])
        model.ob.copy_(T["dense_1.bias"])


def rot6d_to_matrix(r6):
    """R (n, 3, 3) with columns b1, b2, b3 from r6 = (a1, a2), the columns (Zhou et al. 2019)."""
    a1, a2 = r6[:, 0:3], r6[:, 3:6]
    b1 = a1 / a1.norm(dim=1, keepdim=True).clamp_min(1e-12)
    u2 = a2 - (b1 * a2).sum(1, keepdim=True) * b1
    b2 = u2 / u2.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return torch.stack([b1, b2, torch.cross(b1, b2, dim=1)], dim=2)


def box_points(size):
    """The bounding box's 8 corners in units of its diagonal (fovea's loss_points)."""
    e = np.asarray(size, dtype=np.float64)
    D = np.linalg.norm(e)
    return torch.tensor([[(0.5 if (k >> j) & 1 else -0.5) * e[j] / D for j in range(3)]
                         for k in range(8)], dtype=torch.float32)


def losses(model, x, R, p, pts, w):
    Re, pe = model(x)
    diff = (pts @ Re.transpose(1, 2)) - (pts @ R.transpose(1, 2))
    rot = 0.5 * (diff ** 2).sum(2).mean(1).mean()
    lateral = p[:, 2:3] ** 2  # an offset's error in mm over f: z·δ(x/z)/f
    a = torch.cat([lateral, lateral, torch.ones_like(lateral)], 1)
    trans = 0.5 * (a * (pe - p) ** 2).sum(1).mean()
    return rot, w * trans


def figures(R_est, t_est, R, t, verts, diameter):
    """ADD accuracy at 10 % of the diameter, mean rotation error (deg), mean translation error (mm)."""
    add = np.linalg.norm((verts @ R_est.transpose(0, 2, 1) + t_est[:, None])
                         - (verts @ R.transpose(0, 2, 1) + t[:, None]), axis=2).mean(1)
    cos = (np.einsum("nij,nij->n", R_est, R) - 1) / 2
    rot = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    return {"add_accuracy": float((add < 0.1 * diameter).mean()), "rotation_error_deg": float(rot.mean()),
            "translation_error_mm": float(np.linalg.norm(t_est - t, axis=1).mean())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--crop", action="store_true", help="crops around the object (crop=box)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--decay-steps", type=int, default=0,
                    help="Keras' CosineDecay over N steps (compile schedule=cosine_decay decay_steps=N)")
    ap.add_argument("--translation-weight", type=float, default=1.0)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (smoke test)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json")
    ap.add_argument("--poses", help="the last epoch's test estimates as BOP's result CSV")
    ap.add_argument("--init", help="start from these weights (a fovea model's safetensors)")
    ap.add_argument("--no-shuffle", action="store_true", help="batches in file order")
    ap.add_argument("--no-jitter", action="store_true", help="training crops not jittered")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    obj_id, mi, verts = single_asymmetric_object(a.data, "this script scores an asymmetric object (ADD)")
    pts = box_points((mi["size_x"], mi["size_y"], mi["size_z"])).to(dev)

    rng = np.random.default_rng(a.seed)

    def tensors(split, limit, jitter):
        ims, R, t, K, Rv, ids = read_split(a.data, split, limit,
                                           (jitter, rng, not a.no_jitter) if a.crop else None)
        f = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
        p = np.stack([t[:, 0] / t[:, 2], t[:, 1] / t[:, 2], t[:, 2] / f], 1)
        return (torch.from_numpy(ims).to(dev), torch.tensor(R, dtype=torch.float32, device=dev),
                torch.tensor(p, dtype=torch.float32, device=dev), R, t, K, Rv, ids)

    t0 = time.perf_counter()
    xtr, Rtr, ptr, _, _, _, _, _ = tensors("train", a.limit, True)
    xte, Rte, pte, R_np, t_np, K_np, Rv_np, ids = tensors("test", 0, False)
    print("read and %s %d training and %d test images in %.1f s" % (
        "cropped" if a.crop else "decoded", len(xtr), len(xte), time.perf_counter() - t0), flush=True)
    model = PoseNet()
    if a.init:
        load_init(model, a.init)
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=a.learning_rate, eps=1e-7)
    # Keras' CosineDecay (alpha 0) at the update's 0-based step, as fovea's fv__optim_lr_at
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, a.decay_steps) / a.decay_steps))
        if a.decay_steps else 1.0)
    rows = []
    n = len(xtr)
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.arange(n, device=dev) if a.no_shuffle else torch.randperm(n, device=dev)
        sums = np.zeros(2)
        for b in range(0, n, a.batch_size):
            idx = perm[b:b + a.batch_size]
            rot, trans = losses(model, xtr[idx].float() / 255, Rtr[idx], ptr[idx], pts,
                                a.translation_weight)
            opt.zero_grad()
            (rot + trans).backward()
            opt.step()
            sched.step()
            sums += np.array([rot.item(), trans.item()]) * len(idx)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            Rs, ps, vsum = [], [], np.zeros(2)
            for b in range(0, len(xte), 256):
                x = xte[b:b + 256].float() / 255
                rot, trans = losses(model, x, Rte[b:b + 256], pte[b:b + 256], pts, a.translation_weight)
                vsum += np.array([rot.item(), trans.item()]) * len(x)
                Re, pe = model(x)
                Rs.append(Re.double().cpu().numpy())
                ps.append(pe.double().cpu().numpy())
        R_est, p_est = np.concatenate(Rs), np.concatenate(ps)
        z = p_est[:, 2] * 0.5 * (K_np[:, 0, 0] + K_np[:, 1, 1])
        t_est = np.stack([p_est[:, 0] * z, p_est[:, 1] * z, z], 1)
        # back into the image's camera (the identity without a crop): R = Rv^T R', t = Rv^T t'
        RvT = Rv_np.transpose(0, 2, 1)
        R_img, t_img = RvT @ R_est, np.einsum("nij,nj->ni", RvT, t_est)
        fig = figures(R_img, t_img, RvT @ R_np, np.einsum("nij,nj->ni", RvT, t_np), verts,
                      mi["diameter"])
        val_s = time.perf_counter() - t0  # the validation pass and the ADD figures
        row = {"epoch": epoch + 1, "rotation_loss": sums[0] / n, "translation_loss": sums[1] / n,
               "val_rotation_loss": vsum[0] / len(xte), "val_translation_loss": vsum[1] / len(xte),
               "train_s": train_s, "val_s": val_s, **fig}
        rows.append(row)
        print("epoch %d: rotation_loss %.4f translation_loss %.4f val_rotation_loss %.4f "
              "val_translation_loss %.4f; test ADD %.3f, rotation error %.1f deg, translation error "
              "%.1f mm; %.1f s (validation %.1f s)" % (row["epoch"], row["rotation_loss"],
                                                       row["translation_loss"],
                                                       row["val_rotation_loss"],
                                                       row["val_translation_loss"],
                                                       fig["add_accuracy"],
                                                       fig["rotation_error_deg"],
                                                       fig["translation_error_mm"], train_s,
                                                       val_s), flush=True)
    if a.poses:  # BOP's result format; time -1: not measured per image
        with open(a.poses, "w") as f:
            f.write("scene_id,im_id,obj_id,score,R,t,time\n")
            for (scene, im, obj), R, t in zip(ids, R_img, t_img):
                f.write("%d,%d,%d,1,%s,%s,-1\n" % (scene, im, obj, " ".join("%.17g" % x for x in R.ravel()),
                                                   " ".join("%.17g" % x for x in t)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": a.seed, "threads": a.threads, "device": a.device, "crop": a.crop,
                       "train_images": n,
                       "test_images": len(xte), "epochs": rows}, f, indent=1)


if __name__ == "__main__":
    main()
