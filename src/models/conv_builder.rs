//! [`ConvAutoencoderBuilder`]: the book's convolutional autoencoder in one line.

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

use super::{Autoencoder, Decoder, Encoder};
use crate::error::{Error, Result};
use crate::layers::{Activation, Conv2d, ConvTranspose2d, Dense, Init, Layer, Padding};

/// Builds the convolutional autoencoder of the book's chapter 3 (and `../shared/bench/WORKLOAD.md`'s CAE-16):
///
/// - encoder: one `Conv2d(f, k × k, stride 2, Same, ReLU)` per filter count `f`, then a `Dense` to the latent
///   (identity), reading the last feature map as Keras' `Flatten` does;
/// - decoder: a `Dense` back to that feature map (identity), one `ConvTranspose2d(f, k × k, stride 2, Same,
///   ReLU)` per filter count in reverse, and a last `ConvTranspose2d(channels, k × k, stride 1, Same, sigmoid)`
///   (the input's channels, or [`output_channels`](Self::output_channels)).
///
/// Made with [`Autoencoder::conv_builder`]. Each halving rounds up (Keras' Same rule), so the decoder's doublings
/// give the input size back only when every halving is exact: 28 → 14 → 7 → 14 → 28 works, 28 → 14 → 7 → 4
/// does not, and [`build`](Self::build) says so.
///
/// ```
/// use autoencoder::Autoencoder;
/// let cae = Autoencoder::conv_builder((28, 28, 1)).filters(&[32, 64]).kernel_size(3).latent(16).seed(0).build()?;
/// assert_eq!(cae.parameter_count(), 178_001); // the book's model, as in Keras' summary
/// assert_eq!((cae.inputs(), cae.latent()), (784, 16));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConvAutoencoderBuilder {
    input_shape: (usize, usize, usize),
    filters: Vec<usize>,
    kernel_size: usize,
    latent: Option<usize>,
    output_channels: Option<usize>,
    init: Init,
    seed: u64,
}

impl Autoencoder {
    /// A builder for the book's convolutional autoencoder over images of `input_shape` `(h, w, c)`; see
    /// [`ConvAutoencoderBuilder`]. Defaults: filters `[32, 64]`, kernel size 3, Glorot uniform, seed 0; the
    /// latent size must be set.
    ///
    /// ```
    /// let cae = autoencoder::Autoencoder::conv_builder((28, 28, 1)).latent(16).build()?;
    /// assert_eq!(cae.encoder().layers().len(), 3);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn conv_builder(input_shape: (usize, usize, usize)) -> ConvAutoencoderBuilder {
        ConvAutoencoderBuilder {
            input_shape,
            filters: vec![32, 64],
            kernel_size: 3,
            latent: None,
            output_channels: None,
            init: Init::GlorotUniform,
            seed: 0,
        }
    }
}

