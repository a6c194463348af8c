#!/usr/bin/python3
"""vae_torch.py — examples/vae.fv (Keras' VAE example, layer for layer) in PyTorch, trained with
the same hyperparameters on the same data, printing per epoch the training loss and its terms, the
test negative ELBO per image and the epoch time: the anchor for fovea's figures
(`fovea train examples/vae.fv` then `fovea evaluate`).

usage: vae_torch.py --data DIR [--epochs N] [--latent 2|16] [--seed S] [--threads N]
                    [--limit N] [--json OUT] [--save-npz OUT.npz] [--test-last]
                    [--init WEIGHTS.safetensors] [--no-shuffle]

--init and --no-shuffle make the same start as a fovea run (`fovea train MODEL --epochs 0 --seed S
--save W` gives its initial weights; `fovea train W --no-shuffle` its batches in the data's order):
the two runs then differ only by the noise eps drawn and by rounding (bench/generative.py
--same-start).

The network: Conv2D(32, 3, strides 2, same, relu), Conv2D(64, 3, strides 2, same, relu), Flatten,
Dense(16, relu), z_mean = Dense(L), z_log_var = Dense(L), z = z_mean + exp(z_log_var / 2)·eps;
Dense(7·7·64, relu), Reshape(7, 7, 64), Conv2DTranspose(64, 3, strides 2, same, relu),
Conv2DTranspose(32, 3, strides 2, same, relu), Conv2DTranspose(1, 3, same, sigmoid). Keras'
initialisers (glorot_uniform kernels with Keras' fans, zero biases); Keras' padding 'same' for the
stride-2 convolutions (the odd extra row at the bottom/right: F.pad then a valid convolution) and
for the stride-2 transposed ones (Keras 3 keeps the first 2w rows of the full (2w + 1)-row
result, src/kernels/conv_variants.c; torch's padding=1, output_padding=1 would keep rows 1..2w).
The loss as Keras' example: binary cross-entropy (probabilities clipped to [1e-7, 1 - 1e-7]) summed
over the 784 pixels, plus sum_j -0.5 (1 + log_var - mean^2 - exp(log_var)), both averaged over
the batch. Adam, learning rate 1e-3, eps 1e-7 (Keras'; torch adds eps after the bias correction
of v, Keras before: a difference far below the seeds' spread), batch 128, shuffled each epoch.
Flatten order is (C, H, W) rather than Keras' (H, W, C), which changes nothing but the order of
one layer's rows. The test figure samples z once per image, as fovea evaluate does. --save-npz
writes the trained weights in Keras' layouts and order under fovea's tensor names, for
bench/generative.py to evaluate with `fovea evaluate`.

Checked once by hand (2026-11-29): with a fovea-trained model's weights copied in (kernels
transposed to torch's layouts, the flatten's rows reordered), this network's decoder gives fovea's
outputs (fv_model_run_from from z) within 1.2e-7 and its z_mean within 1e-6.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import read_idx, read_safetensors  # noqa: E402  (the seed benchmark's readers)


def glorot(shape, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(shape).uniform_(-limit, limit)


class VAE(torch.nn.Module):
    def __init__(self, latent):
        super().__init__()
        p = torch.nn.Parameter
        # conv weights (out, in, kh, kw); Keras' fans: kh·kw·in and kh·kw·out
        self.c1 = p(glorot((32, 1, 3, 3), 9 * 1, 9 * 32))
        self.c1b = p(torch.zeros(32))
        self.c2 = p(glorot((64, 32, 3, 3), 9 * 32, 9 * 64))
        self.c2b = p(torch.zeros(64))
        self.h = p(glorot((3136, 16), 3136, 16))
        self.hb = p(torch.zeros(16))
        self.m = p(glorot((16, latent), 16, latent))
        self.mb = p(torch.zeros(latent))
        self.v = p(glorot((16, latent), 16, latent))
        self.vb = p(torch.zeros(latent))
        self.d = p(glorot((latent, 3136), latent, 3136))
        self.db = p(torch.zeros(3136))
        # transposed conv weights (in, out, kh, kw); Keras' fans: kh·kw·filters and kh·kw·in
        self.t1 = p(glorot((64, 64, 3, 3), 9 * 64, 9 * 64))
        self.t1b = p(torch.zeros(64))
        self.t2 = p(glorot((64, 32, 3, 3), 9 * 32, 9 * 64))
        self.t2b = p(torch.zeros(32))
        self.t3 = p(glorot((32, 1, 3, 3), 9 * 1, 9 * 32))
        self.t3b = p(torch.zeros(1))

    def encode(self, x):
        x = F.relu(F.conv2d(F.pad(x, (0, 1, 0, 1)), self.c1, self.c1b, stride=2))
        x = F.relu(F.conv2d(F.pad(x, (0, 1, 0, 1)), self.c2, self.c2b, stride=2))
        x = F.relu(x.flatten(1) @ self.h + self.hb)
        return x @ self.m + self.mb, x @ self.v + self.vb

    def decode(self, z):
        x = F.relu(z @ self.d + self.db).view(-1, 64, 7, 7)
        x = F.relu(F.conv_transpose2d(x, self.t1, self.t1b, stride=2)[:, :, :14, :14])
        x = F.relu(F.conv_transpose2d(x, self.t2, self.t2b, stride=2)[:, :, :28, :28])
        return torch.sigmoid(F.conv_transpose2d(x, self.t3, self.t3b, padding=1))


def chw_to_hwc(v, c, h, w):
    """Reorders the last axis of v from torch's (C, H, W) flatten order to Keras' (H, W, C)."""
    lead = v.shape[:-1]
    return v.reshape(*lead, c, h, w).movedim(-3, -1).reshape(*lead, c * h * w)


def keras_kernel(k):
    """A torch convolution kernel (out, in, kh, kw), or a transposed one (in, out, kh, kw), in
    Keras' layout: Conv2D (kh, kw, in, out), Conv2DTranspose (kh, kw, filters, in)."""
    return k.detach().permute(2, 3, 1, 0).numpy().astype(np.float32)


