//! Checkpoints for long runs: the model, the optimizer's state and the epoch in one file, to resume training
//! exactly where it stopped.
//!
//! ```
//! use autoencoder::{Adam, Autoencoder, Checkpoint, Loss, Optimizer};
//! use autoencoder::ndarray::Array2;
//!
//! let x = Array2::from_shape_fn((8, 6), |(i, j)| ((i * j) % 3) as f32 / 2.0);
//! let mut ae = Autoencoder::builder(6).latent(2).seed(1).build()?;
//! let mut adam = Adam::new(1e-2);
//! ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam)?;
//!
//! let path = std::env::temp_dir().join(format!("autoencoder-doc-{}.ckpt.safetensors", std::process::id()));
//! Checkpoint::new(ae.clone(), &adam, 1).with_metadata("run", "doc example").save(&path)?;
//!
//! // Later, maybe in another process: the same optimizer settings, then its saved state.
//! let checkpoint = Checkpoint::load(&path)?;
//! let mut resumed_adam = Adam::new(1e-2);
//! resumed_adam.load_state(checkpoint.optimizer)?;
//! let mut resumed = checkpoint.autoencoder;
//! assert_eq!((checkpoint.epoch, checkpoint.metadata["run"].as_str()), (1, "doc example"));
//!
//! // Training on gives the very same weights as if it had never stopped:
//! ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam)?;
//! resumed.train_step(x.view(), x.view(), Loss::Mse, &mut resumed_adam)?;
//! assert_eq!(resumed, ae);
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), autoencoder::Error>(())
//! ```
//!
//! # The file format
//!
//! A checkpoint is a [model file](crate::io::persist) — the same `encoder.*`/`decoder.*` tensors and metadata — with
//! more in it. [`Autoencoder::load`] reads the model out of a checkpoint (ignoring the rest), so a checkpoint can
//! be used as a model as it is. Extra tensors, all `F32`, 1-D, flattened in row-major order:
//!
//! | tensor | length | meaning |
//! |---|---|---|
//! | `optimizer.{name}.{k}` | the element count of the parameter `name` | buffer `k` of the optimizer's state for the parameter tensor `name` |
//!
//! `name` is the parameter's name, the name of its tensor in the model file ([`crate::models::names`]): e.g.
//! `optimizer.encoder.0.weight.1` is buffer 1 of `encoder.0.weight` (Adam: buffer 0 the first moment, 1 the
//! second; SGD with momentum: buffer 0 the momentum). Extra `__metadata__` keys:
//!
//! | key | value |
//! |---|---|
//! | `checkpoint_version` | `2` ([`CHECKPOINT_VERSION`]); a newer version is an error that says to upgrade |
//! | `epoch` | [`Checkpoint::epoch`] |
//! | `optimizer.kind` | [`OptimizerState::kind`]: `adam`, `adamw`, `sgd` |
//! | `optimizer.step` | [`OptimizerState::step`] |
//! | `optimizer.parameters` | the names of the parameters with state ([`OptimizerState::buffers`]' keys), comma-separated in the model's order, e.g. `encoder.0.weight,encoder.0.bias`; empty for none |
//! | `optimizer.{name}.buffers` | the number of buffers of the parameter `name` listed in `optimizer.parameters` |
//! | `user.{key}` | the entry `key` of [`Checkpoint::metadata`] |
//!
//! On load, every name listed must be a parameter of the model in the file, with buffers of its length, and
//! every `optimizer.*` tensor must be listed; anything else is an [`Error::ModelFile`] that names the tensor.
//!
//! Checkpoints of `checkpoint_version` `1` numbered the parameters instead: tensors `optimizer.{slot}.{k}`, keys
//! `optimizer.slots` (the number of slots) and `optimizer.{slot}.buffers`, where slot `2·l` is layer `l`'s weights
//! and `2·l + 1` its bias, layers numbered through the encoder then the decoder (the order of
//! [`Autoencoder::named_parameters`]). They still load: slot `s` becomes the `s`-th parameter's name.
//!
//! # Variational autoencoders
//!
//! A [`VaeCheckpoint`] is the same with a [`Vae`] in it: its file is a [`Vae::save`] file (the same tensors, plus
//! `model` = `vae` and `beta` in `__metadata__`) with the optimizer's tensors and keys above. [`Checkpoint::load`]
//! refuses a file with `model` = `vae`, and [`VaeCheckpoint::load`] one without, each with an error that names the
//! other. The state of the noise is not saved: [`Vae::fit`] draws each epoch's noise from a generator seeded from
//! `(seed, epoch)`, so resuming at [`VaeCheckpoint::epoch`] replays the uninterrupted run's noise.
//!
//! An optimizer's hyper-parameters (learning rate, betas, ...) are not part of its state: build the optimizer
//! the same way before [`Optimizer::load_state`] (keep them in
//! [`Checkpoint::metadata`] if they vary).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::write_atomically;
use crate::io::persist::{
    self, in_memory_path, model_contents, model_file_error, read_file, vae_contents, Contents, ModelFile,
};
use crate::models::{Autoencoder, Vae};
use crate::optim::{Optimizer, OptimizerState};

