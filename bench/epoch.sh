#!/usr/bin/env bash
# epoch.sh — one training epoch of the seed CNN (examples/mnist_cnn.fv) on Fashion-MNIST in fovea
# and in PyTorch (Debian's python3-torch), in one run with the same threads; prints both epoch
# times, images/s, test accuracies and the ratio PyTorch/fovea (above 1: fovea is faster).
#
# usage: bench/epoch.sh [--quick] [--threads N] [--json OUT.json]
#   --quick      10,000 training and 2,000 test images instead of 60,000 and 10,000
#   --threads N  threads for both (default 2)
#   --json OUT   also write the figures as JSON
# Builds fovea (Release; in build/, or BUILD_DIR) if needed and fetches the data into
# data/fashion-mnist (the quick subset into data/fashion-mnist-quick).
set -euo pipefail
cd "$(dirname "$0")/.."

threads=2 quick=0 json=""
py=/usr/bin/python3 # Debian's, which has python3-torch
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --threads) threads=${2:?--threads needs a number}; shift ;;
    --threads=*) threads=${1#*=} ;;
    --json) json=${2:?--json needs a file}; shift ;;
    -h | --help) sed -n '/^# usage:/,/^[^#]/p' "$0" | sed -e '/^[^#]/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "epoch.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done

build=${BUILD_DIR:-build}
scripts/install-deps.sh --bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fovea_cli

scripts/get-data.sh fashion-mnist data/fashion-mnist
data=data/fashion-mnist
if [ $quick -eq 1 ]; then
    data=data/fashion-mnist-quick
    "$py" scripts/datasets.py check-idx "$data" >/dev/null 2>&1 ||
        "$py" scripts/datasets.py head-idx data/fashion-mnist "$data" --train 10000 --test 2000
fi

args=(--data "$data" --threads "$threads")
[ -z "$json" ] || args+=(--json "$json")
exec "$py" bench/bench_torch.py "${args[@]}" -- \
    "$build"/fovea train examples/mnist_cnn.fv --data "$data" --epochs 1 --threads "$threads" --verbose 2
