//! The variational autoencoder's training step against finite differences, and its errors.
//!
//! The analytic gradients come from the crate, in f32, through `Vae::train_step_with_noise` with plain SGD: the
//! gradient a step used is recovered from the weight change. The numeric gradients come from an independent
//! reference written here: a naive f64 forward pass through the encoder, the sampling
//! `z = mean + exp(log_var / 2) ⊙ eps` with the same `eps`, the decoder, and the loss
//! (`reconstruction = (1/B) Σ_rows Σ_features ℓ`, `kl = (1/B) Σ_rows −½ Σ_j (1 + log_var − mean² − exp(log_var))`,
//! `total = reconstruction + β · kl`), run on f64 copies of the same f32 weights and differentiated by central
//! differences in f64, so that f32 rounding neither hides nor fakes an error. Smooth activations only (tanh,
//! sigmoid, identity): no kink for a central difference to fall on.

mod common;

use autoencoder::ndarray::{Array1, Array2, ArrayView2};
use autoencoder::rand::{rngs::StdRng, Rng, SeedableRng};
use autoencoder::{
    Activation, Adam, Autoencoder, Conv2d, Decoder, Dense, Encoder, Error, Init, Layer, Loss, Optimizer, Padding, Sgd,
    Vae, VaeLoss,
};
use common::activations::activate;
use common::gradients::Comparison;

/// The central-difference step, in f64.
const STEP: f64 = 1e-5;

/// An analytic (f32) gradient `a` passes against a numeric (f64) one `n` when
/// `|a - n| <= ABS_TOLERANCE + REL_TOLERANCE · max(|a|, |n|)`. The VAE's loss sums over the features, so its
/// gradients are larger than a mean's; the gradient recovered from the weight change carries half an ulp of the
/// weight over the learning rate. A wrong term (the ½ of the log-variance's, or the KL's 1/B) is off by far more:
/// see `the_check_catches_a_wrong_kl_gradient`.
const REL_TOLERANCE: f64 = 1e-4;
const ABS_TOLERANCE: f64 = 1e-5;

/// A power of two, so that `w - lr · g` and `(before - after) / lr` lose nothing but the final rounding.
const LEARNING_RATE: f64 = 0.25;

// ---------------------------------------------------------------------------------------------------------
// The independent f64 reference.
// ---------------------------------------------------------------------------------------------------------

/// A dense layer in f64: `w[i * outputs + j]` the weight from input `i` to output `j` (row-major, as the crate's).
#[derive(Clone, Debug)]
struct Reference {
    w: Vec<f64>,
    b: Vec<f64>,
    outputs: usize,
    activation: Activation,
}

/// The model in f64: the encoder's layers, then the decoder's.
#[derive(Clone, Debug)]
struct Model {
    layers: Vec<Reference>,
    encoder_layers: usize,
}

/// The inputs of the loss besides the weights.
struct Problem {
    x: Vec<Vec<f64>>,
    target: Vec<Vec<f64>>,
    eps: Vec<Vec<f64>>,
    loss: Loss,
    beta: f64,
}

