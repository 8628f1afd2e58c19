#!/usr/bin/env python3
"""Reference training trajectories of a small autoencoder in PyTorch, for tests/reference_pytorch.rs.

A 12-8-3-8-12 autoencoder (ReLU, identity | ReLU, sigmoid), its initial weights drawn by torch's default
nn.Linear initialisation from a fixed seed, trained for 10 steps on one fixed batch (the target is the input):

- tests/fixtures/pytorch_ae_mse_adam.json: MSE loss, Adam(lr=1e-2);
- tests/fixtures/pytorch_ae_bce_sgd_momentum.json: BCE loss, SGD(lr=0.5, momentum=0.9, nesterov=True).

Each fixture holds the initial weights, the batch, the loss of every step (computed before that step's
update, as `Autoencoder::train_step` returns it) and the final weights. Weights are stored in the crate's
layout: W is (inputs, outputs), the transpose of torch's Linear.weight. Every number is a float32 written as
the shortest decimal that round-trips to it (Python's repr of the float), so the Rust test reads exactly
the values torch used.

    $HOME/.venvs/anchors/bin/python tools/reference/ae_trajectory.py
"""

import json
import pathlib
import re

import torch

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures"
SIZES = [12, 8, 3, 8, 12]
ACTIVATIONS = ["relu", "identity", "relu", "sigmoid"]
ENCODER_LAYERS = 2
BATCH = 16
STEPS = 10


def make_model(seed):
    torch.manual_seed(seed)
    linears = [torch.nn.Linear(i, o) for i, o in zip(SIZES, SIZES[1:])]
    batch = torch.rand(BATCH, SIZES[0])
    return linears, batch


def forward(linears, x):
    for linear, activation in zip(linears, ACTIVATIONS):
        x = linear(x)
        if activation == "relu":
            x = torch.relu(x)
        elif activation == "sigmoid":
            x = torch.sigmoid(x)
    return x


def layers_json(linears, with_activation):
    layers = []
    for linear, activation in zip(linears, ACTIVATIONS):
        layer = {
            "weights": linear.weight.detach().t().tolist(),
            "bias": linear.bias.detach().tolist(),
        }
        if with_activation:
            layer = {"activation": activation, **layer}
        layers.append(layer)
    return layers


def to_json(value):
    """Indented JSON with each list of numbers on one line."""
    text = json.dumps(value, indent=1)
    numbers = re.compile(r"\[\s*([-+0-9.e,\s]+?)\s*\]")
    return numbers.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def run(name, seed, loss_name, make_optimizer, optimizer_json):
    linears, batch = make_model(seed)
    initial = layers_json(linears, with_activation=True)
    params = [p for linear in linears for p in (linear.weight, linear.bias)]
    optimizer = make_optimizer(params)
    loss_fn = {"mse": torch.nn.MSELoss(), "binary_cross_entropy": torch.nn.BCELoss()}[loss_name]
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = loss_fn(forward(linears, batch), batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    fixture = {
        "generator": "tools/reference/ae_trajectory.py",
        "torch_version": torch.__version__,
        "seed": seed,
        "encoder_layers": ENCODER_LAYERS,
        "loss": loss_name,
        "optimizer": optimizer_json,
        "layers": initial,
        "input": batch.tolist(),
        "target": batch.tolist(),
        "losses": losses,
        "final_layers": layers_json(linears, with_activation=False),
    }
    path = FIXTURES / name
    path.write_text(to_json(fixture) + "\n")
    print(f"{path}: losses {losses[0]:.6f} -> {losses[-1]:.6f}")


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    run(
        "pytorch_ae_mse_adam.json",
        seed=20240601,
        loss_name="mse",
        make_optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
        optimizer_json={"kind": "adam", "lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8},
    )
    run(
        "pytorch_ae_bce_sgd_momentum.json",
        seed=20240602,
        loss_name="binary_cross_entropy",
        make_optimizer=lambda params: torch.optim.SGD(params, lr=0.5, momentum=0.9, nesterov=True),
        optimizer_json={"kind": "sgd", "lr": 0.5, "momentum": 0.9, "nesterov": True},
    )


if __name__ == "__main__":
    main()