/// The newest `checkpoint_version` this version of the crate writes and reads.
///
/// ```
/// # use autoencoder::{Adam, Autoencoder, Checkpoint};
/// # let ae = Autoencoder::builder(4).latent(2).build()?;
/// let bytes = Checkpoint::new(ae, &Adam::new(1e-3), 0).to_safetensors_bytes()?;
/// let text = String::from_utf8_lossy(&bytes);
/// let version = autoencoder::checkpoint::CHECKPOINT_VERSION;
/// assert!(text.contains(&format!(r#""checkpoint_version":"{version}""#)));
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub const CHECKPOINT_VERSION: u32 = 2;

/// The prefix of [`Checkpoint::metadata`] keys in the file.
const USER_PREFIX: &str = "user.";

/// A model with its optimizer's state and the epoch, saved to resume training exactly.
///
/// ```
/// use autoencoder::{Adam, Autoencoder, Checkpoint, Optimizer};
/// let ae = Autoencoder::builder(6).latent(2).build()?;
/// let checkpoint = Checkpoint::new(ae, &Adam::new(1e-3), 4).with_metadata("data", "toy");
/// let back = Checkpoint::from_safetensors_bytes(&checkpoint.to_safetensors_bytes()?)?;
/// assert_eq!((back.epoch, back.metadata["data"].as_str()), (4, "toy"));
/// let mut adam = Adam::new(1e-3);
/// adam.load_state(back.optimizer)?; // the same settings, then the saved state
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The model.
    pub autoencoder: Autoencoder,
    /// The optimizer's state (from [`Optimizer::state`]); restore it with
    /// [`Optimizer::load_state`].
    pub optimizer: OptimizerState,
    /// The number of epochs completed when the checkpoint was taken: what
    /// [`FitConfig::start_epoch`](crate::FitConfig::start_epoch) takes to resume.
    pub epoch: usize,
    /// Free-form notes kept with the checkpoint (hyper-parameters, the data set, a git hash, ...).
    pub metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    /// A checkpoint of `autoencoder` with `optimizer`'s current state after `epoch` epochs, without metadata.
    ///
    /// ```
    /// use autoencoder::{Adam, Autoencoder, Checkpoint};
    /// let ae = Autoencoder::builder(4).latent(2).build()?;
    /// let checkpoint = Checkpoint::new(ae, &Adam::new(1e-3), 0);
    /// assert_eq!(checkpoint.optimizer.kind, "adam");
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn new(autoencoder: Autoencoder, optimizer: &impl Optimizer, epoch: usize) -> Checkpoint {
        Checkpoint {
            autoencoder,
            optimizer: optimizer.state(),
            epoch,
            metadata: BTreeMap::new(),
        }
    }

    /// Adds a metadata entry.
    ///
    /// ```
    /// # use autoencoder::{Adam, Autoencoder, Checkpoint};
    /// # let ae = Autoencoder::builder(4).latent(2).build()?;
    /// let checkpoint = Checkpoint::new(ae, &Adam::new(1e-3), 0).with_metadata("learning_rate", "0.001");
    /// assert_eq!(checkpoint.metadata["learning_rate"], "0.001");
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Checkpoint {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Saves the checkpoint to `path`, atomically as [`Autoencoder::save`] does: a failed save leaves any previous
    /// file at `path` untouched.
    ///
    /// Errors with [`Error::InvalidArgument`] when a weight or optimizer buffer is NaN or infinite, or when the
    /// optimizer's state does not fit the model (a name that is not one of the model's parameters, buffers of
    /// another length; nothing is written), and with [`Error::Io`] when the file cannot
    /// be written.
    ///
    /// ```
    /// # use autoencoder::{Adam, Autoencoder, Checkpoint};
    /// # let ae = Autoencoder::builder(4).latent(2).build()?;
    /// let path = std::env::temp_dir().join(format!("ckpt-save-{}.safetensors", std::process::id()));
    /// Checkpoint::new(ae, &Adam::new(1e-3), 3).save(&path)?;
    /// assert_eq!(Checkpoint::load(&path)?.epoch, 3);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_safetensors_bytes()?;
        write_atomically(path.as_ref(), &bytes)
    }

    /// Loads a checkpoint saved by [`save`](Self::save), checked as thoroughly as [`Autoencoder::load`] checks a
    /// model, and the optimizer buffers against the model's parameters.
    ///
    /// Errors with [`Error::Io`] when the file cannot be read and with [`Error::ModelFile`] when it is not a valid
    /// checkpoint (a plain model file, too: load that with [`Autoencoder::load`]).
    ///
    /// ```
    /// # use autoencoder::{Autoencoder, Checkpoint};
    /// # let ae = Autoencoder::builder(4).latent(2).build()?;
    /// let path = std::env::temp_dir().join(format!("ckpt-load-{}.safetensors", std::process::id()));
    /// ae.save(&path)?; // a model, not a checkpoint
    /// let err = Checkpoint::load(&path).unwrap_err();
    /// assert!(err.to_string().contains("Autoencoder::load"), "{err}");
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref();
        let (header, data) = read_file(path)?;
        checkpoint_in(ModelFile::new(header, &data), path)
    }

    /// The checkpoint file's bytes, exactly what [`save`](Self::save) writes.
    ///
    /// ```
    /// # use autoencoder::{Adam, Autoencoder, Checkpoint};
    /// # let ae = Autoencoder::builder(4).latent(2).build()?;
    /// let checkpoint = Checkpoint::new(ae, &Adam::new(1e-3), 0);
    /// let bytes = checkpoint.to_safetensors_bytes()?;
    /// assert_eq!(Checkpoint::from_safetensors_bytes(&bytes)?, checkpoint);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let parameters = parameter_lengths(self.autoencoder.named_parameters());
        let contents = model_contents(&self.autoencoder)?;
        checkpoint_bytes(contents, &parameters, &self.optimizer, self.epoch, &self.metadata)
    }

    /// A checkpoint from the bytes of a checkpoint file, validated as [`load`](Self::load) does; errors name the
    /// path `<in-memory safetensors>`.
    ///
    /// ```
    /// let err = autoencoder::Checkpoint::from_safetensors_bytes(&[0; 4]).unwrap_err();
    /// assert!(err.to_string().contains("too short"), "{err}");
    /// ```
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Checkpoint> {
        checkpoint_in(ModelFile::parse(bytes), in_memory_path())
    }
}

