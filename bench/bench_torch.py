#!/usr/bin/python3
"""bench_torch.py — one training epoch of the seed CNN (examples/mnist_cnn.fv) in PyTorch, and,
when a fovea command follows `--`, the same epoch in fovea, in one run with the same threads,
printing both times, their ratio and both test accuracies. bench/epoch.sh is the front end.

usage: bench_torch.py --data DIR [--threads N] [--seed S] [--json OUT] [-- FOVEA COMMAND...]

The model is Keras' seed model, layer for layer: Conv2D(32, 3, relu), Conv2D(64, 3, relu),
MaxPooling2D(2), Dropout(0.25), Flatten, Dense(128, relu), Dropout(0.5), Dense(10, softmax),
with Keras' initialisers (glorot_uniform kernels, zero biases), categorical cross-entropy (torch's
fused log-softmax form), Adam(lr 1e-3, eps 1e-7), batch 128, shuffled every epoch. Images are
stored NHWC uint8 as in fovea; they are scaled by 1/255 and converted to torch's NCHW once,
before the clock starts. Flatten order differs from Keras' (C,H,W instead of H,W,C), which
changes nothing for speed or accuracy.

Epoch time, as Keras and fovea report it, is the training steps plus the validation pass over
the test set at the epoch's end; the training steps alone are shown too.

Threads: torch's default intra-op thread count on x86-64 is half of hardware_concurrency (c10's
TaskThreadPoolBase::defaultNumThreads assumes 2-way SMT), so on a machine without SMT it uses
half the cores; this script always sets it explicitly with torch.set_num_threads(--threads).
"""

import argparse
import gzip
import json
import os
import platform
import re
import resource
import struct
import subprocess
import sys
import time

import numpy as np

NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def read_idx(directory, base):
    for name in (base, base + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                raw = f.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            rank = raw[3]
            dims = struct.unpack(">%dI" % rank, raw[4 : 4 + 4 * rank])
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims)
    raise SystemExit("bench_torch: %s/%s[.gz] not found" % (directory, base))