fn to_f64(a: ArrayView2<f32>) -> Vec<Vec<f64>> {
    a.rows()
        .into_iter()
        .map(|row| row.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

fn reference_of(vae: &Vae) -> Model {
    let layers = vae
        .encoder()
        .layers()
        .iter()
        .chain(vae.decoder().layers())
        .map(|layer| {
            let dense = layer.as_dense().expect("dense layers");
            Reference {
                w: dense.weights().iter().map(|&v| f64::from(v)).collect(),
                b: dense.bias().iter().map(|&v| f64::from(v)).collect(),
                outputs: dense.outputs(),
                activation: dense.activation(),
            }
        })
        .collect();
    Model {
        layers,
        encoder_layers: vae.encoder().layers().len(),
    }
}

fn forward(layers: &[Reference], x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut a = x.to_vec();
    for layer in layers {
        a = a
            .iter()
            .map(|row| {
                (0..layer.outputs)
                    .map(|j| {
                        let z = layer.b[j]
                            + row
                                .iter()
                                .enumerate()
                                .map(|(i, xi)| xi * layer.w[i * layer.outputs + j])
                                .sum::<f64>();
                        activate(layer.activation, z)
                    })
                    .collect()
            })
            .collect();
    }
    a
}

/// `(total, reconstruction, kl)`.
fn reference_loss(model: &Model, p: &Problem) -> (f64, f64, f64) {
    let heads = forward(&model.layers[..model.encoder_layers], &p.x);
    let latent = p.eps[0].len();
    let batch = p.x.len() as f64;
    let mut kl = 0.0;
    let z: Vec<Vec<f64>> = heads
        .iter()
        .zip(&p.eps)
        .map(|(h, e)| {
            (0..latent)
                .map(|j| {
                    let (m, lv) = (h[j], h[latent + j]);
                    kl += -0.5 * (1.0 + lv - m * m - lv.exp());
                    m + (lv / 2.0).exp() * e[j]
                })
                .collect()
        })
        .collect();
    let output = forward(&model.layers[model.encoder_layers..], &z);
    let mut reconstruction = 0.0;
    for (o, t) in output.iter().zip(&p.target) {
        for (&o, &t) in o.iter().zip(t) {
            reconstruction += match p.loss {
                Loss::Mse => (o - t) * (o - t),
                Loss::BinaryCrossEntropy => {
                    assert!(o > 1e-5 && o < 1.0 - 1e-5, "a prediction {o} near BCE's clamp");
                    -(t * o.ln() + (1.0 - t) * (1.0 - o).ln())
                }
            };
        }
    }
    let (reconstruction, kl) = (reconstruction / batch, kl / batch);
    (reconstruction + p.beta * kl, reconstruction, kl)
}

/// Per parameter tensor, in `named_parameters` order: the central differences of the total loss.
fn numeric_gradients(model: &Model, p: &Problem) -> Vec<Vec<f64>> {
    let total = |m: &Model| reference_loss(m, p).0;
    let mut gradients = Vec::new();
    for k in 0..model.layers.len() {
        for bias in [false, true] {
            let len = if bias {
                model.layers[k].b.len()
            } else {
                model.layers[k].w.len()
            };
            let grad = (0..len)
                .map(|i| {
                    let at = |m: &mut Model, delta: f64| {
                        let layer = &mut m.layers[k];
                        if bias {
                            layer.b[i] += delta
                        } else {
                            layer.w[i] += delta
                        }
                    };
                    let (mut plus, mut minus) = (model.clone(), model.clone());
                    at(&mut plus, STEP);
                    at(&mut minus, -STEP);
                    (total(&plus) - total(&minus)) / (2.0 * STEP)
                })
                .collect();
            gradients.push(grad);
        }
    }
    gradients
}

// ---------------------------------------------------------------------------------------------------------
// Comparisons.
// ---------------------------------------------------------------------------------------------------------

/// Every parameter, flattened, per tensor.
fn parameters(vae: &Vae) -> Vec<(String, Vec<f32>)> {
    vae.named_parameters()
        .map(|(name, values)| (name, values.to_vec()))
        .collect()
}

fn random_matrix(rng: &mut StdRng, rows: usize, cols: usize, low: f32, high: f32) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(low..high))
}

/// A 5-4-(2·2) encoder (tanh, then identity heads) and a 2-4-5 decoder (tanh, then a sigmoid for BCE, tanh for
/// MSE), weights drawn from `rng`.
fn small_vae(rng: &mut StdRng, loss: Loss, beta: f32) -> Vae {
    let mut dense = |i: usize, o: usize, activation| {
        let w = random_matrix(rng, i, o, -0.8, 0.8);
        let b = random_matrix(rng, 1, o, -0.3, 0.3).row(0).to_owned();
        Dense::from_parts(w, b, activation).unwrap()
    };
    let last = match loss {
        Loss::Mse => Activation::Tanh,
        Loss::BinaryCrossEntropy => Activation::Sigmoid,
    };
    let encoder = Encoder::new(vec![dense(5, 4, Activation::Tanh), dense(4, 4, Activation::Identity)]).unwrap();
    let decoder = Decoder::new(vec![dense(2, 4, Activation::Tanh), dense(4, 5, last)]).unwrap();
    Vae::new(encoder, decoder).unwrap().with_beta(beta)
}

