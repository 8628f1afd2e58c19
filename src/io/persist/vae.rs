//! [`Vae::save`] and [`Vae::load`]: an autoencoder's file format (the same tensor names), with `model` = `vae` and
//! `beta` in the metadata (see the [`persist`](super) module docs).

use std::path::Path;

use super::load::{read_file, Check, ModelFile};
use super::save::vae_contents;
use super::{in_memory_path, model_file_error};
use crate::error::Result;
use crate::io::atomic::write_atomically;
use crate::models::Vae;

impl Vae {
    /// Saves the VAE to `path` as a safetensors file, atomically: an [`Autoencoder`](crate::Autoencoder)'s
    /// format (the tensors `encoder.{i}.weight`, ..., the same metadata), plus `model` = `vae` and `beta`.
    ///
    /// Errors with [`Error::InvalidArgument`](crate::Error::InvalidArgument) when a weight, an activation's
    /// parameter or β is NaN or infinite (or β negative; nothing is written) and with
    /// [`Error::Io`](crate::Error::Io) when the file cannot be written.
    ///
    /// ```
    /// use autoencoder::{Activation, Autoencoder, Decoder, Dense, Encoder, Init, Vae};
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let mut rng = StdRng::seed_from_u64(0);
    /// let encoder = Encoder::new(vec![Dense::new(6, 4, Activation::Identity, Init::GlorotUniform, &mut rng)?])?;
    /// let decoder = Decoder::new(vec![Dense::new(2, 6, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?])?;
    /// let vae = Vae::new(encoder, decoder)?.with_beta(0.5);
    /// let path = std::env::temp_dir().join(format!("vae-save-{}.safetensors", std::process::id()));
    /// vae.save(&path)?;
    /// assert_eq!(Vae::load(&path)?, vae); // bit for bit, β too
    /// let err = Autoencoder::load(&path).unwrap_err();
    /// assert!(err.to_string().contains("Vae::load"), "{err}");
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_safetensors_bytes()?;
        write_atomically(path.as_ref(), &bytes)
    }

    /// Loads a VAE saved by [`save`](Self::save). Errors with [`Error::Io`](crate::Error::Io) when the file cannot
    /// be read and with [`Error::ModelFile`](crate::Error::ModelFile) when its contents are not a valid VAE — among
    /// them a plain autoencoder's file, which the message says to load with `Autoencoder::load`.
    ///
    /// ```
    /// use autoencoder::{Autoencoder, Vae};
    /// let ae = Autoencoder::builder(6).latent(2).build()?;
    /// let path = std::env::temp_dir().join(format!("vae-load-{}.safetensors", std::process::id()));
    /// ae.save(&path)?;
    /// let err = Vae::load(&path).unwrap_err();
    /// assert!(err.to_string().contains("Autoencoder::load"), "{err}");
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Vae> {
        let path = path.as_ref();
        let (header, data) = read_file(path)?;
        vae_in(ModelFile::new(header, &data), path)
    }

    /// The model file's bytes, exactly what [`save`](Self::save) writes.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense, Encoder, Vae};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let vae = Vae::new(Encoder::new(vec![dense(6, 4)?])?, Decoder::new(vec![dense(2, 6)?])?)?.with_beta(3.0);
    /// let bytes = vae.to_safetensors_bytes()?;
    /// assert!(String::from_utf8_lossy(&bytes).contains(r#""model":"vae""#));
    /// assert_eq!(Vae::from_safetensors_bytes(&bytes)?, vae);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        vae_contents(self)?.to_bytes()
    }

    /// A VAE from the bytes of a model file, validated as [`load`](Self::load) does; errors name the path
    /// `<in-memory safetensors>`.
    ///
    /// ```
    /// use autoencoder::{Autoencoder, Vae};
    /// let bytes = Autoencoder::builder(6).latent(2).build()?.to_safetensors_bytes()?;
    /// assert!(Vae::from_safetensors_bytes(&bytes).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Vae> {
        vae_in(ModelFile::parse(bytes), in_memory_path())
    }
}

/// The VAE in a parsed file, validated; errors name `path`.
fn vae_in(file: Check<ModelFile<'_>>, path: &Path) -> Result<Vae> {
    file.and_then(|file| file.vae())
        .map_err(|message| model_file_error(path, message))
}