/// A [`Vae`] with its optimizer's state and the epoch: a [`Checkpoint`] of a variational autoencoder, to resume
/// [`Vae::fit`] exactly (the noise of the epochs after the checkpoint's comes from generators seeded from
/// `(seed, epoch)`, so it is the uninterrupted run's: pass [`epoch`](Self::epoch) to
/// [`FitConfig::start_epoch`](crate::FitConfig::start_epoch)).
///
/// The file is a [`Vae::save`] file (so it says that it holds a VAE, `model` = `vae`, and its `beta`) with the
/// optimizer's tensors and keys of a [`Checkpoint`] (see the [module docs](self)). [`Vae::load`] reads the model
/// out of it; [`Checkpoint::load`] refuses it, and [`VaeCheckpoint::load`] refuses a plain autoencoder's
/// checkpoint, with an error that names the right function.
///
/// ```
/// use autoencoder::{Activation, Adam, Checkpoint, Decoder, Dense, Encoder, FitConfig, Init, Optimizer, Vae};
/// use autoencoder::checkpoint::VaeCheckpoint;
/// use autoencoder::ndarray::Array2;
/// use autoencoder::rand::{rngs::StdRng, SeedableRng};
/// let mut rng = StdRng::seed_from_u64(0);
/// let encoder = Encoder::new(vec![Dense::new(4, 2, Activation::Identity, Init::GlorotUniform, &mut rng)?])?;
/// let decoder = Decoder::new(vec![Dense::new(1, 4, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?])?;
/// let x = Array2::from_shape_fn((16, 4), |(i, j)| ((i + j) % 3) as f32 / 2.0);
/// let config = FitConfig::new(4).batch_size(4).seed(5);
///
/// // Two epochs, a checkpoint, then a resumed run in "another process" ...
/// let mut vae = Vae::new(encoder, decoder)?.with_beta(0.5);
/// let mut straight = vae.clone();
/// let mut adam = Adam::new(1e-2);
/// vae.fit(x.view(), None, &mut adam, &FitConfig::new(2).batch_size(4).seed(5))?;
/// let bytes = VaeCheckpoint::new(vae, &adam, 2).to_safetensors_bytes()?;
/// let checkpoint = VaeCheckpoint::from_safetensors_bytes(&bytes)?;
/// assert_eq!((checkpoint.epoch, checkpoint.vae.beta()), (2, 0.5));
/// let (mut resumed, mut resumed_adam) = (checkpoint.vae, Adam::new(1e-2));
/// resumed_adam.load_state(checkpoint.optimizer)?;
/// resumed.fit(x.view(), None, &mut resumed_adam, &config.clone().start_epoch(checkpoint.epoch))?;
///
/// // ... ends with the weights of a run that never stopped.
/// straight.fit(x.view(), None, &mut Adam::new(1e-2), &config)?;
/// assert_eq!(resumed, straight);
/// assert!(Checkpoint::from_safetensors_bytes(&bytes).unwrap_err().to_string().contains("VaeCheckpoint::load"));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct VaeCheckpoint {
    /// The model, β included.
    pub vae: Vae,
    /// The optimizer's state (from [`Optimizer::state`]); restore it with [`Optimizer::load_state`].
    pub optimizer: OptimizerState,
    /// The number of epochs completed when the checkpoint was taken: what
    /// [`FitConfig::start_epoch`](crate::FitConfig::start_epoch) takes to resume.
    pub epoch: usize,
    /// Free-form notes kept with the checkpoint (hyper-parameters, the data set, a git hash, ...).
    pub metadata: BTreeMap<String, String>,
}

