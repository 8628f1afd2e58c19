//! Weight initialisers for [`Dense`](crate::Dense) layers.
//!
//! Weights are drawn with `ndarray-rand` from a caller-seeded random generator, so the same seed gives the same
//! weights; biases start at zero. `fan_in` is the layer's input count, `fan_out` its output count.
//!
//! ```
//! use autoencoder::{Activation, Dense, Init};
//! use autoencoder::rand::{rngs::StdRng, SeedableRng};
//!
//! let a = Dense::new(784, 256, Activation::Relu, Init::GlorotUniform, &mut StdRng::seed_from_u64(7))?;
//! let b = Dense::new(784, 256, Activation::Relu, Init::GlorotUniform, &mut StdRng::seed_from_u64(7))?;
//! assert_eq!(a.weights(), b.weights());
//! let limit = (6.0_f32 / (784.0 + 256.0)).sqrt();
//! assert!(a.weights().iter().all(|w| w.abs() <= limit));
//! # Ok::<(), autoencoder::Error>(())
//! ```

use ndarray::Array2;
use ndarray_rand::rand::Rng;
use ndarray_rand::rand_distr::{Distribution, Normal, Uniform};

use crate::alloc::{describe_bytes, try_vec};
use crate::error::{Error, Result};

/// How a layer's weights are drawn.
///
/// ```
/// use autoencoder::Init;
/// assert_eq!(Init::default(), Init::GlorotUniform);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Init {
    /// Glorot (Xavier) uniform: `U(-l, l)` with `l = sqrt(6 / (fan_in + fan_out))` (Keras' default).
    #[default]
    GlorotUniform,
    /// Glorot (Xavier) normal: `N(0, 2 / (fan_in + fan_out))`, untruncated, as PyTorch's `xavier_normal_`.
    GlorotNormal,
    /// He (Kaiming) uniform: `U(-l, l)` with `l = sqrt(6 / fan_in)`, for ReLU layers.
    HeUniform,
    /// He (Kaiming) normal: `N(0, 2 / fan_in)`, untruncated, as PyTorch's `kaiming_normal_`.
    HeNormal,
}

impl Init {
    /// Draws a `(fan_in, fan_out)` weight matrix.
    ///
    /// **Panics** if the `fan_in × fan_out` values cannot be allocated; [`try_weights`](Self::try_weights) returns
    /// an error instead, and [`Autoencoder::builder`](crate::Autoencoder::builder) uses it.
    ///
    /// ```
    /// use autoencoder::Init;
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let w = Init::HeNormal.weights(64, 16, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(w.dim(), (64, 16));
    /// ```
    pub fn weights<R: Rng + ?Sized>(self, fan_in: usize, fan_out: usize, rng: &mut R) -> Array2<f32> {
        self.try_weights(fan_in, fan_out, rng)
            .unwrap_or_else(|error| panic!("Init::weights: {error}"))
    }

    /// Draws a `(fan_in, fan_out)` weight matrix, the same values as [`weights`](Self::weights) from the same
    /// generator; errors with [`Error::InvalidArgument`], saying how many bytes it
    /// needed, when they cannot be allocated.
    ///
    /// ```
    /// use autoencoder::Init;
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let mut rng = StdRng::seed_from_u64(0);
    /// assert_eq!(Init::GlorotUniform.try_weights(3, 2, &mut rng)?.dim(), (3, 2));
    /// assert!(Init::GlorotUniform.try_weights(1 << 40, 1 << 30, &mut rng).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn try_weights<R: Rng + ?Sized>(self, fan_in: usize, fan_out: usize, rng: &mut R) -> Result<Array2<f32>> {
        self.kernel((fan_in, fan_out), (fan_in, fan_out), rng)
    }

    /// The distribution the weights are drawn from: uniform (`Ok`) or normal (`Err`); `None` for an empty layer
    /// (a zero fan), which has no weights to draw, or a scale that makes no distribution.
    fn distribution(self, fan_in: f32, fan_out: f32) -> Option<std::result::Result<Uniform<f32>, Normal<f32>>> {
        let (uniform_limit, normal_std) = match self {
            Init::GlorotUniform => (Some((6.0 / (fan_in + fan_out)).sqrt()), None),
            Init::GlorotNormal => (None, Some((2.0 / (fan_in + fan_out)).sqrt())),
            Init::HeUniform => (Some((6.0 / fan_in).sqrt()), None),
            Init::HeNormal => (None, Some((2.0 / fan_in).sqrt())),
        };
        if let Some(limit) = uniform_limit.filter(|l| l.is_finite() && *l > 0.0) {
            if let Ok(dist) = Uniform::new(-limit, limit) {
                return Some(Ok(dist));
            }
        }
        if let Some(std) = normal_std.filter(|s| s.is_finite()) {
            if let Ok(dist) = Normal::new(0.0, std) {
                return Some(Err(dist));
            }
        }
        None
    }

