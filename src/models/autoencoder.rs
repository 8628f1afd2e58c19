//! The autoencoder: an [`Encoder`] and a [`Decoder`] whose sizes fit, with inference (`encode`, `decode`,
//! `reconstruct`) and the training step.
//!
//! ```
//! use autoencoder::{Activation, Adam, Autoencoder, Decoder, Dense, Encoder, Init, Loss};
//! use autoencoder::ndarray::Array2;
//! use autoencoder::rand::{rngs::StdRng, SeedableRng};
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let encoder = Encoder::new(vec![Dense::new(8, 3, Activation::Tanh, Init::GlorotUniform, &mut rng)?])?;
//! let decoder = Decoder::new(vec![Dense::new(3, 8, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?])?;
//! let mut ae = Autoencoder::new(encoder, decoder)?;
//!
//! let x = Array2::from_shape_fn((4, 8), |(i, j)| ((i + j) % 2) as f32);
//! let mut adam = Adam::new(0.05);
//! let first = ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam)?;
//! for _ in 0..200 {
//!     ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam)?;
//! }
//! let last = Loss::Mse.value(ae.reconstruct(x.view())?.view(), x.view())?;
//! assert!(last < first / 10.0);
//! assert_eq!(ae.encode(x.view())?.dim(), (4, 3));
//! # Ok::<(), autoencoder::Error>(())
//! ```

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};

use super::workspace::{Chain, Workspace};
use super::{inference, parts, Decoder, Encoder};
use crate::alloc::try_zeros_2d;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::loss::{mean_squared_error_per_row, Loss};
use crate::matmul::on_pool;
use crate::optim::Optimizer;

/// An encoder and a decoder, trained together to reproduce their input. A clone copies the layers, not the
/// training buffers (the clone makes its own on its first training step).
///
/// ```
/// use autoencoder::Autoencoder;
/// let ae = Autoencoder::builder(784).hidden(&[256, 64]).latent(16).build()?;
/// assert_eq!((ae.encoder().layers().len(), ae.decoder().layers().len()), (3, 3));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Debug)]
pub struct Autoencoder {
    encoder: Encoder,
    decoder: Decoder,
    /// Training buffers, made on the first training step and reused by the next ones.
    workspace: Workspace,
}

impl Clone for Autoencoder {
    fn clone(&self) -> Autoencoder {
        Autoencoder {
            encoder: self.encoder.clone(),
            decoder: self.decoder.clone(),
            workspace: Workspace::default(),
        }
    }
}

impl PartialEq for Autoencoder {
    /// Two autoencoders are equal when their layers are (the training buffers do not count).
    fn eq(&self, other: &Autoencoder) -> bool {
        self.encoder == other.encoder && self.decoder == other.decoder
    }
}

impl Autoencoder {
    /// An autoencoder from an encoder and a decoder. Errors when the encoder's latent size differs from the
    /// decoder's, or the decoder's output size from the encoder's input size.
    ///
    /// ```
    /// use autoencoder::{Activation, Autoencoder, Decoder, Dense, Encoder};
    /// use autoencoder::ndarray::{Array1, Array2};
    /// let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// let encoder = Encoder::new(vec![dense(6, 2)?])?;
    /// assert!(Autoencoder::new(encoder.clone(), Decoder::new(vec![dense(2, 6)?])?).is_ok());
    /// assert!(Autoencoder::new(encoder.clone(), Decoder::new(vec![dense(3, 6)?])?).is_err()); // latent
    /// assert!(Autoencoder::new(encoder, Decoder::new(vec![dense(2, 5)?])?).is_err()); // output
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn new(encoder: Encoder, decoder: Decoder) -> Result<Autoencoder> {
        if encoder.latent() != decoder.latent() {
            return Err(Error::shape(
                "Autoencoder::new (decoder inputs vs encoder latent size)",
                encoder.latent(),
                decoder.latent(),
            ));
        }
        if decoder.outputs() != encoder.inputs() {
            return Err(Error::shape(
                "Autoencoder::new (decoder outputs vs encoder inputs)",
                encoder.inputs(),
                decoder.outputs(),
            ));
        }
        Autoencoder::encoder_decoder(encoder, decoder)
    }

