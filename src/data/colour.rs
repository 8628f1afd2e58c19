//! Colour conversions of rows of pixels: RGB to grey and back ([`rgb_to_grey`], [`grey_to_rgb`]), and RGB to
//! YCbCr and back ([`rgb_to_ycbcr`], [`ycbcr_to_rgb`]).
//!
//! Each row is one picture (or patch) in HWC order, so a colour row holds `p` pixels as `p` triples
//! `(R, G, B, R, G, B, …)` and a grey row `p` values; values are in `[0, 1]`.
//!
//! ```
//! use autoencoder::data::colour::{grey_to_rgb, rgb_to_grey, rgb_to_ycbcr, ycbcr_to_rgb};
//! use autoencoder::ndarray::array;
//!
//! # fn main() -> autoencoder::Result<()> {
//! let rgb = array![[1.0_f32, 0.0, 0.0, 0.5, 0.5, 0.5]]; // one picture: a red pixel and a grey one
//! let grey = rgb_to_grey(rgb.view())?;
//! assert!((grey[[0, 0]] - 0.299).abs() < 1e-6 && (grey[[0, 1]] - 0.5).abs() < 1e-6);
//! assert_eq!(grey_to_rgb(grey.view())?.dim(), (1, 6));
//!
//! let back = ycbcr_to_rgb(rgb_to_ycbcr(rgb.view())?.view())?;
//! assert!(back.iter().zip(&rgb).all(|(a, b)| (a - b).abs() < 1e-5));
//! # Ok(())
//! # }
//! ```

use ndarray::{Array2, ArrayView2};

use crate::alloc::try_zeros_2d;
use crate::error::{Error, Result};

/// The weights of R, G and B in a grey value (ITU-R BT.601 luma, as the book's `rgb2gray` and JPEG use):
/// `grey = 0.299 R + 0.587 G + 0.114 B`.
///
/// ```
/// use autoencoder::data::colour::GREY_WEIGHTS;
/// assert!((GREY_WEIGHTS.iter().sum::<f32>() - 1.0).abs() < 1e-6); // white stays white
/// ```
pub const GREY_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];

/// Converts rows of RGB pixels `(n, p * 3)` to grey `(n, p)` with [`GREY_WEIGHTS`].
///
/// # Errors
/// [`Error::Shape`] when the number of columns is not a multiple of 3; [`Error::InvalidArgument`] when the
/// output would not fit in memory.
///
/// ```
/// use autoencoder::data::colour::rgb_to_grey;
/// use autoencoder::ndarray::array;
/// let grey = rgb_to_grey(array![[0.0_f32, 1.0, 0.0], [1.0, 1.0, 1.0]].view())?;
/// assert!((grey[[0, 0]] - 0.587).abs() < 1e-6 && (grey[[1, 0]] - 1.0).abs() < 1e-6);
/// assert!(rgb_to_grey(array![[0.0_f32, 1.0]].view()).is_err());
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn rgb_to_grey(rgb: ArrayView2<f32>) -> Result<Array2<f32>> {
    check_triples("rgb_to_grey", rgb)?;
    let [r, g, b] = GREY_WEIGHTS;
    let mut grey = try_zeros_2d((rgb.nrows(), rgb.ncols() / 3), "rgb_to_grey's output")?;
    for (mut out, row) in grey.rows_mut().into_iter().zip(rgb.rows()) {
        for (p, value) in out.iter_mut().enumerate() {
            *value = r * row[3 * p] + g * row[3 * p + 1] + b * row[3 * p + 2];
        }
    }
    Ok(grey)
}

/// Converts rows of grey pixels `(n, p)` to RGB `(n, p * 3)`, each grey value copied to R, G and B.
///
/// ```
/// use autoencoder::data::colour::grey_to_rgb;
/// use autoencoder::ndarray::array;
/// assert_eq!(grey_to_rgb(array![[0.25_f32, 1.0]].view())?, array![[0.25, 0.25, 0.25, 1.0, 1.0, 1.0]]);
/// # Ok::<(), autoencoder::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] when the output would not fit in memory.
pub fn grey_to_rgb(grey: ArrayView2<f32>) -> Result<Array2<f32>> {
    let columns = grey.ncols().saturating_mul(3); // an overflow asks for too much memory: an error below
    let mut rgb = try_zeros_2d((grey.nrows(), columns), "grey_to_rgb's output")?;
    for (mut out, row) in rgb.rows_mut().into_iter().zip(grey.rows()) {
        for (j, value) in out.iter_mut().enumerate() {
            *value = row[j / 3];
        }
    }
    Ok(rgb)
}

