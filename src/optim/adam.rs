//! Adam (Kingma & Ba, 2015), in exactly PyTorch's form (`torch.optim.Adam`, eps added to `sqrt(v̂)`).

use super::{check_beta, check_lengths, check_non_negative, slot_buffers, Optimizer, OptimizerState};
use crate::Result;

/// Adam with bias-corrected moments. Per step `t`, for each parameter `w` with gradient `g`:
///
/// ```text
/// m = b1 m + (1 - b1) g                   first moment
/// v = b2 v + (1 - b2) g²                  second moment
/// w -= lr · (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
/// ```
///
/// Defaults: `b1 = 0.9`, `b2 = 0.999`, `eps = 1e-8`, as PyTorch's and the paper's.
///
/// ```
/// use autoencoder::{Adam, Optimizer};
/// let adam = Adam::new(1e-3).with_betas(0.9, 0.99).with_eps(1e-7);
/// assert_eq!((adam.learning_rate(), adam.betas(), adam.eps()), (1e-3, (0.9, 0.99), 1e-7));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    learning_rate: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: u64,
    /// Per slot: `[m, v]`.
    slots: Vec<Vec<Vec<f32>>>,
}

impl Adam {
    /// Adam with learning rate `learning_rate` and the default betas and eps.
    ///
    /// ```
    /// let adam = autoencoder::Adam::new(1e-3);
    /// assert_eq!(adam.betas(), (0.9, 0.999));
    /// ```
    pub fn new(learning_rate: f64) -> Adam {
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            slots: Vec::new(),
        }
    }

    /// Sets the decay rates of the first and second moments.
    ///
    /// ```
    /// assert_eq!(autoencoder::Adam::new(1e-3).with_betas(0.5, 0.9).betas(), (0.5, 0.9));
    /// ```
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Adam {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets the term added to the denominator for numerical stability.
    ///
    /// ```
    /// assert_eq!(autoencoder::Adam::new(1e-3).with_eps(1e-7).eps(), 1e-7);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Adam {
        self.eps = eps;
        self
    }

    /// `(beta1, beta2)`.
    ///
    /// ```
    /// assert_eq!(autoencoder::Adam::new(1e-3).betas(), (0.9, 0.999));
    /// ```
    pub fn betas(&self) -> (f64, f64) {
        (self.beta1, self.beta2)
    }

    /// The denominator's stability term.
    ///
    /// ```
    /// assert_eq!(autoencoder::Adam::new(1e-3).eps(), 1e-8);
    /// ```
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// Steps taken so far.
    ///
    /// ```
    /// use autoencoder::{Adam, Optimizer};
    /// let mut adam = Adam::new(1e-3);
    /// adam.begin_step();
    /// assert_eq!(adam.step(), 1);
    /// ```
    pub fn step(&self) -> u64 {
        self.step
    }

    pub(crate) fn check_hyperparameters(&self) -> Result<()> {
        check_non_negative("Adam's learning rate", self.learning_rate)?;
        check_beta("Adam's beta1", self.beta1)?;
        check_beta("Adam's beta2", self.beta2)?;
        check_non_negative("Adam's eps", self.eps)
    }

    /// The Adam update of one slot; shared with [`AdamW`](crate::AdamW), which decays the weights first.
    pub(crate) fn update_slot(&mut self, slot: usize, param: &mut [f32], grad: &[f32]) -> Result<()> {
        check_lengths(slot, param, grad)?;
        let scalars = StepScalars::new(self);
        let buffers = slot_buffers(&mut self.slots, slot, 2, param.len())?;
        let [m, v] = buffers else {
            unreachable!("slot_buffers made two buffers")
        };
        match crate::matmul::parts_for(param.len()) {
            1 => update_elements(param, grad, m, v, &scalars, 1),
            parts => crate::matmul::on_pool(|| update_elements(param, grad, m, v, &scalars, parts)),
        }
        Ok(())
    }

    pub(crate) fn export_state(&self, kind: &str) -> OptimizerState {
        OptimizerState {
            kind: kind.to_string(),
            step: self.step,
            slots: self.slots.clone(),
        }
    }

    pub(crate) fn import_state(&mut self, kind: &str, state: OptimizerState) -> Result<()> {
        state.check(kind, 2)?;
        self.step = state.step;
        self.slots = state.slots;
        Ok(())
    }
}

/// The Adam update of each element, split into `parts` runs on the crate's thread pool (the elements are
/// independent, so the split changes nothing in the results) and compiled for the CPU's widest vector extension,
/// picked at run time: it runs over every parameter at every step, the largest memory-bound pass of training.
fn update_elements(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], scalars: &StepScalars, parts: usize) {
    if parts > 1 {
        let half = parts / 2;
        let mid = param.len() * half / parts / 16 * 16; // on a cache-line boundary
        let (param_a, param_b) = param.split_at_mut(mid);
        let (grad_a, grad_b) = grad.split_at(mid);
        let (m_a, m_b) = m.split_at_mut(mid);
        let (v_a, v_b) = v.split_at_mut(mid);
        crate::matmul::join(
            || update_elements(param_a, grad_a, m_a, v_a, scalars, half),
            || update_elements(param_b, grad_b, m_b, v_b, scalars, parts - half),
        );
        return;
    }
    pulp::Arch::new().dispatch(|| {
        for (((w, &g), m), v) in param.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = scalars.beta1 * *m + scalars.one_minus_beta1 * g; // first moment
            *v = scalars.beta2 * *v + scalars.one_minus_beta2 * g * g; // second moment
                                                                       // bias-corrected step: lr / (1 - b1^t) · m / (sqrt(v) / sqrt(1 - b2^t) + eps)
            let denominator = v.sqrt() / scalars.sqrt_bias_correction2 + scalars.eps;
            *w -= scalars.step_size * *m / denominator;
        }
    });
}

