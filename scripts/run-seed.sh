#!/usr/bin/env bash
# run-seed.sh — the main job, from a fresh Debian 12 machine: installs what is missing, builds,
# fetches MNIST, trains the seed CNN (examples/mnist_cnn.fv) and evaluates it on the test set.
# usage: scripts/run-seed.sh [extra `fovea train` flags, e.g. --epochs 1 --threads 2]
# Writes out/mnist_cnn.safetensors (the trained model) and out/history.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
scripts/get-data.sh mnist data/mnist
mkdir -p out
build/fovea train examples/mnist_cnn.fv --data data/mnist \
    --save out/mnist_cnn.safetensors --history out/history.csv "$@"
build/fovea evaluate out/mnist_cnn.safetensors --data data/mnist
if grep -q SUBSET data/mnist/SOURCE.txt 2>/dev/null; then
    echo "note: data/mnist is the 10,000-digit MNIST subset (no MNIST mirror was reachable)"
fi
