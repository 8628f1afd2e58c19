//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay, as `torch.optim.SGD`.

use super::{
    check_lengths, check_non_negative, flush_subnormal, magnitude, max_magnitude, Named, Optimizer, OptimizerState,
    ROUNDING_MARGIN, SAFE_UPDATE,
};
use crate::error::{Error, Result};

/// SGD. Per step, for each parameter `w` with gradient `g`:
///
/// ```text
/// g = g + weight_decay · w                       (when weight_decay > 0)
/// b = g on the first step, else momentum · b + (1 - dampening) · g
/// g = g + momentum · b   (Nesterov)   or   g = b   (plain momentum)     (when momentum > 0)
/// w -= lr · g
/// ```
///
/// ```
/// use autoencoder::{Optimizer, Sgd};
/// let mut sgd = Sgd::new(0.1);
/// let mut w = [1.0_f32];
/// sgd.begin_step();
/// sgd.update("encoder.0.weight", &mut w, &[2.0])?;
/// assert!((w[0] - 0.8).abs() < 1e-7);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    learning_rate: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
    step: u64,
    /// Per parameter, by name, once momentum is on and it has been updated: `[momentum buffer]`, with the largest
    /// `|b|` of the buffer (its [`magnitude`]: infinity where one is not finite), kept by the updates for
    /// [`Optimizer::update_stays_finite`].
    state: Named<f32>,
}

impl Sgd {
    /// Plain SGD with learning rate `learning_rate`: no momentum, no weight decay.
    ///
    /// ```
    /// assert_eq!(autoencoder::Sgd::new(0.1).momentum(), 0.0);
    /// ```
    pub fn new(learning_rate: f64) -> Sgd {
        Sgd {
            learning_rate,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            step: 0,
            state: Named::default(),
        }
    }

    /// Sets the momentum factor (0 turns momentum off).
    ///
    /// ```
    /// assert_eq!(autoencoder::Sgd::new(0.1).with_momentum(0.9).momentum(), 0.9);
    /// ```
    pub fn with_momentum(mut self, momentum: f64) -> Sgd {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening of the momentum (Nesterov needs 0).
    ///
    /// ```
    /// use autoencoder::{Optimizer, Sgd};
    /// assert!(Sgd::new(0.1).with_momentum(0.9).with_dampening(0.1).check().is_ok());
    /// ```
    pub fn with_dampening(mut self, dampening: f64) -> Sgd {
        self.dampening = dampening;
        self
    }

    /// Turns Nesterov momentum on or off (it needs momentum > 0 and dampening 0, as in PyTorch).
    ///
    /// ```
    /// use autoencoder::{Optimizer, Sgd};
    /// assert!(Sgd::new(0.1).with_nesterov(true).check().is_err()); // no momentum
    /// assert!(Sgd::new(0.1).with_momentum(0.9).with_nesterov(true).check().is_ok());
    /// ```
    pub fn with_nesterov(mut self, nesterov: bool) -> Sgd {
        self.nesterov = nesterov;
        self
    }

    /// Sets the (L2, coupled) weight decay.
    ///
    /// ```
    /// use autoencoder::{Optimizer, Sgd};
    /// let mut sgd = Sgd::new(0.5).with_weight_decay(0.1);
    /// let mut w = [1.0_f32];
    /// sgd.begin_step();
    /// sgd.update("w", &mut w, &[0.0])?;
    /// assert!((w[0] - 0.95).abs() < 1e-7);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Sgd {
        self.weight_decay = weight_decay;
        self
    }

    /// The momentum factor.
    ///
    /// ```
    /// assert_eq!(autoencoder::Sgd::new(0.1).with_momentum(0.5).momentum(), 0.5);
    /// ```
    pub fn momentum(&self) -> f64 {
        self.momentum
    }
}

/// The largest `|b|` of a parameter's momentum buffer, from its buffers (after a state was loaded or put back).
fn maximum(buffers: &[Vec<f32>]) -> f32 {
    buffers.first().map_or(0.0, |b| max_magnitude(b))
}

