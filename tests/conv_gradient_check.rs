//! The convolution layers checked against an independent reference: their forward against the defining sums
//! written here in f64 (Keras' padding rule written again), and their hand-written backward against central
//! finite differences of that reference, for every combination the rules treat differently — Same and Valid,
//! strides 1, 2 and 3, odd, even and rectangular kernels, odd input sizes (where Same pads unevenly), one and
//! several channels, every activation. `ConvTranspose2d` is also checked to be exactly the adjoint of the
//! `Conv2d` with the same kernel.
//!
//! The loss is `L = Σ r ⊙ y` for fixed random `r`, so that `dL/dy = r`.

mod common;

use autoencoder::ndarray::{Array1, Array2, Array4};
use autoencoder::rand::{rngs::StdRng, Rng, SeedableRng};
use autoencoder::{Activation, Conv2d, ConvGradients, ConvTranspose2d, Padding};
use common::activations::{activate, has_kink, ACTIVATIONS};

const STEP: f64 = 1e-5;
const KINK_MARGIN: f64 = 1e-3;
/// As in tests/gradient_check.rs: `|a - n| <= ABS + REL · max(|a|, |n|)`.
const REL_TOLERANCE: f64 = 1e-4;
const ABS_TOLERANCE: f64 = 1e-5;

/// Which layer, with its shapes; `channels` are `(in, out)`.
#[derive(Clone, Copy, Debug)]
struct Case {
    transposed: bool,
    input: (usize, usize),
    channels: (usize, usize),
    kernel: (usize, usize),
    stride: usize,
    padding: Padding,
    activation: Activation,
}

/// Keras' rule for one axis, written again: `(output, zeros before)`.
fn keras_axis(n: usize, k: usize, s: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Same => {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(n);
            (out, total / 2)
        }
        Padding::Valid => ((n - k) / s + 1, 0),
    }
}

/// A case's numbers in f64: kernel in the layer's own layout, bias, input batch.
struct Reference {
    case: Case,
    kernel: Array4<f64>,
    bias: Array1<f64>,
}

impl Reference {
    /// `(h, w)` of the output.
    fn output_size(&self) -> (usize, usize) {
        let c = self.case;
        if !c.transposed {
            let (oh, _) = keras_axis(c.input.0, c.kernel.0, c.stride, c.padding);
            let (ow, _) = keras_axis(c.input.1, c.kernel.1, c.stride, c.padding);
            return (oh, ow);
        }
        let grow = |n: usize, k: usize| match c.padding {
            Padding::Same => n * c.stride,
            Padding::Valid => n * c.stride + k.saturating_sub(c.stride),
        };
        (grow(c.input.0, c.kernel.0), grow(c.input.1, c.kernel.1))
    }

    /// The pre-activations `z[b][(p, q, o)]`, by the defining sums.
    fn pre_activations(&self, x: &Array2<f64>) -> Array2<f64> {
        let c = self.case;
        let ((h, w), (cin, cout), (kh, kw), s) = (c.input, c.channels, c.kernel, c.stride);
        let (oh, ow) = self.output_size();
        let mut z = Array2::zeros((x.nrows(), oh * ow * cout));
        for b in 0..x.nrows() {
            for o in 0..cout {
                for p in 0..oh {
                    for q in 0..ow {
                        z[[b, (p * ow + q) * cout + o]] = self.bias[o];
                    }
                }
            }
            if !c.transposed {
                // y[i, j, o] = Σ x[i*s + di - top, j*s + dj - left, ch] K[di, dj, ch, o]
                let (top, left) = (
                    keras_axis(h, kh, s, c.padding).1 as isize,
                    keras_axis(w, kw, s, c.padding).1 as isize,
                );
                for (i, j, di, dj, ch, o) in six(oh, ow, kh, kw, cin, cout) {
                    let (y, xx) = ((i * s + di) as isize - top, (j * s + dj) as isize - left);
                    if (0..h as isize).contains(&y) && (0..w as isize).contains(&xx) {
                        let v = x[[b, (y as usize * w + xx as usize) * cin + ch]];
                        z[[b, (i * ow + j) * cout + o]] += v * self.kernel[[di, dj, ch, o]];
                    }
                }
            } else {
                // the convolution that maps (oh, ow) back to (h, w): output pixel (p, q) = (i*s + di - top, ...)
                let (top, left) = (
                    keras_axis(oh, kh, s, c.padding).1 as isize,
                    keras_axis(ow, kw, s, c.padding).1 as isize,
                );
                for (i, j, di, dj, o, ch) in six(h, w, kh, kw, cout, cin) {
                    let (p, q) = ((i * s + di) as isize - top, (j * s + dj) as isize - left);
                    if (0..oh as isize).contains(&p) && (0..ow as isize).contains(&q) {
                        let v = x[[b, (i * w + j) * cin + ch]];
                        z[[b, (p as usize * ow + q as usize) * cout + o]] += v * self.kernel[[di, dj, o, ch]];
                    }
                }
            }
        }
        z
    }

