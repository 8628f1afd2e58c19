//! Square patches of a picture: where they lie ([`patch_origins`], [`covering_patch_origins`]), cutting them
//! out as rows ([`cut_patches`], [`patches`]) and putting them back together ([`stitch_patches`]).
//!
//! A picture is an `(h, w, c)` array; a patch of side `size` is one row of `size * size * c` values in HWC
//! order, as every image in this crate. An origin is the `(y, x)` of a patch's top-left pixel.
//!
//! ```
//! use autoencoder::data::patches::{covering_patch_origins, cut_patches, stitch_patches};
//! use autoencoder::ndarray::Array3;
//!
//! # fn main() -> autoencoder::Result<()> {
//! let image = Array3::from_shape_fn((5, 7, 3), |(y, x, k)| (y * 21 + x * 3 + k) as f32 / 105.0);
//! let origins = covering_patch_origins(5, 7, 4, 2)?; // every pixel in at least one patch
//! let rows = cut_patches(image.view(), 4, &origins)?;
//! assert_eq!(rows.dim(), (origins.len(), 4 * 4 * 3));
//! // ... a model would process the rows here ...
//! let back = stitch_patches(rows.view(), &origins, 4, (5, 7, 3))?;
//! assert!(back.iter().zip(&image).all(|(a, b)| (a - b).abs() < 1e-6));
//! # Ok(())
//! # }
//! ```

use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3};

use crate::alloc::try_zeros_2d;
use crate::error::{Error, Result};

/// The top-left corners `(y, x)` of the `size × size` patches of a `height × width` picture, `stride` pixels
/// apart: `y = 0, stride, 2·stride, …` while `y + size ≤ height`, and the same for `x`; row by row (`y` outer).
///
/// When `stride` does not divide `height - size` (or `width - size`) the last pixels of the picture are in no
/// patch: [`covering_patch_origins`] adds patches for them.
///
/// # Errors
/// [`Error::InvalidArgument`] when `size` or `stride` is 0, `size` is larger than the picture, or the patches
/// would be more than [`MAX_PATCHES`].
///
/// ```
/// use autoencoder::data::patches::patch_origins;
/// assert_eq!(patch_origins(3, 4, 2, 1)?, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
/// // A photo 600 wide and 400 tall: 36 × 24 patches of 32 pixels, 16 apart.
/// assert_eq!(patch_origins(400, 600, 32, 16)?.len(), 864);
/// assert!(patch_origins(400, 600, 500, 16).is_err());
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn patch_origins(height: usize, width: usize, size: usize, stride: usize) -> Result<Vec<(usize, usize)>> {
    check_grid(height, width, size, stride)?;
    let ys = (0..=height - size).step_by(stride);
    let xs: Vec<usize> = (0..=width - size).step_by(stride).collect();
    Ok(ys.flat_map(|y| xs.iter().map(move |&x| (y, x))).collect())
}

/// The origins of [`patch_origins`], plus, where the last row or column of patches stops short of the picture's
/// edge, one more row or column aligned with the edge. Row by row. With `stride ≤ size` every pixel is then in at
/// least one patch, as [`stitch_patches`] needs (a larger stride leaves gaps between the patches).
///
/// # Errors
/// As [`patch_origins`].
///
/// ```
/// use autoencoder::data::patches::covering_patch_origins;
/// // 5 tall: rows at y = 0, 2 and then 3 to reach the bottom; 4 wide: columns at x = 0, 2.
/// assert_eq!(
///     covering_patch_origins(5, 4, 2, 2)?,
///     [(0, 0), (0, 2), (2, 0), (2, 2), (3, 0), (3, 2)]
/// );
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn covering_patch_origins(height: usize, width: usize, size: usize, stride: usize) -> Result<Vec<(usize, usize)>> {
    check_grid(height, width, size, stride)?;
    let ys = covering_starts(height, size, stride);
    let xs = covering_starts(width, size, stride);
    Ok(ys.iter().flat_map(|&y| xs.iter().map(move |&x| (y, x))).collect())
}

/// `0, stride, …` while a patch fits, then `length - size` if the last one stops short of the end.
fn covering_starts(length: usize, size: usize, stride: usize) -> Vec<usize> {
    let mut starts: Vec<usize> = (0..=length - size).step_by(stride).collect();
    if starts.last().is_some_and(|&last| last + size < length) {
        starts.push(length - size);
    }
    starts
}

