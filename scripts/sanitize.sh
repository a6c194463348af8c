#!/usr/bin/env bash
# sanitize.sh — builds fovea and the whole test suite with AddressSanitizer and
# UndefinedBehaviorSanitizer (FOVEA_SANITIZE=ON, -O2 -g, in build-asan/) and runs it with CTest:
# every unit test, every CLI end-to-end test and the replay of the fuzz corpora.
# usage: scripts/sanitize.sh [extra ctest arguments, e.g. -R cli_]
# BUILD_DIR and JOBS override the build folder (build-asan) and the parallel jobs (2); CC picks
# the compiler as CMake does (gcc by default; clang works too).
#
# Leaks are errors (detect_leaks=1). tests/lsan.supp suppresses leaks whose stack is inside the
# OpenMP runtime only (libgomp's thread pool, which lives until the process exits); a leak that
# passes through fovea's code is never suppressed. UBSan stops at the first report.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-asan}
jobs=${JOBS:-2}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" \
    -DFOVEA_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$jobs"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# The CLI tests compare runs across thread counts; keep their OpenMP threads from spinning.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
