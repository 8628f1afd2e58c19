//! Activation functions: each forward beside its derivative.
//!
//! A dense layer applies its [`Activation`] element by element to `z = x · W + b`. Backpropagation needs
//! `dy/dz`; where that is cheaper to compute from the cached output `y` (sigmoid: `y (1 - y)`, tanh: `1 - y²`,
//! ReLU: `y > 0`), it is, and the pre-activation `z` is kept only for the activations that need it
//! ([`Activation::needs_pre_activation`]).
//!
//! ```
//! use autoencoder::Activation;
//! assert_eq!(Activation::Relu.apply(-2.0), 0.0);
//! assert_eq!(Activation::Sigmoid.apply(0.0), 0.5);
//! // dy/dz of the sigmoid at z = 0, from z and y = 0.5:
//! assert_eq!(Activation::Sigmoid.derivative(0.0, 0.5), 0.25);
//! // Activations print and parse by name, as the model files store them:
//! assert_eq!("leaky_relu(0.2)".parse::<Activation>().unwrap(), Activation::LeakyRelu(0.2));
//! ```

use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use crate::error::Error;

/// An element-wise activation function.
///
/// ```
/// use autoencoder::Activation;
/// let act = Activation::Elu(1.0);
/// let (z, y) = (-1.0_f32, act.apply(-1.0));
/// assert!((y - ((-1.0_f32).exp() - 1.0)).abs() < 1e-7);
/// assert!((act.derivative(z, y) - (-1.0_f32).exp()).abs() < 1e-7); // alpha · e^z = y + alpha
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `y = z`.
    Identity,
    /// `y = max(z, 0)`; the derivative at 0 is 0, and NaN stays NaN (as in PyTorch and JAX).
    Relu,
    /// `y = z` for `z > 0`, `slope · z` otherwise; the field is the negative slope (0.01 in PyTorch, 0.3 in Keras).
    LeakyRelu(f32),
    /// `y = 1 / (1 + e^-z)`, computed without overflow for large `|z|`.
    Sigmoid,
    /// `y = tanh(z)`.
    Tanh,
    /// `y = z` for `z > 0`, `alpha · (e^z - 1)` otherwise; the field is `alpha` (1.0 in PyTorch and Keras).
    Elu(f32),
    /// Gaussian error linear unit, the exact form `z · Φ(z)` (PyTorch's and Keras' default), `Φ` the normal CDF.
    Gelu,
    /// `y = ln(1 + e^z)`, computed without overflow.
    Softplus,
    /// Sigmoid linear unit (swish): `y = z · sigmoid(z)`.
    Silu,
}

impl Activation {
    /// The activation of one value.
    ///
    /// ```
    /// use autoencoder::Activation;
    /// assert_eq!(Activation::LeakyRelu(0.1).apply(-3.0), -0.3);
    /// assert_eq!(Activation::Sigmoid.apply(-1000.0), 0.0); // no overflow
    /// ```
    #[inline]
    pub fn apply(self, z: f32) -> f32 {
        match self {
            Activation::Identity => z,
            Activation::Relu => relu(z),
            Activation::LeakyRelu(slope) => {
                if z > 0.0 {
                    z
                } else {
                    slope * z
                }
            }
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
            Activation::Elu(alpha) => {
                if z > 0.0 {
                    z
                } else {
                    alpha * z.exp_m1()
                }
            }
            Activation::Gelu => z * normal_cdf(z),
            Activation::Softplus => z.max(0.0) + (-z.abs()).exp().ln_1p(),
            Activation::Silu => z * sigmoid(z),
        }
    }

