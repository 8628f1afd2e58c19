//! Adam (Kingma & Ba, 2015), in PyTorch's form (`torch.optim.Adam`, eps added to `sqrt(v̂)`), to an ulp.

use super::{
    check_beta, check_lengths, check_non_negative, flush_subnormal, flush_subnormal_lanes, magnitude,
    magnitude_of_largest_bits, max_magnitude, Named, Optimizer, OptimizerState, ROUNDING_MARGIN, SAFE_UPDATE,
};
use crate::error::Result;

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
    /// Per parameter, by name, once it has been updated: `[m, v]`, with the largest `|m|` and `v` (their
    /// [`magnitude`]s: infinity where one is not finite), kept by the updates for
    /// [`Optimizer::update_stays_finite`].
    state: Named<[f32; 2]>,
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
            state: Named::default(),
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

    /// The Adam update of one parameter; shared with [`AdamW`](crate::AdamW), which decays the weights first.
    pub(crate) fn update_parameter(&mut self, name: &str, param: &mut [f32], grad: &[f32]) -> Result<()> {
        check_lengths(name, param, grad)?;
        let scalars = StepScalars::new(self);
        let (entry, _) = self.state.entry(name, 2, param.len())?;
        let [m, v] = entry.buffers.as_mut_slice() else {
            unreachable!("an Adam entry has two buffers (made so, and checked on load)")
        };
        let maxima = match crate::matmul::parts_for(param.len()) {
            1 => update_elements(param, grad, m, v, &scalars, 1),
            parts => crate::matmul::on_pool(|| update_elements(param, grad, m, v, &scalars, parts)),
        };
        entry.max = maxima;
        Ok(())
    }

    /// [`Optimizer::check_parameter`], shared with [`AdamW`](crate::AdamW).
    pub(crate) fn check_len(&self, name: &str, len: usize) -> Result<()> {
        self.state.check_len(name, len)
    }

    /// [`Optimizer::check_parameters`], shared with [`AdamW`](crate::AdamW).
    pub(crate) fn check_model(&self, parameters: &[(String, usize)]) -> Result<()> {
        self.state.check_model(parameters)
    }

    /// The bound of [`Optimizer::update_stays_finite`] for the coming step (`self.step + 1`).
    pub(crate) fn parameter_update_stays_finite(&self, name: &str, grad_max_abs: f32) -> bool {
        let scalars = StepScalars::at(self, self.step.saturating_add(1));
        let [m_max, v_max] = self.state.get(name).map_or([0.0; 2], |entry| entry.max);
        let (m, v, g) = (f64::from(m_max), f64::from(v_max), f64::from(grad_max_abs));
        let (step_size, eps) = (f64::from(scalars.step_size), f64::from(scalars.eps));
        let c = f64::from(scalars.sqrt_bias_correction2);
        // m and v are weighted means of m (or v) and g (or g²): no larger than the larger of the two.
        let m_new = m.max(g) * ROUNDING_MARGIN;
        let v_new = v.max(g * g) * ROUNDING_MARGIN;
        // The denominator sqrt(v) / c + eps is at least eps: the step is at most step_size · m / eps.
        eps > 0.0
            && c > 0.0
            && v_new < f64::from(f32::MAX) / 4.0
            && step_size * m_new < SAFE_UPDATE
            && step_size * m_new / eps * ROUNDING_MARGIN < SAFE_UPDATE
    }

    pub(crate) fn save_state_into_kind(&self, kind: &str, into: &mut OptimizerState) {
        into.kind.clear();
        into.kind.push_str(kind);
        into.step = self.step;
        self.state.save_into(&mut into.buffers);
    }

    /// Puts back a state saved by [`save_state_into_kind`](Self::save_state_into_kind), with its maxima.
    pub(crate) fn restore_saved_state(&mut self, state: &OptimizerState) {
        self.step = state.step;
        self.state.restore(&state.buffers, maxima);
    }

    pub(crate) fn first_non_finite_state(&self) -> Option<f32> {
        let mut maxima = self.state.entries().iter().flat_map(|e| e.max);
        let non_finite = maxima.any(|max| max == f32::INFINITY);
        non_finite.then(|| {
            let mut values = self.state.values();
            values.find(|v| !v.is_finite()).unwrap_or(f32::INFINITY)
        })
    }

    pub(crate) fn export_state(&self, kind: &str) -> OptimizerState {
        OptimizerState {
            kind: kind.to_string(),
            step: self.step,
            buffers: self.state.to_map(),
        }
    }

    pub(crate) fn import_state(&mut self, kind: &str, state: OptimizerState) -> Result<()> {
        state.check(kind, 2)?;
        self.step = state.step;
        self.state.load(state.buffers, maxima);
        Ok(())
    }
}

