#!/usr/bin/env bash
# parity.sh — whole-run parity with PyTorch: the seed CNN trained 5 epochs on Fashion-MNIST
# (60,000 + 10,000 images, batch 128, Adam 1e-3) by fovea and by PyTorch (Debian's python3-torch),
# same model, initialisers, hyperparameters and threads; prints both test accuracies per epoch.
# usage: bench/parity.sh [--epochs N] [--threads N]        (about 15 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=5 threads=2
while [ $# -gt 0 ]; do
    case "$1" in
    --epochs) epochs=${2:?}; shift ;;
    --threads) threads=${2:?}; shift ;;
    *) echo "parity.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
build=${BUILD_DIR:-build}
scripts/install-deps.sh --bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fovea_cli
scripts/get-data.sh fashion-mnist data/fashion-mnist
/usr/bin/python3 bench/bench_torch.py --data data/fashion-mnist --threads "$threads" --epochs "$epochs" \
    -- "$build/fovea" train examples/mnist_cnn.fv --data data/fashion-mnist --epochs "$epochs" \
    --threads "$threads"
