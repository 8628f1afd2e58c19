//! [`Vae::fit`] and [`Vae::fit_with`]: a variational autoencoder trained by the same loop as
//! [`Autoencoder::fit`](crate::Autoencoder::fit) (one definition, `fit::run`), with the same [`FitConfig`] and
//! [`FitData`].
//!
//! The noise `eps` of the sampling `z = mean + exp(log_var / 2) ⊙ eps` comes from each epoch's generator, the one
//! seeded from `(seed, epoch)` that shuffles the epoch (drawn after the shuffle, batch by batch; the input noise,
//! if any, is counter-based and draws nothing from it): the same seed gives the same weights, and a run resumed at
//! epoch `k`
//! ([`FitConfig::start_epoch`]) draws the very `eps` that an uninterrupted run draws in epochs `k + 1, ...`.

use ndarray::ArrayView2;
use ndarray_rand::rand::rngs::StdRng;

use super::fit::{run, Trainable};
use super::history::Losses;
use super::{Callback, FitConfig, FitData, History};
use crate::error::Result;
use crate::layers::Layer;
use crate::loss::Loss;
use crate::models::Vae;
use crate::optim::Optimizer;

impl Vae {
    /// Trains on `train` (each sample its own target) with the noise of the sampling drawn from generators seeded
    /// from `config`'s seed, scoring `validation` (deterministically, `z = mean`) after every epoch when given.
    /// Everything else is as in [`Autoencoder::fit`](crate::Autoencoder::fit): the shuffling, the batches, early
    /// stopping (on the total loss), the errors ([`Error::Diverged`](crate::Error::Diverged) when a loss, a
    /// gradient or an update turns NaN or infinite). The [`History`] has, besides each epoch's total, its
    /// reconstruction and KL parts ([`History::train_reconstruction`], [`History::train_kl`], and
    /// [`History::validation_reconstruction`], [`History::validation_kl`] with validation data).
    ///
    /// ```
    /// use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, FitConfig, Init, Loss, Vae};
    /// use autoencoder::ndarray::Array2;
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let mut rng = StdRng::seed_from_u64(0);
    /// let encoder = Encoder::new(vec![
    ///     Dense::new(6, 8, Activation::Relu, Init::GlorotUniform, &mut rng)?,
    ///     Dense::new(8, 2 * 2, Activation::Identity, Init::GlorotUniform, &mut rng)?,
    /// ])?;
    /// let decoder = Decoder::new(vec![Dense::new(2, 6, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?])?;
    /// let mut vae = Vae::new(encoder, decoder)?;
    /// let x = Array2::from_shape_fn((32, 6), |(i, j)| ((i + j) % 2) as f32);
    /// let config = FitConfig::new(20).batch_size(8).seed(3).loss(Loss::BinaryCrossEntropy);
    /// let history = vae.fit(x.view(), Some(x.view()), &mut Adam::new(1e-2), &config)?;
    /// assert_eq!((history.train_loss.len(), history.train_kl.len(), history.validation_kl.len()), (20, 20, 20));
    /// assert!(history.train_loss[19] < history.train_loss[0]);
    /// let (total, parts) = (history.train_loss[3], history.train_reconstruction[3] + history.train_kl[3]);
    /// assert!((total - parts).abs() < 1e-4 * total); // β = 1
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn fit(
        &mut self,
        train: ArrayView2<f32>,
        validation: Option<ArrayView2<f32>>,
        optimizer: &mut impl Optimizer,
        config: &FitConfig,
    ) -> Result<History> {
        let mut data = FitData::autoencoding(train);
        if let Some(validation) = validation {
            data = data.with_validation(validation, validation);
        }
        self.fit_with(data, optimizer, config, &mut ())
    }

    /// Trains on `data` (with its targets and validation pairs: e.g. a denoising VAE) with `callback` called
    /// after every batch and epoch; the reports carry the parts of the losses
    /// ([`BatchReport::vae_loss`](crate::BatchReport::vae_loss),
    /// [`EpochReport::train_vae_loss`](crate::EpochReport::train_vae_loss), ...) and the VAE itself
    /// ([`EpochReport::autoencoder`](crate::EpochReport::autoencoder), a `&Vae`). See [`fit`](Self::fit).
    ///
    /// ```
    /// use autoencoder::{Activation, Adam, Callback, Control, Decoder, Dense, Encoder, EpochReport, FitConfig};
    /// use autoencoder::{FitData, Init, Vae};
    /// use autoencoder::ndarray::Array2;
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// /// Keeps each epoch's KL term, and stops once it is small.
    /// struct Kl(Vec<f32>);
    /// impl Callback<Vae> for Kl {
    ///     fn on_epoch(&mut self, report: &EpochReport<'_, Vae>) -> autoencoder::Result<Control> {
    ///         let kl = report.train_vae_loss.expect("a VAE's report has the parts").kl;
    ///         self.0.push(kl);
    ///         assert_eq!(report.autoencoder.latent(), 1);
    ///         Ok(if kl < 1e-6 { Control::Stop } else { Control::Continue })
    ///     }
    /// }
    /// let mut rng = StdRng::seed_from_u64(1);
    /// let encoder = Encoder::new(vec![Dense::new(4, 2, Activation::Identity, Init::GlorotUniform, &mut rng)?])?;
    /// let decoder = Decoder::new(vec![Dense::new(1, 4, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?])?;
    /// let mut vae = Vae::new(encoder, decoder)?.with_beta(2.0);
    /// let x = Array2::from_elem((16, 4), 0.5_f32);
    /// let mut kl = Kl(Vec::new());
    /// let config = FitConfig::new(5).batch_size(4);
    /// let history = vae.fit_with(FitData::autoencoding(x.view()), &mut Adam::new(1e-2), &config, &mut kl)?;
    /// assert_eq!(kl.0, history.train_kl);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn fit_with<O: Optimizer>(
        &mut self,
        data: FitData<'_>,
        optimizer: &mut O,
        config: &FitConfig,
        callback: &mut impl Callback<Vae>,
    ) -> Result<History> {
        run(self, data, optimizer, config, callback)
    }
}

impl Trainable for Vae {
    fn check_batch(&self, context: &str, input: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<()> {
        Vae::check_batch(self, context, input, target)
    }

    fn fit_step<O: Optimizer>(
        &mut self,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        loss: Loss,
        optimizer: &mut O,
        rng: &mut StdRng,
    ) -> Result<Losses> {
        let parts = self.train_step(input, target, loss, optimizer, rng)?;
        Ok(Losses {
            total: parts.total,
            parts: Some(parts),
        })
    }

    fn fit_evaluate(&self, input: ArrayView2<f32>, target: ArrayView2<f32>, loss: Loss) -> Result<Losses> {
        let parts = self.evaluate_against(input, target, loss)?;
        Ok(Losses {
            total: parts.total,
            parts: Some(parts),
        })
    }

    fn snapshot(&self) -> Vec<Layer> {
        self.layers().cloned().collect()
    }

    fn restore_layers(&mut self, layers: Vec<Layer>) {
        self.set_layers(layers);
    }
}
