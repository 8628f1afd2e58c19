//! Reading model files: check the header length, parse and check the header (see `header.rs`), then check every
//! tensor and metadata key before building the model. Every problem becomes a message that says what is wrong
//! (the caller adds the path).

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use ndarray::{Array1, Array2, Array4};
use safetensors::tensor::TensorInfo;
use safetensors::Dtype;

use super::header::{Header, MAX_HEADER_BYTES};
use super::{model_file_error, BETA_KEY, ENCODER_DECODER, FORMAT, FORMAT_VERSION, MODEL_KEY, VAE};
use crate::error::{Error, Result};
use crate::layers::{Activation, Conv2d, ConvTranspose2d, Dense, Layer, Padding};
use crate::models::{names, Autoencoder, Decoder, Encoder, Vae};

/// The outcome of a check: the message says what is wrong with the file.
pub(crate) type Check<T> = std::result::Result<T, String>;

/// How many tensor names an error message lists.
const SHOWN_NAMES: usize = 10;

/// The bytes of the 8-byte header length that starts every safetensors file.
const LENGTH_BYTES: usize = 8;

/// Reads a model or checkpoint file in stages — the header length, the header, then the tensor data — checking
/// each before reading the next, so that a large file that is not a model (a big raw array, another model
/// format, someone else's safetensors) fails after a few reads instead of being read whole. Gives the parsed
/// header and the tensor data, for [`ModelFile::new`].
pub(crate) fn read_file(path: &Path) -> Result<(Header, Vec<u8>)> {
    let io_error = |e| Error::io(path, e);
    let not_a_model = |message| model_file_error(path, message);
    let mut file = File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();

    let mut bytes = Vec::new();
    (&mut file)
        .take(LENGTH_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    check_prefix(&bytes, size).map_err(not_a_model)?;
    // check_prefix bounds the header by MAX_HEADER_BYTES and by the file's size.
    (&mut file)
        .take(header_len(&bytes) as u64)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    let header = check_header(&bytes, size).map_err(not_a_model)?;
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(io_error)?;
    Ok((header, data))
}

/// Checks what comes before the tensor data — the header length, the header (parsed once), its tensor table, that
/// the data has the size the table gives, and a foreign `format` — in that order, whether the bytes come from a
/// file read in stages or from memory, so that both give the same message. `bytes` holds at least the header
/// length and the header; `size` is the whole file's.
fn check_header(bytes: &[u8], size: u64) -> Check<Header> {
    check_prefix(bytes, size)?;
    // check_prefix checked that the header lies within the file's `size` bytes.
    let end = LENGTH_BYTES + header_len(bytes);
    let json = bytes
        .get(LENGTH_BYTES..end)
        .ok_or("corrupt: the header runs past the end of the file")?;
    let header = Header::parse(json).map_err(|message| match other_format(bytes) {
        Some(format) => format!("not a safetensors file: this looks like {format}"),
        None => message,
    })?;
    header.check_table(size - end as u64)?;
    if let Some(format) = header.format() {
        if format != FORMAT {
            return Err(other_format_message(format));
        }
    }
    Ok(header)
}

/// A parsed safetensors file: its header and data, not yet checked as a model.
pub(crate) struct ModelFile<'a> {
    header: Header,
    data: &'a [u8],
    metadata: HashMap<String, String>,
}

