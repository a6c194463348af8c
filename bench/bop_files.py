"""bop_files.py — the BOP dataset files that bench/pose_torch.py and bench/pose_errors.py read
alike: a rendered set's one object (models/models_info.json) and its ASCII PLY model's vertices.
NumPy only (pose_errors.py runs without torch).
"""

import json
import os

import numpy as np


def read_ply_vertices(path):
    """The vertices (n, 3) of an ASCII PLY (fovea writes the models of its rendered sets so)."""
    with open(path) as f:
        lines = f.read().split("\n")
    if lines[1].strip() != "format ascii 1.0":
        raise SystemExit("%s: this script reads ASCII PLY only" % path)
    n = next(int(l.split()[2]) for l in lines if l.startswith("element vertex"))
    start = lines.index("end_header") + 1
    return np.array([[float(v) for v in l.split()[:3]] for l in lines[start:start + n]])


def single_asymmetric_object(data, why):
    """(obj_id, its models_info.json entry, its model's vertices) of the one object of BOP folder
    data; stops with a message when there are several or it is symmetric (why: what needs ADD)."""
    info = json.load(open(os.path.join(data, "models", "models_info.json")))
    if len(info) != 1:
        raise SystemExit("%s: expected one object in models_info.json" % data)
    obj_id, mi = next(iter(info.items()))
    if mi.get("symmetries_discrete") or mi.get("symmetries_continuous"):
        raise SystemExit("obj %s is symmetric: %s" % (obj_id, why))
    verts = read_ply_vertices(os.path.join(data, "models", "obj_%06d.ply" % int(obj_id)))
    return obj_id, mi, verts
