//! The names of a model's parameter tensors: the one place they are made.
//!
//! Every parameter tensor has a dotted name, as candle's `VarBuilder` and PyTorch's `state_dict` name theirs:
//! layer `i` (from 0) of a part (`encoder`, `decoder`) is `{part}.{i}`, and its tensors are `{part}.{i}.weight`
//! and `{part}.{i}.bias`. The same names key the tensors of model files ([`crate::io::persist`]), the
//! optimizer's state ([`Optimizer`](crate::Optimizer), [`OptimizerState`](crate::OptimizerState)) and
//! checkpoints ([`crate::training::checkpoint`]);
//! [`Autoencoder::named_parameters`](crate::Autoencoder::named_parameters) lists a model's.
//!
//! ```
//! use autoencoder::models::names;
//! let layer = names::layer(names::ENCODER, 0);
//! assert_eq!((layer.as_str(), names::weight(&layer)), ("encoder.0", "encoder.0.weight".to_string()));
//! let all: Vec<String> = names::stack(names::DECODER, 2).collect();
//! assert_eq!(all, ["decoder.0.weight", "decoder.0.bias", "decoder.1.weight", "decoder.1.bias"]);
//! ```

/// The encoder's part name, the first part of its layers' names.
///
/// ```
/// assert_eq!(autoencoder::models::names::ENCODER, "encoder");
/// ```
pub const ENCODER: &str = "encoder";

/// The decoder's part name, the first part of its layers' names.
///
/// ```
/// assert_eq!(autoencoder::models::names::DECODER, "decoder");
/// ```
pub const DECODER: &str = "decoder";

/// The name of layer `i` of `part`: `{part}.{i}`, the prefix of its tensors' names (and of its metadata keys in
/// a model file).
///
/// ```
/// assert_eq!(autoencoder::models::names::layer("decoder", 3), "decoder.3");
/// ```
pub fn layer(part: &str, i: usize) -> String {
    format!("{part}.{i}")
}

/// The name of the weight (kernel) tensor of the layer named `layer`: `{layer}.weight`.
///
/// ```
/// assert_eq!(autoencoder::models::names::weight("encoder.1"), "encoder.1.weight");
/// ```
pub fn weight(layer: &str) -> String {
    format!("{layer}.weight")
}

/// The name of the bias tensor of the layer named `layer`: `{layer}.bias`.
///
/// ```
/// assert_eq!(autoencoder::models::names::bias("encoder.1"), "encoder.1.bias");
/// ```
pub fn bias(layer: &str) -> String {
    format!("{layer}.bias")
}

/// The names of the layer named `layer`'s parameter tensors, in the order a training step updates them: weight,
/// then bias. A layer with several heads names each head as a layer of its own (`encoder.2.mean`).
///
/// ```
/// use autoencoder::models::names;
/// assert_eq!(names::parameters("encoder.2.mean"), ["encoder.2.mean.weight", "encoder.2.mean.bias"]);
/// ```
pub fn parameters(layer: &str) -> [String; 2] {
    [weight(layer), bias(layer)]
}

/// The parameter names of a stack of `layers` layers named `part`, in order: `{part}.0.weight`,
/// `{part}.0.bias`, `{part}.1.weight`, ...
///
/// ```
/// let names: Vec<String> = autoencoder::models::names::stack("encoder", 1).collect();
/// assert_eq!(names, ["encoder.0.weight", "encoder.0.bias"]);
/// ```
pub fn stack(part: &str, layers: usize) -> impl Iterator<Item = String> + '_ {
    (0..layers).flat_map(move |i| parameters(&layer(part, i)))
}

/// The parameter names of an autoencoder of `encoder_layers` then `decoder_layers` layers, in the order a training
/// step updates them (and a checkpoint of the slot-numbered format numbered them, from 0): the encoder's, then the
/// decoder's, each layer's weight then bias.
///
/// ```
/// let names: Vec<String> = autoencoder::models::names::autoencoder(1, 1).collect();
/// assert_eq!(names, ["encoder.0.weight", "encoder.0.bias", "decoder.0.weight", "decoder.0.bias"]);
/// ```
pub fn autoencoder(encoder_layers: usize, decoder_layers: usize) -> impl Iterator<Item = String> {
    stack(ENCODER, encoder_layers).chain(stack(DECODER, decoder_layers))
}
