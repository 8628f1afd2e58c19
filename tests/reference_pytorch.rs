//! Ten training steps of a small autoencoder, against the same ten steps in PyTorch.
//!
//! `tools/reference/ae_trajectory.py` built a 12-8-3-8-12 autoencoder (ReLU, identity | ReLU, sigmoid) in
//! torch, trained it for 10 steps on one fixed batch of 16 rows, and wrote the initial weights, the batch, the
//! loss of every step and the final weights to `tests/fixtures/pytorch_ae_*.json` (float32 values, W in the
//! crate's `(inputs, outputs)` layout, the transpose of torch's `Linear.weight`). Here the same model is built
//! with `Dense::from_parts`, trained with `Autoencoder::train_step`, and compared:
//!
//! - `pytorch_ae_mse_adam.json`: MSE, `torch.optim.Adam(lr=1e-2)`;
//! - `pytorch_ae_bce_sgd_momentum.json`: BCE, `torch.optim.SGD(lr=0.5, momentum=0.9, nesterov=True)`.
//!
//! The two implementations sum the matrix products in different orders, so they agree to f32 rounding, not
//! bit for bit: every loss and every final weight must be within `RELATIVE_TOLERANCE` of torch's (relative to
//! the larger magnitude, with an absolute floor of `ABSOLUTE_FLOOR` for weights near zero).

use autoencoder::ndarray::{Array1, Array2};
use autoencoder::{Activation, Adam, Autoencoder, Decoder, Dense, Encoder, Loss, Optimizer, Sgd};
use serde_json::Value;

/// Observed: losses within 1.0e-7 relative, final weights within 2.5e-6 relative (2.2e-7 absolute) of torch's.
const RELATIVE_TOLERANCE: f64 = 1e-5;
const ABSOLUTE_FLOOR: f64 = 1e-6;

fn number(value: &Value) -> f32 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}")) as f32
}

fn vector(value: &Value) -> Array1<f32> {
    value
        .as_array()
        .expect("a list of numbers")
        .iter()
        .map(number)
        .collect()
}

fn matrix(value: &Value) -> Array2<f32> {
    let rows: Vec<Array1<f32>> = value.as_array().expect("a list of rows").iter().map(vector).collect();
    let cols = rows[0].len();
    Array2::from_shape_fn((rows.len(), cols), |(r, c)| rows[r][c])
}

fn dense(layer: &Value) -> Dense {
    let activation: Activation = layer["activation"].as_str().unwrap().parse().unwrap();
    Dense::from_parts(matrix(&layer["weights"]), vector(&layer["bias"]), activation).unwrap()
}

/// The fixture's initial model.
fn model(fixture: &Value) -> Autoencoder {
    let mut layers: Vec<Dense> = fixture["layers"].as_array().unwrap().iter().map(dense).collect();
    let decoder_layers = layers.split_off(fixture["encoder_layers"].as_u64().unwrap() as usize);
    Autoencoder::new(Encoder::new(layers).unwrap(), Decoder::new(decoder_layers).unwrap()).unwrap()
}

/// The largest relative and absolute differences seen, for the report.
#[derive(Default)]
struct Differences {
    relative: f64,
    absolute: f64,
}

impl Differences {
    fn check(&mut self, got: f32, want: f32, what: impl FnOnce() -> String) {
        let (got, want) = (f64::from(got), f64::from(want));
        let difference = (got - want).abs();
        let scale = got.abs().max(want.abs());
        assert!(
            difference <= RELATIVE_TOLERANCE * scale + ABSOLUTE_FLOOR,
            "{}: got {got:e}, PyTorch {want:e}",
            what()
        );
        self.absolute = self.absolute.max(difference);
        if scale > 0.0 {
            self.relative = self.relative.max(difference / scale);
        }
    }
}

