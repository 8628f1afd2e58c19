//! Models: a stack of layers ([`Encoder`], [`Decoder`]), the [`Autoencoder`] that joins them with its training
//! step, the variational autoencoder ([`Vae`], its loss [`VaeLoss`]), the builders ([`AutoencoderBuilder`],
//! [`ConvAutoencoderBuilder`]), the parameters' [`names`], the buffers a training step reuses, and inference into a caller's buffer.
//! Models use [`crate::layers`], [`crate::optim`] and [`crate::loss`]; they know nothing of training loops
//! ([`crate::training`]) or files ([`crate::io`]).

pub mod builder;
pub mod conv_builder;
pub mod decoder;
pub mod encoder;
pub mod names;

// Private, and re-exported as `Autoencoder` below: a public module named like the crate would make every path
// `autoencoder::...` ambiguous in code that writes `use autoencoder::*;` (E0659).
mod autoencoder;
mod inference;
mod parts;
mod snapshot;
mod stack;
mod vae;
mod vae_loss;
mod vae_workspace;
mod workspace;

pub use self::autoencoder::Autoencoder;
pub use builder::AutoencoderBuilder;
pub use conv_builder::ConvAutoencoderBuilder;
pub use decoder::Decoder;
pub use encoder::Encoder;
pub use vae::Vae;
pub use vae_loss::VaeLoss;
