//! The buffers of a variational autoencoder's training step, and the step's gradients: the encoder forward, the
//! sampling `z = mean + exp(log_var / 2) ⊙ eps`, the decoder forward, the loss, the decoder's backward down to
//! `dL/dz`, the backward through the sampling and the KL term (by hand), then the encoder's backward.

use ndarray::{s, Array2, ArrayView2, Zip};

use super::vae_loss::VaeLoss;
use super::workspace::{Chain, Workspace};
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::loss::Loss;
use crate::optim::Optimizer;

/// The layers' buffers ([`Workspace`], the encoder's and decoder's layers as one chain, named as an
/// autoencoder's) and the latent ones.
#[derive(Clone, Default)]
pub(crate) struct VaeWorkspace {
    workspace: Workspace,
    /// `z`, `(capacity, latent)`: the sample, the decoder's input.
    z: Array2<f32>,
    /// `dL/dz`, `(capacity, latent)`.
    dz: Array2<f32>,
    /// The noise of [`Vae::train_step`](crate::Vae::train_step), drawn into a buffer made once.
    pub(crate) eps: Array2<f32>,
}

impl std::fmt::Debug for VaeWorkspace {
    /// A summary, not the megabytes of scratch.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaeWorkspace {{ {:?} }}", self.workspace)
    }
}

impl VaeWorkspace {
    /// Makes sure the buffers fit `chain` (whose decoder reads `latent` columns) and a batch of `batch` rows;
    /// allocates only when they do not.
    pub(crate) fn prepare(&mut self, chain: Chain<'_>, latent: usize, batch: usize) -> Result<()> {
        self.workspace.prepare(chain, batch)?;
        if self.z.nrows() < batch || self.z.ncols() != latent {
            let rows = batch.max(self.z.nrows());
            self.z = Array2::zeros((rows, latent));
            self.dz = Array2::zeros((rows, latent));
        }
        if self.eps.nrows() < batch || self.eps.ncols() != latent {
            self.eps = Array2::zeros((batch.max(self.eps.nrows()), latent));
        }
        Ok(())
    }

    /// The loss of the chain on `input` against `target` with the noise `eps` (`(n, latent)`), with every layer's
    /// `dL/dW` and `dL/db` stored. Errors with [`Error::NonFinite`] when the loss (then before backward) or a
    /// gradient is NaN or infinite. `input` in standard layout when the first layer is a convolution; the buffers
    /// prepared for the batch.
    pub(crate) fn gradients(
        &mut self,
        chain: Chain<'_>,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        eps: ArrayView2<f32>,
        loss: Loss,
        beta: f32,
    ) -> Result<VaeLoss> {
        let n = input.nrows();
        let (top, last) = (chain.first.len() - 1, chain.len() - 1);
        let latent = eps.ncols();
        let scale = 1.0 / n as f32;

        // Encoder, then z = mean + exp(log_var / 2) ⊙ eps and the KL term.
        self.workspace.forward_part(chain, 0..top + 1, input);
        let heads = self.workspace.output(top, n);
        let (mean, log_var) = (heads.slice(s![.., ..latent]), heads.slice(s![.., latent..]));
        let mut kl_sum = 0.0_f64;
        Zip::from(self.z.slice_mut(s![..n, ..]))
            .and(mean)
            .and(log_var)
            .and(eps)
            .for_each(|z, &m, &lv, &e| {
                *z = m + (0.5 * lv).exp() * e;
                kl_sum += f64::from(1.0 + lv - m * m - lv.exp());
            });
        let kl = (-0.5 * kl_sum / n as f64) as f32;

        // Decoder and the reconstruction term: the crate's losses are means over every element, the VAE's a sum
        // over the features, so both the value and the gradient are the features times the mean's.
        self.workspace
            .forward_part(chain, top + 1..last + 1, self.z.slice(s![..n, ..]));
        let features = target.ncols() as f32;
        let reconstruction = self.workspace.loss(loss, target)? * features;
        let total = reconstruction + beta * kl;
        if !total.is_finite() {
            return Err(Error::NonFinite {
                what: "loss",
                value: total,
            });
        }
        self.workspace.output_and_grad(last, n).1.mapv_inplace(|g| g * features);

        // Decoder backward down to dL/dz.
        self.workspace.sweep_top(chain, last, n);
        self.workspace.backward_part(
            chain,
            top + 1..last + 1,
            self.z.slice(s![..n, ..]),
            Some(self.dz.slice_mut(s![..n, ..])),
        );

        // Through the sampling and the KL term, into the encoder's dL/dy:
        // dL/dmean = dL/dz + β mean / B; dL/dlog_var = dL/dz ⊙ eps ⊙ ½ exp(log_var / 2) + β ½ (exp(log_var) − 1) / B.
        let (heads, mut grad) = self.workspace.output_and_grad(top, n);
        let (mean, log_var) = (heads.slice(s![.., ..latent]), heads.slice(s![.., latent..]));
        let (grad_mean, grad_log_var) = grad.view_mut().split_at(ndarray::Axis(1), latent);
        let dz = self.dz.slice(s![..n, ..]);
        Zip::from(grad_mean)
            .and(grad_log_var)
            .and(mean)
            .and(log_var)
            .and(dz)
            .and(eps)
            .for_each(|gm, glv, &m, &lv, &d, &e| {
                *gm = d + beta * m * scale;
                *glv = d * e * 0.5 * (0.5 * lv).exp() + beta * 0.5 * (lv.exp() - 1.0) * scale;
            });

        // Encoder backward.
        self.workspace.sweep_top(chain, top, n);
        self.workspace.backward_part(chain, 0..top + 1, input, None);
        self.workspace.check_gradients()?;
        Ok(VaeLoss {
            total,
            reconstruction,
            kl,
        })
    }

    /// Applies the gradients to the layers, as [`Workspace::apply`] does (same errors, same guarantees).
    pub(crate) fn apply(
        &mut self,
        first: &mut [Layer],
        second: &mut [Layer],
        optimizer: &mut impl Optimizer,
    ) -> Result<()> {
        self.workspace.apply(first, second, optimizer)
    }
}
