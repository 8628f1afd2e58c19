//! The decoder: layers from a latent code back up to a reconstruction of the input.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use super::stack::Stack;
use crate::error::Result;
use crate::layers::Layer;

/// A chain of layers ([`Dense`](crate::Dense), [`Conv2d`](crate::Conv2d), [`ConvTranspose2d`](crate::ConvTranspose2d))
/// mapping latent codes `(batch, latent)` to reconstructions `(batch, outputs)`.
///
/// ```
/// use autoencoder::{Activation, Decoder, Dense, Init};
/// use autoencoder::rand::{rngs::StdRng, SeedableRng};
/// let mut rng = StdRng::seed_from_u64(0);
/// let decoder = Decoder::new(vec![
///     Dense::new(16, 64, Activation::Relu, Init::GlorotUniform, &mut rng)?,
///     Dense::new(64, 784, Activation::Sigmoid, Init::GlorotUniform, &mut rng)?,
/// ])?;
/// assert_eq!((decoder.latent(), decoder.outputs()), (16, 784));
/// assert!(Decoder::new(Vec::<autoencoder::Layer>::new()).is_err());
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Decoder {
    stack: Stack,
}

impl Decoder {
    /// A decoder from its layers, first to last (anything that converts into a [`Layer`]: a `Vec<Dense>` as well as
    /// a `Vec<Layer>` of mixed kinds). Errors when the list is empty or when a layer's inputs differ
    /// from the previous layer's outputs.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let a = Dense::from_parts(Array2::zeros((2, 8)), Array1::zeros(8), Activation::Relu)?;
    /// let b = Dense::from_parts(Array2::zeros((3, 4)), Array1::zeros(4), Activation::Sigmoid)?;
    /// let err = Decoder::new(vec![a, b]).unwrap_err();
    /// assert!(err.to_string().contains("expected 8"), "{err}");
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn new(layers: Vec<impl Into<Layer>>) -> Result<Decoder> {
        let layers = layers.into_iter().map(Into::into).collect();
        Ok(Decoder {
            stack: Stack::new(layers, "Decoder::new")?,
        })
    }

    /// The layers, first to last.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let layer = Dense::from_parts(Array2::zeros((2, 4)), Array1::zeros(4), Activation::Sigmoid)?;
    /// assert_eq!(Decoder::new(vec![layer])?.layers()[0].inputs(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn layers(&self) -> &[Layer] {
        self.stack.layers()
    }

    /// The latent size it takes (the first layer's inputs).
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let layer = Dense::from_parts(Array2::zeros((2, 4)), Array1::zeros(4), Activation::Sigmoid)?;
    /// assert_eq!(Decoder::new(vec![layer])?.latent(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn latent(&self) -> usize {
        self.stack.inputs()
    }

    /// The output size (features per reconstructed sample).
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let layer = Dense::from_parts(Array2::zeros((2, 4)), Array1::zeros(4), Activation::Sigmoid)?;
    /// assert_eq!(Decoder::new(vec![layer])?.outputs(), 4);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn outputs(&self) -> usize {
        self.stack.outputs()
    }

    /// The reconstructions `(batch, outputs)` of latent codes `(batch, latent)`. Errors on a wrong column count.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense};
    /// # use autoencoder::ndarray::{array, Array1};
    /// let layer = Dense::from_parts(array![[1.0_f32, -1.0]], Array1::zeros(2), Activation::Relu)?;
    /// let decoder = Decoder::new(vec![layer])?;
    /// assert_eq!(decoder.decode(array![[2.0_f32]].view())?, array![[2.0, 0.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn decode(&self, z: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.stack.forward(z, ("decode", "latent"))
    }

    /// [`decode`](Self::decode) into `outputs` `(batch, outputs)`, a buffer of the caller's: for dense layers
    /// nothing is allocated once the calling thread has run a batch of this size. Errors on a wrong column count
    /// or a buffer of the wrong shape.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense};
    /// # use autoencoder::ndarray::{array, Array1, Array2};
    /// let layer = Dense::from_parts(array![[1.0_f32, -1.0]], Array1::zeros(2), Activation::Relu)?;
    /// let decoder = Decoder::new(vec![layer])?;
    /// let mut outputs = Array2::zeros((1, 2));
    /// decoder.decode_into(array![[2.0_f32]].view(), outputs.view_mut())?;
    /// assert_eq!(outputs, array![[2.0, 0.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn decode_into(&self, z: ArrayView2<f32>, outputs: ArrayViewMut2<f32>) -> Result<()> {
        self.stack.forward_into(z, outputs, ("decode_into", "latent"))
    }

    /// Takes the layers back.
    ///
    /// ```
    /// # use autoencoder::{Activation, Decoder, Dense};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// # let layer = Dense::from_parts(Array2::zeros((2, 4)), Array1::zeros(4), Activation::Sigmoid)?;
    /// assert_eq!(Decoder::new(vec![layer])?.into_layers().len(), 1);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn into_layers(self) -> Vec<Layer> {
        self.stack.into_layers()
    }

    pub(crate) fn layers_mut(&mut self) -> &mut [Layer] {
        self.stack.layers_mut()
    }
}
