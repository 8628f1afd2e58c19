//! The lowering of a convolution onto a matrix product: the windows of a batch of images as the rows of a patch
//! matrix (`gather`, often called im2col), and the way back, each window added into its place in the image
//! (`scatter_add`, col2im).
//!
//! For a [`Geometry`] with image `(h, w, c)`, kernel `(kh, kw)` and grid `(out_h, out_w)`, the patch matrix of a
//! batch of `B` images has `B * out_h * out_w` rows (image by image, window positions row-major) and
//! `kh * kw * c` columns, in the kernel's order `(di, dj, channel)`:
//! `patches[(b, i, j), (di, dj, ch)] = image[b, i * stride + di - top, j * stride + dj - left, ch]`, zero outside
//! the image. A convolution is then `patches · K` with `K` the kernel as a `(kh * kw * c, filters)` matrix.
//!
//! Images are rows of `h * w * c` values in HWC order; both functions need standard (row-major) layouts.

use ndarray::{ArrayView2, ArrayViewMut2};
use pulp::{Simd, WithSimd};

use super::geometry::Geometry;

/// Where window row `di` of the window at grid position `(i, j)` meets the image: the image row, and the range
/// `lo..hi` of kernel columns that fall on the image (the rest fall on the zeros around it); `None` when the
/// whole window row falls outside.
fn overlap(g: &Geometry, i: usize, j: usize, di: usize) -> Option<(usize, usize, usize, usize)> {
    let (h, w, _) = g.image;
    let y = (i * g.stride + di).checked_sub(g.pad.0).filter(|&y| y < h)?;
    let x0 = j * g.stride; // the window's first column, counting the zeros before the image
    let lo = g.pad.1.saturating_sub(x0);
    let hi = g.kernel.1.min((w + g.pad.1).saturating_sub(x0));
    (lo < hi).then(|| (y, lo, hi, x0 + lo - g.pad.1))
}

/// Writes the windows of `images` (`(B, h * w * c)`) into `patches` (`(B * out_h * out_w, kh * kw * c)`), on
/// the calling thread (the convolutions split their batches by images across the threads themselves).
pub(crate) fn gather(g: &Geometry, images: ArrayView2<f32>, mut patches: ArrayViewMut2<f32>) {
    let images = images.as_slice().expect("gather: images in standard layout");
    let patches = patches.as_slice_mut().expect("gather: patches in standard layout");
    pulp::Arch::new().dispatch(Gather { g, images, patches });
}

/// Adds each row of `patches` (`(B * out_h * out_w, kh * kw * c)`) into its window of `images`
/// (`(B, h * w * c)`), which it first sets to zero: the adjoint of [`gather`]. Values that fall on the zeros
/// around the image are dropped. On the calling thread.
pub(crate) fn scatter_add(g: &Geometry, patches: ArrayView2<f32>, mut images: ArrayViewMut2<f32>) {
    let patches = patches.as_slice().expect("scatter_add: patches in standard layout");
    let images = images.as_slice_mut().expect("scatter_add: images in standard layout");
    pulp::Arch::new().dispatch(ScatterAdd { g, patches, images });
}

/// [`gather`] as a `pulp` operation: compiled for the CPU's widest vectors, so that the short runs of a window
/// (a few pixels of a few channels) are copied with a vector or two, not a call to `memcpy` each.
struct Gather<'a> {
    g: &'a Geometry,
    images: &'a [f32],
    patches: &'a mut [f32],
}

impl WithSimd for Gather<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Gather { g, images, patches } = self;
        let (_, w, c) = g.image;
        let (window, positions, row_len) = (g.window(), g.positions(), g.kernel.1 * c);
        for (b, image) in images.chunks_exact(g.image_len()).enumerate() {
            let rows = &mut patches[b * positions * window..(b + 1) * positions * window];
            for (position, patch) in rows.chunks_exact_mut(window).enumerate() {
                let (i, j) = (position / g.grid.1, position % g.grid.1);
                for (di, part) in patch.chunks_exact_mut(row_len).enumerate() {
                    match overlap(g, i, j, di) {
                        None => zero_run(simd, part),
                        Some((y, lo, hi, x)) => {
                            zero_run(simd, &mut part[..lo * c]);
                            let from = (y * w + x) * c;
                            copy_run(simd, &mut part[lo * c..hi * c], &image[from..from + (hi - lo) * c]);
                            zero_run(simd, &mut part[hi * c..]);
                        }
                    }
                }
            }
        }
    }
}

/// [`scatter_add`] as a `pulp` operation (see [`Gather`]).
struct ScatterAdd<'a> {
    g: &'a Geometry,
    patches: &'a [f32],
    images: &'a mut [f32],
}

