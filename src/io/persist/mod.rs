//! Model files: [`Autoencoder::save`] and [`Autoencoder::load`], in the [safetensors] format; a VAE's
//! ([`Vae::save`](crate::Vae::save), [`Vae::load`](crate::Vae::load)) are the same with two more metadata keys.
//!
//! ```
//! use autoencoder::Autoencoder;
//!
//! let ae = Autoencoder::builder(784).hidden(&[64]).latent(16).seed(7).build()?;
//! let path = std::env::temp_dir().join(format!("autoencoder-doc-{}.safetensors", std::process::id()));
//! ae.save(&path)?;
//! let loaded = Autoencoder::load(&path)?;
//! assert_eq!(loaded, ae); // bit for bit: same weights, biases and activations
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), autoencoder::Error>(())
//! ```
//!
//! # The file format (a contract: Python and other readers rely on it)
//!
//! A model file is a plain safetensors file: an 8-byte little-endian header length, a JSON header, then the
//! tensor data. Every tensor is `F32`, little-endian, C (row-major) order. For the `i`-th layer (from 0) of the
//! encoder and of the decoder, first layer first:
//!
//! | tensor | shape | meaning |
//! |---|---|---|
//! | `encoder.{i}.weight` | dense `(inputs, outputs)`, conv2d `(kh, kw, in, filters)`, conv_transpose2d `(kh, kw, out, in)` | the weights (Keras' kernel layouts) |
//! | `encoder.{i}.bias` | `(outputs)` (one per output channel for the convolutions) | the bias `b` |
//! | `decoder.{i}.weight` | as above | |
//! | `decoder.{i}.bias` | as above | |
//!
//! The weights are in Keras' kernel layouts; PyTorch's `nn.Linear.weight` is the transpose `(outputs, inputs)`
//! of a dense layer's, so `linear.weight = torch.from_numpy(w.T)` loads one into PyTorch, and a `Conv2d` kernel
//! is `w.transpose(3, 2, 0, 1)` in PyTorch's `(out, in, kh, kw)` (its padding rule differs from Keras' for even
//! kernels and strides above 1).
//!
//! The header's `__metadata__` (a map from string to string) holds:
//!
//! | key | value | on load |
//! |---|---|---|
//! | `format` | `autoencoder` | required |
//! | `format_version` | `2` ([`FORMAT_VERSION`]); files of version `1` (dense layers only, no `kind`) still load | required; a newer version is an error that says to upgrade |
//! | `encoder.layers`, `decoder.layers` | the number of layers, e.g. `3` | required |
//! | `encoder.{i}.activation`, `decoder.{i}.activation` | the activation's name, as [`Activation`](crate::Activation) prints it: `relu`, `leaky_relu(0.01)`, `sigmoid`, ... | required |
//! | `encoder.{i}.kind`, `decoder.{i}.kind` | `dense`, `conv2d` or `conv_transpose2d` ([`Layer::kind`](crate::Layer::kind)) | required from version 2 |
//! | `{part}.{i}.input_shape`, `.stride`, `.padding` | for the convolutions: `28,28,1` (h, w, c), `2`, `same` or `valid` | required for the convolutions |
//! | `crate_version` | the version of `autoencoder` that wrote the file, e.g. `0.1.0` | informational |
//! | `model` | absent for an [`Autoencoder`] (whose decoder gives back its input's size); `encoder_decoder` for an [`Autoencoder::encoder_decoder`] whose outputs differ in size from its inputs (grey in, colour out); `vae` for a [`Vae`](crate::Vae) (whose encoder's last layer gives `2 · latent` outputs, the mean then the log-variance) | [`Autoencoder::load`] reads the first two and refuses a `vae` file, [`Vae::load`](crate::Vae::load) only a `vae` file, each saying which to use |
//! | `beta` | a VAE's β, e.g. `1` | required for a VAE |
//!
//! Other metadata keys are ignored on load. A [checkpoint](crate::training::checkpoint) is a model file with more in it
//! (`checkpoint_version`, `optimizer.*` tensors and keys); [`Autoencoder::load`] reads the model out of a
//! checkpoint and ignores the rest.
//!
//! In Python:
//!
//! ```python
//! from safetensors.numpy import load_file
//! from safetensors import safe_open
//! tensors = load_file("model.safetensors")            # {"encoder.0.weight": float32 array (784, 256), ...}
//! meta = safe_open("model.safetensors", "np").metadata()  # {"format": "autoencoder", "encoder.0.activation": "relu", ...}
//! ```
//!
//! # Saving
//! [`Autoencoder::save`] is atomic: it writes a temporary file `.{name}.tmp-{pid}-{n}` in the target's folder,
//! flushes and syncs it, then renames it over the target (and syncs the folder on Unix). A crash or an error
//! mid-save leaves the previous file as it was. The same model always gives the same bytes. A model with a NaN
//! or infinite weight, or activation parameter (`leaky_relu(NaN)`), is not saved (it could not be loaded).
//!
//! # Loading
//! [`Autoencoder::load`] checks everything and reports what is wrong with [`Error::ModelFile`](crate::Error):
//! a file that is not safetensors (a PyTorch zip, an HDF5 file, ...), a truncated or corrupt one, missing
//! metadata, an unknown activation, a missing or unexpected tensor (by name), a dtype other than `F32`, a weight
//! that is not 2-D or a bias that is not 1-D, an empty tensor, shapes that do not chain, and NaN or infinite
//! values. It never panics, whatever the bytes, and allocates only for what the file holds. It reads a file in
//! stages (header length, header, data) and stops at the first stage that is wrong, so pointing it at a large
//! file of another kind costs a few small reads. The JSON header may be at most [`MAX_HEADER_BYTES`] (16 MiB, room
//! for over 20,000 layers; `safetensors` itself allows 100 MB) and is parsed once, straight into the tensor table,
//! so a header costs a bounded multiple of its size in memory; [`Autoencoder::save`] refuses to write a larger one.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

