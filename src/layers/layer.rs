//! [`Layer`]: one layer of a stack, of any kind, and what a training step asks of it.
//!
//! A stack holds a closed set of kinds, so an enum: persistence, `Clone` and `PartialEq` match it exhaustively.
//! Each kind keeps its own forward and backward (in its own file); this file only dispatches, and owns the
//! buffers a training step keeps per layer ([`LayerBuffers`]).

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMut2};

use super::{Activation, Conv2d, ConvTranspose2d, Dense};
use crate::alloc::try_zeros_2d;
use crate::error::Result;
use crate::matmul::{join, join_sharing, try_line_aligned_zeros, Limit};
use crate::optim::{magnitude, max_magnitude};

/// One layer of an [`Encoder`](crate::Encoder) or [`Decoder`](crate::Decoder): dense, convolution or transposed
/// convolution. Batches between layers are `(batch, features)`; for images, features are `h * w * c` values in
/// HWC order, so a `Dense` after a convolution reads its output as Keras' `Flatten` would.
///
/// ```
/// use autoencoder::{Activation, Conv2d, Dense, Init, Layer, Padding};
/// use autoencoder::rand::{rngs::StdRng, SeedableRng};
/// let mut rng = StdRng::seed_from_u64(0);
/// let layers: Vec<Layer> = vec![
///     Conv2d::new((28, 28, 1), 8, (3, 3), 2, Padding::Same, Activation::Relu, Init::HeUniform, &mut rng)?.into(),
///     Dense::new(14 * 14 * 8, 16, Activation::Identity, Init::GlorotUniform, &mut rng)?.into(),
/// ];
/// assert_eq!((layers[0].inputs(), layers[0].outputs(), layers[1].inputs()), (784, 1568, 1568));
/// assert_eq!((layers[0].kind(), layers[1].kind()), ("conv2d", "dense"));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// A fully connected layer.
    Dense(Dense),
    /// A 2-D convolution.
    Conv2d(Conv2d),
    /// A transposed 2-D convolution.
    ConvTranspose2d(ConvTranspose2d),
}

impl From<Dense> for Layer {
    fn from(layer: Dense) -> Layer {
        Layer::Dense(layer)
    }
}

impl From<Conv2d> for Layer {
    fn from(layer: Conv2d) -> Layer {
        Layer::Conv2d(layer)
    }
}

impl From<ConvTranspose2d> for Layer {
    fn from(layer: ConvTranspose2d) -> Layer {
        Layer::ConvTranspose2d(layer)
    }
}

/// Calls `$body` with `$layer` bound to the inner layer, whatever its kind.
macro_rules! each_kind {
    ($self:expr, $layer:ident => $body:expr) => {
        match $self {
            Layer::Dense($layer) => $body,
            Layer::Conv2d($layer) => $body,
            Layer::ConvTranspose2d($layer) => $body,
        }
    };
}

