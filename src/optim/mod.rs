//! Optimizers: [`Sgd`] (with momentum and Nesterov), [`Adam`] and [`AdamW`], behind one small trait.
//!
//! An optimizer keeps state per parameter tensor, by the tensor's name (`encoder.0.weight`, `encoder.0.bias`,
//! ...: a model's names come from [`crate::models::names`]), updates each tensor in place from its gradient,
//! and can hand its state out and take it back ([`OptimizerState`]), so that training resumes exactly from a
//! checkpoint. The update rules are PyTorch's (`torch.optim.SGD`, `Adam`, `AdamW`), hyper-parameters are kept
//! in f64 as Python's floats are, and the per-step scalars (bias corrections, step size) are formed in f64
//! before the element-wise f32 work, as PyTorch does.
//!
//! ```
//! use autoencoder::{Adam, Optimizer};
//! let mut adam = Adam::new(0.1);
//! let mut w = [1.0_f32, -2.0];
//! adam.begin_step();
//! adam.update("encoder.0.weight", &mut w, &[0.5, -0.5])?;
//! // Adam's first step moves every weight by about lr, against the gradient's sign:
//! assert!((w[0] - 0.9).abs() < 1e-6 && (w[1] + 1.9).abs() < 1e-6);
//! # Ok::<(), autoencoder::Error>(())
//! ```

mod adam;
mod adamw;
mod sgd;
mod state;

pub use adam::Adam;
pub use adamw::AdamW;
pub use sgd::Sgd;
pub use state::OptimizerState;

pub(crate) use state::Named;

use crate::error::{Error, Result};