impl ConvAutoencoderBuilder {
    /// The filter counts of the encoder's convolutions, first to last (each halves the image).
    ///
    /// ```
    /// let cae = autoencoder::Autoencoder::conv_builder((16, 16, 3)).filters(&[8]).latent(4).build()?;
    /// assert_eq!(cae.encoder().layers()[0].output_shape(), (8, 8, 8));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn filters(mut self, filters: &[usize]) -> Self {
        self.filters = filters.to_vec();
        self
    }

    /// The side `k` of every (square) kernel.
    ///
    /// ```
    /// let cae = autoencoder::Autoencoder::conv_builder((8, 8, 1)).filters(&[2]).kernel_size(5).latent(3).build()?;
    /// assert_eq!(cae.encoder().layers()[0].weights().shape(), &[5, 5, 1, 2]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn kernel_size(mut self, kernel_size: usize) -> Self {
        self.kernel_size = kernel_size;
        self
    }

    /// The latent size (required).
    ///
    /// ```
    /// assert!(autoencoder::Autoencoder::conv_builder((8, 8, 1)).build().is_err());
    /// ```
    pub fn latent(mut self, latent: usize) -> Self {
        self.latent = Some(latent);
        self
    }

    /// The channels of the output image, when they differ from the input's: 3 for a colorizer of grey images (the
    /// book's section 3.4), 2 for one that predicts only the chroma. The model is then an
    /// [`Autoencoder::encoder_decoder`], trained towards targets of the output's shape.
    ///
    /// ```
    /// let colorizer = autoencoder::Autoencoder::conv_builder((32, 32, 1)).filters(&[8, 16]).latent(32).output_channels(3).build()?;
    /// assert_eq!((colorizer.inputs(), colorizer.outputs()), (32 * 32, 32 * 32 * 3));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn output_channels(mut self, channels: usize) -> Self {
        self.output_channels = Some(channels);
        self
    }

    /// How the kernels and weights are drawn (biases start at zero).
    ///
    /// ```
    /// use autoencoder::{Autoencoder, Init};
    /// let cae = Autoencoder::conv_builder((8, 8, 1)).filters(&[2]).latent(3).init(Init::HeNormal).build()?;
    /// assert_eq!(cae.latent(), 3);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// The seed of the random generator the weights are drawn from: the same seed gives the same model.
    ///
    /// ```
    /// let build = |seed| autoencoder::Autoencoder::conv_builder((8, 8, 1)).filters(&[2]).latent(3).seed(seed).build();
    /// assert!(build(1)? == build(1)? && build(1)? != build(2)?);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The model. Errors when the latent size is missing or 0, when there are no filters, when a halving of the
    /// image is not exact (the decoder could not give the input size back), and as the layers' constructors do.
    ///
    /// ```
    /// let err = autoencoder::Autoencoder::conv_builder((28, 28, 1)).filters(&[8, 8, 8]).latent(2).build().unwrap_err();
    /// assert!(err.to_string().contains("7 x 7"), "{err}");
    /// ```
    pub fn build(&self) -> Result<Autoencoder> {
        let latent = self.latent.filter(|&l| l > 0).ok_or_else(|| {
            Error::InvalidArgument("Autoencoder::conv_builder: set a latent size of at least 1 with .latent(n)".into())
        })?;
        if self.output_channels == Some(0) {
            return Err(Error::InvalidArgument(
                "Autoencoder::conv_builder: output_channels must be at least 1".into(),
            ));
        }
        if self.filters.is_empty() {
            return Err(Error::InvalidArgument(
                "Autoencoder::conv_builder: give at least one filter count with .filters(&[...])".into(),
            ));
        }
        let (h, w, channels) = self.input_shape;
        let (k, init) = ((self.kernel_size, self.kernel_size), self.init);
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut encoder: Vec<Layer> = Vec::new();
        let mut shape = self.input_shape;
        for &filters in &self.filters {
            if !shape.0.is_multiple_of(2) || !shape.1.is_multiple_of(2) {
                return Err(Error::InvalidArgument(format!(
                    "Autoencoder::conv_builder: a stride-2 convolution of a {} x {} image rounds up, so the decoder \
                     could not give {h} x {w} back: use fewer filter counts (input {h} x {w}, {} given)",
                    shape.0,
                    shape.1,
                    self.filters.len()
                )));
            }
            let conv = Conv2d::new(shape, filters, k, 2, Padding::Same, Activation::Relu, init, &mut rng)?;
            shape = conv.output_shape();
            encoder.push(conv.into());
        }
        let flat = shape.0 * shape.1 * shape.2;
        encoder.push(Dense::new(flat, latent, Activation::Identity, init, &mut rng)?.into());

        let mut decoder: Vec<Layer> = vec![Dense::new(latent, flat, Activation::Identity, init, &mut rng)?.into()];
        for &filters in self.filters.iter().rev() {
            let up = ConvTranspose2d::new(shape, filters, k, 2, Padding::Same, Activation::Relu, init, &mut rng)?;
            shape = up.output_shape();
            decoder.push(up.into());
        }
        let last = ConvTranspose2d::new(
            shape,
            self.output_channels.unwrap_or(channels),
            k,
            1,
            Padding::Same,
            Activation::Sigmoid,
            init,
            &mut rng,
        )?;
        decoder.push(last.into());
        Autoencoder::encoder_decoder(Encoder::new(encoder)?, Decoder::new(decoder)?)
    }
}
