"""onnx_check.py — checks one ONNX file written by `fovea export` (tests/cli_onnx.sh): it passes
onnx.checker.check_model with full_check, names its input and output after the model, and gives
fovea predict's outputs within 1e-5 absolute in ONNX Runtime (onnx_run.js) and in OpenCV's DNN.

usage: onnx_check.py MODEL.onnx --input X.npy --expect P.npy --input-name NAME --output-name NAME
                     [--nchw] [--node-script onnx_run.js] [--skip-opencv REASON]
X.npy holds the samples in fovea's NHWC layout; P.npy fovea predict's outputs for them.
Exit status 0 when every check passes, 1 otherwise; prints the largest differences.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx

TOL = 1e-5


def compare(what, got, want):
    got = np.asarray(got, dtype=np.float32).reshape(want.shape)
    diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    ok = diff <= TOL and np.all(np.isfinite(got))
    print(f"{what}: largest |difference| {diff:.3g} over {want.size} values "
          f"(limit {TOL:g}): {'ok' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--input", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--input-name", required=True)
    ap.add_argument("--output-name", required=True)
    ap.add_argument("--nchw", action="store_true")
    ap.add_argument("--node-script")
    ap.add_argument("--skip-opencv")
    a = ap.parse_args()

    ok = True
    m = onnx.load(a.model)
    onnx.checker.check_model(m, full_check=True)
    print(f"{os.path.basename(a.model)}: onnx.checker full_check ok (IR {m.ir_version}, "
          f"opset {m.opset_import[0].version}, {len(m.graph.node)} nodes)")
    names = ([i.name for i in m.graph.input], [o.name for o in m.graph.output])
    if names != ([a.input_name], [a.output_name]):
        print(f"FAIL: graph inputs/outputs {names}, expected [{a.input_name}], [{a.output_name}]")
        ok = False
    meta = {p.key: p.value for p in m.metadata_props}
    if "fovea.model" not in meta:
        print("FAIL: no fovea.model in metadata_props")
        ok = False

    x = np.load(a.input).astype(np.float32)
    if a.nchw and x.ndim == 4:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    want = np.load(a.expect).astype(np.float32)

    if a.node_script:
        with tempfile.TemporaryDirectory() as tmp:
            xin, yout = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
            np.save(xin, x)
            r = subprocess.run(["node", a.node_script, a.model, xin, yout], capture_output=True,
                               text=True)
            if r.returncode != 0:
                print(f"FAIL: onnxruntime-node: {r.stderr.strip()}")
                ok = False
            else:
                ok = compare("onnxruntime-node", np.load(yout), want) and ok

    if a.skip_opencv:
        print(f"opencv: skipped: {a.skip_opencv}")
    else:
        import cv2
        try:
            net = cv2.dnn.readNetFromONNX(a.model)
            net.setInput(x)
            ok = compare(f"opencv {cv2.__version__}", net.forward(), want) and ok
        except cv2.error as e:
            print(f"FAIL: opencv {cv2.__version__}: {str(e).strip().splitlines()[-1]}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
