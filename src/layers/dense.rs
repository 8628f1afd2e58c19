//! The dense (fully connected) layer: `y = act(x · W + b)`, its forward and its hand-written backward.
//!
//! Shapes, for a batch of `B` samples through a layer with `I` inputs and `O` outputs:
//!
//! | name | shape | meaning |
//! |---|---|---|
//! | `x` | `(B, I)` | the input, one sample per row |
//! | `W` | `(I, O)` | the weights (Keras' kernel layout) |
//! | `b` | `(O)` | the bias |
//! | `z = x · W + b` | `(B, O)` | the pre-activation |
//! | `y = act(z)` | `(B, O)` | the output |
//!
//! Backward, given `dL/dy`:
//! `dL/dz = dL/dy ⊙ act'(z)`, `dL/dW = xᵀ · dL/dz`, `dL/db = Σ_rows dL/dz`, `dL/dx = dL/dz · Wᵀ`.
//!
//! ```
//! use autoencoder::{Activation, Dense};
//! use autoencoder::ndarray::array;
//!
//! let layer = Dense::from_parts(array![[1.0_f32, -1.0], [2.0, 0.5]], array![0.5, 0.0], Activation::Relu)?;
//! let x = array![[1.0_f32, 1.0]];
//! let trace = layer.forward_train(x.view())?;          // keeps what backward needs
//! assert_eq!(trace.output(), &array![[3.5, 0.0]]);
//! let grads = layer.backward(&trace, array![[1.0_f32, 1.0]].view())?;
//! assert_eq!(grads.weights, array![[1.0, 0.0], [1.0, 0.0]]); // xᵀ · dL/dz, with relu'(-0.5) = 0
//! assert_eq!(grads.bias, array![1.0, 0.0]);
//! assert_eq!(grads.input, array![[1.0, 2.0]]);                // dL/dz · Wᵀ
//! # Ok::<(), autoencoder::Error>(())
//! ```

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut1, ArrayViewMut2};
use ndarray_rand::rand::Rng;

use super::{Activation, Init};
use crate::alloc::{describe_bytes, try_zeros};
use crate::error::{Error, Result};
use crate::matmul::{on_pool, product_and_max_into, product_into, product_then_into, threads_for, BiasActivation};

mod sigmoid;
pub(crate) mod sweeps;

/// A fully connected layer `y = act(x · W + b)`, `W` of shape `(inputs, outputs)`, `b` of shape `(outputs)`.
///
/// ```
/// use autoencoder::{Activation, Dense};
/// use autoencoder::ndarray::array;
/// // Keras' kernel layout: row i of W holds input i's weights to every output.
/// let layer = Dense::from_parts(array![[1.0_f32, 0.0, 2.0], [0.0, 1.0, -1.0]], array![0.0, 0.0, 0.5], Activation::Identity)?;
/// assert_eq!(layer.forward(array![[3.0_f32, 4.0]].view())?, array![[3.0, 4.0, 2.5]]);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// `(inputs, outputs)`, always in standard (row-major) layout, so that optimizers see one flat slice.
    weights: Array2<f32>,
    /// `(outputs)`.
    bias: Array1<f32>,
    activation: Activation,
}

/// What [`Dense::forward_train`] keeps for [`Dense::backward`]: the input, the output, and the pre-activation
/// where the activation's derivative needs it.
///
/// ```
/// use autoencoder::{Activation, Dense};
/// use autoencoder::ndarray::array;
/// let layer = Dense::from_parts(array![[1.0_f32]], array![0.0], Activation::Tanh)?;
/// let trace = layer.forward_train(array![[0.5_f32]].view())?;
/// assert_eq!((trace.input()[[0, 0]], trace.output()[[0, 0]]), (0.5, 0.5_f32.tanh()));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DenseTrace {
    input: Array2<f32>,
    pre_activation: Option<Array2<f32>>,
    output: Array2<f32>,
}