impl Layer {
    /// The kind's name, as model files store it: `dense`, `conv2d` or `conv_transpose2d`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let layer: Layer = Dense::from_parts(Array2::zeros((2, 1)), Array1::zeros(1), Activation::Relu)?.into();
    /// assert_eq!(layer.kind(), "dense");
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::Conv2d(_) => "conv2d",
            Layer::ConvTranspose2d(_) => "conv_transpose2d",
        }
    }

    /// The number of input features (`h * w * c` for images).
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let layer: Layer = Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(2), Activation::Relu)?.into();
    /// assert_eq!((layer.inputs(), layer.outputs()), (3, 2));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn inputs(&self) -> usize {
        each_kind!(self, layer => layer.inputs())
    }

    /// The number of output features (`h * w * c` for images).
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Layer, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let conv = Conv2d::from_parts(Array4::zeros((3, 3, 1, 4)), Array1::zeros(4), (8, 8, 1), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!(Layer::from(conv).outputs(), 4 * 4 * 4);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn outputs(&self) -> usize {
        each_kind!(self, layer => layer.outputs())
    }

    /// The shape `(h, w, c)` of one output: an image's for the convolutions, `(1, 1, outputs)` for a dense layer.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let layer: Layer = Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(2), Activation::Relu)?.into();
    /// assert_eq!(layer.output_shape(), (1, 1, 2));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn output_shape(&self) -> (usize, usize, usize) {
        match self {
            Layer::Dense(layer) => (1, 1, layer.outputs()),
            Layer::Conv2d(layer) => layer.output_shape(),
            Layer::ConvTranspose2d(layer) => layer.output_shape(),
        }
    }

    /// The activation.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let layer: Layer = Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(2), Activation::Tanh)?.into();
    /// assert_eq!(layer.activation(), Activation::Tanh);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn activation(&self) -> Activation {
        each_kind!(self, layer => layer.activation())
    }

    /// The weights (a dense layer's `(inputs, outputs)` matrix, a convolution's 4-D kernel in Keras' layout).
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let layer: Layer = Dense::from_parts(Array2::ones((3, 2)), Array1::zeros(2), Activation::Tanh)?.into();
    /// assert_eq!((layer.weights().shape(), layer.weights().sum()), (&[3, 2][..], 6.0));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn weights(&self) -> ArrayViewD<'_, f32> {
        match self {
            Layer::Dense(layer) => layer.weights().view().into_dyn(),
            Layer::Conv2d(layer) => layer.kernel().view().into_dyn(),
            Layer::ConvTranspose2d(layer) => layer.kernel().view().into_dyn(),
        }
    }

    /// The bias, one per output channel (per output for a dense layer).
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{array, Array2};
    /// let layer: Layer = Dense::from_parts(Array2::ones((3, 2)), array![1.0, 2.0], Activation::Tanh)?.into();
    /// assert_eq!(layer.bias(), &array![1.0, 2.0]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn bias(&self) -> &Array1<f32> {
        each_kind!(self, layer => layer.bias())
    }

    /// The number of trainable values.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let layer: Layer = Dense::from_parts(Array2::ones((3, 2)), Array1::zeros(2), Activation::Tanh)?.into();
    /// assert_eq!(layer.parameter_count(), 8);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn parameter_count(&self) -> usize {
        each_kind!(self, layer => layer.parameter_count())
    }

    /// The output for a batch `x` of shape `(batch, inputs)`. Errors on a wrong column count.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{array, Array1};
    /// let layer: Layer = Dense::from_parts(array![[1.0_f32], [1.0]], Array1::zeros(1), Activation::Identity)?.into();
    /// assert_eq!(layer.forward(array![[1.0_f32, 2.0]].view())?, array![[3.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        each_kind!(self, layer => layer.forward(x))
    }

    /// The dense layer, if this is one.
    ///
    /// ```
    /// # use autoencoder::{Activation, Dense, Layer};
    /// # use autoencoder::ndarray::{Array1, Array2};
    /// let layer: Layer = Dense::from_parts(Array2::ones((3, 2)), Array1::zeros(2), Activation::Tanh)?.into();
    /// assert_eq!(layer.as_dense().map(Dense::outputs), Some(2));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn as_dense(&self) -> Option<&Dense> {
        match self {
            Layer::Dense(layer) => Some(layer),
            _ => None,
        }
    }

    /// The multiply-adds of one sample through this layer: what decides whether a batch is worth the thread pool.
    pub(crate) fn multiply_adds_per_sample(&self) -> usize {
        let weights = self.weights().len();
        match self {
            Layer::Dense(_) => weights,
            // each output value sums a window of kh · kw · in_channels
            Layer::Conv2d(layer) => self.outputs() / layer.filters().max(1) * weights,
            // each input value spreads over a window of kh · kw · out_channels
            Layer::ConvTranspose2d(layer) => self.inputs() / layer.input_shape().2.max(1) * weights,
        }
    }

    /// The forward pass for inference into `output` (`(x.nrows(), outputs)`), on the calling thread (or split
    /// among the pool's threads when called on one). A dense layer allocates nothing; a convolution its patch
    /// scratch (and a copy of `x` when `x` is not in standard layout).
    pub(crate) fn infer_into(&self, x: ArrayView2<f32>, output: ArrayViewMut2<f32>) -> Result<()> {
        match self {
            Layer::Dense(layer) => layer.forward_into(x, None, output),
            Layer::Conv2d(layer) => {
                let x = x.as_standard_layout();
                let mut patches = try_zeros_2d(layer.patch_scratch(x.nrows()), "Conv2d's patch matrix")?;
                layer.forward_into(x.view(), patches.view_mut(), None, output);
            }
            Layer::ConvTranspose2d(layer) => {
                let x = x.as_standard_layout();
                let mut patches = try_zeros_2d(layer.patch_scratch(x.nrows()), "ConvTranspose2d's patch matrix")?;
                layer.forward_into(x.view(), patches.view_mut(), None, output);
            }
        }
        Ok(())
    }

    /// The weights and the bias as flat slices in standard order, for the optimizers and model files.
    pub(crate) fn parameters(&self) -> (&[f32], &[f32]) {
        let flat = "parameters are kept in standard layout";
        let weights = match self {
            Layer::Dense(layer) => layer.weights().as_slice(),
            Layer::Conv2d(layer) => layer.kernel().as_slice(),
            Layer::ConvTranspose2d(layer) => layer.kernel().as_slice(),
        };
        (weights.expect(flat), self.bias().as_slice().expect(flat))
    }

    /// [`parameters`](Self::parameters), mutable.
    pub(crate) fn parameters_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        let flat = "parameters are kept in standard layout";
        let (weights, bias) = each_kind!(self, layer => {
            let (weights, bias) = layer.parameters_mut();
            (weights.as_slice_mut(), bias)
        });
        (weights.expect(flat), bias.as_slice_mut().expect(flat))
    }

    /// The shape of the weight gradient as the matrix the products write: `(inputs, outputs)` for a dense layer,
    /// `(kh * kw * c, filters)` and `(kh * kw * out, in)` for the convolutions (the kernel's own order).
    fn weight_matrix_shape(&self) -> (usize, usize) {
        match self {
            Layer::Dense(layer) => layer.weights().dim(),
            Layer::Conv2d(layer) => {
                let (kh, kw, c, f) = layer.kernel().dim();
                (kh * kw * c, f)
            }
            Layer::ConvTranspose2d(layer) => {
                let (kh, kw, o, i) = layer.kernel().dim();
                (kh * kw * o, i)
            }
        }
    }

    /// Rows and columns of the scratch for the sums of the groups of images in backward; `(0, 0)` for a layer
    /// that does not sum by groups.
    fn group_sums_shape(&self) -> (usize, usize) {
        match self {
            Layer::Dense(_) => (0, 0),
            Layer::Conv2d(layer) => layer.group_sums_shape(),
            Layer::ConvTranspose2d(layer) => layer.group_sums_shape(),
        }
    }

    /// Rows and columns of the patch scratch for batches of up to `capacity`; `(0, 0)` for a dense layer.
    fn patch_scratch(&self, capacity: usize) -> (usize, usize) {
        match self {
            Layer::Dense(_) => (0, 0),
            Layer::Conv2d(layer) => layer.patch_scratch(capacity),
            Layer::ConvTranspose2d(layer) => layer.patch_scratch(capacity),
        }
    }
}

