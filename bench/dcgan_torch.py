#!/usr/bin/python3
"""dcgan_torch.py — examples/dcgan.fv (a DCGAN after Radford et al.) in PyTorch, trained as fovea's
`fit gan=generated` trains it, on the same data: the anchor for fovea's DCGAN figures.

usage: dcgan_torch.py --data DIR [--epochs N] [--seed S] [--threads N] [--limit N]
                      [--json OUT] [--save-npz OUT.npz]

The generator: z (100) → Dense(7·7·128, no bias) → BatchNormalization → ReLU → Reshape(7, 7, 128)
→ Conv2DTranspose(64, 4, strides 2, same, no bias) → BatchNormalization → ReLU →
Conv2DTranspose(1, 4, strides 2, same) → tanh. The discriminator: Conv2D(64, 4, strides 2, same)
→ leaky ReLU (slope 0.2, Keras' leaky_relu activation) → Conv2D(128, 4, strides 2, same) → leaky
ReLU → Flatten → Dense(1) → sigmoid. Keras' padding 'same' for kernel 4 and stride 2 is PyTorch's
padding=1 for both the convolution (28 → 14 → 7: one row each side) and the transposed one
(fovea's lead of 1, src/kernels/conv_variants.c).

Initialisation as fovea's (Keras'): glorot_uniform kernels with Keras' fans (a transposed kernel
(kh, kw, filters, in): kh·kw·filters and kh·kw·in), zero biases, BatchNormalization gamma 1 and
beta 0 — not the N(0, 0.02) of Radford et al. and PyTorch's example, because examples/dcgan.fv
does not ask for it. BatchNormalization is Keras' (epsilon 1e-3, momentum 0.99, the moving variance
moved with the batch's biased variance), written out because torch's moves it with the unbiased
one. The loss is binary cross-entropy with probabilities clipped to [1e-7, 1 - 1e-7] (Keras'), the
non-saturating recipe of PyTorch's DCGAN example: the discriminator's gradient of
BCE(D(G(z)), 0) + BCE(D(x), 1) and its Adam step, then the generator's gradient of BCE(D(G(z)), 1)
through the updated discriminator and its Adam step; d_loss is that sum, g_loss the second.
The generator runs once per step (its moving statistics move once, with that batch). Two Adams,
learning rate 2e-4, beta_1 0.5, eps 1e-7 (torch adds eps after the bias correction of v, Keras
before: far below the seeds' spread). Batch 128, shuffled each epoch, the last batch smaller.
Real pixels x/255·2 − 1 (PyTorch's Normalize(0.5, 0.5), fovea's scaling for a tanh generator);
z ~ N(0, I) drawn from torch's generator with the seed. Torch flattens and reshapes in (C, H, W)
order; --save-npz writes the weights in Keras' layouts and order under fovea's tensor names, for
bench/generative.py to evaluate with `fovea evaluate`.
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
from bench_torch import read_idx  # noqa: E402  (the IDX reader of the seed benchmark)
from vae_torch import chw_to_hwc, keras_kernel  # noqa: E402

LATENT = 100


def glorot(shape, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(shape).uniform_(-limit, limit)


class BatchNorm(torch.nn.Module):
    """Keras' BatchNormalization over dimension 1 (and 2, 3 of images): batch mean and biased
    variance in training, moving statistics with momentum 0.99 moved by them, epsilon 1e-3."""

    def __init__(self, n):
        super().__init__()
        self.gamma = torch.nn.Parameter(torch.ones(n))
        self.beta = torch.nn.Parameter(torch.zeros(n))
        self.register_buffer("moving_mean", torch.zeros(n))
        self.register_buffer("moving_variance", torch.ones(n))

    def forward(self, x):
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean, var = x.mean(dims), x.var(dims, unbiased=False)
            with torch.no_grad():
                self.moving_mean.mul_(0.99).add_(0.01 * mean)
                self.moving_variance.mul_(0.99).add_(0.01 * var)
        else:
            mean, var = self.moving_mean, self.moving_variance
        x = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + 1e-3)
        return self.gamma.view(shape) * x + self.beta.view(shape)


class Generator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        p = torch.nn.Parameter
        self.d = p(glorot((LATENT, 6272), LATENT, 6272))  # features in (C, H, W) order
        self.bn1 = BatchNorm(6272)
        # transposed kernels (in, out, kh, kw); Keras' fans kh·kw·filters, kh·kw·in
        self.t1 = p(glorot((128, 64, 4, 4), 16 * 64, 16 * 128))
        self.bn2 = BatchNorm(64)
        self.t2 = p(glorot((64, 1, 4, 4), 16 * 1, 16 * 64))
        self.t2b = p(torch.zeros(1))

    def forward(self, z):
        x = F.relu(self.bn1(z @ self.d)).view(-1, 128, 7, 7)
        x = F.relu(self.bn2(F.conv_transpose2d(x, self.t1, stride=2, padding=1)))
        return torch.tanh(F.conv_transpose2d(x, self.t2, self.t2b, stride=2, padding=1))


class Discriminator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        p = torch.nn.Parameter
        self.c1 = p(glorot((64, 1, 4, 4), 16 * 1, 16 * 64))
        self.c1b = p(torch.zeros(64))
        self.c2 = p(glorot((128, 64, 4, 4), 16 * 64, 16 * 128))
        self.c2b = p(torch.zeros(128))
        self.o = p(glorot((6272, 1), 6272, 1))  # rows in (C, H, W) order
        self.ob = p(torch.zeros(1))

    def forward(self, x):
        x = F.leaky_relu(F.conv2d(x, self.c1, self.c1b, stride=2, padding=1), 0.2)
        x = F.leaky_relu(F.conv2d(x, self.c2, self.c2b, stride=2, padding=1), 0.2)
        return torch.sigmoid(x.flatten(1) @ self.o + self.ob)


def bce(p, target):
    p = p.clamp(1e-7, 1 - 1e-7)
    return -(torch.log(p) if target else torch.log(1 - p)).mean()


def keras_weights(g, d):
    """The weights in Keras' layouts under fovea's tensor names (examples/dcgan.fv's layers)."""
    t = lambda x: x.detach().numpy().astype(np.float32)  # noqa: E731
    kernel = keras_kernel
    w = {"dense.kernel": t(chw_to_hwc(g.d, 128, 7, 7)),
         "conv2d_transpose.kernel": kernel(g.t1),
         "batch_normalization_1.gamma": t(g.bn2.gamma), "batch_normalization_1.beta": t(g.bn2.beta),
         "batch_normalization_1.moving_mean": t(g.bn2.moving_mean),
         "batch_normalization_1.moving_variance": t(g.bn2.moving_variance),
         "generated.kernel": kernel(g.t2), "generated.bias": t(g.t2b),
         "conv2d.kernel": kernel(d.c1), "conv2d.bias": t(d.c1b),
         "conv2d_1.kernel": kernel(d.c2), "conv2d_1.bias": t(d.c2b),
         "realness.kernel": t(chw_to_hwc(d.o.T, 128, 7, 7).T), "realness.bias": t(d.ob)}
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        w["batch_normalization." + name] = t(chw_to_hwc(getattr(g.bn1, name), 128, 7, 7))
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images")
    ap.add_argument("--json")
    ap.add_argument("--save-npz", help="the trained weights in Keras' layouts, fovea's names")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train = read_idx(a.data, "train-images-idx3-ubyte")
    if a.limit:
        train = train[: a.limit]
    x_all = torch.from_numpy(train.astype(np.float32) / 255 * 2 - 1).unsqueeze(1)
    g, d = Generator(), Discriminator()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    rows = []
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x_all))
        sums = np.zeros(2)
        for b in range(0, len(x_all), a.batch_size):
            real = x_all[perm[b : b + a.batch_size]]
            fake = g(torch.randn(len(real), LATENT))
            d_loss = bce(d(fake.detach()), 0) + bce(d(real), 1)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = bce(d(fake), 1)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            sums += np.array([d_loss.item(), g_loss.item()]) * len(real)
        row = {"epoch": epoch + 1, "d_loss": sums[0] / len(x_all), "g_loss": sums[1] / len(x_all),
               "epoch_s": time.perf_counter() - t0}
        rows.append(row)
        print("epoch %d: d_loss %.4f, g_loss %.4f; %.1f s" % (row["epoch"], row["d_loss"],
              row["g_loss"], row["epoch_s"]), flush=True)
    g.eval()
    if a.save_npz:
        np.savez(a.save_npz, **keras_weights(g, d))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": a.seed, "threads": a.threads, "epochs": rows}, f, indent=1)


if __name__ == "__main__":
    main()
