//! # autoencoder
//!
//! Autoencoders from scratch on [`ndarray`]: dense and convolution layers, activations, losses, hand-written
//! backpropagation and optimizers, a parser for the IDX files that MNIST ships in, and a small Encoder / Decoder /
//! Autoencoder API.
//!
//! ## Conventions
//! - Numbers are `f32`; a batch is an `Array2<f32>` of shape `(batch, features)`, one sample per row.
//! - A dense layer computes `y = act(x · W + b)` with `W` of shape `(inputs, outputs)` and `b` of shape
//!   `(outputs)`: Keras' kernel layout, so weights exchange with Keras without a transpose.
//! - Images are rows of `h * w * c` values in HWC order (channels last, as MNIST and Keras store them), so a
//!   `Dense` after a convolution reads its output as Keras' `Flatten` does. Convolution kernels have Keras'
//!   layouts and [`Padding`] Keras' rules ([`layers`]).
//! - Losses are the mean over every element of the batch (Keras' and PyTorch's default reduction).
//!
//! ## Imports
//! The common types are re-exported at the root (`autoencoder::Autoencoder`, `autoencoder::Adam`, ...), and
//! [`prelude`] gathers those that building, training, saving and loading a model need:
//! `use autoencoder::prelude::*;`. A glob import of the root, `use autoencoder::*;`, works as well.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub use ndarray;
/// The random-number crate the initialisers draw from (`rand` 0.9, as `ndarray-rand` 0.16 needs): seed a
/// generator with `autoencoder::rand::{rngs::StdRng, SeedableRng}` and `StdRng::seed_from_u64(seed)`.
pub use ndarray_rand::rand;

pub mod activation;
// Private, and re-exported as `Autoencoder` below: a public module named like the crate would make every path
// `autoencoder::...` ambiguous in code that writes `use autoencoder::*;` (E0659).
mod autoencoder;
pub mod builder;
pub mod checkpoint;
pub mod conv_builder;
pub mod decoder;
pub mod dense;
pub mod encoder;
pub mod error;
pub mod fit;
pub mod idx;
pub mod image;
pub mod init;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod mnist;
pub mod optim;
pub mod persist;
pub mod prelude;

mod alloc;
mod matmul;
mod snapshot;
mod stack;
mod workspace;

pub use activation::Activation;
pub use autoencoder::Autoencoder;
pub use builder::AutoencoderBuilder;
pub use checkpoint::Checkpoint;
pub use conv_builder::ConvAutoencoderBuilder;
pub use decoder::Decoder;
pub use dense::{Dense, DenseGradients, DenseTrace};
pub use encoder::Encoder;
pub use error::{Error, Result};
pub use fit::{BatchReport, Callback, Control, EarlyStopping, EpochReport, FitConfig, FitData, History, PrintProgress};
pub use idx::IdxArray;
pub use init::Init;
pub use layers::{Conv2d, ConvGradients, ConvTrace, ConvTranspose2d, Layer, Padding};
pub use loss::Loss;
#[doc(hidden)]
pub use matmul::internals as __internals;
pub use matmul::{num_threads, set_num_threads, MAX_THREADS};
pub use mnist::Mnist;
pub use optim::{Adam, AdamW, Optimizer, OptimizerState, Sgd};

/// The README's code, compiled and run as a doctest so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