/// What a training step keeps for one layer, made once for a batch capacity and reused: the first `n` rows of
/// each batch-sized buffer hold a batch of `n`.
///
/// | buffer | shape | holds |
/// |---|---|---|
/// | `output` | `(capacity, outputs)` | `y`, the layer's output (the next layer's input) |
/// | `pre_activation` | `(capacity, outputs)`, or empty | `z`, only for activations whose derivative needs it |
/// | `grad` | `(capacity, outputs)` | `dL/dy`, turned into `dL/dz` in place by backward |
/// | `weight_grad` | the weight gradient as a matrix | `dL/dW` (or `dL/dK`, in the kernel's order) |
/// | `bias_grad` | `(bias)` | `dL/db` |
/// | `patches` | a convolution's patch matrix for a few images, or empty | windows (scratch) |
///
/// and the largest `|dL/dW|` and `|dL/db|` of the last backward pass (`grad_max`).
#[derive(Clone, Debug)]
pub(crate) struct LayerBuffers {
    capacity: usize,
    pub(crate) output: Array2<f32>,
    pre_activation: Array2<f32>,
    pub(crate) grad: Array2<f32>,
    pub(crate) weight_grad: Array2<f32>,
    pub(crate) bias_grad: Array1<f32>,
    patches: Array2<f32>,
    group_sums: Array2<f32>,
    /// The largest [`magnitude`] of `weight_grad` and of `bias_grad` (infinity when one holds a NaN or an
    /// infinity), found by [`Layer::backward_rest`] as soon as they are made, while they are in cache.
    grad_max: [f32; 2],
}