impl VaeCheckpoint {
    /// A checkpoint of `vae` with `optimizer`'s current state after `epoch` epochs, without metadata.
    ///
    /// ```
    /// # use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// use autoencoder::checkpoint::VaeCheckpoint;
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let checkpoint = VaeCheckpoint::new(vae, &Adam::new(1e-3), 0);
    /// assert_eq!(checkpoint.optimizer.kind, "adam");
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn new(vae: Vae, optimizer: &impl Optimizer, epoch: usize) -> VaeCheckpoint {
        VaeCheckpoint {
            vae,
            optimizer: optimizer.state(),
            epoch,
            metadata: BTreeMap::new(),
        }
    }

    /// Adds a metadata entry.
    ///
    /// ```
    /// # use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// use autoencoder::checkpoint::VaeCheckpoint;
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let checkpoint = VaeCheckpoint::new(vae, &Adam::new(1e-3), 0).with_metadata("data", "digits");
    /// assert_eq!(checkpoint.metadata["data"], "digits");
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> VaeCheckpoint {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Saves the checkpoint to `path`, atomically (a failed save leaves any previous file untouched). Errors as
    /// [`Checkpoint::save`] does, and when β is negative or not finite.
    ///
    /// ```
    /// # use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// use autoencoder::checkpoint::VaeCheckpoint;
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?.with_beta(2.0);
    /// let path = std::env::temp_dir().join(format!("vae-ckpt-save-{}.safetensors", std::process::id()));
    /// VaeCheckpoint::new(vae.clone(), &Adam::new(1e-3), 3).save(&path)?;
    /// assert_eq!(VaeCheckpoint::load(&path)?.epoch, 3);
    /// assert_eq!(Vae::load(&path)?, vae); // a checkpoint is a model file too
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_safetensors_bytes()?;
        write_atomically(path.as_ref(), &bytes)
    }

