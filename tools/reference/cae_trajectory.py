#!/usr/bin/env python3
"""Reference training trajectories of a small convolutional autoencoder in JAX, for tests/reference_jax_cae.rs.

An 8x8x1 autoencoder: Conv2D(4, 3x3, stride 2, same, relu) -> Dense(6, identity) | Dense(64, relu) ->
Conv2DTranspose(2, 3x3, stride 2, same, tanh) -> Conv2DTranspose(1, 3x3, stride 1, same, sigmoid), in Keras'
layouts (Dense (in, out); Conv2D (kh, kw, in, out); Conv2DTranspose (kh, kw, out, in)), its initial weights drawn
from a fixed seed, trained for 10 Adam steps (lr 1e-2, PyTorch's / optax's form) on one fixed batch of 16 images
(the target is the input), with each loss:

- tests/fixtures/jax_cae_mse_adam.json: mean squared error;
- tests/fixtures/jax_cae_bce_adam.json: binary cross-entropy on outputs clamped to [1e-7, 1 - 1e-7];
- tests/fixtures/jax_cae_mse_sgd.json: mean squared error with plain SGD (lr 0.5), where no step is normalised,
  so that the gradients themselves are compared (Adam divides by the gradients' running size, which magnifies
  the rounding of a gradient near zero into a visible difference of its weight).

The transposed convolutions are computed from their definition, as the vector-Jacobian product of the Conv2D
they undo (`jax.vjp` of `lax.conv_general_dilated`), not with our rules. Each fixture holds the initial weights,
the batch, the loss of every step (before that step's update, as `Autoencoder::train_step` returns it) and the
final weights, as float32 values written as the shortest decimals that round-trip.

    $HOME/.venvs/anchors/bin/python tools/reference/cae_trajectory.py
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures"
BATCH, STEPS, LR = 16, 10, 1e-2

# (kind, kernel/weight shape, stride, activation); a conv's input shape is given by the chain
LAYERS = [
    ("conv2d", (3, 3, 1, 4), 2, "relu", (8, 8, 1)),
    ("dense", (64, 6), None, "identity", None),
    ("dense", (6, 64), None, "relu", None),
    ("conv_transpose2d", (3, 3, 2, 4), 2, "tanh", (4, 4, 4)),
    ("conv_transpose2d", (3, 3, 1, 2), 1, "sigmoid", (8, 8, 2)),
]
ENCODER_LAYERS = 2
ACTIVATIONS = {"identity": lambda z: z, "relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


def conv(image, kernel, stride):
    return jax.lax.conv_general_dilated(
        image, kernel, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def conv_transpose(x, kernel, stride):
    b, h, w, _ = x.shape
    out = kernel.shape[2]
    image = jnp.zeros((b, h * stride, w * stride, out))
    _, pullback = jax.vjp(lambda img: conv(img, kernel, stride), image)
    return pullback(x)[0]


def forward(params, x):
    a = x
    for (kind, _, stride, activation, input_shape), (w, b) in zip(LAYERS, params):
        if kind == "dense":
            z = a.reshape(a.shape[0], -1) @ w + b
        else:
            a = a.reshape((a.shape[0],) + input_shape)
            z = (conv(a, w, stride) if kind == "conv2d" else conv_transpose(a, w, stride)) + b
            z = z.reshape(z.shape[0], -1)
        a = ACTIVATIONS[activation](z)
    return a


def loss_fn(name):
    def loss(params, x):
        y = forward(params, x)
        if name == "mse":
            return jnp.mean((y - x) ** 2)
        p = jnp.clip(y, 1e-7, 1 - 1e-7)
        return jnp.mean(-(x * jnp.log(p) + (1 - x) * jnp.log(1 - p)))

    return loss


def floats(a):
    return [float(str(v)) for v in np.asarray(a, dtype=np.float32).ravel()]


def layers_json(params):
    return [
        {"kind": kind, "shape": list(shape), "stride": stride, "activation": activation,
         "input_shape": list(input_shape) if input_shape else None, "weight": floats(w), "bias": floats(b)}
        for (kind, shape, stride, activation, input_shape), (w, b) in zip(LAYERS, params)
    ]


def main():
    rng = np.random.default_rng(7)
    initial = []
    for kind, shape, _, _, _ in LAYERS:
        fan_in = int(np.prod(shape[:-1])) if kind != "conv_transpose2d" else shape[0] * shape[1] * shape[3]
        limit = np.sqrt(3.0 / fan_in)
        bias_len = shape[-1] if kind != "conv_transpose2d" else shape[2]
        initial.append(
            (
                rng.uniform(-limit, limit, shape).astype(np.float32),
                rng.uniform(-0.1, 0.1, bias_len).astype(np.float32),
            )
        )
    batch = rng.uniform(0, 1, (BATCH, 64)).astype(np.float32)
    runs = [
        ("mse", "jax_cae_mse_adam.json", "adam", LR),
        ("bce", "jax_cae_bce_adam.json", "adam", LR),
        ("mse", "jax_cae_mse_sgd.json", "sgd", 0.5),
    ]
    for name, file, kind, lr in runs:
        params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in initial]
        optimizer = optax.adam(lr) if kind == "adam" else optax.sgd(lr)
        state = optimizer.init(params)
        value_and_grad = jax.jit(jax.value_and_grad(loss_fn(name)))
        losses = []
        for _ in range(STEPS):
            value, grads = value_and_grad(params, batch)
            losses.append(float(str(np.float32(value))))
            updates, state = optimizer.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        fixture = {
            "framework": f"jax {jax.__version__}, optax {optax.__version__}",
            "loss": name,
            "optimizer": kind,
            "learning_rate": lr,
            "encoder_layers": ENCODER_LAYERS,
            "batch": floats(batch),
            "batch_shape": [BATCH, 64],
            "layers": layers_json([(np.asarray(w), np.asarray(b)) for w, b in initial]),
            "losses": losses,
            "final_layers": layers_json(params),
        }
        (FIXTURES / file).write_text(json.dumps(fixture) + "\n")
        print(f"{file}: losses {losses[0]:.6f} -> {losses[-1]:.6f}")


if __name__ == "__main__":
    main()
