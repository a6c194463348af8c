#!/usr/bin/env bash
# cli_progress.sh — Keras' live progress bar on a terminal (a pseudo-terminal made by
# script(1)): "N/15 [==>...] - ETA: Ns - loss: ..." redrawn in place with \r, ending as
# "15/15 [==============================] - Ns Nms/step - loss: ... - val_accuracy: ...".
set -u
source "$(dirname "$0")/data/cli_lib.bash"

if ! command -v script >/dev/null; then
    skip "the progress bar on a terminal: script(1) is not installed (bsdutils)"
    finish
fi
script -qec "$(printf '%q ' "$FOVEA" train "$DATA/quad.fv" --data "$DATA/quad" --epochs 2)" "$TMP/typescript" >/dev/null 2>&1
status=$?
check "training on a terminal succeeds" test "$status" -eq 0
tr '\r' '\n' <"$TMP/typescript" | tr -d '\033' >"$TMP/lines"
check "'Epoch 1/2' and 'Epoch 2/2'" bash -c "grep -q '^Epoch 1/2' '$TMP/lines' && grep -q '^Epoch 2/2' '$TMP/lines'"
check "the bar is redrawn in place with carriage returns" grep -q $'\r' "$TMP/typescript"
check "a running bar: ' 1/15 [=>.............................] - ETA: Ns - loss: X - accuracy: Y'" \
    grep -Eq '^ 1/15 \[=>\.{28}\] - ETA: [0-9:]+s? - loss: [0-9.e+-]+ - accuracy: [0-9.e+-]+ *$' "$TMP/lines"
final='^15/15 \[={30}\] - [0-9]+s [0-9]+(s|ms|us)/step - loss: [0-9.e+-]+ - accuracy: [0-9.e+-]+ - val_loss: [0-9.e+-]+ - val_accuracy: [0-9.e+-]+ *$'
# Distinct lines: on a loaded machine script(1) was seen to write the session into the typescript
# twice (with its "Script started" line despite -q), so a plain count read 4.
check "two finished bars with time per step and validation figures" \
    test "$(grep -E "$final" "$TMP/lines" | sort -u | wc -l)" -eq 2
check "the test figures at the end" grep -q '^Test accuracy: ' "$TMP/lines"

finish