    /// Loads a checkpoint saved by [`save`](Self::save), checked as [`Checkpoint::load`] checks one. A plain
    /// autoencoder's checkpoint or a model file is an [`Error::ModelFile`] that says what to load it with.
    ///
    /// ```
    /// # use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// use autoencoder::checkpoint::VaeCheckpoint;
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?;
    /// let path = std::env::temp_dir().join(format!("vae-ckpt-load-{}.safetensors", std::process::id()));
    /// vae.save(&path)?; // a model, not a checkpoint
    /// let err = VaeCheckpoint::load(&path).unwrap_err();
    /// assert!(err.to_string().contains("Vae::load"), "{err}");
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<VaeCheckpoint> {
        let path = path.as_ref();
        let (header, data) = read_file(path)?;
        vae_checkpoint_in(ModelFile::new(header, &data), path)
    }

    /// The checkpoint file's bytes, exactly what [`save`](Self::save) writes.
    ///
    /// ```
    /// # use autoencoder::{Activation, Adam, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// use autoencoder::checkpoint::VaeCheckpoint;
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?.with_beta(0.25);
    /// let bytes = VaeCheckpoint::new(vae, &Adam::new(1e-3), 1).to_safetensors_bytes()?;
    /// let text = String::from_utf8_lossy(&bytes);
    /// assert!(text.contains(r#""model":"vae""#) && text.contains(r#""beta":"0.25""#));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let parameters = parameter_lengths(self.vae.named_parameters());
        let contents = vae_contents(&self.vae)?;
        checkpoint_bytes(contents, &parameters, &self.optimizer, self.epoch, &self.metadata)
    }

    /// A checkpoint from the bytes of a checkpoint file, validated as [`load`](Self::load) does; errors name the
    /// path `<in-memory safetensors>`.
    ///
    /// ```
    /// use autoencoder::{Adam, Autoencoder, Checkpoint};
    /// use autoencoder::checkpoint::VaeCheckpoint;
    /// let ae = Autoencoder::builder(4).latent(2).build()?;
    /// let bytes = Checkpoint::new(ae, &Adam::new(1e-3), 0).to_safetensors_bytes()?;
    /// let err = VaeCheckpoint::from_safetensors_bytes(&bytes).unwrap_err();
    /// assert!(err.to_string().contains("Checkpoint::load"), "{err}");
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<VaeCheckpoint> {
        vae_checkpoint_in(ModelFile::parse(bytes), in_memory_path())
    }
}