    /// `L = Σ r ⊙ act(z)`, and the smallest `|z|` at a kinked activation.
    fn loss(&self, x: &Array2<f64>, r: &Array2<f64>) -> (f64, f64) {
        let z = self.pre_activations(x);
        let kink = if has_kink(self.case.activation) {
            z.iter().fold(f64::INFINITY, |m, v| m.min(v.abs()))
        } else {
            f64::INFINITY
        };
        let loss = z
            .iter()
            .zip(r)
            .map(|(&z, &r)| r * activate(self.case.activation, z))
            .sum();
        (loss, kink)
    }
}

fn six(
    a: usize,
    b: usize,
    c: usize,
    d: usize,
    e: usize,
    f: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize, usize, usize)> {
    (0..a).flat_map(move |i| {
        (0..b).flat_map(move |j| {
            (0..c).flat_map(move |k| {
                (0..d).flat_map(move |l| (0..e).flat_map(move |m| (0..f).map(move |n| (i, j, k, l, m, n))))
            })
        })
    })
}

/// A layer of `case` with random weights, as the crate's layer and as the f64 reference.
enum Layer {
    Conv(Conv2d),
    Transposed(ConvTranspose2d),
}

impl Layer {
    fn of(case: Case, rng: &mut StdRng) -> (Layer, Reference) {
        let ((cin, cout), (kh, kw)) = (case.channels, case.kernel);
        let shape = if case.transposed {
            (kh, kw, cout, cin)
        } else {
            (kh, kw, cin, cout)
        };
        let kernel = Array4::from_shape_fn(shape, |_| rng.random_range(-0.6..0.6_f32));
        let bias = Array1::from_shape_fn(cout, |_| rng.random_range(-0.3..0.3_f32));
        let input = (case.input.0, case.input.1, cin);
        let (k64, b64) = (kernel.mapv(f64::from), bias.mapv(f64::from));
        let (s, p, a) = (case.stride, case.padding, case.activation);
        let layer = if case.transposed {
            Layer::Transposed(ConvTranspose2d::from_parts(kernel, bias, input, s, p, a).unwrap())
        } else {
            Layer::Conv(Conv2d::from_parts(kernel, bias, input, s, p, a).unwrap())
        };
        let reference = Reference {
            case,
            kernel: k64,
            bias: b64,
        };
        (layer, reference)
    }

    fn forward_backward(&self, x: &Array2<f32>, r: &Array2<f32>) -> (Array2<f32>, ConvGradients) {
        match self {
            Layer::Conv(l) => {
                let trace = l.forward_train(x.view()).unwrap();
                (trace.output().clone(), l.backward(&trace, r.view()).unwrap())
            }
            Layer::Transposed(l) => {
                let trace = l.forward_train(x.view()).unwrap();
                (trace.output().clone(), l.backward(&trace, r.view()).unwrap())
            }
        }
    }

