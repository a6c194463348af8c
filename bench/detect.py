#!/usr/bin/python3
"""detect.py — examples/detect_scenes.fv trained by fovea and by PyTorch (bench/detect_torch.py,
the same network, loss, assignment, hyperparameters and data) in one run, for several seeds
each; both detectors' test detections are scored by the same evaluator (`fovea evaluate
--detections`, pycocotools' algorithm), and the AP at .50:.95 and AP50 are printed as mean and
standard deviation over the seeds, with each class's AP50, the mean epoch times and the
detection times (fovea detect, whole process, against PyTorch's forward, decoding and
torchvision's NMS) side by side.

usage: bench/detect.py --data DIR [--model FILE.fv] [--epochs N] [--seeds 1,2,3] [--threads T]
                       [--fovea PATH] [--json OUT]

DIR: `fovea data make detection DIR --size 96 --min-object 16 --max-object 48 ...` (the model's
input is 96 x 96).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_torch import cpu_name  # noqa: E402


def score(args, results, tmp):
    out = subprocess.run([args.fovea, "evaluate", "--detections", results, "--annotations",
                          args.data, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def run_fovea(args, seed, tmp):
    model = os.path.join(tmp, "f%d.safetensors" % seed)
    cmd = [args.fovea, "train", args.model, "--data", args.data, "--seed", str(seed), "--threads",
           str(args.threads), "--save", model]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    times = [float(t) for t in re.findall(r"^\d+/\d+ - (\d+(?:\.\d+)?)s - ", out, re.M)]
    results = os.path.join(tmp, "f%d.json" % seed)
    subprocess.run([args.fovea, "evaluate", model, "--data", args.data, "--threads",
                    str(args.threads), "--output", results], check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([args.fovea, "detect", model, "--input",
                    os.path.join(args.data, "images", "test"), "--threads", str(args.threads)],
                   check=True, capture_output=True)
    return dict(seconds=times, detect_seconds=time.perf_counter() - t0,
                eval=score(args, results, tmp))


def run_torch(args, seed, tmp):
    results, js = os.path.join(tmp, "t%d.json" % seed), os.path.join(tmp, "t%d_times.json" % seed)
    cmd = ["/usr/bin/python3", os.path.join(HERE, "detect_torch.py"), args.model, "--data",
           args.data, "--seed", str(seed), "--threads", str(args.threads), "--results", results,
           "--json", js]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    subprocess.run(cmd, check=True, capture_output=True)
    with open(js) as f:
        t = json.load(f)
    return dict(seconds=[e["seconds"] for e in t["epochs"]], detect_seconds=t["detect_seconds"],
                eval=score(args, results, tmp))


def ms(values):
    return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "examples/detect_scenes.fv"))
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--fovea", default=os.path.join(ROOT, "build/fovea"))
    ap.add_argument("--json")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = {"fovea": [], "torch": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:  # alternating, so that a change in the machine's load hits both
            for name, fn in (("fovea", run_fovea), ("torch", run_torch)):
                r = fn(args, seed, tmp)
                runs[name].append(r)
                print("%s seed %d: AP %.4f AP50 %.4f, %.1f s/epoch, detect %.2f s" % (
                    name, seed, r["eval"]["stats"]["AP"], r["eval"]["stats"]["AP50"],
                    statistics.mean(r["seconds"]), r["detect_seconds"]), flush=True)
    print("\n%s, %d threads, seeds %s" % (cpu_name(), args.threads, args.seeds))
    print("%-8s %-17s %-17s %-9s %-9s" % ("", "AP .50:.95", "AP50", "s/epoch", "detect s"))
    for name in ("fovea", "torch"):
        ap_ = ms([r["eval"]["stats"]["AP"] for r in runs[name]])
        ap50 = ms([r["eval"]["stats"]["AP50"] for r in runs[name]])
        ep = statistics.mean(s for r in runs[name] for s in r["seconds"])
        det = statistics.mean(r["detect_seconds"] for r in runs[name])
        print("%-8s %.4f ± %.4f   %.4f ± %.4f   %-9.1f %-9.2f" % (name, *ap_, *ap50, ep, det))
    print("\nAP50 per class (mean over seeds): class, fovea, torch")
    classes = [c["name"] for c in runs["fovea"][0]["eval"]["per_class"]]
    for i, c in enumerate(classes):
        f = statistics.mean(r["eval"]["per_class"][i]["AP50"] for r in runs["fovea"])
        t = statistics.mean(r["eval"]["per_class"][i]["AP50"] for r in runs["torch"])
        print("  %-14s %.3f  %.3f" % (c, f, t))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(cpu=cpu_name(), threads=args.threads, seeds=seeds, runs=runs), f,
                      indent=1)


if __name__ == "__main__":
    main()