def keras_weights(v):
    """The VAE's weights in Keras' layouts under fovea's tensor names (examples/vae.fv's layers)."""
    t = lambda x: x.detach().numpy().astype(np.float32)  # noqa: E731
    return {"conv2d.kernel": keras_kernel(v.c1), "conv2d.bias": t(v.c1b),
            "conv2d_1.kernel": keras_kernel(v.c2), "conv2d_1.bias": t(v.c2b),
            "h.kernel": t(chw_to_hwc(v.h.T, 64, 7, 7).T), "h.bias": t(v.hb),
            "z_mean.kernel": t(v.m), "z_mean.bias": t(v.mb),
            "z_log_var.kernel": t(v.v), "z_log_var.bias": t(v.vb),
            "dense.kernel": t(chw_to_hwc(v.d, 64, 7, 7)), "dense.bias": t(chw_to_hwc(v.db, 64, 7, 7)),
            "conv2d_transpose.kernel": keras_kernel(v.t1), "conv2d_transpose.bias": t(v.t1b),
            "conv2d_transpose_1.kernel": keras_kernel(v.t2), "conv2d_transpose_1.bias": t(v.t2b),
            "reconstruction.kernel": keras_kernel(v.t3), "reconstruction.bias": t(v.t3b)}


def load_keras_weights(v, path):
    """The inverse of keras_weights: a fovea model file's VAE weights copied into v."""
    T = read_safetensors(path)

    def hwc_to_chw(a, c, h, w):  # the last axis from Keras' (H, W, C) order to torch's (C, H, W)
        lead = a.shape[:-1]
        return np.moveaxis(a.reshape(*lead, h, w, c), -1, -3).reshape(*lead, c * h * w)

    kernel = lambda k: k.transpose(3, 2, 0, 1)  # noqa: E731  (kh, kw, a, b) -> (b, a, kh, kw)
    src = {"c1": kernel(T["conv2d.kernel"]), "c1b": T["conv2d.bias"],
           "c2": kernel(T["conv2d_1.kernel"]), "c2b": T["conv2d_1.bias"],
           "h": hwc_to_chw(T["h.kernel"].T, 64, 7, 7).T, "hb": T["h.bias"],
           "m": T["z_mean.kernel"], "mb": T["z_mean.bias"],
           "v": T["z_log_var.kernel"], "vb": T["z_log_var.bias"],
           "d": hwc_to_chw(T["dense.kernel"], 64, 7, 7), "db": hwc_to_chw(T["dense.bias"], 64, 7, 7),
           "t1": kernel(T["conv2d_transpose.kernel"]), "t1b": T["conv2d_transpose.bias"],
           "t2": kernel(T["conv2d_transpose_1.kernel"]), "t2b": T["conv2d_transpose_1.bias"],
           "t3": kernel(T["reconstruction.kernel"]), "t3b": T["reconstruction.bias"]}
    with torch.no_grad():
        for name, a in src.items():
            p = getattr(v, name)
            if tuple(p.shape) != a.shape:
                sys.exit("vae_torch.py: %s: %s has shape %s, the network's is %s" % (
                    path, name, a.shape, tuple(p.shape)))
            p.copy_(torch.from_numpy(np.array(a)))