fn random_target(rng: &mut StdRng, rows: usize, loss: Loss) -> Array2<f32> {
    match loss {
        Loss::Mse => random_matrix(rng, rows, 5, -0.9, 0.9),
        Loss::BinaryCrossEntropy => random_matrix(rng, rows, 5, 0.0, 1.0),
    }
}

/// Trains `vae` with SGD on batches of 4, 2 and 1 rows with a fixed `eps` per step, and compares at every step the
/// returned loss with the reference's and the gradient the step used (from the weight change) with the central
/// differences of `reference` (the reference model, or a wrong one to show that the check would notice).
fn check_steps(seed: u64, loss: Loss, beta: f32, reference: impl Fn(&Model, &Problem) -> Vec<Vec<f64>>) -> Comparison {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut vae = small_vae(&mut rng, loss, beta);
    let mut sgd = Sgd::new(LEARNING_RATE);
    let mut comparison = Comparison::new(ABS_TOLERANCE, REL_TOLERANCE);
    for (step, rows) in [4, 2, 1].into_iter().enumerate() {
        let x = random_matrix(&mut rng, rows, 5, -1.0, 1.0);
        let target = random_target(&mut rng, rows, loss);
        let eps = random_matrix(&mut rng, rows, 2, -1.5, 1.5);
        let problem = Problem {
            x: to_f64(x.view()),
            target: to_f64(target.view()),
            eps: to_f64(eps.view()),
            loss,
            beta: f64::from(beta),
        };
        let model = reference_of(&vae);
        let context = format!("step {step} ({rows} rows), {loss}, beta {beta}, seed {seed}");
        let before = parameters(&vae);
        let returned = vae
            .train_step_with_noise(x.view(), target.view(), eps.view(), loss, &mut sgd)
            .unwrap();
        let after = parameters(&vae);

        let (total, reconstruction, kl) = reference_loss(&model, &problem);
        for (what, got, want) in [
            ("total", returned.total, total),
            ("reconstruction", returned.reconstruction, reconstruction),
            ("kl", returned.kl, kl),
        ] {
            assert!(
                (f64::from(got) - want).abs() <= 1e-5 * want.abs() + 1e-6,
                "{context}: {what} {got}, the reference gives {want}"
            );
        }

        let numeric = reference(&model, &problem);
        for (((name, w0), (_, w1)), numeric) in before.iter().zip(&after).zip(&numeric) {
            for (i, ((&old, &new), &n)) in w0.iter().zip(w1).zip(numeric).enumerate() {
                let analytic = (f64::from(old) - f64::from(new)) / LEARNING_RATE;
                comparison.add(analytic, n, || format!("{context}, {name}[{i}]"));
            }
        }
    }
    comparison
}

// ---------------------------------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------------------------------

#[test]
fn train_step_applies_the_finite_difference_gradient_of_the_whole_vae_loss() {
    let mut worst = 0.0_f64;
    for (l, loss) in [Loss::Mse, Loss::BinaryCrossEntropy].into_iter().enumerate() {
        for (b, beta) in [1.0_f32, 0.37, 4.0].into_iter().enumerate() {
            for seed in 0..3 {
                let seed = 1000 * l as u64 + 100 * b as u64 + seed;
                let comparison = check_steps(seed, loss, beta, numeric_gradients);
                assert!(comparison.compared > 0);
                worst = worst.max(comparison.worst_ratio);
                assert!(
                    comparison.passes(),
                    "gradient off by {:.2}× the tolerance at {}",
                    comparison.worst_ratio,
                    comparison.worst_where
                );
            }
        }
    }
    eprintln!("worst gradient error: {worst:.3} of the tolerance");
}

#[test]
fn the_check_catches_a_wrong_kl_gradient() {
    // The reference with β doubled: only the KL's share of the gradient differs, and the check sees it.
    let wrong = |model: &Model, p: &Problem| {
        let doubled = Problem {
            x: p.x.clone(),
            target: p.target.clone(),
            eps: p.eps.clone(),
            loss: p.loss,
            beta: 2.0 * p.beta,
        };
        numeric_gradients(model, &doubled)
    };
    let comparison = check_steps(7, Loss::Mse, 0.5, wrong);
    assert!(comparison.worst_ratio > 10.0, "worst ratio {}", comparison.worst_ratio);
}