impl LayerBuffers {
    /// Buffers for `layer` and batches of up to `capacity` rows; an error saying what they need when they cannot
    /// be allocated.
    pub(crate) fn new(layer: &Layer, capacity: usize) -> Result<LayerBuffers> {
        let outputs = layer.outputs();
        let (rows, columns) = layer.weight_matrix_shape();
        let pre_rows = if layer.activation().needs_pre_activation() {
            capacity
        } else {
            0
        };
        let (patch_rows, patch_columns) = layer.patch_scratch(capacity);
        let (group_rows, group_columns) = layer.group_sums_shape();
        let what = format!(
            "the training buffers of a {} layer for batches of {capacity}",
            layer.kind()
        );
        Ok(LayerBuffers {
            capacity,
            output: try_line_aligned_zeros(capacity, outputs, &what)?,
            pre_activation: try_line_aligned_zeros(pre_rows, outputs, &what)?,
            grad: try_line_aligned_zeros(capacity, outputs, &what)?,
            weight_grad: try_line_aligned_zeros(rows, columns, &what)?,
            bias_grad: Array1::zeros(layer.bias().len()),
            patches: try_line_aligned_zeros(patch_rows, patch_columns, &what)?,
            group_sums: try_line_aligned_zeros(group_rows, group_columns, &what)?,
            grad_max: [0.0; 2],
        })
    }

    /// Whether these buffers were made for `layer` (or one of the same shapes) and hold `batch` rows.
    pub(crate) fn fit(&self, layer: &Layer, batch: usize) -> bool {
        self.capacity >= batch
            && self.output.ncols() == layer.outputs()
            && self.weight_grad.dim() == layer.weight_matrix_shape()
            && self.patches.dim() == layer.patch_scratch(self.capacity)
            && self.group_sums.dim() == layer.group_sums_shape()
            && (self.pre_activation.nrows() > 0) == layer.activation().needs_pre_activation()
    }

    /// The batch capacity the buffers were made for.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The first `n` rows of the output: the next layer's input.
    pub(crate) fn output(&self, n: usize) -> ArrayView2<'_, f32> {
        self.output.slice(s![..n, ..])
    }

    /// The buffers one by one, borrowed apart: the output and pre-activation to read, the rest to write.
    pub(crate) fn parts(&mut self) -> Parts<'_> {
        Parts {
            output: &self.output,
            pre_activation: &self.pre_activation,
            grad: &mut self.grad,
            weight_grad: &mut self.weight_grad,
            bias_grad: &mut self.bias_grad,
            patches: &mut self.patches,
            group_sums: &mut self.group_sums,
            grad_max: &mut self.grad_max,
        }
    }

    /// The weight and bias gradients of the last backward pass.
    pub(crate) fn parameter_gradients(&self) -> (&Array2<f32>, &Array1<f32>) {
        (&self.weight_grad, &self.bias_grad)
    }

    /// The largest [`magnitude`] of the weight and of the bias gradient of the last backward pass: finite exactly
    /// when every value of the gradient is.
    pub(crate) fn gradient_maxima(&self) -> [f32; 2] {
        self.grad_max
    }
}

/// A layer's [`LayerBuffers`], borrowed field by field, so that a layer's backward can read its output (the
/// next layer's input) while it writes its gradients.
pub(crate) struct Parts<'a> {
    pub(crate) output: &'a Array2<f32>,
    pre_activation: &'a Array2<f32>,
    pub(crate) grad: &'a mut Array2<f32>,
    weight_grad: &'a mut Array2<f32>,
    bias_grad: &'a mut Array1<f32>,
    patches: &'a mut Array2<f32>,
    group_sums: &'a mut Array2<f32>,
    grad_max: &'a mut [f32; 2],
}

