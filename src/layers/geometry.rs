//! How a convolution's window walks over an image: [`Padding`], the sizes it gives (Keras' rules), and the
//! checks of a kernel's shape.
//!
//! Per axis, with input size `n`, kernel size `k` and stride `s`:
//!
//! | padding | output size | zeros before | zeros after |
//! |---|---|---|---|
//! | `Same` | `ceil(n / s)` | `pad_total / 2` (rounded down) | the rest of `pad_total` |
//! | `Valid` | `(n - k) / s + 1` (rounded down; an error when `n < k`) | 0 | 0 |
//!
//! where `pad_total = max((out - 1) * s + k - n, 0)`: TensorFlow's rule, which pads one more zero after than
//! before when the total is odd (PyTorch pads both sides alike).

use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::error::{Error, Result};

/// Where a convolution's window may stand: only over the image (`Valid`), or also partly over the zeros around
/// it so that a stride of 1 keeps the size (`Same`). Keras' (TensorFlow's) rules: per axis, `Same`
/// gives `ceil(n / s)` outputs and `Valid` `(n - k) / s + 1`, for input size `n`, kernel size `k` and stride `s`.
///
/// ```
/// use autoencoder::Padding;
/// assert_eq!(Padding::Same.to_string(), "same");
/// assert_eq!("valid".parse::<Padding>()?, Padding::Valid);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Padding {
    /// Output size `ceil(n / stride)`, with zeros around the input as needed (more after than before when odd).
    #[default]
    Same,
    /// No zeros: output size `(n - k) / stride + 1`, and an error when the input is smaller than the kernel.
    Valid,
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Padding::Same => "same",
            Padding::Valid => "valid",
        })
    }
}

impl FromStr for Padding {
    type Err = Error;

    /// `"same"` or `"valid"`, as [`Display`](fmt::Display) writes them (Keras' names).
    fn from_str(s: &str) -> Result<Padding> {
        match s {
            "same" => Ok(Padding::Same),
            "valid" => Ok(Padding::Valid),
            other => Err(Error::InvalidArgument(format!(
                "unknown padding {other:?} (expected \"same\" or \"valid\")"
            ))),
        }
    }
}

/// One axis of a convolution: `(output size, zeros before)` for input size `n`, kernel size `k`, stride `s`;
/// `what` names the axis in errors.
fn axis(n: usize, k: usize, s: usize, padding: Padding, what: &str) -> Result<(usize, usize)> {
    match padding {
        Padding::Same => {
            let out = n.div_ceil(s);
            let reach = ((out - 1) * s).saturating_add(k); // (out - 1) * s <= n - 1: no overflow there
            Ok((out, reach.saturating_sub(n) / 2))
        }
        Padding::Valid if n < k => Err(Error::InvalidArgument(format!(
            "a Valid convolution needs an input at least as large as its kernel: {what} is {n}, the kernel {k}"
        ))),
        Padding::Valid => Ok(((n - k) / s + 1, 0)),
    }
}

/// The shapes of one convolution: its image `(h, w, c)`, its kernel `(kh, kw)` and stride, and the grid of
/// window positions `(out_h, out_w)` with the zeros `(top, left)` before the image.
///
/// A `Conv2d` reads its input as the image and writes one row of `out_channels` per window position; a
/// `ConvTranspose2d` is the same convolution run backwards (its output is the image, its input the grid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// `(h, w, c)` of the image.
    pub(crate) image: (usize, usize, usize),
    /// `(kh, kw)`.
    pub(crate) kernel: (usize, usize),
    pub(crate) stride: usize,
    /// `(out_h, out_w)`: the window positions.
    pub(crate) grid: (usize, usize),
    /// `(top, left)`: the zeros before the image on each axis.
    pub(crate) pad: (usize, usize),
}