    fn output_shape(&self) -> (usize, usize, usize) {
        match self {
            Layer::Conv(l) => l.output_shape(),
            Layer::Transposed(l) => l.output_shape(),
        }
    }
}

#[track_caller]
fn assert_close(analytic: f32, numeric: f64, what: &str) {
    let a = f64::from(analytic);
    let bound = ABS_TOLERANCE + REL_TOLERANCE * a.abs().max(numeric.abs());
    assert!(
        (a - numeric).abs() <= bound,
        "{what}: analytic {a} vs numeric {numeric}"
    );
}

/// The central difference of `loss` in one value, set through `set`.
fn central<T>(value: &mut T, set: impl Fn(&mut T, f64), get: f64, loss: impl Fn(&T) -> f64) -> f64 {
    set(value, get + STEP);
    let plus = loss(value);
    set(value, get - STEP);
    let minus = loss(value);
    set(value, get);
    (plus - minus) / (2.0 * STEP)
}

/// Checks one case: forward against the defining sums, every gradient against central differences.
fn check(case: Case, seed: u64) {
    let batch = 2;
    for attempt in 0..50 {
        let mut rng = StdRng::seed_from_u64(seed * 1000 + attempt);
        let (layer, mut reference) = Layer::of(case, &mut rng);
        let cin = case.channels.0;
        let x = Array2::from_shape_fn((batch, case.input.0 * case.input.1 * cin), |_| {
            rng.random_range(-1.0..1.0_f32)
        });
        let (oh, ow, cout) = layer.output_shape();
        assert_eq!((oh, ow), reference.output_size(), "{case:?}: output size");
        let r = Array2::from_shape_fn((batch, oh * ow * cout), |_| rng.random_range(-1.0..1.0_f32));
        let (x64, r64) = (x.mapv(f64::from), r.mapv(f64::from));
        if reference.loss(&x64, &r64).1 < KINK_MARGIN {
            continue; // a pre-activation too close to a kink: resample
        }
        let (output, grads) = layer.forward_backward(&x, &r);
        let expected = reference.pre_activations(&x64).mapv(|z| activate(case.activation, z));
        for (&y, &e) in output.iter().zip(&expected) {
            assert!(
                (f64::from(y) - e).abs() <= 1e-5 * (1.0 + e.abs()),
                "{case:?}: forward {y} vs {e}"
            );
        }

        for (index, &g) in grads.kernel.indexed_iter() {
            let value = reference.kernel[index];
            let numeric = central(
                &mut reference,
                |r, v| r.kernel[index] = v,
                value,
                |r| r.loss(&x64, &r64).0,
            );
            assert_close(g, numeric, &format!("{case:?}: dL/dK{index:?}"));
        }
        for (o, &g) in grads.bias.iter().enumerate() {
            let value = reference.bias[o];
            let numeric = central(&mut reference, |r, v| r.bias[o] = v, value, |r| r.loss(&x64, &r64).0);
            assert_close(g, numeric, &format!("{case:?}: dL/db[{o}]"));
        }
        let mut x_moved = x64.clone();
        for (index, &g) in grads.input.indexed_iter() {
            let value = x_moved[index];
            let numeric = central(&mut x_moved, |x, v| x[index] = v, value, |x| reference.loss(x, &r64).0);
            assert_close(g, numeric, &format!("{case:?}: dL/dx{index:?}"));
        }
        return;
    }
    panic!("{case:?}: no sample kept its pre-activations away from the kink");
}