impl<'a> ModelFile<'a> {
    /// Parses and checks the safetensors structure of a whole file's bytes: header length, JSON header, tensor
    /// offsets that cover the data.
    pub(crate) fn parse(bytes: &'a [u8]) -> Check<ModelFile<'a>> {
        let header = check_header(bytes, bytes.len() as u64)?;
        // check_header checked that the header lies within `bytes`.
        let data = bytes
            .get(LENGTH_BYTES + header_len(bytes)..)
            .ok_or("corrupt: the header runs past the end of the file")?;
        ModelFile::new(header, data)
    }

    /// The file of a header checked by [`read_file`] and the tensor data read after it (which is checked again
    /// against the header, in case the file changed while it was read).
    pub(crate) fn new(mut header: Header, data: &'a [u8]) -> Check<ModelFile<'a>> {
        let (declared, found) = (header.data_len() as u64, data.len() as u64);
        if declared != found {
            return Err(data_size_mismatch(declared, found));
        }
        let metadata = header.take_metadata().ok_or_else(|| {
            format!(
                "the header has no __metadata__, so this is not a file written by autoencoder (it needs \
                 format = {FORMAT:?}, the layer counts and activations; see the autoencoder::persist docs)"
            )
        })?;
        Ok(ModelFile { header, data, metadata })
    }

    /// The model, checked: format and version, that it is a plain autoencoder (not a [`Vae`]'s file), the set
    /// of tensors, their dtypes, shapes and values, the activations, and that the layers chain. A checkpoint's
    /// extra `optimizer.*` tensors are allowed.
    pub(crate) fn autoencoder(&self) -> Check<Autoencoder> {
        self.check_format()?;
        let junction = match self.metadata.get(MODEL_KEY).map(String::as_str) {
            None => Junction::Autoencoder,
            Some(ENCODER_DECODER) => Junction::EncoderDecoder,
            Some(VAE) => {
                return Err(format!(
                    "this file holds a variational autoencoder ({MODEL_KEY} = {VAE} in its metadata), not a plain \
                     one: load it with Vae::load"
                ))
            }
            Some(other) => return Err(unknown_model(other)),
        };
        let (encoder, decoder) = self.parts(junction)?;
        Autoencoder::encoder_decoder(encoder, decoder).map_err(|e| e.to_string())
    }

    /// Whether the metadata says that the file holds a variational autoencoder (`model` = `vae`).
    pub(crate) fn is_vae(&self) -> bool {
        self.metadata.get(MODEL_KEY).map(String::as_str) == Some(VAE)
    }

    /// The variational autoencoder, checked as [`autoencoder`](Self::autoencoder) checks a model, and that the
    /// file says it is one (`model` = `vae`) with a finite, non-negative `beta`.
    pub(crate) fn vae(&self) -> Check<Vae> {
        self.check_format()?;
        match self.metadata.get(MODEL_KEY).map(String::as_str) {
            Some(VAE) => {}
            None | Some(ENCODER_DECODER) => {
                return Err(format!(
                    "this file holds a plain autoencoder, not a variational one (its metadata has no {MODEL_KEY} = \
                     {VAE}): load it with Autoencoder::load"
                ))
            }
            Some(other) => return Err(unknown_model(other)),
        }
        let beta: f32 = self.number(BETA_KEY)?;
        if !(beta.is_finite() && beta >= 0.0) {
            return Err(format!(
                "the metadata key {BETA_KEY:?} is {beta}: a VAE's beta must be finite and not negative"
            ));
        }
        let (encoder, decoder) = self.parts(Junction::Vae)?;
        Vae::new(encoder, decoder)
            .map(|vae| vae.with_beta(beta))
            .map_err(|e| e.to_string())
    }

    /// The encoder and the decoder, checked: the set of tensors, their dtypes, shapes and values, the activations,
    /// and that the layers chain, meeting at `junction`.
    fn parts(&self, junction: Junction) -> Check<(Encoder, Decoder)> {
        let encoder_layers: usize = self.number("encoder.layers")?;
        let decoder_layers: usize = self.number("decoder.layers")?;
        for (part, count) in [(names::ENCODER, encoder_layers), (names::DECODER, decoder_layers)] {
            if count == 0 {
                return Err(format!(
                    "{part}.layers is 0: an autoencoder needs at least one layer in each part"
                ));
            }
        }
        let expected_names = || names::autoencoder(encoder_layers, decoder_layers);
        // Stops at the first few missing names, so a layer count far beyond what the file holds costs nothing.
        let missing: Vec<String> = expected_names()
            .filter(|name| self.header.info(name).is_none())
            .take(SHOWN_NAMES + 1)
            .collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(SHOWN_NAMES).map(String::as_str).collect();
            return Err(format!(
                "missing tensors: {}{} (encoder.layers is {encoder_layers}, decoder.layers {decoder_layers})",
                shown.join(", "),
                if missing.len() > SHOWN_NAMES { " and more" } else { "" }
            ));
        }
        // Every expected tensor exists, so there are no more of them than the file holds.
        let expected: HashSet<String> = expected_names().collect();
        let may_hold_optimizer = self.metadata.contains_key("checkpoint_version");
        let mut extra: Vec<&str> = self
            .header
            .names()
            .filter(|name| !expected.contains(*name))
            .filter(|name| !(may_hold_optimizer && name.starts_with("optimizer.")))
            .collect();
        if !extra.is_empty() {
            extra.sort_unstable();
            return Err(format!(
                "unexpected tensors {} (a model file holds only encoder.{{i}}.weight/bias and \
                 decoder.{{i}}.weight/bias for the layers in encoder.layers and decoder.layers)",
                name_list(&extra)
            ));
        }

        let mut encoder = Vec::with_capacity(encoder_layers);
        let mut decoder = Vec::with_capacity(decoder_layers);
        for (part, count, layers) in [
            (names::ENCODER, encoder_layers, &mut encoder),
            (names::DECODER, decoder_layers, &mut decoder),
        ] {
            for i in 0..count {
                layers.push(self.layer(part, i)?);
            }
        }
        check_chain(&encoder, &decoder, junction)?;
        let encoder = Encoder::new(encoder).map_err(|e| e.to_string())?;
        let decoder = Decoder::new(decoder).map_err(|e| e.to_string())?;
        Ok((encoder, decoder))
    }

    /// Checks `format` and `format_version` (first, so that a newer file says "upgrade" and nothing else).
    pub(crate) fn check_format(&self) -> Check<()> {
        let format = self.key("format")?;
        if format != FORMAT {
            return Err(other_format_message(format));
        }
        self.check_version("format_version", FORMAT_VERSION)
    }

    /// Checks that the version under `key` is one this crate reads (1 to `newest`).
    pub(crate) fn check_version(&self, key: &str, newest: u32) -> Check<()> {
        let version: u32 = self.number(key)?;
        if version > newest {
            return Err(format!(
                "{key} {version} is newer than this version of autoencoder ({}) reads ({newest}): upgrade the \
                 autoencoder crate to load it",
                env!("CARGO_PKG_VERSION")
            ));
        }
        if version == 0 {
            return Err(format!("{key} 0 is not a valid version (versions start at 1)"));
        }
        Ok(())
    }

    /// The metadata value under `key`.
    pub(crate) fn key(&self, key: &str) -> Check<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("the metadata key {key:?} is missing from __metadata__"))
    }

    /// Whether the metadata has `key`.
    pub(crate) fn has_key(&self, key: &str) -> bool {
        self.metadata.contains_key(key)
    }

    /// The metadata entries, in no particular order.
    pub(crate) fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The metadata value under `key`, parsed as a number.
    pub(crate) fn number<T: FromStr>(&self, key: &str) -> Check<T>
    where
        T::Err: Display,
    {
        let text = self.key(key)?;
        text.trim()
            .parse()
            .map_err(|e| format!("the metadata key {key:?} is {text:?}, not a valid number: {e}"))
    }

    /// The names of all tensors, in file order.
    pub(crate) fn tensor_names(&self) -> Vec<String> {
        self.header.names().map(str::to_string).collect()
    }

    /// The number of tensors.
    pub(crate) fn tensor_count(&self) -> usize {
        self.header.len()
    }

    /// A tensor's shape and values, checked to be F32 with `rank` dimensions and finite values; `role` names
    /// what it is in messages ("weight", "bias", "optimizer buffer").
    pub(crate) fn f32_tensor(&self, name: &str, rank: usize, role: &str) -> Check<(Vec<usize>, Vec<f32>)> {
        let info: &TensorInfo = self.header.info(name).ok_or_else(|| format!("missing tensor {name}"))?;
        if info.dtype != Dtype::F32 {
            return Err(format!(
                "tensor {name} has dtype {}; autoencoder files hold F32 only (in NumPy: .astype(np.float32))",
                info.dtype
            ));
        }
        if info.shape.len() != rank {
            return Err(format!(
                "tensor {name} has shape {} ({} dimensions), but {} {role} has {rank}",
                shape_text(&info.shape),
                info.shape.len(),
                if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                }
            ));
        }
        let (start, end) = info.data_offsets;
        let bytes = self
            .data
            .get(start..end)
            .ok_or_else(|| format!("corrupt: tensor {name}'s data lies outside the file"))?;
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "tensor {name} holds {} at index {index}: a model with non-finite values is corrupt or \
                 diverged, and is not loaded",
                values[index]
            ));
        }
        Ok((info.shape.clone(), values))
    }

    /// Layer `i` of `part` ("encoder" or "decoder"): its kind (dense in version-1 files, which do not name it),
    /// weight, bias, activation and, for the convolutions, input shape, stride and padding.
    fn layer(&self, part: &str, i: usize) -> Check<Layer> {
        let name = names::layer(part, i);
        let kind_key = format!("{name}.kind");
        let kind = match self.number::<u32>("format_version")? {
            1 => "dense",
            _ => self.key(&kind_key)?,
        };
        let activation_key = format!("{name}.activation");
        let activation: Activation = self.key(&activation_key)?.parse().map_err(|e| match e {
            Error::InvalidArgument(message) => format!("{activation_key}: {message}"),
            other => format!("{activation_key}: {other}"),
        })?;
        let layer = match kind {
            "dense" => self.dense(&name, activation)?.into(),
            "conv2d" | "conv_transpose2d" => {
                let (shape, kernel) = self.f32_tensor(&names::weight(&name), 4, "kernel (kh, kw, in/out, out/in)")?;
                let (_, bias) = self.f32_tensor(&names::bias(&name), 1, "bias (channels)")?;
                let kernel = Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), kernel)
                    .map_err(|e| format!("{name}.weight: {e}"))?;
                let (input_shape, stride, padding) = self.convolution_settings(&name)?;
                let bias = Array1::from(bias);
                let made = match kind {
                    "conv2d" => {
                        Conv2d::from_parts(kernel, bias, input_shape, stride, padding, activation).map(Layer::from)
                    }
                    _ => ConvTranspose2d::from_parts(kernel, bias, input_shape, stride, padding, activation)
                        .map(Layer::from),
                };
                made.map_err(|e| format!("{name}: {e}"))?
            }
            other => {
                return Err(format!(
                    "{kind_key} is {other:?}: expected dense, conv2d or conv_transpose2d (a newer file? upgrade the \
                     autoencoder crate)"
                ))
            }
        };
        Ok(layer)
    }

    /// A dense layer's weight `(inputs, outputs)` and bias, checked against each other.
    fn dense(&self, name: &str, activation: Activation) -> Check<Dense> {
        let (weight_shape, weights) = self.f32_tensor(&names::weight(name), 2, "weight (inputs, outputs)")?;
        let (_, bias) = self.f32_tensor(&names::bias(name), 1, "bias (outputs)")?;
        let (inputs, outputs) = (weight_shape[0], weight_shape[1]);
        if inputs == 0 || outputs == 0 {
            return Err(format!(
                "tensor {name}.weight has shape {}: a layer needs at least one input and one output",
                shape_text(&weight_shape)
            ));
        }
        if bias.len() != outputs {
            return Err(format!(
                "tensor {name}.bias has {} elements, but {name}.weight (shape {}) has {outputs} outputs",
                bias.len(),
                shape_text(&weight_shape)
            ));
        }
        let weights = Array2::from_shape_vec((inputs, outputs), weights).map_err(|e| format!("{name}.weight: {e}"))?;
        Dense::from_parts(weights, Array1::from(bias), activation).map_err(|e| format!("{name}: {e}"))
    }

    /// A convolution's `input_shape` (`h,w,c`), `stride` and `padding` from the metadata.
    fn convolution_settings(&self, name: &str) -> Check<((usize, usize, usize), usize, Padding)> {
        let shape_key = format!("{name}.input_shape");
        let text = self.key(&shape_key)?;
        let sizes: Vec<usize> = text
            .split(',')
            .map(|part| part.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format!("{shape_key} is {text:?}: expected three sizes h,w,c such as 28,28,1"))?;
        let [h, w, c] = sizes[..] else {
            return Err(format!(
                "{shape_key} is {text:?}: expected three sizes h,w,c such as 28,28,1"
            ));
        };
        let stride: usize = self.number(&format!("{name}.stride"))?;
        let padding_key = format!("{name}.padding");
        let padding: Padding = self
            .key(&padding_key)?
            .parse()
            .map_err(|e| format!("{padding_key}: {e}"))?;
        Ok(((h, w, c), stride, padding))
    }
}