/// A gradient-descent optimizer with per-parameter state.
///
/// A training step calls [`begin_step`](Self::begin_step) once, then [`update`](Self::update) once per
/// parameter tensor, each tensor always under its name (a model's tensors are named by
/// [`crate::models::names`]: `encoder.0.weight`, `encoder.0.bias`, ...; see
/// [`Autoencoder::named_parameters`](crate::Autoencoder::named_parameters)). State is kept per name, so the
/// order of the updates does not matter. Optimizers are `Send`, so that a step can run its update on the crate's
/// thread pool together with the forward and backward passes.
///
/// An optimizer's state belongs to one model: before a step changes anything,
/// [`Autoencoder::train_step`](crate::Autoencoder::train_step) checks with
/// [`check_parameters`](Self::check_parameters) that the state holds exactly the model's parameters (or none
/// yet), so an optimizer moved to a model of other layers is an error naming a tensor, not moments mixed
/// between models.
///
/// ```
/// use autoencoder::{AdamW, Optimizer, Sgd};
/// fn one_step(opt: &mut dyn Optimizer, w: &mut [f32], g: &[f32]) -> autoencoder::Result<()> {
///     opt.check()?;
///     opt.begin_step();
///     opt.update("w", w, g)
/// }
/// let mut w = [1.0_f32];
/// one_step(&mut Sgd::new(0.5), &mut w, &[1.0])?;
/// assert_eq!(w, [0.5]);
/// one_step(&mut AdamW::new(1e-3), &mut w, &[1.0])?;
/// assert!(w[0] < 0.5);
/// # Ok::<(), autoencoder::Error>(())
/// ```
///
/// An optimizer of your own keeps its state by name too. Adagrad, for instance (`Autoencoder::train_step` takes
/// it as it takes the crate's optimizers). Its methods run inside the step, on a thread of the crate's thread pool
/// (`rayon::join` and `par_iter` there split across that pool), while the pool's other threads wait for work or
/// copy the next batch of a `fit`: a method that blocks (on I/O, a lock) keeps them spinning meanwhile, and one
/// that calls `rayon::broadcast` (which needs every thread of the pool, and one of them is busy passing work in
/// from outside) never returns.
///
/// ```
/// use std::collections::BTreeMap;
/// use autoencoder::{Error, Optimizer, OptimizerState, Result};
///
/// struct Adagrad {
///     lr: f64,
///     step: u64,
///     sums: BTreeMap<String, Vec<f32>>, // per parameter name: the sum of its squared gradients
/// }
///
/// impl Optimizer for Adagrad {
///     fn check(&self) -> Result<()> {
///         Ok(())
///     }
///     fn begin_step(&mut self) {
///         self.step += 1;
///     }
///     fn update(&mut self, name: &str, param: &mut [f32], grad: &[f32]) -> Result<()> {
///         self.check_parameter(name, param.len())?;
///         if !self.sums.contains_key(name) {
///             self.sums.insert(name.to_string(), vec![0.0; param.len()]); // the first update only
///         }
///         let sums = self.sums.get_mut(name).expect("made above"); // a look-up by &str: no allocation
///         for ((w, &g), s) in param.iter_mut().zip(grad).zip(sums.iter_mut()) {
///             *s += g * g;
///             *w -= self.lr as f32 * g / (s.sqrt() + 1e-10);
///         }
///         Ok(())
///     }
///     fn check_parameter(&self, name: &str, len: usize) -> Result<()> {
///         match self.sums.get(name) {
///             Some(sums) if sums.len() != len => Err(Error::InvalidArgument(format!("{name}: another length"))),
///             _ => Ok(()),
///         }
///     }
///     fn learning_rate(&self) -> f64 {
///         self.lr
///     }
///     fn set_learning_rate(&mut self, lr: f64) {
///         self.lr = lr;
///     }
///     fn state(&self) -> OptimizerState {
///         let buffers = self.sums.iter().map(|(name, sums)| (name.clone(), vec![sums.clone()]));
///         OptimizerState { kind: "adagrad".into(), step: self.step, buffers: buffers.collect() }
///     }
///     fn load_state(&mut self, state: OptimizerState) -> Result<()> {
///         self.step = state.step;
///         self.sums = state.buffers.into_iter().filter_map(|(name, mut b)| Some((name, b.pop()?))).collect();
///         Ok(())
///     }
/// }
///
/// let mut ae = autoencoder::Autoencoder::builder(4).latent(2).seed(1).build()?;
/// let x = autoencoder::ndarray::Array2::from_elem((3, 4), 0.5_f32);
/// let mut adagrad = Adagrad { lr: 0.1, step: 0, sums: BTreeMap::new() };
/// ae.train_step(x.view(), x.view(), autoencoder::Loss::Mse, &mut adagrad)?;
/// assert_eq!(adagrad.state().buffers["decoder.0.bias"][0].len(), 4);
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub trait Optimizer: Send {
    /// Checks the hyper-parameters (a negative learning rate, a beta outside `[0, 1)`, ...), so that a bad
    /// configuration is an error before training rather than a NaN later.
    fn check(&self) -> Result<()>;

    /// Starts a training step (advances the step counter that bias corrections use).
    fn begin_step(&mut self);

    /// Updates the parameter tensor named `name` in place, given its gradient. The tensor's state is created
    /// (zeros) on its first update; after that no call allocates (a look-up by `&str` does not).
    ///
    /// Errors with [`Error::Shape`] when `param` and `grad` differ in length, or differ from the length the
    /// tensor had before (a state loaded for another model).
    fn update(&mut self, name: &str, param: &mut [f32], grad: &[f32]) -> Result<()>;

    /// Checks, without changing anything, that the state of the parameter `name` (if it has any yet) fits a
    /// tensor of `len` elements.
    ///
    /// ```
    /// use autoencoder::{Adam, Optimizer};
    /// let mut adam = Adam::new(0.1);
    /// adam.begin_step();
    /// adam.update("encoder.0.bias", &mut [1.0, 2.0], &[0.5, 0.5])?;
    /// assert!(adam.check_parameter("encoder.0.bias", 2).is_ok());
    /// assert!(adam.check_parameter("encoder.0.bias", 3).is_err());
    /// assert!(adam.check_parameter("decoder.0.bias", 3).is_ok()); // no state yet
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    fn check_parameter(&self, name: &str, len: usize) -> Result<()>;

    /// Checks, without changing anything, that the state fits a model whose parameter tensors are `parameters`
    /// (distinct names, each with its element count). A training step checks this before its first update, so
    /// that a state made for another model fails before any weight has moved.
    ///
    /// The default checks each parameter with [`check_parameter`](Self::check_parameter). The crate's
    /// optimizers also require the state to hold either no parameter yet or exactly these: an entry for a name
    /// the model does not have, or entries for some of its parameters only, is an [`Error::InvalidArgument`]
    /// naming the tensor (the state was made for another model).
    ///
    /// ```
    /// use autoencoder::{Adam, Optimizer};
    /// let mut adam = Adam::new(0.1);
    /// adam.begin_step();
    /// adam.update("encoder.0.bias", &mut [1.0], &[0.5])?;
    /// assert!(adam.check_parameters(&[("encoder.0.bias".into(), 1)]).is_ok());
    /// let err = adam.check_parameters(&[("decoder.0.bias".into(), 1)]).unwrap_err();
    /// assert!(err.to_string().contains("encoder.0.bias"), "{err}");
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    fn check_parameters(&self, parameters: &[(String, usize)]) -> Result<()> {
        parameters
            .iter()
            .try_for_each(|(name, len)| self.check_parameter(name, *len))
    }

    /// The learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (for schedules).
    fn set_learning_rate(&mut self, learning_rate: f64);

    /// A copy of the optimizer's state: step count and buffers by parameter name, for checkpoints.
    fn state(&self) -> OptimizerState;

    /// Restores a state from [`state`](Self::state). Errors when it belongs to another kind of optimizer.
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;

    /// Whether the coming step's update of the parameter `name` is sure to leave it and its state finite, given
    /// finite parameters and a gradient whose elements are at most `grad_max_abs` in magnitude: a bound worked out
    /// in O(1), before [`begin_step`](Self::begin_step).
    ///
    /// A training step that gets `false` for any parameter first copies the parameters and the state
    /// ([`save_state_into`](Self::save_state_into)), and puts both back if the update turns anything NaN or
    /// infinite. The default, `false`, is always correct, and slower: the crate's optimizers answer `true` unless a
    /// setting or a gradient is extreme (a learning rate of 1e30, Adam's eps 0, SGD's weight decay).
    ///
    /// ```
    /// use autoencoder::{Adam, Optimizer};
    /// assert!(Adam::new(1e-3).update_stays_finite("encoder.0.weight", 10.0));
    /// // 0 / 0 where a gradient is 0:
    /// assert!(!Adam::new(1e-3).with_eps(0.0).update_stays_finite("encoder.0.weight", 10.0));
    /// ```
    fn update_stays_finite(&self, name: &str, grad_max_abs: f32) -> bool {
        let _ = (name, grad_max_abs);
        false
    }

    /// Copies the state into `into`, reusing its buffers: once `into` has the sizes, the crate's optimizers
    /// allocate nothing. The default is `*into = self.state()`.
    ///
    /// ```
    /// use autoencoder::{Optimizer, Sgd};
    /// let mut sgd = Sgd::new(0.1).with_momentum(0.9);
    /// sgd.begin_step();
    /// sgd.update("w", &mut [1.0], &[1.0])?;
    /// let mut saved = Sgd::new(0.1).state();
    /// sgd.save_state_into(&mut saved);
    /// assert_eq!(saved, sgd.state());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    fn save_state_into(&self, into: &mut OptimizerState) {
        *into = self.state();
    }

    /// Puts back, exactly, a state saved by [`save_state_into`](Self::save_state_into) from this optimizer. The
    /// default is `self.load_state(state.clone())`.
    ///
    /// ```
    /// use autoencoder::{Adam, Optimizer};
    /// let mut adam = Adam::new(0.1);
    /// let saved = adam.state();
    /// adam.begin_step();
    /// adam.update("w", &mut [1.0], &[1.0])?;
    /// adam.restore_state(&saved)?;
    /// assert_eq!(adam, Adam::new(0.1));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    fn restore_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.load_state(state.clone())
    }

    /// The first NaN or infinite value of the state, if any. The default scans [`state`](Self::state); the
    /// crate's optimizers answer in O(1) from the maxima their updates keep.
    ///
    /// ```
    /// use autoencoder::{Adam, Optimizer};
    /// let mut adam = Adam::new(0.1);
    /// adam.begin_step();
    /// adam.update("w", &mut [1.0], &[f32::INFINITY])?;
    /// assert!(adam.non_finite_state().is_some());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    fn non_finite_state(&self) -> Option<f32> {
        let state = self.state();
        state
            .buffers
            .values()
            .flatten()
            .flatten()
            .copied()
            .find(|v| !v.is_finite())
    }
}

