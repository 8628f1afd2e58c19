//! What an [`Autoencoder`](crate::Autoencoder) and a [`Vae`](crate::Vae) share: an encoder and a decoder, taken
//! together as one chain of layers (encoder's first), with the checks and names that go with it.

use ndarray::{ArrayView2, CowArray, Ix2};

use super::{names, Decoder, Encoder};
use crate::error::{Error, Result};
use crate::layers::Layer;

/// Every layer, the encoder's then the decoder's.
pub(crate) fn layers<'a>(encoder: &'a Encoder, decoder: &'a Decoder) -> impl Iterator<Item = &'a Layer> {
    encoder.layers().iter().chain(decoder.layers())
}

/// Every parameter tensor with its name ([`names`]), in the order a training step updates them.
pub(crate) fn named_parameters<'a>(
    encoder: &'a Encoder,
    decoder: &'a Decoder,
) -> impl Iterator<Item = (String, &'a [f32])> {
    let names = names::autoencoder(encoder.layers().len(), decoder.layers().len());
    names.zip(layers(encoder, decoder).flat_map(|layer| {
        let (weights, bias) = layer.parameters();
        [weights, bias]
    }))
}

/// Replaces every layer (encoder's then decoder's) with `layers`, which must have the same shapes (they come from
/// [`layers`] earlier, e.g. early stopping's best weights).
pub(crate) fn set_layers(encoder: &mut Encoder, decoder: &mut Decoder, layers: Vec<Layer>) {
    let own = encoder.layers_mut().iter_mut().chain(decoder.layers_mut());
    for (own, saved) in own.zip(layers) {
        debug_assert_eq!(own.weights().shape(), saved.weights().shape());
        *own = saved;
    }
}

/// Checks a batch of inputs and targets for a model of `(inputs, outputs)` columns: `input` `(n, inputs)` with
/// `n > 0`, `target` `(n, outputs)`. `context` names the call and the data in errors (`train_step`,
/// `fit (validation data)`, ...).
pub(crate) fn check_batch(
    context: &str,
    (inputs, outputs): (usize, usize),
    input: ArrayView2<f32>,
    target: ArrayView2<f32>,
) -> Result<()> {
    if input.ncols() != inputs {
        return Err(Error::shape(
            format!("{context} (input columns)"),
            format!("{inputs} columns"),
            format!("{} columns", input.ncols()),
        ));
    }
    if target.dim() != (input.nrows(), outputs) {
        let what = if inputs == outputs {
            "target vs input shape"
        } else {
            "target shape: a row per input, the model's outputs"
        };
        return Err(Error::shape(
            format!("{context} ({what})"),
            format!("{:?}", (input.nrows(), outputs)),
            format!("{:?}", target.dim()),
        ));
    }
    if input.nrows() == 0 {
        return Err(Error::InvalidArgument(format!(
            "{context} needs at least one row of data"
        )));
    }
    Ok(())
}

/// `input` as the encoder's first layer reads it in a training step: a convolution reads its input's rows as
/// images in memory, so other layouts (a transposed view) are copied; a dense layer reads any layout.
pub(crate) fn as_encoder_reads<'a>(encoder: &Encoder, input: ArrayView2<'a, f32>) -> CowArray<'a, f32, Ix2> {
    match encoder.layers()[0] {
        Layer::Dense(_) => CowArray::from(input),
        _ if input.is_standard_layout() => CowArray::from(input),
        _ => CowArray::from(input.as_standard_layout().into_owned()),
    }
}
