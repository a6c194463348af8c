#!/usr/bin/env bash
# cli_valgrind.sh — the command end to end under valgrind's memcheck: train one epoch with --save
# and --history, evaluate, predict, summary, on the tiny data of tests/data, and a few failures
# (a bad model file, a corrupt weights file, a missing data folder), a folder of PNG files and
# predictions on them, each of which must run
# without an invalid read or write, a use of uninitialised memory or a leak (definite or
# indirect: --errors-for-leak-kinds=definite,indirect --error-exitcode=99).
# One thread (FOVEA_THREADS=1, OMP_NUM_THREADS=1): fast and deterministic under valgrind.
# Without valgrind the test is skipped (exit 77) unless CI is set, where it fails; an
# AddressSanitizer build (scripts/sanitize.sh) cannot run under valgrind and is skipped too.
set -u
source "$(dirname "$0")/data/cli_lib.bash"

if ! command -v valgrind >/dev/null 2>&1; then
    if [ -n "${CI:-}" ]; then
        echo "FAIL - valgrind is not installed (scripts/install-deps.sh --test installs it)"
        exit 1
    fi
    echo "skip - valgrind is not installed (scripts/install-deps.sh --test installs it)"
    exit 77
fi
if grep -qa -e __asan_init -e __tsan_init "$FOVEA"; then
    echo "skip - $FOVEA is built with a sanitizer, which does not run under valgrind"
    exit 77
fi

export FOVEA_THREADS=1 OMP_NUM_THREADS=1
VG=(valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --track-origins=yes --error-exitcode=99 --quiet)
M=$DATA/quad.fv
D=$DATA/quad
Q=$TMP/quad.safetensors

# vg_ok DESCRIPTION ARGS...: exit 0, nothing from fovea on stderr and nothing from valgrind.
vg_ok() {
    local desc=$1
    shift
    run "${VG[@]}" --log-file="$TMP/vg.log" "$FOVEA" "$@"
    if [ "$status" -eq 0 ] && [ ! -s "$TMP/err" ] && [ ! -s "$TMP/vg.log" ]; then
        ok "$desc: memcheck clean"
    else
        fail "$desc" "expected exit status 0, an empty stderr and no valgrind report from: fovea $*"
        show_output
        sed 's/^/       valgrind: /' "$TMP/vg.log" | head -60
    fi
}

# vg_error DESCRIPTION ARGS...: exit 1 (fovea's failure, not valgrind's 99) and no report.
vg_error() {
    local desc=$1
    shift
    run "${VG[@]}" --log-file="$TMP/vg.log" "$FOVEA" "$@"
    if [ "$status" -eq 1 ] && [ -s "$TMP/err" ] && [ ! -s "$TMP/vg.log" ]; then
        ok "$desc: $(head -1 "$TMP/err"); memcheck clean"
    else
        fail "$desc" "expected exit status 1, a message and no valgrind report from: fovea $*"
        show_output
        sed 's/^/       valgrind: /' "$TMP/vg.log" | head -60
    fi
}

echo "# the command's main paths under memcheck"
vg_ok "train 1 epoch --save --history (IDX, gzipped and plain)" train "$M" --data "$D" --epochs 1 \
    --seed 7 --save "$Q" --history "$TMP/h.csv"
check "--save wrote the weights" test -s "$Q"
vg_ok "evaluate the saved model" evaluate "$Q" --data "$D"
vg_ok "predict IDX images to .npy" predict "$Q" --input "$D/t10k-images-idx3-ubyte" --output "$TMP/p.npy"
vg_ok "predict a float32 .npy" predict "$Q" --input "$DATA/quad_x.npy" --output "$TMP/px.npy"
vg_ok "summary of the saved model" summary "$Q"
vg_ok "summary of a model file" summary "$DATA/seed_cnn.fv"
vg_ok "train on a CSV table with a validation split" train "$DATA/tiny_csv.fv" --data "$DATA/tiny.csv" \
    --epochs 2 --validation-split 0.2

echo "# image files: a PNG folder (the quad set written by datasets.py idx-to-png), predict on PNG files"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" "$DATA/../../scripts/datasets.py" idx-to-png "$D" "$TMP/png" --names a,b,c,d --limit 40 >/dev/null
vg_ok "train on a PNG folder" train "$M" --data "$TMP/png" --epochs 1 --seed 7 --file-order name \
    --save "$TMP/png.safetensors"
vg_ok "predict PNG files to CSV" predict "$TMP/png.safetensors" --input "$TMP/png/test/a" \
    --output "$TMP/p.csv"
cp "$(ls "$TMP"/png/train/b/*.png | head -1)" "$TMP/full.png"
head -c 60 "$TMP/full.png" >"$TMP/png/train/b/cut.png"
vg_error "a cut PNG with --strict" train "$M" --data "$TMP/png" --epochs 1 --strict

echo "# failures free what they allocated"
printf 'input shape=8,8,1\nconv2d filters=4 kernel_size=3\nmaxpol2d pool_size=2\n' >"$TMP/typo.fv"
vg_error "a typo in a model file" train "$TMP/typo.fv" --data "$D"
head -c 700 "$Q" >"$TMP/cut.safetensors"
vg_error "a truncated weights file" evaluate "$TMP/cut.safetensors" --data "$D"
vg_error "weights of another model" train "$DATA/quad_mlp.fv" --data "$D" --epochs 1 --weights "$Q"
vg_error "a missing data folder" evaluate "$Q" --data "$TMP/no-such-folder"
printf 'a,b,c,d,species\n1,2,3,4,0\n1,2,x,4,1\n' >"$TMP/bad.csv"
vg_error "a CSV cell that is not a number" train "$DATA/tiny_csv.fv" --data "$TMP/bad.csv"

echo "# ONNX export and import (when fovea is built with ONNX)"
if "$FOVEA" export "$Q" -o "$TMP/probe.onnx" 2>/dev/null; then
    vg_ok "export to ONNX (NCHW)" export "$Q" -o "$TMP/q.onnx" --nchw
    vg_ok "import it again" import "$TMP/q.onnx" -o "$TMP/q2.safetensors"
    head -c 300 "$TMP/q.onnx" >"$TMP/cut.onnx"
    vg_error "a truncated ONNX file" import "$TMP/cut.onnx" -o "$TMP/q3.safetensors"
fi

finish
