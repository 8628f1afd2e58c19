//! The encoder: layers from an input (a 784-pixel digit) down to its latent code.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use super::stack::Stack;
use crate::error::Result;
use crate::layers::Layer;

/// A chain of layers ([`Dense`](crate::Dense), [`Conv2d`](crate::Conv2d), [`ConvTranspose2d`](crate::ConvTranspose2d))
/// mapping inputs `(batch, inputs)` to latent codes `(batch, latent)`.
///
/// ```
/// use autoencoder::{Activation, Dense, Encoder, Init};
/// use autoencoder::rand::{rngs::StdRng, SeedableRng};
/// let mut rng = StdRng::seed_from_u64(0);
/// let encoder = Encoder::new(vec![
///     Dense::new(784, 64, Activation::Relu, Init::GlorotUniform, &mut rng)?,
///     Dense::new(64, 16, Activation::Identity, Init::GlorotUniform, &mut rng)?,
/// ])?;
/// assert_eq!((encoder.inputs(), encoder.latent()), (784, 16));
/// // consecutive sizes must agree:
/// assert!(Encoder::new(vec![Dense::new(784, 64, Activation::Relu, Init::GlorotUniform, &mut rng)?,
///                           Dense::new(32, 16, Activation::Relu, Init::GlorotUniform, &mut rng)?]).is_err());
/// assert!(Encoder::new(Vec::<autoencoder::Layer>::new()).is_err());
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Encoder {
    stack: Stack,
}

impl Encoder {
    /// An encoder from its layers, first to last (anything that converts into a [`Layer`]: a `Vec<Dense>` as well as
    /// a `Vec<Layer>` of mixed kinds). Errors when the list is empty or when a layer's inputs differ
    /// from the previous layer's outputs.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Encoder};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let layer = Dense::from_parts(Array2::zeros((4, 2)), Array1::zeros(2), Activation::Identity)?;
    /// assert_eq!(Encoder::new(vec![layer])?.layers().len(), 1);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn new(layers: Vec<impl Into<Layer>>) -> Result<Encoder> {
        let layers = layers.into_iter().map(Into::into).collect();
        Ok(Encoder {
            stack: Stack::new(layers, "Encoder::new")?,
        })
    }

    /// The layers, first to last.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Encoder};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let layer = Dense::from_parts(Array2::zeros((4, 2)), Array1::zeros(2), Activation::Identity)?;
    /// let encoder = Encoder::new(vec![layer])?;
    /// assert_eq!(encoder.layers()[0].outputs(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn layers(&self) -> &[Layer] {
        self.stack.layers()
    }

    /// The input size (features per sample).
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Encoder};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let layer = Dense::from_parts(Array2::zeros((4, 2)), Array1::zeros(2), Activation::Identity)?;
    /// assert_eq!(Encoder::new(vec![layer])?.inputs(), 4);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn inputs(&self) -> usize {
        self.stack.inputs()
    }

    /// The latent size (the last layer's outputs).
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Encoder};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let layer = Dense::from_parts(Array2::zeros((4, 2)), Array1::zeros(2), Activation::Identity)?;
    /// assert_eq!(Encoder::new(vec![layer])?.latent(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn latent(&self) -> usize {
        self.stack.outputs()
    }

    /// The latent codes `(batch, latent)` of a batch `(batch, inputs)`. Errors on a wrong column count.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Encoder};
    /// # use autoencoder::ndarray::{array, Array1};
    /// let layer = Dense::from_parts(array![[1.0_f32], [1.0]], Array1::zeros(1), Activation::Identity)?;
    /// let encoder = Encoder::new(vec![layer])?;
    /// assert_eq!(encoder.encode(array![[1.0_f32, 2.0]].view())?, array![[3.0]]);
    /// assert!(encoder.encode(array![[1.0_f32]].view()).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn encode(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.stack.forward(x, ("encode", "input"))
    }

    /// [`encode`](Self::encode) into `codes` `(batch, latent)`, a buffer of the caller's: for dense layers nothing
    /// is allocated once the calling thread has run a batch of this size (a convolution allocates its patch
    /// scratch). Errors on a wrong column count or a buffer of the wrong shape.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Encoder};
    /// # use autoencoder::ndarray::{array, Array1, Array2};
    /// let layer = Dense::from_parts(array![[1.0_f32], [1.0]], Array1::zeros(1), Activation::Identity)?;
    /// let encoder = Encoder::new(vec![layer])?;
    /// let mut codes = Array2::zeros((1, 1));
    /// encoder.encode_into(array![[1.0_f32, 2.0]].view(), codes.view_mut())?;
    /// assert_eq!(codes, array![[3.0]]);
    /// assert!(encoder.encode_into(array![[1.0_f32, 2.0]].view(), Array2::zeros((2, 1)).view_mut()).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn encode_into(&self, x: ArrayView2<f32>, codes: ArrayViewMut2<f32>) -> Result<()> {
        self.stack.forward_into(x, codes, ("encode_into", "input"))
    }

    /// Takes the layers back.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Encoder};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let layer = Dense::from_parts(Array2::zeros((4, 2)), Array1::zeros(2), Activation::Identity)?;
    /// let layers = Encoder::new(vec![layer])?.into_layers();
    /// assert_eq!(layers.len(), 1);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn into_layers(self) -> Vec<Layer> {
        self.stack.into_layers()
    }

    pub(crate) fn layers_mut(&mut self) -> &mut [Layer] {
        self.stack.layers_mut()
    }
}
