#!/usr/bin/env python3
"""Reference trajectories of torch.optim.{SGD, Adam, AdamW} for tests/optimizers.rs.

Runs each optimizer for five steps on fixed float32 parameters with fixed float32 gradients and prints, per
case, the parameters after every step as Rust array literals (float32 values in their shortest round-trip
form, which identifies each f32 exactly). The output is pasted into tests/optimizers.rs; the tests do not
need Python.

    $HOME/.venvs/anchors/bin/python tools/reference/optimizers.py

Generated with torch 2.15.0 (CPU, the default single-tensor implementations).
"""

import numpy as np
import torch

INITIAL = [0.5, -1.25, 2.0, 0.03125]
GRADIENTS = [
    [0.2, -0.4, 1.5, 0.0],
    [0.1, 0.3, -2.0, 1e-3],
    [-0.25, 0.05, 0.75, -0.5],
    [0.4, -0.6, 0.0, 2.5],
    [0.0, 0.2, -0.1, 0.125],
]

CASES = {
    "SGD_PLAIN": (torch.optim.SGD, dict(lr=0.1)),
    "SGD_WEIGHT_DECAY": (torch.optim.SGD, dict(lr=0.1, weight_decay=0.05)),
    "SGD_MOMENTUM": (torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    "SGD_DAMPENING": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5)),
    "SGD_NESTEROV": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    "SGD_NESTEROV_WEIGHT_DECAY": (
        torch.optim.SGD,
        dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    ),
    "ADAM": (torch.optim.Adam, dict(lr=1e-2)),
    "ADAM_BETAS_EPS": (torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    "ADAMW": (torch.optim.AdamW, dict(lr=1e-2)),
    "ADAMW_DECAY_BETAS_EPS": (
        torch.optim.AdamW,
        dict(lr=0.05, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.1),
    ),
}


def rust_f32(value):
    """The shortest decimal that round-trips to this float32, as a Rust literal."""
    text = np.format_float_positional(np.float32(value), unique=True, trim="0")
    if len(text.replace("-", "").replace(".", "").lstrip("0")) > 12:  # tiny values read better in e-notation
        text = np.format_float_scientific(np.float32(value), unique=True, trim="0")
    return text


def trajectory(optimizer, options):
    param = torch.tensor(INITIAL, dtype=torch.float32, requires_grad=True)
    opt = optimizer([param], **options)
    steps = []
    for grad in GRADIENTS:
        param.grad = torch.tensor(grad, dtype=torch.float32)
        opt.step()
        steps.append(param.detach().clone().tolist())
    return steps


def main():
    print(f"// torch {torch.__version__}")
    for name, (optimizer, options) in CASES.items():
        print(f"/// torch.optim.{optimizer.__name__}({', '.join(f'{k}={v}' for k, v in options.items())})")
        print(f"const {name}: [[f32; {len(INITIAL)}]; {len(GRADIENTS)}] = [")
        for step in trajectory(optimizer, options):
            print("    [" + ", ".join(rust_f32(v) for v in step) + "],")
        print("];")


if __name__ == "__main__":
    main()