/// The VAE checkpoint in a parsed file, validated; errors name `path`.
fn vae_checkpoint_in(file: persist::Check<ModelFile<'_>>, path: &Path) -> Result<VaeCheckpoint> {
    file.and_then(|file| read_vae_checkpoint(&file))
        .map_err(|message| model_file_error(path, message))
}

/// The VAE checkpoint in a parsed file: the VAE, then the optimizer state checked against it, then the rest.
fn read_vae_checkpoint(file: &ModelFile<'_>) -> persist::Check<VaeCheckpoint> {
    check_header(file, true)?;
    let vae = file.vae()?;
    require_checkpoint(file, "Vae")?;
    let state = read_training_state(file, &parameter_lengths(vae.named_parameters()))?;
    Ok(VaeCheckpoint {
        vae,
        optimizer: state.optimizer,
        epoch: state.epoch,
        metadata: state.metadata,
    })
}

/// Every parameter tensor's name and element count, in the model's order.
fn parameter_lengths<'a>(named: impl Iterator<Item = (String, &'a [f32])>) -> Vec<(String, usize)> {
    named.map(|(name, values)| (name, values.len())).collect()
}

/// A checkpoint file's bytes: the model file's `contents` (whose parameters are `parameters`), plus the optimizer's
/// `state`, the `epoch` and the user's `metadata`. Errors when the state does not fit the parameters or holds a
/// value that is not finite.
fn checkpoint_bytes<'a>(
    mut contents: Contents<'a>,
    parameters: &[(String, usize)],
    state: &'a OptimizerState,
    epoch: usize,
    user: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let lengths: HashMap<&str, usize> = parameters.iter().map(|(name, len)| (name.as_str(), *len)).collect();
    if let Some(name) = state.buffers.keys().find(|name| !lengths.contains_key(name.as_str())) {
        return Err(Error::InvalidArgument(format!(
            "cannot save the checkpoint: the optimizer state holds {name}, which is not a parameter of the \
             model (its parameters are {}; was the state taken from another model?)",
            parameter_list(parameters)
        )));
    }
    // The names with state, in the model's order.
    let listed: Vec<(&str, usize, &Vec<Vec<f32>>)> = (parameters.iter())
        .filter_map(|(name, len)| Some((name.as_str(), *len, state.buffers.get(name)?)))
        .collect();
    let metadata = &mut contents.metadata;
    metadata.insert("checkpoint_version".into(), CHECKPOINT_VERSION.to_string());
    metadata.insert("epoch".into(), epoch.to_string());
    metadata.insert("optimizer.kind".into(), state.kind.clone());
    metadata.insert("optimizer.step".into(), state.step.to_string());
    let names: Vec<&str> = listed.iter().map(|(name, _, _)| *name).collect();
    metadata.insert("optimizer.parameters".into(), names.join(","));
    for (name, _, buffers) in &listed {
        metadata.insert(format!("optimizer.{name}.buffers"), buffers.len().to_string());
    }
    for (key, value) in user {
        metadata.insert(format!("{USER_PREFIX}{key}"), value.clone());
    }
    for (name, length, buffers) in listed {
        for (k, buffer) in buffers.iter().enumerate() {
            let tensor = format!("optimizer.{name}.{k}");
            if buffer.len() != length {
                return Err(Error::InvalidArgument(format!(
                    "cannot save the checkpoint: optimizer buffer {tensor} has {} elements, but its parameter \
                     {name} has {length} (was the state taken from another model?)",
                    buffer.len(),
                )));
            }
            persist::check_finite_before_save(&tensor, buffer)?;
            contents.tensors.insert(
                tensor,
                persist::Tensor {
                    shape: vec![buffer.len()],
                    values: Cow::Borrowed(buffer),
                },
            );
        }
    }
    contents.to_bytes()
}