/// An update no larger than this in magnitude leaves a finite `f32` weight finite: `|w - d|` rounds past
/// `f32::MAX` only when `|d|` reaches half a unit in the last place of `f32::MAX`, 2^103. (2^100 leaves room for
/// the rounding of the bounds themselves.)
pub(crate) const SAFE_UPDATE: f64 = (1u128 << 100) as f64;

/// How much a bound computed in f64 is widened to cover the f32 rounding of the operations it bounds (each a few
/// units in the last place, far below 1%).
pub(crate) const ROUNDING_MARGIN: f64 = 1.01;

/// `x`, or 0 when it is subnormal (non-zero and below `f32::MIN_POSITIVE` in magnitude): what the optimizers keep
/// of a moment or momentum buffer.
///
/// A buffer whose gradient is (nearly) always zero, as the weights from the always-black border pixels of
/// Fashion-MNIST, decays by its β at every step and so spends hundreds of steps among the subnormal numbers, whose
/// arithmetic costs x86 cores a microcode assist per operation: measured on VAE-2, 140,000 subnormal first
/// moments after two epochs, and an epoch 30% slower by its third than its first. The step such a value gives is
/// below 1e-30, far below half an ulp of any weight it updates, so flushing it changes no weight (JAX and PyTorch
/// run with the CPU's flush-to-zero mode for the same reason).
#[inline(always)]
pub(crate) fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