def losses(model, x):
    mean, log_var = model.encode(x)
    z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
    p = model.decode(z).clamp(1e-7, 1 - 1e-7)
    rec = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=(1, 2, 3)).mean()
    kl = (-0.5 * (1 + log_var - mean ** 2 - torch.exp(log_var))).sum(dim=1).mean()
    return rec, kl


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--latent", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (smoke test)")
    ap.add_argument("--json")
    ap.add_argument("--save-npz", help="the trained weights in Keras' layouts, fovea's names")
    ap.add_argument("--test-last", action="store_true", help="the test figure after the last epoch only")
    ap.add_argument("--init", help="start from these weights (a fovea model file)")
    ap.add_argument("--no-shuffle", action="store_true", help="batches in the data's order")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train = read_idx(a.data, "train-images-idx3-ubyte")
    test = read_idx(a.data, "t10k-images-idx3-ubyte")
    if a.limit:
        train = train[: a.limit]
    xtr = torch.from_numpy(train.astype(np.float32) / 255).unsqueeze(1)
    xte = torch.from_numpy(test.astype(np.float32) / 255).unsqueeze(1)
    model = VAE(a.latent)
    if a.init:
        load_keras_weights(model, a.init)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    rows = []
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.arange(len(xtr)) if a.no_shuffle else torch.randperm(len(xtr))
        sums = np.zeros(3)
        for b in range(0, len(xtr), a.batch_size):
            x = xtr[perm[b : b + a.batch_size]]
            rec, kl = losses(model, x)
            opt.zero_grad()
            (rec + kl).backward()
            opt.step()
            sums += np.array([(rec + kl).item(), rec.item(), kl.item()]) * len(x)
        train_s = time.perf_counter() - t0
        if a.test_last and epoch + 1 < a.epochs:
            rows.append({"epoch": epoch + 1, "loss": sums[0] / len(xtr), "train_s": train_s,
                         "epoch_s": train_s})
            print("epoch %d: loss %.4f; %.1f s" % (epoch + 1, rows[-1]["loss"], train_s), flush=True)
            continue
        with torch.no_grad():
            tsum = np.zeros(2)
            for b in range(0, len(xte), 500):
                rec, kl = losses(model, xte[b : b + 500])
                tsum += np.array([rec.item(), kl.item()]) * len(xte[b : b + 500])
        tsum /= len(xte)
        row = {"epoch": epoch + 1, "loss": sums[0] / len(xtr), "reconstruction_loss": sums[1] / len(xtr),
               "kl_loss": sums[2] / len(xtr), "test_negative_elbo": tsum.sum(),
               "test_reconstruction": tsum[0], "test_kl": tsum[1],
               "epoch_s": time.perf_counter() - t0, "train_s": train_s}
        rows.append(row)
        print("epoch %d: loss %.4f (reconstruction %.4f, kl %.4f); test negative ELBO %.4f "
              "(reconstruction %.4f + KL %.4f); %.1f s" % (row["epoch"], row["loss"],
              row["reconstruction_loss"], row["kl_loss"], row["test_negative_elbo"],
              row["test_reconstruction"], row["test_kl"], row["epoch_s"]), flush=True)
    if a.save_npz:
        np.savez(a.save_npz, **keras_weights(model))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": a.seed, "latent": a.latent, "threads": a.threads, "epochs": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
