//! A builder for the common symmetric autoencoder: the decoder mirrors the encoder.

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

use super::{Autoencoder, Decoder, Encoder};
use crate::alloc::describe_bytes;
use crate::error::{Error, Result};
use crate::layers::{Activation, Dense, Init};

/// Builds a symmetric autoencoder `inputs → hidden… → latent → …hidden reversed → inputs`.
///
/// Defaults are those of the AE-16 reference model: ReLU hidden layers, an identity (linear) latent layer, a
/// sigmoid output, Glorot-uniform weights, zero biases, seed 0. Every layer is drawn from one generator seeded
/// with `seed`, encoder first, so the same seed gives the same model.
///
/// ```
/// use autoencoder::{Activation, Autoencoder, Init};
/// let ae = Autoencoder::builder(784)
///     .hidden(&[256, 64])
///     .latent(16)
///     .hidden_activation(Activation::Relu)
///     .output_activation(Activation::Sigmoid)
///     .init(Init::GlorotUniform)
///     .seed(42)
///     .build()?;
/// let sizes: Vec<_> = ae.encoder().layers().iter().chain(ae.decoder().layers()).map(|l| l.outputs()).collect();
/// assert_eq!(sizes, [256, 64, 16, 64, 256, 784]);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AutoencoderBuilder {
    inputs: usize,
    hidden: Vec<usize>,
    latent: Option<usize>,
    hidden_activation: Activation,
    latent_activation: Activation,
    output_activation: Activation,
    init: Init,
    seed: u64,
}

impl Autoencoder {
    /// Starts a [`AutoencoderBuilder`] for inputs of `inputs` features.
    ///
    /// ```
    /// let ae = autoencoder::Autoencoder::builder(784).latent(16).build()?;
    /// assert_eq!(ae.latent(), 16);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn builder(inputs: usize) -> AutoencoderBuilder {
        AutoencoderBuilder {
            inputs,
            hidden: Vec::new(),
            latent: None,
            hidden_activation: Activation::Relu,
            latent_activation: Activation::Identity,
            output_activation: Activation::Sigmoid,
            init: Init::GlorotUniform,
            seed: 0,
        }
    }
}