/// The message for a `model` in the metadata that this crate does not know.
fn unknown_model(model: &str) -> String {
    format!(
        "the metadata key {MODEL_KEY:?} is {model:?}: expected {VAE:?} (a variational autoencoder), \
         {ENCODER_DECODER:?} (an encoder-decoder whose outputs differ from its inputs) or no such key (a plain \
         autoencoder); a newer file? upgrade the autoencoder crate"
    )
}

/// Where the encoder meets the decoder in a model file.
#[derive(Clone, Copy, PartialEq)]
enum Junction {
    /// An autoencoder's: the decoder takes the encoder's outputs and gives back the encoder's input size.
    Autoencoder,
    /// An encoder-decoder's: the decoder takes the encoder's outputs and gives any size.
    EncoderDecoder,
    /// A VAE's: the encoder gives a mean and a log-variance per latent dimension, the decoder takes a sample.
    Vae,
}

/// Checks that each layer takes what the previous one gives (at the junction, half of it for a VAE), and that the
/// decoder gives back the encoder's input size (but for an encoder-decoder), naming the layers that disagree.
fn check_chain(encoder: &[Layer], decoder: &[Layer], junction: Junction) -> Check<()> {
    let named = encoder
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("encoder.{i}"), l))
        .chain(decoder.iter().enumerate().map(|(i, l)| (format!("decoder.{i}"), l)));
    let mut previous: Option<(String, usize)> = None;
    for (name, layer) in named {
        if let Some((previous_name, previous_outputs)) = &previous {
            let at_vae_junction = junction == Junction::Vae && name == "decoder.0";
            let takes = if at_vae_junction {
                2 * layer.inputs()
            } else {
                layer.inputs()
            };
            if takes != *previous_outputs {
                let why = match layer {
                    Layer::Dense(_) => format!("{name}.weight has shape ({}, {})", layer.inputs(), layer.outputs()),
                    _ => format!("{name} is a {} of {name}.input_shape", layer.kind()),
                };
                if at_vae_junction {
                    return Err(format!(
                        "the layers do not chain: {why}, so {name} takes a latent sample of {} values, but \
                         {previous_name} gives {previous_outputs} outputs, not twice that (a VAE's encoder gives the \
                         mean and the log-variance of each latent value)",
                        layer.inputs()
                    ));
                }
                return Err(format!(
                    "the layers do not chain: {why}, so {name} takes {} inputs, but {previous_name} gives \
                     {previous_outputs} outputs",
                    layer.inputs()
                ));
            }
        }
        previous = Some((name, layer.outputs()));
    }
    if let (Some(first), Some(last)) = (encoder.first(), decoder.last()) {
        if junction != Junction::EncoderDecoder && last.outputs() != first.inputs() {
            return Err(format!(
                "the decoder gives {} outputs (decoder.{}.weight), but the encoder takes {} inputs \
                 (encoder.0.weight): an autoencoder must reconstruct its input",
                last.outputs(),
                decoder.len() - 1,
                first.inputs()
            ));
        }
    }
    Ok(())
}

