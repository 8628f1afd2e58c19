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
//! The patch matrices hold a few images at a time ([`groups`](super::groups)): each thread takes its images of
//! the batch a few at a time, so that the windows stay in the core's cache between the step that writes them and
//! the one that reads them back, and a batch of 256 does not need 100 MB of them. Backward sums `dL/dK` and
//! `dL/db` by fixed groups of images, so that the results are the same bits on any thread count.
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
use super::geometry::{check_columns, check_kernel, checked_filters, pixel_rows, pixel_rows_mut, Geometry, Padding};
use super::groups::{
    backward_by_groups, forward_by_images, group_sums_shape, images_at_once, parts_for_images, patch_room,
    BackwardViews,
};
use super::patches::{gather, scatter_add};
use super::{Activation, Init};
use crate::alloc::try_zeros_2d;
use crate::error::{Error, Result};
use crate::matmul::{on_pool, product_on_this_thread};

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
        let mut group_sums = Array2::zeros(self.group_sums_shape());
        on_pool(|| {
            let (window, filters) = (self.geometry.window(), self.filters());
            let grad_kernel = grads.kernel.view_mut().into_shape_with_order((window, filters));
            self.backward_into(
                trace.input.view(),
                (trace.pre_activation.as_ref().map(|z| z.view()), trace.output.view()),
                grad.view_mut(),
                (
                    grad_kernel.expect("a standard-layout kernel reshapes"),
                    grads.bias.view_mut(),
                ),
                Some(grads.input.view_mut()),
                (patches.view_mut(), group_sums.view_mut()),
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
    /// [`patch_scratch`](Self::patch_scratch)) is scratch. `x` in standard layout.
    ///
    /// The batch is split by whole images across the crate's threads ([`forward_by_images`]); a thread takes its
    /// images a few at a time: their windows gathered, the product of the windows and the kernel while they are
    /// still in the core's cache, then the bias and activation on the output just written.
    pub(crate) fn forward_into(
        &self,
        x: ArrayView2<f32>,
        patches: ArrayViewMut2<f32>,
        pre_activation: Option<ArrayViewMut2<f32>>,
        output: ArrayViewMut2<f32>,
    ) {
        let (n, (rows, window)) = (x.nrows(), self.patches_shape(1));
        let parts = parts_for_images(n, rows * window);
        forward_by_images(
            (x, patches),
            (pre_activation, output),
            (rows, parts),
            &|x, patches, pre, output| self.forward_on_this_thread(x, patches, pre, output),
        );
    }

    /// [`forward_into`](Self::forward_into) on the calling thread, a few images at a time through `patches`.
    fn forward_on_this_thread(
        &self,
        x: ArrayView2<f32>,
        mut patches: ArrayViewMut2<f32>,
        mut pre_activation: Option<ArrayViewMut2<f32>>,
        mut output: ArrayViewMut2<f32>,
    ) {
        let (n, filters, rows) = (x.nrows(), self.filters(), self.patches_shape(1).0);
        let images_at_once = images_at_once(&patches, rows);
        for start in (0..n).step_by(images_at_once) {
            let images = start..(start + images_at_once).min(n);
            let mut windows = patches.slice_mut(s![..images.len() * rows, ..]);
            gather(&self.geometry, x.slice(s![images.clone(), ..]), windows.view_mut());
            let mut z = pixel_rows_mut(output.slice_mut(s![images.clone(), ..]), filters);
            product_on_this_thread(windows.view(), self.kernel_matrix(), z.view_mut(), false);
            let pre = (pre_activation.as_mut()).map(|pre| pixel_rows_mut(pre.slice_mut(s![images, ..]), filters));
            sweeps::bias_activation_on_this_thread(z, pre, self.bias.view(), self.activation);
        }
    }

    /// The backward pass into caller-owned buffers (no allocation), by [groups](super::groups) of images: for a
    /// few images at a time, `dL/dz = dL/dy ⊙ act'(z)` in place in `grad` with its sum into `dL/db`, the windows
    /// `P` of the input gathered into `patches` and `Pᵀ · dL/dz` added into `dL/dK`, then, when `grad_input` is
    /// given (the first layer of a network has nobody to pass it to), `dL/dz · Kᵀ` into `patches` and each
    /// window's part added back where the window read: `dL/dx`.
    ///
    /// `grad` holds `dL/dy` on entry and `dL/dz` on return; `grad_kernel` (the kernel as the products' matrix)
    /// and `grad_bias` get `dL/dK` and `dL/db`; the scratch is `patches` (of [`patch_scratch`](Self::patch_scratch)
    /// (Self::patch_scratch)) and `group_sums` (of [`group_sums_shape`](Self::group_sums_shape)).
    pub(crate) fn backward_into(
        &self,
        x: ArrayView2<f32>,
        (pre_activation, output): (Option<ArrayView2<f32>>, ArrayView2<f32>),
        grad: ArrayViewMut2<f32>,
        (grad_kernel, grad_bias): (ArrayViewMut2<f32>, ArrayViewMut1<f32>),
        grad_input: Option<ArrayViewMut2<f32>>,
        (patches, group_sums): (ArrayViewMut2<f32>, ArrayViewMut2<f32>),
    ) {
        let (n, (rows, window)) = (x.nrows(), self.patches_shape(1));
        let batch = BackwardViews::new(x, (pre_activation, output), grad, (grad_kernel, grad_bias), grad_input);
        let parts = parts_for_images(n, rows * window);
        backward_by_groups(batch, group_sums, patches, (rows, parts), &|group, patches, pass| {
            self.backward_group(group, patches, pass)
        });
    }

    /// One group's part of [`backward_into`](Self::backward_into), on the calling thread, `images_at_once` images
    /// at a time through `patches`; its sums are written (not added to).
    fn backward_group(&self, group: &mut BackwardViews<'_>, mut patches: ArrayViewMut2<f32>, images_at_once: usize) {
        let (n, filters, rows) = (group.x.nrows(), self.filters(), self.patches_shape(1).0);
        group.bias_sum.fill(0.0);
        if n == 0 {
            return group.kernel_sum.fill(0.0);
        }
        for (pass, start) in (0..n).step_by(images_at_once).enumerate() {
            let images = start..(start + images_at_once).min(n);
            let mut grad = pixel_rows_mut(group.grad.slice_mut(s![images.clone(), ..]), filters);
            let pre = group
                .pre_activation
                .map(|pre| pixel_rows(pre.slice_move(s![images.clone(), ..]), filters));
            let output = pixel_rows(group.output.slice(s![images.clone(), ..]), filters);
            let bias_sum = group.bias_sum.view_mut();
            sweeps::activation_grad_bias_add_on_this_thread(pre, output, grad.view_mut(), bias_sum, self.activation);
            let mut windows = patches.slice_mut(s![..images.len() * rows, ..]);
            gather(
                &self.geometry,
                group.x.slice(s![images.clone(), ..]),
                windows.view_mut(),
            );
            product_on_this_thread(windows.t(), grad.view(), group.kernel_sum.view_mut(), pass > 0);
            if let Some(grad_input) = group.grad_input.as_mut() {
                product_on_this_thread(grad.view(), self.kernel_matrix().t(), windows.view_mut(), false);
                scatter_add(&self.geometry, windows.view(), grad_input.slice_mut(s![images, ..]));
            }
        }
    }

    /// The shape of the scratch for the sums of the groups of images ([`backward_into`](Self::backward_into)).
    pub(crate) fn group_sums_shape(&self) -> (usize, usize) {
        group_sums_shape(self.kernel.len(), self.bias.len())
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
