//! The 2-D convolution layer (Keras' `Conv2D`), its forward and its hand-written backward.
//!
//! For a batch of `B` images `(h, w, c)` (rows of `h * w * c` values, HWC order), a kernel `K` of shape
//! `(kh, kw, c, filters)`, stride `s` and the zeros `(top, left)` of the [`Padding`]:
//!
//! `y[b, i, j, o] = act(bias[o] + Σ_{di, dj, ch} x[b, i*s + di - top, j*s + dj - left, ch] · K[di, dj, ch, o])`,
//! zero outside the image. Lowered onto one matrix product ([`patches`](super::patches)):
//!
//! | name | shape | meaning |
//! |---|---|---|
//! | `P = patches(x)` | `(B * out_h * out_w, kh * kw * c)` | every window of every image, one per row |
//! | `K` | `(kh * kw * c, filters)` | the kernel as a matrix (its own memory, reshaped) |
//! | `z = P · K + b` | `(B * out_h * out_w, filters)` | the pre-activation: the output's memory, `(B, out_h * out_w * filters)` |
//!
//! Backward, given `dL/dy`: `dL/dz = dL/dy ⊙ act'(z)`, `dL/dK = Pᵀ · dL/dz`, `dL/db = Σ_rows dL/dz`,
//! `dL/dx = scatter_add(dL/dz · Kᵀ)` (each window's gradient added back where the window read).
//!
//! The patch matrices hold a few images at a time (about 8 MB, [`patch_room`](super::geometry::patch_room)): a
//! batch goes through in passes of equal size, `dL/dK` summed over the passes in order, so that the windows stay
//! in the caches between the product and the gather or scatter, and a batch of 256 does not need 100 MB of them.
//!
//! ```
//! use autoencoder::{Activation, Conv2d, Padding};
//! use autoencoder::ndarray::{array, Array1, Array4};
//!
//! // a 2x2 kernel summing its window, over a 3x3 one-channel image: 2x2 outputs
//! let layer = Conv2d::from_parts(Array4::ones((2, 2, 1, 1)), Array1::zeros(1), (3, 3, 1), 1, Padding::Valid, Activation::Identity)?;
//! let x = array![[1.0_f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]];
//! let trace = layer.forward_train(x.view())?;
//! assert_eq!(trace.output(), &array![[12.0, 16.0, 24.0, 28.0]]);
//! let grads = layer.backward(&trace, array![[1.0_f32, 0.0, 0.0, 0.0]].view())?;
//! assert_eq!(grads.input, array![[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]); // the first window
//! assert_eq!(grads.kernel.into_raw_vec_and_offset().0, vec![1.0, 2.0, 4.0, 5.0]);
//! # Ok::<(), autoencoder::Error>(())
//! ```

use ndarray::{s, Array1, Array2, Array4, ArrayView2, ArrayViewMut1, ArrayViewMut2};
use ndarray_rand::rand::Rng;

use super::conv_trace::{check_trace, ConvGradients, ConvTrace};
use super::dense::sweeps;
use super::geometry::{
    at_once, check_columns, check_kernel, checked_filters, passes, patch_room, pixel_rows, pixel_rows_mut, Geometry,
    Padding,
};
use super::patches::{gather, scatter_add};
use super::{Activation, Init};
use crate::alloc::try_zeros_2d;
use crate::error::{Error, Result};
use crate::matmul::{on_pool, product_add_into, product_into};

