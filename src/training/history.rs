//! What the fit loop reports: the [`History`] of a run, and the [`BatchReport`] and [`EpochReport`] that
//! callbacks receive. The same types serve [`Autoencoder::fit`] and [`Vae::fit`](crate::Vae::fit): a VAE's
//! fit fills in, besides each total, its two parts ([`VaeLoss`]), which stay empty (or `None`) for a plain
//! autoencoder.

use std::time::Instant;

use crate::models::{Autoencoder, VaeLoss};
use crate::optim::Optimizer;

/// What happened in training, epoch by epoch.
///
/// ```
/// # use autoencoder::{Adam, Autoencoder, FitConfig};
/// # use autoencoder::ndarray::Array2;
/// # let x = Array2::from_elem((8, 4), 0.5_f32);
/// # let mut ae = Autoencoder::builder(4).latent(2).build()?;
/// let history = ae.fit(x.view(), Some(x.view()), &mut Adam::new(1e-3), &FitConfig::new(2))?;
/// assert_eq!((history.first_epoch, history.train_loss.len(), history.validation_loss.len()), (1, 2, 2));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The epoch number (1-based) of the first entry: `start_epoch + 1`.
    pub first_epoch: usize,
    /// Mean training loss of each epoch (over its batches, weighted by batch size; for an epoch that a callback
    /// stopped mid-way, over the batches that ran).
    pub train_loss: Vec<f32>,
    /// Validation loss after each epoch; empty without validation data, and none for an epoch that a callback
    /// stopped mid-way.
    pub validation_loss: Vec<f32>,
    /// Wall-clock seconds of each epoch (training and validation).
    pub epoch_seconds: Vec<f64>,
    /// A [`Vae`](crate::Vae)'s fit only (empty otherwise): the reconstruction part of each epoch's training loss,
    /// averaged as [`train_loss`](Self::train_loss) is; `train_loss = train_reconstruction + β · train_kl`.
    pub train_reconstruction: Vec<f32>,
    /// A [`Vae`](crate::Vae)'s fit only (empty otherwise): the KL part of each epoch's training loss.
    pub train_kl: Vec<f32>,
    /// A [`Vae`](crate::Vae)'s fit with validation data only (empty otherwise): the reconstruction part of each
    /// validation loss (deterministic: `z = mean`), one per entry of [`validation_loss`](Self::validation_loss).
    pub validation_reconstruction: Vec<f32>,
    /// A [`Vae`](crate::Vae)'s fit with validation data only (empty otherwise): the KL part of each validation
    /// loss.
    pub validation_kl: Vec<f32>,
    /// The epoch (1-based) with the best monitored loss, when early stopping was on.
    pub best_epoch: Option<usize>,
    /// Whether training ended before the last epoch (early stopping or a callback).
    pub stopped_early: bool,
}

/// After each training step: where training is and the batch's loss.
///
/// ```
/// use autoencoder::{BatchReport, Callback, Control};
/// struct Losses(Vec<f32>);
/// impl Callback for Losses {
///     fn on_batch(&mut self, report: &BatchReport) -> Control {
///         self.0.push(report.loss);
///         Control::Continue
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchReport {
    /// The epoch, 1-based.
    pub epoch: usize,
    /// The batch within the epoch, 1-based.
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// The batch's loss, before its update.
    pub loss: f32,
    /// A [`Vae`](crate::Vae)'s fit only: the batch's loss and its two parts (`vae_loss.total == loss`); `None` for
    /// a plain autoencoder.
    pub vae_loss: Option<VaeLoss>,
}

/// After each epoch: its losses and time, with the model and optimizer as they are (for checkpoints).
///
/// `M` is the model being fitted: [`Autoencoder`] by default, [`Vae`](crate::Vae) in
/// [`Vae::fit_with`](crate::Vae::fit_with) (whose reports also carry the two parts of the losses).
///
/// ```
/// use autoencoder::{Callback, Control, EpochReport};
/// struct SaveBest(f32);
/// impl Callback for SaveBest {
///     fn on_epoch(&mut self, report: &EpochReport<'_>) -> autoencoder::Result<Control> {
///         let loss = report.validation_loss.unwrap_or(report.train_loss);
///         if loss < self.0 {
///             self.0 = loss; // e.g. report.autoencoder.save("best.safetensors")?
///         }
///         Ok(Control::Continue)
///     }
/// }
/// ```
pub struct EpochReport<'a, M = Autoencoder> {
    /// The epoch, 1-based.
    pub epoch: usize,
    /// The last epoch training will run.
    pub epochs: usize,
    /// Mean training loss of the epoch.
    pub train_loss: f32,
    /// Validation loss, with validation data.
    pub validation_loss: Option<f32>,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
    /// The model after this epoch (an [`Autoencoder`], or a [`Vae`](crate::Vae) when a VAE is fitted).
    pub autoencoder: &'a M,
    /// The optimizer after this epoch (its `state()` goes into a checkpoint).
    pub optimizer: &'a dyn Optimizer,
    /// A [`Vae`](crate::Vae)'s fit only: the epoch's mean training loss and its two parts; `None` for a plain
    /// autoencoder.
    pub train_vae_loss: Option<VaeLoss>,
    /// A [`Vae`](crate::Vae)'s fit with validation data only: the validation loss and its two parts.
    pub validation_vae_loss: Option<VaeLoss>,
}

impl History {
    /// Records an epoch: its training loss, its validation loss when there is one (each with its parts for a VAE),
    /// and its time.
    pub(super) fn push(&mut self, train: Losses, validation: Option<Losses>, started: Instant) {
        self.train_loss.push(train.total);
        if let Some(parts) = train.parts {
            self.train_reconstruction.push(parts.reconstruction);
            self.train_kl.push(parts.kl);
        }
        if let Some(validation) = validation {
            self.validation_loss.push(validation.total);
            if let Some(parts) = validation.parts {
                self.validation_reconstruction.push(parts.reconstruction);
                self.validation_kl.push(parts.kl);
            }
        }
        self.epoch_seconds.push(started.elapsed().as_secs_f64());
    }
}

/// A loss as the fit loop tracks it: the total, and for a VAE its parts too.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Losses {
    pub(super) total: f32,
    pub(super) parts: Option<VaeLoss>,
}
