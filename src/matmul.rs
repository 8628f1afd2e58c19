//! The matrix products of the training loop, in one place.
//!
//! Every layer does three per step: the forward `Z = X · W`, and in backward `dW = Xᵀ · dZ` and `dX = dZ · Wᵀ`.
//! Transposes are read as views, never copied. All of them go through [`product_into`], so that the kernel
//! behind it can be changed for all of them at once.

use ndarray::{ArrayView2, ArrayViewMut2};

/// `out = a · b`, overwriting `out`. The shapes must agree: `a` is `(m, k)`, `b` is `(k, n)`, `out` is `(m, n)`.
///
/// **Panics** if they do not: callers check shapes at the crate's boundary, so a mismatch here is a bug.
pub(crate) fn product_into(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>) {
    let mut out = out;
    ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut out);
}
