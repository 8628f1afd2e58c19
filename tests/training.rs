//! Training end to end: a tiny network that must learn, the errors a training step gives (and the weights it
//! then keeps), and the thread-safety of the public types.

mod common;

use autoencoder::ndarray::{array, Array1, Array2};
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{
    Activation, Adam, AdamW, Autoencoder, AutoencoderBuilder, Decoder, Dense, DenseGradients, DenseTrace, Encoder,
    Error, Init, Loss, Optimizer, OptimizerState, Sgd,
};
use common::parameter_bits;

fn identity_layer(weights: Array2<f32>) -> Dense {
    let outputs = weights.ncols();
    Dense::from_parts(weights, Array1::zeros(outputs), Activation::Identity).unwrap()
}

fn autoencoder(encoder: Vec<Dense>, decoder: Vec<Dense>) -> Autoencoder {
    Autoencoder::new(Encoder::new(encoder).unwrap(), Decoder::new(decoder).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// Learning.
// ---------------------------------------------------------------------------------------------------------

/// The 8-3-8 encoder problem (Rumelhart, Hinton & Williams): the 8 one-hot vectors of length 8 through a
/// 3-unit bottleneck (tanh), back out through a sigmoid. The best constant prediction, 1/8 everywhere, has an
/// MSE of 1/8 · 7/8 = 0.109; to get below 0.01 the network must give each of the 8 inputs its own code.
/// With Adam(0.05) the loss falls below 0.01 after 251-484 steps for seeds 0-4; the bound allows 1000.
#[test]
fn an_8_3_8_autoencoder_learns_the_one_hot_codes() {
    const BOUND: f32 = 0.01;
    const MAX_STEPS: usize = 1000;
    let x = Array2::<f32>::eye(8);
    for seed in 0..3 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut ae = autoencoder(
            vec![Dense::new(8, 3, Activation::Tanh, Init::GlorotUniform, &mut rng).unwrap()],
            vec![Dense::new(3, 8, Activation::Sigmoid, Init::GlorotUniform, &mut rng).unwrap()],
        );
        let mut adam = Adam::new(0.05);
        let initial = ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
        assert!(
            initial > 0.2,
            "seed {seed}: the bound is met before training ({initial})"
        );
        let steps = (2..=MAX_STEPS)
            .find(|_| ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap() < BOUND)
            .unwrap_or_else(|| panic!("seed {seed}: the loss did not fall below {BOUND} in {MAX_STEPS} steps"));

        // Each input comes back as itself: its own position is the largest output, above 0.5, all others below.
        let reconstruction = ae.reconstruct(x.view()).unwrap();
        for (i, row) in reconstruction.rows().into_iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                assert_eq!(v > 0.5, i == j, "seed {seed}: one-hot {i} reconstructs as {row}");
            }
        }
        // And the 8 codes are distinct points of the 3-d latent space.
        let codes = ae.encode(x.view()).unwrap();
        for i in 0..8 {
            for j in 0..i {
                let distance = (&codes.row(i) - &codes.row(j)).mapv(|d| d * d).sum().sqrt();
                assert!(distance > 0.1, "seed {seed}: codes {i} and {j} are {distance} apart");
            }
        }
        eprintln!("seed {seed}: loss {initial:.3} at step 1, below {BOUND} at step {steps}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Non-finite values: the step is refused and nothing changes.
// ---------------------------------------------------------------------------------------------------------

#[test]
fn a_nan_input_is_refused_and_the_weights_are_kept() {
    let mut ae = Autoencoder::builder(6).hidden(&[4]).latent(2).seed(5).build().unwrap();
    let x = Array2::from_shape_fn((3, 6), |(i, j)| (i * 6 + j) as f32 / 18.0);
    let mut adam = Adam::new(1e-2);
    ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
    let (weights, state) = (parameter_bits(&ae), adam.state());

    let mut poisoned = x.clone();
    poisoned[[1, 4]] = f32::NAN;
    // The NaN reaches the loss: no activation (the default hidden one is ReLU) turns it into a number.
    let codes = ae.encode(poisoned.view()).unwrap();
    assert!(
        codes.row(1).iter().all(|v| v.is_nan()),
        "the NaN was swallowed: {codes}"
    );
    assert!(codes.row(0).iter().all(|v| v.is_finite()));
    for (input, target) in [(&poisoned, &x), (&x, &poisoned)] {
        for loss in [Loss::Mse, Loss::BinaryCrossEntropy] {
            match ae.train_step(input.view(), target.view(), loss, &mut adam) {
                Err(Error::NonFinite { what: "loss", value }) => assert!(value.is_nan()),
                other => panic!("{loss}: expected a non-finite loss, got {other:?}"),
            }
            assert_eq!(parameter_bits(&ae), weights, "{loss}: the weights changed");
            assert_eq!(adam.state(), state, "{loss}: the optimizer stepped");
        }
    }
    // Training goes on from where it was.
    assert!(ae
        .train_step(x.view(), x.view(), Loss::Mse, &mut adam)
        .unwrap()
        .is_finite());
}

#[test]
fn an_infinite_loss_from_a_huge_learning_rate_is_refused() {
    // Two identity layers of weight 0.5 on x = (1, -1), target 0: the first step with lr 1e30 succeeds and
    // throws every weight to about ±1e29 (finite in f32); the second step's outputs are then about 1e58,
    // beyond f32, so the loss is infinite (or NaN) and the step must be refused.
    let mut ae = autoencoder(
        vec![identity_layer(array![[0.5_f32, 0.0], [0.0, 0.5]])],
        vec![identity_layer(array![[0.5_f32, 0.0], [0.0, 0.5]])],
    );
    let (x, target) = (array![[1.0_f32, -1.0]], Array2::zeros((1, 2)));
    let mut sgd = Sgd::new(1e30);
    let first = ae.train_step(x.view(), target.view(), Loss::Mse, &mut sgd).unwrap();
    assert_eq!(first, 0.0625); // mean(0.25², 0.25²)
    let weights = parameter_bits(&ae);
    let largest = ae.encoder().layers()[0]
        .weights()
        .iter()
        .fold(0.0_f32, |m, w| m.max(w.abs()));
    assert!(
        largest > 1e28 && largest.is_finite(),
        "the first step gave weights up to {largest}"
    );

    match ae.train_step(x.view(), target.view(), Loss::Mse, &mut sgd) {
        Err(Error::NonFinite { what: "loss", value }) => assert!(!value.is_finite()),
        other => panic!("expected a non-finite loss, got {other:?}"),
    }
    assert_eq!(parameter_bits(&ae), weights);
}

#[test]
fn a_finite_loss_with_an_overflowing_gradient_is_refused() {
    // Encoder weight 1e-38, decoder weight 1e38: the output is x again (finite loss), but backprop multiplies
    // dL/dy = 2 · 10 = 20 by the decoder's weight, 2e39, which overflows f32 into the encoder's gradients.
    let mut ae = autoencoder(
        vec![identity_layer(array![[1e-38_f32]])],
        vec![identity_layer(array![[1e38_f32]])],
    );
    let (x, target) = (array![[10.0_f32]], array![[0.0_f32]]);
    assert!(Loss::Mse
        .value(ae.reconstruct(x.view()).unwrap().view(), target.view())
        .unwrap()
        .is_finite());
    let weights = parameter_bits(&ae);
    let mut sgd = Sgd::new(1e-3).with_momentum(0.9);
    match ae.train_step(x.view(), target.view(), Loss::Mse, &mut sgd) {
        Err(Error::NonFinite {
            what: "gradient",
            value,
        }) => assert!(value.is_infinite()),
        other => panic!("expected a non-finite gradient, got {other:?}"),
    }
    assert_eq!(parameter_bits(&ae), weights);
    assert_eq!(sgd.state().step, 0);
    assert!(sgd.state().buffers.is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// Shapes and settings.
// ---------------------------------------------------------------------------------------------------------

fn expect_shape_error<T: std::fmt::Debug>(result: autoencoder::Result<T>, mentions: &[&str]) {
    match result {
        Err(err @ Error::Shape { .. }) => {
            let message = err.to_string();
            for m in mentions {
                assert!(message.contains(m), "{message:?} does not mention {m:?}");
            }
        }
        other => panic!("expected a shape error mentioning {mentions:?}, got {other:?}"),
    }
}

#[test]
fn train_step_refuses_mismatched_shapes_and_keeps_the_weights() {
    let mut ae = Autoencoder::builder(6).hidden(&[4]).latent(2).seed(9).build().unwrap();
    let weights = parameter_bits(&ae);
    let mut adam = Adam::new(1e-2);
    let (x, wide) = (Array2::<f32>::zeros((3, 6)), Array2::<f32>::zeros((3, 7)));

    // input with 7 columns for a 6-input model
    expect_shape_error(
        ae.train_step(wide.view(), wide.view(), Loss::Mse, &mut adam),
        &["train_step", "6", "7"],
    );
    // target of another shape than the input
    expect_shape_error(
        ae.train_step(x.view(), wide.view(), Loss::Mse, &mut adam),
        &["(3, 6)", "(3, 7)"],
    );
    let short = Array2::<f32>::zeros((2, 6));
    expect_shape_error(
        ae.train_step(x.view(), short.view(), Loss::Mse, &mut adam),
        &["(3, 6)", "(2, 6)"],
    );
    // an empty batch
    let empty = Array2::<f32>::zeros((0, 6));
    assert!(matches!(
        ae.train_step(empty.view(), empty.view(), Loss::Mse, &mut adam),
        Err(Error::InvalidArgument(_))
    ));
    // invalid optimizer settings
    let mut negative = Sgd::new(-0.1);
    assert!(matches!(
        ae.train_step(x.view(), x.view(), Loss::Mse, &mut negative),
        Err(Error::InvalidArgument(_))
    ));

    assert_eq!(parameter_bits(&ae), weights);
    assert_eq!(adam.state().step, 0);
    // ... and the model still trains.
    ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
}

#[test]
fn encode_decode_and_reconstruct_refuse_wrong_widths() {
    let ae = Autoencoder::builder(6).hidden(&[4]).latent(2).seed(9).build().unwrap();
    expect_shape_error(ae.encode(Array2::zeros((3, 5)).view()), &["6 columns", "5 columns"]);
    expect_shape_error(ae.decode(Array2::zeros((3, 6)).view()), &["2 columns", "6 columns"]);
    expect_shape_error(
        ae.reconstruct(Array2::zeros((1, 2)).view()),
        &["6 columns", "2 columns"],
    );
    expect_shape_error(
        ae.reconstruction_error(Array2::zeros((1, 7)).view()),
        &["6 columns", "7 columns"],
    );
    // The right widths work, also for a single row.
    assert_eq!(ae.encode(Array2::zeros((1, 6)).view()).unwrap().dim(), (1, 2));
    assert_eq!(ae.decode(Array2::zeros((1, 2)).view()).unwrap().dim(), (1, 6));
}

// ---------------------------------------------------------------------------------------------------------
// Thread safety.
// ---------------------------------------------------------------------------------------------------------

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Autoencoder>();
    send_sync::<AutoencoderBuilder>();
    send_sync::<Encoder>();
    send_sync::<Decoder>();
    send_sync::<Dense>();
    send_sync::<DenseTrace>();
    send_sync::<DenseGradients>();
    send_sync::<Activation>();
    send_sync::<Loss>();
    send_sync::<Init>();
    send_sync::<Adam>();
    send_sync::<AdamW>();
    send_sync::<Sgd>();
    send_sync::<OptimizerState>();
    send_sync::<Error>();
}

#[test]
fn a_model_trains_on_another_thread_and_comes_back() {
    let ae = Autoencoder::builder(4).latent(2).seed(1).build().unwrap();
    let x = Array2::from_elem((2, 4), 0.25_f32);
    let trained = common::within(30, move || {
        let mut ae = ae;
        let mut adam = Adam::new(1e-2);
        ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
        ae
    });
    assert_eq!(trained.inputs(), 4);
}

#[test]
fn an_optimizer_state_from_another_model_is_refused_before_any_weight_moves() {
    let x = Array2::from_shape_fn((4, 6), |(i, j)| ((i + 2 * j) % 5) as f32 / 5.0);
    // Adam's state for a 6-4-3 model ...
    let mut other = Autoencoder::builder(6).hidden(&[4]).latent(3).build().unwrap();
    let mut adam = Adam::new(1e-2);
    other.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
    // ... used for a 6-4-2 model: encoder.0's weight and bias fit, encoder.1.weight (the latent layer's) does not.
    let mut ae = Autoencoder::builder(6).hidden(&[4]).latent(2).build().unwrap();
    let (before, state_before) = (parameter_bits(&ae), adam.state());
    let err = ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap_err();
    assert!(err.to_string().contains("optimizer state of encoder.1.weight"), "{err}");
    assert_eq!(parameter_bits(&ae), before, "no layer moved");
    assert_eq!(adam.state(), state_before, "the optimizer did not count a step");
}

/// An optimizer's state is by parameter name, and belongs to one model: moved to a model with other layer counts,
/// whose shared names (`encoder.0.*`, `decoder.0.*`, ...) have the same shapes, it errors naming a tensor rather
/// than mixing the two models' moments — whichever model has more layers — and changes nothing.
#[test]
fn an_optimizer_used_on_two_models_with_different_layer_counts_errors_rather_than_mixing_their_state() {
    let x = Array2::from_shape_fn((3, 4), |(i, j)| ((i + 2 * j) % 5) as f32 / 5.0);
    // 4-4-4-4-4 and 4-4-4: every layer is 4 × 4, so every name the two share has the same shape.
    let deep = || Autoencoder::builder(4).hidden(&[4]).latent(4).seed(1).build().unwrap();
    let shallow = || Autoencoder::builder(4).latent(4).seed(2).build().unwrap();
    for (first, second, named) in [
        (
            deep(),
            shallow(),
            "the optimizer holds state for encoder.1.weight, a parameter this model does not have",
        ),
        (
            shallow(),
            deep(),
            "the optimizer holds state for 4 of this model's 8 parameter tensors, but none for encoder.1.weight",
        ),
    ] {
        let (mut first, mut second) = (first, second);
        let mut adam = Adam::new(1e-2);
        first.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
        let (before, state_before) = (parameter_bits(&second), adam.state());
        let err = second.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        assert!(err.to_string().contains(named), "{err}");
        assert!(err.to_string().contains("use one optimizer per model"), "{err}");
        assert_eq!(parameter_bits(&second), before, "no layer moved");
        assert_eq!(adam.state(), state_before, "the optimizer's state did not change");
        // The first model trains on with it, and a fresh optimizer trains the second.
        first.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
        second
            .train_step(x.view(), x.view(), Loss::Mse, &mut Adam::new(1e-2))
            .unwrap();
    }
}

/// `{:?}` of a model shows the model, not its training buffers: after a step only the weights' digits change
/// (with the buffers inside, AE-16's text grew from 12.9k to 41.9k characters).
#[test]
fn debug_output_does_not_carry_the_training_buffers() {
    let mut ae = Autoencoder::builder(64)
        .hidden(&[32])
        .latent(4)
        .seed(1)
        .build()
        .unwrap();
    let before = format!("{ae:?}").len();
    let x = Array2::from_elem((16, 64), 0.5_f32);
    ae.train_step(x.view(), x.view(), Loss::Mse, &mut Adam::new(1e-3))
        .unwrap();
    let after = format!("{ae:?}");
    // the weights' and biases' printed digits change (zeros become long decimals), nothing else
    assert!(
        after.len() < before * 3 / 2,
        "{before} characters before a step, {} after",
        after.len()
    );
    assert!(after.contains("Workspace {"), "{after:.200}");
}
