#!/usr/bin/env bash
# issue_start.sh — issue 15's bf16 target as one command: fovea's fp32 as it stood when the speed
# issue was filed (commit 682792e, the build behind bench/RESULTS.md's "Zen 5 (2026-11-29)" epoch)
# against this tree's build at --precision bf16 (and at fp32), alternated ROUNDS times on the seed
# CNN, one epoch each. Prints each run's milliseconds a step as `fovea train --verbose 2` prints
# them (the epoch's time, validation included, over its steps), then per build the median, and
# the median of the rounds' ratios of the old fp32 to this bf16. The old commit is built once, in a
# git worktree under build/issue-start (Release, its own CMake build); this tree's build/fovea must
# exist (`git worktree remove build/issue-start` drops the old one). On a shared machine one run's
# figure moves by 5-10%: read the medians.
#
# usage: bench/issue_start.sh [--rounds N] [--data DIR] [--realtime] [--commit REV]
#   --rounds N   alternated rounds (default 5)
#   --data DIR   Fashion-MNIST in IDX files (default /usr/share/datasets/fashion-mnist)
#   --realtime   each run under `chrt -f 10` (root): other processes wait while it runs
#   --commit REV the old build's commit (default 682792e)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

rounds=5 data=/usr/share/datasets/fashion-mnist rev=682792e rt=()
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds | --data | --commit)
        [ $# -ge 2 ] || { echo "issue_start.sh: $1 needs a value" >&2; exit 2; }
        case "$1" in
        --rounds)
            [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "issue_start.sh: --rounds '$2': expected a whole number > 0" >&2; exit 2; }
            rounds=$2 ;;
        --data) data=$2 ;;
        --commit) rev=$2 ;;
        esac
        shift ;;
    --realtime) rt=(chrt -f 10) ;;
    -h | --help) sed -n '/^# usage:/,/^[^#]/p' "$0" | sed -e '/^[^#]/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "issue_start.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
new=$root/build/fovea
[ -x "$new" ] || { echo "issue_start.sh: $new: not built (cmake -S . -B build && cmake --build build)" >&2; exit 2; }
[ -d "$data" ] || { echo "issue_start.sh: $data: no such data folder" >&2; exit 2; }

old_tree=$root/build/issue-start
if [ ! -x "$old_tree/build/fovea" ]; then
    echo "issue_start.sh: building $rev in $old_tree (once)" >&2
    git -C "$root" rev-parse --verify --quiet "$rev^{commit}" >/dev/null ||
        { echo "issue_start.sh: $rev: no such commit in this clone" >&2; exit 2; }
    [ -d "$old_tree" ] || git -C "$root" worktree add --detach "$old_tree" "$rev" >/dev/null
    cmake -S "$old_tree" -B "$old_tree/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$old_tree/build" -j"$(nproc)" --target fovea_cli >/dev/null
fi
old=$old_tree/build/fovea

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One epoch; prints the run's ms a step (fails with the run's last lines if it printed none).
step_ms() {
    local status=0
    ${rt[@]+"${rt[@]}"} "$@" --data "$data" --epochs 1 --batch-size 128 --threads 2 --verbose 2 \
        >"$tmp/run" 2>&1 || status=$?
    local ms
    ms=$(sed -n -E 's|^[0-9]+/[0-9]+ - [0-9]+s - ([0-9.]+)ms/step.*|\1|p' "$tmp/run" | tail -n 1)
    if [ "$status" -ne 0 ] || [ -z "$ms" ]; then
        echo "issue_start.sh: $1 failed (exit status $status); its last lines:" >&2
        tail -n 5 "$tmp/run" | sed 's/^/  /' >&2
        exit 1
    fi
    echo "$ms"
}
echo "round  issue-start fp32  this fp32  this bf16   (ms a step)"
for ((r = 1; r <= rounds; r++)); do
    a=$(step_ms "$old" train "$old_tree/examples/mnist_cnn.fv")
    b=$(step_ms "$new" train "$root/examples/mnist_cnn.fv")
    c=$(step_ms "$new" train "$root/examples/mnist_cnn.fv" --precision bf16)
    printf "%5d  %16s  %9s  %9s\n" "$r" "$a" "$b" "$c"
    echo "$a $b $c" >>"$tmp/rows"
done
python3 - "$tmp/rows" <<'EOF'
import statistics, sys
rows = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
med = [statistics.median(r[k] for r in rows) for k in range(3)]
print("median %16.1f  %9.1f  %9.1f" % tuple(med))
ratios = [r[0] / r[2] for r in rows]
print("issue-start fp32 / this bf16: median of the rounds' ratios %.2fx (%.2f-%.2f), ratio of the medians %.2fx"
      % (statistics.median(ratios), min(ratios), max(ratios), med[0] / med[2]))
print("issue-start fp32 / this fp32: ratio of the medians %.2fx" % (med[0] / med[1]))
EOF