/// The gradient of the encoder's last layer (its weights: `(hidden, 2 · latent)`, row-major) after one SGD step
/// of `vae` with `eps`, split into the mean head's columns and the log-variance head's.
fn head_gradients(vae: &Vae, x: ArrayView2<f32>, eps: ArrayView2<f32>) -> (Vec<f64>, Vec<f64>) {
    let mut vae = vae.clone();
    let name = "encoder.1.weight";
    let before = parameters(&vae).into_iter().find(|(n, _)| n == name).unwrap().1;
    vae.train_step_with_noise(x, x, eps, Loss::Mse, &mut Sgd::new(LEARNING_RATE))
        .unwrap();
    let after = parameters(&vae).into_iter().find(|(n, _)| n == name).unwrap().1;
    let latent = vae.latent();
    let (mut mean, mut log_var) = (Vec::new(), Vec::new());
    for (i, (&old, &new)) in before.iter().zip(&after).enumerate() {
        let g = (f64::from(old) - f64::from(new)) / LEARNING_RATE;
        if i % (2 * latent) < latent {
            mean.push(g);
        } else {
            log_var.push(g);
        }
    }
    (mean, log_var)
}

#[test]
fn the_gradient_reaches_both_the_mean_and_the_log_variance_heads() {
    let mut rng = StdRng::seed_from_u64(11);
    let vae = small_vae(&mut rng, Loss::Mse, 1.0);
    let x = random_matrix(&mut rng, 4, 5, -1.0, 1.0);
    let eps = random_matrix(&mut rng, 4, 2, -1.5, 1.5);
    let norm = |g: &[f64]| g.iter().map(|v| v * v).sum::<f64>().sqrt();

    let (mean, log_var) = head_gradients(&vae, x.view(), eps.view());
    assert!(norm(&mean) > 1e-3 && norm(&log_var) > 1e-3, "{mean:?} {log_var:?}");

    // Without the KL (β = 0) the log-variance learns only through the sampling: with eps = 0 it gets nothing,
    // the mean still does; with eps ≠ 0 it does.
    let no_kl = vae.clone().with_beta(0.0);
    let zeros = Array2::zeros((4, 2));
    let (mean, log_var) = head_gradients(&no_kl, x.view(), zeros.view());
    assert!(norm(&mean) > 1e-3, "{mean:?}");
    assert_eq!(norm(&log_var), 0.0, "{log_var:?}");
    let (_, log_var) = head_gradients(&no_kl, x.view(), eps.view());
    assert!(norm(&log_var) > 1e-3, "{log_var:?}");
}

#[test]
fn the_noise_is_drawn_from_the_rng_and_the_same_seed_gives_the_same_weights() {
    let train = |seed: u64| {
        let mut rng = StdRng::seed_from_u64(3);
        let mut vae = small_vae(&mut rng, Loss::BinaryCrossEntropy, 1.0);
        let x = random_matrix(&mut rng, 6, 5, 0.0, 1.0);
        let mut adam = Adam::new(0.01);
        let mut noise = StdRng::seed_from_u64(seed);
        let losses: Vec<VaeLoss> = (0..5)
            .map(|_| {
                vae.train_step(x.view(), x.view(), Loss::BinaryCrossEntropy, &mut adam, &mut noise)
                    .unwrap()
            })
            .collect();
        (vae, losses)
    };
    let (a, losses_a) = train(1);
    let (b, losses_b) = train(1);
    let (c, _) = train(2);
    assert_eq!((&a, &losses_a), (&b, &losses_b));
    assert_ne!(a, c);
}

// ---------------------------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------------------------