    /// The derivative `dy/dz` at pre-activation `z`, given the output `y = self.apply(z)`.
    ///
    /// Activations for which [`needs_pre_activation`](Self::needs_pre_activation) is false read only `y`.
    ///
    /// ```
    /// use autoencoder::Activation;
    /// let z = 0.3_f32;
    /// let y = Activation::Tanh.apply(z);
    /// assert!((Activation::Tanh.derivative(z, y) - (1.0 - y * y)).abs() < 1e-7);
    /// assert_eq!(Activation::Relu.derivative(0.0, 0.0), 0.0);
    /// ```
    #[inline]
    pub fn derivative(self, z: f32, y: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            // 0 where the output is 0 (z <= 0, including z = 0), 1 elsewhere, NaN included: a NaN passes on
            Activation::Relu => {
                if y <= 0.0 {
                    0.0
                } else {
                    1.0
                }
            }
            Activation::LeakyRelu(slope) => {
                if z > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Elu(alpha) => {
                if z > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
            Activation::Gelu => normal_cdf(z) + z * normal_pdf(z),
            // d/dz ln(1 + e^z) = sigmoid(z) = 1 - e^-y
            Activation::Softplus => -(-y).exp_m1(),
            Activation::Silu => {
                let s = sigmoid(z);
                s + z * s * (1.0 - s)
            }
        }
    }

    /// `dL/dz` from `dL/dy = grad` at pre-activation `z` with output `y`: `grad · derivative(z, y)`, except that
    /// where ReLU's derivative is 0 the gradient is dropped whatever it is (a select, as PyTorch's
    /// `threshold_backward`: an infinite `grad` gives 0, not NaN).
    ///
    /// The one definition of every backward pass through an activation:
    /// [`backward_in_place`](Self::backward_in_place) and the layers' fused sweeps give exactly these bits (their
    /// tests check it on zeros of both signs, infinities and NaN).
    ///
    /// ```
    /// use autoencoder::Activation;
    /// assert_eq!(Activation::Relu.gradient(-1.0, 0.0, f32::INFINITY), 0.0);
    /// assert_eq!(Activation::Relu.gradient(2.0, 2.0, 3.0), 3.0);
    /// assert!(Activation::Relu.gradient(f32::NAN, f32::NAN, 3.0) == 3.0); // the NaN output passes the gradient
    /// assert_eq!(Activation::Tanh.gradient(0.0, 0.0, 3.0), 3.0);
    /// ```
    #[inline]
    pub fn gradient(self, z: f32, y: f32, grad: f32) -> f32 {
        match self {
            Activation::Identity => grad,
            Activation::Relu => {
                if y <= 0.0 {
                    0.0
                } else {
                    grad
                }
            }
            other => grad * other.derivative(z, y),
        }
    }

    /// Whether [`derivative`](Self::derivative) needs the pre-activation `z`, so that training must keep it.
    /// ReLU, sigmoid, tanh and softplus derive it from the output alone.
    ///
    /// ```
    /// use autoencoder::Activation;
    /// assert!(!Activation::Sigmoid.needs_pre_activation());
    /// assert!(Activation::Gelu.needs_pre_activation());
    /// ```
    pub fn needs_pre_activation(self) -> bool {
        matches!(
            self,
            Activation::LeakyRelu(_) | Activation::Elu(_) | Activation::Gelu | Activation::Silu
        )
    }

    /// Applies the activation in place to every element of `z`.
    ///
    /// ```
    /// use autoencoder::Activation;
    /// use autoencoder::ndarray::array;
    /// let mut z = array![[-1.0_f32, 2.0]];
    /// Activation::Relu.apply_in_place(z.view_mut());
    /// assert_eq!(z, array![[0.0, 2.0]]);
    /// ```
    pub fn apply_in_place(self, mut z: ArrayViewMut2<f32>) {
        // One loop per variant, so that each is a tight loop the compiler can vectorise.
        match self {
            Activation::Identity => {}
            Activation::Relu => z.mapv_inplace(relu),
            Activation::Sigmoid => z.mapv_inplace(sigmoid),
            other => z.mapv_inplace(|v| other.apply(v)),
        }
    }

    /// Turns `grad` from `dL/dy` into `dL/dz` in place: `grad *= dy/dz`, element by element.
    ///
    /// `pre_activation` is `z`, required when [`needs_pre_activation`](Self::needs_pre_activation) is true
    /// (it is ignored otherwise); `output` is `y`.
    ///
    /// ```
    /// use autoencoder::Activation;
    /// use autoencoder::ndarray::array;
    /// let y = array![[0.0_f32, 3.0]];
    /// let mut grad = array![[5.0_f32, 5.0]];
    /// Activation::Relu.backward_in_place(None, y.view(), grad.view_mut());
    /// assert_eq!(grad, array![[0.0, 5.0]]);
    /// ```
    ///
    /// **Panics** if the shapes differ, or if `pre_activation` is `None` for an activation that needs it: both
    /// are bugs in the caller, which owns these buffers.
    pub fn backward_in_place(
        self,
        pre_activation: Option<ArrayView2<f32>>,
        output: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
    ) {
        match self {
            Activation::Identity => {}
            Activation::Relu => Zip::from(grad).and(output).for_each(|g, &y| {
                if y <= 0.0 {
                    *g = 0.0;
                }
            }),
            Activation::Sigmoid => Zip::from(grad).and(output).for_each(|g, &y| *g *= y * (1.0 - y)),
            Activation::Tanh | Activation::Softplus => Zip::from(grad)
                .and(output)
                .for_each(|g, &y| *g = self.gradient(0.0, y, *g)),
            _ => {
                let z = pre_activation.expect("this activation's backward needs the pre-activation");
                Zip::from(grad)
                    .and(z)
                    .and(output)
                    .for_each(|g, &z, &y| *g = self.gradient(z, y, *g));
            }
        }
    }
}

/// `max(z, 0)`, except that NaN stays NaN: `f32::max` alone would turn a NaN into 0 and hide a bad input.
#[inline]
fn relu(z: f32) -> f32 {
    if z.is_nan() {
        z
    } else {
        z.max(0.0)
    }
}

/// The logistic sigmoid, without overflow: `e^-z` is only formed for `z >= 0`.
#[inline]
fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The standard normal density `φ(z)`.
fn normal_pdf(z: f32) -> f32 {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    (INV_SQRT_2PI * (-0.5 * f64::from(z) * f64::from(z)).exp()) as f32
}

/// The standard normal CDF `Φ(z) = erfc(-z / √2) / 2`.
fn normal_cdf(z: f32) -> f32 {
    (0.5 * erfc(-f64::from(z) / std::f64::consts::SQRT_2)) as f32
}

/// The complementary error function, by the Chebyshev fit of Numerical Recipes (`erfcc`): fractional error
/// below 1.2e-7 everywhere, which is below f32's resolution once `Φ` is rounded to f32.
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * (-x * x + poly).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

impl fmt::Display for Activation {
    /// The name used in model files: `identity`, `relu`, `leaky_relu(0.01)`, `sigmoid`, `tanh`, `elu(1)`,
    /// `gelu`, `softplus`, `silu`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => f.write_str("identity"),
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu(slope) => write!(f, "leaky_relu({slope})"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::Elu(alpha) => write!(f, "elu({alpha})"),
            Activation::Gelu => f.write_str("gelu"),
            Activation::Softplus => f.write_str("softplus"),
            Activation::Silu => f.write_str("silu"),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// Parses the names that [`Display`](fmt::Display) writes (`f32` parameters round-trip exactly).
    fn from_str(name: &str) -> Result<Self, Error> {
        let unknown = || {
            Error::InvalidArgument(format!(
                "unknown activation {name:?}: expected one of identity, relu, leaky_relu(<slope>), sigmoid, \
                 tanh, elu(<alpha>), gelu, softplus, silu"
            ))
        };
        let name = name.trim();
        let parameter = |prefix: &str| -> Result<f32, Error> {
            let value: f32 = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|number| number.trim().parse().ok())
                .ok_or_else(unknown)?;
            if value.is_finite() {
                Ok(value)
            } else {
                Err(Error::InvalidArgument(format!(
                    "activation {name:?}: its parameter must be finite"
                )))
            }
        };
        match name {
            "identity" | "linear" => Ok(Activation::Identity),
            "relu" => Ok(Activation::Relu),
            "sigmoid" => Ok(Activation::Sigmoid),
            "tanh" => Ok(Activation::Tanh),
            "gelu" => Ok(Activation::Gelu),
            "softplus" => Ok(Activation::Softplus),
            "silu" | "swish" => Ok(Activation::Silu),
            n if n.starts_with("leaky_relu(") => parameter("leaky_relu(").map(Activation::LeakyRelu),
            n if n.starts_with("elu(") => parameter("elu(").map(Activation::Elu),
            _ => Err(unknown()),
        }
    }
}

/// One of every kind of activation, for the unit tests of this module and of the sweeps.
#[cfg(test)]
pub(crate) const EVERY_KIND: [Activation; 9] = [
    Activation::Identity,
    Activation::Relu,
    Activation::LeakyRelu(0.2),
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Elu(1.0),
    Activation::Gelu,
    Activation::Softplus,
    Activation::Silu,
];

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 9] = EVERY_KIND;

    #[test]
    fn derivative_matches_central_difference() {
        for act in ALL {
            for &z in &[-3.0_f32, -0.7, -0.1, 0.2, 0.9, 2.5] {
                let h = 1e-3_f64;
                let f = |v: f64| f64::from(act.apply(v as f32));
                let numeric = (f(f64::from(z) + h) - f(f64::from(z) - h)) / (2.0 * h);
                let analytic = f64::from(act.derivative(z, act.apply(z)));
                assert!(
                    (numeric - analytic).abs() < 2e-3,
                    "{act}: at {z}, numeric {numeric} vs analytic {analytic}"
                );
            }
        }
    }

    /// Every element of `backward_in_place` (and so of the fused sweeps, which are checked against it bit for
    /// bit) is `gradient` of that element, on zeros of both signs, infinities and NaN in `z`, `y` and `grad`.
    #[test]
    fn the_array_form_is_the_scalar_gradient_bit_for_bit() {
        let specials = [
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            0.5,
            -0.5,
            3.0,
            -3.0,
            90.0,
            -90.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        let n = specials.len();
        for act in ALL {
            let z = ndarray::Array2::from_shape_fn((n, n), |(i, _)| specials[i]);
            let y = z.mapv(|z| act.apply(z));
            let grad = ndarray::Array2::from_shape_fn((n, n), |(_, j)| specials[j]);
            let mut fast = grad.clone();
            act.backward_in_place(Some(z.view()), y.view(), fast.view_mut());
            for ((i, j), &g) in fast.indexed_iter() {
                let one = act.gradient(z[[i, j]], y[[i, j]], grad[[i, j]]);
                assert!(
                    g.to_bits() == one.to_bits(),
                    "{act}: z {} grad {}: array form {g}, gradient {one}",
                    z[[i, j]],
                    grad[[i, j]]
                );
            }
        }
    }

    #[test]
    fn relu_derivative_at_zero_is_zero() {
        assert_eq!(Activation::Relu.derivative(0.0, 0.0), 0.0);
        // and 1 at NaN, as the array forms have always had it (a NaN gradient passes on; before, this said 0)
        assert_eq!(Activation::Relu.derivative(f32::NAN, f32::NAN), 1.0);
    }

    #[test]
    fn sigmoid_and_softplus_do_not_overflow() {
        assert_eq!(sigmoid(1e4), 1.0);
        assert_eq!(sigmoid(-1e4), 0.0);
        assert!(sigmoid(-100.0) > 0.0);
        assert_eq!(Activation::Softplus.apply(1e4), 1e4);
        assert_eq!(Activation::Softplus.apply(-1e4), 0.0);
        for act in ALL {
            for z in [-1e30_f32, -1e4, 1e4, 1e30] {
                let y = act.apply(z);
                assert!(!y.is_nan(), "{act}({z}) is NaN");
                assert!(!act.derivative(z, y).is_nan(), "{act}'({z}) is NaN");
            }
        }
    }

    #[test]
    fn gelu_matches_reference_values() {
        // torch.nn.functional.gelu(torch.tensor([-2.0, -0.5, 0.5, 1.0, 3.0])), exact (erf) form
        let expected = [-0.045_500_26_f32, -0.154_268_5, 0.345_731_5, 0.841_344_7, 2.995_950_6];
        for (z, want) in [-2.0_f32, -0.5, 0.5, 1.0, 3.0].iter().zip(expected) {
            let got = Activation::Gelu.apply(*z);
            assert!((got - want).abs() < 1e-6, "gelu({z}) = {got}, want {want}");
        }
    }

    #[test]
    fn names_round_trip() {
        for act in ALL
            .into_iter()
            .chain([Activation::LeakyRelu(0.011_73), Activation::Elu(0.3)])
        {
            assert_eq!(act.to_string().parse::<Activation>().unwrap(), act);
        }
        for bad in ["", "relu6", "leaky_relu", "leaky_relu(x)"] {
            let err = bad.parse::<Activation>().unwrap_err().to_string();
            assert!(err.contains("unknown activation"), "{bad}: {err}");
        }
        for bad in ["elu(inf)", "elu(NaN)", "leaky_relu(-inf)"] {
            let err = bad.parse::<Activation>().unwrap_err().to_string();
            assert!(err.contains("must be finite"), "{bad}: {err}");
        }
        assert_eq!(
            " leaky_relu(0.1) ".parse::<Activation>().unwrap(),
            Activation::LeakyRelu(0.1)
        );
    }

    #[test]
    fn array_forms_agree_with_scalar_forms() {
        let z = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| i as f32 - 1.3 * j as f32 + 0.4);
        for act in ALL {
            let mut y = z.clone();
            act.apply_in_place(y.view_mut());
            let mut grad = ndarray::Array2::from_elem(z.dim(), 2.0_f32);
            act.backward_in_place(Some(z.view()), y.view(), grad.view_mut());
            for ((&zv, &yv), &gv) in z.iter().zip(&y).zip(&grad) {
                assert_eq!(yv, act.apply(zv), "{act}");
                assert_eq!(gv, 2.0 * act.derivative(zv, yv), "{act}");
            }
        }
    }
}