/// Trains the fixture's model as torch did, compares, and prints the largest differences.
fn replay(fixture_text: &str, name: &str, mut optimizer: impl Optimizer) {
    let fixture: Value = serde_json::from_str(fixture_text).unwrap();
    let mut ae = model(&fixture);
    let loss: Loss = fixture["loss"].as_str().unwrap().parse().unwrap();
    let input = matrix(&fixture["input"]);
    let target = matrix(&fixture["target"]);
    let torch_losses = vector(&fixture["losses"]);
    assert_eq!(torch_losses.len(), 10, "{name}: ten steps");

    let mut loss_differences = Differences::default();
    for (step, &want) in torch_losses.iter().enumerate() {
        let got = ae
            .train_step(input.view(), target.view(), loss, &mut optimizer)
            .unwrap();
        loss_differences.check(got, want, || format!("{name}: the loss of step {}", step + 1));
    }
    // The trajectory is not flat, so that matching it means something.
    assert!(
        torch_losses[9] < torch_losses[0] - 5e-3,
        "{name}: torch's loss barely moved"
    );

    let mut weight_differences = Differences::default();
    let layers = ae
        .encoder()
        .layers()
        .iter()
        .chain(ae.decoder().layers())
        .map(|l| l.as_dense().unwrap());
    let final_layers = fixture["final_layers"].as_array().unwrap();
    for (k, (layer, want)) in layers.zip(final_layers).enumerate() {
        let (want_weights, want_bias) = (matrix(&want["weights"]), vector(&want["bias"]));
        assert_eq!(layer.weights().dim(), want_weights.dim(), "{name}: layer {k}'s weights");
        for ((i, j), &got) in layer.weights().indexed_iter() {
            weight_differences.check(got, want_weights[[i, j]], || format!("{name}: layer {k}, W[{i}][{j}]"));
        }
        for (j, &got) in layer.bias().iter().enumerate() {
            weight_differences.check(got, want_bias[j], || format!("{name}: layer {k}, b[{j}]"));
        }
    }
    // The weights moved away from their initial values by far more than the tolerance.
    let initial = model(&fixture);
    let moved = initial
        .encoder()
        .layers()
        .iter()
        .chain(initial.decoder().layers())
        .zip(ae.encoder().layers().iter().chain(ae.decoder().layers()))
        .flat_map(|(a, b)| {
            a.weights()
                .iter()
                .zip(b.weights())
                .map(|(x, y)| (x - y).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0_f32, f32::max);
    assert!(moved > 1e-2, "{name}: the weights moved at most {moved}");

    eprintln!(
        "{name}: losses within {:.1e} relative ({:.1e} absolute); final weights within {:.1e} relative \
         ({:.1e} absolute) of PyTorch",
        loss_differences.relative, loss_differences.absolute, weight_differences.relative, weight_differences.absolute
    );
}

#[test]
fn mse_with_adam_matches_pytorch() {
    let text = include_str!("fixtures/pytorch_ae_mse_adam.json");
    let fixture: Value = serde_json::from_str(text).unwrap();
    let options = &fixture["optimizer"];
    assert_eq!(options["kind"], "adam");
    let adam = Adam::new(options["lr"].as_f64().unwrap())
        .with_betas(
            options["betas"][0].as_f64().unwrap(),
            options["betas"][1].as_f64().unwrap(),
        )
        .with_eps(options["eps"].as_f64().unwrap());
    replay(text, "MSE + Adam(lr=1e-2)", adam);
}

#[test]
fn bce_with_nesterov_sgd_matches_pytorch() {
    let text = include_str!("fixtures/pytorch_ae_bce_sgd_momentum.json");
    let fixture: Value = serde_json::from_str(text).unwrap();
    let options = &fixture["optimizer"];
    assert_eq!(options["kind"], "sgd");
    let sgd = Sgd::new(options["lr"].as_f64().unwrap())
        .with_momentum(options["momentum"].as_f64().unwrap())
        .with_nesterov(options["nesterov"].as_bool().unwrap());
    replay(text, "BCE + SGD(lr=0.5, momentum=0.9, nesterov=True)", sgd);
}