/// The names of `parameters`, for a message.
fn parameter_list(parameters: &[(String, usize)]) -> String {
    let names: Vec<&str> = parameters.iter().map(|(name, _)| name.as_str()).collect();
    persist::name_list(&names)
}

/// The checkpoint in a parsed file, validated; errors name `path`.
fn checkpoint_in(file: persist::Check<ModelFile<'_>>, path: &Path) -> Result<Checkpoint> {
    file.and_then(|file| read_checkpoint(&file))
        .map_err(|message| model_file_error(path, message))
}

/// The optimizer's buffers by parameter name, and the names of the tensors they came from.
type Buffers = (BTreeMap<String, Vec<Vec<f32>>>, HashSet<String>);

/// The checkpoint in a parsed file: the model, then the optimizer state checked against it, then the rest.
fn read_checkpoint(file: &ModelFile<'_>) -> persist::Check<Checkpoint> {
    check_header(file, false)?;
    let autoencoder = file.autoencoder()?;
    require_checkpoint(file, "Autoencoder")?;
    let state = read_training_state(file, &parameter_lengths(autoencoder.named_parameters()))?;
    Ok(Checkpoint {
        autoencoder,
        optimizer: state.optimizer,
        epoch: state.epoch,
        metadata: state.metadata,
    })
}

/// Checks the format and the checkpoint version, and that a checkpoint holds the kind of model asked for (a
/// [`Vae`] when `vae`).
fn check_header(file: &ModelFile<'_>, vae: bool) -> persist::Check<()> {
    file.check_format()?;
    if !file.has_key("checkpoint_version") {
        return Ok(());
    }
    file.check_version("checkpoint_version", CHECKPOINT_VERSION)?;
    match (file.is_vae(), vae) {
        (true, false) => Err(
            "this checkpoint holds a variational autoencoder (model = vae in its metadata), not \
                              a plain one: load it with VaeCheckpoint::load"
                .to_string(),
        ),
        (false, true) => Err(
            "this checkpoint holds a plain autoencoder, not a variational one (its metadata has \
                              no model = vae): load it with Checkpoint::load"
                .to_string(),
        ),
        _ => Ok(()),
    }
}

/// Errors unless the file is a checkpoint (a model file of `model`, an `Autoencoder` or a `Vae`, is not).
fn require_checkpoint(file: &ModelFile<'_>, model: &str) -> persist::Check<()> {
    match file.has_key("checkpoint_version") {
        true => Ok(()),
        false => Err(format!(
            "no checkpoint_version in __metadata__: this is a model file (from {model}::save), not a checkpoint; \
             load it with {model}::load"
        )),
    }
}

/// What a checkpoint holds besides its model.
struct TrainingState {
    optimizer: OptimizerState,
    epoch: usize,
    metadata: BTreeMap<String, String>,
}

/// The epoch, the optimizer's state (checked against the model's `parameters`) and the user's metadata of a
/// checkpoint.
fn read_training_state(file: &ModelFile<'_>, parameters: &[(String, usize)]) -> persist::Check<TrainingState> {
    let version: u32 = file.number("checkpoint_version")?;
    let epoch: usize = file.number("epoch")?;
    let kind = file.key("optimizer.kind")?.to_string();
    let step: u64 = file.number("optimizer.step")?;
    let (buffers, expected) = match version {
        1 => slot_numbered_buffers(file, parameters)?,
        _ => named_buffers(file, parameters)?,
    };
    let mut extra: Vec<String> = file
        .tensor_names()
        .into_iter()
        .filter(|name| name.starts_with("optimizer.") && !expected.contains(name))
        .collect();
    if !extra.is_empty() {
        extra.sort();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let listing = match version {
            1 => "optimizer.slots and optimizer.{slot}.buffers",
            _ => "optimizer.parameters and optimizer.{name}.buffers",
        };
        return Err(format!(
            "unexpected optimizer tensors {} ({listing} do not list them)",
            persist::name_list(&extra)
        ));
    }

    let metadata = file
        .metadata()
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(USER_PREFIX)?.to_string(), value.clone())))
        .collect();
    Ok(TrainingState {
        optimizer: OptimizerState { kind, step, buffers },
        epoch,
        metadata,
    })
}

