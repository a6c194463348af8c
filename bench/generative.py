#!/usr/bin/python3
"""generative.py — fovea's VAE and DCGAN against the same networks in PyTorch, in one run, over
several seeds: examples/vae.fv against bench/vae_torch.py, examples/dcgan.fv against
bench/dcgan_torch.py, trained on the same images with the same hyperparameters, each seed's fovea
run and PyTorch run one after the other. Every trained model — PyTorch's too, its weights
written into a fovea model file — is judged by the same `fovea evaluate`: the VAE's test negative
ELBO per image (z sampled once per image, seeded), and for both models the FID-style distance
between S samples and the first S test images in the 128 features of layer 'dense' of one
classifier (examples/mnist_cnn.fv, trained by fovea on the same training images for one epoch).

usage: generative.py [--data DIR] [--fovea PATH] [--limit N] [--latent 2|16] [--vae-epochs E]
                     [--gan-epochs E] [--vae-seeds K] [--gan-seeds K] [--first-seed F]
                     [--samples S] [--threads T] [--work DIR] [--json OUT] [--smoke]
                     [--same-start]

--first-seed F runs seeds F to F + K - 1 (several invocations can share the seeds out).
--latent 16 compares examples/vae16.fv (the same VAE with a 16-D latent space) instead of
examples/vae.fv's 2-D one.
--same-start (the VAE only) starts each seed's two runs from the same weights, fovea's initial ones for
the seed (`fovea train MODEL --epochs 0 --seed S --save W`, loaded by vae_torch.py --init), with the
batches in the data's order on both sides (--no-shuffle): the two runs then differ only by the noise
drawn for z and by rounding, so that a seed's two figures can be compared pair by pair.
--limit N trains on the first N training images (all test images are used); --smoke is a check
that the pipeline runs (256 images, one epoch, one seed each, 256 samples), not a comparison.
Prints each run's figures and epoch time, then the means (± sample standard deviation) per
framework. Needs Debian's python3-torch and python3-numpy.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_torch import fovea_epoch_seconds, read_idx  # noqa: E402  (shared with the seed benchmark)


def run(cmd, what):
    """Runs cmd, returns its standard output; stops the benchmark with its output if it fails."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit("generative.py: %s failed (exit %d):\n%s\n%s" % (what, p.returncode, " ".join(cmd),
                                                                  p.stdout[-4000:]))
    return p.stdout, time.perf_counter() - t0


def subset(src, dst, limit):
    """dst: the first `limit` training images and labels of IDX folder src, and all its test set."""
    os.makedirs(dst, exist_ok=True)
    for base in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        a = read_idx(src, base)
        if base.startswith("train") and limit:
            if limit > len(a):
                sys.exit("generative.py: --limit %d: %s has %d images" % (limit, src, len(a)))
            a = a[:limit]
        with open(os.path.join(dst, base), "wb") as f:  # IDX: 0, 0, 8 (unsigned byte), rank
            f.write(bytes([0, 0, 8, a.ndim]) + struct.pack(">%dI" % a.ndim, *a.shape) + a.tobytes())