/// Every padding, stride, kernel shape and input size in the rules, for both layers, with the activations taken
/// in turn; then every activation on one uneven geometry.
#[test]
fn gradients_of_both_layers_match_finite_differences() {
    let mut seed = 0;
    let mut activations = ACTIVATIONS.iter().cycle();
    for transposed in [false, true] {
        for padding in [Padding::Same, Padding::Valid] {
            for stride in [1, 2, 3] {
                for kernel in [(3, 3), (2, 2), (1, 1), (2, 3), (4, 1)] {
                    for (input, channels) in [((5, 7), (1, 2)), ((4, 4), (3, 2))] {
                        let case = Case {
                            transposed,
                            input,
                            channels,
                            kernel,
                            stride,
                            padding,
                            activation: *activations.next().unwrap(),
                        };
                        if !transposed && padding == Padding::Valid && (input.0 < kernel.0 || input.1 < kernel.1) {
                            continue;
                        }
                        seed += 1;
                        check(case, seed);
                    }
                }
            }
        }
    }
    for transposed in [false, true] {
        for activation in ACTIVATIONS {
            let case = Case {
                transposed,
                input: (5, 6),
                channels: (2, 3),
                kernel: (3, 2),
                stride: 2,
                padding: Padding::Same,
                activation,
            };
            seed += 1;
            check(case, seed);
        }
    }
}

/// `ConvTranspose2d` is the adjoint of the `Conv2d` with the same kernel, stride and padding that maps its output
/// shape back to its input shape: `<T x, y> = <x, C y>` for every `x` and `y`.
#[test]
fn the_transposed_convolution_is_the_adjoint_of_the_convolution() {
    let mut rng = StdRng::seed_from_u64(9);
    for padding in [Padding::Same, Padding::Valid] {
        for (grid, kernel, stride) in [
            ((7, 7), (3, 3), 2),
            ((4, 5), (2, 2), 2),
            ((3, 3), (5, 5), 3),
            ((5, 4), (2, 3), 1),
        ] {
            let (cin, cout) = (3, 2); // of the transposed layer
            let k = Array4::from_shape_fn((kernel.0, kernel.1, cout, cin), |_| rng.random_range(-1.0..1.0_f32));
            let t = ConvTranspose2d::from_parts(
                k.clone(),
                Array1::zeros(cout),
                (grid.0, grid.1, cin),
                stride,
                padding,
                Activation::Identity,
            )
            .unwrap();
            let image = t.output_shape();
            let c = Conv2d::from_parts(k, Array1::zeros(cin), image, stride, padding, Activation::Identity).unwrap();
            assert_eq!(
                c.output_shape(),
                (grid.0, grid.1, cin),
                "{padding} {grid:?} {kernel:?} {stride}"
            );
            let x = Array2::from_shape_fn((2, t.inputs()), |_| rng.random_range(-1.0..1.0_f32));
            let y = Array2::from_shape_fn((2, c.inputs()), |_| rng.random_range(-1.0..1.0_f32));
            let tx = t.forward(x.view()).unwrap();
            let cy = c.forward(y.view()).unwrap();
            let dot = |a: &Array2<f32>, b: &Array2<f32>| {
                a.iter().zip(b).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>()
            };
            let (left, right) = (dot(&tx, &y), dot(&x, &cy));
            assert!(
                (left - right).abs() <= 1e-4 * (1.0 + left.abs()),
                "{padding} {grid:?}: {left} vs {right}"
            );
        }
    }
}

/// Odd input layouts (a transposed view) give the same numbers as standard ones.
#[test]
fn any_input_layout_gives_the_same_output() {
    let mut rng = StdRng::seed_from_u64(3);
    let layer = Conv2d::new(
        (5, 5, 2),
        3,
        (3, 3),
        2,
        Padding::Same,
        Activation::Tanh,
        Default::default(),
        &mut rng,
    )
    .unwrap();
    let x = Array2::from_shape_fn((50, 4), |_| rng.random_range(-1.0..1.0_f32));
    let standard = x.t().as_standard_layout().into_owned();
    assert_eq!(layer.forward(x.t()).unwrap(), layer.forward(standard.view()).unwrap());
}

