#!/usr/bin/env bash
# ab.sh — compares fovea binaries on one model's training step: runs `fovea train MODEL --epochs 1
# --profile` with each binary in turn, ROUNDS times (alternated, so that the machine's slow and
# fast minutes fall on all of them), and prints per binary the median and the minimum of the
# layers' forward, backward and total milliseconds a batch (--profile's total row). On a shared
# machine one run's figure moves by several per cent: a difference smaller than the spread of
# the runs of one binary is no difference.
#
# usage: bench/ab.sh [--rounds N] [--data DIR] [--threads T] [--realtime] MODEL.fv FOVEA1 FOVEA2 ...
#   --rounds N   runs per binary (default 8)
#   --data DIR   the training data (default data/fashion)
#   --threads T  threads (default 2)
#   --realtime   each run under `chrt -f 10` (root): other processes wait while it runs
# Example (a change against main's binary, Release builds of both):
#   cp build/fovea /tmp/fovea-main; (make the change, rebuild);
#   bench/ab.sh --rounds 10 --data data/fashion --realtime examples/resnet_fashion.fv \
#       /tmp/fovea-main build/fovea
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=8 data=data/fashion threads=2 rt=()
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --data) data=${2:?--data needs a directory}; shift ;;
    --threads) threads=${2:?--threads needs a number}; shift ;;
    --realtime) rt=(chrt -f 10) ;;
    -h | --help) sed -n '/^# usage:/,/^[^#]/p' "$0" | sed -e '/^[^#]/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "ab.sh: unknown option '$1'" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
[ $# -ge 2 ] || { echo "ab.sh: expected a model file and at least one fovea binary" >&2; exit 2; }
model=$1; shift
[ -f "$model" ] || { echo "ab.sh: $model: no such model file" >&2; exit 2; }
for b in "$@"; do
    [ -x "$b" ] || { echo "ab.sh: $b: not an executable" >&2; exit 2; }
done

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
    for b in "$@"; do
        row=$("${rt[@]}" "$b" train "$model" --data "$data" --epochs 1 --threads "$threads" \
            --verbose 0 --profile 2>&1 | awk '$1 == "total" {print $2, $4}')
        [ -n "$row" ] || { echo "ab.sh: $b printed no profile" >&2; exit 1; }
        echo "$b $row" >>"$out"
    done
done
python3 - "$out" "$@" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    b, f, w = line.split()
    rows.setdefault(b, []).append((float(f), float(w), float(f) + float(w)))
print("%-28s %5s  %-21s %-21s %-21s" % ("binary", "runs", "forward ms (med, min)",
                                          "backward ms", "total ms"))
for b in sys.argv[2:]:
    v = rows[b]
    cols = ["%7.3f %7.3f" % (statistics.median(x[k] for x in v), min(x[k] for x in v))
            for k in range(3)]
    print("%-28s %5d  %-21s %-21s %-21s" % (b[-28:], len(v), *cols))
EOF