mod header;
mod load;
mod save;
mod vae;

use std::path::{Path, PathBuf};

pub use header::MAX_HEADER_BYTES;

pub(crate) use load::{name_list, read_file, Check, ModelFile};
pub(crate) use save::{check_finite_before_save, model_contents, vae_contents, Contents, Tensor};

use crate::error::{Error, Result};
use crate::io::atomic::write_atomically;
use crate::models::Autoencoder;

/// The `format` value in a model file's `__metadata__`.
///
/// ```
/// # let ae = autoencoder::Autoencoder::builder(4).latent(2).build()?;
/// let bytes = ae.to_safetensors_bytes()?;
/// assert!(String::from_utf8_lossy(&bytes).contains(r#""format":"autoencoder""#));
/// assert_eq!(autoencoder::persist::FORMAT, "autoencoder");
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub const FORMAT: &str = "autoencoder";

/// The newest `format_version` this version of the crate writes and reads.
///
/// ```
/// # let ae = autoencoder::Autoencoder::builder(4).latent(2).build()?;
/// let text = String::from_utf8_lossy(&ae.to_safetensors_bytes()?).into_owned();
/// let version = autoencoder::persist::FORMAT_VERSION;
/// assert!(text.contains(&format!(r#""format_version":"{version}""#)));
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub const FORMAT_VERSION: u32 = 2;

/// The metadata key that says which model a file holds: absent for an [`Autoencoder`], [`ENCODER_DECODER`] for one
/// whose outputs differ in size from its inputs, [`VAE`] for a [`Vae`](crate::Vae).
const MODEL_KEY: &str = "model";

/// The value of `model` in a [`Vae`](crate::Vae)'s file.
const VAE: &str = "vae";

/// The value of `model` in the file of an [`Autoencoder::encoder_decoder`] whose outputs differ in size from its
/// inputs (without it, a decoder that does not give the input's size back is a corrupt file).
const ENCODER_DECODER: &str = "encoder_decoder";

/// The metadata key of a [`Vae`](crate::Vae)'s β.
const BETA_KEY: &str = "beta";

/// The path that errors name for bytes that did not come from a file.
const IN_MEMORY: &str = "<in-memory safetensors>";

impl Autoencoder {
    /// Saves the model to `path` as a safetensors file (the format is in the [`persist`](crate::io::persist) module
    /// docs), atomically: a failed save leaves any previous file at `path` untouched.
    ///
    /// Errors with [`Error::InvalidArgument`] when a weight or an activation's parameter is NaN or infinite (nothing
    /// is written) and with
    /// [`Error::Io`] when the file cannot be written. A symbolic link at `path` is replaced, not followed.
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(8).latent(2).build()?;
    /// let path = std::env::temp_dir().join(format!("ae-save-{}.safetensors", std::process::id()));
    /// ae.save(&path)?;
    /// assert!(path.metadata().unwrap().len() > 0);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_safetensors_bytes()?;
        write_atomically(path.as_ref(), &bytes)
    }

    /// Loads a model saved by [`save`](Self::save) (or written elsewhere in the same format, or a checkpoint).
    ///
    /// Errors with [`Error::Io`] when the file cannot be read and with [`Error::ModelFile`] when its contents are
    /// not a valid model; the message says what is wrong.
    ///
    /// ```
    /// use autoencoder::{Autoencoder, Error};
    /// let path = std::env::temp_dir().join(format!("ae-load-{}.txt", std::process::id()));
    /// std::fs::write(&path, "not a model").unwrap();
    /// let err = Autoencoder::load(&path).unwrap_err();
    /// assert!(matches!(err, Error::ModelFile { .. }), "{err}");
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Autoencoder> {
        let path = path.as_ref();
        let (header, data) = read_file(path)?;
        model_in(ModelFile::new(header, &data), path)
    }

    /// The model file's bytes, exactly what [`save`](Self::save) writes.
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(8).latent(2).build()?;
    /// let bytes = ae.to_safetensors_bytes()?;
    /// assert_eq!(autoencoder::Autoencoder::from_safetensors_bytes(&bytes)?, ae);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        model_contents(self)?.to_bytes()
    }

    /// A model from the bytes of a model file, validated as [`load`](Self::load) does; errors name the path
    /// `<in-memory safetensors>`.
    ///
    /// ```
    /// use autoencoder::Autoencoder;
    /// let err = Autoencoder::from_safetensors_bytes(b"PK\x03\x04 a zip").unwrap_err();
    /// assert!(err.to_string().contains("zip"), "{err}");
    /// ```
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Autoencoder> {
        model_in(ModelFile::parse(bytes), Path::new(IN_MEMORY))
    }
}

/// The model (or the model in a checkpoint) in a parsed file, validated; errors name `path`.
fn model_in(file: Check<ModelFile<'_>>, path: &Path) -> Result<Autoencoder> {
    file.and_then(|file| file.autoencoder())
        .map_err(|message| model_file_error(path, message))
}

/// An [`Error::ModelFile`] for `path`.
pub(crate) fn model_file_error(path: &Path, message: String) -> Error {
    Error::ModelFile {
        path: PathBuf::from(path),
        message,
    }
}

/// The path that errors name for bytes that did not come from a file.
pub(crate) fn in_memory_path() -> &'static Path {
    Path::new(IN_MEMORY)
}