impl DenseTrace {
    /// The layer's output `y`, shape `(batch, outputs)`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense};
    /// # use autoencoder::ndarray::array;
    /// let layer = Dense::from_parts(array![[2.0_f32]], array![1.0], Activation::Identity)?;
    /// assert_eq!(layer.forward_train(array![[3.0_f32]].view())?.output(), &array![[7.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn output(&self) -> &Array2<f32> {
        &self.output
    }

    /// The input `x` the layer was given, shape `(batch, inputs)`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense};
    /// # use autoencoder::ndarray::array;
    /// let layer = Dense::from_parts(array![[2.0_f32]], array![1.0], Activation::Identity)?;
    /// assert_eq!(layer.forward_train(array![[3.0_f32]].view())?.input(), &array![[3.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn input(&self) -> &Array2<f32> {
        &self.input
    }
}

/// The gradients that [`Dense::backward`] gives: `dL/dW`, `dL/db` and `dL/dx`.
///
/// ```
/// use autoencoder::{Activation, Dense, Loss};
/// use autoencoder::ndarray::array;
/// let layer = Dense::from_parts(array![[2.0_f32], [1.0]], array![0.0], Activation::Identity)?;
/// let (x, target) = (array![[1.0_f32, 1.0]], array![[0.0_f32]]);
/// let trace = layer.forward_train(x.view())?; // y = 3
/// let grads = layer.backward(&trace, Loss::Mse.gradient(trace.output().view(), target.view())?.view())?;
/// // dL/dy = 2 (y - t) = 6
/// assert_eq!((grads.weights, grads.bias, grads.input), (array![[6.0], [6.0]], array![6.0], array![[12.0, 6.0]]));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DenseGradients {
    /// `dL/dW`, shape `(inputs, outputs)`.
    pub weights: Array2<f32>,
    /// `dL/db`, shape `(outputs)`.
    pub bias: Array1<f32>,
    /// `dL/dx`, shape `(batch, inputs)`: what to pass to the previous layer's backward.
    pub input: Array2<f32>,
}