/// Converts rows of RGB pixels `(n, p * 3)` to YCbCr triples `(Y, Cb, Cr)`, JPEG's full-range ITU-R BT.601 on
/// `[0, 1]`:
///
/// - `Y  = 0.299 R + 0.587 G + 0.114 B` (the grey value, [`GREY_WEIGHTS`]),
/// - `Cb = 0.5 − 0.168736 R − 0.331264 G + 0.5 B`,
/// - `Cr = 0.5 + 0.5 R − 0.418688 G − 0.081312 B`.
///
/// RGB in `[0, 1]` gives Y, Cb and Cr in `[0, 1]`; grey pixels have Cb = Cr = 0.5.
///
/// # Errors
/// [`Error::Shape`] when the number of columns is not a multiple of 3; [`Error::InvalidArgument`] when the
/// output would not fit in memory.
///
/// ```
/// use autoencoder::data::colour::rgb_to_ycbcr;
/// use autoencoder::ndarray::array;
/// let ycbcr = rgb_to_ycbcr(array![[0.0_f32, 0.0, 1.0]].view())?; // blue
/// let expected = [0.114, 1.0, 0.5 - 0.081312];
/// assert!(ycbcr.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6));
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn rgb_to_ycbcr(rgb: ArrayView2<f32>) -> Result<Array2<f32>> {
    check_triples("rgb_to_ycbcr", rgb)?;
    map_triples(rgb, |[r, g, b]| {
        [
            GREY_WEIGHTS[0] * r + GREY_WEIGHTS[1] * g + GREY_WEIGHTS[2] * b,
            0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b,
            0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b,
        ]
    })
}

/// Converts rows of YCbCr triples `(n, p * 3)` back to RGB, the inverse of [`rgb_to_ycbcr`], clamped to
/// `[0, 1]`:
///
/// - `R = Y + 1.402 (Cr − 0.5)`,
/// - `G = Y − 0.344136 (Cb − 0.5) − 0.714136 (Cr − 0.5)`,
/// - `B = Y + 1.772 (Cb − 0.5)`.
///
/// # Errors
/// [`Error::Shape`] when the number of columns is not a multiple of 3; [`Error::InvalidArgument`] when the
/// output would not fit in memory.
///
/// ```
/// use autoencoder::data::colour::ycbcr_to_rgb;
/// use autoencoder::ndarray::array;
/// let rgb = ycbcr_to_rgb(array![[0.5_f32, 0.5, 0.5, 1.0, 0.0, 1.0]].view())?;
/// assert_eq!(rgb.row(0).to_vec()[..3], [0.5, 0.5, 0.5]); // Cb = Cr = 0.5 is grey
/// assert_eq!(rgb[[0, 3]], 1.0); // clamped
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn ycbcr_to_rgb(ycbcr: ArrayView2<f32>) -> Result<Array2<f32>> {
    check_triples("ycbcr_to_rgb", ycbcr)?;
    map_triples(ycbcr, |[y, cb, cr]| {
        let (cb, cr) = (cb - 0.5, cr - 0.5);
        [y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb].map(|v| v.clamp(0.0, 1.0))
    })
}

fn check_triples(context: &str, rows: ArrayView2<f32>) -> Result<()> {
    if !rows.ncols().is_multiple_of(3) {
        return Err(Error::shape(
            context,
            "a multiple of 3 columns (one triple per pixel)",
            format!("{} columns", rows.ncols()),
        ));
    }
    Ok(())
}

/// Applies `convert` to every pixel's triple of `rows` (whose column count is a multiple of 3).
fn map_triples(rows: ArrayView2<f32>, convert: impl Fn([f32; 3]) -> [f32; 3]) -> Result<Array2<f32>> {
    let mut out = try_zeros_2d(rows.dim(), "the converted pixels")?;
    let pixels = rows.ncols() / 3;
    for (mut out_row, row) in out.rows_mut().into_iter().zip(rows.rows()) {
        for p in 0..pixels {
            let converted = convert([row[3 * p], row[3 * p + 1], row[3 * p + 2]]);
            for (k, value) in converted.into_iter().enumerate() {
                out_row[3 * p + k] = value;
            }
        }
    }
    Ok(out)
}
