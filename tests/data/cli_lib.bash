# cli_lib.bash — helpers shared by the end-to-end tests of the fovea command (tests/cli_*.sh),
# sourced by them. Usage of a test: bash tests/cli_NAME.sh PATH_TO_FOVEA (any working folder).
# Each check prints "ok - ..." or "FAIL - ..." with what went wrong, or "SKIP - ..." when it
# cannot run here; the test exits 1 if any check failed, else 77 (CTest's SKIP_RETURN_CODE: the
# test counts as skipped, not passed) if any was skipped. Under CI (CI set), where
# scripts/install-deps.sh --test has installed everything, a check that cannot run fails.

if [ $# -lt 1 ]; then
    echo "usage: bash $0 PATH_TO_FOVEA_BINARY" >&2
    exit 2
fi
case $1 in
/*) FOVEA=$1 ;;
*) FOVEA=$(pwd)/$1 ;;
esac
if [ ! -x "$FOVEA" ]; then
    echo "$0: $FOVEA is not an executable" >&2
    exit 2
fi
DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fovea-cli-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# Fixed threads: results compared across runs must not depend on the machine's core count.
export FOVEA_THREADS=2
# The models here are tiny: threads that spin between steps only slow a busy machine down.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
failures=0
checks=0
skips=0

ok() {
    checks=$((checks + 1))
    echo "ok   - $1"
}

fail() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "FAIL - $1"
    shift
    local line
    for line in "$@"; do
        echo "       $line"
    done
}

# skip DESCRIPTION: a check that cannot run here (DESCRIPTION says what and why); a failure
# under CI.
skip() {
    if [ -n "${CI:-}" ]; then
        fail "$1" "this check cannot run here, and CI must run every check"
    else
        skips=$((skips + 1))
        echo "SKIP - $1"
    fi
}

# unprivileged COMMAND...: runs COMMAND as an ordinary user, so that file permissions apply
# (root ignores them): as is when not root; as root, as nobody (uid and gid 65534, no
# supplementary groups) with setpriv(1). The files it reads must be readable by others.
# can_drop_root: whether unprivileged can work here.
unprivileged() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    else
        setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
    fi
}
can_drop_root() {
    [ "$(id -u)" -ne 0 ] || setpriv --reuid=65534 --regid=65534 --clear-groups -- true 2>/dev/null
}

# check DESCRIPTION COMMAND...: passes if the command succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else fail "$desc" "check failed: $*"; fi
}

# run COMMAND...: runs it with stdout in $TMP/out, stderr in $TMP/err, exit status in $status.
run() {
    "$@" >"$TMP/out" 2>"$TMP/err"
    status=$?
}

show_output() {
    echo "       exit status: $status"
    sed 's/^/       stdout: /' "$TMP/out" | head -20
    sed 's/^/       stderr: /' "$TMP/err" | head -20
}

# expect_ok DESCRIPTION COMMAND...: exit status 0 and nothing on stderr.
expect_ok() {
    local desc=$1
    shift
    run "$@"
    if [ "$status" -eq 0 ] && [ ! -s "$TMP/err" ]; then
        ok "$desc"
    else
        fail "$desc" "expected exit status 0 and an empty stderr from: $*"
        show_output
    fi
}

# expect_error DESCRIPTION STATUS REGEX COMMAND...: the command exits with STATUS and writes
# one line to stderr, "fovea ...: ..." matching the extended regular expression REGEX.
expect_error() {
    local desc=$1 want=$2 regex=$3
    shift 3
    run "$@"
    local lines
    lines=$(wc -l <"$TMP/err")
    if [ "$status" -eq "$want" ] && [ "$lines" -eq 1 ] && grep -q '^fovea' "$TMP/err" &&
        grep -Eq -- "$regex" "$TMP/err"; then
        ok "$desc: $(cat "$TMP/err")"
    else
        fail "$desc" "expected exit status $want and one line on stderr matching /$regex/ from: $*"
        show_output
    fi
}

# png_size FILE: "WIDTHxHEIGHT" from the IHDR chunk, or "" if FILE is not a PNG.
png_size() {
    [ "$(head -c 8 "$1" 2>/dev/null | od -A n -t x1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || return 0
    local w h
    w=$(od -A n -t u1 -j 16 -N 4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
    h=$(od -A n -t u1 -j 20 -N 4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
    echo "${w}x${h}"
}

is_png() { [ -n "$(png_size "$1")" ]; }

# same_file DESCRIPTION A B: byte-identical files.
same_file() {
    if cmp -s "$2" "$3"; then ok "$1"; else fail "$1" "$2 and $3 differ"; fi
}

# float_ge A B: A >= B for decimal numbers.
float_ge() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'
}

# The value of " - NAME: X" in the last progress line of FILE that has it.
metric() {
    grep -Eo " - $1: [-+0-9.e]+" "$2" | tail -1 | sed 's/.*: //'
}

# interrupt_training SIG CKDIR ARGS...: runs `fovea train ARGS... --epochs 100000 --checkpoint CKDIR
# --save $TMP/keep.safetensors` in the background, sends SIG once the first checkpoint is on disk
# (up to 60 s on a loaded machine; stdout may sit in its buffer), and checks how it ends: exit
# 128 + the signal (as the shell reports it), the last line of stderr naming the checkpoint's epoch
# and folder and the command that resumes, and --save not written. Output in $TMP/out, $TMP/err.
interrupt_training() {
    local sig=$1 ck=$2
    shift 2
    "$FOVEA" train "$@" --epochs 100000 --checkpoint "$ck" --save "$TMP/keep.safetensors" \
        >"$TMP/out" 2>"$TMP/err" &
    local pid=$!
    for _ in $(seq 1200); do
        [ -e "$ck/checkpoint.safetensors" ] && break
        sleep 0.05
    done
    kill -"$sig" "$pid"
    wait "$pid"
    status=$?
    local msg want
    msg=$(tail -1 "$TMP/err")
    want=$((128 + $(kill -l "$sig")))
    if [ "$status" -eq "$want" ] && echo "$msg" | grep -q "^fovea train: interrupted in epoch .*the checkpoint of epoch [0-9]* is in $ck: resume with 'fovea train .* --resume'$"; then
        ok "SIG$sig: exit $want (128 + the signal, as the shell reports) and $msg"
    else
        fail "SIG$sig stops training, keeps the checkpoint and says how to resume"
        show_output
    fi
    check "SIG$sig: --save was not written" test ! -e "$TMP/keep.safetensors"
}

finish() {
    if [ "$failures" -gt 0 ]; then
        echo "$failures of $checks checks FAILED"
        exit 1
    fi
    if [ "$skips" -gt 0 ]; then
        echo "all $checks checks that ran passed; $skips could not run (skipped)"
        exit 77
    fi
    echo "all $checks checks passed"
    exit 0
}
