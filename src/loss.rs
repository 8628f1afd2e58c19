//! Loss functions: the value and its gradient with respect to the predictions, side by side.
//!
//! Both are the mean over every element of the batch (Keras' and PyTorch's default reduction), so the gradient
//! of each element carries a factor `1 / (batch · features)`. The sum is taken in `f64`, in an order fixed by the
//! batch's shape (`loss/sum.rs`), split across the crate's threads on large batches: any thread count and any
//! memory layout give the same bits.
//!
//! ```
//! use autoencoder::Loss;
//! use autoencoder::ndarray::array;
//! let prediction = array![[0.5_f32, 1.0]];
//! let target = array![[0.0_f32, 1.0]];
//! assert_eq!(Loss::Mse.value(prediction.view(), target.view())?, 0.125);
//! assert_eq!(Loss::Mse.gradient(prediction.view(), target.view())?, array![[0.5, 0.0]]);
//! # Ok::<(), autoencoder::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};

use crate::error::{Error, Result};
use crate::math::ln;

mod sum;

/// Predictions are clamped to `[BCE_EPSILON, 1 - BCE_EPSILON]` before the logarithms of the binary
/// cross-entropy (Keras' `epsilon()`).
///
/// ```
/// use autoencoder::{loss::BCE_EPSILON, Loss};
/// use autoencoder::ndarray::array;
/// let at_zero = Loss::BinaryCrossEntropy.value(array![[0.0_f32]].view(), array![[1.0_f32]].view())?;
/// assert!((at_zero + BCE_EPSILON.ln()).abs() < 1e-4); // -ln(1e-7), not infinity
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub const BCE_EPSILON: f32 = 1e-7;

/// A loss between predictions and targets of the same shape.
///
/// ```
/// use autoencoder::Loss;
/// assert_eq!("binary_cross_entropy".parse::<Loss>()?, Loss::BinaryCrossEntropy);
/// assert_eq!(Loss::default(), Loss::Mse);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Loss {
    /// Mean squared error: `mean((p - t)²)`; gradient `2 (p - t) / n`.
    #[default]
    Mse,
    /// Binary cross-entropy for predictions in (0, 1) (a sigmoid output) and targets in [0, 1]:
    /// `mean(-(t ln p + (1 - t) ln(1 - p)))` with `p` clamped to `[1e-7, 1 - 1e-7]`;
    /// gradient `(p - t) / (p (1 - p)) / n`, taken at the clamped `p` so that a saturated output still learns.
    BinaryCrossEntropy,
}

impl Loss {
    /// The loss of `prediction` against `target`.
    ///
    /// Errors with [`Error::Shape`] when the shapes differ.
    ///
    /// ```
    /// use autoencoder::Loss;
    /// use autoencoder::ndarray::array;
    /// let loss = Loss::BinaryCrossEntropy.value(array![[0.5_f32]].view(), array![[1.0_f32]].view())?;
    /// assert!((loss - 2.0_f32.ln()).abs() < 1e-6);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn value(self, prediction: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<f32> {
        self.check_shapes(prediction, target)?;
        let sum = sum::loss_sum(self, prediction, target, None, 1.0 / prediction.len() as f32);
        Ok(mean(sum, prediction.len()))
    }

    /// The gradient of the loss with respect to each prediction, `dL/dp`.
    ///
    /// ```
    /// use autoencoder::Loss;
    /// use autoencoder::ndarray::array;
    /// let g = Loss::BinaryCrossEntropy.gradient(array![[0.5_f32]].view(), array![[1.0_f32]].view())?;
    /// assert!((g[[0, 0]] + 2.0).abs() < 1e-6);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn gradient(self, prediction: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<Array2<f32>> {
        let mut grad = Array2::zeros(prediction.raw_dim());
        self.value_and_gradient_into(prediction, target, grad.view_mut())?;
        Ok(grad)
    }

    /// The loss and its gradient in one sweep, the gradient written into `grad` (no allocation).
    ///
    /// ```
    /// use autoencoder::Loss;
    /// use autoencoder::ndarray::{array, Array2};
    /// let (p, t) = (array![[1.0_f32, 3.0]], array![[0.0_f32, 3.0]]);
    /// let mut grad = Array2::zeros((1, 2));
    /// let loss = Loss::Mse.value_and_gradient_into(p.view(), t.view(), grad.view_mut())?;
    /// assert_eq!((loss, grad), (0.5, array![[1.0, 0.0]]));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn value_and_gradient_into(
        self,
        prediction: ArrayView2<f32>,
        target: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
    ) -> Result<f32> {
        self.check_shapes(prediction, target)?;
        if grad.dim() != prediction.dim() {
            return Err(Error::shape(
                "loss gradient buffer",
                format!("{:?}", prediction.dim()),
                format!("{:?}", grad.dim()),
            ));
        }
        let n = prediction.len();
        let sum = sum::loss_sum(self, prediction, target, Some(grad), 1.0 / n as f32);
        Ok(mean(sum, n))
    }

    fn check_shapes(self, prediction: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<()> {
        if prediction.dim() == target.dim() {
            Ok(())
        } else {
            Err(Error::shape(
                format!("{self} loss (target vs prediction)"),
                format!("{:?}", prediction.dim()),
                format!("{:?}", target.dim()),
            ))
        }
    }
}

