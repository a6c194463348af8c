#!/usr/bin/env bash
# test.sh — builds fovea (Release, in build/) and runs the whole test suite with CTest.
# usage: scripts/test.sh [extra ctest arguments, e.g. -R fixtures]
# BUILD_DIR and JOBS override the build folder (build) and the parallel jobs (2).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
jobs=${JOBS:-2}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