impl Parts<'_> {
    /// The same buffers, borrowed again for a shorter time.
    fn reborrow(&mut self) -> Parts<'_> {
        Parts {
            output: self.output,
            pre_activation: self.pre_activation,
            grad: self.grad,
            weight_grad: self.weight_grad,
            bias_grad: self.bias_grad,
            patches: self.patches,
            group_sums: self.group_sums,
            grad_max: self.grad_max,
        }
    }
}

impl Layer {
    /// The forward pass of a training step: `x` (`n` rows, standard layout) to `buffers`' output, keeping the
    /// pre-activation where backward needs it (and, for a convolution, the input's windows).
    pub(crate) fn forward_train_into(&self, x: ArrayView2<f32>, buffers: &mut LayerBuffers) {
        let n = x.nrows();
        let pre = self
            .activation()
            .needs_pre_activation()
            .then(|| buffers.pre_activation.slice_mut(s![..n, ..]));
        let output = buffers.output.slice_mut(s![..n, ..]);
        let patches = buffers.patches.view_mut();
        match self {
            Layer::Dense(layer) => layer.forward_into(x, pre, output),
            Layer::Conv2d(layer) => layer.forward_into(x, patches, pre, output),
            Layer::ConvTranspose2d(layer) => layer.forward_into(x, patches, pre, output),
        }
    }

    /// The element-wise start of this layer's backward, for a batch of `n`: `dL/dy` to `dL/dz` in place and
    /// `dL/db`. A convolution does nothing here: its backward ([`backward_rest`](Self::backward_rest)) sweeps a
    /// few images at a time, just before it gathers their windows.
    pub(crate) fn backward_sweep(&self, parts: &mut Parts<'_>, n: usize) {
        let Layer::Dense(layer) = self else {
            return;
        };
        let Parts {
            output,
            pre_activation,
            grad,
            bias_grad,
            ..
        } = parts;
        let pre = self
            .activation()
            .needs_pre_activation()
            .then(|| pre_activation.slice(s![..n, ..]));
        let (output, grad) = (output.slice(s![..n, ..]), grad.slice_mut(s![..n, ..]));
        layer.backward_sweep_into(pre, output, grad, bias_grad.view_mut())
    }

    /// The rest of this layer's backward once [`backward_sweep`](Self::backward_sweep) has run: `dL/dW` from its
    /// input `x` (`n` rows), and, when there is a layer `below`, `dL/dx` into that layer's `dL/dy` followed by
    /// that layer's own sweep. For a dense layer the two products run side by side on the pool (`dL/dW` is off
    /// the critical path, and so is the search for its largest value that follows it, while it is in cache); a
    /// convolution goes through its batch by groups of images, its sweep included.
    pub(crate) fn backward_rest(&self, x: ArrayView2<f32>, here: Parts<'_>, below: Below<'_>) {
        let n = x.nrows();
        if let Layer::Dense(layer) = self {
            return match below {
                // the first layer: `dL/dW` alone, across all the threads
                Below::Nothing => dense_weight_gradient_beside(layer, x, here, None::<fn(ArrayView2<f32>)>),
                Below::Gradient(mut grad_input) => {
                    let input_gradient =
                        |grad_z: ArrayView2<f32>| layer.input_gradient_into(grad_z, grad_input.slice_mut(s![..n, ..]));
                    dense_weight_gradient_beside(layer, x, here, Some(input_gradient))
                }
                // the same as the top layer's backward with nothing more below
                Below::Layer(below, below_parts) => self.backward_beside(x, here, below, below_parts, drop),
            };
        }
        let Parts {
            output,
            pre_activation,
            grad,
            weight_grad,
            bias_grad,
            patches,
            group_sums,
            grad_max,
        } = here;
        let pre = self
            .activation()
            .needs_pre_activation()
            .then(|| pre_activation.slice(s![..n, ..]));
        let (output, grad) = (output.slice(s![..n, ..]), grad.slice_mut(s![..n, ..]));
        let (patches, group_sums) = (patches.view_mut(), group_sums.view_mut());
        let maxima = |weight_grad: &Array2<f32>, bias_grad: &Array1<f32>| {
            [gradient_max(weight_grad.view()), gradient_max(bias_grad.view())]
        };
        match self {
            Layer::Dense(_) => unreachable!("a dense layer's backward returned above"),
            // dL/dy to dL/dz, dL/db, dL/dK and dL/dx by groups of images, then the sweep of the layer below
            Layer::Conv2d(layer) => {
                with_below(below, n, |grad_input| {
                    let (scratch, gradients) = ((patches, group_sums), (weight_grad.view_mut(), bias_grad.view_mut()));
                    layer.backward_into(x, (pre, output), grad, gradients, grad_input, scratch)
                });
                *grad_max = maxima(weight_grad, bias_grad);
            }
            Layer::ConvTranspose2d(layer) => {
                with_below(below, n, |grad_input| {
                    let (scratch, gradients) = ((patches, group_sums), (weight_grad.view_mut(), bias_grad.view_mut()));
                    layer.backward_into(x, (pre, output), grad, gradients, grad_input, scratch)
                });
                *grad_max = maxima(weight_grad, bias_grad);
            }
        }
    }
}

