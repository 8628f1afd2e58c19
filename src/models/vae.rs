//! The variational autoencoder: an [`Encoder`] whose last layer gives the mean and the log-variance of `q(z|x)`,
//! and a [`Decoder`] from a sample `z`; with inference (`encode`, `decode`, `reconstruct`, `generate`) and the
//! training step, whose backward through the sampling and the KL term is written by hand.
//!
//! ```
//! use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, Init, Loss, Vae};
//! use autoencoder::ndarray::Array2;
//! use autoencoder::rand::{rngs::StdRng, SeedableRng};
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let encoder = Encoder::new(vec![
//!     Dense::new(8, 16, Activation::Relu, Init::GlorotUniform, &mut rng)?,
//!     Dense::new(16, 2 * 2, Activation::Identity, Init::GlorotUniform, &mut rng)?, // mean and log-variance
//! ])?;
//! let decoder = Decoder::new(vec![
//!     Dense::new(2, 16, Activation::Relu, Init::GlorotUniform, &mut rng)?,
//!     Dense::new(16, 8, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?,
//! ])?;
//! let mut vae = Vae::new(encoder, decoder)?;
//! assert_eq!(vae.latent(), 2);
//!
//! let x = Array2::from_shape_fn((16, 8), |(i, j)| ((i + j) % 2) as f32);
//! let mut adam = Adam::new(0.01);
//! let first = vae.train_step(x.view(), x.view(), Loss::BinaryCrossEntropy, &mut adam, &mut rng)?;
//! for _ in 0..200 {
//!     vae.train_step(x.view(), x.view(), Loss::BinaryCrossEntropy, &mut adam, &mut rng)?;
//! }
//! let last = vae.evaluate(x.view(), Loss::BinaryCrossEntropy)?;
//! assert!(last.total < first.total / 2.0);
//! assert_eq!(vae.generate(5, &mut rng)?.dim(), (5, 8));
//! # Ok::<(), autoencoder::Error>(())
//! ```

use ndarray::{s, Array1, Array2, ArrayView2, Zip};
use ndarray_rand::rand::Rng;
use ndarray_rand::rand_distr::{Distribution, StandardNormal};
use ndarray_rand::RandomExt;

use super::vae_loss::VaeLoss;
use super::vae_workspace::VaeWorkspace;
use super::workspace::Chain;
use super::{parts, Decoder, Encoder};
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::loss::{mean_squared_error_per_row, Loss};
use crate::matmul::on_pool;
use crate::optim::Optimizer;

/// A variational autoencoder (Kingma & Welling): the encoder maps `x` to the mean and the log-variance of a
/// Gaussian `q(z|x)` over the latent space (its last layer has `2 · latent` outputs: the first `latent` the mean,
/// the last `latent` the log-variance; one layer for both heads is the same as two heads), and the decoder maps
/// a sample `z = mean + exp(log_var / 2) ⊙ eps`, `eps ~ N(0, I)`, back. Trained on [`VaeLoss`]'s
/// `reconstruction + β · kl`, its latent space has no holes: decoding `z ~ N(0, I)` gives new samples
/// ([`generate`](Self::generate)).
///
/// A clone copies the layers and β, not the training buffers; `{:?}` shows the layers and β, not the buffers.
///
/// ```
/// use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
/// use autoencoder::ndarray::{Array1, Array2};
/// let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
/// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?.with_beta(4.0);
/// assert_eq!((vae.inputs(), vae.latent(), vae.beta()), (6, 2, 4.0));
/// assert!(!format!("{vae:?}").contains("Workspace"));
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub struct Vae {
    encoder: Encoder,
    decoder: Decoder,
    beta: f32,
    /// Training buffers, made on the first training step and reused by the next ones.
    buffers: VaeWorkspace,
}

impl std::fmt::Debug for Vae {
    /// The layers and β; not the training buffers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vae")
            .field("encoder", &self.encoder)
            .field("decoder", &self.decoder)
            .field("beta", &self.beta)
            .finish_non_exhaustive()
    }
}

impl Clone for Vae {
    fn clone(&self) -> Vae {
        Vae {
            encoder: self.encoder.clone(),
            decoder: self.decoder.clone(),
            beta: self.beta,
            buffers: VaeWorkspace::default(),
        }
    }
}

impl PartialEq for Vae {
    /// Two VAEs are equal when their layers and β are (the training buffers do not count).
    fn eq(&self, other: &Vae) -> bool {
        self.encoder == other.encoder && self.decoder == other.decoder && self.beta == other.beta
    }
}

impl Vae {
    /// A VAE from an encoder with `2 · latent` outputs (mean, then log-variance) and a decoder with `latent`
    /// inputs and as many outputs as the encoder has inputs; β = 1. Errors otherwise.
    ///
    /// ```
    /// use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// use autoencoder::ndarray::{Array1, Array2};
    /// let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let encoder = Encoder::new(vec![dense(6, 4)?])?;
    /// assert!(Vae::new(encoder.clone(), Decoder::new(vec![dense(2, 6)?])?).is_ok());
    /// assert!(Vae::new(encoder.clone(), Decoder::new(vec![dense(4, 6)?])?).is_err()); // 4 outputs: latent 2
    /// assert!(Vae::new(encoder, Decoder::new(vec![dense(2, 5)?])?).is_err()); // output
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn new(encoder: Encoder, decoder: Decoder) -> Result<Vae> {
        if encoder.latent() != 2 * decoder.latent() {
            return Err(Error::shape(
                "Vae::new (encoder outputs vs 2 x decoder inputs: mean and log-variance)",
                2 * decoder.latent(),
                encoder.latent(),
            ));
        }
        if decoder.outputs() != encoder.inputs() {
            return Err(Error::shape(
                "Vae::new (decoder outputs vs encoder inputs)",
                encoder.inputs(),
                decoder.outputs(),
            ));
        }
        Ok(Vae {
            encoder,
            decoder,
            beta: 1.0,
            buffers: VaeWorkspace::default(),
        })
    }

    /// The same VAE with the KL term weighted by `beta` (a β-VAE; β = 1 is the plain VAE). A training step
    /// errors when β is negative or not finite.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// assert_eq!(vae.beta(), 1.0);
    /// assert_eq!(vae.with_beta(0.5).beta(), 0.5);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn with_beta(mut self, beta: f32) -> Vae {
        self.beta = beta;
        self
    }

    /// β, the weight of the KL term.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?.with_beta(2.0);
    /// assert_eq!(vae.beta(), 2.0);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn beta(&self) -> f32 {
        self.beta
    }

    /// The encoder (its last layer gives the mean and the log-variance).
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// assert_eq!(vae.encoder().latent(), 4);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The decoder.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// assert_eq!(vae.decoder().latent(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Takes the encoder and the decoder back.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let (encoder, decoder) = vae.into_parts();
    /// assert_eq!((encoder.latent(), decoder.latent()), (4, 2));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn into_parts(self) -> (Encoder, Decoder) {
        (self.encoder, self.decoder)
    }

    /// Every parameter tensor with its name ([`names`](crate::models::names): `encoder.0.weight`, ..., as an
    /// [`Autoencoder`](crate::Autoencoder)'s), in the order a training step updates them; the values flattened in
    /// row-major order. The names key the optimizer's state.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let names: Vec<String> = vae.named_parameters().map(|(name, _)| name).collect();
    /// assert_eq!(names, ["encoder.0.weight", "encoder.0.bias", "decoder.0.weight", "decoder.0.bias"]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn named_parameters(&self) -> impl Iterator<Item = (String, &[f32])> {
        parts::named_parameters(&self.encoder, &self.decoder)
    }

    /// The input (and output) size.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// assert_eq!(vae.inputs(), 6);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn inputs(&self) -> usize {
        self.encoder.inputs()
    }

    /// The latent size: the decoder's inputs, half the encoder's outputs.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// assert_eq!(vae.latent(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn latent(&self) -> usize {
        self.decoder.latent()
    }

    /// The number of trainable parameters.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// assert_eq!(vae.parameter_count(), 6 * 4 + 4 + 2 * 6 + 6);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn parameter_count(&self) -> usize {
        self.layers().map(Layer::parameter_count).sum()
    }

    /// The mean and the log-variance of `q(z|x)` for a batch `(batch, inputs)`, each `(batch, latent)`. Errors on
    /// a wrong column count.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let (mean, log_var) = vae.encode(Array2::zeros((3, 6)).view())?;
    /// assert_eq!((mean.dim(), log_var.dim()), ((3, 2), (3, 2)));
    /// assert!(vae.encode(Array2::zeros((3, 5)).view()).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn encode(&self, x: ArrayView2<f32>) -> Result<(Array2<f32>, Array2<f32>)> {
        let heads = self.encoder.encode(x)?;
        let latent = self.latent();
        Ok((
            heads.slice(s![.., ..latent]).to_owned(),
            heads.slice(s![.., latent..]).to_owned(),
        ))
    }

    /// The decoded outputs `(batch, inputs)` of latent samples `(batch, latent)`. Errors on a wrong column count.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// assert_eq!(vae.decode(Array2::zeros((3, 2)).view())?.dim(), (3, 6));
    /// assert!(vae.decode(Array2::zeros((3, 4)).view()).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn decode(&self, z: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.decoder.decode(z)
    }

    /// `decode(mean)`: the deterministic reconstruction.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// assert_eq!(vae.reconstruct(Array2::zeros((3, 6)).view())?.dim(), (3, 6));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let (mean, _) = self.encode(x)?;
        self.decode(mean.view())
    }

    /// `n` new samples `(n, inputs)`: the decoded `z ~ N(0, I)`, drawn from `rng`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let samples = vae.generate(10, &mut StdRng::seed_from_u64(0))?;
    /// assert_eq!(samples.dim(), (10, 6));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn generate<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<Array2<f32>> {
        let z = Array2::random_using((n, self.latent()), StandardNormal, rng);
        self.decode(z.view())
    }

    /// The loss on `x` against itself with `z = mean` (no noise: deterministic), and its two parts. Errors on a
    /// wrong column count or an empty batch.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Loss, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let x = Array2::from_elem((3, 6), 0.5);
    /// let loss = vae.evaluate(x.view(), Loss::Mse)?;
    /// // zero weights: mean 0 and log-variance 0 (the prior itself, KL 0), reconstruction 0: 6 features × 0.25
    /// assert_eq!((loss.total, loss.reconstruction, loss.kl), (1.5, 1.5, 0.0));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn evaluate(&self, x: ArrayView2<f32>, loss: Loss) -> Result<VaeLoss> {
        self.evaluate_against(x, x, loss)
    }

    /// [`evaluate`](Self::evaluate) with the reconstructions of `input` scored against `target` (a denoising
    /// VAE's validation data).
    pub(crate) fn evaluate_against(
        &self,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        loss: Loss,
    ) -> Result<VaeLoss> {
        self.check_batch("evaluate", input, target)?;
        let (mean, log_var) = self.encode(input)?;
        let reconstructed = self.decode(mean.view())?;
        let reconstruction = loss.value(reconstructed.view(), target)? * target.ncols() as f32;
        let kl = kl(mean.view(), log_var.view());
        Ok(VaeLoss {
            total: reconstruction + self.beta * kl,
            reconstruction,
            kl,
        })
    }

    /// The mean squared error between each sample and its reconstruction (`decode(mean)`), `(batch)`: the anomaly
    /// score, as [`Autoencoder::reconstruction_error`](crate::Autoencoder::reconstruction_error)'s.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let errors = vae.reconstruction_error(Array2::from_elem((3, 6), 0.5).view())?;
    /// assert_eq!(errors.to_vec(), [0.25; 3]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn reconstruction_error(&self, x: ArrayView2<f32>) -> Result<Array1<f32>> {
        Ok(mean_squared_error_per_row(self.reconstruct(x)?, x))
    }

    /// One gradient step on this batch towards `target` (the input itself, or the clean image when denoising),
    /// with the noise `eps` `(batch, latent)` of the sample `z = mean + exp(log_var / 2) ⊙ eps`; returns the loss
    /// ([`VaeLoss`]) measured before the update. The gradient goes through the sampling to both heads:
    /// `dL/dmean = dL/dz + β · mean / B` and `dL/dlog_var = dL/dz ⊙ eps ⊙ ½ exp(log_var / 2) + β · ½ (exp(log_var) − 1) / B`.
    ///
    /// Errors, leaving the weights unchanged, on everything
    /// [`Autoencoder::train_step`](crate::Autoencoder::train_step) refuses (shape mismatches, an empty batch,
    /// invalid optimizer settings, an optimizer state made for another model, [`Error::NonFinite`] for a NaN or
    /// infinite loss, gradient or update), on `eps` of another shape than `(batch, latent)`, and on a negative or
    /// non-finite β. Once the buffers exist (after the first step at the largest batch size), a step allocates
    /// nothing.
    ///
    /// ```
    /// use autoencoder::{Activation, Decoder, Dense, Encoder, Init, Loss, Sgd, Vae};
    /// use autoencoder::ndarray::Array2;
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let mut rng = StdRng::seed_from_u64(1);
    /// let encoder = Encoder::new(vec![Dense::new(4, 2, Activation::Identity, Init::GlorotUniform, &mut rng)?])?;
    /// let decoder = Decoder::new(vec![Dense::new(1, 4, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?])?;
    /// let mut vae = Vae::new(encoder, decoder)?;
    /// let x = Array2::from_elem((3, 4), 0.25_f32);
    /// let mut sgd = Sgd::new(0.1);
    /// let eps = Array2::zeros((3, 1)); // z = mean: the deterministic loss
    /// let loss = vae.train_step_with_noise(x.view(), x.view(), eps.view(), Loss::Mse, &mut sgd)?;
    /// assert!((loss.total - (loss.reconstruction + loss.kl)).abs() < 1e-6);
    /// assert!(vae.train_step_with_noise(x.view(), x.view(), Array2::zeros((3, 2)).view(), Loss::Mse, &mut sgd).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn train_step_with_noise(
        &mut self,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        eps: ArrayView2<f32>,
        loss: Loss,
        optimizer: &mut impl Optimizer,
    ) -> Result<VaeLoss> {
        self.check_batch("train_step", input, target)?;
        if eps.dim() != (input.nrows(), self.latent()) {
            return Err(Error::shape(
                "Vae::train_step_with_noise (eps vs (batch, latent))",
                format!("{:?}", (input.nrows(), self.latent())),
                format!("{:?}", eps.dim()),
            ));
        }
        self.prepare(input.nrows())?;
        let mut buffers = std::mem::take(&mut self.buffers);
        let result = self.step(&mut buffers, input, target, eps, loss, optimizer);
        self.buffers = buffers;
        result
    }

    /// One gradient step as [`train_step_with_noise`](Self::train_step_with_noise), the noise `eps ~ N(0, I)`
    /// drawn from `rng` (row by row, `latent` values a row), into a buffer made once.
    ///
    /// ```
    /// use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, Init, Loss, Vae};
    /// use autoencoder::ndarray::Array2;
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let mut rng = StdRng::seed_from_u64(2);
    /// let encoder = Encoder::new(vec![Dense::new(4, 2, Activation::Identity, Init::GlorotUniform, &mut rng)?])?;
    /// let decoder = Decoder::new(vec![Dense::new(1, 4, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?])?;
    /// let mut vae = Vae::new(encoder, decoder)?;
    /// let x = Array2::from_elem((8, 4), 0.9_f32);
    /// let mut adam = Adam::new(0.05);
    /// let first = vae.train_step(x.view(), x.view(), Loss::BinaryCrossEntropy, &mut adam, &mut rng)?;
    /// for _ in 0..100 {
    ///     vae.train_step(x.view(), x.view(), Loss::BinaryCrossEntropy, &mut adam, &mut rng)?;
    /// }
    /// assert!(vae.evaluate(x.view(), Loss::BinaryCrossEntropy)?.total < first.total);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn train_step<R: Rng + ?Sized>(
        &mut self,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        loss: Loss,
        optimizer: &mut impl Optimizer,
        rng: &mut R,
    ) -> Result<VaeLoss> {
        self.check_batch("train_step", input, target)?;
        let n = input.nrows();
        self.prepare(n)?;
        let mut buffers = std::mem::take(&mut self.buffers);
        let mut eps = std::mem::take(&mut buffers.eps);
        eps.slice_mut(s![..n, ..])
            .iter_mut()
            .for_each(|e| *e = StandardNormal.sample(rng));
        let result = self.step(&mut buffers, input, target, eps.slice(s![..n, ..]), loss, optimizer);
        buffers.eps = eps;
        self.buffers = buffers;
        result
    }

    /// Makes the training buffers fit a batch of `batch` rows.
    fn prepare(&mut self, batch: usize) -> Result<()> {
        let chain = Chain {
            first: self.encoder.layers(),
            second: self.decoder.layers(),
        };
        self.buffers.prepare(chain, self.decoder.latent(), batch)
    }

    /// The step itself, on checked shapes and prepared `buffers` (taken out of `self` for the step).
    fn step(
        &mut self,
        buffers: &mut VaeWorkspace,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        eps: ArrayView2<f32>,
        loss: Loss,
        optimizer: &mut impl Optimizer,
    ) -> Result<VaeLoss> {
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "Vae: beta must be finite and not negative, not {}",
                self.beta
            )));
        }
        optimizer.check()?;
        let input = parts::as_encoder_reads(&self.encoder, input);
        let input = input.view();
        let beta = self.beta;
        // One hand-over to the thread pool for the whole step: forward, loss, backward, the checks, the update.
        on_pool(|| {
            let chain = Chain {
                first: self.encoder.layers(),
                second: self.decoder.layers(),
            };
            let value = buffers.gradients(chain, input, target, eps, loss, beta)?;
            buffers.apply(self.encoder.layers_mut(), self.decoder.layers_mut(), optimizer)?;
            Ok(value)
        })
    }

    /// Every layer, the encoder's then the decoder's.
    pub(crate) fn layers(&self) -> impl Iterator<Item = &Layer> {
        parts::layers(&self.encoder, &self.decoder)
    }

    /// Replaces every layer (encoder's then decoder's) with `layers`, which must have the same shapes (they come
    /// from `self.layers()` earlier, e.g. early stopping's best weights).
    pub(crate) fn set_layers(&mut self, layers: Vec<Layer>) {
        parts::set_layers(&mut self.encoder, &mut self.decoder, layers)
    }

    /// Checks a batch of inputs and targets: `input` `(n, inputs)` with `n > 0`, `target` `(n, inputs)`.
    pub(crate) fn check_batch(&self, context: &str, input: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<()> {
        parts::check_batch(context, (self.inputs(), self.inputs()), input, target)
    }
}

/// `(1/B) Σ_rows −½ Σ_j (1 + log_var − mean² − exp(log_var))`, summed in `f64`.
fn kl(mean: ArrayView2<f32>, log_var: ArrayView2<f32>) -> f32 {
    let mut sum = 0.0_f64;
    Zip::from(mean).and(log_var).for_each(|&m, &lv| {
        sum += f64::from(1.0 + lv - m * m - lv.exp());
    });
    (-0.5 * sum / mean.nrows() as f64) as f32
}
