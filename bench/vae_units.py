#!/usr/bin/python3
"""vae_units.py — how much of a trained VAE's encoder is alive: for each model (a fovea model file
of examples/vae.fv or vae16.fv, PyTorch's too once bench/generative.py has written it as one), the
units of the 16-unit ReLU layer `h` (before z_mean and z_log_var) that are positive for at least
one test image, the fraction of test images each is positive for, and the KL divergence per latent
dimension averaged over the test images (a dimension with KL near 0 carries nothing: its code is
the prior's). A ReLU unit that is zero for every input gets no gradient and stays dead; in Keras'
VAE example most of h's units die in the first epoch, and how many survive decides most of the
test negative ELBO (bench/generative.py's seeds, README "Against PyTorch").

usage: vae_units.py --data DIR MODEL.safetensors [MODEL ...]
  --data DIR   a folder with t10k-images-idx3-ubyte[.gz] (the test images, scaled by 1/255)
Needs Debian's python3-torch and python3-numpy (the forward pass of the encoder only).
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import read_idx, read_safetensors  # noqa: E402


def conv_same_s2(x, kernel, bias):
    """Keras' Conv2D(strides=2, padding='same') on NHWC x: the odd extra row and column at the
    bottom and right (as src/kernels and bench/vae_torch.py pad)."""
    x = F.pad(x.permute(0, 3, 1, 2), (0, 1, 0, 1))
    k = torch.from_numpy(np.array(kernel)).permute(3, 2, 0, 1)
    return F.conv2d(x, k, torch.from_numpy(np.array(bias)), stride=2).permute(0, 2, 3, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    x = torch.from_numpy(read_idx(a.data, "t10k-images-idx3-ubyte").astype(np.float32) / 255)
    x = x.unsqueeze(-1)
    for path in a.models:
        w = read_safetensors(path)
        t = lambda k: torch.from_numpy(np.array(w[k]))  # noqa: E731
        with torch.no_grad():
            h = F.relu(conv_same_s2(x, w["conv2d.kernel"], w["conv2d.bias"]))
            h = F.relu(conv_same_s2(h, w["conv2d_1.kernel"], w["conv2d_1.bias"]))
            h = F.relu(h.reshape(len(h), -1) @ t("h.kernel") + t("h.bias"))
            mean = h @ t("z_mean.kernel") + t("z_mean.bias")
            log_var = h @ t("z_log_var.kernel") + t("z_log_var.bias")
            kl = (-0.5 * (1 + log_var - mean ** 2 - log_var.exp())).mean(0)
        active = (h > 0).float().mean(0)
        alive = [i for i in range(h.shape[1]) if active[i] > 0]
        print("%s: h units alive %d of %d (%s; positive for %s of the test images); latent "
              "dimensions with KL > 0.1: %d of %d; KL %.2f" % (
                  path, len(alive), h.shape[1], ", ".join(map(str, alive)) or "none",
                  ", ".join("%.2f" % active[i] for i in alive) or "-", int((kl > 0.1).sum()),
                  len(kl), float(kl.sum())))


if __name__ == "__main__":
    main()
