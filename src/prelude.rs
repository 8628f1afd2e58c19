//! The types that building, training, saving and loading a model need, for one glob import.
//!
//! `use autoencoder::prelude::*;` brings in the model ([`Autoencoder`], its builder, [`Encoder`], [`Decoder`],
//! [`Dense`], [`Activation`], [`Init`]), training ([`Loss`], the optimizers and the [`Optimizer`] trait,
//! [`FitConfig`], [`FitData`], [`History`], [`EarlyStopping`], callbacks, [`Checkpoint`], [`VaeCheckpoint`]), data
//! ([`Mnist`]) and the crate's [`Error`] and [`Result`] (whose error type defaults to [`Error`], so
//! `Result<T, OtherError>` still works beside it). Modules with functions of their own (`idx`, `image`, `metrics`) stay out: call them by path.
//!
//! ```
//! use autoencoder::prelude::*;
//! use autoencoder::ndarray::Array2;
//!
//! let mut ae = Autoencoder::builder(8).hidden(&[6]).latent(2).seed(1).build()?;
//! let x = Array2::from_shape_fn((16, 8), |(i, j)| ((i + j) % 3) as f32 / 2.0);
//! let history = ae.fit(x.view(), None, &mut Adam::new(1e-2), &FitConfig::new(3).batch_size(8))?;
//! assert_eq!(history.train_loss.len(), 3);
//!
//! let path = std::env::temp_dir().join(format!("prelude-doctest-{}.safetensors", std::process::id()));
//! ae.save(&path)?;
//! assert_eq!(Autoencoder::load(&path)?.latent(), 2);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), Error>(())
//! ```

pub use crate::data::Mnist;
pub use crate::error::{Error, Result};
pub use crate::layers::{Activation, Conv2d, ConvTranspose2d, Dense, Init, Layer, Padding};
pub use crate::loss::Loss;
pub use crate::models::{Autoencoder, AutoencoderBuilder, ConvAutoencoderBuilder, Decoder, Encoder, Vae, VaeLoss};
pub use crate::optim::{Adam, AdamW, Optimizer, OptimizerState, Sgd};
pub use crate::training::{
    BatchReport, Callback, Checkpoint, Control, EarlyStopping, EpochReport, FitConfig, FitData, History, PrintProgress,
    VaeCheckpoint,
};
