#!/usr/bin/env python3
"""Reference training trajectories of a small variational autoencoder in JAX, for tests/reference_jax_vae.rs.

A 12-input VAE: encoder Dense(8, tanh) -> Dense(2 * 3, identity) (the mean, then the log-variance, of a 3-D
latent), decoder Dense(8, relu) -> Dense(12, sigmoid), in Keras' layout (Dense (in, out)), its initial weights drawn
from a fixed seed, trained for 10 steps on one fixed batch of 16 rows (the target is the input) with a fixed noise
`eps` per step (drawn here and stored), on the issue's loss, differentiated by JAX (`jax.value_and_grad`), not by
our rules:

    z = mean + exp(log_var / 2) * eps
    reconstruction = (1/B) sum_rows sum_features l(x_hat, x)      (l: squared error, or BCE on x_hat clamped
                                                                    to [1e-7, 1 - 1e-7])
    kl = (1/B) sum_rows -1/2 sum_j (1 + log_var - mean^2 - exp(log_var))
    total = reconstruction + beta * kl

- tests/fixtures/jax_vae_bce_adam.json: BCE, beta 1, Adam (lr 1e-2, optax's, PyTorch's form);
- tests/fixtures/jax_vae_mse_adam.json: squared error, beta 0.5, Adam (lr 1e-2);
- tests/fixtures/jax_vae_bce_sgd.json: BCE, beta 2, plain SGD (lr 0.05): no step normalised, so the gradients
  themselves are compared.

Each fixture holds the initial weights, the batch, each step's eps, the three losses of every step (before that
step's update, as `Vae::train_step_with_noise` returns them) and the final weights, as float32 values written as
the shortest decimals that round-trip.

    $HOME/.venvs/anchors/bin/python tools/reference/vae_trajectory.py
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures"
BATCH, STEPS, INPUTS, LATENT = 16, 10, 12, 3

# (weight shape, activation)
LAYERS = [
    ((INPUTS, 8), "tanh"),
    ((8, 2 * LATENT), "identity"),
    ((LATENT, 8), "relu"),
    ((8, INPUTS), "sigmoid"),
]
ENCODER_LAYERS = 2
ACTIVATIONS = {"identity": lambda z: z, "relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


def run_layers(params, layers, a):
    for ((_, activation), (w, b)) in zip(layers, params):
        a = ACTIVATIONS[activation](a @ w + b)
    return a


def losses(params, x, eps, name, beta):
    heads = run_layers(params[:ENCODER_LAYERS], LAYERS[:ENCODER_LAYERS], x)
    mean, log_var = heads[:, :LATENT], heads[:, LATENT:]
    z = mean + jnp.exp(log_var / 2) * eps
    y = run_layers(params[ENCODER_LAYERS:], LAYERS[ENCODER_LAYERS:], z)
    batch = x.shape[0]
    if name == "mse":
        per_element = (y - x) ** 2
    else:
        p = jnp.clip(y, 1e-7, 1 - 1e-7)
        per_element = -(x * jnp.log(p) + (1 - x) * jnp.log(1 - p))
    reconstruction = jnp.sum(per_element) / batch
    kl = jnp.sum(-0.5 * (1 + log_var - mean**2 - jnp.exp(log_var))) / batch
    return reconstruction + beta * kl, (reconstruction, kl)


def floats(a):
    return [float(str(v)) for v in np.asarray(a, dtype=np.float32).ravel()]


def layers_json(params):
    return [
        {"kind": "dense", "shape": list(shape), "activation": activation, "weight": floats(w), "bias": floats(b)}
        for (shape, activation), (w, b) in zip(LAYERS, params)
    ]


def main():
    rng = np.random.default_rng(11)
    initial = []
    for shape, _ in LAYERS:
        limit = np.sqrt(6.0 / (shape[0] + shape[1]))
        initial.append(
            (
                rng.uniform(-limit, limit, shape).astype(np.float32),
                rng.uniform(-0.1, 0.1, shape[1]).astype(np.float32),
            )
        )
    batch = rng.uniform(0, 1, (BATCH, INPUTS)).astype(np.float32)
    eps = rng.standard_normal((STEPS, BATCH, LATENT)).astype(np.float32)
    runs = [
        ("bce", 1.0, "jax_vae_bce_adam.json", "adam", 1e-2),
        ("mse", 0.5, "jax_vae_mse_adam.json", "adam", 1e-2),
        ("bce", 2.0, "jax_vae_bce_sgd.json", "sgd", 0.05),
    ]
    for name, beta, file, kind, lr in runs:
        params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in initial]
        optimizer = optax.adam(lr) if kind == "adam" else optax.sgd(lr)
        state = optimizer.init(params)
        value_and_grad = jax.jit(
            jax.value_and_grad(lambda p, x, e: losses(p, x, e, name, beta), has_aux=True)
        )
        trajectory = []
        for step in range(STEPS):
            (total, (reconstruction, kl)), grads = value_and_grad(params, batch, eps[step])
            trajectory.append(
                {
                    "total": float(str(np.float32(total))),
                    "reconstruction": float(str(np.float32(reconstruction))),
                    "kl": float(str(np.float32(kl))),
                }
            )
            updates, state = optimizer.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        fixture = {
            "generator": "tools/reference/vae_trajectory.py",
            "framework": f"jax {jax.__version__}, optax {optax.__version__}",
            "loss": name,
            "beta": beta,
            "optimizer": kind,
            "learning_rate": lr,
            "encoder_layers": ENCODER_LAYERS,
            "latent": LATENT,
            "batch": floats(batch),
            "batch_shape": [BATCH, INPUTS],
            "eps": [floats(e) for e in eps],
            "layers": layers_json([(np.asarray(w), np.asarray(b)) for w, b in initial]),
            "losses": trajectory,
            "final_layers": layers_json(params),
        }
        (FIXTURES / file).write_text(json.dumps(fixture) + "\n")
        print(f"{file}: total {trajectory[0]['total']:.6f} -> {trajectory[-1]['total']:.6f}")


if __name__ == "__main__":
    main()