/// `|x|` where it is finite, infinity where `x` is NaN or infinite: maxima of these are finite exactly when
/// every value is.
#[inline(always)]
pub(crate) fn magnitude(x: f32) -> f32 {
    let a = x.abs();
    if a <= f32::MAX {
        a
    } else {
        f32::INFINITY
    }
}

/// [`flush_subnormal`] of each lane of `x`, and the bits of each result's absolute value, for the optimizers'
/// vector code.
///
/// As integers, those bits order as the magnitudes do, with every NaN's above infinity's: a running maximum of
/// them ([`simd.max_u32s`](pulp::Simd::max_u32s)) turned back by [`magnitude_of_largest_bits`] is the largest
/// [`magnitude`]. Both are integer operations on the bits: on Zen 3 the float compare-and-select of each made
/// Adam's update take 1.25× the time.
#[inline(always)]
pub(crate) fn flush_subnormal_lanes<S: pulp::Simd>(simd: S, x: S::f32s) -> (S::f32s, S::u32s) {
    let bits = simd.transmute_u32s_f32s(x);
    let size = simd.and_u32s(bits, simd.splat_u32s(!SIGN_BIT));
    // kept where |x| >= MIN_POSITIVE, NaN included (`size` has no sign bit, so a signed comparison is exact)
    let smallest_kept = simd.splat_i32s(f32::MIN_POSITIVE.to_bits() as i32);
    let kept = simd.greater_than_or_equal_i32s(simd.transmute_i32s_u32s(size), smallest_kept);
    let zero = simd.splat_u32s(0);
    (
        simd.transmute_f32s_u32s(simd.select_u32s(kept, bits, zero)),
        simd.select_u32s(kept, size, zero),
    )
}

/// The sign bit of an `f32`.
const SIGN_BIT: u32 = 1 << 31;

/// The largest [`magnitude`] among the lanes of `largest_bits`, a running maximum of the bits
/// [`flush_subnormal_lanes`] gives: infinity where those bits are a NaN's.
#[inline(always)]
pub(crate) fn magnitude_of_largest_bits<S: pulp::Simd>(simd: S, largest_bits: S::u32s) -> f32 {
    let infinity = simd.splat_u32s(f32::INFINITY.to_bits());
    simd.reduce_max_f32s(simd.transmute_f32s_u32s(simd.min_u32s(largest_bits, infinity)))
}