/// Checks the 8-byte header length before parsing, to name the common cases: a file too short, another
/// format, a truncated file. `size` is the whole file's size; `prefix` holds its first 8 bytes (or all of it,
/// when shorter).
fn check_prefix(prefix: &[u8], size: u64) -> Check<()> {
    let problem = match prefix.get(..LENGTH_BYTES) {
        None => format!(
            "not a safetensors file (or truncated): {size} bytes, too short for the 8-byte header length \
             that starts one"
        ),
        Some(_) => {
            let claimed = header_len(prefix) as u64;
            let available = size.saturating_sub(LENGTH_BYTES as u64);
            if claimed > MAX_HEADER_BYTES as u64 {
                format!(
                    "not a safetensors file, or not a model: its first 8 bytes give a header length of {claimed} \
                     bytes, over the limit of {MAX_HEADER_BYTES} bytes for a model file's header (which takes under \
                     1 kB per layer; see autoencoder::persist::MAX_HEADER_BYTES)"
                )
            } else if claimed > available {
                format!(
                    "truncated or not a safetensors file: the header length is {claimed} bytes, but only \
                     {available} bytes follow it"
                )
            } else {
                return Ok(());
            }
        }
    };
    Err(match other_format(prefix) {
        Some(format) => format!("not a safetensors file: this looks like {format}"),
        None => problem,
    })
}

