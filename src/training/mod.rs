//! Training over a data set and what goes with it: the fit loop ([`fit`]: [`FitConfig`], [`FitData`],
//! [`Autoencoder::fit`](crate::models::Autoencoder::fit), [`Vae::fit`](crate::models::Vae::fit)), its callbacks
//! and early stopping ([`Callback`], [`EarlyStopping`]), the history and reports it gives ([`History`], [`EpochReport`]), [`checkpoint`]s to resume
//! a run, and [`metrics`] to judge the result. Training uses the models, the layers, the optimizers and the
//! losses, and [`crate::io`] for checkpoint files.

pub mod checkpoint;
pub mod fit;
pub mod metrics;

mod batches;
mod callbacks;
mod history;
pub(crate) mod noise;
mod vae_fit;

pub use callbacks::{Callback, Control, EarlyStopping, PrintProgress};
pub use checkpoint::{Checkpoint, VaeCheckpoint};
pub use fit::{FitConfig, FitData};
pub use history::{BatchReport, EpochReport, History};