/// One element of the binary cross-entropy, with the prediction clamped.
#[inline(always)]
fn bce(p: f32, t: f32) -> f32 {
    let p = p.clamp(BCE_EPSILON, 1.0 - BCE_EPSILON);
    -(t * ln(p) + (1.0 - t) * ln(1.0 - p))
}

/// The mean of `n` elements whose sum is `sum`; NaN for an empty batch (as PyTorch's mean of nothing).
fn mean(sum: f64, n: usize) -> f32 {
    (sum / n as f64) as f32
}

impl fmt::Display for Loss {
    /// `mse` or `binary_cross_entropy`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::Mse => "mse",
            Loss::BinaryCrossEntropy => "binary_cross_entropy",
        })
    }
}

impl FromStr for Loss {
    type Err = Error;

    /// Parses `mse` or `binary_cross_entropy` (also `bce`).
    fn from_str(name: &str) -> Result<Loss> {
        match name.trim() {
            "mse" => Ok(Loss::Mse),
            "binary_cross_entropy" | "bce" => Ok(Loss::BinaryCrossEntropy),
            _ => Err(Error::InvalidArgument(format!(
                "unknown loss {name:?}: expected mse or binary_cross_entropy"
            ))),
        }
    }
}

/// The mean squared error of each row of `reconstruction` against the same row of `x` (of the same shape): a
/// score per sample, as `reconstruction_error` reports it (NaN for rows of no columns).
pub(crate) fn mean_squared_error_per_row(mut reconstruction: Array2<f32>, x: ArrayView2<f32>) -> Array1<f32> {
    reconstruction -= &x;
    reconstruction.mapv_inplace(|d| d * d);
    reconstruction
        .mean_axis(Axis(1))
        .unwrap_or_else(|| Array1::from_elem(x.nrows(), f32::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn values_match_hand_computation() {
        let p = array![[0.2_f32, 0.9], [0.6, 0.1]];
        let t = array![[0.0_f32, 1.0], [1.0, 0.0]];
        let mse = Loss::Mse.value(p.view(), t.view()).unwrap();
        assert!((mse - (0.04 + 0.01 + 0.16 + 0.01) / 4.0).abs() < 1e-7);
        let bce = Loss::BinaryCrossEntropy.value(p.view(), t.view()).unwrap();
        let want = -((0.8_f64).ln() + 0.9_f64.ln() + 0.6_f64.ln() + 0.9_f64.ln()) / 4.0;
        assert!((f64::from(bce) - want).abs() < 1e-6);
    }

    #[test]
    fn bce_clamps_predictions_at_zero_and_one() {
        let p = array![[0.0_f32, 1.0]];
        let t = array![[1.0_f32, 0.0]];
        let value = Loss::BinaryCrossEntropy.value(p.view(), t.view()).unwrap();
        // both elements sit at the clamp: -ln(1e-7) and -ln(1 - (1 - 1e-7)), the latter in f32
        let want = (-(BCE_EPSILON.ln()) - (1.0 - (1.0 - BCE_EPSILON)).ln()) / 2.0;
        assert!((value - want).abs() < 1e-4, "{value} vs {want}");
        let grad = Loss::BinaryCrossEntropy.gradient(p.view(), t.view()).unwrap();
        assert!(grad.iter().all(|g| g.is_finite()));
        assert!(grad[[0, 0]] < 0.0 && grad[[0, 1]] > 0.0);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let err = Loss::Mse
            .value(array![[1.0_f32, 2.0]].view(), array![[1.0_f32]].view())
            .unwrap_err();
        assert!(matches!(err, Error::Shape { .. }));
        assert!(
            err.to_string().contains("(1, 2)") && err.to_string().contains("(1, 1)"),
            "{err}"
        );
    }

    #[test]
    fn names_round_trip() {
        for loss in [Loss::Mse, Loss::BinaryCrossEntropy] {
            assert_eq!(loss.to_string().parse::<Loss>().unwrap(), loss);
        }
        assert!("l1".parse::<Loss>().is_err());
    }
}
