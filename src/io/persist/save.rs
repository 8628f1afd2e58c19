//! Writing model files: an [`Autoencoder`]'s or a [`Vae`]'s tensors and metadata, serialised as safetensors.
//!
//! The serialiser is our own rather than `safetensors::serialize`, because that one writes `__metadata__` from a
//! `HashMap` in random order, so the same model would give different bytes on every save. Here keys are sorted,
//! so equal models give equal files (stable hashes, clean diffs, cacheable artefacts). The layout is the one
//! `safetensors` writes: an 8-byte little-endian header length, the JSON header padded with spaces to a multiple
//! of 8 bytes, then each tensor's little-endian data in the order of the header's offsets.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{BETA_KEY, ENCODER_DECODER, FORMAT, FORMAT_VERSION, MAX_HEADER_BYTES, MODEL_KEY, VAE};
use crate::error::{Error, Result};
use crate::layers::{Activation, Layer, Padding};
use crate::models::{names, Autoencoder, Vae};

/// A one- or two-dimensional f32 tensor to write.
pub(crate) struct Tensor<'a> {
    pub(crate) shape: Vec<usize>,
    pub(crate) values: Cow<'a, [f32]>,
}

/// What goes into a file: tensors by name and `__metadata__`, both kept sorted by name.
#[derive(Default)]
pub(crate) struct Contents<'a> {
    pub(crate) tensors: BTreeMap<String, Tensor<'a>>,
    pub(crate) metadata: BTreeMap<String, String>,
}

impl Contents<'_> {
    /// The safetensors bytes.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut header = BTreeMap::<&str, Value>::new();
        header.insert("__metadata__", json!(self.metadata));
        let mut offset = 0_usize;
        for (name, tensor) in &self.tensors {
            let end = offset + 4 * tensor.values.len();
            header.insert(
                name,
                json!({"dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, end]}),
            );
            offset = end;
        }
        let mut header_bytes = serde_json::to_vec(&header)
            .map_err(|e| Error::InvalidArgument(format!("cannot write the safetensors header: {e}")))?;
        header_bytes.resize(header_bytes.len().next_multiple_of(8), b' ');
        if header_bytes.len() > MAX_HEADER_BYTES {
            return Err(Error::InvalidArgument(format!(
                "the safetensors header would be {} bytes, over the limit of {MAX_HEADER_BYTES} bytes that loading \
                 accepts (autoencoder::persist::MAX_HEADER_BYTES): the header grows with the number of layers (a few \
                 hundred bytes each) and the metadata stored, so this model has too many layers or too much metadata \
                 for one file",
                header_bytes.len()
            )));
        }

        let mut bytes = Vec::with_capacity(8 + header_bytes.len() + offset);
        bytes.extend_from_slice(&(header_bytes.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header_bytes);
        for tensor in self.tensors.values() {
            for value in tensor.values.iter() {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
        Ok(bytes)
    }
}

/// The tensors and metadata of a model file for `autoencoder` (with `model` = `encoder_decoder` when its outputs
/// differ in size from its inputs); errors when a weight is not finite.
pub(crate) fn model_contents(autoencoder: &Autoencoder) -> Result<Contents<'_>> {
    let mut contents = layers_contents(autoencoder.encoder().layers(), autoencoder.decoder().layers())?;
    if autoencoder.outputs() != autoencoder.inputs() {
        contents.metadata.insert(MODEL_KEY.into(), ENCODER_DECODER.into());
    }
    Ok(contents)
}

/// The tensors and metadata of a model file for `vae`: an autoencoder's, plus `model` = `vae` and its `beta`;
/// errors when a weight or β is not finite.
pub(crate) fn vae_contents(vae: &Vae) -> Result<Contents<'_>> {
    if !(vae.beta().is_finite() && vae.beta() >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "cannot save a VAE whose beta is {}: it must be finite and not negative",
            vae.beta()
        )));
    }
    let mut contents = layers_contents(vae.encoder().layers(), vae.decoder().layers())?;
    contents.metadata.insert(MODEL_KEY.into(), VAE.into());
    contents.metadata.insert(BETA_KEY.into(), vae.beta().to_string());
    Ok(contents)
}

/// The tensors and metadata of a model file for the layers of an encoder and a decoder.
fn layers_contents<'a>(encoder: &'a [Layer], decoder: &'a [Layer]) -> Result<Contents<'a>> {
    let mut contents = Contents::default();
    let metadata = &mut contents.metadata;
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("format_version".into(), FORMAT_VERSION.to_string());
    metadata.insert("crate_version".into(), env!("CARGO_PKG_VERSION").into());
    for (part, layers) in [(names::ENCODER, encoder), (names::DECODER, decoder)] {
        contents
            .metadata
            .insert(format!("{part}.layers"), layers.len().to_string());
        for (i, layer) in layers.iter().enumerate() {
            let prefix = names::layer(part, i);
            let activation = layer.activation().to_string();
            // `load` reads the name back, which fails for a NaN or infinite parameter (`leaky_relu(NaN)`).
            if activation.parse::<Activation>().is_err() {
                return Err(Error::InvalidArgument(format!(
                    "cannot save {prefix}: its activation {activation} has a parameter that is not a finite \
                     number, so the file could not be loaded again"
                )));
            }
            contents.metadata.insert(format!("{prefix}.activation"), activation);
            contents.metadata.insert(format!("{prefix}.kind"), layer.kind().into());
            if let Some((input_shape, stride, padding)) = convolution_settings(layer) {
                let (h, w, c) = input_shape;
                contents
                    .metadata
                    .insert(format!("{prefix}.input_shape"), format!("{h},{w},{c}"));
                contents.metadata.insert(format!("{prefix}.stride"), stride.to_string());
                contents
                    .metadata
                    .insert(format!("{prefix}.padding"), padding.to_string());
            }
            let (weight, bias) = layer_tensors(layer);
            for (name, tensor) in names::parameters(&prefix).into_iter().zip([weight, bias]) {
                check_finite_before_save(&name, &tensor.values)?;
                contents.tensors.insert(name, tensor);
            }
        }
    }
    Ok(contents)
}

/// A layer's weights `(inputs, outputs)` and bias `(outputs)`, borrowed when in standard layout (always, for
/// [`Dense`](crate::Dense)).
/// A convolution's input shape, stride and padding; `None` for a dense layer.
fn convolution_settings(layer: &Layer) -> Option<((usize, usize, usize), usize, Padding)> {
    match layer {
        Layer::Dense(_) => None,
        Layer::Conv2d(l) => Some((l.input_shape(), l.stride(), l.padding())),
        Layer::ConvTranspose2d(l) => Some((l.input_shape(), l.stride(), l.padding())),
    }
}

/// The layer's weight (in its own shape) and bias, borrowed.
fn layer_tensors(layer: &Layer) -> (Tensor<'_>, Tensor<'_>) {
    let (weights, bias) = layer.parameters();
    let weight = Tensor {
        shape: layer.weights().shape().to_vec(),
        values: Cow::Borrowed(weights),
    };
    let bias = Tensor {
        shape: vec![bias.len()],
        values: Cow::Borrowed(bias),
    };
    (weight, bias)
}

pub(crate) fn check_finite_before_save(name: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::InvalidArgument(format!(
            "cannot save {name}: it holds {} at index {index}; a model with non-finite values is diverged \
             and could not be loaded again",
            values[index]
        ))),
    }
}