impl WithSimd for ScatterAdd<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let ScatterAdd { g, patches, images } = self;
        let (_, w, c) = g.image;
        let (window, positions, row_len) = (g.window(), g.positions(), g.kernel.1 * c);
        for (b, image) in images.chunks_exact_mut(g.image_len()).enumerate() {
            zero_run(simd, image);
            let rows = &patches[b * positions * window..(b + 1) * positions * window];
            for (position, patch) in rows.chunks_exact(window).enumerate() {
                let (i, j) = (position / g.grid.1, position % g.grid.1);
                for (di, part) in patch.chunks_exact(row_len).enumerate() {
                    if let Some((y, lo, hi, x)) = overlap(g, i, j, di) {
                        let to = (y * w + x) * c;
                        add_run(simd, &mut image[to..to + (hi - lo) * c], &part[lo * c..hi * c]);
                    }
                }
            }
        }
    }
}

/// `to = from` (of the same length), whole vectors then one partial one.
#[inline(always)]
fn copy_run<S: Simd>(simd: S, to: &mut [f32], from: &[f32]) {
    let (to_vectors, to_tail) = S::as_mut_simd_f32s(to);
    let (from_vectors, from_tail) = S::as_simd_f32s(from);
    to_vectors.iter_mut().zip(from_vectors).for_each(|(t, &f)| *t = f);
    if !to_tail.is_empty() {
        simd.partial_store_f32s(to_tail, simd.partial_load_f32s(from_tail));
    }
}

/// `to += from` (of the same length), element by element.
#[inline(always)]
fn add_run<S: Simd>(simd: S, to: &mut [f32], from: &[f32]) {
    let (to_vectors, to_tail) = S::as_mut_simd_f32s(to);
    let (from_vectors, from_tail) = S::as_simd_f32s(from);
    to_vectors
        .iter_mut()
        .zip(from_vectors)
        .for_each(|(t, &f)| *t = simd.add_f32s(*t, f));
    if !to_tail.is_empty() {
        let sum = simd.add_f32s(simd.partial_load_f32s(to_tail), simd.partial_load_f32s(from_tail));
        simd.partial_store_f32s(to_tail, sum);
    }
}

/// `to = 0`.
#[inline(always)]
fn zero_run<S: Simd>(simd: S, to: &mut [f32]) {
    let (vectors, tail) = S::as_mut_simd_f32s(to);
    vectors.iter_mut().for_each(|v| *v = simd.splat_f32s(0.0));
    if !tail.is_empty() {
        simd.partial_store_f32s(tail, simd.splat_f32s(0.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Padding;
    use ndarray::Array2;

    /// The patch matrix by its definition, one element at a time.
    fn gathered_by_definition(g: &Geometry, images: &Array2<f32>) -> Array2<f32> {
        let ((h, w, c), (kh, kw), (oh, ow)) = (g.image, g.kernel, g.grid);
        let mut patches = Array2::zeros((images.nrows() * oh * ow, kh * kw * c));
        for b in 0..images.nrows() {
            for (i, j, di, dj, ch) in itertools(oh, ow, kh, kw, c) {
                let y = (i * g.stride + di) as isize - g.pad.0 as isize;
                let x = (j * g.stride + dj) as isize - g.pad.1 as isize;
                if (0..h as isize).contains(&y) && (0..w as isize).contains(&x) {
                    patches[[(b * oh + i) * ow + j, (di * kw + dj) * c + ch]] =
                        images[[b, (y as usize * w + x as usize) * c + ch]];
                }
            }
        }
        patches
    }

    fn itertools(
        oh: usize,
        ow: usize,
        kh: usize,
        kw: usize,
        c: usize,
    ) -> impl Iterator<Item = (usize, usize, usize, usize, usize)> {
        (0..oh).flat_map(move |i| {
            (0..ow).flat_map(move |j| {
                (0..kh).flat_map(move |di| (0..kw).flat_map(move |dj| (0..c).map(move |ch| (i, j, di, dj, ch))))
            })
        })
    }

    #[test]
    fn gather_is_the_definition_and_scatter_add_its_adjoint() {
        for padding in [Padding::Same, Padding::Valid] {
            for (image, kernel, stride) in [
                ((5, 7, 2), (3, 3), 2),
                ((6, 6, 1), (2, 2), 1),
                ((4, 5, 3), (1, 3), 3),
                ((7, 4, 2), (4, 2), 2),
                ((3, 3, 1), (3, 3), 1),
            ] {
                let g = Geometry::new(image, kernel, stride, padding).unwrap();
                let images = Array2::from_shape_fn((2, g.image_len()), |(b, k)| (b * 31 + k * 7) as f32 % 11.0 - 5.0);
                let mut patches = Array2::from_elem((2 * g.positions(), g.window()), f32::NAN);
                gather(&g, images.view(), patches.view_mut());
                assert_eq!(
                    patches,
                    gathered_by_definition(&g, &images),
                    "{image:?} {kernel:?} {stride} {padding}"
                );

                // <gather(x), p> == <x, scatter_add(p)> for any x and p
                let p = Array2::from_shape_fn(patches.dim(), |(r, k)| (r * 13 + k * 5) as f32 % 7.0 - 3.0);
                let mut back = Array2::from_elem(images.dim(), f32::NAN);
                scatter_add(&g, p.view(), back.view_mut());
                assert_eq!((&patches * &p).sum(), (&images * &back).sum(), "{image:?} {kernel:?}");
            }
        }
    }
}