/// A 2-D convolution `y = act(conv(x, K) + b)` over images in HWC order, with Keras' kernel layout
/// `(kh, kw, in_channels, filters)` and Keras' [`Padding`] rules.
///
/// ```
/// use autoencoder::{Activation, Conv2d, Init, Padding};
/// use autoencoder::rand::{rngs::StdRng, SeedableRng};
/// // the first layer of the book's convolutional autoencoder
/// let layer = Conv2d::new((28, 28, 1), 32, (3, 3), 2, Padding::Same, Activation::Relu, Init::GlorotUniform, &mut StdRng::seed_from_u64(0))?;
/// assert_eq!((layer.output_shape(), layer.inputs(), layer.outputs()), ((14, 14, 32), 784, 14 * 14 * 32));
/// assert_eq!(layer.parameter_count(), 3 * 3 * 1 * 32 + 32);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// `(kh, kw, in_channels, filters)`, in standard layout (one flat slice for the optimizers).
    kernel: Array4<f32>,
    /// `(filters)`.
    bias: Array1<f32>,
    /// The input is the convolution's image.
    geometry: Geometry,
    padding: Padding,
    activation: Activation,
}

impl Conv2d {
    /// A layer of `filters` kernels of `kernel_size` drawn by `init` from `rng` (with Keras' fans
    /// `kh * kw * in_channels` and `kh * kw * filters`), and zero biases, over images of `input_shape`
    /// `(h, w, c)`.
    ///
    /// Errors as [`from_parts`](Self::from_parts) does, and for zero filters.
    ///
    /// ```
    /// use autoencoder::{Activation, Conv2d, Init, Padding};
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let layer = Conv2d::new((7, 7, 3), 8, (2, 3), 3, Padding::Valid, Activation::Tanh, Init::HeNormal, &mut StdRng::seed_from_u64(1))?;
    /// assert_eq!((layer.kernel().dim(), layer.output_shape()), ((2, 3, 3, 8), (2, 2, 8)));
    /// assert!(Conv2d::new((2, 2, 1), 4, (3, 3), 1, Padding::Valid, Activation::Relu, Init::HeNormal, &mut StdRng::seed_from_u64(1)).is_err());
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn new<R: Rng + ?Sized>(
        input_shape: (usize, usize, usize),
        filters: usize,
        kernel_size: (usize, usize),
        stride: usize,
        padding: Padding,
        activation: Activation,
        init: Init,
        rng: &mut R,
    ) -> Result<Conv2d> {
        let geometry = Geometry::new(input_shape, kernel_size, stride, padding)?;
        let window = geometry.window();
        let (kh, kw) = kernel_size;
        let kernel = init.kernel(
            (window, checked_filters(filters, window)?),
            (window, kh * kw * filters),
            rng,
        )?;
        let kernel = kernel
            .into_shape_with_order((kh, kw, input_shape.2, filters))
            .map_err(|e| Error::InvalidArgument(format!("Conv2d::new: {e}")))?;
        Conv2d::from_parts(kernel, Array1::zeros(filters), input_shape, stride, padding, activation)
    }

    /// A layer from its kernel `(kh, kw, in_channels, filters)` and bias `(filters)`, over images of
    /// `input_shape` `(h, w, c)`.
    ///
    /// Errors with [`Error::Shape`] when the kernel's input channels are not `c` or the bias is not one per
    /// filter, and with [`Error::InvalidArgument`] for a zero size or stride, a Valid kernel larger than the
    /// input, or sizes too large to address.
    ///
    /// ```
    /// use autoencoder::{Activation, Conv2d, Padding};
    /// use autoencoder::ndarray::{Array1, Array4};
    /// let kernel = Array4::<f32>::zeros((3, 3, 2, 4));
    /// assert!(Conv2d::from_parts(kernel.clone(), Array1::zeros(4), (5, 5, 2), 1, Padding::Same, Activation::Relu).is_ok());
    /// let wrong_channels = Conv2d::from_parts(kernel.clone(), Array1::zeros(4), (5, 5, 3), 1, Padding::Same, Activation::Relu);
    /// assert!(wrong_channels.unwrap_err().to_string().contains("channels"));
    /// assert!(Conv2d::from_parts(kernel, Array1::zeros(3), (5, 5, 2), 1, Padding::Same, Activation::Relu).is_err());
    /// ```
    pub fn from_parts(
        kernel: Array4<f32>,
        bias: Array1<f32>,
        input_shape: (usize, usize, usize),
        stride: usize,
        padding: Padding,
        activation: Activation,
    ) -> Result<Conv2d> {
        let (kh, kw, channels, filters) = kernel.dim();
        check_kernel("Conv2d", kernel.dim(), bias.len(), (channels, input_shape.2), filters)?;
        let geometry = Geometry::new(input_shape, (kh, kw), stride, padding)?;
        checked_filters(filters, geometry.positions())?;
        Ok(Conv2d {
            kernel: kernel.as_standard_layout().into_owned(),
            bias,
            geometry,
            padding,
            activation,
        })
    }