/// The largest `|m|` and `v` of a parameter's buffers (after a state was loaded or put back).
fn maxima(buffers: &[Vec<f32>]) -> [f32; 2] {
    match buffers {
        [m, v] => [max_magnitude(m), max_magnitude(v)],
        _ => [0.0; 2],
    }
}

/// The Adam update of each element, split into `parts` runs on the crate's thread pool (the elements are
/// independent, so the split changes nothing in the results) and compiled for the CPU's widest vector extension,
/// picked at run time: it runs over every parameter at every step, the largest memory-bound pass of training.
///
/// Returns the largest `|m|` and `v` after the update ([`magnitude`]s: infinity if one is not finite), reduced in
/// vector lanes alongside the update so that it stays one vectorised pass.
fn update_elements(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    scalars: &StepScalars,
    parts: usize,
) -> [f32; 2] {
    if parts > 1 {
        let half = parts / 2;
        let mid = param.len() * half / parts / 16 * 16; // on a cache-line boundary
        let (param_a, param_b) = param.split_at_mut(mid);
        let (grad_a, grad_b) = grad.split_at(mid);
        let (m_a, m_b) = m.split_at_mut(mid);
        let (v_a, v_b) = v.split_at_mut(mid);
        let (a, b) = crate::matmul::join(
            || update_elements(param_a, grad_a, m_a, v_a, scalars, half),
            || update_elements(param_b, grad_b, m_b, v_b, scalars, parts - half),
        );
        return [a[0].max(b[0]), a[1].max(b[1])];
    }
    pulp::Arch::new().dispatch(Elements {
        param,
        grad,
        m,
        v,
        scalars,
    })
}

/// The Adam update of a run of elements as a [`pulp::WithSimd`] operation, so that it is compiled for (and run
/// with) the CPU's widest vectors.
struct Elements<'a> {
    param: &'a mut [f32],
    grad: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    scalars: &'a StepScalars,
}

impl pulp::WithSimd for Elements<'_> {
    type Output = [f32; 2];

    /// Written with the vector type itself, one vector of each quantity at a time. The compiler's own
    /// vectorisation of a scalar loop over chunks of 16 kept the maxima and temporaries in two vectors each, more
    /// than AVX2's 16 registers hold beside the constants, and went through the stack every chunk; chunks of 8 it
    /// left scalar. On Zen 3 this form takes 0.55–0.6× the time (perf samples of a one-thread epoch at batch 32),
    /// and flushing and the maxima on the bits as integers ([`flush_subnormal_lanes`]) 0.8× that again.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> [f32; 2] {
        let Elements {
            param,
            grad,
            m,
            v,
            scalars,
        } = self;
        let (param_vectors, param_rest) = S::as_mut_simd_f32s(param);
        let (grad_vectors, grad_rest) = S::as_simd_f32s(grad);
        let (m_vectors, m_rest) = S::as_mut_simd_f32s(m);
        let (v_vectors, v_rest) = S::as_mut_simd_f32s(v);
        let splat = |value| simd.splat_f32s(value);
        let (beta1, one_minus_beta1) = (splat(scalars.beta1), splat(scalars.one_minus_beta1));
        let (beta2, one_minus_beta2) = (splat(scalars.beta2), splat(scalars.one_minus_beta2));
        let (step_size, eps) = (splat(scalars.step_size), splat(scalars.eps));
        let inverse_sqrt_bias_correction2 = splat(scalars.inverse_sqrt_bias_correction2);
        // the bits of the largest |m| and v so far, as integers (see `flush_subnormal_lanes`)
        let (mut m_max_bits, mut v_max_bits) = (simd.splat_u32s(0), simd.splat_u32s(0));
        let vectors = param_vectors
            .iter_mut()
            .zip(grad_vectors)
            .zip(m_vectors.iter_mut())
            .zip(v_vectors.iter_mut());
        for (((w, &g), m), v) in vectors {
            // as `update_element`, operation for operation (no product fused with a sum)
            let m_sum = simd.add_f32s(simd.mul_f32s(beta1, *m), simd.mul_f32s(one_minus_beta1, g));
            let (m_new, m_bits) = flush_subnormal_lanes(simd, m_sum);
            let g_squared = simd.mul_f32s(simd.mul_f32s(one_minus_beta2, g), g);
            let (v_new, v_bits) = flush_subnormal_lanes(simd, simd.add_f32s(simd.mul_f32s(beta2, *v), g_squared));
            let denominator = simd.add_f32s(simd.mul_f32s(simd.sqrt_f32s(v_new), inverse_sqrt_bias_correction2), eps);
            *w = simd.sub_f32s(*w, simd.div_f32s(simd.mul_f32s(step_size, m_new), denominator));
            (*m, *v) = (m_new, v_new);
            m_max_bits = simd.max_u32s(m_max_bits, m_bits);
            v_max_bits = simd.max_u32s(v_max_bits, v_bits);
        }
        let mut m_max = magnitude_of_largest_bits(simd, m_max_bits);
        let mut v_max = magnitude_of_largest_bits(simd, v_max_bits);
        let rest = param_rest.iter_mut().zip(grad_rest).zip(m_rest).zip(v_rest);
        for (((w, &g), m), v) in rest {
            update_element(w, g, m, v, scalars, (&mut m_max, &mut v_max));
        }
        [m_max, v_max]
    }
}