impl Geometry {
    /// The convolution of `image` by a `kernel` at `stride` with `padding`; errors for zero sizes, a zero stride,
    /// a Valid kernel larger than the image, and sizes that overflow.
    pub(crate) fn new(
        image: (usize, usize, usize),
        kernel: (usize, usize),
        stride: usize,
        padding: Padding,
    ) -> Result<Geometry> {
        let (h, w, c) = image;
        check_shape_and_stride("an image shape", image, stride)?;
        if kernel.0 == 0 || kernel.1 == 0 {
            return Err(Error::InvalidArgument(format!(
                "a kernel size (kh, kw) needs sizes of at least 1, not {kernel:?}"
            )));
        }
        let (out_h, top) = axis(h, kernel.0, stride, padding, "the input's height")?;
        let (out_w, left) = axis(w, kernel.1, stride, padding, "the input's width")?;
        let geometry = Geometry {
            image,
            kernel,
            stride,
            grid: (out_h, out_w),
            pad: (top, left),
        };
        // every size the layers compute with must be addressable
        let sizes = [
            h.checked_mul(w).and_then(|p| p.checked_mul(c)),
            kernel.0.checked_mul(kernel.1).and_then(|p| p.checked_mul(c)),
            out_h.checked_mul(out_w),
            h.checked_add(kernel.0).and_then(|p| p.checked_add(stride)),
            w.checked_add(kernel.1).and_then(|p| p.checked_add(stride)),
        ];
        if sizes.iter().any(|s| s.is_none_or(|s| s > isize::MAX as usize / 4)) {
            return Err(Error::InvalidArgument(format!(
                "a convolution of an image {image:?} by a kernel {kernel:?} is too large to address"
            )));
        }
        Ok(geometry)
    }

    /// The geometry of the convolution whose grid is `grid` — the one a `ConvTranspose2d` runs backwards: its
    /// image is `grid` scaled up by the stride (`n * s` for Same, `n * s + max(k - s, 0)` for Valid, Keras'
    /// rule) with `channels` channels.
    pub(crate) fn transposed(
        grid: (usize, usize, usize),
        channels: usize,
        kernel: (usize, usize),
        stride: usize,
        padding: Padding,
    ) -> Result<Geometry> {
        let (h, w, _) = grid;
        // before the output's size is worked out from them: a zero here is the user's, not the output's
        check_shape_and_stride("an input shape", grid, stride)?;
        let scaled = |n: usize, k: usize| {
            let grown = match padding {
                Padding::Same => 0,
                Padding::Valid => k.saturating_sub(stride),
            };
            n.checked_mul(stride).and_then(|n| n.checked_add(grown))
        };
        let too_large = || {
            Error::InvalidArgument(format!(
                "a transposed convolution of an input {grid:?} at stride {stride} (kernel {kernel:?}) gives an \
                 output too large to address"
            ))
        };
        let (Some(image_h), Some(image_w)) = (scaled(h, kernel.0), scaled(w, kernel.1)) else {
            return Err(too_large());
        };
        let geometry = Geometry::new((image_h, image_w, channels), kernel, stride, padding).map_err(|e| match e {
            Error::InvalidArgument(m) if m.contains("too large to address") => too_large(),
            other => other,
        })?;
        debug_assert_eq!(geometry.grid, (h, w), "Keras' output rule inverts the convolution's");
        Ok(geometry)
    }

    /// `kh * kw * c`: the length of one window, a row of the patch matrix.
    pub(crate) fn window(&self) -> usize {
        self.kernel.0 * self.kernel.1 * self.image.2
    }

    /// `out_h * out_w`: the window positions of one image.
    pub(crate) fn positions(&self) -> usize {
        self.grid.0 * self.grid.1
    }

    /// `h * w * c`: the values of one image.
    pub(crate) fn image_len(&self) -> usize {
        self.image.0 * self.image.1 * self.image.2
    }
}

/// Checks that every size of `shape` (named `what` in the error) and the stride are at least 1.
fn check_shape_and_stride(what: &str, shape: (usize, usize, usize), stride: usize) -> Result<()> {
    if shape.0 == 0 || shape.1 == 0 || shape.2 == 0 {
        return Err(Error::InvalidArgument(format!(
            "{what} (h, w, c) needs sizes of at least 1, not {shape:?}"
        )));
    }
    if stride == 0 {
        return Err(Error::InvalidArgument(
            "a convolution's stride must be at least 1, not 0".into(),
        ));
    }
    Ok(())
}