impl Layer {
    /// [`backward_rest`](Self::backward_rest) with the layer `below` (its buffers `below_parts`), then `rest`: the
    /// backward of the layers from `below` down, handed `below_parts` once `below`'s sweep has run. A dense layer
    /// runs its `dL/dW` beside the rest: `dL/dW` and `dL/dx` on half the threads each as
    /// [`backward_rest`](Self::backward_rest) does, then `below`'s sweep and `rest` with the caller's threads (see
    /// [`Limit`]). A convolution runs its whole backward first, then `rest` (its `dL/dW` beside nothing).
    ///
    /// So the thread that ends its half first goes on with the layers below instead of waiting for the other: for
    /// the top layer of AE-16, the small layers' backward and a part of the first layer's `dL/dW` fill the time
    /// `dL/dW` takes beyond `dL/dx`.
    pub(crate) fn backward_beside<'a>(
        &self,
        x: ArrayView2<f32>,
        here: Parts<'_>,
        below: &Layer,
        mut below_parts: Parts<'a>,
        rest: impl FnOnce(Parts<'a>) + Send,
    ) {
        let Layer::Dense(layer) = self else {
            self.backward_rest(x, here, Below::Layer(below, below_parts.reborrow()));
            return rest(below_parts);
        };
        let (n, callers) = (x.nrows(), Limit::here());
        let input_side = |grad_z: ArrayView2<f32>| {
            layer.input_gradient_into(grad_z, below_parts.grad.slice_mut(s![..n, ..]));
            callers.within(|| {
                below.backward_sweep(&mut below_parts, n);
                rest(below_parts)
            })
        };
        dense_weight_gradient_beside(layer, x, here, Some(input_side))
    }
}

/// A dense layer's `dL/dW` from its input `x` and `dL/dz` (in `here`), and the largest magnitudes of its weight
/// and bias gradients, beside `input_side` if there is one (`dL/dx` from `dL/dz`, and whatever follows it): the
/// two side by side, on half the threads each for pairs up to [`SHARING_MAX`], else each across all the threads;
/// `dL/dW` alone across all of them.
fn dense_weight_gradient_beside(
    layer: &Dense,
    x: ArrayView2<f32>,
    here: Parts<'_>,
    input_side: Option<impl FnOnce(ArrayView2<f32>) + Send>,
) {
    let n = x.nrows();
    let Parts {
        grad,
        weight_grad,
        bias_grad,
        grad_max,
        ..
    } = here;
    let grad_z = grad.slice(s![..n, ..]);
    let mut weight_gradient = || {
        let weight_max = layer.weight_gradient_into(x, grad_z, weight_grad.view_mut());
        *grad_max = [weight_max, gradient_max(bias_grad.view())];
    };
    match input_side {
        None => weight_gradient(),
        Some(input_side) if pair_shares_threads(n, layer.inputs(), layer.outputs()) => {
            join_sharing(|| input_side(grad_z), weight_gradient);
        }
        Some(input_side) => {
            join(|| input_side(grad_z), weight_gradient);
        }
    }
}