/// The most patches one grid of origins may hold: 2²⁴ (16,777,216), far more than a picture of
/// [`MAX_PNG_VALUES`](crate::data::png::MAX_PNG_VALUES) gives at any sensible stride, so that a size or stride
/// typed wrong is an error rather than gigabytes of origins.
///
/// ```
/// use autoencoder::data::patches::{patch_origins, MAX_PATCHES};
/// assert!(patch_origins(100_000, 100_000, 1, 1).is_err()); // 10¹⁰ patches
/// assert_eq!(MAX_PATCHES, 1 << 24);
/// ```
pub const MAX_PATCHES: usize = 1 << 24;

fn check_grid(height: usize, width: usize, size: usize, stride: usize) -> Result<()> {
    if size == 0 || stride == 0 {
        return Err(Error::InvalidArgument(format!(
            "patches need a size and a stride of at least 1, got size {size} and stride {stride}"
        )));
    }
    if size > height || size > width {
        return Err(Error::InvalidArgument(format!(
            "patches of {size}×{size} pixels do not fit in a picture of {height}×{width} (h×w)"
        )));
    }
    // the covering grid has at most one more row and column than the plain one
    let along = |length: usize| ((length - size) / stride).saturating_add(2);
    if along(height)
        .checked_mul(along(width))
        .is_none_or(|count| count > MAX_PATCHES)
    {
        return Err(Error::InvalidArgument(format!(
            "patches of {size}×{size} pixels {stride} apart in a picture of {height}×{width} (h×w) would be more \
             than {MAX_PATCHES} (autoencoder::data::patches::MAX_PATCHES): use a larger stride"
        )));
    }
    Ok(())
}

/// Cuts the `size × size` patch at each origin `(y, x)` out of `image` (`(h, w, c)`): one row of
/// `size * size * c` values (HWC) per origin, in the order of `origins`.
///
/// # Errors
/// [`Error::InvalidArgument`] when `size` is 0, a patch reaches outside the picture, or the patches need more
/// memory than there is.
///
/// ```
/// use autoencoder::data::patches::cut_patches;
/// use autoencoder::ndarray::{array, Array3};
/// let image = Array3::from_shape_fn((3, 3, 1), |(y, x, _)| (y * 3 + x) as f32);
/// let rows = cut_patches(image.view(), 2, &[(0, 0), (1, 1)])?;
/// assert_eq!(rows, array![[0.0, 1.0, 3.0, 4.0], [4.0, 5.0, 7.0, 8.0]]);
/// assert!(cut_patches(image.view(), 2, &[(2, 0)]).is_err());
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn cut_patches(image: ArrayView3<f32>, size: usize, origins: &[(usize, usize)]) -> Result<Array2<f32>> {
    let (height, width, channels) = image.dim();
    if size == 0 {
        return Err(Error::InvalidArgument(
            "patches need a size of at least 1, got 0".into(),
        ));
    }
    check_origins(origins, size, (height, width))?;
    let patch_len = size * size * channels;
    let mut rows = try_zeros_2d((origins.len(), patch_len), "the patches")?;
    for (mut row, &(y, x)) in rows.rows_mut().into_iter().zip(origins) {
        let patch = image.slice(s![y..y + size, x..x + size, ..]);
        row.iter_mut().zip(patch.iter()).for_each(|(out, &value)| *out = value);
    }
    Ok(rows)
}

/// Checks that every `size × size` patch at `origins` lies inside a `height × width` picture.
fn check_origins(origins: &[(usize, usize)], size: usize, (height, width): (usize, usize)) -> Result<()> {
    let outside = |&&(y, x): &&(usize, usize)| {
        y.checked_add(size).is_none_or(|end| end > height) || x.checked_add(size).is_none_or(|end| end > width)
    };
    if let Some(&(y, x)) = origins.iter().find(outside) {
        return Err(Error::InvalidArgument(format!(
            "the {size}×{size} patch at (y {y}, x {x}) reaches outside the picture of {height}×{width} (h×w)"
        )));
    }
    Ok(())
}

