//! Every activation written out again in f64 from its textbook definition, for the gradient checks' independent
//! references.

use autoencoder::Activation;

/// Every kind of activation, with the parameters the checks use.
pub const ACTIVATIONS: [Activation; 9] = [
    Activation::Identity,
    Activation::Relu,
    Activation::LeakyRelu(0.1),
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Elu(1.0),
    Activation::Gelu,
    Activation::Softplus,
    Activation::Silu,
];

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `erf(x)` to about 1e-15, from the everywhere-convergent series of positive terms
/// `erf(x) = 2/√π · e^(-x²) · Σ_n 2^n x^(2n+1) / (1·3·5···(2n+1))` (Abramowitz & Stegun 7.1.6).
pub fn erf(x: f64) -> f64 {
    if x.abs() > 6.0 {
        return x.signum(); // 1 - erf(6) ≈ 2e-17
    }
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= 2.0 * x * x / (2 * n + 1) as f64;
        sum += term;
        if term.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp() * sum
}

/// Each activation written out again, in f64, from its textbook definition.
pub fn activate(activation: Activation, z: f64) -> f64 {
    match activation {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu(slope) => {
            if z > 0.0 {
                z
            } else {
                f64::from(slope) * z
            }
        }
        Activation::Sigmoid => sigmoid(z),
        Activation::Tanh => z.tanh(),
        Activation::Elu(alpha) => {
            if z > 0.0 {
                z
            } else {
                f64::from(alpha) * (z.exp() - 1.0)
            }
        }
        Activation::Gelu => 0.5 * z * (1.0 + erf(z / std::f64::consts::SQRT_2)),
        Activation::Softplus => (1.0 + z.exp()).ln(),
        Activation::Silu => z * sigmoid(z),
    }
}

/// Whether the activation has a kink at 0, where a central difference means nothing.
pub fn has_kink(activation: Activation) -> bool {
    matches!(
        activation,
        Activation::Relu | Activation::LeakyRelu(_) | Activation::Elu(_)
    )
}