    /// The name used in builders and logs: `glorot_uniform`, `glorot_normal`, `he_uniform`, `he_normal`.
    ///
    /// ```
    /// assert_eq!(autoencoder::Init::HeUniform.name(), "he_uniform");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Init::GlorotUniform => "glorot_uniform",
            Init::GlorotNormal => "glorot_normal",
            Init::HeUniform => "he_uniform",
            Init::HeNormal => "he_normal",
        }
    }

    /// Draws a `(rows, columns)` matrix with the scale of the given fans `(fan_in, fan_out)`: a convolution's
    /// kernel as a matrix, with Keras' fans (`kh * kw * in_channels`, `kh * kw * out_channels`). Errors, saying
    /// how many bytes it needs, when the matrix cannot be allocated.
    ///
    /// ```
    /// use autoencoder::Init;
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let k = Init::GlorotUniform.kernel((3 * 3 * 1, 32), (3 * 3 * 1, 3 * 3 * 32), &mut StdRng::seed_from_u64(0))?;
    /// assert_eq!(k.dim(), (9, 32));
    /// assert!(k.iter().all(|v| v.abs() <= (6.0_f32 / (9.0 + 288.0)).sqrt()));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn kernel<R: Rng + ?Sized>(
        self,
        shape: (usize, usize),
        fans: (usize, usize),
        rng: &mut R,
    ) -> Result<Array2<f32>> {
        let what = format!("{} × {} weights", shape.0, shape.1);
        let len = shape
            .0
            .checked_mul(shape.1)
            .ok_or_else(|| Error::InvalidArgument(format!("{what} need {}", describe_bytes(None))))?;
        let mut values = try_vec(len, &what)?;
        // Row-major, one draw per value: the order `Array2::random_using` draws in.
        match self.distribution(fans.0 as f32, fans.1 as f32) {
            Some(Ok(uniform)) => values.extend((0..len).map(|_| uniform.sample(rng))),
            Some(Err(normal)) => values.extend((0..len).map(|_| normal.sample(rng))),
            None => values.resize(len, 0.0),
        }
        Array2::from_shape_vec(shape, values).map_err(|e| Error::InvalidArgument(format!("{what}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    fn moments(w: &Array2<f32>) -> (f64, f64) {
        let n = w.len() as f64;
        let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = w.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn variances_match_their_formulas() {
        let (fan_in, fan_out) = (400, 200);
        let mut rng = StdRng::seed_from_u64(1);
        for (init, want_var) in [
            (Init::GlorotUniform, 2.0 / 600.0),
            (Init::GlorotNormal, 2.0 / 600.0),
            (Init::HeUniform, 2.0 / 400.0),
            (Init::HeNormal, 2.0 / 400.0),
        ] {
            let (mean, var) = moments(&init.weights(fan_in, fan_out, &mut rng));
            assert!(mean.abs() < 1e-3, "{init:?} mean {mean}");
            assert!((var / want_var - 1.0).abs() < 0.03, "{init:?} var {var} vs {want_var}");
        }
    }

    #[test]
    fn uniform_stays_within_its_limit_and_zero_fans_give_empty_weights() {
        let w = Init::HeUniform.weights(50, 10, &mut StdRng::seed_from_u64(2));
        let limit = (6.0_f32 / 50.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        assert_eq!(
            Init::GlorotUniform.weights(0, 0, &mut StdRng::seed_from_u64(2)).len(),
            0
        );
        assert_eq!(
            Init::HeNormal.weights(0, 3, &mut StdRng::seed_from_u64(2)).dim(),
            (0, 3)
        );
    }

    #[test]
    fn the_weights_are_those_ndarray_rand_draws_from_the_same_seed() {
        use ndarray_rand::RandomExt;
        let (limit, std) = ((6.0_f32 / 50.0).sqrt(), (2.0_f32 / 30.0).sqrt());
        let uniform = Array2::random_using(
            (30, 20),
            Uniform::new(-limit, limit).unwrap(),
            &mut StdRng::seed_from_u64(5),
        );
        let normal = Array2::random_using((30, 20), Normal::new(0.0, std).unwrap(), &mut StdRng::seed_from_u64(5));
        assert_eq!(
            Init::GlorotUniform.weights(30, 20, &mut StdRng::seed_from_u64(5)),
            uniform
        );
        assert_eq!(Init::HeNormal.weights(30, 20, &mut StdRng::seed_from_u64(5)), normal);
    }
}