def write_fovea(template, npz, out):
    """out: the fovea model file `template` (saved by `fovea train --epochs 0 --save`: the model
    text and the tensors' names) with every tensor's values taken from npz, shapes checked."""
    with open(template, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    weights = np.load(npz)
    names = [k for k in header if k != "__metadata__"]
    if sorted(names) != sorted(weights.files):
        sys.exit("generative.py: %s holds %s, the model %s" % (npz, sorted(weights.files),
                                                               sorted(names)))
    blobs, offset = [], 0
    names.sort(key=lambda k: header[k]["data_offsets"][0])
    for k in names:
        a = np.ascontiguousarray(weights[k], dtype="<f4")
        if list(a.shape) != header[k]["shape"] or header[k]["dtype"] != "F32":
            sys.exit("generative.py: %s: tensor %s is %s, the model's %s" % (npz, k, a.shape,
                                                                              header[k]["shape"]))
        header[k]["data_offsets"] = [offset, offset + a.nbytes]
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def evaluate(a, model, cnn):
    out, _ = run([a.fovea, "evaluate", model, "--data", a.sub, "--features", cnn, "--layer",
                  "dense", "--samples", str(a.samples), "--seed", "1", "--threads",
                  str(a.threads)], "fovea evaluate " + model)
    r = {}
    m = re.search(r"^Negative ELBO per image: ([\d.e+-]+)", out, re.M)
    if m:
        r["negative_elbo"] = float(m.group(1))
    m = re.search(r"^FID-style distance: ([\d.e+-]+)", out, re.M)
    if not m:
        sys.exit("generative.py: no FID-style distance in:\n" + out)
    r["fid"] = float(m.group(1))
    m = re.search(r"^Samples by predicted class: (.*)$", out, re.M)
    r["classes"] = m.group(1) if m else ""
    return r


def train_pair(a, kind, seed, cnn, templates):
    """One seed of one model: fovea's run, then PyTorch's; both evaluated by fovea."""
    fv_model, script, epochs = {"vae": (vae_file(a), "vae_torch.py", a.vae_epochs),
                                "gan": ("examples/dcgan.fv", "dcgan_torch.py", a.gan_epochs)}[kind]
    res = {}
    f_out = os.path.join(a.work, "%s_fovea_%d.safetensors" % (kind, seed))
    start, same = os.path.join(ROOT, fv_model), []
    if a.same_start:
        start = os.path.join(a.work, "%s_init_%d.safetensors" % (kind, seed))
        run([a.fovea, "train", os.path.join(ROOT, fv_model), "--data", a.sub, "--epochs", "0", "--seed",
             str(seed), "--verbose", "0", "--save", start], "fovea's initial weights, seed %d" % seed)
        same = ["--no-shuffle"]
    out, wall = run([a.fovea, "train", start, "--data", a.sub, "--epochs",
                     str(epochs), "--seed", str(seed), "--threads", str(a.threads), "--verbose", "2",
                     "--no-validation", "--save", f_out] + same, "fovea train %s seed %d" % (fv_model, seed))
    res["fovea"] = {"epoch_s": fovea_epoch_seconds(out), "wall_s": wall, **evaluate(a, f_out, cnn)}
    npz = os.path.join(a.work, "%s_torch_%d.npz" % (kind, seed))
    js = os.path.join(a.work, "%s_torch_%d.json" % (kind, seed))
    t_out = os.path.join(a.work, "%s_torch_%d.safetensors" % (kind, seed))
    _, wall = run([sys.executable, os.path.join(HERE, script), "--data", a.sub, "--epochs",
                   str(epochs), "--seed", str(seed), "--threads", str(a.threads), "--save-npz", npz,
                   "--json", js] + (["--test-last", "--latent", str(a.latent)] if kind == "vae" else []) +
                  (["--init", start] + same if same else []),
                "%s seed %d" % (script, seed))
    write_fovea(templates[kind], npz, t_out)
    with open(js) as f:
        rows = json.load(f)["epochs"]
    # the VAE script's epoch_s includes its test pass: train_s is the training alone
    res["torch"] = {"epoch_s": [r.get("train_s", r["epoch_s"]) for r in rows], "wall_s": wall,
                    **evaluate(a, t_out, cnn)}
    if kind == "vae":  # PyTorch's own test figure, a check of the weights' conversion
        res["torch"]["own_negative_elbo"] = rows[-1]["test_negative_elbo"]
    for fw in ("fovea", "torch"):
        r = res[fw]
        own = " (its own %.3f)" % r["own_negative_elbo"] if "own_negative_elbo" in r else ""
        print("  %s seed %d %-5s: %sFID-style %.3f; epochs %s s; classes %s" % (
            kind, seed, fw, "-ELBO %.3f%s, " % (r["negative_elbo"], own) if "negative_elbo" in r else "",
            r["fid"], ", ".join("%.1f" % t for t in r["epoch_s"]), r["classes"]), flush=True)
    return res


def vae_file(a):
    return "examples/vae.fv" if a.latent == 2 else "examples/vae16.fv"


def summary(values):
    if len(values) > 1:
        return "%.3f ± %.3f" % (statistics.mean(values), statistics.stdev(values))
    return "%.3f" % values[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "fashion"))
    ap.add_argument("--fovea", default=os.path.join(ROOT, "build", "fovea"))
    ap.add_argument("--limit", type=int, default=10000)
    ap.add_argument("--latent", type=int, choices=(2, 16), default=2)
    ap.add_argument("--vae-epochs", type=int, default=2)
    ap.add_argument("--gan-epochs", type=int, default=1)
    ap.add_argument("--vae-seeds", type=int, default=3)
    ap.add_argument("--gan-seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", help="keep the models here (default: a temporary folder)")
    ap.add_argument("--json")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--same-start", action="store_true",
                    help="the VAE's two runs of a seed from fovea's initial weights, batches unshuffled")
    a = ap.parse_args()
    if a.smoke:
        a.limit, a.vae_epochs, a.gan_epochs, a.vae_seeds, a.gan_seeds, a.samples = 256, 1, 1, 1, 1, 256
        a.gan_seeds = 0 if a.same_start else 1
    if a.same_start and a.gan_seeds:
        ap.error("--same-start is for the VAE (bench/dcgan_torch.py has no --init): add --gan-seeds 0")
    a.fovea = os.path.abspath(a.fovea)
    keep = a.work is not None
    a.work = os.path.abspath(a.work) if keep else tempfile.mkdtemp(prefix="fovea-generative.")
    os.makedirs(a.work, exist_ok=True)
    try:
        a.sub = os.path.join(a.work, "data")
        subset(a.data, a.sub, a.limit)
        print("generative.py: %s training images of %s, all test images; VAE (%s) %d epochs x %d seeds, "
              "DCGAN %d epochs x %d seeds; %d samples; %d thread(s) each" % (
                  a.limit or "all", a.data, vae_file(a), a.vae_epochs, a.vae_seeds, a.gan_epochs, a.gan_seeds,
                  a.samples, a.threads), flush=True)
        cnn = os.path.join(a.work, "cnn.safetensors")
        out, _ = run([a.fovea, "train", os.path.join(ROOT, "examples", "mnist_cnn.fv"), "--data",
                      a.sub, "--epochs", "1", "--seed", "1", "--threads", str(a.threads),
                      "--verbose", "0", "--save", cnn], "the feature classifier")
        m = re.search(r"^Test accuracy: ([\d.]+)", out, re.M)
        print("feature classifier (examples/mnist_cnn.fv, 1 epoch): test accuracy %s" %
              (m.group(1) if m else "?"), flush=True)
        templates = {}
        for kind, model in (("vae", vae_file(a)), ("gan", "examples/dcgan.fv")):
            templates[kind] = os.path.join(a.work, kind + "_template.safetensors")
            run([a.fovea, "train", os.path.join(ROOT, model), "--data", a.sub,
                 "--epochs", "0", "--verbose", "0", "--save", templates[kind]], "a template model")
        results = {"settings": {k: getattr(a, k) for k in ("limit", "latent", "vae_epochs", "gan_epochs",
                                                           "samples", "threads", "same_start")},
                   "vae": [], "gan": []}
        for kind, seeds in (("vae", a.vae_seeds), ("gan", a.gan_seeds)):
            for seed in range(a.first_seed, a.first_seed + seeds):
                results[kind].append(train_pair(a, kind, seed, cnn, templates))
        print("\nmeans over seeds (± sample standard deviation); epoch times on this machine, %d "
              "thread(s) each" % a.threads)
        for kind, name in (("vae", "VAE (%s)" % vae_file(a)), ("gan", "DCGAN (examples/dcgan.fv)")):
            runs = results[kind]
            if not runs:
                continue
            for fw, label in (("fovea", "fovea"), ("torch", "PyTorch")):
                rs = [r[fw] for r in runs]
                line = "%-26s %-8s" % (name, label)
                if "negative_elbo" in rs[0]:
                    line += " test negative ELBO %s;" % summary([r["negative_elbo"] for r in rs])
                line += " FID-style %s; epoch %.1f s" % (
                    summary([r["fid"] for r in rs]),
                    statistics.mean(t for r in rs for t in r["epoch_s"]))
                print(line)
            if kind == "vae":
                f = statistics.mean(r["fovea"]["negative_elbo"] for r in runs)
                t = statistics.mean(r["torch"]["negative_elbo"] for r in runs)
                print("%-26s fovea's negative ELBO is %+.2f%% of PyTorch's" % ("", 100 * (f - t) / t))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        if not keep:
            shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
