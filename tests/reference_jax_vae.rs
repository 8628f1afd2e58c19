//! Ten training steps of a small variational autoencoder, against the same ten steps in JAX.
//!
//! `tools/reference/vae_trajectory.py` built a 12-input VAE — Dense(8, tanh) → Dense(2 · 3) | Dense(8, relu) →
//! Dense(12, sigmoid) — trained it for 10 steps on one fixed batch of 16 rows, with a fixed `eps` per step, on the
//! issue's loss (`reconstruction` a sum over the features averaged over the rows, `kl`, `total = reconstruction +
//! β · kl`), differentiated by JAX rather than by our hand-written backward through the sampling and the KL term,
//! and wrote the initial weights, the batch, each step's `eps`, the three losses of every step and the final
//! weights to `tests/fixtures/jax_vae_*.json`: BCE with β = 1 and Adam, squared error with β = 0.5 and Adam, BCE
//! with β = 2 and plain SGD (so that the gradients themselves are compared, without Adam's normalisation). Here the
//! same model is built with `from_parts`, trained with `Vae::train_step_with_noise` on the same `eps`, and
//! compared. The two sum in different orders, so they agree to f32 rounding (observed: the largest absolute
//! difference 5.7e-6 with Adam, 1.9e-6 with SGD, each on a loss of about 10, within the relative tolerance).

mod common;

use autoencoder::ndarray::{Array1, Array2};
use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, Loss, Sgd, Vae, VaeLoss};
use common::trajectory::{assert_close, numbers, sizes, ADAM_ABSOLUTE_FLOOR, SGD_ABSOLUTE_FLOOR};
use serde_json::Value;

fn layer(json: &Value) -> Dense {
    let shape = sizes(&json["shape"]);
    let activation: Activation = json["activation"].as_str().unwrap().parse().unwrap();
    let weights = Array2::from_shape_vec((shape[0], shape[1]), numbers(&json["weight"])).unwrap();
    Dense::from_parts(weights, Array1::from(numbers(&json["bias"])), activation).unwrap()
}

fn check(file: &str, loss: Loss) {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut layers: Vec<Dense> = fixture["layers"].as_array().unwrap().iter().map(layer).collect();
    let decoder = layers.split_off(fixture["encoder_layers"].as_u64().unwrap() as usize);
    let beta = fixture["beta"].as_f64().unwrap() as f32;
    let mut vae = Vae::new(Encoder::new(layers).unwrap(), Decoder::new(decoder).unwrap())
        .unwrap()
        .with_beta(beta);
    let latent = fixture["latent"].as_u64().unwrap() as usize;
    assert_eq!(vae.latent(), latent);
    let shape = sizes(&fixture["batch_shape"]);
    let x = Array2::from_shape_vec((shape[0], shape[1]), numbers(&fixture["batch"])).unwrap();
    let learning_rate = fixture["learning_rate"].as_f64().unwrap();
    let (mut adam, mut sgd) = (Adam::new(learning_rate), Sgd::new(learning_rate));
    let is_adam = fixture["optimizer"].as_str().unwrap() == "adam";
    let floor = if is_adam {
        ADAM_ABSOLUTE_FLOOR
    } else {
        SGD_ABSOLUTE_FLOOR
    };
    let mut worst = 0.0_f64;
    let steps = fixture["eps"]
        .as_array()
        .unwrap()
        .iter()
        .zip(fixture["losses"].as_array().unwrap());
    for (step, (eps, want)) in steps.enumerate() {
        let eps = Array2::from_shape_vec((shape[0], latent), numbers(eps)).unwrap();
        let got: VaeLoss = if is_adam {
            vae.train_step_with_noise(x.view(), x.view(), eps.view(), loss, &mut adam)
        } else {
            vae.train_step_with_noise(x.view(), x.view(), eps.view(), loss, &mut sgd)
        }
        .unwrap();
        for (what, ours) in [
            ("total", got.total),
            ("reconstruction", got.reconstruction),
            ("kl", got.kl),
        ] {
            let theirs = want[what].as_f64().unwrap() as f32;
            worst = worst.max(assert_close(
                ours,
                theirs,
                floor,
                &format!("{file}: {what} of step {step}"),
            ));
        }
    }
    let ours = vae.encoder().layers().iter().chain(vae.decoder().layers());
    for (k, (layer, want)) in ours.zip(fixture["final_layers"].as_array().unwrap()).enumerate() {
        assert_eq!(layer.weights().shape(), &sizes(&want["shape"])[..], "layer {k}");
        for (i, (&a, &b)) in layer.weights().iter().zip(&numbers(&want["weight"])).enumerate() {
            worst = worst.max(assert_close(a, b, floor, &format!("{file}: layer {k} weight {i}")));
        }
        for (i, (&a, &b)) in layer.bias().iter().zip(&numbers(&want["bias"])).enumerate() {
            worst = worst.max(assert_close(a, b, floor, &format!("{file}: layer {k} bias {i}")));
        }
    }
    eprintln!("{file}: largest absolute difference {worst:e}");
}

#[test]
fn ten_adam_steps_with_bce_match_jax() {
    check("jax_vae_bce_adam.json", Loss::BinaryCrossEntropy);
}

#[test]
fn ten_adam_steps_with_mse_and_beta_one_half_match_jax() {
    check("jax_vae_mse_adam.json", Loss::Mse);
}

#[test]
fn ten_sgd_steps_with_bce_and_beta_two_match_jax() {
    check("jax_vae_bce_sgd.json", Loss::BinaryCrossEntropy);
}
