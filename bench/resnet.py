#!/usr/bin/python3
"""resnet.py — examples/resnet_fashion.fv trained by fovea and by PyTorch (bench/resnet_torch.py,
the same graph, hyperparameters and data) in one run, for several seeds each; prints the test
accuracy after the last epoch (mean and standard deviation over the seeds) and the mean epoch
times side by side, with the machine they were taken on.

usage: bench/resnet.py [--data DIR] [--epochs N] [--seeds 1,2,3] [--threads T] [--fovea PATH]
                       [--limit N] [--same-start] [--conv-algorithm direct,winograd] [--json OUT]

--conv-algorithm trains fovea once per algorithm listed (`fovea train --conv-algorithm`; direct,
the default, or winograd: Winograd F(2x2,3x3) for the 3x3 stride-1 layers), each a row of its own
("fovea" for direct, "fovea winograd"), beside PyTorch's in the same run.

--same-start starts both from fovea's initial weights for the seed and feeds the batches in the
data's order (no shuffling): the two trajectories then differ only by floating-point rounding,
and their per-epoch validation loss and accuracy are printed side by side — a test of the
implementation that the seed-to-seed spread of independent runs (a point or two of accuracy
after 5 epochs) cannot give.

--limit N trains and tests on the first N images only (a quick check that both sides run; its
figures mean nothing). The data default is data/fashion (`fovea data get fashion-mnist`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_torch import NAMES, cpu_name, fovea_epoch_seconds, read_idx  # noqa: E402


def subset(data, limit, out):
    """The first `limit` images of each split, as IDX files in out."""
    import numpy as np  # noqa: F401  (read_idx returns numpy arrays)

    for key, base in NAMES.items():
        a = read_idx(data, base)[:limit]
        with open(os.path.join(out, base), "wb") as f:
            dims = a.shape
            f.write(bytes([0, 0, 8, len(dims)]))
            for d in dims:
                f.write(int(d).to_bytes(4, "big"))
            f.write(a.tobytes())
    return out


MODEL = os.path.join(ROOT, "examples/resnet_fashion.fv")


def dense_flops(path):
    """The model's dense FLOPs per image (2 per multiply-add), from its file: forward f = Σ over
    conv2d of 2·P·K·F (P output pixels, K = kh·kw·C taps, F filters) + Σ over dense of 2·in·units;
    a training image costs f forward, f for the weight gradients and f for the input gradients but
    the first layer's (its input is the image). Returns (f, training flops per image, the formula).
    Shapes follow conv2d (strides, same/valid), global_average_pooling2d and dense; every other
    layer keeps its input's shape (batch_normalization, relu, add)."""
    import math
    shapes, last, f, first, terms = {}, None, 0, None, []
    for line in open(path):
        tok = line.split("#")[0].split()
        if not tok:
            continue
        kv = dict(t.split("=", 1) for t in tok[1:] if "=" in t)
        if tok[0] == "input":
            last = tuple(int(v) for v in kv["shape"].split(","))
            shapes["input"] = last
            continue
        if tok[0] in ("compile", "fit", "model"):
            continue
        src = kv.get("inputs", None)
        x = shapes[src.split(",")[0]] if src else last
        if tok[0] == "conv2d":
            kh, kw = (int(v) for v in (kv["kernel_size"] + "," + kv["kernel_size"]).split(",")[:2])
            s = int(kv.get("strides", "1").split(",")[0])
            same = kv.get("padding", "valid") == "same"
            h, w = ((math.ceil(d / s) if same else (d - k) // s + 1) for d, k in ((x[0], kh), (x[1], kw)))
            y = (h, w, int(kv["filters"]))
            flops = 2 * h * w * kh * kw * x[2] * y[2]
            terms.append("%s 2·%d·%d·%d" % (kv.get("name", "conv2d"), h * w, kh * kw * x[2], y[2]))
        elif tok[0] == "dense":
            y = (int(kv["units"]),)
            flops = 2 * x[-1] * y[0]
            terms.append("%s 2·%d·%d" % (kv.get("name", "dense"), x[-1], y[0]))
        elif tok[0] == "global_average_pooling2d":
            y, flops = (x[-1],), 0
        else:
            y, flops = x, 0
        if flops and first is None:
            first = flops
        f += flops
        last = y
        if "name" in kv:
            shapes[kv["name"]] = y
    return f, 3 * f - first, terms


def init_weights(args, seed, tmp):
    """fovea's initial weights for a seed (--same-start), or None."""
    if not args.same_start:
        return None
    path = os.path.join(tmp, "init%d.safetensors" % seed)
    if not os.path.exists(path):
        subprocess.run([args.fovea, "train", MODEL, "--data", args.data_used, "--seed", str(seed),
                        "--epochs", "0", "--save", path], check=True, capture_output=True)
    return path


def run_fovea(args, data, seed, algorithm="direct"):
    with tempfile.TemporaryDirectory() as tmp:
        hist = os.path.join(tmp, "h.csv")
        init = init_weights(args, seed, args.tmp)
        cmd = [args.fovea, "train", init or MODEL, "--data", data, "--seed", str(seed),
               "--epochs", str(args.epochs), "--threads", str(args.threads), "--history", hist]
        if init:
            cmd.append("--no-shuffle")
        if algorithm != "direct":
            cmd += ["--conv-algorithm", algorithm]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        wall = time.perf_counter() - t0
        times = fovea_epoch_seconds(out)
        with open(hist) as f:
            rows = [line.strip().split(",") for line in f if line.strip()]
        acc, loss = rows[0].index("val_accuracy"), rows[0].index("val_loss")
        return dict(seconds=times, process_seconds=wall, val_accuracy=float(rows[-1][acc]),
                    curve=[(float(r[loss]), float(r[acc])) for r in rows[1:]])


def run_torch(args, data, seed):
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "t.json")
        cmd = [sys.executable, os.path.join(HERE, "resnet_torch.py"), MODEL, "--data", data,
               "--seed", str(seed), "--epochs", str(args.epochs), "--threads", str(args.threads),
               "--json", js]
        init = init_weights(args, seed, args.tmp)
        if init:
            cmd += ["--init", init, "--no-shuffle"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        with open(js) as f:
            r = json.load(f)
        return dict(seconds=[e["seconds"] for e in r["epochs"]],
                    val_accuracy=r["epochs"][-1]["val_accuracy"],
                    curve=[(e["val_loss"], e["val_accuracy"]) for e in r["epochs"]])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "data/fashion"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--fovea", default=os.path.join(ROOT, "build/fovea"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--conv-algorithm", default="direct",
                    help="fovea's conv2d algorithms to train with, comma-separated")
    ap.add_argument("--same-start", action="store_true",
                    help="both from fovea's initial weights, batches in the data's order")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    algs = args.conv_algorithm.split(",")
    for a in algs:
        if a not in ("direct", "winograd"):
            ap.error("--conv-algorithm: %r is neither direct nor winograd" % a)
    label = {a: "fovea" if a == "direct" else "fovea " + a for a in algs}
    runners = [(label[a], lambda ar, d, s, a=a: run_fovea(ar, d, s, a)) for a in algs]
    runners.append(("torch", run_torch))
    whos = [w for w, _ in runners]
    with tempfile.TemporaryDirectory() as tmp:
        data = subset(args.data, args.limit, tmp) if args.limit else args.data
        args.data_used, args.tmp = data, tmp
        res = {w: [] for w in whos}
        for seed in seeds:
            for who, run in runners:
                r = run(args, data, seed)
                res[who].append(r)
                print("%-5s seed %d: test accuracy %.4f, %s s per epoch"
                      % (who, seed, r["val_accuracy"], ", ".join("%.1f" % t for t in r["seconds"])),
                      flush=True)
    print("\n%s, %d threads, %d epochs, seeds %s%s" % (cpu_name(), args.threads, args.epochs,
                                                       args.seeds,
                                                       ", first %d images only" % args.limit
                                                       if args.limit else ""))
    print("%-14s %-22s %s" % ("", "test accuracy", "seconds per epoch (mean)"))
    for who in whos:
        acc = [r["val_accuracy"] for r in res[who]]
        sec = [t for r in res[who] for t in r["seconds"]]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print("%-14s %.4f ± %.4f        %.1f" % (who, statistics.mean(acc), sd,
                                                 statistics.mean(sec)))
    acc = {w: statistics.mean(r["val_accuracy"] for r in res[w]) for w in whos}
    sec = {w: statistics.mean(t for r in res[w] for t in r["seconds"]) for w in whos}
    for w in whos[:-1]:
        print("%s − torch: %+.2f points; torch/%s epoch time: %.2f×"
              % (w, 100 * (acc[w] - acc["torch"]), w, sec["torch"] / sec[w]))
    f, train, terms = dense_flops(MODEL)
    ntrain, ntest = (len(read_idx(args.data, NAMES[k])) for k in ("train_y", "test_y"))
    if args.limit:
        ntrain, ntest = min(ntrain, args.limit), min(ntest, args.limit)
    work = ntrain * train + ntest * f
    print("dense work per epoch: %d training images × %.2f MFLOP (3f − the first layer's input "
          "gradient) + %d validation images × f = %.3f TFLOP, where f = %.2f MFLOP per image forward = "
          "Σ 2·pixels·taps·filters: %s" % (ntrain, train / 1e6, ntest, work / 1e12, f / 1e6,
                                           " + ".join(terms)))
    print("dense-equivalent GFLOP/s over the epoch (training and validation): %s"
          % ", ".join("%s %.1f" % (w, work / sec[w] / 1e9) for w in whos))
    # fovea prints whole milliseconds a step (Keras' format): the epoch times above are steps ×
    # that, ±0.5 ms a step; the whole process's wall time (start and data loading included, so
    # a little against fovea) divided by the epochs is not rounded
    for w in whos[:-1]:
        per = statistics.mean(r["process_seconds"] / args.epochs for r in res[w])
        print("%s, whole process / epochs: %.2f s per epoch, %.1f dense-equivalent GFLOP/s, "
              "torch/%s %.2f×" % (w, per, work / per / 1e9, w, sec["torch"] / per))
    if args.same_start:
        print("\nthe same start (fovea's initial weights, no shuffling): per epoch, fovea and torch")
        for i, seed in enumerate(seeds):
            for e, (f, t) in enumerate(zip(res[whos[0]][i]["curve"], res["torch"][i]["curve"])):
                print("  seed %d epoch %d: val_loss %.4f %.4f (%+.4f), val_accuracy %.4f %.4f "
                      "(%+.2f points)" % (seed, e + 1, f[0], t[0], f[0] - t[0], f[1], t[1],
                                         100 * (f[1] - t[1])))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(cpu=cpu_name(), threads=args.threads, epochs=args.epochs, results=res),
                      f, indent=1)


if __name__ == "__main__":
    main()