#[test]
fn new_refuses_sizes_that_do_not_fit() {
    let dense =
        |i: usize, o: usize| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity).unwrap();
    let ok = Vae::new(
        Encoder::new(vec![dense(6, 4)]).unwrap(),
        Decoder::new(vec![dense(2, 6)]).unwrap(),
    );
    assert_eq!(ok.unwrap().latent(), 2);
    // an autoencoder's sizes: encoder outputs == decoder inputs
    let err = Vae::new(
        Encoder::new(vec![dense(6, 2)]).unwrap(),
        Decoder::new(vec![dense(2, 6)]).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("log-variance"), "{err}");
    let err = Vae::new(
        Encoder::new(vec![dense(6, 4)]).unwrap(),
        Decoder::new(vec![dense(2, 5)]).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

/// Runs `step` on copies of `vae` and `adam`, expects an error, and checks that neither copy changed.
fn refused(
    vae: &Vae,
    adam: &Adam,
    what: &str,
    step: impl FnOnce(&mut Vae, &mut Adam) -> autoencoder::Result<VaeLoss>,
) -> Error {
    let (mut v, mut a) = (vae.clone(), adam.clone());
    let err = step(&mut v, &mut a).unwrap_err();
    // the parameters, not `==`, which a NaN β would fail
    assert!(parameters(&v) == parameters(vae), "{what}: the weights changed");
    assert!(a.state() == adam.state(), "{what}: the optimizer's state changed");
    err
}

#[test]
fn a_refused_step_leaves_the_weights_and_the_optimizer_unchanged() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut vae = small_vae(&mut rng, Loss::Mse, 1.0);
    let x = random_matrix(&mut rng, 4, 5, -1.0, 1.0);
    let eps = random_matrix(&mut rng, 4, 2, -1.0, 1.0);
    let mut adam = Adam::new(0.01);
    vae.train_step_with_noise(x.view(), x.view(), eps.view(), Loss::Mse, &mut adam)
        .unwrap();
    let (x, eps) = (x.view(), eps.view());

    for wrong in [Array2::zeros((3, 2)), Array2::zeros((4, 3)), Array2::zeros((4, 4))] {
        let err = refused(&vae, &adam, "eps", |v, a| {
            v.train_step_with_noise(x, x, wrong.view(), Loss::Mse, a)
        });
        assert!(
            matches!(err, Error::Shape { .. }) && err.to_string().contains("eps"),
            "{err}"
        );
    }
    let err = refused(&vae, &adam, "target", |v, a| {
        v.train_step_with_noise(x, Array2::zeros((4, 4)).view(), eps, Loss::Mse, a)
    });
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let wide = Array2::zeros((4, 6));
    let err = refused(&vae, &adam, "input", |v, a| {
        v.train_step_with_noise(wide.view(), wide.view(), eps, Loss::Mse, a)
    });
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let empty = Array2::<f32>::zeros((0, 5));
    let err = refused(&vae, &adam, "empty", |v, a| {
        v.train_step_with_noise(empty.view(), empty.view(), Array2::zeros((0, 2)).view(), Loss::Mse, a)
    });
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = refused(&vae, &adam, "empty", |v, a| {
        v.train_step(empty.view(), empty.view(), Loss::Mse, a, &mut StdRng::seed_from_u64(0))
    });
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

    // a NaN in the data: a non-finite loss, nothing applied
    let mut nan = x.to_owned();
    nan[[1, 2]] = f32::NAN;
    let err = refused(&vae, &adam, "NaN", |v, a| {
        v.train_step_with_noise(nan.view(), x, eps, Loss::Mse, a)
    });
    assert!(matches!(err, Error::NonFinite { what: "loss", .. }), "{err}");
    // a NaN in the noise
    let mut huge = Array2::from_elem((4, 2), 0.5_f32);
    huge[[3, 1]] = f32::NAN;
    let err = refused(&vae, &adam, "NaN eps", |v, a| {
        v.train_step_with_noise(x, x, huge.view(), Loss::Mse, a)
    });
    assert!(matches!(err, Error::NonFinite { .. }), "{err}");
    // the same model, buffers and all, after its refused steps
    let kept = vae.clone();
    assert!(vae
        .train_step_with_noise(nan.view(), x, eps, Loss::Mse, &mut adam)
        .is_err());
    assert_eq!(vae, kept);

    // a negative or non-finite β
    for beta in [-1.0, f32::NAN, f32::INFINITY] {
        let with_beta = vae.clone().with_beta(beta);
        let err = refused(&with_beta, &adam, "beta", |v, a| {
            v.train_step_with_noise(x, x, eps, Loss::Mse, a)
        });
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }

    // an optimizer made for another model
    let mut ae = Autoencoder::builder(5).latent(3).seed(1).build().unwrap();
    let mut other = Adam::new(0.01);
    ae.train_step(x, x, Loss::Mse, &mut other).unwrap();
    let err = refused(&vae, &other, "another model's optimizer", |v, a| {
        v.train_step_with_noise(x, x, eps, Loss::Mse, a)
    });
    assert!(!err.to_string().is_empty());
}