/// A column-major `dL/dy` gives the same gradients as a row-major one (it used to panic reshaping it into rows of
/// pixels).
#[test]
fn any_gradient_layout_gives_the_same_gradients() {
    let mut rng = StdRng::seed_from_u64(4);
    let conv = Conv2d::new(
        (4, 4, 1),
        2,
        (3, 3),
        2,
        Padding::Same,
        Activation::Tanh,
        Default::default(),
        &mut rng,
    )
    .unwrap();
    let transposed = ConvTranspose2d::new(
        (2, 2, 2),
        1,
        (3, 3),
        2,
        Padding::Same,
        Activation::Tanh,
        Default::default(),
        &mut rng,
    )
    .unwrap();
    let x = Array2::from_shape_fn((3, 16), |_| rng.random_range(-1.0..1.0_f32));
    let trace = conv.forward_train(x.view()).unwrap();
    let grad = Array2::from_shape_fn((3, 8), |_| rng.random_range(-1.0..1.0_f32));
    let column_major = grad.t().as_standard_layout().into_owned().reversed_axes();
    assert_eq!(
        conv.backward(&trace, column_major.view()).unwrap(),
        conv.backward(&trace, grad.view()).unwrap()
    );
    let trace = transposed.forward_train(grad.view()).unwrap();
    let grad = Array2::from_shape_fn((3, 16), |_| rng.random_range(-1.0..1.0_f32));
    let column_major = grad.t().as_standard_layout().into_owned().reversed_axes();
    let (a, b) = (
        transposed.backward(&trace, column_major.view()),
        transposed.backward(&trace, grad.view()),
    );
    assert_eq!(a.unwrap(), b.unwrap());
}

/// Shapes that are wrong say what is wrong: a zero stride is named as such, and a transposed convolution whose
/// output cannot be addressed says so of the user's input.
#[test]
fn wrong_settings_are_named() {
    let kernel = Array4::<f32>::zeros((1, 1, 1, 1));
    let zero_stride = ConvTranspose2d::from_parts(
        kernel.clone(),
        Array1::zeros(1),
        (4, 4, 1),
        0,
        Padding::Same,
        Activation::Relu,
    );
    assert!(zero_stride
        .unwrap_err()
        .to_string()
        .contains("stride must be at least 1"));
    let huge = ConvTranspose2d::from_parts(
        kernel,
        Array1::zeros(1),
        (1, 1, 1),
        usize::MAX / 2,
        Padding::Same,
        Activation::Relu,
    );
    let message = huge.unwrap_err().to_string();
    assert!(
        message.contains("input (1, 1, 1)") && message.contains("too large"),
        "{message}"
    );
}

/// A layer whose output or patch matrix cannot be allocated gives an error from `forward`, not an abort (run again
/// in a child process limited to 512 MiB, where any large allocation fails).
#[test]
fn buffers_too_large_for_memory_are_errors() {
    if std::env::var_os("CONV_CHILD").is_none() {
        #[cfg(unix)]
        common::pass_again_in_512_mib("buffers_too_large_for_memory_are_errors", "CONV_CHILD");
        return;
    }
    // 2^51 output values for one input value
    let huge = ConvTranspose2d::from_parts(
        Array4::ones((1, 1, 1, 1)),
        Array1::zeros(1),
        (1 << 17, 1, 1),
        1 << 17,
        Padding::Same,
        Activation::Identity,
    )
    .unwrap();
    let message = huge.forward(Array2::ones((1, 1 << 17)).view()).unwrap_err().to_string();
    assert!(
        message.contains("could not be allocated") || message.contains("more bytes"),
        "{message}"
    );
    // a patch matrix of 4 GiB for an input of 4 MiB
    let wide = Conv2d::from_parts(
        Array4::zeros((32, 32, 1, 1)),
        Array1::zeros(1),
        (1024, 1024, 1),
        1,
        Padding::Same,
        Activation::Identity,
    )
    .unwrap();
    let message = wide
        .forward(Array2::zeros((1, 1 << 20)).view())
        .unwrap_err()
        .to_string();
    assert!(message.contains("patch matrix"), "{message}");
    assert!(autoencoder::Dense::new(
        usize::MAX,
        2,
        Activation::Relu,
        Default::default(),
        &mut StdRng::seed_from_u64(0)
    )
    .is_err());
}
