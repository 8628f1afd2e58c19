//! [`VaeLoss`]: a variational autoencoder's loss and its two parts.

/// A variational autoencoder's loss on a batch of `B` rows, and its two parts:
/// `total = reconstruction + β · kl`, with
/// - `reconstruction = (1/B) Σ_rows Σ_features ℓ(x̂, t)`: a sum over the features, not a mean (as in the book,
///   `reconstruction_loss *= original_dim`), `ℓ = (x̂ − t)²` for [`Loss::Mse`](crate::Loss::Mse) and the crate's
///   clamped binary cross-entropy for [`Loss::BinaryCrossEntropy`](crate::Loss::BinaryCrossEntropy);
/// - `kl = (1/B) Σ_rows −½ Σ_j (1 + log_var_j − mean_j² − exp(log_var_j))`, the KL divergence of `q(z|x)` from
///   `N(0, I)`.
///
/// A training step returns the loss measured before its update, as [`Autoencoder::train_step`]'s does.
///
/// [`Autoencoder::train_step`]: crate::Autoencoder::train_step
///
/// ```
/// use autoencoder::VaeLoss;
/// let loss = VaeLoss { total: 3.0, reconstruction: 2.0, kl: 1.0 };
/// assert_eq!(loss.total, loss.reconstruction + loss.kl); // β = 1
/// assert_eq!(VaeLoss::default().total, 0.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VaeLoss {
    /// `reconstruction + β · kl`: what a training step minimises.
    pub total: f32,
    /// The reconstruction term: per row, the sum over the features of the element loss; averaged over the rows.
    pub reconstruction: f32,
    /// The KL divergence of the encoder's `q(z|x)` from the prior `N(0, I)`, averaged over the rows.
    pub kl: f32,
}