/// The largest [`magnitude`] of a gradient (infinity if a value is NaN or infinite), split across the crate's
/// threads when it is large.
fn gradient_max<D: ndarray::Dimension>(values: ndarray::ArrayView<f32, D>) -> f32 {
    match values.as_slice() {
        Some(run) => max_magnitude(run),
        None => values.iter().copied().map(magnitude).fold(0.0, f32::max),
    }
}

/// The largest dense product (`n · inputs · outputs` multiply-adds) whose `dL/dx` and `dL/dW` run side by side on
/// half the threads each ([`join_sharing`]); larger pairs run side by side with a plain [`join`], each product split
/// across all the threads, their parts taken as threads come free. Halving a small product costs more in
/// hand-overs and in the shared operand packed twice than the two products differ in time (AE-16's largest pair at
/// batch 256, 51M: 0.83 ms, 0.87–0.91 ms halved). A large one splits well, and with half the threads each (on two
/// threads: whole, on one each), the pair waits for the slower product (1024-wide ReLU and tanh layers at batch
/// 512, 537M each, where `dL/dx` takes 1.24× `dL/dW`: 1.05–1.12× the step).
const SHARING_MAX: usize = 1 << 27;

/// Whether a dense layer's `dL/dx` and `dL/dW` for a batch of `n` run on half the threads each (see
/// [`SHARING_MAX`]).
fn pair_shares_threads(n: usize, inputs: usize, outputs: usize) -> bool {
    n.saturating_mul(inputs).saturating_mul(outputs) <= SHARING_MAX
}

/// What lies below a layer in its backward ([`Layer::backward_rest`]): where its input gradient `dL/dx` goes.
pub(crate) enum Below<'a> {
    /// Nothing: the first layer of the chain, whose input gradient nobody needs (it is not computed).
    Nothing,
    /// A layer, whose `dL/dy` receives `dL/dx` and whose backward sweep follows.
    Layer(&'a Layer, Parts<'a>),
    /// A buffer (of at least `n` rows) that receives `dL/dx` and nothing more: a variational autoencoder's latent
    /// sample, whose gradient goes through the sampling before it reaches the encoder.
    Gradient(ArrayViewMut2<'a, f32>),
}