/// The Adam update of one element `w` with gradient `g` and moments `m`, `v`, raising the running maxima of `|m|`
/// and `v`.
#[inline(always)]
fn update_element(w: &mut f32, g: f32, m: &mut f32, v: &mut f32, scalars: &StepScalars, maxima: (&mut f32, &mut f32)) {
    let (m_max, v_max) = maxima;
    // the moments (first and second) without their subnormal values (see `flush_subnormal`)
    *m = flush_subnormal(scalars.beta1 * *m + scalars.one_minus_beta1 * g);
    *v = flush_subnormal(scalars.beta2 * *v + scalars.one_minus_beta2 * g * g);
    // the bias-corrected step, lr / (1 - b1^t) · m / (sqrt(v) / sqrt(1 - b2^t) + eps), with the division by
    // sqrt(1 - b2^t) a product with its inverse: one division and one square root per element, whose units
    // bound the update's speed (PyTorch's two divisions took 1.2x the time, for at most an ulp of the
    // denominator)
    let denominator = v.sqrt() * scalars.inverse_sqrt_bias_correction2 + scalars.eps;
    *w -= scalars.step_size * *m / denominator;
    *m_max = m_max.max(magnitude(*m));
    *v_max = v_max.max(magnitude(*v));
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
    /// `1 / sqrt(1 - b2^t)`
    inverse_sqrt_bias_correction2: f32,
    eps: f32,
}

impl StepScalars {
    fn new(adam: &Adam) -> StepScalars {
        StepScalars::at(adam, adam.step)
    }