impl AutoencoderBuilder {
    /// The encoder's hidden layer sizes, from the input side; the decoder takes them in reverse.
    ///
    /// ```
    /// let ae = autoencoder::Autoencoder::builder(100).hidden(&[50, 20]).latent(5).build()?;
    /// assert_eq!(ae.decoder().layers()[0].outputs(), 20);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn hidden(mut self, sizes: &[usize]) -> AutoencoderBuilder {
        self.hidden = sizes.to_vec();
        self
    }

    /// The latent size (required).
    ///
    /// ```
    /// assert!(autoencoder::Autoencoder::builder(100).build().is_err()); // no latent size
    /// ```
    pub fn latent(mut self, size: usize) -> AutoencoderBuilder {
        self.latent = Some(size);
        self
    }

    /// The activation of every hidden layer (default ReLU).
    ///
    /// ```
    /// use autoencoder::{Activation, Autoencoder};
    /// let ae = Autoencoder::builder(10).hidden(&[6]).latent(2).hidden_activation(Activation::Tanh).build()?;
    /// assert_eq!(ae.encoder().layers()[0].activation(), Activation::Tanh);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn hidden_activation(mut self, activation: Activation) -> AutoencoderBuilder {
        self.hidden_activation = activation;
        self
    }

    /// The activation of the latent layer, the encoder's last (default identity).
    ///
    /// ```
    /// use autoencoder::{Activation, Autoencoder};
    /// let ae = Autoencoder::builder(10).latent(2).latent_activation(Activation::Tanh).build()?;
    /// assert_eq!(ae.encoder().layers()[0].activation(), Activation::Tanh);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn latent_activation(mut self, activation: Activation) -> AutoencoderBuilder {
        self.latent_activation = activation;
        self
    }

    /// The activation of the output layer, the decoder's last (default sigmoid, for pixels in [0, 1]).
    ///
    /// ```
    /// use autoencoder::{Activation, Autoencoder};
    /// let ae = Autoencoder::builder(10).latent(2).output_activation(Activation::Identity).build()?;
    /// assert_eq!(ae.decoder().layers()[0].activation(), Activation::Identity);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn output_activation(mut self, activation: Activation) -> AutoencoderBuilder {
        self.output_activation = activation;
        self
    }

    /// The weight initialiser (default Glorot uniform).
    ///
    /// ```
    /// use autoencoder::{Autoencoder, Init};
    /// let a = Autoencoder::builder(10).latent(2).init(Init::HeNormal).build()?;
    /// let b = Autoencoder::builder(10).latent(2).init(Init::HeUniform).build()?;
    /// assert_ne!(a, b);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn init(mut self, init: Init) -> AutoencoderBuilder {
        self.init = init;
        self
    }

    /// The seed of the weights' random generator (default 0).
    ///
    /// ```
    /// use autoencoder::Autoencoder;
    /// let build = |seed| Autoencoder::builder(10).latent(2).seed(seed).build();
    /// assert_eq!(build(7)?, build(7)?);
    /// assert_ne!(build(7)?, build(8)?);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn seed(mut self, seed: u64) -> AutoencoderBuilder {
        self.seed = seed;
        self
    }

    /// Builds the autoencoder. Errors when the latent size is missing, a size is zero, a layer's weight matrix
    /// would be too large to address, or the parameters cannot be allocated (the error says how many bytes the
    /// model needs); never aborts the process.
    ///
    /// ```
    /// use autoencoder::Autoencoder;
    /// assert!(Autoencoder::builder(784).hidden(&[0]).latent(16).build().is_err());
    /// assert!(Autoencoder::builder(0).latent(16).build().is_err());
    /// assert!(Autoencoder::builder(1 << 40).latent(1 << 30).build().is_err());
    /// ```
    pub fn build(&self) -> Result<Autoencoder> {
        let latent = self.latent.ok_or_else(|| {
            Error::InvalidArgument("Autoencoder::builder: the latent size is not set (call .latent(n))".into())
        })?;
        let sizes: Vec<usize> = std::iter::once(self.inputs)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(latent))
            .collect();
        if let Some(zero) = sizes.iter().position(|&s| s == 0) {
            return Err(Error::InvalidArgument(format!(
                "Autoencoder::builder: layer sizes must be at least 1, got {sizes:?} (index {zero})"
            )));
        }
        // Each weight matrix holds `from × to` f32 values, which must fit in memory's address space.
        let too_large = |(from, to): (usize, usize)| {
            let bytes = from
                .checked_mul(to)
                .and_then(|n| n.checked_mul(std::mem::size_of::<f32>()));
            bytes.is_none_or(|b| isize::try_from(b).is_err())
        };
        if let Some(pair) = sizes.windows(2).find(|pair| too_large((pair[0], pair[1]))) {
            return Err(Error::InvalidArgument(format!(
                "Autoencoder::builder: a {} × {} weight matrix is too large to address (layer sizes {sizes:?})",
                pair[0], pair[1]
            )));
        }
        let mut rng = StdRng::seed_from_u64(self.seed);
        let depth = sizes.len() - 1;
        let mut layer = |from: usize, to: usize, activation| {
            Dense::new(from, to, activation, self.init, &mut rng).map_err(|error| {
                let detail = match error {
                    Error::InvalidArgument(message) => message,
                    other => other.to_string(),
                };
                Error::InvalidArgument(format!(
                    "Autoencoder::builder: the model (layer sizes {sizes:?}, encoder and mirrored decoder) needs {} \
                     for its parameters; {detail}",
                    describe_bytes(parameter_bytes(&sizes))
                ))
            })
        };
        let encoder = (0..depth)
            .map(|i| {
                let activation = if i + 1 == depth {
                    self.latent_activation
                } else {
                    self.hidden_activation
                };
                layer(sizes[i], sizes[i + 1], activation)
            })
            .collect::<Result<_>>()?;
        let decoder = (0..depth)
            .rev()
            .map(|i| {
                let activation = if i == 0 {
                    self.output_activation
                } else {
                    self.hidden_activation
                };
                layer(sizes[i + 1], sizes[i], activation)
            })
            .collect::<Result<_>>()?;
        Autoencoder::new(Encoder::new(encoder)?, Decoder::new(decoder)?)
    }
}

/// The bytes of every weight and bias of an encoder through `sizes` and its mirrored decoder; `None` when the
/// count overflows.
fn parameter_bytes(sizes: &[usize]) -> Option<usize> {
    sizes.windows(2).try_fold(0_usize, |total, pair| {
        let encoder = pair[0].checked_mul(pair[1])?.checked_add(pair[1])?;
        let decoder = pair[0].checked_mul(pair[1])?.checked_add(pair[0])?;
        let values = encoder.checked_add(decoder)?;
        total.checked_add(values.checked_mul(size_of::<f32>())?)
    })
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::models::Autoencoder;

    #[test]
    fn sizes_too_large_to_address_are_an_error_not_a_panic() {
        for (inputs, latent) in [(1 << 40, 1 << 30), (usize::MAX, 2), (1 << 31, 1 << 31)] {
            match Autoencoder::builder(inputs).latent(latent).build() {
                Err(Error::InvalidArgument(message)) => {
                    assert!(message.contains("too large to address"), "{message}")
                }
                other => panic!("{inputs} × {latent}: expected an error, got {other:?}"),
            }
        }
    }
}
