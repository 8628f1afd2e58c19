//! The transposed 2-D convolution layer (Keras' `Conv2DTranspose`), its forward and its hand-written backward.
//!
//! It is exactly the adjoint (the input gradient) of the [`Conv2d`](crate::Conv2d) with the same kernel,
//! stride and padding that maps this layer's output shape back to its input shape: each input pixel spreads
//! its channels, weighted by the kernel, over the window that convolution would have read, and overlapping
//! windows add up. For input `(h, w, in_channels)` the output is `(H, W, out_channels)` with `H = h * s`
//! (Same) or `h * s + max(k - s, 0)` (Valid), Keras' rule; the kernel has Keras' layout
//! `(kh, kw, out_channels, in_channels)`.
//!
//! | name | shape | meaning |
//! |---|---|---|
//! | `x` | `(B * h * w, in_channels)` | the input, one row per pixel (its own memory) |
//! | `K` | `(kh * kw * out_channels, in_channels)` | the kernel as a matrix (its own memory, reshaped) |
//! | `C = x · Kᵀ` | `(B * h * w, kh * kw * out_channels)` | what each input pixel writes into its window |
//! | `z = scatter_add(C) + b` | `(B, H * W * out_channels)` | the pre-activation |
//!
//! Backward, given `dL/dy`: `dL/dz = dL/dy ⊙ act'(z)`, `P = patches(dL/dz)` (the windows, as a `Conv2d` reads
//! them), `dL/dK = Pᵀ · x`, `dL/db = Σ_pixels dL/dz`, `dL/dx = P · K`.
//!
//! The patch matrices hold a few images at a time ([`groups`](super::groups)): each thread takes its images of
//! the batch a few at a time, so that the windows stay in the core's cache between the step that writes them and
//! the one that reads them back, and a batch of 256 does not need 100 MB of them. Backward sums `dL/dK` and
//! `dL/db` by fixed groups of images, so that the results are the same bits on any thread count.
//!
//! ```
//! use autoencoder::{Activation, ConvTranspose2d, Padding};
//! use autoencoder::ndarray::{array, Array1, Array4};
//!
//! // a 2x2 kernel of ones at stride 2: each pixel of a 1x2 image becomes a 2x2 block
//! let layer = ConvTranspose2d::from_parts(Array4::ones((2, 2, 1, 1)), Array1::zeros(1), (1, 2, 1), 2, Padding::Same, Activation::Identity)?;
//! let trace = layer.forward_train(array![[1.0_f32, 2.0]].view())?;
//! assert_eq!(trace.output(), &array![[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]]);
//! let grads = layer.backward(&trace, array![[1.0_f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0]].view())?;
//! assert_eq!(grads.input, array![[1.0, 5.0]]); // the sum over each pixel's block
//! assert_eq!(grads.kernel.into_raw_vec_and_offset().0, vec![1.0, 0.0, 0.0, 10.0]);
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
use super::{direct, Activation, Init};
use crate::alloc::try_zeros_2d;
use crate::error::{Error, Result};
use crate::matmul::{on_pool, product_on_this_thread};

/// A transposed 2-D convolution `y = act(conv_transpose(x, K) + b)` over images in HWC order, with Keras' kernel
/// layout `(kh, kw, out_channels, in_channels)` and Keras' [`Padding`] and output-size rules: what a decoder
/// uses to grow an image back.
///
/// ```
/// use autoencoder::{Activation, ConvTranspose2d, Init, Padding};
/// use autoencoder::rand::{rngs::StdRng, SeedableRng};
/// // a decoder layer of the book's convolutional autoencoder: 7x7x64 up to 14x14x64
/// let layer = ConvTranspose2d::new((7, 7, 64), 64, (3, 3), 2, Padding::Same, Activation::Relu, Init::GlorotUniform, &mut StdRng::seed_from_u64(0))?;
/// assert_eq!((layer.output_shape(), layer.kernel().dim()), ((14, 14, 64), (3, 3, 64, 64)));
/// assert_eq!(layer.parameter_count(), 3 * 3 * 64 * 64 + 64);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose2d {
    /// `(kh, kw, out_channels, in_channels)`, in standard layout (one flat slice for the optimizers).
    kernel: Array4<f32>,
    /// `(out_channels)`.
    bias: Array1<f32>,
    /// The convolution this layer runs backwards: its image is this layer's output, its grid this layer's input.
    geometry: Geometry,
    /// `(h, w, in_channels)`.
    input_shape: (usize, usize, usize),
    padding: Padding,
    activation: Activation,
}