/// `gradients` with the `dL/dx` (`n` rows) to write, if anything is below, followed by the backward sweep of the
/// layer below when it is one.
fn with_below(below: Below<'_>, n: usize, gradients: impl FnOnce(Option<ArrayViewMut2<f32>>)) {
    match below {
        Below::Layer(layer, mut parts) => {
            gradients(Some(parts.grad.slice_mut(s![..n, ..])));
            layer.backward_sweep(&mut parts, n);
        }
        Below::Gradient(mut grad) => gradients(Some(grad.slice_mut(s![..n, ..]))),
        Below::Nothing => gradients(None),
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2};
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    use super::super::{Activation, Conv2d, ConvTranspose2d, Init, Padding};
    use crate::matmul::on_pool;

    /// AE-16's pairs share the threads at any batch up to 640; 1024-wide layers from a batch of 129.
    #[test]
    fn only_pairs_up_to_two_to_the_27_share_the_threads() {
        assert!(super::pair_shares_threads(256, 784, 256) && super::pair_shares_threads(640, 784, 256));
        assert!(super::pair_shares_threads(128, 1024, 1024) && !super::pair_shares_threads(129, 1024, 1024));
        assert!(!super::pair_shares_threads(512, 1024, 1024) && !super::pair_shares_threads(usize::MAX, 2, 2));
    }

    /// What a convolution's forward and backward give for a batch: `(output, dL/dK, dL/db, dL/dx)`.
    type Results = (Array2<f32>, Array2<f32>, Array1<f32>, Array2<f32>);

    /// A batch through a patch scratch with room for `room` images: a few images at a time when it has room for
    /// fewer than the batch's groups hold, each group at once when it has room for all.
    fn through_conv(layer: &Conv2d, x: &Array2<f32>, dy: &Array2<f32>, room: usize) -> Results {
        let (n, outputs) = (x.nrows(), layer.outputs());
        let mut patches = Array2::zeros(layer.patches_shape(room));
        let (mut output, mut pre) = (Array2::zeros((n, outputs)), Array2::zeros((n, outputs)));
        let mut grad = dy.clone();
        let (kernel_rows, filters) = (layer.patches_shape(1).1, layer.filters());
        let (mut dk, mut db, mut dx) = (
            Array2::zeros((kernel_rows, filters)),
            Array1::zeros(filters),
            Array2::zeros(x.dim()),
        );
        on_pool(|| {
            layer.forward_into(x.view(), patches.view_mut(), Some(pre.view_mut()), output.view_mut());
            layer.backward_into(
                x.view(),
                (Some(pre.view()), output.view()),
                grad.view_mut(),
                (dk.view_mut(), db.view_mut()),
                Some(dx.view_mut()),
                (patches.view_mut(), Array2::zeros(layer.group_sums_shape()).view_mut()),
            );
        });
        (output, dk, db, dx)
    }

    fn through_transposed(layer: &ConvTranspose2d, x: &Array2<f32>, dy: &Array2<f32>, room: usize) -> Results {
        let (n, outputs) = (x.nrows(), layer.outputs());
        let mut patches = Array2::zeros(layer.patches_shape(room));
        let (mut output, mut pre) = (Array2::zeros((n, outputs)), Array2::zeros((n, outputs)));
        let mut grad = dy.clone();
        let (kernel_rows, channels) = (layer.patches_shape(1).1, layer.input_shape().2);
        let (mut dk, mut db, mut dx) = (
            Array2::zeros((kernel_rows, channels)),
            Array1::zeros(layer.filters()),
            Array2::zeros(x.dim()),
        );
        on_pool(|| {
            layer.forward_into(x.view(), patches.view_mut(), Some(pre.view_mut()), output.view_mut());
            layer.backward_into(
                x.view(),
                (Some(pre.view()), output.view()),
                grad.view_mut(),
                (dk.view_mut(), db.view_mut()),
                Some(dx.view_mut()),
                (patches.view_mut(), Array2::zeros(layer.group_sums_shape()).view_mut()),
            );
        });
        (output, dk, db, dx)
    }

    /// The room changes nothing but the order of `dL/dK`'s sum within a group: the outputs and the other
    /// gradients are the same bits (`dL/db` is summed pixel by pixel in order within each group either way), `dL/dK`
    /// the same to rounding.
    fn assert_same(in_passes: &Results, at_once: &Results) {
        assert_eq!(in_passes.0, at_once.0, "outputs");
        assert_eq!(in_passes.2, at_once.2, "dL/db");
        assert_eq!(in_passes.3, at_once.3, "dL/dx");
        for (a, b) in in_passes.1.iter().zip(&at_once.1) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "dL/dK: {a} vs {b}");
        }
        assert!(in_passes.3.iter().any(|&v| v != 0.0), "a gradient to compare");
    }

    #[test]
    fn a_small_patch_scratch_gives_what_a_large_one_gives() {
        // 9 images: groups of 3, 2, 2 and 2, one image at a time through a room of 1, each group at once through 9
        let mut rng = StdRng::seed_from_u64(3);
        let value = |seed: usize| move |(i, j): (usize, usize)| ((i * 37 + j * 11 + seed) % 19) as f32 / 9.0 - 1.0;
        for padding in [Padding::Same, Padding::Valid] {
            let conv = Conv2d::new(
                (7, 6, 2),
                3,
                (3, 2),
                2,
                padding,
                Activation::Tanh,
                Init::GlorotUniform,
                &mut rng,
            )
            .unwrap();
            let x = Array2::from_shape_fn((9, conv.inputs()), value(1));
            let dy = Array2::from_shape_fn((9, conv.outputs()), value(2));
            assert_same(&through_conv(&conv, &x, &dy, 1), &through_conv(&conv, &x, &dy, 9));

            let back = ConvTranspose2d::new(
                (4, 3, 2),
                3,
                (3, 3),
                2,
                padding,
                Activation::Tanh,
                Init::GlorotUniform,
                &mut rng,
            )
            .unwrap();
            let x = Array2::from_shape_fn((9, back.inputs()), value(3));
            let dy = Array2::from_shape_fn((9, back.outputs()), value(4));
            assert_same(
                &through_transposed(&back, &x, &dy, 1),
                &through_transposed(&back, &x, &dy, 9),
            );
        }
    }
}