def read_safetensors(path):
    """The float32 tensors of a safetensors file (fovea's model files), as NumPy arrays by name
    (read-only views of the file's bytes: np.array(t) for a copy)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    return {k: np.frombuffer(raw[8 + n + d["data_offsets"][0] : 8 + n + d["data_offsets"][1]],
                             dtype="<f4").reshape(d["shape"]) for k, d in header.items()}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def seed_model(torch):
    nn = torch.nn
    m = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(9216, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
    )
    for layer in m:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)  # Keras' glorot_uniform
            nn.init.zeros_(layer.bias)
    return m


def run_torch(args):
    import torch

    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    tx = read_idx(args.data, NAMES["train_x"])
    ty = read_idx(args.data, NAMES["train_y"])
    vx = read_idx(args.data, NAMES["test_x"])
    vy = read_idx(args.data, NAMES["test_y"])
    # NHWC uint8 (N, 28, 28[, 1]) -> NCHW float32 in [0, 1], once, outside the timing.
    def to_nchw(a):
        a = a.reshape(a.shape[0], a.shape[1], a.shape[2], -1)
        return torch.from_numpy(a.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()

    X, Y = to_nchw(tx), torch.from_numpy(ty.astype(np.int64))
    VX, VY = to_nchw(vx), torch.from_numpy(vy.astype(np.int64))

    model = seed_model(torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    n, batch = X.shape[0], args.batch_size
    steps = (n + batch - 1) // batch

    gen = torch.Generator().manual_seed(args.seed)
    t_train = t_val = 0.0
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        model.train()
        t0 = time.perf_counter()
        loss_sum, correct = 0.0, 0
        for s in range(steps):
            idx = perm[s * batch : (s + 1) * batch]
            xb, yb = X[idx], Y[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
        t_train += time.perf_counter() - t0

        model.eval()
        t1 = time.perf_counter()
        vloss, vcorrect = 0.0, 0
        with torch.no_grad():
            for s in range(0, VX.shape[0], batch):
                out = model(VX[s : s + batch])
                vloss += loss_fn(out, VY[s : s + batch]).item() * out.shape[0]
                vcorrect += (out.argmax(1) == VY[s : s + batch]).sum().item()
        t_val += time.perf_counter() - t1
        if args.epochs > 1:
            print("  PyTorch epoch %d/%d - loss: %.4f - accuracy: %.4f - val_loss: %.4f - "
                  "val_accuracy: %.4f" % (epoch + 1, args.epochs, loss_sum / n, correct / n,
                                          vloss / VX.shape[0], vcorrect / VX.shape[0]), flush=True)
    # Figures per epoch (the mean over the epochs run); accuracy and loss of the last epoch.
    t_train /= args.epochs
    t_val /= args.epochs

    return {
        "framework": "PyTorch %s" % torch.__version__.split("+")[0],
        "default_threads": default_threads,
        "threads": torch.get_num_threads(),
        "train_images": n,
        "test_images": int(VX.shape[0]),
        "steps": steps,
        "train_seconds": t_train,
        "val_seconds": t_val,
        "epoch_seconds": t_train + t_val,
        "loss": loss_sum / n,
        "accuracy": correct / n,
        "test_loss": vloss / VX.shape[0],
        "test_accuracy": vcorrect / VX.shape[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


PER_STEP = re.compile(r"(\d+)/(\d+) - [\d.]+s - ([\d.]+)(us|ms|s)/step")


def run_fovea(cmd):
    """Runs the fovea command, echoing its output, and reads the epoch time from its last
    `N/N - Ts - Xms/step` line and the test accuracy from `Test accuracy: A`."""
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        sys.stdout.write("  fovea| " + line)
        sys.stdout.flush()
        lines.append(line)
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit("bench: fovea exited with status %d" % rc)
    text = "".join(lines)
    steps = per_step = None
    for m in PER_STEP.finditer(text):
        steps = int(m.group(2))
        per_step = float(m.group(3)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(4)]
    acc = re.findall(r"Test accuracy: ([\d.]+)", text)
    loss = re.findall(r"Test loss: ([\d.]+)", text)
    if steps is None or not acc:
        raise SystemExit("bench: could not read the epoch time and test accuracy of fovea")
    return {
        "framework": "fovea",
        "steps": steps,
        "epoch_seconds": steps * per_step,
        "test_accuracy": float(acc[-1]),
        "test_loss": float(loss[-1]) if loss else float("nan"),
        "wall_seconds": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
    }


def main():
    argv = sys.argv[1:]
    fovea_cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, fovea_cmd = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description="One epoch of the seed CNN in PyTorch (and fovea).")
    ap.add_argument("--data", required=True, help="folder with the four IDX files")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--epochs", type=int, default=1,
                    help="epochs to train (times are per epoch; accuracy after the last)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    fv = run_fovea(fovea_cmd) if fovea_cmd else None
    print("PyTorch: training one epoch with %d threads..." % args.threads, flush=True)
    t0 = time.perf_counter()
    pt = run_torch(args)
    pt["wall_seconds"] = time.perf_counter() - t0

    n, nt = pt["train_images"], pt["test_images"]
    print()
    print("Seed CNN, one epoch: %d training images, batch %d, Adam lr 1e-3; validation on %d "
          "test images" % (n, args.batch_size, nt))
    print("machine: %s, %d CPUs online; threads: %d" % (cpu_name(), os.cpu_count(), args.threads))
    if pt["default_threads"] != args.threads:
        print("note: torch.get_num_threads() defaulted to %d here (c10 halves "
              "hardware_concurrency on x86-64); set to %d for this run"
              % (pt["default_threads"], args.threads))
    rows = [("", "fovea", pt["framework"])]

    def cell(r, key, fmt):
        return "-" if r is None or key not in r else fmt % r[key]

    rows.append(("epoch s (train + val)", cell(fv, "epoch_seconds", "%.1f"),
                 cell(pt, "epoch_seconds", "%.1f")))
    rows.append(("  train steps only, s", "-", cell(pt, "train_seconds", "%.1f")))
    rows.append(("images/s (per epoch)",
                 "-" if fv is None else "%.0f" % (n / fv["epoch_seconds"]),
                 "%.0f" % (n / pt["epoch_seconds"])))
    rows.append(("test accuracy", cell(fv, "test_accuracy", "%.4f"),
                 cell(pt, "test_accuracy", "%.4f")))
    rows.append(("test loss", cell(fv, "test_loss", "%.4f"), cell(pt, "test_loss", "%.4f")))
    rows.append(("peak RSS, MB", cell(fv, "peak_rss_mb", "%.0f"), cell(pt, "peak_rss_mb", "%.0f")))
    rows.append(("process wall s", cell(fv, "wall_seconds", "%.1f"),
                 cell(pt, "wall_seconds", "%.1f")))
    for r in rows:
        print("  %-24s %12s %14s" % r)
    if fv is not None:
        ratio = pt["epoch_seconds"] / fv["epoch_seconds"]
        print("ratio PyTorch/fovea epoch time: %.2f (%s)"
              % (ratio, "fovea faster" if ratio > 1 else "fovea slower"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pytorch": pt, "fovea": fv, "threads": args.threads}, f, indent=1)
    return 0


def fovea_epoch_seconds(out):
    """The epochs' times from `fovea train --verbose 2` lines ("469/469 - 12s - 25ms/step - ...")."""
    units = {"ms": 1e-3, "us": 1e-6}
    # steps × the time per step, unless that is printed in whole seconds: then the epoch's seconds
    return [float(m.group(2)) if m.group(4) == "s" else
            int(m.group(1)) * float(m.group(3)) * units[m.group(4)]
            for m in re.finditer(r"^(\d+)/\1 - (\d+)s - ([\d.]+)(s|ms|us)/step", out, re.M)]


if __name__ == "__main__":
    sys.exit(main())