impl Dense {
    /// A layer with weights drawn by `init` from `rng` and zero biases.
    ///
    /// Errors with [`Error::InvalidArgument`] when `inputs` or `outputs` is 0 (a layer without inputs or outputs
    /// computes nothing, and a model file cannot hold it), and, saying how many bytes the layer needs, when its
    /// parameters cannot be allocated (sizes from a file or a user, too large for memory).
    ///
    /// ```
    /// use autoencoder::{Activation, Dense, Init};
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let mut rng = StdRng::seed_from_u64(42);
    /// let layer = Dense::new(784, 256, Activation::Relu, Init::GlorotUniform, &mut rng)?;
    /// assert_eq!((layer.inputs(), layer.outputs()), (784, 256));
    /// assert!(layer.bias().iter().all(|&b| b == 0.0));
    /// assert!(Dense::new(784, 0, Activation::Relu, Init::GlorotUniform, &mut rng).is_err());
    /// let err = Dense::new(1 << 40, 1 << 30, Activation::Relu, Init::HeUniform, &mut rng).unwrap_err();
    /// assert!(err.to_string().contains("more bytes than memory can address"));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn new<R: Rng + ?Sized>(
        inputs: usize,
        outputs: usize,
        activation: Activation,
        init: Init,
        rng: &mut R,
    ) -> Result<Dense> {
        check_not_empty("Dense::new", inputs, outputs)?;
        let bytes = inputs
            .checked_mul(outputs)
            .and_then(|weights| weights.checked_add(outputs))
            .and_then(|values| values.checked_mul(size_of::<f32>()));
        let what = format!("a {inputs} × {outputs} layer's weights and bias");
        if bytes.is_none_or(|b| isize::try_from(b).is_err()) {
            return Err(Error::InvalidArgument(format!("{what} need {}", describe_bytes(None))));
        }
        let failed = |_| {
            Error::InvalidArgument(format!(
                "{what} need {}, which could not be allocated",
                describe_bytes(bytes)
            ))
        };
        let weights = init.try_weights(inputs, outputs, rng).map_err(failed)?;
        let bias = try_zeros(outputs, &what).map_err(failed)?;
        Ok(Dense {
            weights,
            bias: Array1::from(bias),
            activation,
        })
    }

    /// A layer from given weights `(inputs, outputs)` and bias `(outputs)`.
    ///
    /// Errors with [`Error::InvalidArgument`] when the weights have no rows or no columns (a layer without inputs
    /// or outputs), and with [`Error::Shape`] when the bias length differs from the weights' output dimension.
    ///
    /// ```
    /// use autoencoder::{Activation, Dense};
    /// use autoencoder::ndarray::{Array1, Array2};
    /// assert!(Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(2), Activation::Tanh).is_ok());
    /// assert!(Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(3), Activation::Tanh).is_err());
    /// assert!(Dense::from_parts(Array2::zeros((3, 0)), Array1::zeros(0), Activation::Tanh).is_err());
    /// ```
    pub fn from_parts(weights: Array2<f32>, bias: Array1<f32>, activation: Activation) -> Result<Dense> {
        check_not_empty("Dense::from_parts", weights.nrows(), weights.ncols())?;
        if bias.len() != weights.ncols() {
            return Err(Error::shape(
                "Dense::from_parts (bias length vs weights' output dimension)",
                weights.ncols(),
                bias.len(),
            ));
        }
        Ok(Dense {
            weights: into_standard_layout(weights),
            bias: bias.as_standard_layout().into_owned(),
            activation,
        })
    }

    /// The weights `W`, shape `(inputs, outputs)`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense};
    /// # use autoencoder::ndarray::{array, Array1};
    /// let layer = Dense::from_parts(array![[1.0_f32, 2.0]], Array1::zeros(2), Activation::Relu)?;
    /// assert_eq!(layer.weights(), &array![[1.0, 2.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn weights(&self) -> &Array2<f32> {
        &self.weights
    }

    /// The bias `b`, shape `(outputs)`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense};
    /// # use autoencoder::ndarray::{array, Array2};
    /// let layer = Dense::from_parts(Array2::zeros((4, 2)), array![0.5_f32, -1.0], Activation::Relu)?;
    /// assert_eq!(layer.bias(), &array![0.5, -1.0]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn bias(&self) -> &Array1<f32> {
        &self.bias
    }

    /// A mutable view of the weights, for custom initialisation or pruning (the shape cannot change).
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Init};
    /// # use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let mut layer = Dense::new(3, 2, Activation::Relu, Init::HeUniform, &mut StdRng::seed_from_u64(0))?;
    /// layer.weights_mut().fill(0.25);
    /// assert!(layer.weights().iter().all(|&w| w == 0.25));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn weights_mut(&mut self) -> ArrayViewMut2<'_, f32> {
        self.weights.view_mut()
    }

    /// A mutable view of the bias.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Init};
    /// # use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let mut layer = Dense::new(3, 2, Activation::Relu, Init::HeUniform, &mut StdRng::seed_from_u64(0))?;
    /// layer.bias_mut().fill(0.1);
    /// assert_eq!(layer.bias()[1], 0.1);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn bias_mut(&mut self) -> ArrayViewMut1<'_, f32> {
        self.bias.view_mut()
    }

    /// The activation.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Init};
    /// # use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let layer = Dense::new(3, 2, Activation::Tanh, Init::GlorotNormal, &mut StdRng::seed_from_u64(0))?;
    /// assert_eq!(layer.activation(), Activation::Tanh);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The number of inputs (features per sample it takes).
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Init};
    /// # use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let layer = Dense::new(3, 2, Activation::Tanh, Init::GlorotNormal, &mut StdRng::seed_from_u64(0))?;
    /// assert_eq!(layer.inputs(), 3);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn inputs(&self) -> usize {
        self.weights.nrows()
    }

    /// The number of outputs (features per sample it gives).
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Init};
    /// # use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let layer = Dense::new(3, 2, Activation::Tanh, Init::GlorotNormal, &mut StdRng::seed_from_u64(0))?;
    /// assert_eq!(layer.outputs(), 2);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn outputs(&self) -> usize {
        self.weights.ncols()
    }

    /// The number of trainable parameters, `inputs · outputs + outputs`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Init};
    /// # use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let layer = Dense::new(784, 256, Activation::Relu, Init::GlorotUniform, &mut StdRng::seed_from_u64(0))?;
    /// assert_eq!(layer.parameter_count(), 784 * 256 + 256);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn parameter_count(&self) -> usize {
        self.weights.len() + self.bias.len()
    }

    /// The output `act(x · W + b)` for a batch `x` of shape `(batch, inputs)`, for inference.
    ///
    /// Errors with [`Error::Shape`] when `x` does not have `inputs` columns.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense};
    /// # use autoencoder::ndarray::array;
    /// let layer = Dense::from_parts(array![[1.0_f32], [1.0]], array![-1.0], Activation::Relu)?;
    /// assert_eq!(layer.forward(array![[1.0_f32, 2.0], [0.0, 0.5]].view())?, array![[2.0], [0.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_input(x, "Dense::forward")?;
        let mut output = Array2::zeros((x.nrows(), self.outputs()));
        // on the crate's threads, product and element-wise sweep alike, when the batch is worth a hand-over
        match threads_for(x.nrows().saturating_mul(self.weights.len())) {
            1 => self.forward_into(x, None, output.view_mut()),
            _ => on_pool(|| self.forward_into(x, None, output.view_mut())),
        }
        Ok(output)
    }

    /// The forward pass for training: the output, and what [`backward`](Self::backward) needs.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense};
    /// # use autoencoder::ndarray::array;
    /// let layer = Dense::from_parts(array![[1.0_f32]], array![0.0], Activation::Sigmoid)?;
    /// let trace = layer.forward_train(array![[0.0_f32]].view())?;
    /// assert_eq!(trace.output()[[0, 0]], 0.5);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn forward_train(&self, x: ArrayView2<f32>) -> Result<DenseTrace> {
        self.check_input(x, "Dense::forward_train")?;
        let shape = (x.nrows(), self.outputs());
        let mut output = Array2::zeros(shape);
        let mut pre_activation = self.activation.needs_pre_activation().then(|| Array2::zeros(shape));
        self.forward_into(x, pre_activation.as_mut().map(|z| z.view_mut()), output.view_mut());
        Ok(DenseTrace {
            input: x.to_owned(),
            pre_activation,
            output,
        })
    }

    /// The backward pass: from `dL/dy` (shape of the trace's output) to `dL/dW`, `dL/db` and `dL/dx`.
    ///
    /// Errors with [`Error::Shape`] when `grad_output`'s shape differs from the output's, or when the trace
    /// came from a layer of another shape.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense};
    /// # use autoencoder::ndarray::array;
    /// let layer = Dense::from_parts(array![[3.0_f32]], array![0.0], Activation::Identity)?;
    /// let trace = layer.forward_train(array![[2.0_f32]].view())?;
    /// let grads = layer.backward(&trace, array![[1.0_f32]].view())?;
    /// assert_eq!((grads.weights[[0, 0]], grads.bias[0], grads.input[[0, 0]]), (2.0, 1.0, 3.0));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn backward(&self, trace: &DenseTrace, grad_output: ArrayView2<f32>) -> Result<DenseGradients> {
        self.check_input(trace.input.view(), "Dense::backward (the trace's input)")?;
        let from_this_layer = trace.output.ncols() == self.outputs()
            && trace.output.nrows() == trace.input.nrows()
            && trace.pre_activation.as_ref().map(|z| z.dim())
                == self.activation.needs_pre_activation().then(|| trace.output.dim());
        if !from_this_layer {
            return Err(Error::shape(
                "Dense::backward (a trace from this layer's forward_train)",
                format!("{} outputs, {}", self.outputs(), self.activation),
                format!("a trace with {} outputs", trace.output.ncols()),
            ));
        }
        if grad_output.dim() != trace.output.dim() {
            return Err(Error::shape(
                "Dense::backward (dL/dy vs the layer's output)",
                format!("{:?}", trace.output.dim()),
                format!("{:?}", grad_output.dim()),
            ));
        }
        let mut grad_pre_activation = grad_output.to_owned();
        let mut grads = DenseGradients {
            weights: Array2::zeros(self.weights.raw_dim()),
            bias: Array1::zeros(self.outputs()),
            input: Array2::zeros(trace.input.raw_dim()),
        };
        self.backward_into(
            trace.input.view(),
            trace.pre_activation.as_ref().map(|z| z.view()),
            trace.output.view(),
            grad_pre_activation.view_mut(),
            grads.weights.view_mut(),
            grads.bias.view_mut(),
            Some(grads.input.view_mut()),
        );
        Ok(grads)
    }

    /// The forward pass into caller-owned buffers (no allocation): `output = act(x · W + b)`, and
    /// `pre_activation = x · W + b` when given (it must be, for activations that need it in backward).
    ///
    /// Shapes are the caller's responsibility; a mismatch panics inside ndarray.
    pub(crate) fn forward_into(
        &self,
        x: ArrayView2<f32>,
        pre_activation: Option<ArrayViewMut2<f32>>,
        mut output: ArrayViewMut2<f32>,
    ) {
        match (pre_activation, self.bias.as_slice()) {
            // y = act(x·W + b), applied by the product to each group of rows it completes
            (None, Some(bias)) => {
                let epilogue = BiasActivation::new(bias, self.activation);
                product_then_into(x, self.weights.view(), output, epilogue)
            }
            // z = x·W + b and y = act(z) in one sweep after the product
            (pre_activation, _) => {
                product_into(x, self.weights.view(), output.view_mut());
                sweeps::bias_activation(output, pre_activation, self.bias.view(), self.activation);
            }
        }
    }

    /// The backward pass into caller-owned buffers (no allocation).
    ///
    /// `grad_output` holds `dL/dy` on entry and `dL/dz` on return. `grad_input` may be `None` for the first
    /// layer of a network, whose input gradient nobody needs (that saves a third of its backward work).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_into(
        &self,
        x: ArrayView2<f32>,
        pre_activation: Option<ArrayView2<f32>>,
        output: ArrayView2<f32>,
        mut grad_output: ArrayViewMut2<f32>,
        grad_weights: ArrayViewMut2<f32>,
        grad_bias: ArrayViewMut1<f32>,
        grad_input: Option<ArrayViewMut2<f32>>,
    ) {
        self.backward_sweep_into(pre_activation, output, grad_output.view_mut(), grad_bias);
        let grad_z = grad_output.view();
        self.weight_gradient_into(x, grad_z, grad_weights); // its maximum: only a training step needs it
        if let Some(grad_input) = grad_input {
            self.input_gradient_into(grad_z, grad_input);
        }
    }

    /// The element-wise part of backward, in one sweep: `grad` from `dL/dy` to `dL/dz = dL/dy ⊙ act'(z)` in
    /// place, and `grad_bias = dL/db = Σ over the batch of dL/dz`.
    pub(crate) fn backward_sweep_into(
        &self,
        pre_activation: Option<ArrayView2<f32>>,
        output: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        grad_bias: ArrayViewMut1<f32>,
    ) {
        sweeps::activation_grad_bias_sum(pre_activation, output, grad, grad_bias, self.activation);
    }

    /// `grad_weights = dL/dW = xᵀ · dL/dz` (the transpose read as a view); returns the largest magnitude in it
    /// (infinity if a value is NaN or infinite), measured by each thread on its block as it completes.
    pub(crate) fn weight_gradient_into(
        &self,
        x: ArrayView2<f32>,
        grad_z: ArrayView2<f32>,
        grad_weights: ArrayViewMut2<f32>,
    ) -> f32 {
        product_and_max_into(x.t(), grad_z, grad_weights)
    }

    /// `grad_input = dL/dx = dL/dz · Wᵀ` (the transpose read as a view).
    pub(crate) fn input_gradient_into(&self, grad_z: ArrayView2<f32>, grad_input: ArrayViewMut2<f32>) {
        product_into(grad_z, self.weights.t(), grad_input);
    }

    /// Mutable views of `(weights, bias)`, for the optimizer.
    pub(crate) fn parameters_mut(&mut self) -> (&mut Array2<f32>, &mut Array1<f32>) {
        (&mut self.weights, &mut self.bias)
    }

    fn check_input(&self, x: ArrayView2<f32>, context: &str) -> Result<()> {
        if x.ncols() == self.inputs() {
            Ok(())
        } else {
            Err(Error::shape(
                context,
                format!("{} columns (the layer's inputs)", self.inputs()),
                format!("{} columns", x.ncols()),
            ))
        }
    }
}