/// The buffers `optimizer.{prefix}.0`, `optimizer.{prefix}.1`, ... of the parameter `name` of `length` elements,
/// as many as `optimizer.{prefix}.buffers` says; their tensor names go into `expected`. (`prefix` is the
/// parameter's name, or its slot number in a version-1 checkpoint.)
fn buffers_of(
    file: &ModelFile<'_>,
    prefix: &str,
    name: &str,
    length: usize,
    expected: &mut HashSet<String>,
) -> persist::Check<Vec<Vec<f32>>> {
    let count_key = format!("optimizer.{prefix}.buffers");
    let buffer_count: usize = file.number(&count_key)?;
    // Bounds the loop by what the file holds, whatever the count claims.
    if expected.len().saturating_add(buffer_count) > file.tensor_count() {
        return Err(format!(
            "{count_key} is {buffer_count}, more than the file's {} tensors hold",
            file.tensor_count()
        ));
    }
    let mut buffers = Vec::with_capacity(buffer_count);
    for k in 0..buffer_count {
        let tensor = format!("optimizer.{prefix}.{k}");
        let (_, values) = file.f32_tensor(&tensor, 1, "optimizer buffer")?;
        if values.len() != length {
            return Err(match prefix == name {
                true => format!(
                    "tensor {tensor} has {} elements, but its parameter {name} has {length}",
                    values.len()
                ),
                false => format!(
                    "tensor {tensor} has {} elements, but optimizer slot {prefix}'s parameter ({name}) has \
                     {length}",
                    values.len()
                ),
            });
        }
        buffers.push(values);
        expected.insert(tensor);
    }
    Ok(buffers)
}

/// The optimizer's buffers in a checkpoint of the current format: by the names in `optimizer.parameters`, each
/// one of the model's `parameters`.
fn named_buffers(file: &ModelFile<'_>, parameters: &[(String, usize)]) -> persist::Check<Buffers> {
    let lengths: HashMap<&str, usize> = parameters.iter().map(|(name, len)| (name.as_str(), *len)).collect();
    let listed = file.key("optimizer.parameters")?;
    let names = listed.split(',').filter(|_| !listed.is_empty());
    let (mut buffers, mut expected) = (BTreeMap::new(), HashSet::new());
    for name in names {
        let Some(&length) = lengths.get(name) else {
            return Err(format!(
                "optimizer.parameters lists {name:?}, which is not a parameter of the model (its parameters are \
                 {}): was the state saved for another model?",
                parameter_list(parameters)
            ));
        };
        if buffers.contains_key(name) {
            return Err(format!("optimizer.parameters lists {name} twice"));
        }
        let values = buffers_of(file, name, name, length, &mut expected)?;
        buffers.insert(name.to_string(), values);
    }
    Ok((buffers, expected))
}

/// The optimizer's buffers in a checkpoint of `checkpoint_version` 1, which numbered them by slot: slot `s` is
/// the `s`-th of the model's `parameters`.
fn slot_numbered_buffers(file: &ModelFile<'_>, parameters: &[(String, usize)]) -> persist::Check<Buffers> {
    let slot_count: usize = file.number("optimizer.slots")?;
    if slot_count > parameters.len() {
        return Err(format!(
            "optimizer.slots is {slot_count}, but the model has only {} parameter tensors (two per layer)",
            parameters.len()
        ));
    }
    let (mut buffers, mut expected) = (BTreeMap::new(), HashSet::new());
    for (slot, (name, length)) in parameters.iter().enumerate().take(slot_count) {
        let values = buffers_of(file, &slot.to_string(), name, *length, &mut expected)?;
        buffers.insert(name.clone(), values);
    }
    Ok((buffers, expected))
}
