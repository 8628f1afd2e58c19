//! Ten training steps of a small convolutional autoencoder, against the same ten steps in JAX.
//!
//! `tools/reference/cae_trajectory.py` built an 8x8x1 autoencoder — Conv2D(4, 3x3, stride 2) → Dense(6) |
//! Dense(64) → Conv2DTranspose(2, 3x3, stride 2) → Conv2DTranspose(1, 3x3), same padding — in Keras' layouts,
//! trained it for 10 Adam steps (lr 1e-2) on one fixed batch of 16 images with MSE and with BCE, and wrote the
//! initial weights, the batch, the loss of every step and the final weights to `tests/fixtures/jax_cae_*.json`.
//! JAX's transposed convolution there is the vector-Jacobian product of its convolution (the contract's
//! definition), not our rules; a third fixture trains with plain SGD, so that the gradients themselves are compared
//! without Adam's normalisation. Here the same model is built with `from_parts`, trained with
//! `Autoencoder::train_step`, and compared. The two sum in different orders, so they agree to f32 rounding.

mod common;

use autoencoder::ndarray::{Array1, Array2, Array4};
use autoencoder::{
    Activation, Adam, Autoencoder, Conv2d, ConvTranspose2d, Decoder, Dense, Encoder, Layer, Loss, Padding, Sgd,
};
use common::trajectory::{assert_close, numbers, sizes, ADAM_ABSOLUTE_FLOOR, SGD_ABSOLUTE_FLOOR};
use serde_json::Value;

fn layer(json: &Value) -> Layer {
    let shape = sizes(&json["shape"]);
    let (weight, bias) = (numbers(&json["weight"]), Array1::from(numbers(&json["bias"])));
    let activation: Activation = json["activation"].as_str().unwrap().parse().unwrap();
    match json["kind"].as_str().unwrap() {
        "dense" => {
            let weights = Array2::from_shape_vec((shape[0], shape[1]), weight).unwrap();
            Dense::from_parts(weights, bias, activation).unwrap().into()
        }
        kind => {
            let kernel = Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), weight).unwrap();
            let s = sizes(&json["input_shape"]);
            let stride = json["stride"].as_u64().unwrap() as usize;
            let input = (s[0], s[1], s[2]);
            match kind {
                "conv2d" => Conv2d::from_parts(kernel, bias, input, stride, Padding::Same, activation)
                    .unwrap()
                    .into(),
                _ => ConvTranspose2d::from_parts(kernel, bias, input, stride, Padding::Same, activation)
                    .unwrap()
                    .into(),
            }
        }
    }
}

fn check(file: &str, loss: Loss) {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut layers: Vec<Layer> = fixture["layers"].as_array().unwrap().iter().map(layer).collect();
    let decoder = layers.split_off(fixture["encoder_layers"].as_u64().unwrap() as usize);
    let mut ae = Autoencoder::new(Encoder::new(layers).unwrap(), Decoder::new(decoder).unwrap()).unwrap();
    let shape = sizes(&fixture["batch_shape"]);
    let x = Array2::from_shape_vec((shape[0], shape[1]), numbers(&fixture["batch"])).unwrap();
    let learning_rate = fixture["learning_rate"].as_f64().unwrap();
    let floor = match fixture["optimizer"].as_str().unwrap() {
        "adam" => ADAM_ABSOLUTE_FLOOR,
        _ => SGD_ABSOLUTE_FLOOR,
    };
    let mut optimizer: Box<dyn FnMut(&mut Autoencoder) -> f32> = match fixture["optimizer"].as_str().unwrap() {
        "adam" => {
            let mut adam = Adam::new(learning_rate);
            Box::new(move |ae: &mut Autoencoder| ae.train_step(x.view(), x.view(), loss, &mut adam).unwrap())
        }
        _ => {
            let mut sgd = Sgd::new(learning_rate);
            Box::new(move |ae: &mut Autoencoder| ae.train_step(x.view(), x.view(), loss, &mut sgd).unwrap())
        }
    };
    let mut worst = 0.0_f64;
    for (step, want) in numbers(&fixture["losses"]).into_iter().enumerate() {
        let got = optimizer(&mut ae);
        worst = worst.max(assert_close(got, want, floor, &format!("{file}: loss of step {step}")));
    }
    let ours = ae.encoder().layers().iter().chain(ae.decoder().layers());
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
fn ten_adam_steps_with_mse_match_jax() {
    check("jax_cae_mse_adam.json", Loss::Mse);
}

#[test]
fn ten_sgd_steps_with_mse_match_jax() {
    check("jax_cae_mse_sgd.json", Loss::Mse);
}

#[test]
fn ten_adam_steps_with_bce_match_jax() {
    check("jax_cae_bce_adam.json", Loss::BinaryCrossEntropy);
}
