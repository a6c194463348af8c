#!/usr/bin/env bash
# cli_data.sh — `fovea data get`: runs scripts/get-data.sh DATASET DIR (here a stand-in found
# through FOVEA_SCRIPTS) with the user's text passed as plain arguments, never through a shell,
# and reports a failing script with its exit status.
set -u
source "$(dirname "$0")/data/cli_lib.bash"

mkdir -p "$TMP/scripts" "$TMP/work"
cat >"$TMP/scripts/get-data.sh" <<'SH'
#!/usr/bin/env bash
# A stand-in for scripts/get-data.sh: records its arguments, fails when asked to.
printf '%s\n' "$@" >"$FAKE_LOG"
printf '%s\n' "${FOVEA_DATA_GET_NAME-unset}" >"$FAKE_LOG.name"
[ "${FAKE_STATUS:-0}" -eq 0 ] || { echo "get-data.sh: no mirror reachable" >&2; exit "$FAKE_STATUS"; }
SH
export FAKE_LOG=$TMP/args
cd "$TMP/work"

echo "# the script gets the dataset and the folder"
FOVEA_SCRIPTS=$TMP/scripts expect_ok "data get mnist" "$FOVEA" data get mnist
check "default folder data/mnist" test "$(cat "$FAKE_LOG" | tr '\n' ' ')" = "mnist data/mnist "
check "the script's messages are prefixed 'fovea data get' (FOVEA_DATA_GET_NAME)" \
    test "$(cat "$FAKE_LOG.name")" = "fovea data get"
FOVEA_SCRIPTS=$TMP/scripts expect_ok "data get fashion-mnist DIR" "$FOVEA" data get fashion-mnist fm
check "the given folder" test "$(cat "$FAKE_LOG" | tr '\n' ' ')" = "fashion-mnist fm "
odd='odd dir; $(touch pwned) `touch pwned2` "q"'
FOVEA_SCRIPTS=$TMP/scripts expect_ok "a folder name with spaces, quotes and \$(...)" "$FOVEA" data get iris "$odd"
check "passed through unchanged as one argument" test "$(sed -n 2p "$FAKE_LOG")" = "$odd"
check "and never run by a shell" test ! -e pwned -a ! -e pwned2

FOVEA_SCRIPTS=$TMP/scripts expect_ok "--force is passed on" "$FOVEA" data get mnist m --force
check "the script sees mnist m --force" test "$(cat "$FAKE_LOG" | tr '\n' ' ')" = "mnist m --force "
FOVEA_SCRIPTS=$TMP/scripts expect_ok "a folder named like an option, after --" "$FOVEA" data get mnist -- -m
check "reaches the script as ./-m, not as an option" test "$(sed -n 2p "$FAKE_LOG")" = "./-m"

echo "# found beside the executable: BIN/../scripts (installed) or BIN/../../scripts (build/cli)"
mkdir -p "$TMP/bin" "$TMP/build/cli"
cp "$FOVEA" "$TMP/bin/fovea"
cp "$FOVEA" "$TMP/build/cli/fovea"
run env -u FOVEA_SCRIPTS "$TMP/bin/fovea" data get iris one
check "from BIN/../scripts" test "$status" -eq 0 -a "$(sed -n 2p "$FAKE_LOG")" = "one"
run env -u FOVEA_SCRIPTS "$TMP/build/cli/fovea" data get iris two
check "from BIN/../../scripts" test "$status" -eq 0 -a "$(sed -n 2p "$FAKE_LOG")" = "two"

echo "# failures"
FAKE_STATUS=3 FOVEA_SCRIPTS=$TMP/scripts run "$FOVEA" data get mnist
if [ "$status" -eq 1 ] && tail -1 "$TMP/err" | grep -Eq "^fovea data: .*mnist.*status 3"; then
    ok "a failing script: exit 1, the status reported: $(tail -1 "$TMP/err")"
else
    fail "a failing script: exit 1, the status reported"
    show_output
fi
check "the script's own message comes first" grep -q "no mirror reachable" "$TMP/err"
chmod -x "$TMP/scripts/get-data.sh"
FOVEA_SCRIPTS=$TMP/scripts expect_ok "a script without the executable bit runs through bash" "$FOVEA" data get mnist
FOVEA_SCRIPTS=$TMP/nowhere expect_error "FOVEA_SCRIPTS without the script" 1 "cannot find.*get-data\.sh" \
    "$FOVEA" data get mnist

finish
