#!/usr/bin/env python3
"""Checks that Python's safetensors reads a file written by the Rust crate `autoencoder` exactly.

Usage: check_safetensors.py MODEL.safetensors EXPECTED.json [RESAVED.safetensors]

EXPECTED.json, written by tests/python_reads_model.rs:
    {"tensors": {"encoder.0.weight": {"shape": [7, 5], "bits": [<u32>, ...]}, ...},
     "metadata": {"format": "autoencoder", ...}}
Every tensor must be float32 with that shape, and its values must have exactly those IEEE-754 bit patterns
(row-major); the file must hold no other tensors, and its metadata must equal the expected one.

With RESAVED, the arrays and metadata are written again with `safetensors.numpy.save_file`, for the Rust test
to load: a file made in Python loads in Rust.
"""

import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    model_path, expected_path = argv[1], argv[2]
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)

    tensors = load_file(model_path)
    with safe_open(model_path, framework="np") as f:
        metadata = f.metadata()

    problems = []
    if sorted(tensors) != sorted(expected["tensors"]):
        problems.append(f"tensor names differ: {sorted(tensors)} vs {sorted(expected['tensors'])}")
    for name, want in expected["tensors"].items():
        if name not in tensors:
            continue
        array = tensors[name]
        if array.dtype != np.float32:
            problems.append(f"{name}: dtype {array.dtype}, expected float32")
            continue
        if list(array.shape) != want["shape"]:
            problems.append(f"{name}: shape {list(array.shape)}, expected {want['shape']}")
            continue
        bits = np.ascontiguousarray(array).reshape(-1).view(np.uint32)
        want_bits = np.array(want["bits"], dtype=np.uint32)
        if bits.shape != want_bits.shape or not np.array_equal(bits, want_bits):
            where = np.nonzero(bits != want_bits)[0] if bits.shape == want_bits.shape else []
            problems.append(f"{name}: values differ (first at flat index {where[0] if len(where) else '?'})")
    if metadata != expected["metadata"]:
        problems.append(f"metadata differs: {metadata} vs {expected['metadata']}")

    if problems:
        for problem in problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        return 1

    if len(argv) == 4:
        save_file(tensors, argv[3], metadata=metadata)
    print(f"ok: {len(tensors)} tensors and {len(metadata)} metadata entries match bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