    /// An encoder–decoder whose output may differ in size from its input: grey images in, colour images out
    /// (colorization), or images in and masks out (segmentation). It trains, runs and saves as an autoencoder
    /// does, with targets of [`outputs`](Self::outputs) columns; [`reconstruction_error`](Self::reconstruction_error)
    /// needs outputs of the input's size. Errors when the encoder's latent size differs from the decoder's.
    ///
    /// ```
    /// use autoencoder::{Activation, Autoencoder, Decoder, Dense, Encoder};
    /// use autoencoder::ndarray::{Array1, Array2};
    /// let dense = |i, o| Dense::from_parts(Array2::zeros((i, o)), Array1::zeros(o), Activation::Identity);
    /// // 4 grey pixels in, 4 RGB pixels (12 values) out
    /// let colorizer = Autoencoder::encoder_decoder(Encoder::new(vec![dense(4, 2)?])?, Decoder::new(vec![dense(2, 12)?])?)?;
    /// assert_eq!((colorizer.inputs(), colorizer.outputs()), (4, 12));
    /// assert_eq!(colorizer.reconstruct(Array2::zeros((3, 4)).view())?.dim(), (3, 12));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn encoder_decoder(encoder: Encoder, decoder: Decoder) -> Result<Autoencoder> {
        if encoder.latent() != decoder.latent() {
            return Err(Error::shape(
                "Autoencoder::encoder_decoder (decoder inputs vs encoder latent size)",
                encoder.latent(),
                decoder.latent(),
            ));
        }
        Ok(Autoencoder {
            encoder,
            decoder,
            workspace: Workspace::default(),
        })
    }

    /// The encoder.
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(10).latent(2).build()?;
    /// assert_eq!(ae.encoder().layers().last().unwrap().outputs(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The decoder.
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(10).latent(2).build()?;
    /// assert_eq!(ae.decoder().layers()[0].inputs(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Every parameter tensor with its name ([`names`](crate::models::names)), in the order a training step
    /// updates them: the encoder's layers then the decoder's, each layer's weight then bias. The names are those of
    /// the model file's tensors and of the optimizer's state; the values are flattened in row-major order.
    ///
    /// ```
    /// let ae = autoencoder::Autoencoder::builder(10).latent(2).build()?;
    /// let shapes: Vec<(String, usize)> = ae.named_parameters().map(|(name, v)| (name, v.len())).collect();
    /// assert_eq!(shapes[0], ("encoder.0.weight".to_string(), 20));
    /// assert_eq!(shapes[3], ("decoder.0.bias".to_string(), 10));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn named_parameters(&self) -> impl Iterator<Item = (String, &[f32])> {
        parts::named_parameters(&self.encoder, &self.decoder)
    }

    /// Takes the encoder and the decoder back.
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(10).latent(2).build()?;
    /// let (encoder, decoder) = ae.into_parts();
    /// assert_eq!((encoder.latent(), decoder.outputs()), (2, 10));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn into_parts(self) -> (Encoder, Decoder) {
        (self.encoder, self.decoder)
    }

    /// The input size (and the output size, but for an [`encoder_decoder`](Self::encoder_decoder)).
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(784).latent(16).build()?;
    /// assert_eq!(ae.inputs(), 784);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn inputs(&self) -> usize {
        self.encoder.inputs()
    }

    /// The output size: the decoder's, the same as [`inputs`](Self::inputs) but for an
    /// [`encoder_decoder`](Self::encoder_decoder).
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(784).latent(16).build()?;
    /// assert_eq!(ae.outputs(), 784);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn outputs(&self) -> usize {
        self.decoder.outputs()
    }

    /// The latent size.
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(784).latent(16).build()?;
    /// assert_eq!(ae.latent(), 16);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn latent(&self) -> usize {
        self.encoder.latent()
    }

    /// The number of trainable parameters.
    ///
    /// ```
    /// # let ae = autoencoder::Autoencoder::builder(784).hidden(&[256, 64]).latent(16).build()?;
    /// assert_eq!(ae.parameter_count(), 2 * (784 * 256 + 256 * 64 + 64 * 16) + 256 + 64 + 16 + 64 + 256 + 784);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn parameter_count(&self) -> usize {
        self.layers().map(Layer::parameter_count).sum()
    }

    /// The latent codes `(batch, latent)` of a batch `(batch, inputs)`. Errors on a wrong column count.
    ///
    /// ```
    /// use autoencoder::ndarray::Array2;
    /// let ae = autoencoder::Autoencoder::builder(784).hidden(&[64]).latent(16).seed(1).build()?;
    /// assert_eq!(ae.encode(Array2::zeros((5, 784)).view())?.dim(), (5, 16));
    /// assert!(ae.encode(Array2::zeros((5, 783)).view()).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn encode(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.encoder.encode(x)
    }

    /// The decoded outputs `(batch, outputs)` of latent codes `(batch, latent)`. Errors on a wrong column count.
    ///
    /// ```
    /// use autoencoder::ndarray::Array2;
    /// let ae = autoencoder::Autoencoder::builder(784).latent(16).build()?;
    /// assert_eq!(ae.decode(Array2::zeros((3, 16)).view())?.dim(), (3, 784));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn decode(&self, z: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.decoder.decode(z)
    }

    /// `decode(encode(x))`.
    ///
    /// ```
    /// use autoencoder::ndarray::Array2;
    /// let ae = autoencoder::Autoencoder::builder(20).latent(4).build()?;
    /// assert_eq!(ae.reconstruct(Array2::zeros((2, 20)).view())?.dim(), (2, 20));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let mut output = try_zeros_2d((x.nrows(), self.outputs()), "reconstruct's output")?;
        self.infer_into(x, output.view_mut(), "reconstruct")?;
        Ok(output)
    }

    /// [`encode`](Self::encode) into `codes` `(batch, latent)`, a buffer of the caller's: for one sample at a time
    /// (a stream scored as it comes, a server answering a request) with nothing allocated once the calling thread
    /// has run a batch of this size (for dense layers; a convolution allocates its patch scratch). Batches too
    /// small for the thread pool to pay run on the calling thread. Errors on a wrong column count or a buffer of
    /// the wrong shape.
    ///
    /// ```
    /// use autoencoder::ndarray::{s, Array2};
    /// let ae = autoencoder::Autoencoder::builder(784).hidden(&[64]).latent(16).seed(1).build()?;
    /// let images = Array2::from_elem((3, 784), 0.5_f32);
    /// let mut code = Array2::zeros((1, 16));
    /// for i in 0..images.nrows() {
    ///     ae.encode_into(images.slice(s![i..i + 1, ..]), code.view_mut())?;
    ///     assert_eq!(code.row(0), ae.encode(images.view())?.row(i)); // the same bits as in a batch
    /// }
    /// assert!(ae.encode_into(images.view(), code.view_mut()).is_err()); // 3 rows into a buffer of 1
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn encode_into(&self, x: ArrayView2<f32>, codes: ArrayViewMut2<f32>) -> Result<()> {
        self.encoder.encode_into(x, codes)
    }

    /// [`decode`](Self::decode) into `outputs` `(batch, outputs)`, a buffer of the caller's, as
    /// [`encode_into`](Self::encode_into) does.
    ///
    /// ```
    /// use autoencoder::ndarray::Array2;
    /// let ae = autoencoder::Autoencoder::builder(20).latent(4).build()?;
    /// let mut images = Array2::zeros((2, 20));
    /// ae.decode_into(Array2::zeros((2, 4)).view(), images.view_mut())?;
    /// assert_eq!(images, ae.decode(Array2::zeros((2, 4)).view())?);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn decode_into(&self, z: ArrayView2<f32>, outputs: ArrayViewMut2<f32>) -> Result<()> {
        self.decoder.decode_into(z, outputs)
    }

    /// [`reconstruct`](Self::reconstruct) into `outputs` `(batch, outputs)`, a buffer of the caller's, as
    /// [`encode_into`](Self::encode_into) does (the codes in between are kept in the thread's scratch).
    ///
    /// ```
    /// use autoencoder::ndarray::Array2;
    /// let ae = autoencoder::Autoencoder::builder(20).latent(4).build()?;
    /// let x = Array2::from_elem((2, 20), 0.25_f32);
    /// let mut outputs = Array2::zeros((2, 20));
    /// ae.reconstruct_into(x.view(), outputs.view_mut())?;
    /// assert_eq!(outputs, ae.decode(ae.encode(x.view())?.view())?);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn reconstruct_into(&self, x: ArrayView2<f32>, outputs: ArrayViewMut2<f32>) -> Result<()> {
        self.infer_into(x, outputs, "reconstruct_into")
    }

    /// `x` through the encoder and the decoder into `outputs`, for the call `call` (named in errors).
    fn infer_into(&self, x: ArrayView2<f32>, outputs: ArrayViewMut2<f32>, call: &str) -> Result<()> {
        let layers = (self.encoder.layers(), self.decoder.layers());
        inference::infer_into(layers, x, outputs, (call, "input"))
    }

    /// The mean squared error between each sample and its reconstruction, `(batch)`: the anomaly score. Errors
    /// on a wrong column count, and for an [`encoder_decoder`](Self::encoder_decoder) whose outputs differ in size
    /// from its inputs.
    ///
    /// ```
    /// use autoencoder::ndarray::Array2;
    /// let ae = autoencoder::Autoencoder::builder(20).latent(4).build()?;
    /// let errors = ae.reconstruction_error(Array2::from_elem((3, 20), 0.5).view())?;
    /// assert_eq!(errors.len(), 3);
    /// assert!(errors.iter().all(|&e| e >= 0.0));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn reconstruction_error(&self, x: ArrayView2<f32>) -> Result<Array1<f32>> {
        if self.outputs() != self.inputs() {
            return Err(Error::InvalidArgument(format!(
                "reconstruction_error compares each sample with its output, but this model maps {} inputs to {} \
                 outputs; compare reconstruct's outputs with your targets instead (autoencoder::metrics)",
                self.inputs(),
                self.outputs()
            )));
        }
        Ok(mean_squared_error_per_row(self.reconstruct(x)?, x))
    }

    /// One gradient step on this batch towards `target` (the input itself for a plain autoencoder, the clean
    /// image when denoising); returns the loss measured before the update.
    ///
    /// Errors, leaving the weights unchanged, on shape mismatches (input columns, target shape, an empty batch),
    /// on invalid optimizer settings, on an optimizer state made for another model (the optimizer updates each
    /// tensor under its name from [`named_parameters`](Self::named_parameters), and its state must hold exactly
    /// these names or none yet: [`Optimizer::check_parameters`]; use one optimizer per model), and with
    /// [`Error::NonFinite`] when the loss or a gradient is NaN or infinite,
    /// or when the update would make a weight or the optimizer's state so (`what`: `update`; the weights and the
    /// optimizer's state are then put back bit for bit). It never returns `Ok` with a non-finite weight, given
    /// finite weights before the step.
    /// Once the buffers exist (after the first step at the largest batch size), a step allocates nothing.
    ///
    /// ```
    /// use autoencoder::{Adam, Autoencoder, Loss};
    /// use autoencoder::ndarray::Array2;
    /// let mut ae = Autoencoder::builder(4).latent(2).seed(3).build()?;
    /// let x = Array2::from_elem((8, 4), 0.5_f32);
    /// let mut adam = Adam::new(1e-2);
    /// let before = ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam)?;
    /// let after = ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam)?;
    /// assert!(after < before);
    /// assert!(ae.train_step(x.view(), Array2::zeros((8, 3)).view(), Loss::Mse, &mut adam).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn train_step(
        &mut self,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        loss: Loss,
        optimizer: &mut impl Optimizer,
    ) -> Result<f32> {
        self.check_batch("train_step", input, target)?;
        optimizer.check()?;
        let input = parts::as_encoder_reads(&self.encoder, input);
        let input = input.view();
        let chain = Chain {
            first: self.encoder.layers(),
            second: self.decoder.layers(),
        };
        self.workspace.prepare(chain, input.nrows())?;
        // One hand-over to the thread pool for the whole step: forward, loss, backward, the NaN / infinity
        // checks, then the update.
        on_pool(|| {
            let chain = Chain {
                first: self.encoder.layers(),
                second: self.decoder.layers(),
            };
            let value = self.workspace.gradients(chain, input, target, loss)?;
            let (first, second) = (self.encoder.layers_mut(), self.decoder.layers_mut());
            self.workspace.apply(first, second, optimizer)?;
            Ok(value)
        })
    }

    /// Every layer, the encoder's then the decoder's.
    pub(crate) fn layers(&self) -> impl Iterator<Item = &Layer> {
        parts::layers(&self.encoder, &self.decoder)
    }

    /// Replaces the weights of every layer (encoder's then decoder's) with `layers`, which must have the same
    /// shapes (they come from `self.layers()` earlier, e.g. early stopping's best weights).
    pub(crate) fn set_layers(&mut self, layers: Vec<Layer>) {
        parts::set_layers(&mut self.encoder, &mut self.decoder, layers)
    }

    /// Checks a batch of inputs and targets: `input` `(n, inputs)` with `n > 0`, `target` `(n, outputs)`.
    /// `context` names the call and the data in errors (`train_step`, `fit (validation data)`, ...).
    pub(crate) fn check_batch(&self, context: &str, input: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<()> {
        parts::check_batch(context, (self.inputs(), self.outputs()), input, target)
    }
}
