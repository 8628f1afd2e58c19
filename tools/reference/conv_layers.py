#!/usr/bin/env python3
"""Reference forward and backward passes of single convolution layers in JAX, for tests/reference_jax_conv.rs.

For each case, a Conv2D or Conv2DTranspose layer in Keras' layouts (kernels (kh, kw, in, out) and
(kh, kw, out, in), HWC images, Keras' "same"/"valid" padding), random float32 weights, input x and loss weights r
from a fixed seed; the loss is L = sum(r * y). The fixture holds the inputs, the output y and the gradients
dL/dK, dL/db, dL/dx, each computed by XLA:

- Conv2D: `jax.lax.conv_general_dilated` with NHWC / HWIO / NHWC dimension numbers (TensorFlow's padding rule).
- Conv2DTranspose: by its definition, the adjoint of the Conv2D (same kernel array read as HWIO, stride,
  padding) that maps the transposed layer's output shape to its input shape: the output is that convolution's
  vector-Jacobian product (`jax.vjp`), so it is what Keras' Conv2DTranspose computes, without our code's rules.

Every number is a float32 written as the shortest decimal that round-trips to it, so the Rust test reads the
values XLA used.

    $HOME/.venvs/anchors/bin/python tools/reference/conv_layers.py
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "jax_conv_layers.json"

# (kind, input (h, w, c), filters, kernel (kh, kw), stride, padding, activation)
CASES = [
    ("conv2d", (7, 6, 2), 3, (3, 3), 2, "same", "relu"),
    ("conv2d", (6, 5, 3), 2, (2, 3), 1, "same", "tanh"),
    ("conv2d", (8, 7, 1), 4, (4, 4), 3, "same", "sigmoid"),
    ("conv2d", (7, 7, 2), 2, (3, 2), 2, "valid", "identity"),
    ("conv2d", (5, 6, 2), 3, (1, 1), 3, "valid", "elu"),
    ("conv_transpose2d", (4, 3, 2), 3, (3, 3), 2, "same", "relu"),
    ("conv_transpose2d", (3, 4, 3), 2, (2, 3), 1, "same", "tanh"),
    ("conv_transpose2d", (3, 3, 1), 2, (4, 4), 3, "same", "sigmoid"),
    ("conv_transpose2d", (3, 4, 2), 2, (3, 2), 2, "valid", "identity"),
    ("conv_transpose2d", (2, 3, 2), 3, (1, 1), 3, "valid", "elu"),
    ("conv_transpose2d", (4, 4, 2), 1, (2, 2), 3, "valid", "silu"),
]
BATCH = 2

ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
    "silu": jax.nn.silu,
}


def conv(image, kernel, stride, padding):
    """Keras' Conv2D without bias: image (B, h, w, c), kernel (kh, kw, c, filters)."""
    return jax.lax.conv_general_dilated(
        image, kernel, (stride, stride), padding.upper(), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def transposed_size(n, k, stride, padding):
    return n * stride if padding == "same" else n * stride + max(k - stride, 0)


def conv_transpose(x, kernel, stride, padding):
    """Keras' Conv2DTranspose without bias: x (B, h, w, in), kernel (kh, kw, out, in) — the adjoint of conv."""
    b, h, w, _ = x.shape
    kh, kw, out, _ = kernel.shape
    image = jnp.zeros((b, transposed_size(h, kh, stride, padding), transposed_size(w, kw, stride, padding), out))
    _, pullback = jax.vjp(lambda img: conv(img, kernel, stride, padding), image)
    return pullback(x)[0]


def layer(kind, x, kernel, bias, stride, padding, activation):
    run = conv if kind == "conv2d" else conv_transpose
    return ACTIVATIONS[activation](run(x, kernel, stride, padding) + bias)


def floats(a):
    """The float32 values of `a`, each as the shortest decimal that reads back as the same float32."""
    return [float(str(v)) for v in np.asarray(a, dtype=np.float32).ravel()]


def main():
    rng = np.random.default_rng(20261130)
    cases = []
    for kind, (h, w, c), filters, (kh, kw), stride, padding, activation in CASES:
        shape = (kh, kw, c, filters) if kind == "conv2d" else (kh, kw, filters, c)
        kernel = rng.uniform(-0.6, 0.6, shape).astype(np.float32)
        bias = rng.uniform(-0.3, 0.3, filters).astype(np.float32)
        x = rng.uniform(-1, 1, (BATCH, h, w, c)).astype(np.float32)
        y = layer(kind, x, kernel, bias, stride, padding, activation)
        r = rng.uniform(-1, 1, y.shape).astype(np.float32)

        def loss(kernel, bias, x):
            return jnp.sum(r * layer(kind, x, kernel, bias, stride, padding, activation))

        dk, db, dx = jax.grad(loss, argnums=(0, 1, 2))(kernel, bias, x)
        cases.append(
            {
                "kind": kind,
                "input_shape": [h, w, c],
                "kernel_shape": list(shape),
                "stride": stride,
                "padding": padding,
                "activation": activation,
                "output_shape": list(y.shape[1:]),
                "kernel": floats(kernel),
                "bias": floats(bias),
                "x": floats(x),
                "r": floats(r),
                "y": floats(y),
                "grad_kernel": floats(dk),
                "grad_bias": floats(db),
                "grad_x": floats(dx),
            }
        )
    fixture = {"framework": f"jax {jax.__version__}", "batch": BATCH, "cases": cases}
    FIXTURE.write_text(json.dumps(fixture, indent=None) + "\n")
    print(f"wrote {len(cases)} cases to {FIXTURE}")


if __name__ == "__main__":
    main()