/// A batch of images `(B, positions * channels)`, in standard layout, seen as one row per pixel
/// `(B * positions, channels)` (the same memory): the rows of a convolution's product.
pub(crate) fn pixel_rows(images: ArrayView2<'_, f32>, channels: usize) -> ArrayView2<'_, f32> {
    let pixels = images.len() / channels;
    images
        .into_shape_with_order((pixels, channels))
        .expect("images in standard layout")
}

/// [`pixel_rows`] of a mutable view.
pub(crate) fn pixel_rows_mut(images: ArrayViewMut2<'_, f32>, channels: usize) -> ArrayViewMut2<'_, f32> {
    let pixels = images.len() / channels;
    images
        .into_shape_with_order((pixels, channels))
        .expect("images in standard layout")
}

/// Checks that a batch `x` has one column per value of an image of `shape` `(h, w, c)`; `context` names the call.
pub(crate) fn check_columns(x: ArrayView2<f32>, shape: (usize, usize, usize), context: &str) -> Result<()> {
    let (h, w, c) = shape;
    let columns = h * w * c;
    if x.ncols() == columns {
        return Ok(());
    }
    Err(Error::shape(
        context,
        format!("{columns} columns ({h} x {w} x {c} images)"),
        format!("{} columns", x.ncols()),
    ))
}

/// Checks a kernel of `(kh, kw, a, b)` against its bias and the channels of its input: `channels` is
/// `(the kernel's, the input's)` and `bias_for` the kernel's axis that the bias follows. `what` names the layer.
pub(crate) fn check_kernel(
    what: &str,
    kernel: (usize, usize, usize, usize),
    bias: usize,
    channels: (usize, usize),
    bias_for: usize,
) -> Result<()> {
    let (kh, kw, a, b) = kernel;
    if [kh, kw, a, b].contains(&0) {
        return Err(Error::InvalidArgument(format!(
            "{what}: a kernel needs sizes of at least 1, not {kernel:?}"
        )));
    }
    if channels.0 != channels.1 {
        return Err(Error::shape(
            format!("{what}: the kernel's input channels (kernel {kernel:?})"),
            format!("{} (the input's channels)", channels.1),
            channels.0,
        ));
    }
    if bias != bias_for {
        return Err(Error::shape(
            format!("{what}: the bias (one per output channel of kernel {kernel:?})"),
            bias_for,
            bias,
        ));
    }
    Ok(())
}

/// `filters` when `count * filters` values can be addressed, else an error.
pub(crate) fn checked_filters(filters: usize, count: usize) -> Result<usize> {
    if filters == 0 {
        return Err(Error::InvalidArgument("a convolution needs at least one filter".into()));
    }
    match count.checked_mul(filters) {
        Some(values) if values <= isize::MAX as usize / 4 => Ok(filters),
        _ => Err(Error::InvalidArgument(format!(
            "a convolution of {filters} filters over {count} values is too large to address"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_and_valid_follow_keras() {
        // (n, k, s) -> Same: (out, before); Valid: out
        let cases = [
            ((28, 3, 2), (14, 0), Some(13)),
            ((28, 3, 1), (28, 1), Some(26)),
            ((7, 3, 2), (4, 1), Some(3)),
            ((5, 4, 1), (5, 1), Some(2)), // pad_total 3: 1 before, 2 after
            ((5, 2, 3), (2, 0), Some(2)),
            ((4, 5, 1), (4, 2), None),
            ((1, 1, 5), (1, 0), Some(1)),
        ];
        for ((n, k, s), same, valid) in cases {
            assert_eq!(axis(n, k, s, Padding::Same, "n").unwrap(), same, "Same {n} {k} {s}");
            match valid {
                Some(out) => assert_eq!(axis(n, k, s, Padding::Valid, "n").unwrap(), (out, 0)),
                None => assert!(axis(n, k, s, Padding::Valid, "n").is_err()),
            }
        }
    }

    #[test]
    fn a_transposed_geometry_inverts_the_convolution() {
        for padding in [Padding::Same, Padding::Valid] {
            for (n, k, s) in [(7, 3, 2), (14, 3, 2), (5, 2, 3), (4, 1, 2), (3, 4, 1), (6, 5, 2)] {
                let g = Geometry::transposed((n, n + 1, 2), 3, (k, k), s, padding).unwrap();
                assert_eq!(g.grid, (n, n + 1));
                let expected = |n: usize| match padding {
                    Padding::Same => n * s,
                    Padding::Valid => n * s + k.saturating_sub(s),
                };
                assert_eq!(g.image, (expected(n), expected(n + 1), 3));
            }
        }
        // the issue's example: k = 3, s = 2, Same: no zeros before
        assert_eq!(
            Geometry::transposed((14, 14, 8), 1, (3, 3), 2, Padding::Same)
                .unwrap()
                .pad,
            (0, 0)
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(Geometry::new((0, 4, 1), (3, 3), 1, Padding::Same).is_err());
        assert!(Geometry::new((4, 4, 1), (0, 3), 1, Padding::Same).is_err());
        assert!(Geometry::new((4, 4, 1), (3, 3), 0, Padding::Same).is_err());
        assert!(Geometry::new((2, 4, 1), (3, 3), 1, Padding::Valid).is_err());
        assert!(Geometry::new((usize::MAX, 4, 1), (3, 3), 1, Padding::Same).is_err());
        assert!(Geometry::transposed((usize::MAX / 2, 4, 1), 1, (3, 3), 4, Padding::Same).is_err());
        assert!("full".parse::<Padding>().is_err());
    }
}