impl Optimizer for Sgd {
    fn check(&self) -> Result<()> {
        check_non_negative("SGD's learning rate", self.learning_rate)?;
        check_non_negative("SGD's momentum", self.momentum)?;
        check_non_negative("SGD's dampening", self.dampening)?;
        check_non_negative("SGD's weight decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::InvalidArgument(
                "Nesterov momentum needs momentum > 0 and dampening 0".into(),
            ));
        }
        Ok(())
    }

    fn begin_step(&mut self) {
        self.step += 1;
    }

    fn update(&mut self, name: &str, param: &mut [f32], grad: &[f32]) -> Result<()> {
        check_lengths(name, param, grad)?;
        let lr = self.learning_rate as f32;
        let weight_decay = self.weight_decay as f32;
        let decayed = |w: f32, g: f32| if weight_decay != 0.0 { g + weight_decay * w } else { g };
        if self.momentum == 0.0 {
            for (w, &g) in param.iter_mut().zip(grad) {
                *w -= lr * decayed(*w, g);
            }
            return Ok(());
        }
        let momentum = self.momentum as f32;
        let keep = (1.0 - self.dampening) as f32;
        let nesterov = self.nesterov;
        let (entry, first_update) = self.state.entry(name, 1, param.len())?;
        let mut b_max = 0.0_f32;
        for ((w, &g), b) in param.iter_mut().zip(grad).zip(entry.buffers[0].iter_mut()) {
            let g = decayed(*w, g);
            *b = flush_subnormal(if first_update { g } else { momentum * *b + keep * g });
            let step = if nesterov { g + momentum * *b } else { *b };
            *w -= lr * step;
            b_max = b_max.max(magnitude(*b));
        }
        entry.max = b_max;
        Ok(())
    }

    fn check_parameter(&self, name: &str, len: usize) -> Result<()> {
        self.state.check_len(name, len)
    }

    fn check_parameters(&self, parameters: &[(String, usize)]) -> Result<()> {
        self.state.check_model(parameters)
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    fn state(&self) -> OptimizerState {
        OptimizerState {
            kind: "sgd".into(),
            step: self.step,
            buffers: self.state.to_map(),
        }
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        state.check("sgd", 1)?;
        self.step = state.step;
        self.state.load(state.buffers, maximum);
        Ok(())
    }

    fn update_stays_finite(&self, name: &str, grad_max_abs: f32) -> bool {
        let lr = f64::from(self.learning_rate as f32);
        let g = f64::from(grad_max_abs);
        // Weight decay adds `weight_decay · w`, which this O(1) bound cannot see: such steps take the safe path.
        if !(lr.is_finite() && g.is_finite()) || self.weight_decay != 0.0 {
            return false;
        }
        if self.momentum == 0.0 {
            return lr * g * ROUNDING_MARGIN < SAFE_UPDATE;
        }
        let (momentum, keep) = (
            f64::from(self.momentum as f32),
            f64::from((1.0 - self.dampening) as f32),
        );
        let b_new = match self.state.get(name) {
            None => g,
            Some(entry) => momentum * f64::from(entry.max) + keep.abs() * g,
        } * ROUNDING_MARGIN;
        let step = if self.nesterov { g + momentum * b_new } else { b_new } * ROUNDING_MARGIN;
        b_new < SAFE_UPDATE && lr * step * ROUNDING_MARGIN < SAFE_UPDATE
    }

    fn save_state_into(&self, into: &mut OptimizerState) {
        into.kind.clear();
        into.kind.push_str("sgd");
        into.step = self.step;
        self.state.save_into(&mut into.buffers);
    }

    fn restore_state(&mut self, state: &OptimizerState) -> Result<()> {
        state.check("sgd", 1)?;
        self.step = state.step;
        self.state.restore(&state.buffers, maximum);
        Ok(())
    }

    fn non_finite_state(&self) -> Option<f32> {
        let non_finite = self.state.entries().iter().any(|e| e.max == f32::INFINITY);
        non_finite.then(|| {
            let mut values = self.state.values();
            values.find(|v| !v.is_finite()).unwrap_or(f32::INFINITY)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three steps by hand, lr 0.1, momentum 0.9, gradients 1, 2, 3 on w = 0:
    /// plain momentum: b = 1, 2.9, 5.61 → w = -0.1, -0.39, -0.951;
    /// Nesterov: steps g + 0.9 b = 1.9, 4.61, 8.049 → w = -0.19, -0.651, -1.4559.
    ///
    /// ```python
    /// w = torch.zeros(1, requires_grad=True); opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    /// for g in (1., 2., 3.): w.grad = torch.tensor([g]); opt.step()
    /// ```
    #[test]
    fn momentum_and_nesterov_match_hand_computation() {
        for (nesterov, want) in [(false, [-0.1_f32, -0.39, -0.951]), (true, [-0.19, -0.651, -1.4559])] {
            let mut sgd = Sgd::new(0.1).with_momentum(0.9).with_nesterov(nesterov);
            sgd.check().unwrap();
            let mut w = [0.0_f32];
            for (g, want) in [1.0_f32, 2.0, 3.0].iter().zip(want) {
                sgd.begin_step();
                sgd.update("w", &mut w, &[*g]).unwrap();
                assert!((w[0] - want).abs() < 1e-6, "nesterov {nesterov}: {} vs {want}", w[0]);
            }
        }
    }

    #[test]
    fn dampening_scales_later_gradients() {
        // b = 1, then 0.5·1 + 0.5·1 = 1: w = -0.1, -0.2
        let mut sgd = Sgd::new(0.1).with_momentum(0.5).with_dampening(0.5);
        let mut w = [0.0_f32];
        for want in [-0.1_f32, -0.2] {
            sgd.begin_step();
            sgd.update("w", &mut w, &[1.0]).unwrap();
            assert!((w[0] - want).abs() < 1e-6);
        }
    }

    #[test]
    fn resumed_state_continues_exactly() {
        let grads = [[0.5_f32, -1.0], [0.25, 0.5], [1.0, 1.0], [-0.5, 0.0]];
        let make = || Sgd::new(0.05).with_momentum(0.9).with_nesterov(true);
        let (mut straight, mut w1) = (make(), [1.0_f32, 2.0]);
        for g in &grads {
            straight.begin_step();
            straight.update("w", &mut w1, g).unwrap();
        }
        let (mut first, mut w2) = (make(), [1.0_f32, 2.0]);
        for g in &grads[..2] {
            first.begin_step();
            first.update("w", &mut w2, g).unwrap();
        }
        let mut second = make();
        second.load_state(first.state()).unwrap();
        for g in &grads[2..] {
            second.begin_step();
            second.update("w", &mut w2, g).unwrap();
        }
        assert_eq!(w1, w2);
    }
}
