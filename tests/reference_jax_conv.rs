//! The convolution layers against XLA: forward and backward of single `Conv2d` and `ConvTranspose2d` layers
//! (Same and Valid, strides 1 to 3, square, rectangular and 1x1 kernels, several activations), compared with
//! what `tools/reference/conv_layers.py` computed in JAX (`tests/fixtures/jax_conv_layers.json`). JAX's Conv2D is
//! `lax.conv_general_dilated` in Keras' layouts; its Conv2DTranspose is the vector-Jacobian product of that
//! convolution, i.e. the contract's definition, computed without our rules.
//!
//! The two sum in different orders, so they agree to f32 rounding, not bit for bit.

use autoencoder::ndarray::{Array1, Array2, Array4};
use autoencoder::{Activation, Conv2d, ConvGradients, ConvTranspose2d, Padding};
use serde_json::Value;

/// Observed: at most 9.5e-7 absolute (on gradients of order 1 to 10: a few ulps).
const TOLERANCE: f32 = 2e-6;

fn numbers(value: &Value) -> Vec<f32> {
    let list = value.as_array().expect("a list of numbers");
    list.iter().map(|v| v.as_f64().expect("a number") as f32).collect()
}

fn shape<const N: usize>(value: &Value) -> [usize; N] {
    let list: Vec<usize> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    list.try_into().expect("a shape of the right rank")
}

#[track_caller]
fn assert_close(ours: &[f32], theirs: &[f32], what: &str) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let mut worst = 0.0_f32;
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        let difference = (a - b).abs();
        assert!(
            difference <= TOLERANCE * (1.0 + b.abs()),
            "{what}[{i}]: ours {a}, JAX {b}"
        );
        worst = worst.max(difference);
    }
    worst
}

#[test]
fn conv_layers_match_jax() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jax_conv_layers.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let batch = fixture["batch"].as_u64().unwrap() as usize;
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 11);
    let mut worst = 0.0_f32;
    for case in cases {
        let kind = case["kind"].as_str().unwrap();
        let [h, w, c] = shape::<3>(&case["input_shape"]);
        let kernel = Array4::from_shape_vec(shape::<4>(&case["kernel_shape"]), numbers(&case["kernel"])).unwrap();
        let bias = Array1::from(numbers(&case["bias"]));
        let stride = case["stride"].as_u64().unwrap() as usize;
        let padding: Padding = case["padding"].as_str().unwrap().parse().unwrap();
        let activation: Activation = match case["activation"].as_str().unwrap() {
            "elu" => Activation::Elu(1.0),
            name => name.parse().unwrap(),
        };
        let what = format!("{kind} {:?} {padding} stride {stride} {activation}", kernel.dim());
        let x = Array2::from_shape_vec((batch, h * w * c), numbers(&case["x"])).unwrap();
        let r = numbers(&case["r"]);
        let [oh, ow, oc] = shape::<3>(&case["output_shape"]);
        let r = Array2::from_shape_vec((batch, oh * ow * oc), r).unwrap();
        let (output_shape, output, grads): (_, Array2<f32>, ConvGradients) = match kind {
            "conv2d" => {
                let layer = Conv2d::from_parts(kernel, bias, (h, w, c), stride, padding, activation).unwrap();
                let trace = layer.forward_train(x.view()).unwrap();
                (
                    layer.output_shape(),
                    trace.output().clone(),
                    layer.backward(&trace, r.view()).unwrap(),
                )
            }
            _ => {
                let layer = ConvTranspose2d::from_parts(kernel, bias, (h, w, c), stride, padding, activation).unwrap();
                let trace = layer.forward_train(x.view()).unwrap();
                (
                    layer.output_shape(),
                    trace.output().clone(),
                    layer.backward(&trace, r.view()).unwrap(),
                )
            }
        };
        assert_eq!(output_shape, (oh, ow, oc), "{what}: output shape");
        worst = worst.max(assert_close(
            output.as_slice().unwrap(),
            &numbers(&case["y"]),
            &format!("{what}: y"),
        ));
        let pairs = [
            (grads.kernel.as_slice().unwrap(), "grad_kernel"),
            (grads.bias.as_slice().unwrap(), "grad_bias"),
            (grads.input.as_slice().unwrap(), "grad_x"),
        ];
        for (ours, name) in pairs {
            worst = worst.max(assert_close(ours, &numbers(&case[name]), &format!("{what}: {name}")));
        }
    }
    eprintln!("largest difference from JAX: {worst:e}");
}