    /// The scalars of step `step` (1-based).
    fn at(adam: &Adam, step: u64) -> StepScalars {
        // A step counter beyond i32 saturates the corrections at 1, which they reach long before.
        let t = i32::try_from(step.max(1)).unwrap_or(i32::MAX);
        let bias_correction1 = 1.0 - adam.beta1.powi(t);
        let bias_correction2 = 1.0 - adam.beta2.powi(t);
        StepScalars {
            beta1: adam.beta1 as f32,
            one_minus_beta1: (1.0 - adam.beta1) as f32,
            beta2: adam.beta2 as f32,
            one_minus_beta2: (1.0 - adam.beta2) as f32,
            step_size: (adam.learning_rate / bias_correction1) as f32,
            sqrt_bias_correction2: bias_correction2.sqrt() as f32,
            inverse_sqrt_bias_correction2: (1.0 / bias_correction2.sqrt()) as f32,
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

    fn update(&mut self, name: &str, param: &mut [f32], grad: &[f32]) -> Result<()> {
        self.update_parameter(name, param, grad)
    }

    fn check_parameter(&self, name: &str, len: usize) -> Result<()> {
        self.check_len(name, len)
    }

    fn check_parameters(&self, parameters: &[(String, usize)]) -> Result<()> {
        self.check_model(parameters)
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

    fn update_stays_finite(&self, name: &str, grad_max_abs: f32) -> bool {
        self.parameter_update_stays_finite(name, grad_max_abs)
    }

    fn save_state_into(&self, into: &mut OptimizerState) {
        self.save_state_into_kind("adam", into);
    }

    fn restore_state(&mut self, state: &OptimizerState) -> Result<()> {
        state.check("adam", 2)?;
        self.restore_saved_state(state);
        Ok(())
    }

    fn non_finite_state(&self) -> Option<f32> {
        self.first_non_finite_state()
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
            adam.update("w", &mut w, &[g[0] as f32, g[1] as f32]).unwrap();
        }
        for i in 0..2 {
            assert!((f64::from(w[i]) - want[i]).abs() < 1e-6, "{} vs {}", w[i], want[i]);
        }
        // By hand: step 1 moves each weight by lr against its gradient's sign; step 2 for w[0]:
        // m = 0.9·0.02 + 0.01 = 0.028, v = 0.999·4e-5 + 1e-5 = 4.996e-5,
        // m̂ = 0.028 / 0.19 = 0.147368, v̂ = 4.996e-5 / 0.001999 = 0.0249925, step = 0.01 · 0.147368 / 0.158090
        assert!((w[0] - (0.5 - 0.01 - 0.009_321_8)).abs() < 1e-6, "{}", w[0]);
    }

    /// The vector update gives, bit for bit, what `update_element` gives element by element: for runs that end
    /// inside a vector and after it, and for the values that take other paths (moments that become subnormal, a
    /// square that overflows, NaN, signed zeros, huge steps).
    #[test]
    fn the_vector_update_is_the_scalar_update_bit_for_bit() {
        let mut adam = Adam::new(1e-3);
        adam.step = 3;
        let scalars = StepScalars::new(&adam);
        let special = [
            0.0,
            -0.0,
            1e-39,
            -1e-38,
            1e20,
            -3e19,
            f32::NAN,
            f32::INFINITY,
            f32::MAX,
            1e-45,
        ];
        let value = |i: usize, salt: usize| -> f32 {
            let x = (i * 7919 + salt * 104_729) % 10_007;
            if x.is_multiple_of(13) {
                special[x % special.len()]
            } else {
                (x as f32 / 10_007.0 - 0.5) * 10f32.powi((x % 7) as i32 - 3)
            }
        };
        for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1000] {
            let fill = |salt| (0..len).map(|i| value(i, salt)).collect::<Vec<f32>>();
            let (grad, start_w, start_m) = (fill(1), fill(2), fill(3));
            // v is never negative
            let start_v: Vec<f32> = fill(4).iter().map(|x| x.abs()).collect();
            let (mut w, mut m, mut v) = (start_w.clone(), start_m.clone(), start_v.clone());
            let maxima = update_elements(&mut w, &grad, &mut m, &mut v, &scalars, 1);
            let (mut want_w, mut want_m, mut want_v) = (start_w, start_m, start_v);
            let (mut m_max, mut v_max) = (0.0_f32, 0.0_f32);
            for i in 0..len {
                let (w, m, v) = (&mut want_w[i], &mut want_m[i], &mut want_v[i]);
                update_element(w, grad[i], m, v, &scalars, (&mut m_max, &mut v_max));
            }
            let bits = |values: &[f32]| values.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
            assert_eq!(bits(&w), bits(&want_w), "w, {len} elements");
            assert_eq!(bits(&m), bits(&want_m), "m, {len} elements");
            assert_eq!(bits(&v), bits(&want_v), "v, {len} elements");
            assert_eq!(bits(&maxima), bits(&[m_max, v_max]), "maxima, {len} elements");
        }
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
        assert!(adam.update("a", &mut [0.0; 3], &[0.0; 2]).is_err());
        adam.update("b", &mut [0.0; 3], &[0.0; 3]).unwrap();
        let err = adam.update("b", &mut [0.0; 4], &[0.0; 4]).unwrap_err();
        assert!(err.to_string().contains("optimizer state of b"), "{err}");
    }

    #[test]
    fn state_round_trips_and_checks_its_kind() {
        let mut adam = Adam::new(1e-2);
        adam.begin_step();
        adam.update("encoder.0.bias", &mut [1.0, 2.0], &[0.1, 0.2]).unwrap();
        let state = adam.state();
        assert_eq!(state.buffers["encoder.0.bias"].len(), 2);
        let mut other = Adam::new(1e-2);
        other.load_state(state.clone()).unwrap();
        assert_eq!(other, adam);
        let mut wrong = state;
        wrong.kind = "sgd".into();
        assert!(Adam::new(1e-2).load_state(wrong).is_err());
    }

    #[test]
    fn a_state_with_the_wrong_buffers_is_an_error_not_a_panic() {
        let state = |buffers: Vec<Vec<f32>>| OptimizerState {
            kind: "adam".into(),
            step: 1,
            buffers: [("encoder.0.weight".to_string(), buffers)].into(),
        };
        let err = Adam::new(1e-2).load_state(state(vec![vec![0.0; 3]])).unwrap_err();
        assert!(
            err.to_string().contains("encoder.0.weight has 1 buffers, expected 2"),
            "{err}"
        );
        let err = Adam::new(1e-2)
            .load_state(state(vec![vec![0.0; 3], vec![0.0; 2]]))
            .unwrap_err();
        assert!(
            err.to_string().contains("buffers of encoder.0.weight differ in length"),
            "{err}"
        );
        // No buffers: not updated yet.
        let mut adam = Adam::new(1e-2);
        adam.load_state(state(vec![])).unwrap();
        assert_eq!(adam.state().buffers.len(), 0);
    }
}