#[test]
fn inference_shapes_and_their_errors() {
    let mut rng = StdRng::seed_from_u64(9);
    let vae = small_vae(&mut rng, Loss::BinaryCrossEntropy, 1.0);
    let x = random_matrix(&mut rng, 3, 5, 0.0, 1.0);
    let (mean, log_var) = vae.encode(x.view()).unwrap();
    assert_eq!((mean.dim(), log_var.dim()), ((3, 2), (3, 2)));
    assert_eq!(vae.reconstruct(x.view()).unwrap(), vae.decode(mean.view()).unwrap());
    assert_eq!(vae.generate(7, &mut rng).unwrap().dim(), (7, 5));
    assert_eq!(vae.reconstruction_error(x.view()).unwrap().len(), 3);
    assert!(vae.encode(Array2::zeros((3, 4)).view()).is_err());
    assert!(vae.decode(Array2::zeros((3, 4)).view()).is_err());
    assert!(vae.reconstruct(Array2::zeros((3, 6)).view()).is_err());
    assert!(vae.evaluate(Array2::zeros((3, 6)).view(), Loss::Mse).is_err());
    assert!(vae.evaluate(Array2::zeros((0, 5)).view(), Loss::Mse).is_err());

    // evaluate is the training loss with eps = 0, before the step
    let evaluated = vae.evaluate(x.view(), Loss::BinaryCrossEntropy).unwrap();
    let mut trained = vae.clone().with_beta(1.0);
    let step = trained
        .train_step_with_noise(
            x.view(),
            x.view(),
            Array2::zeros((3, 2)).view(),
            Loss::BinaryCrossEntropy,
            &mut Sgd::new(0.1),
        )
        .unwrap();
    for (a, b) in [
        (evaluated.total, step.total),
        (evaluated.reconstruction, step.reconstruction),
        (evaluated.kl, step.kl),
    ] {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{evaluated:?} vs {step:?}");
    }
}

#[test]
fn debug_shows_the_layers_not_the_training_buffers() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut vae = small_vae(&mut rng, Loss::Mse, 2.0);
    let x = random_matrix(&mut rng, 4, 5, -1.0, 1.0);
    vae.train_step(x.view(), x.view(), Loss::Mse, &mut Adam::new(0.01), &mut rng)
        .unwrap();
    let shown = format!("{vae:?}");
    assert!(shown.contains("beta: 2.0") && shown.contains("encoder"), "{shown}");
    assert!(!shown.contains("Workspace") && !shown.contains("buffers"), "{shown}");
}

// ---------------------------------------------------------------------------------------------------------
// A convolution encoder.
// ---------------------------------------------------------------------------------------------------------

#[test]
fn a_vae_with_a_convolution_encoder_trains() {
    let mut rng = StdRng::seed_from_u64(21);
    let conv = Conv2d::new(
        (6, 6, 1),
        3,
        (3, 3),
        2,
        Padding::Same,
        Activation::Tanh,
        Init::GlorotUniform,
        &mut rng,
    )
    .unwrap();
    let encoder: Vec<Layer> = vec![
        conv.into(),
        Dense::new(3 * 3 * 3, 2 * 2, Activation::Identity, Init::GlorotUniform, &mut rng)
            .unwrap()
            .into(),
    ];
    let decoder = vec![
        Dense::new(2, 16, Activation::Tanh, Init::GlorotUniform, &mut rng).unwrap(),
        Dense::new(16, 36, Activation::Sigmoid, Init::GlorotUniform, &mut rng).unwrap(),
    ];
    let mut vae = Vae::new(Encoder::new(encoder).unwrap(), Decoder::new(decoder).unwrap()).unwrap();
    assert_eq!(vae.latent(), 2);
    let x = Array2::from_shape_fn((8, 36), |(i, j)| if (i + j / 6 + j % 6) % 3 == 0 { 0.9 } else { 0.1 });
    // the first layer is a convolution: a transposed view is copied into standard layout
    let xt = x.t().to_owned();
    let x_view = xt.t();
    let mut adam = Adam::new(0.02);
    let first = vae
        .train_step(x_view, x.view(), Loss::BinaryCrossEntropy, &mut adam, &mut rng)
        .unwrap();
    assert!(first.total.is_finite() && first.kl >= 0.0);
    for _ in 0..100 {
        vae.train_step(x.view(), x.view(), Loss::BinaryCrossEntropy, &mut adam, &mut rng)
            .unwrap();
    }
    let last = vae.evaluate(x.view(), Loss::BinaryCrossEntropy).unwrap();
    assert!(last.total < first.total, "{first:?} -> {last:?}");
    let names: Vec<String> = vae.named_parameters().map(|(name, _)| name).collect();
    assert_eq!(names[..2], ["encoder.0.weight", "encoder.0.bias"]);
}