/// The patches at [`patch_origins`]`(h, w, size, stride)` of `image` (`(h, w, c)`), one row of `size * size * c`
/// values (HWC) each.
///
/// # Errors
/// As [`patch_origins`].
///
/// ```
/// use autoencoder::data::patches::patches;
/// use autoencoder::ndarray::Array3;
/// let photo = Array3::<f32>::zeros((400, 600, 3));
/// assert_eq!(patches(photo.view(), 32, 16)?.dim(), (864, 32 * 32 * 3));
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn patches(image: ArrayView3<f32>, size: usize, stride: usize) -> Result<Array2<f32>> {
    let (height, width, _) = image.dim();
    cut_patches(image, size, &patch_origins(height, width, size, stride)?)
}

/// Puts patches (rows of `size * size * c` values, HWC, as [`cut_patches`] makes them) back at their `origins`
/// into a picture of `shape` `(h, w, c)`; where patches overlap, each pixel is the mean of theirs.
///
/// # Errors
/// [`Error::Shape`] when the number of patches differs from the number of origins or a row does not have
/// `size * size * c` values; [`Error::InvalidArgument`] when `size` is 0, a patch reaches outside the picture or
/// a pixel is in no patch (use [`covering_patch_origins`]).
///
/// ```
/// use autoencoder::data::patches::stitch_patches;
/// use autoencoder::ndarray::array;
/// // Two 2×2 grey patches overlapping in the middle column of a 2×3 picture.
/// let rows = array![[0.0_f32, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]];
/// let image = stitch_patches(rows.view(), &[(0, 0), (0, 1)], 2, (2, 3, 1))?;
/// assert_eq!(image[[0, 0, 0]], 0.0);
/// assert_eq!((image[[0, 1, 0]], image[[1, 1, 0]]), (0.5, 0.5)); // x = 1: the mean of 0 and 1
/// assert_eq!(image[[0, 2, 0]], 1.0);
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn stitch_patches(
    patches: ArrayView2<f32>,
    origins: &[(usize, usize)],
    size: usize,
    shape: (usize, usize, usize),
) -> Result<Array3<f32>> {
    let (height, width, channels) = shape;
    if size == 0 || channels == 0 {
        return Err(Error::InvalidArgument(format!(
            "stitch_patches needs a patch size and channels of at least 1, got size {size} and {channels} channels"
        )));
    }
    if patches.nrows() != origins.len() {
        return Err(Error::shape(
            "stitch_patches",
            format!("{} patches (one per origin)", origins.len()),
            format!("{} patches", patches.nrows()),
        ));
    }
    let patch_len = size.checked_mul(size).and_then(|area| area.checked_mul(channels));
    if patch_len != Some(patches.ncols()) {
        return Err(Error::shape(
            "stitch_patches",
            format!("{size}×{size}×{channels} values per patch"),
            format!("{} values", patches.ncols()),
        ));
    }
    check_origins(origins, size, (height, width))?;
    // Patches that together hold fewer pixels than the picture cannot cover it; checked before allocating it.
    let covered = origins.len().saturating_mul(size.saturating_mul(size));
    if height.checked_mul(width).is_none_or(|pixels| pixels > covered) {
        return Err(Error::InvalidArgument(format!(
            "{} patches of {size}×{size} pixels cannot cover a picture of {height}×{width} (h×w)",
            origins.len()
        )));
    }

    let mut sums = Array3::<f32>::zeros(shape);
    let mut counts = Array2::<u32>::zeros((height, width));
    for (row, &(y, x)) in patches.rows().into_iter().zip(origins) {
        let patch = row
            .to_shape((size, size, channels))
            .expect("a row of size * size * channels values");
        let mut region = sums.slice_mut(s![y..y + size, x..x + size, ..]);
        region += &patch.view();
        counts.slice_mut(s![y..y + size, x..x + size]).mapv_inplace(|n| n + 1);
    }
    if let Some(((y, x), _)) = counts.indexed_iter().find(|(_, &n)| n == 0) {
        return Err(Error::InvalidArgument(format!(
            "the pixel at (y {y}, x {x}) is in no patch, so the picture cannot be stitched (covering_patch_origins \
             gives origins that cover every pixel)"
        )));
    }
    for ((y, x, _), value) in sums.indexed_iter_mut() {
        *value /= counts[[y, x]] as f32;
    }
    Ok(sums)
}