/// The largest [`magnitude`] of `values`, reduced in 16 lanes so that the compiler vectorises it, compiled for
/// (and run with) the CPU's widest vectors; split across the crate's threads when called on its pool and `values`
/// are many (a maximum is the same in any order).
pub(crate) fn max_magnitude(values: &[f32]) -> f32 {
    max_magnitude_in_parts(values, crate::matmul::parts_for(values.len()))
}

/// [`max_magnitude`] in `parts` parts (across the crate's threads when on its pool).
fn max_magnitude_in_parts(values: &[f32], parts: usize) -> f32 {
    if parts < 2 {
        return pulp::Arch::new().dispatch(MaxMagnitude(values));
    }
    let half = parts / 2;
    let (a, b) = values.split_at(values.len() * half / parts / 16 * 16); // a whole number of 16-value chunks
    let (a, b) = crate::matmul::join(
        || max_magnitude_in_parts(a, half),
        || max_magnitude_in_parts(b, parts - half),
    );
    a.max(b)
}

/// [`max_magnitude`] as a [`pulp::WithSimd`] operation.
struct MaxMagnitude<'a>(&'a [f32]);

impl pulp::WithSimd for MaxMagnitude<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f32 {
        let mut lanes = [0.0_f32; 16];
        let chunks = self.0.chunks_exact(16);
        let rest = chunks.remainder();
        for chunk in chunks {
            for (lane, &x) in lanes.iter_mut().zip(chunk) {
                *lane = lane.max(magnitude(x));
            }
        }
        for (lane, &x) in lanes.iter_mut().zip(rest) {
            *lane = lane.max(magnitude(x));
        }
        lanes.into_iter().fold(0.0, f32::max)
    }
}

/// Checks that a parameter and its gradient have the same length.
pub(crate) fn check_lengths(name: &str, param: &[f32], grad: &[f32]) -> Result<()> {
    if param.len() == grad.len() {
        Ok(())
    } else {
        Err(Error::shape(
            format!("optimizer update of {name} (gradient vs parameter)"),
            format!("{} elements", param.len()),
            format!("{} elements", grad.len()),
        ))
    }
}

/// Checks that `value` is finite and at least zero.
pub(crate) fn check_non_negative(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{name} must be finite and >= 0, got {value}"
        )))
    }
}

