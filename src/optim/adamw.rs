//! AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, as `torch.optim.AdamW`.

use super::{check_non_negative, Adam, Optimizer, OptimizerState};
use crate::error::Result;

/// Adam with decoupled weight decay: each step first shrinks the weights, `w -= lr · weight_decay · w`, then
/// takes the [`Adam`] step. Default weight decay 0.01, as PyTorch's.
///
/// ```
/// use autoencoder::{AdamW, Optimizer};
/// let mut opt = AdamW::new(0.1).with_weight_decay(0.5);
/// let mut w = [2.0_f32];
/// opt.begin_step();
/// opt.update("w", &mut w, &[0.0])?; // a zero gradient: only the decay acts
/// assert!((w[0] - 2.0 * (1.0 - 0.1 * 0.5)).abs() < 1e-6);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    adam: Adam,
    weight_decay: f64,
}

impl AdamW {
    /// AdamW with learning rate `learning_rate`, Adam's default betas and eps, and weight decay 0.01.
    ///
    /// ```
    /// assert_eq!(autoencoder::AdamW::new(1e-3).weight_decay(), 0.01);
    /// ```
    pub fn new(learning_rate: f64) -> AdamW {
        AdamW {
            adam: Adam::new(learning_rate),
            weight_decay: 0.01,
        }
    }

    /// Sets the decoupled weight decay.
    ///
    /// ```
    /// assert_eq!(autoencoder::AdamW::new(1e-3).with_weight_decay(0.1).weight_decay(), 0.1);
    /// ```
    pub fn with_weight_decay(mut self, weight_decay: f64) -> AdamW {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the decay rates of the first and second moments.
    ///
    /// ```
    /// assert_eq!(autoencoder::AdamW::new(1e-3).with_betas(0.8, 0.9).betas(), (0.8, 0.9));
    /// ```
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> AdamW {
        self.adam = self.adam.with_betas(beta1, beta2);
        self
    }

    /// Sets the denominator's stability term.
    ///
    /// ```
    /// assert_eq!(autoencoder::AdamW::new(1e-3).with_eps(1e-6).eps(), 1e-6);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> AdamW {
        self.adam = self.adam.with_eps(eps);
        self
    }

    /// The weight decay.
    ///
    /// ```
    /// assert_eq!(autoencoder::AdamW::new(1e-3).weight_decay(), 0.01);
    /// ```
    pub fn weight_decay(&self) -> f64 {
        self.weight_decay
    }

    /// `(beta1, beta2)`.
    ///
    /// ```
    /// assert_eq!(autoencoder::AdamW::new(1e-3).betas(), (0.9, 0.999));
    /// ```
    pub fn betas(&self) -> (f64, f64) {
        self.adam.betas()
    }

    /// The denominator's stability term.
    ///
    /// ```
    /// assert_eq!(autoencoder::AdamW::new(1e-3).eps(), 1e-8);
    /// ```
    pub fn eps(&self) -> f64 {
        self.adam.eps()
    }
}

impl Optimizer for AdamW {
    fn check(&self) -> Result<()> {
        self.adam.check_hyperparameters()?;
        check_non_negative("AdamW's weight decay", self.weight_decay)
    }

    fn begin_step(&mut self) {
        self.adam.begin_step();
    }

    fn update(&mut self, name: &str, param: &mut [f32], grad: &[f32]) -> Result<()> {
        super::check_lengths(name, param, grad)?;
        // before the decay, so that a state of another length (loaded for another model) changes nothing
        self.adam.check_len(name, param.len())?;
        // decoupled weight decay: w *= 1 - lr · wd, with the factor formed in f64 as PyTorch does
        let decay = (1.0 - self.adam.learning_rate() * self.weight_decay) as f32;
        param.iter_mut().for_each(|w| *w *= decay);
        self.adam.update_parameter(name, param, grad)
    }

    fn check_parameter(&self, name: &str, len: usize) -> Result<()> {
        self.adam.check_len(name, len)
    }

    fn check_parameters(&self, parameters: &[(String, usize)]) -> Result<()> {
        self.adam.check_model(parameters)
    }

    fn learning_rate(&self) -> f64 {
        self.adam.learning_rate()
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.adam.set_learning_rate(learning_rate);
    }

    fn state(&self) -> OptimizerState {
        self.adam.export_state("adamw")
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        self.adam.import_state("adamw", state)
    }

    fn update_stays_finite(&self, name: &str, grad_max_abs: f32) -> bool {
        // The decay factor must not grow the weights (a factor in [-1, 1] keeps a finite weight finite).
        let decay = (1.0 - self.adam.learning_rate() * self.weight_decay) as f32;
        decay.abs() <= 1.0 && self.adam.parameter_update_stays_finite(name, grad_max_abs)
    }

    fn save_state_into(&self, into: &mut OptimizerState) {
        self.adam.save_state_into_kind("adamw", into);
    }

    fn restore_state(&mut self, state: &OptimizerState) -> Result<()> {
        state.check("adamw", 2)?;
        self.adam.restore_saved_state(state);
        Ok(())
    }

    fn non_finite_state(&self) -> Option<f32> {
        self.adam.first_non_finite_state()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One AdamW step by hand, lr 0.1, wd 0.1, w = 1, g = 0.5:
    /// decay: w = 1 · (1 - 0.01) = 0.99; Adam's first step: m̂ = 0.5, v̂ = 0.25, w -= 0.1 · 0.5 / (0.5 + 1e-8)
    /// → 0.89 (to f32 precision).
    ///
    /// ```python
    /// w = torch.tensor([1.0], requires_grad=True); opt = torch.optim.AdamW([w], lr=0.1, weight_decay=0.1)
    /// w.grad = torch.tensor([0.5]); opt.step()   # tensor([0.8900])
    /// ```
    #[test]
    fn one_step_matches_hand_computation() {
        let mut opt = AdamW::new(0.1).with_weight_decay(0.1);
        let mut w = [1.0_f32];
        opt.begin_step();
        opt.update("w", &mut w, &[0.5]).unwrap();
        assert!((w[0] - 0.89).abs() < 1e-6, "{}", w[0]);
    }

    #[test]
    fn zero_weight_decay_is_adam() {
        let mut adamw = AdamW::new(0.01).with_weight_decay(0.0);
        let mut adam = Adam::new(0.01);
        let (mut a, mut b) = ([0.3_f32, -0.2], [0.3_f32, -0.2]);
        for g in [[0.1_f32, 0.2], [-0.3, 0.05], [0.7, -0.1]] {
            adamw.begin_step();
            adam.begin_step();
            adamw.update("w", &mut a, &g).unwrap();
            adam.update("w", &mut b, &g).unwrap();
        }
        assert_eq!(a, b);
    }

    #[test]
    fn a_state_of_another_length_is_an_error_that_leaves_the_weights_alone() {
        let mut opt = AdamW::new(0.1).with_weight_decay(0.5);
        opt.begin_step();
        opt.update("encoder.0.bias", &mut [1.0, 2.0], &[0.1, 0.1]).unwrap();
        let mut w = [1.0_f32, 2.0, 3.0];
        opt.begin_step();
        let err = opt.update("encoder.0.bias", &mut w, &[0.1; 3]).unwrap_err();
        assert!(err.to_string().contains("optimizer state of encoder.0.bias"), "{err}");
        assert_eq!(w, [1.0, 2.0, 3.0], "the weights were decayed before the error");
    }

    #[test]
    fn negative_weight_decay_is_an_error() {
        assert!(AdamW::new(1e-3).with_weight_decay(-0.1).check().is_err());
    }
}