/// The scalars of one Adam step, formed in f64 from the f64 hyper-parameters and rounded once to f32, as
/// PyTorch forms them from Python floats.
struct StepScalars {
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    /// `lr / (1 - b1^t)`
    step_size: f32,
    /// `sqrt(1 - b2^t)`
    sqrt_bias_correction2: f32,
    eps: f32,
}

impl StepScalars {
    fn new(adam: &Adam) -> StepScalars {
        // A step counter beyond i32 saturates the corrections at 1, which they reach long before.
        let t = i32::try_from(adam.step.max(1)).unwrap_or(i32::MAX);
        let bias_correction1 = 1.0 - adam.beta1.powi(t);
        let bias_correction2 = 1.0 - adam.beta2.powi(t);
        StepScalars {
            beta1: adam.beta1 as f32,
            one_minus_beta1: (1.0 - adam.beta1) as f32,
            beta2: adam.beta2 as f32,
            one_minus_beta2: (1.0 - adam.beta2) as f32,
            step_size: (adam.learning_rate / bias_correction1) as f32,
            sqrt_bias_correction2: bias_correction2.sqrt() as f32,
            eps: adam.eps as f32,
        }
    }
}

impl Optimizer for Adam {
    fn check(&self) -> Result<()> {
        self.check_hyperparameters()
    }

    fn begin_step(&mut self) {
        self.step += 1;
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32]) -> Result<()> {
        self.update_slot(slot, param, grad)
    }

    fn check_slot(&self, slot: usize, len: usize) -> Result<()> {
        super::check_slot_len(&self.slots, slot, len)
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    fn state(&self) -> OptimizerState {
        self.export_state("adam")
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        self.import_state("adam", state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two Adam steps worked out by hand (in f64, then compared at f32 precision):
    ///
    /// ```python
    /// # the same numbers from PyTorch:
    /// w = torch.tensor([0.5, -1.0], requires_grad=True); opt = torch.optim.Adam([w], lr=0.01)
    /// for g in ([0.2, -0.4], [0.1, 0.3]): w.grad = torch.tensor(g); opt.step()
    /// ```
    #[test]
    fn two_steps_match_hand_computation() {
        let (lr, b1, b2, eps) = (0.01_f64, 0.9_f64, 0.999_f64, 1e-8_f64);
        let grads = [[0.2_f64, -0.4], [0.1, 0.3]];
        let mut want = [0.5_f64, -1.0];
        let (mut m, mut v) = ([0.0_f64; 2], [0.0_f64; 2]);
        for (t, g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..2 {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let m_hat = m[i] / (1.0 - b1.powi(t));
                let v_hat = v[i] / (1.0 - b2.powi(t));
                want[i] -= lr * m_hat / (v_hat.sqrt() + eps);
            }
        }
        let mut adam = Adam::new(lr);
        let mut w = [0.5_f32, -1.0];
        for g in grads {
            adam.begin_step();
            adam.update(0, &mut w, &[g[0] as f32, g[1] as f32]).unwrap();
        }
        for i in 0..2 {
            assert!((f64::from(w[i]) - want[i]).abs() < 1e-6, "{} vs {}", w[i], want[i]);
        }
        // By hand: step 1 moves each weight by lr against its gradient's sign; step 2 for w[0]:
        // m = 0.9·0.02 + 0.01 = 0.028, v = 0.999·4e-5 + 1e-5 = 4.996e-5,
        // m̂ = 0.028 / 0.19 = 0.147368, v̂ = 4.996e-5 / 0.001999 = 0.0249925, step = 0.01 · 0.147368 / 0.158090
        assert!((w[0] - (0.5 - 0.01 - 0.009_321_8)).abs() < 1e-6, "{}", w[0]);
    }

    #[test]
    fn bad_hyperparameters_are_errors() {
        assert!(Adam::new(-1.0).check().is_err());
        assert!(Adam::new(1e-3).with_betas(1.0, 0.999).check().is_err());
        assert!(Adam::new(1e-3).with_eps(f64::NAN).check().is_err());
        assert!(Adam::new(1e-3).check().is_ok());
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let mut adam = Adam::new(1e-3);
        adam.begin_step();
        assert!(adam.update(0, &mut [0.0; 3], &[0.0; 2]).is_err());
        adam.update(1, &mut [0.0; 3], &[0.0; 3]).unwrap();
        assert!(adam.update(1, &mut [0.0; 4], &[0.0; 4]).is_err());
    }

    #[test]
    fn state_round_trips_and_checks_its_kind() {
        let mut adam = Adam::new(1e-2);
        adam.begin_step();
        adam.update(0, &mut [1.0, 2.0], &[0.1, 0.2]).unwrap();
        let state = adam.state();
        let mut other = Adam::new(1e-2);
        other.load_state(state.clone()).unwrap();
        assert_eq!(other, adam);
        let mut wrong = state;
        wrong.kind = "sgd".into();
        assert!(Adam::new(1e-2).load_state(wrong).is_err());
    }
}
