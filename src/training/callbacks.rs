//! Hooks into the fit loop: the [`Callback`] trait and the [`Control`] it returns, [`PrintProgress`], and early
//! stopping ([`EarlyStopping`], with its running state during a fit).

use super::fit::Trainable;
use super::history::{BatchReport, EpochReport};
use crate::error::Result;
use crate::layers::Layer;
use crate::models::Autoencoder;

/// Stops training when the monitored loss (validation loss if there is validation data, else training loss)
/// has not improved by more than `min_delta` for `patience` epochs; optionally restores the best weights.
///
/// ```
/// use autoencoder::EarlyStopping;
/// let stop = EarlyStopping::new(5).min_delta(1e-4).restore_best(false);
/// assert_eq!(stop.patience(), 5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    patience: usize,
    pub(super) min_delta: f32,
    restore_best: bool,
}

impl EarlyStopping {
    /// Stop after `patience` epochs without improvement; `min_delta` 0 and best weights restored by default.
    ///
    /// ```
    /// assert_eq!(autoencoder::EarlyStopping::new(3).patience(), 3);
    /// ```
    pub fn new(patience: usize) -> EarlyStopping {
        EarlyStopping {
            patience,
            min_delta: 0.0,
            restore_best: true,
        }
    }

    /// The smallest decrease of the loss that counts as an improvement.
    ///
    /// ```
    /// let stop = autoencoder::EarlyStopping::new(3).min_delta(0.01);
    /// # let _ = stop;
    /// ```
    pub fn min_delta(mut self, min_delta: f32) -> EarlyStopping {
        self.min_delta = min_delta;
        self
    }

    /// Whether to put back the weights of the best epoch when training ends (default true).
    ///
    /// ```
    /// let stop = autoencoder::EarlyStopping::new(3).restore_best(false);
    /// # let _ = stop;
    /// ```
    pub fn restore_best(mut self, restore_best: bool) -> EarlyStopping {
        self.restore_best = restore_best;
        self
    }

    /// The number of epochs without improvement that stops training.
    ///
    /// ```
    /// assert_eq!(autoencoder::EarlyStopping::new(4).patience(), 4);
    /// ```
    pub fn patience(&self) -> usize {
        self.patience
    }
}

/// Whether training goes on after a callback.
///
/// ```
/// use autoencoder::{BatchReport, Callback, Control};
/// struct StopOnSmallLoss;
/// impl Callback for StopOnSmallLoss {
///     fn on_batch(&mut self, report: &BatchReport) -> Control {
///         if report.loss < 1e-3 { Control::Stop } else { Control::Continue }
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this batch or epoch.
    Stop,
}

/// Hooks called during [`Autoencoder::fit_with`] (and, as `Callback<Vae>`, during
/// [`Vae::fit_with`](crate::Vae::fit_with)), for progress bars, logging and checkpoints. Both methods do nothing
/// by default. `M` is the model whose [`EpochReport`]s the callback receives; `()` and [`PrintProgress`] serve
/// every model.
///
/// ```
/// use autoencoder::{Callback, Control, EpochReport};
/// struct Log(Vec<f32>);
/// impl Callback for Log {
///     fn on_epoch(&mut self, report: &EpochReport<'_>) -> autoencoder::Result<Control> {
///         self.0.push(report.train_loss);
///         Ok(Control::Continue)
///     }
/// }
/// ```
pub trait Callback<M = Autoencoder> {
    /// Called after each training step.
    fn on_batch(&mut self, _report: &BatchReport) -> Control {
        Control::Continue
    }

    /// Called after each epoch. An error stops training and is returned by `fit_with`.
    fn on_epoch(&mut self, _report: &EpochReport<'_, M>) -> Result<Control> {
        Ok(Control::Continue)
    }
}

/// No callbacks.
impl<M> Callback<M> for () {}

/// Prints one line per epoch to standard error: epoch, training loss, validation loss, seconds (for a VAE each
/// loss with its reconstruction and KL parts).
///
/// ```
/// let mut progress = autoencoder::PrintProgress;
/// # let _ = &mut progress;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PrintProgress;

impl<M> Callback<M> for PrintProgress {
    fn on_epoch(&mut self, r: &EpochReport<'_, M>) -> Result<Control> {
        let parts = |loss: Option<crate::VaeLoss>| {
            loss.map(|l| format!(" (reconstruction {:.6}, kl {:.6})", l.reconstruction, l.kl))
                .unwrap_or_default()
        };
        let validation = r
            .validation_loss
            .map(|v| format!("  validation loss {v:.6}{}", parts(r.validation_vae_loss)))
            .unwrap_or_default();
        eprintln!(
            "epoch {:>3}/{}  train loss {:.6}{}{validation}  {:.2} s",
            r.epoch,
            r.epochs,
            r.train_loss,
            parts(r.train_vae_loss),
            r.seconds
        );
        Ok(Control::Continue)
    }
}

/// Early stopping's running state: the best loss so far, its epoch and its weights.
pub(super) struct EarlyStoppingState {
    config: EarlyStopping,
    best_loss: f32,
    pub(super) best_epoch: Option<usize>,
    best_layers: Option<Vec<Layer>>,
    epochs_without_improvement: usize,
}

impl EarlyStoppingState {
    pub(super) fn new(config: EarlyStopping) -> EarlyStoppingState {
        EarlyStoppingState {
            config,
            best_loss: f32::INFINITY,
            best_epoch: None,
            best_layers: None,
            epochs_without_improvement: 0,
        }
    }

    /// Records an epoch's loss; true when training should stop.
    pub(super) fn observe(&mut self, epoch: usize, loss: f32, model: &impl Trainable) -> bool {
        if loss < self.best_loss - self.config.min_delta {
            self.best_loss = loss;
            self.best_epoch = Some(epoch);
            self.epochs_without_improvement = 0;
            if self.config.restore_best {
                self.best_layers = Some(model.snapshot());
            }
            false
        } else {
            self.epochs_without_improvement += 1;
            self.epochs_without_improvement >= self.config.patience
        }
    }

    /// Puts the best weights back, when asked to and when there were any.
    pub(super) fn restore(self, model: &mut impl Trainable) {
        if let Some(best) = self.best_layers {
            model.restore_layers(best);
        }
    }
}
