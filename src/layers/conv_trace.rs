//! What the convolution layers' `forward_train` keeps for their `backward`, and the gradients `backward` gives.

use ndarray::{Array1, Array2, Array4, ArrayView2};

use super::Activation;
use crate::error::{Error, Result};

/// What [`Conv2d::forward_train`](crate::Conv2d::forward_train) and
/// [`ConvTranspose2d::forward_train`](crate::ConvTranspose2d::forward_train) keep for `backward`: the input, the
/// output, and the pre-activation where the activation's derivative needs it. Batches are rows of `h * w * c`
/// values in HWC order.
///
/// ```
/// use autoencoder::{Activation, Conv2d, Padding};
/// use autoencoder::ndarray::{Array1, Array2, Array4};
/// let layer = Conv2d::from_parts(Array4::ones((2, 2, 1, 1)), Array1::zeros(1), (3, 3, 1), 1, Padding::Valid, Activation::Identity)?;
/// let trace = layer.forward_train(Array2::ones((1, 9)).view())?;
/// assert_eq!((trace.input().dim(), trace.output().dim()), ((1, 9), (1, 4)));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConvTrace {
    pub(crate) input: Array2<f32>,
    pub(crate) pre_activation: Option<Array2<f32>>,
    pub(crate) output: Array2<f32>,
}

impl ConvTrace {
    /// The layer's output `y`, shape `(batch, out_h * out_w * out_channels)`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array2, Array4};
    /// let layer = Conv2d::from_parts(Array4::ones((2, 2, 1, 1)), Array1::zeros(1), (2, 2, 1), 1, Padding::Valid, Activation::Identity)?;
    /// assert_eq!(layer.forward_train(Array2::ones((1, 4)).view())?.output()[[0, 0]], 4.0);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn output(&self) -> &Array2<f32> {
        &self.output
    }

    /// The input `x` the layer was given, shape `(batch, h * w * c)`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array2, Array4};
    /// let layer = Conv2d::from_parts(Array4::ones((1, 1, 1, 1)), Array1::zeros(1), (2, 2, 1), 1, Padding::Same, Activation::Identity)?;
    /// assert_eq!(layer.forward_train(Array2::ones((3, 4)).view())?.input().dim(), (3, 4));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn input(&self) -> &Array2<f32> {
        &self.input
    }
}

/// The gradients that a convolution layer's `backward` gives: `dL/dK`, `dL/db` and `dL/dx`.
///
/// ```
/// use autoencoder::{Activation, Conv2d, Padding};
/// use autoencoder::ndarray::{Array1, Array2, Array4};
/// let layer = Conv2d::from_parts(Array4::ones((1, 1, 1, 1)), Array1::zeros(1), (1, 2, 1), 1, Padding::Valid, Activation::Identity)?;
/// let trace = layer.forward_train(Array2::from_elem((1, 2), 3.0).view())?;
/// let grads = layer.backward(&trace, Array2::ones((1, 2)).view())?;
/// assert_eq!((grads.kernel[[0, 0, 0, 0]], grads.bias[0], grads.input[[0, 1]]), (6.0, 2.0, 1.0));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConvGradients {
    /// `dL/dK`, the kernel's shape.
    pub kernel: Array4<f32>,
    /// `dL/db`, shape `(out_channels)`.
    pub bias: Array1<f32>,
    /// `dL/dx`, shape `(batch, h * w * c)` of the input: what to pass to the previous layer's backward.
    pub input: Array2<f32>,
}

/// Checks that `trace` came from a layer of `(inputs, outputs)` and `activation`, and that `grad_output` has the
/// output's shape.
pub(crate) fn check_trace(
    context: &str,
    trace: &ConvTrace,
    grad_output: ArrayView2<f32>,
    (inputs, outputs): (usize, usize),
    activation: Activation,
) -> Result<()> {
    let from_this_layer = trace.input.ncols() == inputs
        && trace.output.ncols() == outputs
        && trace.output.nrows() == trace.input.nrows()
        && trace.pre_activation.as_ref().map(|z| z.dim())
            == activation.needs_pre_activation().then(|| trace.output.dim());
    if !from_this_layer {
        return Err(Error::shape(
            format!("{context} (a trace from this layer's forward_train)"),
            format!("{inputs} inputs, {outputs} outputs, {activation}"),
            format!(
                "a trace with {} inputs and {} outputs",
                trace.input.ncols(),
                trace.output.ncols()
            ),
        ));
    }
    if grad_output.dim() != trace.output.dim() {
        return Err(Error::shape(
            format!("{context} (dL/dy vs the layer's output)"),
            format!("{:?}", trace.output.dim()),
            format!("{:?}", grad_output.dim()),
        ));
    }
    Ok(())
}
