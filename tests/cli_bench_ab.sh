#!/usr/bin/env bash
# cli_bench_ab.sh — bench/ab.sh, the alternated A/B of fovea binaries: its table from the real
# binary's --profile (twice the same binary; a layer named "total"), paths taken from the working
# folder (spaces included), and a failing binary or a bad flag stopped with one clear message.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
AB=$(cd "$DATA/../.." && pwd)/bench/ab.sh
M=$DATA/quad.fv
D=$DATA/quad

# the table's row of argument N (1-based) in $TMP/out: "binary runs fwd-med fwd-min ..."
row() { sed -n "$(($1 + 1))p" "$TMP/out"; }

echo "# the table"
run bash "$AB" --rounds 2 --data "$D" "$M" "$FOVEA" "$FOVEA"
if [ "$status" -eq 0 ] && [ "$(wc -l <"$TMP/out")" -eq 3 ] &&
    row 1 | awk '{ exit !($2 == 2 && $3 > 0 && $4 > 0 && $5 > 0 && $7 > 0) }' &&
    row 2 | awk '{ exit !($2 == 2 && $3 > 0 && $5 > 0) }'; then
    ok "one binary twice: a row each, 2 runs each, milliseconds > 0"
else
    fail "one binary twice: a row each, 2 runs each, milliseconds > 0"
    show_output
fi
sed 's/^conv2d /conv2d name=total /' "$M" >"$TMP/total.fv"
run bash "$AB" --rounds 1 --data "$D" "$TMP/total.fv" "$FOVEA"
if [ "$status" -eq 0 ] && row 1 | awk '{ exit !($2 == 1 && $3 > 0) }'; then
    ok "a layer named total: the profile's total row is read"
else
    fail "a layer named total: the profile's total row is read"
    show_output
fi

echo "# paths"
mkdir -p "$TMP/a dir"
cp "$FOVEA" "$TMP/a dir/fovea copy"
cp "$M" "$TMP/a dir/m.fv"
cp -r "$D" "$TMP/a dir/data"
run bash -c 'cd "$1/a dir" && bash "$2" --rounds 1 --data data m.fv "./fovea copy"' _ "$TMP" "$AB"
if [ "$status" -eq 0 ] && row 1 | grep -q '^\./fovea copy  *1 '; then
    ok "relative paths from the working folder, with a space"
else
    fail "relative paths from the working folder, with a space"
    show_output
fi

echo "# errors"
# expect_ab DESCRIPTION STATUS REGEX ARGS...: ab.sh exits with STATUS, stderr matches REGEX
# and starts with "ab.sh: ", stdout is empty.
expect_ab() {
    local desc=$1 want=$2 regex=$3
    shift 3
    run bash "$AB" "$@"
    if [ "$status" -eq "$want" ] && [ ! -s "$TMP/out" ] && head -n 1 "$TMP/err" | grep -q '^ab\.sh: ' &&
        grep -Eq -- "$regex" "$TMP/err"; then
        ok "$desc: $(head -n 1 "$TMP/err")"
    else
        fail "$desc" "expected exit status $want and /$regex/ on stderr from ab.sh $*"
        show_output
    fi
}
printf '#!/bin/sh\necho "no such data, says the binary" >&2\nexit 3\n' >"$TMP/failing"
chmod +x "$TMP/failing"
expect_ab "a binary that fails" 1 "failing failed \(exit status 3\) in round 1" \
    --rounds 1 --data "$D" "$M" "$FOVEA" "$TMP/failing"
check "its own message is shown" grep -q "no such data, says the binary" "$TMP/err"
printf '#!/bin/sh\necho "Test loss: 1"\n' >"$TMP/noprofile"
chmod +x "$TMP/noprofile"
expect_ab "a binary with no profile" 1 "noprofile printed no profile" --rounds 1 --data "$D" "$M" \
    "$TMP/noprofile"
expect_ab "--rounds 0" 2 "--rounds '0': expected a whole number > 0" --rounds 0 "$M" "$FOVEA"
expect_ab "--rounds x" 2 "--rounds 'x': expected a whole number > 0" --rounds x "$M" "$FOVEA"
expect_ab "--threads with no value" 2 "--threads needs a value" --threads
expect_ab "a missing data folder" 2 "$TMP/none: no such data folder" --data "$TMP/none" "$M" \
    "$FOVEA"
expect_ab "a missing model" 2 "$TMP/none.fv: no such model file" --data "$D" "$TMP/none.fv" \
    "$FOVEA"
expect_ab "a binary that is not executable" 2 "m.fv: not an executable file" --data "$D" "$M" \
    "$TMP/a dir/m.fv"
expect_ab "no binary" 2 "expected a model file and at least one fovea binary" "$M"

finish
