//! Central finite-difference checks of the hand-written backpropagation.
//!
//! The analytic gradients come from the crate, in f32: through the public per-layer API (`forward_train`, then
//! `backward` from the last layer to the first, each layer's `grads.input` fed to the previous layer's
//! `backward`), and through the whole-model path (`Autoencoder::train_step`, whose allocation-free workspace
//! backprop is a separate implementation). The numeric gradients come from an independent reference written
//! here: a naive f64 forward pass and f64 losses, run on f64 copies of the same f32 weights, differentiated by
//! central differences. Doing the differences in f64 keeps f32 rounding from hiding (or faking) errors.
//!
//! A last test runs `train_step` on wide layers (300-128-10-128-300, batches of 64 and 37 rows), where the
//! matrix-product kernel tiles and splits its work over threads, against a backprop written here in f64.
//!
//! ReLU and leaky ReLU have a kink at 0 (and ELU's second derivative jumps there), where a central difference
//! is meaningless: a network whose pre-activations at those layers come within `KINK_MARGIN` of 0 is
//! resampled with the next seed.

mod common;

use autoencoder::ndarray::{Array1, Array2};
use autoencoder::rand::{rngs::StdRng, Rng, SeedableRng};
use autoencoder::{Activation, Autoencoder, Decoder, Dense, DenseGradients, Encoder, Loss, Sgd};
use common::activations::{activate, erf, has_kink, sigmoid, ACTIVATIONS};
use common::gradients::Comparison;

const LOSSES: [Loss; 2] = [Loss::Mse, Loss::BinaryCrossEntropy];

/// The central-difference step, in f64.
const STEP: f64 = 1e-5;

/// Pre-activations of kinked activations must stay this far from 0.
const KINK_MARGIN: f64 = 1e-3;

/// An analytic (f32) gradient `a` passes against a numeric (f64) one `n` when
/// `|a - n| <= ABS_TOLERANCE + REL_TOLERANCE · max(|a|, |n|)`.
///
/// The worst observed errors are 0.02 of this bound (per-layer API, relative error 9e-6) and 0.06 (`train_step`,
/// where the gradient recovered from the weight change carries half an ulp of the weight); a wrong derivative
/// is off by far more (see `the_check_catches_a_wrong_derivative`).
const REL_TOLERANCE: f64 = 1e-4;
const ABS_TOLERANCE: f64 = 1e-6;

// ---------------------------------------------------------------------------------------------------------
// The independent f64 reference.
// ---------------------------------------------------------------------------------------------------------

/// A dense layer in f64: `w[i][j]` is the weight from input `i` to output `j`.
#[derive(Clone, Debug)]
struct Reference {
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
    activation: Activation,
}

impl Reference {
    fn of(layer: &Dense) -> Reference {
        Reference {
            w: layer
                .weights()
                .rows()
                .into_iter()
                .map(|row| row.iter().map(|&v| f64::from(v)).collect())
                .collect(),
            b: layer.bias().iter().map(|&v| f64::from(v)).collect(),
            activation: layer.activation(),
        }
    }
}

/// The reference forward pass: the output, and the smallest `|z|` met at a kinked activation.
fn reference_forward(layers: &[Reference], x: &[Vec<f64>]) -> (Vec<Vec<f64>>, f64) {
    let mut closest_to_kink = f64::INFINITY;
    let mut a = x.to_vec();
    for layer in layers {
        a = a
            .iter()
            .map(|row| {
                (0..layer.b.len())
                    .map(|j| {
                        let z = layer.b[j] + row.iter().zip(&layer.w).map(|(xi, wi)| xi * wi[j]).sum::<f64>();
                        if has_kink(layer.activation) {
                            closest_to_kink = closest_to_kink.min(z.abs());
                        }
                        activate(layer.activation, z)
                    })
                    .collect()
            })
            .collect();
    }
    (a, closest_to_kink)
}