/// Checks that a beta (a decay rate) is in `[0, 1)`.
pub(crate) fn check_beta(name: &str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("{name} must be in [0, 1), got {value}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{Adam, Sgd};

    #[test]
    fn the_largest_magnitude_is_the_same_in_any_number_of_parts() {
        for len in [0, 1, 15, 16, 17, 1000, 40_000] {
            let values: Vec<f32> = (0..len).map(|i| ((i * 37) % 1001) as f32 - 500.0).collect();
            let want = values.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            for parts in [1, 2, 3, 8] {
                assert_eq!(
                    max_magnitude_in_parts(&values, parts),
                    want,
                    "{len} values, {parts} parts"
                );
            }
            for special in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut values = values.clone();
                if let Some(last) = values.last_mut() {
                    *last = special;
                    for parts in [1, 2, 3] {
                        assert_eq!(max_magnitude_in_parts(&values, parts), f32::INFINITY);
                    }
                }
            }
        }
    }

    /// The lane form of `flush_subnormal` and `magnitude` is the scalar one, bit for bit, on every kind of value.
    #[test]
    fn the_lanes_flush_and_measure_as_the_scalar_functions() {
        struct Lanes(Vec<f32>);
        impl pulp::WithSimd for Lanes {
            type Output = (Vec<f32>, f32);
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, simd: S) -> (Vec<f32>, f32) {
                let mut flushed = vec![f32::NAN; self.0.len()];
                let (inputs, _) = S::as_simd_f32s(&self.0);
                let (outputs, _) = S::as_mut_simd_f32s(&mut flushed);
                let mut largest_bits = simd.splat_u32s(0);
                for (&x, flushed) in inputs.iter().zip(outputs) {
                    let bits;
                    (*flushed, bits) = flush_subnormal_lanes(simd, x);
                    largest_bits = simd.max_u32s(largest_bits, bits);
                }
                (flushed, magnitude_of_largest_bits(simd, largest_bits))
            }
        }
        let specials = [
            0.0,
            -0.0,
            1e-45,
            -1e-45,
            1e-39,
            -1.1754942e-38,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1.5,
            -2.5e7,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        // every special value in every lane, and runs without the non-finite ones
        for (len, specials) in [
            (64, &specials[..]),
            (64, &specials[..12]),
            (64, &specials[..14]),
            (16, &[-0.0][..]),
        ] {
            for shift in 0..specials.len() {
                let values: Vec<f32> = (0..len).map(|i| specials[(i + shift) % specials.len()]).collect();
                let want_flushed: Vec<u32> = values.iter().map(|&x| flush_subnormal(x).to_bits()).collect();
                let want_largest = values
                    .iter()
                    .fold(0.0_f32, |m, &x| m.max(magnitude(flush_subnormal(x))));
                // every instruction set this CPU has, whichever one the dispatch picks
                let mut runs = vec![(
                    "scalar",
                    pulp::Simd::vectorize(pulp::Scalar::new(), Lanes(values.clone())),
                )];
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                {
                    if let Some(simd) = pulp::x86::V3::try_new() {
                        runs.push(("AVX2", pulp::Simd::vectorize(simd, Lanes(values.clone()))));
                    }
                    if let Some(simd) = pulp::x86::V4::try_new() {
                        runs.push(("AVX-512", pulp::Simd::vectorize(simd, Lanes(values.clone()))));
                    }
                }
                for (name, (flushed, largest)) in runs {
                    let flushed: Vec<u32> = flushed.iter().map(|x| x.to_bits()).collect();
                    assert_eq!(flushed, want_flushed, "{name}: {values:?}");
                    assert_eq!(largest.to_bits(), want_largest.to_bits(), "{name}: {values:?}");
                }
            }
        }
    }

    /// Each name keeps its own state, whatever the order of the updates: the same updates in another order give
    /// the same parameters and state.
    #[test]
    fn state_is_kept_by_name_whatever_the_order_of_updates() {
        let grads = [[0.5_f32, -1.0], [0.25, 0.5], [1.0, 1.0]];
        let run = |opt: &mut dyn Optimizer, reversed: bool| {
            let (mut a, mut b) = ([1.0_f32, 2.0], [3.0_f32]);
            for g in &grads {
                opt.begin_step();
                if reversed {
                    opt.update("b", &mut b, &g[..1]).unwrap();
                    opt.update("a", &mut a, g).unwrap();
                } else {
                    opt.update("a", &mut a, g).unwrap();
                    opt.update("b", &mut b, &g[..1]).unwrap();
                }
            }
            (a, b, opt.state())
        };
        let (mut x, mut y) = (Adam::new(0.1), Adam::new(0.1));
        assert_eq!(run(&mut x, false), run(&mut y, true));
        assert_eq!(x, y);
        let (mut x, mut y) = (Sgd::new(0.1).with_momentum(0.9), Sgd::new(0.1).with_momentum(0.9));
        assert_eq!(run(&mut x, false), run(&mut y, true));
        assert_eq!(x, y);
    }

    #[test]
    fn a_state_for_other_parameters_is_an_error_naming_the_tensor() {
        let mut adam = Adam::new(1e-3);
        let model = |names: &[&str]| names.iter().map(|n| (n.to_string(), 1)).collect::<Vec<_>>();
        assert!(
            adam.check_parameters(&model(&["a", "b"])).is_ok(),
            "no state yet fits any model"
        );
        adam.begin_step();
        adam.update("a", &mut [1.0], &[1.0]).unwrap();
        adam.update("b", &mut [1.0], &[1.0]).unwrap();
        assert!(adam.check_parameters(&model(&["b", "a"])).is_ok());
        let err = adam.check_parameters(&model(&["a"])).unwrap_err().to_string();
        assert!(
            err.contains("state for b, a parameter this model does not have"),
            "{err}"
        );
        let err = adam.check_parameters(&model(&["a", "b", "c"])).unwrap_err().to_string();
        assert!(
            err.contains("2 of this model's 3 parameter tensors, but none for c"),
            "{err}"
        );
        let err = adam.check_parameters(&[("a".into(), 2), ("b".into(), 1)]).unwrap_err();
        assert!(
            matches!(err, Error::Shape { .. }) && err.to_string().contains("of a"),
            "{err}"
        );
    }

    /// Wherever an optimizer vouches for an update, the update is finite: over learning rates, gradients and
    /// weights up to the extremes, three steps each, against the bound worked out before each.
    #[test]
    fn an_update_an_optimizer_vouches_for_stays_finite() {
        use crate::optim::AdamW;
        type Make = Box<dyn Fn(f64) -> Box<dyn Optimizer>>;
        let optimizers: Vec<Make> = vec![
            Box::new(|lr| Box::new(Adam::new(lr))),
            Box::new(|lr| Box::new(Adam::new(lr).with_eps(1e-30))),
            Box::new(|lr| Box::new(AdamW::new(lr).with_weight_decay(0.5))),
            Box::new(|lr| Box::new(Sgd::new(lr))),
            Box::new(|lr| Box::new(Sgd::new(lr).with_momentum(0.9).with_nesterov(true))),
            Box::new(|lr| Box::new(Sgd::new(lr).with_momentum(1.5).with_dampening(3.0))),
        ];
        let (mut vouched, mut refused) = (0, 0);
        for make in &optimizers {
            for lr in [1e-3, 1.0, 1e10, 1e20, 1e28, 1e30, 1e38, 1e300] {
                for g in [0.0_f32, 1e-30, 1e-3, 1.0, 1e10, 1e18, 1e20, 1e30, f32::MAX] {
                    let mut opt = make(lr);
                    let mut w = [f32::MAX / 2.0, -1e30, 0.0, 1.0];
                    let grad = [g, -g, g / 2.0, 0.0];
                    for step in 0..3 {
                        if !opt.update_stays_finite("w", g) {
                            refused += 1;
                            break;
                        }
                        vouched += 1;
                        opt.begin_step();
                        opt.update("w", &mut w, &grad).unwrap();
                        assert!(w.iter().all(|v| v.is_finite()), "lr {lr}, g {g}, step {step}: {w:?}");
                        assert_eq!(opt.non_finite_state(), None, "lr {lr}, g {g}, step {step}");
                    }
                }
            }
        }
        assert!(vouched > 100 && refused > 50, "{vouched} vouched, {refused} refused");
    }

    /// A buffer fed one gradient and then zeros decays by its β at every step: it goes from normal numbers to
    /// zero without ever holding a subnormal one (which would cost x86 cores a microcode assist per operation at
    /// every later step), for every optimizer with a buffer; the weight moves as it would with the subnormals kept.
    #[test]
    fn decaying_state_never_holds_subnormal_numbers() {
        let optimizers: Vec<Box<dyn Optimizer>> = vec![
            Box::new(Adam::new(1e-3)),
            Box::new(AdamW::new(1e-3)),
            Box::new(Sgd::new(1e-3).with_momentum(0.9)),
        ];
        for mut opt in optimizers {
            let mut w = [0.25_f32, -0.5];
            let mut subnormal = 0;
            for step in 0..3000 {
                let grad = if step == 0 { [1e-3, 1e-20] } else { [0.0, 0.0] };
                opt.begin_step();
                opt.update("w", &mut w, &grad).unwrap();
                let state = opt.state();
                let values = state.buffers.values().flatten().flatten();
                subnormal += values.filter(|v| **v != 0.0 && v.abs() < f32::MIN_POSITIVE).count();
            }
            assert_eq!(subnormal, 0, "{:?}", opt.state().kind);
            // the first element's first buffer reached zero (from 1e-4 by 0.9 a step: some 800 steps)
            let first_zero = opt.state().buffers.values().flatten().next().map(|b| b[0]);
            assert_eq!(first_zero, Some(0.0), "{:?} after 3000 steps", opt.state().kind);
            assert!(w.iter().all(|v| v.is_finite()));
        }
    }
}
