#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer targets (tests/fuzz/fuzz_*.c, clang with ASan and UBSan, in
# build-fuzz/) and runs them one after another, each for a time or a number of executions,
# then prints executions, speed, coverage and findings per target. Exit status 1 if any target
# found something (its input is saved under BUILD/fuzz-work/NAME/).
#
# usage: scripts/fuzz.sh [SECONDS | --runs N] [--only NAME[,NAME...]] [--build-dir DIR]
#                        [--no-build] [--max-len BYTES] [-- LIBFUZZER_FLAGS...]
#   SECONDS        time per target (default: $FUZZ_SECONDS, else 60)
#   --runs N       executions per target instead of a time (the issue's bar is 10000000)
#   --only         a comma-separated subset: idx,npy,safetensors,csv,history,model,image,onnx,coco,yolo
#   --build-dir    the build folder (build-fuzz); --no-build uses it as it is
#   --max-len      the largest input libFuzzer makes (4096)
# The committed seed corpus tests/fuzz/corpus/NAME/ is only read: new inputs go to the scratch
# corpus BUILD/fuzz-work/NAME/corpus, which later runs start from. A finding should become a
# regression input tests/fuzz/corpus/NAME/regress-WHAT, replayed by ctest (fuzz_replay_NAME).
# Also: `cmake --build build-fuzz --target fuzz` (FUZZ_SECONDS from the environment or the cache).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${FUZZ_SECONDS:-} runs="" only="" build=build-fuzz do_build=1 max_len=4096
default_seconds=60
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --max-len) max_len=$2; shift 2 ;;
    --default-seconds) default_seconds=$2; shift 2 ;;
    -h | --help) sed -n '/^# usage:/,/^# Also:/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    [0-9]*) seconds=$1; shift ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
seconds=${seconds:-$default_seconds}
case $build in /*) ;; *) build=$root/$build ;; esac

if [ $do_build -eq 1 ]; then
    cc=${FUZZ_CC:-clang}
    if ! command -v "$cc" >/dev/null; then
        echo "fuzz.sh: $cc not found; install clang (Debian: apt-get install clang)" >&2
        exit 1
    fi
    # Readers only: no OpenMP (one thread, no pool for LeakSanitizer to see), no tests.
    cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release -DFOVEA_FUZZ=ON \
        -DFOVEA_OPENMP=OFF -DFOVEA_TESTS=OFF >/dev/null
    cmake --build "$build" --target fuzzers -j"${JOBS:-2}" >/dev/null
fi

targets=()
for f in tests/fuzz/fuzz_*.c; do
    name=$(basename "$f" .c)
    name=${name#fuzz_}
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
    targets+=("$name")
done
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no target matches '$only'" >&2; exit 2; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

limit=(-max_total_time="$seconds")
what="$seconds s"
if [ -n "$runs" ]; then
    limit=(-runs="$runs")
    what="$runs runs"
fi
echo "fuzz.sh: $(${FUZZ_CC:-clang} --version | head -1); ${targets[*]}; $what each; max_len $max_len"

summary=()
found=0
for name in "${targets[@]}"; do
    bin=$build/fuzz_$name
    [ -x "$bin" ] || { echo "fuzz.sh: $bin is missing (build first)" >&2; exit 1; }
    work=$build/fuzz-work/$name
    mkdir -p "$work/corpus" "$work/artifacts"
    dict=()
    [ -f "tests/fuzz/dict/$name.dict" ] && dict=(-dict="tests/fuzz/dict/$name.dict")
    log=$work/last.log
    echo "== fuzz_$name ($what): log $log"
    start=$(date +%s)
    status=0
    "$bin" "${limit[@]}" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" "${extra[@]}" \
        "$work/corpus" "tests/fuzz/corpus/$name" >"$log" 2>&1 || status=$?
    secs=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$( (grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" || true) | tail -1)
    corp=$( (grep -Eo 'corp: [0-9]+/[0-9]+[bKM]*b?' "$log" || true) | tail -1)
    arts=$(grep -c 'Test unit written to' "$log" || true) # crash-, leak-, timeout-, oom-, slow-unit-
    result="ok"
    if [ "$status" -ne 0 ] || [ "$arts" -gt 0 ]; then
        what=$( (grep -Eo 'ERROR: [A-Za-z]+: [^ ]+( [^ ]+)?|fuzz invariant failed: .*|Test unit written to .*' "$log" || true) | head -2 | tr '\n' ' ')
        result="FINDING (exit $status): $what"
        found=1
        tail -40 "$log"
    fi
    line=$(printf '%-12s execs %-10s %5ss  %6s exec/s  %-22s %-16s %s' "$name" "${execs:-?}" \
        "$secs" "${speed:-?}" "${cov:-cov ?}" "${corp:-}" "$result")
    echo "$line"
    summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $found
