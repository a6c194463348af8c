#!/usr/bin/env bash
# test.sh — installs what the tests need (scripts/install-deps.sh --test, as .ci/run does), builds
# fovea (Release, in build/) and runs the whole test suite with CTest.
# usage: scripts/test.sh [extra ctest arguments, e.g. -R fixtures]
# BUILD_DIR and JOBS override the build folder (build) and the parallel jobs (2).
# FOVEA_NO_INSTALL=1 skips the installation (a check whose tool is then missing is reported as
# skipped by CTest, never as passed).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
jobs=${JOBS:-2}
if [ "${FOVEA_NO_INSTALL:-0}" != 1 ]; then
    # As root or with sudo this installs what is missing (one dpkg-query when nothing is);
    # otherwise install-deps prints the exact apt-get line to run, and the suite still runs.
    if ! scripts/install-deps.sh --test; then
        echo "test.sh: the packages above are missing: the checks that need them will be reported" \
            "as skipped" >&2
    fi
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
