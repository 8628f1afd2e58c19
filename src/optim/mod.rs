//! Optimizers: [`Sgd`] (with momentum and Nesterov), [`Adam`] and [`AdamW`], behind one small trait.
//!
//! An optimizer keeps state per parameter tensor ("slot": a layer's weights or its bias), updates each tensor in
//! place from its gradient, and can hand its state out and take it back, so that training resumes exactly from
//! a checkpoint. The update rules are PyTorch's (`torch.optim.SGD`, `Adam`, `AdamW`), hyper-parameters are kept
//! in f64 as Python's floats are, and the per-step scalars (bias corrections, step size) are formed in f64
//! before the element-wise f32 work, as PyTorch does.
//!
//! ```
//! use autoencoder::{Adam, Optimizer};
//! let mut adam = Adam::new(0.1);
//! let mut w = [1.0_f32, -2.0];
//! adam.begin_step();
//! adam.update(0, &mut w, &[0.5, -0.5])?;
//! // Adam's first step moves every weight by about lr, against the gradient's sign:
//! assert!((w[0] - 0.9).abs() < 1e-6 && (w[1] + 1.9).abs() < 1e-6);
//! # Ok::<(), autoencoder::Error>(())
//! ```

mod adam;
mod adamw;
mod sgd;

pub use adam::Adam;
pub use adamw::AdamW;
pub use sgd::Sgd;

use crate::error::{Error, Result};

/// A gradient-descent optimizer with per-parameter state.
///
/// A training step calls [`begin_step`](Self::begin_step) once, then [`update`](Self::update) once per
/// parameter tensor, each tensor always under the same `slot` number. Optimizers are `Send`, so that a step can
/// run its update on the crate's thread pool together with the forward and backward passes.
///
/// ```
/// use autoencoder::{AdamW, Optimizer, Sgd};
/// fn one_step(opt: &mut dyn Optimizer, w: &mut [f32], g: &[f32]) -> autoencoder::Result<()> {
///     opt.check()?;
///     opt.begin_step();
///     opt.update(0, w, g)
/// }
/// let mut w = [1.0_f32];
/// one_step(&mut Sgd::new(0.5), &mut w, &[1.0])?;
/// assert_eq!(w, [0.5]);
/// one_step(&mut AdamW::new(1e-3), &mut w, &[1.0])?;
/// assert!(w[0] < 0.5);
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub trait Optimizer: Send {
    /// Checks the hyper-parameters (a negative learning rate, a beta outside `[0, 1)`, ...), so that a bad
    /// configuration is an error before training rather than a NaN later.
    fn check(&self) -> Result<()>;

    /// Starts a training step (advances the step counter that bias corrections use).
    fn begin_step(&mut self);

    /// Updates the parameter tensor in `slot` in place, given its gradient. The slot's state is created (zeros)
    /// on its first update; after that no call allocates.
    ///
    /// Errors with [`Error::Shape`] when `param` and `grad` differ in length, or differ from the length the slot
    /// had before (a state loaded for another model).
    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32]) -> Result<()>;

    /// Checks, without changing anything, that `slot`'s state (if it has any yet) fits a parameter of `len`
    /// elements. A training step checks every slot before its first update, so that a state loaded for another
    /// model fails before any weight has moved.
    fn check_slot(&self, slot: usize, len: usize) -> Result<()>;

    /// The learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (for schedules).
    fn set_learning_rate(&mut self, learning_rate: f64);

    /// A copy of the optimizer's state: step count and per-slot buffers, for checkpoints.
    fn state(&self) -> OptimizerState;

    /// Restores a state from [`state`](Self::state). Errors when it belongs to another kind of optimizer.
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;

    /// Whether the coming step's update of `slot` is sure to leave the slot's parameters and state finite, given
    /// finite parameters and a gradient whose elements are at most `grad_max_abs` in magnitude: a bound worked out
    /// in O(1), before [`begin_step`](Self::begin_step).
    ///
    /// A training step that gets `false` for any slot first copies the parameters and the state
    /// ([`save_state_into`](Self::save_state_into)), and puts both back if the update turns anything NaN or
    /// infinite. The default, `false`, is always correct, and slower: the crate's optimizers answer `true` unless a
    /// setting or a gradient is extreme (a learning rate of 1e30, Adam's eps 0, SGD's weight decay).
    ///
    /// ```
    /// use autoencoder::{Adam, Optimizer};
    /// assert!(Adam::new(1e-3).update_stays_finite(0, 10.0));
    /// assert!(!Adam::new(1e-3).with_eps(0.0).update_stays_finite(0, 10.0)); // 0 / 0 where a gradient is 0
    /// ```
    fn update_stays_finite(&self, slot: usize, grad_max_abs: f32) -> bool {
        let _ = (slot, grad_max_abs);
        false
    }

    /// Copies the state into `into`, reusing its buffers: once `into` has the sizes, the crate's optimizers
    /// allocate nothing. The default is `*into = self.state()`.
    ///
    /// ```
    /// use autoencoder::{Optimizer, Sgd};
    /// let mut sgd = Sgd::new(0.1).with_momentum(0.9);
    /// sgd.begin_step();
    /// sgd.update(0, &mut [1.0], &[1.0])?;
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
    /// adam.update(0, &mut [1.0], &[1.0])?;
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
    /// adam.update(0, &mut [1.0], &[f32::INFINITY])?;
    /// assert!(adam.non_finite_state().is_some());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    fn non_finite_state(&self) -> Option<f32> {
        let state = self.state();
        state.slots.iter().flatten().flatten().copied().find(|v| !v.is_finite())
    }
}