    /// The kernel, shape `(kh, kw, in_channels, filters)` (Keras' `Conv2D` layout).
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((1, 2, 3, 4)), Array1::zeros(4), (5, 5, 3), 1, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.kernel().dim(), (1, 2, 3, 4));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn kernel(&self) -> &Array4<f32> {
        &self.kernel
    }

    /// The bias, one per filter.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{array, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((1, 1, 1, 2)), array![0.5, -0.5], (2, 2, 1), 1, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.bias(), &array![0.5, -0.5]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn bias(&self) -> &Array1<f32> {
        &self.bias
    }

    /// The activation applied to the convolution plus bias.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((1, 1, 1, 1)), Array1::zeros(1), (2, 2, 1), 1, Padding::Same, Activation::Elu(1.0))?;
    /// assert_eq!(layer.activation(), Activation::Elu(1.0));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The stride, the same along both axes.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((3, 3, 1, 1)), Array1::zeros(1), (8, 8, 1), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!((layer.stride(), layer.padding()), (2, Padding::Same));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn stride(&self) -> usize {
        self.geometry.stride
    }

    /// The padding rule.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((3, 3, 1, 1)), Array1::zeros(1), (8, 8, 1), 1, Padding::Valid, Activation::Relu)?;
    /// assert_eq!(layer.padding(), Padding::Valid);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn padding(&self) -> Padding {
        self.padding
    }

    /// `(kh, kw)`.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((2, 3, 1, 1)), Array1::zeros(1), (8, 8, 1), 1, Padding::Valid, Activation::Relu)?;
    /// assert_eq!(layer.kernel_size(), (2, 3));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn kernel_size(&self) -> (usize, usize) {
        self.geometry.kernel
    }

    /// The shape `(h, w, c)` of one input image.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((3, 3, 2, 1)), Array1::zeros(1), (9, 8, 2), 1, Padding::Valid, Activation::Relu)?;
    /// assert_eq!(layer.input_shape(), (9, 8, 2));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn input_shape(&self) -> (usize, usize, usize) {
        self.geometry.image
    }

    /// The shape `(out_h, out_w, filters)` of one output image.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((3, 3, 2, 5)), Array1::zeros(5), (9, 8, 2), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.output_shape(), (5, 4, 5));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn output_shape(&self) -> (usize, usize, usize) {
        (self.geometry.grid.0, self.geometry.grid.1, self.filters())
    }

    /// The number of filters (output channels).
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((3, 3, 2, 5)), Array1::zeros(5), (9, 8, 2), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.filters(), 5);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn filters(&self) -> usize {
        self.bias.len()
    }

    /// `h * w * c`: the columns of an input batch.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((3, 3, 2, 5)), Array1::zeros(5), (9, 8, 2), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!((layer.inputs(), layer.outputs()), (9 * 8 * 2, 5 * 4 * 5));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn inputs(&self) -> usize {
        self.geometry.image_len()
    }

    /// `out_h * out_w * filters`: the columns of an output batch.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((1, 1, 1, 3)), Array1::zeros(3), (4, 4, 1), 2, Padding::Valid, Activation::Relu)?;
    /// assert_eq!(layer.outputs(), 2 * 2 * 3);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn outputs(&self) -> usize {
        self.geometry.positions() * self.filters()
    }

    /// The number of trainable values: kernel and bias.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((3, 3, 1, 32)), Array1::zeros(32), (28, 28, 1), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.parameter_count(), 320);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn parameter_count(&self) -> usize {
        self.kernel.len() + self.bias.len()
    }

    /// The output for a batch `x` of shape `(batch, h * w * c)`.
    ///
    /// Errors with [`Error::Shape`] when `x` does not have [`inputs`](Self::inputs) columns, and with
    /// [`Error::InvalidArgument`] when the output or the patch matrix (`batch * positions` rows of a window each)
    /// cannot be allocated.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{array, Array1, Array4};
    /// // one 1x1 filter doubling a 2-channel image's first channel and dropping its second
    /// let kernel = Array4::from_shape_vec((1, 1, 2, 1), vec![2.0_f32, 0.0]).unwrap();
    /// let layer = Conv2d::from_parts(kernel, Array1::zeros(1), (1, 2, 2), 1, Padding::Same, Activation::Identity)?;
    /// assert_eq!(layer.forward(array![[1.0_f32, 9.0, 3.0, 9.0]].view())?, array![[2.0, 6.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_input(x, "Conv2d::forward")?;
        let x = x.as_standard_layout();
        let mut output = try_zeros_2d((x.nrows(), self.outputs()), "Conv2d::forward's output")?;
        let mut patches = try_zeros_2d(self.patch_scratch(x.nrows()), "Conv2d::forward's patch matrix")?;
        on_pool(|| self.forward_into(x.view(), patches.view_mut(), None, output.view_mut()));
        Ok(output)
    }

    /// The forward pass for training: the output, and what [`backward`](Self::backward) needs.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array2, Array4};
    /// let layer = Conv2d::from_parts(Array4::zeros((3, 3, 1, 2)), Array1::zeros(2), (4, 4, 1), 1, Padding::Same, Activation::Sigmoid)?;
    /// let trace = layer.forward_train(Array2::zeros((1, 16)).view())?;
    /// assert!(trace.output().iter().all(|&y| y == 0.5));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn forward_train(&self, x: ArrayView2<f32>) -> Result<ConvTrace> {
        self.check_input(x, "Conv2d::forward_train")?;
        let input = x.as_standard_layout().into_owned();
        let shape = (x.nrows(), self.outputs());
        let what = "Conv2d::forward_train's buffers";
        let mut output = try_zeros_2d(shape, what)?;
        let mut pre_activation = match self.activation.needs_pre_activation() {
            true => Some(try_zeros_2d(shape, what)?),
            false => None,
        };
        let mut patches = try_zeros_2d(self.patch_scratch(x.nrows()), what)?;
        on_pool(|| {
            let pre = pre_activation.as_mut().map(|z| z.view_mut());
            self.forward_into(input.view(), patches.view_mut(), pre, output.view_mut())
        });
        Ok(ConvTrace {
            input,
            pre_activation,
            output,
        })
    }

    /// The backward pass: from `dL/dy` (the shape of the trace's output) to `dL/dK`, `dL/db` and `dL/dx`.
    ///
    /// Errors with [`Error::Shape`] when `grad_output`'s shape differs from the output's, or when the trace came
    /// from a layer of another shape.
    ///
    /// ```
    /// # use autoencoder::{Activation, Conv2d, Padding};
    /// # use autoencoder::ndarray::{array, Array1, Array4};
    /// // 1x1 kernel 3, one pixel: y = 3x, so dL/dK = x dL/dy, dL/dx = 3 dL/dy
    /// let layer = Conv2d::from_parts(Array4::from_elem((1, 1, 1, 1), 3.0), Array1::zeros(1), (1, 1, 1), 1, Padding::Same, Activation::Identity)?;
    /// let trace = layer.forward_train(array![[2.0_f32]].view())?;
    /// let grads = layer.backward(&trace, array![[1.0_f32]].view())?;
    /// assert_eq!((grads.kernel[[0, 0, 0, 0]], grads.bias[0], grads.input[[0, 0]]), (2.0, 1.0, 3.0));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn backward(&self, trace: &ConvTrace, grad_output: ArrayView2<f32>) -> Result<ConvGradients> {
        check_trace(
            "Conv2d::backward",
            trace,
            grad_output,
            (self.inputs(), self.outputs()),
            self.activation,
        )?;
        let mut grad = grad_output.as_standard_layout().into_owned(); // rows of pixels, whatever its layout
        let mut grads = ConvGradients {
            kernel: Array4::zeros(self.kernel.raw_dim()),
            bias: Array1::zeros(self.filters()),
            input: Array2::zeros(trace.input.raw_dim()),
        };
        let mut patches = try_zeros_2d(
            self.patch_scratch(trace.input.nrows()),
            "Conv2d::backward's patch matrix",
        )?;
        on_pool(|| {
            let (window, filters) = (self.geometry.window(), self.filters());
            let grad_kernel = grads.kernel.view_mut().into_shape_with_order((window, filters));
            self.backward_into(
                trace.input.view(),
                trace.pre_activation.as_ref().map(|z| z.view()),
                trace.output.view(),
                grad.view_mut(),
                (patches.view_mut(), false),
                grad_kernel.expect("a standard-layout kernel reshapes"),
                grads.bias.view_mut(),
                Some(grads.input.view_mut()),
            )
        });
        Ok(grads)
    }

    /// The shape of the patch matrix for `rows` images.
    pub(crate) fn patches_shape(&self, rows: usize) -> (usize, usize) {
        (rows * self.geometry.positions(), self.geometry.window())
    }

    /// The shape of the patch scratch that [`forward_into`](Self::forward_into) and
    /// [`backward_into`](Self::backward_into) need for batches of up to `capacity` images: room for a few MB
    /// of windows ([`patch_room`]), which they go through a few images at a time.
    pub(crate) fn patch_scratch(&self, capacity: usize) -> (usize, usize) {
        self.patches_shape(patch_room(self.patches_shape(1), capacity))
    }

    /// The forward pass into caller-owned buffers (no allocation): `output` gets `act(z)`, and `pre_activation`
    /// `z` when given (it must be, for activations that need it in backward). `patches` (of
    /// [`patch_scratch`](Self::patch_scratch)) is scratch; when the batch fits in it at once, it keeps the
    /// input's windows for backward. `x` in standard layout.
    pub(crate) fn forward_into(
        &self,
        x: ArrayView2<f32>,
        mut patches: ArrayViewMut2<f32>,
        mut pre_activation: Option<ArrayViewMut2<f32>>,
        mut output: ArrayViewMut2<f32>,
    ) {
        let (n, filters) = (x.nrows(), self.filters());
        for (_, images) in passes(&self.geometry, n, patches.nrows()) {
            let (start, end) = (images.start, images.end);
            let mut patches = patches.slice_mut(s![..self.patches_shape(end - start).0, ..]);
            gather(&self.geometry, x.slice(s![start..end, ..]), patches.view_mut());
            let mut z = pixel_rows_mut(output.slice_mut(s![start..end, ..]), filters);
            product_into(patches.view(), self.kernel_matrix(), z.view_mut());
            // the bias and activation while this pass's output is still in the caches
            let pre = (pre_activation.as_mut()).map(|pre| pixel_rows_mut(pre.slice_mut(s![start..end, ..]), filters));
            sweeps::bias_activation(z, pre, self.bias.view(), self.activation);
        }
    }

    /// The backward pass into caller-owned buffers (no allocation): [`backward_sweep_into`]
    /// (Self::backward_sweep_into), then [`gradients_into`](Self::gradients_into).
    ///
    /// `grad` holds `dL/dy` on entry and `dL/dz` on return. `patches` is scratch of
    /// [`patch_scratch`](Self::patch_scratch); with `true` it holds what [`forward_into`](Self::forward_into)
    /// left there. `grad_input` may be `None` for the first layer of a network, whose input gradient nobody
    /// needs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_into(
        &self,
        x: ArrayView2<f32>,
        pre_activation: Option<ArrayView2<f32>>,
        output: ArrayView2<f32>,
        mut grad: ArrayViewMut2<f32>,
        patches: (ArrayViewMut2<f32>, bool),
        grad_kernel: ArrayViewMut2<f32>,
        grad_bias: ArrayViewMut1<f32>,
        grad_input: Option<ArrayViewMut2<f32>>,
    ) {
        self.backward_sweep_into(pre_activation, output, grad.view_mut(), grad_bias);
        self.gradients_into(x, grad.view(), patches, grad_kernel, grad_input);
    }

    /// The element-wise part of backward: `grad` from `dL/dy` to `dL/dz = dL/dy ⊙ act'(z)` in place, and
    /// `grad_bias = dL/db`, the sum of `dL/dz` over every pixel of every image.
    pub(crate) fn backward_sweep_into(
        &self,
        pre_activation: Option<ArrayView2<f32>>,
        output: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
        grad_bias: ArrayViewMut1<f32>,
    ) {
        let filters = self.filters();
        let pre_activation = pre_activation.map(|pre| pixel_rows(pre, filters));
        let (output, grad_z) = (pixel_rows(output, filters), pixel_rows_mut(grad, filters));
        sweeps::activation_grad_bias_sum(pre_activation, output, grad_z, grad_bias, self.activation);
    }

    /// The two products of backward, a few images at a time: `grad_kernel = dL/dK = Σ Pᵀ · dL/dz` (the windows
    /// `P` of the input gathered into `patches`, or still there from forward when `patches_hold_x` and the batch
    /// fits at once), and, when asked for, `grad_input = dL/dx`: `dL/dz · Kᵀ` into `patches`, each window's part
    /// then added back where the window read.
    pub(crate) fn gradients_into(
        &self,
        x: ArrayView2<f32>,
        grad_z: ArrayView2<f32>,
        (mut patches, patches_hold_x): (ArrayViewMut2<f32>, bool),
        mut grad_kernel: ArrayViewMut2<f32>,
        mut grad_input: Option<ArrayViewMut2<f32>>,
    ) {
        let n = x.nrows();
        let at_once = at_once(&self.geometry, n, patches.nrows());
        for (pass, images) in passes(&self.geometry, n, patches.nrows()) {
            let (start, end) = (images.start, images.end);
            let mut patches = patches.slice_mut(s![..self.patches_shape(end - start).0, ..]);
            if !(patches_hold_x && at_once) {
                gather(&self.geometry, x.slice(s![start..end, ..]), patches.view_mut());
            }
            let grad_z = pixel_rows(grad_z.slice(s![start..end, ..]), self.filters());
            match pass {
                0 => product_into(patches.t(), grad_z, grad_kernel.view_mut()),
                _ => product_add_into(patches.t(), grad_z, grad_kernel.view_mut()),
            }
            if let Some(grad_input) = grad_input.as_mut() {
                product_into(grad_z, self.kernel_matrix().t(), patches.view_mut());
                scatter_add(&self.geometry, patches.view(), grad_input.slice_mut(s![start..end, ..]));
            }
        }
    }

    /// Mutable views of `(kernel, bias)`, for the optimizer.
    pub(crate) fn parameters_mut(&mut self) -> (&mut Array4<f32>, &mut Array1<f32>) {
        (&mut self.kernel, &mut self.bias)
    }

    /// The kernel as the `(kh * kw * c, filters)` matrix of the product (the same memory).
    fn kernel_matrix(&self) -> ArrayView2<'_, f32> {
        let shape = (self.geometry.window(), self.filters());
        self.kernel
            .view()
            .into_shape_with_order(shape)
            .expect("a standard-layout kernel reshapes")
    }

    fn check_input(&self, x: ArrayView2<f32>, context: &str) -> Result<()> {
        check_columns(x, self.input_shape(), context)
    }
}
