# onnx_lib.bash — helpers shared by the ONNX end-to-end tests (tests/cli_onnx*.sh), sourced after
# cli_lib.bash: the whole-test skip, ONNX Runtime's installation, and the comparison of outputs.
PY=/usr/bin/python3
ROOT=$(cd "$DATA/../.." && pwd)

# skip WHY: the whole test cannot run here: exit 77 (skipped), or fail under CI, where
# scripts/install-deps.sh --test has installed everything.
skip() {
    if [ -n "${CI:-}" ]; then
        echo "FAIL - $1 (scripts/install-deps.sh --test installs what is needed)"
        exit 1
    fi
    echo "skip - $1 (scripts/install-deps.sh --test installs what is needed)"
    exit 77
}

# need_onnx_build: skips the test when fovea is built without ONNX.
need_onnx_build() {
    touch "$TMP/empty.onnx"
    "$FOVEA" import "$TMP/empty.onnx" -o "$TMP/x.safetensors" 2>"$TMP/err"
    if grep -q "built without ONNX" "$TMP/err"; then skip "fovea is built without ONNX"; fi
}

# need_onnxruntime: installs onnxruntime-node into the build folder (once) and sets NODE_PATH;
# skips the test when node or the package cannot be had.
need_onnxruntime() {
    command -v node >/dev/null 2>&1 || skip "node is not installed"
    local ort
    ort=$(dirname "$FOVEA")/onnxruntime
    bash "$ROOT/scripts/install-onnxruntime.sh" "$ort" >"$TMP/npm.log" 2>&1 ||
        { cat "$TMP/npm.log"; skip "onnxruntime-node could not be installed"; }
    export NODE_PATH=$ort/node_modules
}

# maxdiff A.npy B.npy: prints the largest absolute difference, or "shapes differ".
maxdiff() {
    $PY -c 'import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); print(float(np.abs(a.astype(np.float64) - b).max()) if a.shape == b.shape else "shapes differ")' "$1" "$2"
}

# within D: D is a number no larger than 1e-5.
within() { awk -v d="$1" 'BEGIN { exit !(d != "" && d + 0 <= 1e-5) }'; }
