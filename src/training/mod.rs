//! Training over a data set and what goes with it: the fit loop ([`fit`]: [`FitConfig`], [`FitData`],
//! [`Autoencoder::fit`](crate::models::Autoencoder::fit)), its callbacks and early stopping, the history it
//! returns, [`checkpoint`]s to resume a run, and [`metrics`] to judge the result. Training uses the models,
//! the layers, the optimizers and the losses, and [`crate::io`] for checkpoint files.

pub mod checkpoint;
pub mod fit;
pub mod metrics;

pub use checkpoint::Checkpoint;
pub use fit::{BatchReport, Callback, Control, EarlyStopping, EpochReport, FitConfig, FitData, History, PrintProgress};
