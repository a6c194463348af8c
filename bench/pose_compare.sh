#!/usr/bin/env bash
# pose_compare.sh — a pose network (a .fv file ending in the pose head) trained by fovea and the
# same network, loss and data in PyTorch (bench/pose_torch.py, Debian's python3-torch), one seed
# after the other, alternating fovea and PyTorch so that both see alike conditions; prints each
# run's ADD accuracy (< 0.1 d), mean rotation and translation errors on the test split (both
# frameworks' estimates scored by `fovea evaluate`, PyTorch's from the CSV pose_torch.py --poses
# writes, so that the figures are one definition) and its
# epoch times (with the validation pass: fovea's as it prints them, as Keras does, PyTorch's
# training and validation times), then the mean and sample standard deviation over the seeds of
# each framework.
#
# usage: bench/pose_compare.sh --data DIR --model M.fv [--epochs N] [--seeds "0 1 2"]
#                              [--threads N] [--out FOLDER] [--report]
#   --model M.fv  its pose head with crop=box gives pose_torch.py --crop; its compile line's
#                 learning_rate= and decay_steps= are passed on (Adam, batch 32: pose_torch.py's)
#   --threads N   fovea's --threads and PyTorch's torch.set_num_threads (default 1)
#   --out FOLDER  the runs' models, logs and JSON (default pose-compare); FOLDER/summary.json
#   --report      train nothing: the table of the seeds' runs already in FOLDER (runs of several
#                 invocations gathered in one folder, e.g. --seeds "0 1 2" then "3 4")
# Builds nothing: fovea from build/ (or BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

data="" model="" epochs=4 seeds="0 1 2" threads=1 out=pose-compare report=0
py=/usr/bin/python3 # Debian's, which has python3-torch
while [ $# -gt 0 ]; do
    case "$1" in
    --data) data=${2:?--data needs a folder}; shift ;;
    --model) model=${2:?--model needs a .fv file}; shift ;;
    --epochs) epochs=${2:?--epochs needs a number}; shift ;;
    --seeds) seeds=${2:?--seeds needs a list}; shift ;;
    --threads) threads=${2:?--threads needs a number}; shift ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --report) report=1 ;;
    -h | --help) sed -n '/^# usage:/,/^[^#]/p' "$0" | sed -e '/^[^#]/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pose_compare.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
run_seeds=$seeds
if [ "$report" = 1 ]; then
    run_seeds=""
else
    [ -n "$data" ] && [ -n "$model" ] ||
        { echo "pose_compare.sh: --data and --model are required" >&2; exit 2; }
    fovea=${BUILD_DIR:-build}/fovea
    [ -x "$fovea" ] || { echo "pose_compare.sh: $fovea not built (cmake --build build)" >&2; exit 1; }
    mkdir -p "$out"
    torch_args=(--data "$data" --epochs "$epochs" --threads "$threads")
    grep -q '^pose .*crop=box' "$model" && torch_args+=(--crop)
    lr=$(sed -n 's/^compile .*learning_rate=\([^ ]*\).*/\1/p' "$model")
    [ -n "$lr" ] && torch_args+=(--learning-rate "$lr")
    ds=$(sed -n 's/^compile .*decay_steps=\([^ ]*\).*/\1/p' "$model")
    [ -n "$ds" ] && torch_args+=(--decay-steps "$ds")
fi

for seed in $run_seeds; do
    echo "== seed $seed: fovea" >&2
    "$fovea" train "$model" --data "$data" --epochs "$epochs" --seed "$seed" --threads "$threads" \
        --verbose 2 --save "$out/fovea-$seed.safetensors" >"$out/fovea-$seed.log" 2>&1
    "$fovea" evaluate "$out/fovea-$seed.safetensors" --data "$data" --threads "$threads" \
        --json >"$out/fovea-$seed.json"
    echo "== seed $seed: PyTorch" >&2
    "$py" bench/pose_torch.py "${torch_args[@]}" --seed "$seed" --json "$out/torch-$seed.json" \
        --poses "$out/torch-$seed.csv" >"$out/torch-$seed.log" 2>&1
    "$fovea" evaluate --poses "$out/torch-$seed.csv" --data "$data" \
        --json >"$out/torch-$seed.eval.json"
done

"$py" - "$out" "$seeds" <<'PY'
import json, re, statistics, sys
out, seeds = sys.argv[1], sys.argv[2].split()
rows = {"fovea": [], "PyTorch": []}
for s in seeds:
    f = json.load(open("%s/fovea-%s.json" % (out, s)))
    # "625/625 - 26s - 41ms/step - ...": the epoch (its validation included, as Keras) from the
    # time a step, which has three digits where the seconds have two
    times = [int(n) * float(v) * (1e-3 if u == "ms" else 1) for n, v, u in re.findall(
        r"^(\d+)/\d+ - [\d.]+s - ([\d.]+)(ms|s)/step", open("%s/fovea-%s.log" % (out, s)).read(), re.M)]
    rows["fovea"].append((f["add_accuracy"], f["rotation_error_mean_deg"], f["translation_error_mean_mm"], times))
    t = json.load(open("%s/torch-%s.json" % (out, s)))
    e = json.load(open("%s/torch-%s.eval.json" % (out, s)))
    rows["PyTorch"].append((e["add_accuracy"], e["rotation_error_mean_deg"], e["translation_error_mean_mm"],
                            [e["train_s"] + e.get("val_s", 0) for e in t["epochs"]]))
summary = {}
print("%-8s %5s %8s %10s %10s  %s" % ("", "seed", "ADD", "rot (deg)", "trans (mm)", "epoch times (s)"))
for name, rs in rows.items():
    for s, r in zip(seeds, rs):
        print("%-8s %5s %8.4f %10.2f %10.2f  %s" % (name, s, r[0], r[1], r[2], " ".join("%.1f" % x for x in r[3])))
    def ms(k):
        v = [r[k] for r in rs]
        return statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0
    ep = [x for r in rs for x in r[3]]
    summary[name] = {"add_accuracy": ms(0), "rotation_error_deg": ms(1), "translation_error_mm": ms(2),
                     "epoch_s": (statistics.mean(ep), statistics.stdev(ep) if len(ep) > 1 else 0.0)}
print()
for name, m in summary.items():
    print("%-8s ADD %.4f +- %.4f, rotation error %.2f +- %.2f deg, translation error %.2f +- %.2f mm, "
          "epoch %.1f +- %.1f s (mean +- sd over %d seeds)" % (name, *m["add_accuracy"], *m["rotation_error_deg"],
                                                           *m["translation_error_mm"], *m["epoch_s"], len(seeds)))
# fovea's mean minus PyTorch's, in units of the difference's standard error (Welch's)
n = len(seeds)
for key, label in (("add_accuracy", "ADD"), ("rotation_error_deg", "rotation error"),
                   ("translation_error_mm", "translation error")):
    (m1, s1), (m2, s2) = summary["fovea"][key], summary["PyTorch"][key]
    se = ((s1 * s1 + s2 * s2) / n) ** 0.5
    summary.setdefault("difference", {})[key] = (m1 - m2, se)
    print("fovea - PyTorch, %s: %+.4g (%s standard errors)" % (label, m1 - m2, "%.1f" % ((m1 - m2) / se) if se > 0 else "no"))
json.dump(summary, open("%s/summary.json" % out, "w"), indent=1)
PY