/// Names a few formats a model file is mistaken for, from their first bytes.
fn other_format(prefix: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (
            b"PK\x03\x04",
            "a zip archive (a PyTorch .pt/.pth file or a Keras .keras file?)",
        ),
        (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?)"),
        (b"\x93NUMPY", "a NumPy .npy array"),
        (b"\x1f\x8b", "a gzip-compressed file (decompress it first)"),
        (b"\x80\x02", "a Python pickle"),
        (b"\x80\x03", "a Python pickle"),
        (b"\x80\x04", "a Python pickle"),
        (b"\x80\x05", "a Python pickle"),
        (
            b"{\"",
            "JSON text (a safetensors file starts with the header's 8-byte length, then the JSON)",
        ),
        (
            b"{\n",
            "JSON text (a safetensors file starts with the header's 8-byte length, then the JSON)",
        ),
        (b"<", "HTML or XML text (an error page saved in place of the download?)"),
    ];
    SIGNATURES
        .iter()
        .find(|(signature, _)| prefix.starts_with(signature))
        .map(|&(_, format)| format)
}

/// The message for a file whose tensor data is shorter or longer than its header says.
pub(super) fn data_size_mismatch(declared: u64, found: u64) -> String {
    if declared > found {
        format!("truncated: the header describes {declared} bytes of tensor data, but the file holds only {found}")
    } else {
        format!(
            "corrupt: the header describes {declared} bytes of tensor data, but the file holds {found} (bytes \
             after the last tensor)"
        )
    }
}

/// The message for a safetensors file whose `format` is not ours.
fn other_format_message(format: &str) -> String {
    format!(
        "__metadata__ has format = {format:?}, expected {FORMAT:?}: this safetensors file was not written by \
         autoencoder{} (see the autoencoder::persist docs for the layout it needs)",
        if format == "pt" { " but by PyTorch" } else { "" }
    )
}

/// The header length in the first 8 bytes (0 when there are fewer).
fn header_len(bytes: &[u8]) -> usize {
    let mut length = [0_u8; LENGTH_BYTES];
    match bytes.get(..LENGTH_BYTES) {
        Some(b) => length.copy_from_slice(b),
        None => return 0,
    }
    usize::try_from(u64::from_le_bytes(length)).unwrap_or(usize::MAX)
}

/// `(784, 256)`.
pub(super) fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    }
}

/// `a, b, c` — at most ten names, then how many more.
pub(crate) fn name_list(names: &[&str]) -> String {
    const SHOWN: usize = 10;
    let mut text = names.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}