/// Refuses a layer without inputs or outputs (`context` names the caller): its weight matrix would be empty, it
/// would compute nothing, and a model file could not hold it.
fn check_not_empty(context: &str, inputs: usize, outputs: usize) -> Result<()> {
    if inputs == 0 || outputs == 0 {
        return Err(Error::InvalidArgument(format!(
            "{context}: a layer of shape ({inputs}, {outputs}) is empty; a layer needs at least one input and one \
             output"
        )));
    }
    Ok(())
}

/// The same matrix, in standard (row-major, contiguous) layout.
fn into_standard_layout(m: Array2<f32>) -> Array2<f32> {
    if m.is_standard_layout() {
        m
    } else {
        m.as_standard_layout().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn from_parts_makes_weights_row_major() {
        let w = array![[1.0_f32, 2.0, 3.0], [4.0, 5.0, 6.0]].reversed_axes();
        assert!(!w.is_standard_layout());
        let layer = Dense::from_parts(w.clone(), Array1::zeros(2), Activation::Identity).unwrap();
        assert!(layer.weights().is_standard_layout());
        assert_eq!(layer.weights(), &w);
    }

    #[test]
    fn wrong_input_width_is_an_error() {
        let layer = Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(2), Activation::Relu).unwrap();
        let err = layer.forward(Array2::zeros((5, 4)).view()).unwrap_err();
        assert!(err.to_string().contains("expected 3 columns"), "{err}");
        let trace = layer.forward_train(Array2::zeros((5, 3)).view()).unwrap();
        assert!(layer.backward(&trace, Array2::zeros((5, 3)).view()).is_err());
    }

    #[test]
    fn a_trace_from_another_layer_is_an_error_not_a_panic() {
        let narrow = Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(2), Activation::Relu).unwrap();
        let wide = Dense::from_parts(Array2::zeros((3, 4)), Array1::zeros(4), Activation::Relu).unwrap();
        let gelu = Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(2), Activation::Gelu).unwrap();
        let trace = narrow.forward_train(Array2::zeros((5, 3)).view()).unwrap();
        let err = wide.backward(&trace, Array2::zeros((5, 2)).view()).unwrap_err();
        assert!(err.to_string().contains("a trace with 2 outputs"), "{err}");
        // same shapes, but gelu's backward needs the pre-activation that a relu trace does not keep
        assert!(gelu.backward(&trace, Array2::zeros((5, 2)).view()).is_err());
        assert!(narrow.backward(&trace, Array2::zeros((5, 2)).view()).is_ok());
    }

    #[test]
    fn leaky_relu_keeps_its_pre_activation() {
        let layer = Dense::from_parts(array![[1.0_f32]], array![0.0], Activation::LeakyRelu(-0.5)).unwrap();
        let trace = layer.forward_train(array![[-2.0_f32]].view()).unwrap();
        assert_eq!(trace.output()[[0, 0]], 1.0);
        let grads = layer.backward(&trace, array![[1.0_f32]].view()).unwrap();
        assert_eq!(grads.input[[0, 0]], -0.5);
    }
}
