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

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use super::geometry::Geometry;
use crate::matmul::{join, parts_for};

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

/// Writes the windows of `images` (`(B, h * w * c)`) into `patches` (`(B * out_h * out_w, kh * kw * c)`): on
/// the crate's threads, each taking whole images, when there is enough to copy.
pub(crate) fn gather(g: &Geometry, images: ArrayView2<f32>, patches: ArrayViewMut2<f32>) {
    let parts = parts_for(patches.len()).min(images.nrows()).max(1);
    by_images(g, images, patches, parts, &gather_serial);
}

/// Adds each row of `patches` (`(B * out_h * out_w, kh * kw * c)`) into its window of `images`
/// (`(B, h * w * c)`), which it first sets to zero: the adjoint of [`gather`]. Values that fall on the zeros
/// around the image are dropped. On the crate's threads, each taking whole images (whose sums are then the same as
/// on one thread), when there is enough to add.
pub(crate) fn scatter_add(g: &Geometry, patches: ArrayView2<f32>, images: ArrayViewMut2<f32>) {
    let parts = parts_for(patches.len()).min(images.nrows()).max(1);
    by_images(g, images, patches, parts, &|g, images, patches| {
        scatter_add_serial(g, patches, images)
    });
}

/// Runs `work` on `parts` runs of whole images of `a` (`B` rows) and their rows of `b` (`B * out_h * out_w`),
/// in parallel on the pool.
fn by_images<A, B>(g: &Geometry, a: A, b: B, parts: usize, work: &(impl Fn(&Geometry, A, B) + Sync))
where
    A: SplitRows + Send,
    B: SplitRows + Send,
{
    if parts < 2 {
        return work(g, a, b);
    }
    let half = parts / 2;
    let images = a.rows() * half / parts;
    let (a_first, a_rest) = a.split_rows(images);
    let (b_first, b_rest) = b.split_rows(images * g.positions());
    join(
        || by_images(g, a_first, b_first, half, work),
        || by_images(g, a_rest, b_rest, parts - half, work),
    );
}

/// A view split in two at a row.
trait SplitRows: Sized {
    fn rows(&self) -> usize;
    fn split_rows(self, at: usize) -> (Self, Self);
}

impl SplitRows for ArrayView2<'_, f32> {
    fn rows(&self) -> usize {
        self.nrows()
    }
    fn split_rows(self, at: usize) -> (Self, Self) {
        self.split_at(Axis(0), at)
    }
}

impl SplitRows for ArrayViewMut2<'_, f32> {
    fn rows(&self) -> usize {
        self.nrows()
    }
    fn split_rows(self, at: usize) -> (Self, Self) {
        self.split_at(Axis(0), at)
    }
}

fn gather_serial(g: &Geometry, images: ArrayView2<f32>, mut patches: ArrayViewMut2<f32>) {
    let (_, w, c) = g.image;
    let (window, positions, row_len) = (g.window(), g.positions(), g.kernel.1 * c);
    let images = images.as_slice().expect("gather: images in standard layout");
    let patches = patches.as_slice_mut().expect("gather: patches in standard layout");
    for (b, image) in images.chunks_exact(g.image_len()).enumerate() {
        let rows = &mut patches[b * positions * window..(b + 1) * positions * window];
        for (position, patch) in rows.chunks_exact_mut(window).enumerate() {
            let (i, j) = (position / g.grid.1, position % g.grid.1);
            for (di, part) in patch.chunks_exact_mut(row_len).enumerate() {
                match overlap(g, i, j, di) {
                    None => part.fill(0.0),
                    Some((y, lo, hi, x)) => {
                        part[..lo * c].fill(0.0);
                        let from = (y * w + x) * c;
                        part[lo * c..hi * c].copy_from_slice(&image[from..from + (hi - lo) * c]);
                        part[hi * c..].fill(0.0);
                    }
                }
            }
        }
    }
}

fn scatter_add_serial(g: &Geometry, patches: ArrayView2<f32>, mut images: ArrayViewMut2<f32>) {
    let (_, w, c) = g.image;
    let (window, positions, row_len) = (g.window(), g.positions(), g.kernel.1 * c);
    let patches = patches.as_slice().expect("scatter_add: patches in standard layout");
    let images = images.as_slice_mut().expect("scatter_add: images in standard layout");
    images.fill(0.0);
    for (b, image) in images.chunks_exact_mut(g.image_len()).enumerate() {
        let rows = &patches[b * positions * window..(b + 1) * positions * window];
        for (position, patch) in rows.chunks_exact(window).enumerate() {
            let (i, j) = (position / g.grid.1, position % g.grid.1);
            for (di, part) in patch.chunks_exact(row_len).enumerate() {
                if let Some((y, lo, hi, x)) = overlap(g, i, j, di) {
                    let to = (y * w + x) * c;
                    let target = &mut image[to..to + (hi - lo) * c];
                    target.iter_mut().zip(&part[lo * c..hi * c]).for_each(|(t, v)| *t += v);
                }
            }
        }
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

                // split by images (as on the pool), the same bits: 5 images in 3 runs
                let images = Array2::from_shape_fn((5, g.image_len()), |(b, k)| (b * 7 + k * 3) as f32 % 5.0 - 2.0);
                let (mut whole, mut split) = (
                    Array2::zeros((5 * g.positions(), g.window())),
                    Array2::zeros((5 * g.positions(), g.window())),
                );
                gather_serial(&g, images.view(), whole.view_mut());
                by_images(&g, images.view(), split.view_mut(), 3, &gather_serial);
                assert_eq!(whole, split);
                let (mut whole_back, mut split_back) = (Array2::zeros(images.dim()), Array2::zeros(images.dim()));
                scatter_add_serial(&g, whole.view(), whole_back.view_mut());
                by_images(&g, split_back.view_mut(), whole.view(), 3, &|g, images, patches| {
                    scatter_add_serial(g, patches, images)
                });
                assert_eq!(whole_back, split_back);
            }
        }
    }
}