// ---------------------------------------------------------------------------------------------------------
// Model files.
// ---------------------------------------------------------------------------------------------------------

#[test]
fn a_saved_vae_loads_bit_for_bit_and_neither_kind_loads_as_the_other() {
    let dir = common::scratch("vae-files");
    let mut rng = StdRng::seed_from_u64(31);
    let mut vae = small_vae(&mut rng, Loss::BinaryCrossEntropy, 0.25);
    let x = random_matrix(&mut rng, 4, 5, 0.0, 1.0);
    vae.train_step(
        x.view(),
        x.view(),
        Loss::BinaryCrossEntropy,
        &mut Adam::new(0.01),
        &mut rng,
    )
    .unwrap();
    let path = dir.join("vae.safetensors");
    vae.save(&path).unwrap();
    let loaded = Vae::load(&path).unwrap();
    assert_eq!(loaded, vae);
    assert_eq!(loaded.beta(), 0.25);
    assert_eq!(
        loaded.reconstruct(x.view()).unwrap(),
        vae.reconstruct(x.view()).unwrap()
    );
    // the same model gives the same bytes
    assert_eq!(std::fs::read(&path).unwrap(), vae.to_safetensors_bytes().unwrap());

    // the tensor names of an autoencoder's file
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for (name, _) in vae.named_parameters() {
        assert!(text.contains(&format!("\"{name}\"")), "{name}");
    }

    // a VAE's file as an autoencoder, and the other way round
    let err = Autoencoder::load(&path).unwrap_err();
    assert!(matches!(err, Error::ModelFile { .. }), "{err}");
    assert!(
        err.to_string().contains("variational") && err.to_string().contains("Vae::load"),
        "{err}"
    );
    let ae_path = dir.join("ae.safetensors");
    Autoencoder::builder(5)
        .latent(2)
        .seed(2)
        .build()
        .unwrap()
        .save(&ae_path)
        .unwrap();
    let err = Vae::load(&ae_path).unwrap_err();
    assert!(matches!(err, Error::ModelFile { .. }), "{err}");
    assert!(
        err.to_string().contains("plain autoencoder") && err.to_string().contains("Autoencoder::load"),
        "{err}"
    );

    // a VAE with a non-finite β is not saved
    assert!(vae
        .clone()
        .with_beta(f32::NAN)
        .save(dir.join("nan.safetensors"))
        .is_err());
    assert!(!dir.join("nan.safetensors").exists());
}

#[test]
fn a_vae_file_with_a_convolution_encoder_round_trips() {
    let mut rng = StdRng::seed_from_u64(41);
    let conv = Conv2d::new(
        (4, 4, 2),
        3,
        (3, 3),
        1,
        Padding::Valid,
        Activation::Tanh,
        Init::GlorotUniform,
        &mut rng,
    )
    .unwrap();
    let encoder: Vec<Layer> = vec![
        conv.into(),
        Dense::new(2 * 2 * 3, 6, Activation::Identity, Init::GlorotUniform, &mut rng)
            .unwrap()
            .into(),
    ];
    let decoder = vec![Dense::new(3, 32, Activation::Sigmoid, Init::GlorotUniform, &mut rng).unwrap()];
    let vae = Vae::new(Encoder::new(encoder).unwrap(), Decoder::new(decoder).unwrap())
        .unwrap()
        .with_beta(2.5);
    let bytes = vae.to_safetensors_bytes().unwrap();
    assert_eq!(Vae::from_safetensors_bytes(&bytes).unwrap(), vae);
    let err = Autoencoder::from_safetensors_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("Vae::load"), "{err}");
}