/// An update no larger than this in magnitude leaves a finite `f32` weight finite: `|w - d|` rounds past
/// `f32::MAX` only when `|d|` reaches half a unit in the last place of `f32::MAX`, 2^103. (2^100 leaves room for
/// the rounding of the bounds themselves.)
pub(crate) const SAFE_UPDATE: f64 = (1u128 << 100) as f64;

/// How much a bound computed in f64 is widened to cover the f32 rounding of the operations it bounds (each a few
/// units in the last place, far below 1%).
pub(crate) const ROUNDING_MARGIN: f64 = 1.01;

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

/// The largest [`magnitude`] of `values`, reduced in 16 lanes so that the compiler vectorises it, compiled for
/// (and run with) the CPU's widest vectors.
pub(crate) fn max_magnitude(values: &[f32]) -> f32 {
    pulp::Arch::new().dispatch(MaxMagnitude(values))
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

/// An optimizer's state, as saved in checkpoints.
///
/// ```
/// use autoencoder::{Optimizer, Sgd};
/// let mut sgd = Sgd::new(0.1).with_momentum(0.9);
/// sgd.begin_step();
/// sgd.update(0, &mut [1.0], &[1.0])?;
/// let state = sgd.state();
/// assert_eq!((state.kind.as_str(), state.step, state.slots.len()), ("sgd", 1, 1));
/// let mut resumed = Sgd::new(0.1).with_momentum(0.9);
/// resumed.load_state(state)?;
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    /// The optimizer's name: `sgd`, `adam` or `adamw`.
    pub kind: String,
    /// Training steps taken.
    pub step: u64,
    /// Per slot, its buffers (Adam: first and second moments; SGD with momentum: the momentum buffer), each as
    /// long as the slot's parameter tensor. An empty list: the slot has not been updated yet.
    pub slots: Vec<Vec<Vec<f32>>>,
}

impl OptimizerState {
    /// Checks that this state is of `kind` and that every slot has `buffers` buffers (or none yet).
    pub(crate) fn check(&self, kind: &str, buffers: usize) -> Result<()> {
        if self.kind != kind {
            return Err(Error::InvalidArgument(format!(
                "optimizer state is for {:?}, but was loaded into {kind:?}",
                self.kind
            )));
        }
        match self
            .slots
            .iter()
            .position(|slot| !slot.is_empty() && slot.len() != buffers)
        {
            Some(slot) => Err(Error::InvalidArgument(format!(
                "{kind} optimizer state: slot {slot} has {} buffers, expected {buffers}",
                self.slots[slot].len()
            ))),
            None => Ok(()),
        }
    }
}

/// How far past the last slot in use a new slot number may go (layers may be updated out of order).
const MAX_SLOT_GAP: usize = 1 << 16;

/// The state buffers of `slot`, created as `count` zero buffers of `len` elements on first use; an error when
/// they exist with another length.
pub(crate) fn slot_buffers(
    slots: &mut Vec<Vec<Vec<f32>>>,
    slot: usize,
    count: usize,
    len: usize,
) -> Result<&mut [Vec<f32>]> {
    if slots.len() <= slot {
        // Slots are numbered densely from 0 (two per layer); a number far past that is a caller's mistake.
        if slot > slots.len() + MAX_SLOT_GAP {
            return Err(Error::InvalidArgument(format!(
                "optimizer slot {slot} is far past the {} slots in use: slots are numbered 0, 1, 2, ... \
                 (a layer's weights 2i, its bias 2i + 1)",
                slots.len()
            )));
        }
        slots.resize_with(slot + 1, Vec::new);
    }
    if slots[slot].is_empty() {
        slots[slot] = vec![vec![0.0; len]; count];
    }
    check_slot_len(slots, slot, len)?;
    Ok(&mut slots[slot])
}

/// Checks that the state buffers of `slot`, where they exist, have `len` elements.
pub(crate) fn check_slot_len(slots: &[Vec<Vec<f32>>], slot: usize, len: usize) -> Result<()> {
    match slots.get(slot).into_iter().flatten().map(Vec::len).find(|&n| n != len) {
        Some(found) => Err(Error::shape(
            format!("optimizer state of slot {slot} (loaded for another model?)"),
            format!("{len} elements (the parameter's)"),
            format!("{found} elements"),
        )),
        None => Ok(()),
    }
}

/// Checks that a parameter and its gradient have the same length.
pub(crate) fn check_lengths(slot: usize, param: &[f32], grad: &[f32]) -> Result<()> {
    if param.len() == grad.len() {
        Ok(())
    } else {
        Err(Error::shape(
            format!("optimizer update of slot {slot} (gradient vs parameter)"),
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
    fn a_slot_number_far_past_the_slots_in_use_is_an_error_not_a_panic() {
        let mut adam = Adam::new(1e-3);
        adam.begin_step();
        let err = adam.update(usize::MAX, &mut [1.0], &[1.0]).unwrap_err();
        assert!(err.to_string().contains("far past"), "{err}");
        let mut sgd = Sgd::new(0.1).with_momentum(0.9);
        assert!(sgd.update(usize::MAX, &mut [1.0], &[1.0]).is_err());
        adam.update(3, &mut [1.0], &[1.0]).unwrap(); // a small gap is fine
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
                        if !opt.update_stays_finite(0, g) {
                            refused += 1;
                            break;
                        }
                        vouched += 1;
                        opt.begin_step();
                        opt.update(0, &mut w, &grad).unwrap();
                        assert!(w.iter().all(|v| v.is_finite()), "lr {lr}, g {g}, step {step}: {w:?}");
                        assert_eq!(opt.non_finite_state(), None, "lr {lr}, g {g}, step {step}");
                    }
                }
            }
        }
        assert!(vouched > 100 && refused > 50, "{vouched} vouched, {refused} refused");
    }
}