/// The reference loss, the mean over every element.
fn reference_loss(loss: Loss, prediction: &[Vec<f64>], target: &[Vec<f64>]) -> f64 {
    let mut sum = 0.0;
    let mut count = 0;
    for (p_row, t_row) in prediction.iter().zip(target) {
        for (&p, &t) in p_row.iter().zip(t_row) {
            sum += match loss {
                Loss::Mse => (p - t) * (p - t),
                Loss::BinaryCrossEntropy => {
                    // far from the 1e-7 clamp, which the reference therefore leaves out
                    assert!(p > 1e-5 && p < 1.0 - 1e-5, "a prediction {p} near BCE's clamp");
                    -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
                }
            };
            count += 1;
        }
    }
    sum / f64::from(count)
}

fn reference_model_loss(layers: &[Reference], x: &[Vec<f64>], target: &[Vec<f64>], loss: Loss) -> f64 {
    reference_loss(loss, &reference_forward(layers, x).0, target)
}

fn to_f64(a: &Array2<f32>) -> Vec<Vec<f64>> {
    a.rows()
        .into_iter()
        .map(|row| row.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

/// Central difference of `f` in one coordinate, set through `at`.
fn central_difference<T: Clone>(base: &T, at: impl Fn(&mut T) -> &mut f64, f: impl Fn(&T) -> f64) -> f64 {
    let mut plus = base.clone();
    *at(&mut plus) += STEP;
    let mut minus = base.clone();
    *at(&mut minus) -= STEP;
    (f(&plus) - f(&minus)) / (2.0 * STEP)
}

/// Numeric gradients of the reference loss: per layer `(dL/dW, dL/db)`, and `dL/dx`.
struct NumericGradients {
    layers: Vec<(Vec<Vec<f64>>, Vec<f64>)>,
    input: Vec<Vec<f64>>,
}

fn numeric_gradients(layers: &[Reference], x: &[Vec<f64>], target: &[Vec<f64>], loss: Loss) -> NumericGradients {
    let of_layers = |ls: &Vec<Reference>| reference_model_loss(ls, x, target, loss);
    let base = layers.to_vec();
    let per_layer = (0..layers.len())
        .map(|k| {
            let w = (0..layers[k].w.len())
                .map(|i| {
                    (0..layers[k].b.len())
                        .map(|j| central_difference(&base, |ls| &mut ls[k].w[i][j], of_layers))
                        .collect()
                })
                .collect();
            let b = (0..layers[k].b.len())
                .map(|j| central_difference(&base, |ls| &mut ls[k].b[j], of_layers))
                .collect();
            (w, b)
        })
        .collect();
    let of_input = |xs: &Vec<Vec<f64>>| reference_model_loss(layers, xs, target, loss);
    let base_x = x.to_vec();
    let input = (0..x.len())
        .map(|r| {
            (0..x[0].len())
                .map(|c| central_difference(&base_x, |xs| &mut xs[r][c], of_input))
                .collect()
        })
        .collect();
    NumericGradients {
        layers: per_layer,
        input,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Comparison.
// ---------------------------------------------------------------------------------------------------------

/// Per layer, first to last: `(dL/dW, dL/db)`.
type LayerGradients = Vec<(Array2<f32>, Array1<f32>)>;

/// Compares the per-layer analytic gradients (layer order, first to last) with the numeric ones.
fn compare_layers(analytic: &[(Array2<f32>, Array1<f32>)], numeric: &NumericGradients, context: &str) -> Comparison {
    assert_eq!(analytic.len(), numeric.layers.len());
    let mut comparison = Comparison::new(ABS_TOLERANCE, REL_TOLERANCE);
    for (k, ((dw, db), (nw, nb))) in analytic.iter().zip(&numeric.layers).enumerate() {
        assert_eq!(
            dw.dim(),
            (nw.len(), nb.len()),
            "{context}: layer {k}'s weight gradient shape"
        );
        assert_eq!(db.len(), nb.len(), "{context}: layer {k}'s bias gradient length");
        for ((i, j), &a) in dw.indexed_iter() {
            comparison.add(f64::from(a), nw[i][j], || {
                format!("{context}, layer {k}, dL/dW[{i}][{j}]")
            });
        }
        for (j, &a) in db.iter().enumerate() {
            comparison.add(f64::from(a), nb[j], || format!("{context}, layer {k}, dL/db[{j}]"));
        }
    }
    comparison
}

// ---------------------------------------------------------------------------------------------------------
// Random networks.
// ---------------------------------------------------------------------------------------------------------

fn random_matrix(rng: &mut StdRng, rows: usize, cols: usize, low: f32, high: f32) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(low..high))
}

/// Layers of the given widths (`widths[0]` inputs), `activation` on every layer but the last, which gets
/// `last` (a sigmoid for BCE, so that predictions lie in (0, 1)).
fn random_layers(rng: &mut StdRng, widths: &[usize], activation: Activation, last: Activation) -> Vec<Dense> {
    widths
        .windows(2)
        .enumerate()
        .map(|(k, pair)| {
            let act = if k + 2 == widths.len() { last } else { activation };
            let weights = random_matrix(rng, pair[0], pair[1], -0.9, 0.9);
            let bias = Array1::from_shape_simple_fn(pair[1], || rng.random_range(-0.5..0.5));
            Dense::from_parts(weights, bias, act).unwrap()
        })
        .collect()
}

/// Targets for `loss`: anything for MSE, values in [0, 1] for BCE (with some exact 0s and 1s).
fn random_target(rng: &mut StdRng, rows: usize, cols: usize, loss: Loss) -> Array2<f32> {
    match loss {
        Loss::Mse => random_matrix(rng, rows, cols, -1.0, 1.0),
        Loss::BinaryCrossEntropy => Array2::from_shape_simple_fn((rows, cols), || match rng.random_range(0..4) {
            0 => 0.0,
            1 => 1.0,
            _ => rng.random_range(0.0..1.0),
        }),
    }
}

fn last_activation(loss: Loss, activation: Activation) -> Activation {
    match loss {
        Loss::Mse => activation,
        Loss::BinaryCrossEntropy => Activation::Sigmoid,
    }
}

// ---------------------------------------------------------------------------------------------------------
// The per-layer API.
// ---------------------------------------------------------------------------------------------------------

/// The analytic gradients by the public per-layer API: `(dL/dW, dL/db)` per layer, first to last, and `dL/dx`.
fn per_layer_gradients(
    layers: &[Dense],
    x: &Array2<f32>,
    target: &Array2<f32>,
    loss: Loss,
) -> (LayerGradients, Array2<f32>) {
    let mut traces = Vec::new();
    let mut activations = x.clone();
    for layer in layers {
        let trace = layer.forward_train(activations.view()).unwrap();
        activations = trace.output().clone();
        traces.push(trace);
    }
    let mut grad = loss.gradient(activations.view(), target.view()).unwrap();
    let mut per_layer = Vec::new();
    for (layer, trace) in layers.iter().zip(&traces).rev() {
        let DenseGradients { weights, bias, input } = layer.backward(trace, grad.view()).unwrap();
        per_layer.push((weights, bias));
        grad = input;
    }
    per_layer.reverse();
    (per_layer, grad)
}

/// A random stack of `depth` layers with `activation`, a batch and a target, all seeded by `seed` and
/// resampled until no kinked pre-activation is near 0.
fn random_problem(
    seed: u64,
    depth: usize,
    activation: Activation,
    loss: Loss,
) -> (Vec<Dense>, Array2<f32>, Array2<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    for _attempt in 0..100 {
        let widths: Vec<usize> = (0..=depth).map(|_| rng.random_range(2..=6)).collect();
        let batch = rng.random_range(3..=5);
        let layers = random_layers(&mut rng, &widths, activation, last_activation(loss, activation));
        let x = random_matrix(&mut rng, batch, widths[0], -1.0, 1.0);
        let target = random_target(&mut rng, batch, widths[depth], loss);
        let references: Vec<Reference> = layers.iter().map(Reference::of).collect();
        if reference_forward(&references, &to_f64(&x)).1 > KINK_MARGIN {
            return (layers, x, target);
        }
    }
    panic!("no network without a near-kink pre-activation in 100 draws");
}

/// Checks one stack through the per-layer API; returns the comparison for the report.
fn check_stack(seed: u64, depth: usize, activation: Activation, loss: Loss) -> Comparison {
    let (layers, x, target) = random_problem(seed, depth, activation, loss);
    let context = format!("{activation} with {loss}, {depth} layers, seed {seed}");
    let (analytic, analytic_input) = per_layer_gradients(&layers, &x, &target, loss);
    let references: Vec<Reference> = layers.iter().map(Reference::of).collect();
    let numeric = numeric_gradients(&references, &to_f64(&x), &to_f64(&target), loss);
    let mut comparison = compare_layers(&analytic, &numeric, &context);
    assert_eq!(analytic_input.dim(), x.dim(), "{context}: dL/dx shape");
    for ((r, c), &a) in analytic_input.indexed_iter() {
        comparison.add(f64::from(a), numeric.input[r][c], || {
            format!("{context}, dL/dx[{r}][{c}]")
        });
    }
    comparison
}

#[test]
fn per_layer_backward_matches_finite_differences_for_every_activation_and_loss() {
    let mut overall = Comparison::new(ABS_TOLERANCE, REL_TOLERANCE);
    for (a, &activation) in ACTIVATIONS.iter().enumerate() {
        for (l, &loss) in LOSSES.iter().enumerate() {
            for depth in [2, 3] {
                for repeat in 0..3 {
                    let seed = 1000 * a as u64 + 100 * l as u64 + 10 * depth as u64 + repeat;
                    let comparison = check_stack(seed, depth, activation, loss);
                    comparison.assert_passes(&format!("{activation} with {loss}, {depth} layers, seed {seed}"));
                    overall.merge(comparison);
                }
            }
        }
    }
    eprintln!(
        "per-layer API: {} gradients compared; worst error {:.3} of the tolerance ({}); worst relative error {:.2e}",
        overall.compared, overall.worst_ratio, overall.worst_where, overall.worst_relative
    );
}

#[test]
fn the_check_catches_a_wrong_derivative() {
    // The analytic gradients of a leaky ReLU (slope 0.1) stack against the numeric ones of a slope-0.11 stack:
    // a 10% error on the negative side must fail the comparison.
    let (layers, x, target) = random_problem(7, 2, Activation::LeakyRelu(0.1), Loss::Mse);
    let (analytic, _) = per_layer_gradients(&layers, &x, &target, Loss::Mse);
    let mut references: Vec<Reference> = layers.iter().map(Reference::of).collect();
    for reference in &mut references {
        if reference.activation == Activation::LeakyRelu(0.1) {
            reference.activation = Activation::LeakyRelu(0.11);
        }
    }
    let numeric = numeric_gradients(&references, &to_f64(&x), &to_f64(&target), Loss::Mse);
    assert!(!compare_layers(&analytic, &numeric, "slope 0.1 vs 0.11").passes());

    // And a gradient scaled by 1.001 (a 0.1% error) fails too.
    let references: Vec<Reference> = layers.iter().map(Reference::of).collect();
    let numeric = numeric_gradients(&references, &to_f64(&x), &to_f64(&target), Loss::Mse);
    let scaled: Vec<_> = analytic.iter().map(|(w, b)| (w * 1.001, b * 1.001)).collect();
    assert!(compare_layers(&analytic, &numeric, "exact").passes());
    assert!(!compare_layers(&scaled, &numeric, "scaled by 1.001").passes());
}

#[test]
fn the_reference_erf_is_accurate() {
    // erf values from Abramowitz & Stegun, table 7.1 (and erf(3) from the series to 16 digits)
    for (x, want) in [
        (0.0, 0.0),
        (0.5, 0.520_499_877_813_047),
        (1.0, 0.842_700_792_949_715),
        (2.0, 0.995_322_265_018_953),
        (3.0, 0.999_977_909_503_001),
    ] {
        assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {} vs {want}", erf(x));
        assert!((erf(-x) + want).abs() < 1e-14);
    }
}

// ---------------------------------------------------------------------------------------------------------
// The whole-model path: Autoencoder::train_step and its workspace.
// ---------------------------------------------------------------------------------------------------------

/// Every layer of the model, encoder then decoder, as f64 references.
fn model_references(ae: &Autoencoder) -> Vec<Reference> {
    ae.encoder()
        .layers()
        .iter()
        .chain(ae.decoder().layers())
        .map(|layer| Reference::of(layer.as_dense().expect("dense layers")))
        .collect()
}

fn model_parameters(ae: &Autoencoder) -> Vec<(Array2<f32>, Array1<f32>)> {
    ae.encoder()
        .layers()
        .iter()
        .chain(ae.decoder().layers())
        .map(|l| l.as_dense().expect("dense layers"))
        .map(|l| (l.weights().clone(), l.bias().clone()))
        .collect()
}

/// Trains a 5-4-3-4-5 autoencoder with plain SGD on batches of 6, 3 (a partial batch: the workspace reuses
/// the first rows of its buffers), 6 and 1 rows, and checks at every step that the weight change `(before -
/// after) / lr` equals the finite-difference gradient, and that the loss returned is the reference loss.
/// `None` when the draw came too close to a kink (the caller then tries the next seed).
fn check_train_steps(seed: u64, activation: Activation, loss: Loss) -> Option<Comparison> {
    // A power of two, so that `w - lr · g` and `(before - after) / lr` lose nothing but the final rounding.
    const LEARNING_RATE: f64 = 0.5;
    let mut rng = StdRng::seed_from_u64(seed);
    let layers = random_layers(
        &mut rng,
        &[5, 4, 3, 4, 5],
        activation,
        last_activation(loss, activation),
    );
    let mut layers = layers.into_iter();
    let encoder = Encoder::new(layers.by_ref().take(2).collect()).unwrap();
    let decoder = Decoder::new(layers.collect()).unwrap();
    let mut ae = Autoencoder::new(encoder, decoder).unwrap();
    let mut sgd = Sgd::new(LEARNING_RATE);
    let mut comparison = Comparison::new(ABS_TOLERANCE, REL_TOLERANCE);
    for (step, rows) in [6, 3, 6, 1].into_iter().enumerate() {
        let x = random_matrix(&mut rng, rows, 5, -1.0, 1.0);
        let target = random_target(&mut rng, rows, 5, loss);
        let references = model_references(&ae);
        let (x64, target64) = (to_f64(&x), to_f64(&target));
        if reference_forward(&references, &x64).1 <= KINK_MARGIN {
            return None;
        }
        let context = format!("train_step {step} ({rows} rows), {activation} with {loss}, seed {seed}");
        let before = model_parameters(&ae);
        let returned_loss = ae.train_step(x.view(), target.view(), loss, &mut sgd).unwrap();
        let after = model_parameters(&ae);

        let want_loss = reference_model_loss(&references, &x64, &target64, loss);
        assert!(
            (f64::from(returned_loss) - want_loss).abs() <= 1e-6 * want_loss.abs() + 1e-7,
            "{context}: train_step returned loss {returned_loss}, the reference gives {want_loss}"
        );

        // The gradient train_step used, recovered from the weight change. The subtraction of two f32 is exact
        // in f64; the only error left is the rounding of `after`, half an ulp of the weight, divided by lr.
        let recovered: LayerGradients = before
            .iter()
            .zip(&after)
            .map(|((w0, b0), (w1, b1))| {
                let grad = |old: f32, new: f32| ((f64::from(old) - f64::from(new)) / LEARNING_RATE) as f32;
                (
                    Array2::from_shape_fn(w0.dim(), |ij| grad(w0[ij], w1[ij])),
                    Array1::from_shape_fn(b0.len(), |j| grad(b0[j], b1[j])),
                )
            })
            .collect();
        let numeric = numeric_gradients(&references, &x64, &target64, loss);
        let step_comparison = compare_layers(&recovered, &numeric, &context);
        step_comparison.assert_passes(&context);
        comparison.merge(step_comparison);
    }
    Some(comparison)
}

#[test]
fn train_step_applies_finite_difference_gradients_for_every_activation_and_loss() {
    let mut overall = Comparison::new(ABS_TOLERANCE, REL_TOLERANCE);
    for (a, &activation) in ACTIVATIONS.iter().enumerate() {
        for (l, &loss) in LOSSES.iter().enumerate() {
            let first_seed = 50_000 + 1000 * a as u64 + 100 * l as u64;
            let comparison = (first_seed..first_seed + 50)
                .find_map(|seed| check_train_steps(seed, activation, loss))
                .unwrap_or_else(|| panic!("{activation} with {loss}: every draw came near a kink"));
            overall.merge(comparison);
        }
    }
    eprintln!(
        "train_step: {} gradients compared; worst error {:.3} of the tolerance ({}); worst relative error {:.2e}",
        overall.compared, overall.worst_ratio, overall.worst_where, overall.worst_relative
    );
}

// ---------------------------------------------------------------------------------------------------------
// Wide layers: the matrix-product kernel's tiled and multi-threaded paths, against an f64 backprop.
// ---------------------------------------------------------------------------------------------------------

/// Each activation's derivative, written out again in f64 (the small-shape checks above prove the crate's
/// against finite differences; this one serves as the reference where finite differences would be too slow).
fn derivative(activation: Activation, z: f64) -> f64 {
    match activation {
        Activation::Identity => 1.0,
        Activation::Relu => f64::from(u8::from(z > 0.0)),
        Activation::LeakyRelu(slope) => {
            if z > 0.0 {
                1.0
            } else {
                f64::from(slope)
            }
        }
        Activation::Sigmoid => sigmoid(z) * (1.0 - sigmoid(z)),
        Activation::Tanh => 1.0 - z.tanh().powi(2),
        Activation::Elu(alpha) => {
            if z > 0.0 {
                1.0
            } else {
                f64::from(alpha) * z.exp()
            }
        }
        Activation::Gelu => {
            let cdf = 0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
            cdf + z * pdf
        }
        Activation::Softplus => sigmoid(z),
        Activation::Silu => sigmoid(z) * (1.0 + z * (1.0 - sigmoid(z))),
    }
}

fn to_rows(a: &Array2<f64>) -> Vec<Vec<f64>> {
    a.rows().into_iter().map(|row| row.to_vec()).collect()
}

/// Per layer, first to last: `(dL/dW, dL/db)` in f64.
type LayerGradients64 = Vec<(Array2<f64>, Array1<f64>)>;

/// The loss and its gradients by backpropagation in f64 (ndarray's f64 products, not the crate's f32 kernel).
fn reference_backprop(layers: &[Dense], x: &Array2<f32>, target: &Array2<f32>, loss: Loss) -> (f64, LayerGradients64) {
    let widen2 = |a: &Array2<f32>| a.mapv(f64::from);
    let mut inputs = vec![widen2(x)];
    let mut pre_activations = Vec::new();
    for layer in layers {
        let z = inputs.last().unwrap().dot(&widen2(layer.weights())) + layer.bias().mapv(f64::from);
        inputs.push(z.mapv(|v| activate(layer.activation(), v)));
        pre_activations.push(z);
    }
    let prediction = inputs.pop().unwrap();
    let target = widen2(target);
    let n = prediction.len() as f64;
    let value = reference_loss(loss, &to_rows(&prediction), &to_rows(&target));
    let mut grad = match loss {
        Loss::Mse => (&prediction - &target) * (2.0 / n),
        Loss::BinaryCrossEntropy => Array2::from_shape_fn(prediction.dim(), |ij| {
            let (p, t) = (prediction[ij], target[ij]);
            (p - t) / (p * (1.0 - p)) / n
        }),
    };
    let mut gradients = Vec::new();
    for (k, layer) in layers.iter().enumerate().rev() {
        let activation = layer.activation();
        let grad_z = &grad * &pre_activations[k].mapv(|z| derivative(activation, z));
        gradients.push((
            inputs[k].t().dot(&grad_z),
            grad_z.sum_axis(autoencoder::ndarray::Axis(0)),
        ));
        grad = grad_z.dot(&widen2(layer.weights()).t());
    }
    gradients.reverse();
    (value, gradients)
}

/// A 300-128-10-128-300 autoencoder trained with `train_step` on batches of 64 rows (each product of the first
/// and last layers is 64 · 300 · 128 = 2.5M multiply-adds, above the crate's threshold for splitting a product
/// over threads), 37 rows (a partial batch) and 64 again; the gradients recovered from the weight changes must
/// match an f64 backprop. ReLU and leaky ReLU stay out: at this size some pre-activation would sit within f32
/// rounding of their kink, where f32 and f64 may rightly disagree (ELU's derivative is continuous, so it stays).
#[test]
fn train_step_matches_an_f64_backprop_on_wide_layers() {
    // A power of two: `lr · g` is exact, and the recovered `(before - after) / lr` carries only the rounding of
    // `after`, divided by 64, far below the gradients.
    const LEARNING_RATE: f64 = 64.0;
    let configurations = [
        (
            [
                Activation::Gelu,
                Activation::Identity,
                Activation::Silu,
                Activation::Sigmoid,
            ],
            Loss::Mse,
        ),
        (
            [
                Activation::Elu(1.0),
                Activation::Tanh,
                Activation::Softplus,
                Activation::Sigmoid,
            ],
            Loss::BinaryCrossEntropy,
        ),
    ];
    for (c, (activations, loss)) in configurations.into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(77 + c as u64);
        let widths = [300, 128, 10, 128, 300];
        let mut layers: Vec<Dense> = widths
            .windows(2)
            .zip(activations)
            .map(|(pair, activation)| {
                let limit = (6.0 / (pair[0] + pair[1]) as f32).sqrt();
                let weights = random_matrix(&mut rng, pair[0], pair[1], -limit, limit);
                let bias = Array1::from_shape_simple_fn(pair[1], || rng.random_range(-0.1..0.1));
                Dense::from_parts(weights, bias, activation).unwrap()
            })
            .collect();
        let decoder = Decoder::new(layers.split_off(2)).unwrap();
        let mut ae = Autoencoder::new(Encoder::new(layers).unwrap(), decoder).unwrap();
        let mut sgd = Sgd::new(LEARNING_RATE);
        let (mut worst_relative, mut worst_loss) = (0.0_f64, 0.0_f64);
        for (step, rows) in [64, 37, 64].into_iter().enumerate() {
            let x = random_matrix(&mut rng, rows, 300, 0.0, 1.0);
            let target = random_target(&mut rng, rows, 300, loss);
            let context = format!("{loss}, step {step} ({rows} rows)");
            let layers: Vec<Dense> = ae
                .encoder()
                .layers()
                .iter()
                .chain(ae.decoder().layers())
                .map(|layer| layer.as_dense().expect("dense layers").clone())
                .collect();
            let (want_loss, want) = reference_backprop(&layers, &x, &target, loss);
            let before = model_parameters(&ae);
            let got_loss = ae.train_step(x.view(), target.view(), loss, &mut sgd).unwrap();
            let after = model_parameters(&ae);
            let loss_error = (f64::from(got_loss) - want_loss).abs() / want_loss;
            assert!(loss_error < 1e-5, "{context}: loss {got_loss} vs {want_loss}");
            worst_loss = worst_loss.max(loss_error);

            for (k, (((w0, b0), (w1, b1)), (want_w, want_b))) in before.iter().zip(&after).zip(&want).enumerate() {
                let recover = |old: f32, new: f32| (f64::from(old) - f64::from(new)) / LEARNING_RATE;
                // Sums of many terms of both signs: the floor is relative to the tensor's largest gradient.
                let floor = want_w.iter().chain(want_b).fold(0.0_f64, |m, g| m.max(g.abs())) * 1e-4;
                let pairs = w0
                    .iter()
                    .zip(w1)
                    .zip(want_w)
                    .chain(b0.iter().zip(b1).zip(want_b))
                    .map(|((&old, &new), &want)| (recover(old, new), want));
                for (got, want) in pairs {
                    let error = (got - want).abs();
                    assert!(
                        error <= 1e-4 * want.abs() + floor,
                        "{context}, layer {k}: recovered gradient {got:e}, f64 backprop {want:e}"
                    );
                    if want.abs() > 10.0 * floor {
                        worst_relative = worst_relative.max(error / want.abs());
                    }
                }
            }
        }
        eprintln!(
            "wide layers, {loss}: losses within {worst_loss:.1e}, gradients within {worst_relative:.1e} relative"
        );
    }
}
