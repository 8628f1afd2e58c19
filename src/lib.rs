//! # autoencoder
//!
//! Autoencoders from scratch on [`ndarray`]: dense and convolution layers, activations, losses, hand-written
//! backpropagation and optimizers, a parser for the IDX files that MNIST ships in, PNG pictures read into arrays
//! and cut into patches, and a small Encoder / Decoder / Autoencoder API.
//!
//! ## Conventions
//! - Numbers are `f32`; a batch is an `Array2<f32>` of shape `(batch, features)`, one sample per row.
//! - A dense layer computes `y = act(x · W + b)` with `W` of shape `(inputs, outputs)` and `b` of shape
//!   `(outputs)`: Keras' kernel layout, so weights exchange with Keras without a transpose.
//! - Images are rows of `h * w * c` values in HWC order (channels last, as MNIST and Keras store them), so a
//!   `Dense` after a convolution reads its output as Keras' `Flatten` does. Convolution kernels have Keras'
//!   layouts and [`Padding`] Keras' rules ([`layers`]).
//! - Losses are the mean over every element of the batch (Keras' and PyTorch's default reduction); a [`Vae`]'s
//!   reconstruction term sums over the features and averages over the rows, as the book's does ([`VaeLoss`]).
//!
//! ## Imports
//! The common types are re-exported at the root (`autoencoder::Autoencoder`, `autoencoder::Adam`, ...), and
//! [`prelude`] gathers those that building, training, saving and loading a model need:
//! `use autoencoder::prelude::*;`. A glob import of the root, `use autoencoder::*;`, works as well.
//!
//! ## Module map
//! The folders follow the architecture, from top to bottom; a module imports only from those below it (and
//! [`error`] from anywhere):
//! - [`training`]: the fit loop ([`fit`]: [`FitConfig`], [`FitData`], callbacks, early stopping, [`History`]),
//!   one loop for [`Autoencoder::fit`] and [`Vae::fit`], [`checkpoint`]s to resume a run ([`Checkpoint`],
//!   [`VaeCheckpoint`]) and [`metrics`] to judge one. Uses the models, and [`io`] for checkpoint files.
//! - [`data`]: data sets — the IDX format ([`idx`]) and [`mnist`]; PNG pictures read into arrays
//!   ([`data::png`]), cut into patches and stitched back ([`data::patches`]), and converted between RGB, grey and
//!   YCbCr ([`data::colour`]). Loaders give arrays and know nothing of the network; they use only `io`'s atomic
//!   file writing.
//! - [`io`]: files — model files ([`persist`], which know the models and layers they save) and pictures
//!   ([`image`]: grey or colour grids, single pictures and scatter plots, which know only arrays), both written
//!   atomically.
//! - [`models`]: a stack of layers ([`Encoder`], [`Decoder`]), the [`Autoencoder`] with its training step, the
//!   variational autoencoder ([`Vae`]) with its own, the builders ([`builder`], [`conv_builder`]), the names of the
//!   parameters ([`models::names`]: `encoder.0.weight`, ..., which model files, optimizer state and checkpoints
//!   share), the buffers a training step reuses, and inference into a caller's buffer (`encode_into`, ...).
//!   Models know nothing of training loops or files.
//! - [`optim`] and [`loss`], beside [`layers`]: the optimizers and losses a model's training step applies; and
//!   the layers — [`Dense`] ([`dense`]), [`Conv2d`], [`ConvTranspose2d`], the [`Layer`] enum over them, the
//!   activations ([`activation`]) and initialisers ([`init`]). None of the three knows the others or the models.
//! - at the bottom, private: `matmul` (the matrix-product kernels — blocked for batches, thin for a few rows —
//!   and their thread pool) and `alloc` (fallible allocation).
//!
//! [`prelude`] and [`error`] sit at the root. The modules' paths from before the folders (`autoencoder::dense`,
//! `autoencoder::fit`, `autoencoder::idx`, `autoencoder::persist`, ...) are kept as re-exports for
//! compatibility, as are the common types at the root.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub use ndarray;
/// The random-number crate the initialisers draw from (`rand` 0.9, as `ndarray-rand` 0.16 needs): seed a
/// generator with `autoencoder::rand::{rngs::StdRng, SeedableRng}` and `StdRng::seed_from_u64(seed)`.
pub use ndarray_rand::rand;

// No public module may be named `autoencoder`: a module named like the crate would make every path
// `autoencoder::...` ambiguous in code that writes `use autoencoder::*;` (E0659). The model's module is private
// inside `models`, re-exported as `models::Autoencoder`.
pub mod data;
pub mod error;
pub mod io;
pub mod layers;
pub mod loss;
pub mod models;
pub mod optim;
pub mod prelude;
pub mod training;

mod alloc;
mod math;
mod matmul;

// The modules' paths from before the folders, kept for compatibility.
pub use data::{idx, mnist};
pub use io::{image, persist};
pub use layers::{activation, dense, init};
pub use models::{builder, conv_builder, decoder, encoder};
pub use training::{checkpoint, fit, metrics};

pub use data::{IdxArray, Mnist};
pub use error::{Error, Result};
pub use layers::{
    Activation, Conv2d, ConvGradients, ConvTrace, ConvTranspose2d, Dense, DenseGradients, DenseTrace, Init, Layer,
    Padding,
};
pub use loss::Loss;
/// Entry points for the crate's own benchmarks (`benches/`) and allocation test (`tests/allocations.rs`); not part
/// of the public API, and not covered by semantic versioning.
#[doc(hidden)]
pub mod __internals {
    pub use crate::matmul::internals::{on_pool, product_into};

    /// `values += σ·z`, the input noise `fit` adds to batch `batch` (0-based) of epoch `epoch` with seed `seed`
    /// (`FitConfig::input_noise`), element by element in order.
    pub fn add_input_noise(values: &mut [f32], std_dev: f32, seed: u64, epoch: u64, batch: u64) {
        crate::training::noise::NoiseStream::new(seed, epoch, batch).add_to(values, std_dev)
    }
}
pub use matmul::{num_threads, set_num_threads, MAX_THREADS};
pub use models::{Autoencoder, AutoencoderBuilder, ConvAutoencoderBuilder, Decoder, Encoder, Vae, VaeLoss};
pub use optim::{Adam, AdamW, Optimizer, OptimizerState, Sgd};
pub use training::{
    BatchReport, Callback, Checkpoint, Control, EarlyStopping, EpochReport, FitConfig, FitData, History, PrintProgress,
    VaeCheckpoint,
};

/// The README's code, compiled and run as a doctest so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
