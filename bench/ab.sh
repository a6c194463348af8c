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
#   --data DIR   the training data (default the repository's data/fashion)
#   --threads T  threads (default 2)
#   --realtime   each run under `chrt -f 10` (root): other processes wait while it runs
# Paths are the working folder's. A binary that fails stops the comparison with its exit status
# and its last lines of output; one binary may be given twice (an A/A check of the noise).
# Example (a change against main's binary, Release builds of both):
#   cp build/fovea /tmp/fovea-main; (make the change, rebuild);
#   bench/ab.sh --rounds 10 --data data/fashion --realtime examples/resnet_fashion.fv \
#       /tmp/fovea-main build/fovea
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

rounds=8 data=$root/data/fashion threads=2 rt=()
# positive FLAG VALUE: VALUE is a whole number > 0, or a usage error.
positive() {
    [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: $1 '$2': expected a whole number > 0" >&2; exit 2; }
}
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds | --data | --threads)
        [ $# -ge 2 ] || { echo "ab.sh: $1 needs a value" >&2; exit 2; }
        case "$1" in
        --rounds) positive "$1" "$2"; rounds=$2 ;;
        --threads) positive "$1" "$2"; threads=$2 ;;
        --data) data=$2 ;;
        esac
        shift ;;
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
[ -d "$data" ] || { echo "ab.sh: $data: no such data folder" >&2; exit 2; }
for b in "$@"; do
    [ -f "$b" ] && [ -x "$b" ] || { echo "ab.sh: $b: not an executable file" >&2; exit 2; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One line per run in $tmp/rows: the binary's place among the arguments (a path may hold spaces,
# and one binary may be given twice), then the forward and backward milliseconds of --profile's
# total row (the last row whose first word is "total": a layer may be named so).
for ((r = 1; r <= rounds; r++)); do
    i=0
    for b in "$@"; do
        i=$((i + 1))
        status=0
        ${rt[@]+"${rt[@]}"} "$b" train "$model" --data "$data" --epochs 1 --threads "$threads" \
            --verbose 0 --profile >"$tmp/run" 2>&1 || status=$?
        if [ "$status" -ne 0 ]; then
            echo "ab.sh: $b failed (exit status $status) in round $r; its last lines:" >&2
            tail -n 5 "$tmp/run" | sed 's/^/  /' >&2
            exit 1
        fi
        row=$(awk '$1 == "total" && NF >= 4 { row = $2 " " $4 } END { if (row != "") print row }' \
            "$tmp/run")
        [ -n "$row" ] || { echo "ab.sh: $b printed no profile (no 'total' row)" >&2; exit 1; }
        echo "$i $row" >>"$tmp/rows"
    done
done
python3 - "$tmp/rows" "$@" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    i, f, w = line.split()
    rows.setdefault(int(i), []).append((float(f), float(w), float(f) + float(w)))
print("%-28s %5s  %-21s %-21s %-21s" % ("binary", "runs", "forward ms (med, min)",
                                          "backward ms", "total ms"))
for i, b in enumerate(sys.argv[2:], 1):
    v = rows[i]
    cols = ["%7.3f %7.3f" % (statistics.median(x[k] for x in v), min(x[k] for x in v))
            for k in range(3)]
    print("%-28s %5d  %-21s %-21s %-21s" % (b[-28:], len(v), *cols))
EOF