impl ConvTranspose2d {
    /// A layer of `filters` output channels with kernels of `kernel_size` drawn by `init` from `rng` (with Keras'
    /// fans `kh * kw * in_channels` and `kh * kw * filters`), and zero biases, over inputs of `input_shape`
    /// `(h, w, c)`.
    ///
    /// Errors as [`from_parts`](Self::from_parts) does, and for zero filters.
    ///
    /// ```
    /// use autoencoder::{Activation, ConvTranspose2d, Init, Padding};
    /// use autoencoder::rand::{rngs::StdRng, SeedableRng};
    /// let layer = ConvTranspose2d::new((3, 4, 2), 5, (3, 2), 2, Padding::Valid, Activation::Tanh, Init::HeUniform, &mut StdRng::seed_from_u64(1))?;
    /// assert_eq!((layer.kernel().dim(), layer.output_shape()), ((3, 2, 5, 2), (7, 8, 5)));
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
    ) -> Result<ConvTranspose2d> {
        let (kh, kw) = kernel_size;
        let geometry = Geometry::transposed(input_shape, checked_filters(filters, 1)?, kernel_size, stride, padding)?;
        let window = geometry.window(); // kh * kw * filters
        checked_filters(input_shape.2, window)?;
        // Keras draws the kernel with fans of its layout (kh, kw, out, in): fan_in = kh * kw * in
        let kernel = init.kernel((window, input_shape.2), (kh * kw * input_shape.2, window), rng)?;
        let kernel = kernel
            .into_shape_with_order((kh, kw, filters, input_shape.2))
            .map_err(|e| Error::InvalidArgument(format!("ConvTranspose2d::new: {e}")))?;
        ConvTranspose2d::from_parts(kernel, Array1::zeros(filters), input_shape, stride, padding, activation)
    }

    /// A layer from its kernel `(kh, kw, out_channels, in_channels)` and bias `(out_channels)`, over inputs of
    /// `input_shape` `(h, w, c)`.
    ///
    /// Errors with [`Error::Shape`] when the kernel's input channels (its last axis) are not `c` or the bias is
    /// not one per output channel, and with [`Error::InvalidArgument`] for a zero size or stride, or sizes too
    /// large to address.
    ///
    /// ```
    /// use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// use autoencoder::ndarray::{Array1, Array4};
    /// let kernel = Array4::<f32>::zeros((3, 3, 4, 2)); // 2 channels in, 4 out
    /// assert!(ConvTranspose2d::from_parts(kernel.clone(), Array1::zeros(4), (5, 5, 2), 2, Padding::Same, Activation::Relu).is_ok());
    /// assert!(ConvTranspose2d::from_parts(kernel.clone(), Array1::zeros(4), (5, 5, 4), 2, Padding::Same, Activation::Relu).is_err());
    /// assert!(ConvTranspose2d::from_parts(kernel, Array1::zeros(2), (5, 5, 2), 2, Padding::Same, Activation::Relu).is_err());
    /// ```
    pub fn from_parts(
        kernel: Array4<f32>,
        bias: Array1<f32>,
        input_shape: (usize, usize, usize),
        stride: usize,
        padding: Padding,
        activation: Activation,
    ) -> Result<ConvTranspose2d> {
        let (kh, kw, out_channels, in_channels) = kernel.dim();
        let what = "ConvTranspose2d";
        check_kernel(
            what,
            kernel.dim(),
            bias.len(),
            (in_channels, input_shape.2),
            out_channels,
        )?;
        let geometry = Geometry::transposed(input_shape, out_channels, (kh, kw), stride, padding)?;
        checked_filters(in_channels, geometry.window())?;
        Ok(ConvTranspose2d {
            kernel: kernel.as_standard_layout().into_owned(),
            bias,
            geometry,
            input_shape,
            padding,
            activation,
        })
    }

    /// The kernel, shape `(kh, kw, out_channels, in_channels)` (Keras' `Conv2DTranspose` layout).
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((1, 2, 4, 3)), Array1::zeros(4), (5, 5, 3), 1, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.kernel().dim(), (1, 2, 4, 3));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn kernel(&self) -> &Array4<f32> {
        &self.kernel
    }

    /// The bias, one per output channel.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{array, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((1, 1, 2, 1)), array![0.5, -0.5], (2, 2, 1), 1, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.bias(), &array![0.5, -0.5]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn bias(&self) -> &Array1<f32> {
        &self.bias
    }

    /// The activation applied to the transposed convolution plus bias.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((1, 1, 1, 1)), Array1::zeros(1), (2, 2, 1), 1, Padding::Same, Activation::Sigmoid)?;
    /// assert_eq!(layer.activation(), Activation::Sigmoid);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The stride, the same along both axes: the factor by which the image grows.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((3, 3, 1, 1)), Array1::zeros(1), (4, 4, 1), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!((layer.stride(), layer.padding()), (2, Padding::Same));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn stride(&self) -> usize {
        self.geometry.stride
    }

    /// The padding rule.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((3, 3, 1, 1)), Array1::zeros(1), (4, 4, 1), 1, Padding::Valid, Activation::Relu)?;
    /// assert_eq!((layer.padding(), layer.output_shape()), (Padding::Valid, (6, 6, 1)));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn padding(&self) -> Padding {
        self.padding
    }

    /// `(kh, kw)`.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((2, 3, 1, 1)), Array1::zeros(1), (4, 4, 1), 1, Padding::Valid, Activation::Relu)?;
    /// assert_eq!(layer.kernel_size(), (2, 3));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn kernel_size(&self) -> (usize, usize) {
        self.geometry.kernel
    }

    /// The shape `(h, w, c)` of one input image.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((3, 3, 1, 2)), Array1::zeros(1), (7, 5, 2), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.input_shape(), (7, 5, 2));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn input_shape(&self) -> (usize, usize, usize) {
        self.input_shape
    }

    /// The shape `(H, W, out_channels)` of one output image.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((3, 3, 4, 2)), Array1::zeros(4), (7, 5, 2), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.output_shape(), (14, 10, 4));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn output_shape(&self) -> (usize, usize, usize) {
        self.geometry.image
    }

    /// The number of output channels.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((3, 3, 4, 2)), Array1::zeros(4), (7, 5, 2), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!(layer.filters(), 4);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn filters(&self) -> usize {
        self.bias.len()
    }

    /// `h * w * c`: the columns of an input batch.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((3, 3, 4, 2)), Array1::zeros(4), (7, 5, 2), 2, Padding::Same, Activation::Relu)?;
    /// assert_eq!((layer.inputs(), layer.outputs()), (7 * 5 * 2, 14 * 10 * 4));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn inputs(&self) -> usize {
        self.input_shape.0 * self.input_shape.1 * self.input_shape.2
    }

    /// `H * W * out_channels`: the columns of an output batch.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((2, 2, 1, 1)), Array1::zeros(1), (3, 3, 1), 3, Padding::Valid, Activation::Relu)?;
    /// assert_eq!(layer.outputs(), 9 * 9);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn outputs(&self) -> usize {
        self.geometry.image_len()
    }

    /// The number of trainable values: kernel and bias.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((3, 3, 1, 32)), Array1::zeros(1), (28, 28, 32), 1, Padding::Same, Activation::Sigmoid)?;
    /// assert_eq!(layer.parameter_count(), 289);
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
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{array, Array1, Array4};
    /// // a 3-wide kernel at stride 1, Same: each pixel spreads to its neighbours, overlaps add up
    /// let kernel = Array4::from_shape_vec((1, 3, 1, 1), vec![1.0_f32, 10.0, 100.0]).unwrap();
    /// let layer = ConvTranspose2d::from_parts(kernel, Array1::zeros(1), (1, 3, 1), 1, Padding::Same, Activation::Identity)?;
    /// assert_eq!(layer.forward(array![[1.0_f32, 0.0, 2.0]].view())?, array![[10.0, 100.0 + 2.0, 20.0]]);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_input(x, "ConvTranspose2d::forward")?;
        let x = x.as_standard_layout();
        let mut output = try_zeros_2d((x.nrows(), self.outputs()), "ConvTranspose2d::forward's output")?;
        let mut patches = try_zeros_2d(self.patch_scratch(x.nrows()), "ConvTranspose2d::forward's patch matrix")?;
        on_pool(|| self.forward_into(x.view(), patches.view_mut(), None, output.view_mut()));
        Ok(output)
    }

    /// The forward pass for training: the output, and what [`backward`](Self::backward) needs.
    ///
    /// ```
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{Array1, Array2, Array4};
    /// let layer = ConvTranspose2d::from_parts(Array4::zeros((3, 3, 1, 2)), Array1::zeros(1), (4, 4, 2), 2, Padding::Same, Activation::Sigmoid)?;
    /// let trace = layer.forward_train(Array2::zeros((1, 32)).view())?;
    /// assert_eq!(trace.output().dim(), (1, 64));
    /// assert!(trace.output().iter().all(|&y| y == 0.5));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn forward_train(&self, x: ArrayView2<f32>) -> Result<ConvTrace> {
        self.check_input(x, "ConvTranspose2d::forward_train")?;
        let input = x.as_standard_layout().into_owned();
        let shape = (x.nrows(), self.outputs());
        let what = "ConvTranspose2d::forward_train's buffers";
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
    /// # use autoencoder::{Activation, ConvTranspose2d, Padding};
    /// # use autoencoder::ndarray::{array, Array1, Array4};
    /// // 1x1 kernel 3, one pixel: y = 3x, so dL/dK = x dL/dy, dL/dx = 3 dL/dy
    /// let layer = ConvTranspose2d::from_parts(Array4::from_elem((1, 1, 1, 1), 3.0), Array1::zeros(1), (1, 1, 1), 1, Padding::Same, Activation::Identity)?;
    /// let trace = layer.forward_train(array![[2.0_f32]].view())?;
    /// let grads = layer.backward(&trace, array![[1.0_f32]].view())?;
    /// assert_eq!((grads.kernel[[0, 0, 0, 0]], grads.bias[0], grads.input[[0, 0]]), (2.0, 1.0, 3.0));
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn backward(&self, trace: &ConvTrace, grad_output: ArrayView2<f32>) -> Result<ConvGradients> {
        let context = "ConvTranspose2d::backward";
        check_trace(
            context,
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
            "ConvTranspose2d::backward's patch matrix",
        )?;
        let mut group_sums = Array2::zeros(self.group_sums_shape());
        on_pool(|| {
            let shape = (self.geometry.window(), self.input_shape.2);
            let grad_kernel = grads.kernel.view_mut().into_shape_with_order(shape);
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

    /// The shape of the patch matrix for `rows` inputs.
    pub(crate) fn patches_shape(&self, rows: usize) -> (usize, usize) {
        (rows * self.geometry.positions(), self.geometry.window())
    }

    /// The shape of the patch scratch that [`forward_into`](Self::forward_into) and
    /// [`backward_into`](Self::backward_into) need for batches of up to `capacity` inputs: room for a few MB
    /// of windows ([`patch_room`]), which they go through a few images at a time; for a layer computed
    /// [directly](super::direct), a row per image of room for its frames.
    pub(crate) fn patch_scratch(&self, capacity: usize) -> (usize, usize) {
        match self.direct_sizes() {
            Some(sizes) => (patch_room((1, sizes.scratch_len()), capacity), sizes.scratch_len()),
            None => self.patches_shape(patch_room(self.patches_shape(1), capacity)),
        }
    }

    /// Rows of the patch scratch per image: its windows, or one row for a layer computed directly.
    fn scratch_rows_per_image(&self) -> usize {
        match self.direct_sizes() {
            Some(_) => 1,
            None => self.geometry.positions(),
        }
    }

    /// The sizes for computing this layer [directly](super::direct): at stride 1 to at most
    /// [`MAX_CHANNELS`](direct::MAX_CHANNELS) channels; `None` for the others, lowered onto the matrix product.
    pub(crate) fn direct_sizes(&self) -> Option<direct::Sizes> {
        (self.geometry.stride == 1 && self.filters() <= direct::MAX_CHANNELS).then_some(direct::Sizes {
            input: self.input_shape,
            output: self.geometry.image,
            kernel: self.geometry.kernel,
            pad: self.geometry.pad,
        })
    }

    /// The kernel's values in Keras' layout `(kh, kw, out_channels, in_channels)`.
    pub(crate) fn kernel_values(&self) -> &[f32] {
        self.kernel.as_slice().expect("a standard-layout kernel")
    }

    /// The forward pass into caller-owned buffers (no allocation): `output` gets `act(z)`, and `pre_activation`
    /// `z` when given (it must be, for activations that need it in backward); `patches` (of
    /// [`patch_scratch`](Self::patch_scratch)) is scratch. `x` in standard layout.
    ///
    /// The batch is split by whole images across the crate's threads, each with its own rows of `patches`. A
    /// thread takes its images a few at a time ([`FUSED_PATCH_VALUES`](crate::layers::groups::FUSED_PATCH_VALUES) values of windows): the product writes
    /// their windows, the scatter adds them up while they are still in the core's cache, and the bias and
    /// activation follow on the output just written. Each row of a product does not depend on the rows beside
    /// it, so the bits are those of one product over the whole batch, on any thread count.
    pub(crate) fn forward_into(
        &self,
        x: ArrayView2<f32>,
        patches: ArrayViewMut2<f32>,
        pre_activation: Option<ArrayViewMut2<f32>>,
        output: ArrayViewMut2<f32>,
    ) {
        let (n, (positions, window)) = (x.nrows(), self.patches_shape(1));
        let parts = parts_for_images(n, positions * window);
        let rows = self.scratch_rows_per_image();
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
        let (n, channels, rows) = (x.nrows(), self.filters(), self.scratch_rows_per_image());
        let images_at_once = images_at_once(&patches, rows);
        for start in (0..n).step_by(images_at_once) {
            let end = (start + images_at_once).min(n);
            let (x, mut z) = (x.slice(s![start..end, ..]), output.slice_mut(s![start..end, ..]));
            match self.direct_sizes() {
                Some(sizes) => {
                    let scratch = patches.row_mut(0).into_slice().expect("a standard-layout scratch");
                    for (x, z) in x.rows().into_iter().zip(z.rows_mut()) {
                        let (x, z) = (
                            x.to_slice().expect("standard layout"),
                            z.into_slice().expect("standard layout"),
                        );
                        direct::forward_image(&sizes, self.kernel_values(), x, scratch, z);
                    }
                }
                None => {
                    let mut patches = patches.slice_mut(s![..(end - start) * rows, ..]);
                    let x = pixel_rows(x, self.input_shape.2);
                    product_on_this_thread(x, self.kernel_matrix().t(), patches.view_mut(), false);
                    scatter_add(&self.geometry, patches.view(), z.view_mut());
                }
            }
            let pre = (pre_activation.as_mut()).map(|pre| pixel_rows_mut(pre.slice_mut(s![start..end, ..]), channels));
            sweeps::bias_activation_on_this_thread(pixel_rows_mut(z, channels), pre, self.bias.view(), self.activation);
        }
    }

    /// The backward pass into caller-owned buffers (no allocation), by [groups](super::groups) of images: for a
    /// few images at a time, `dL/dz = dL/dy ⊙ act'(z)` in place in `grad` with its sum into `dL/db`, the windows
    /// `P` of `dL/dz` gathered into `patches`, `dL/dx = P · K` into `grad_input` (when given: the first layer of
    /// a network has nobody to pass it to) and `P · x` added into `dL/dK`.
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
        let (n, (positions, window)) = (x.nrows(), self.patches_shape(1));
        let batch = BackwardViews::new(x, (pre_activation, output), grad, (grad_kernel, grad_bias), grad_input);
        let parts = parts_for_images(n, positions * window);
        let rows = self.scratch_rows_per_image();
        backward_by_groups(batch, group_sums, patches, (rows, parts), &|group, patches, pass| {
            self.backward_group(group, patches, pass)
        });
    }

    /// One group's part of [`backward_into`](Self::backward_into), on the calling thread, `images_at_once` images
    /// at a time through `patches`; its sums are written (not added to).
    fn backward_group(&self, group: &mut BackwardViews<'_>, mut patches: ArrayViewMut2<f32>, images_at_once: usize) {
        let (n, channels, rows) = (group.x.nrows(), self.filters(), self.scratch_rows_per_image());
        group.bias_sum.fill(0.0);
        let direct = self.direct_sizes();
        if n == 0 || direct.is_some() {
            group.kernel_sum.fill(0.0); // a direct layer adds each image's part to it
        }
        if n == 0 {
            return;
        }
        for (pass, start) in (0..n).step_by(images_at_once).enumerate() {
            let images = start..(start + images_at_once).min(n);
            let mut grad = group.grad.slice_mut(s![images.clone(), ..]);
            let pre = group
                .pre_activation
                .map(|pre| pixel_rows(pre.slice_move(s![images.clone(), ..]), channels));
            let output = pixel_rows(group.output.slice(s![images.clone(), ..]), channels);
            sweeps::activation_grad_bias_add_on_this_thread(
                pre,
                output,
                pixel_rows_mut(grad.view_mut(), channels),
                group.bias_sum.view_mut(),
                self.activation,
            );
            if let Some(sizes) = direct {
                let scratch = patches.row_mut(0).into_slice().expect("a standard-layout scratch");
                let kernel_sum = group
                    .kernel_sum
                    .as_slice_mut()
                    .expect("a standard-layout kernel gradient");
                let x = group.x.slice(s![images.clone(), ..]);
                let mut grad_input = group.grad_input.as_mut().map(|g| g.slice_mut(s![images, ..]));
                for (b, (x, grad_z)) in x.rows().into_iter().zip(grad.rows()).enumerate() {
                    let (x, grad_z) = (
                        x.to_slice().expect("standard layout"),
                        grad_z.to_slice().expect("standard layout"),
                    );
                    let grad_input = grad_input
                        .as_mut()
                        .map(|g| g.row_mut(b).into_slice().expect("standard layout"));
                    direct::backward_image(
                        &sizes,
                        (self.kernel_values(), x),
                        grad_z,
                        scratch,
                        (grad_input, kernel_sum),
                    );
                }
                continue;
            }
            let mut windows = patches.slice_mut(s![..images.len() * rows, ..]);
            gather(&self.geometry, grad.view(), windows.view_mut());
            if let Some(grad_input) = group.grad_input.as_mut() {
                let grad_input = pixel_rows_mut(grad_input.slice_mut(s![images.clone(), ..]), self.input_shape.2);
                product_on_this_thread(windows.view(), self.kernel_matrix(), grad_input, false);
            }
            let x = pixel_rows(group.x.slice(s![images, ..]), self.input_shape.2);
            product_on_this_thread(windows.t(), x, group.kernel_sum.view_mut(), pass > 0);
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

    /// The kernel as the `(kh * kw * out_channels, in_channels)` matrix of the products (the same memory).
    fn kernel_matrix(&self) -> ArrayView2<'_, f32> {
        let shape = (self.geometry.window(), self.input_shape.2);
        self.kernel
            .view()
            .into_shape_with_order(shape)
            .expect("a standard-layout kernel reshapes")
    }

    fn check_input(&self, x: ArrayView2<f32>, context: &str) -> Result<()> {
        check_columns(x, self.input_shape, context)
    }
}
