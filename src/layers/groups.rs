//! A convolution's batch split by images across the crate's threads, each thread going through its images a few
//! at a time ([`images_at_once`]) with its own rows of the patch scratch, so that the windows stay in the core's
//! cache between the step that writes them and the one that reads them back.
//!
//! Forward ([`forward_by_images`]): any runs of images will do, each output row depends on its image only.
//! Backward ([`backward_by_groups`]): the batch is cut into [`GROUPS`] runs of whole images (the cut depends on
//! the batch size only), each group's `dL/dK` and `dL/db` summed on its own, in order, and the groups' sums then
//! added in order: the groups run side by side, yet every sum is made in the same order on any thread count, so
//! the results are the same bits.

use std::ops::Range;

use ndarray::{s, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};

use crate::matmul::{join, parts_for};

/// The number of groups a batch is cut into for the weight gradients: as many as the threads that can work on
/// them at once (more groups cost one more sum of `dL/dK` each, and smaller products).
pub(crate) const GROUPS: usize = 4;

/// The images of each group for a batch of `n`: runs of equal length ±1, the longer first (empty at the end when
/// `n < GROUPS`).
fn group_ranges(n: usize) -> [Range<usize>; GROUPS] {
    let (base, longer) = (n / GROUPS, n % GROUPS);
    let start = |g: usize| g * base + g.min(longer);
    std::array::from_fn(|g| start(g)..start(g + 1))
}

/// The shape of the scratch that holds the sums of the groups after the first (whose sums go straight to the
/// gradients): one row per group, `dL/dK` then `dL/db`.
pub(crate) fn group_sums_shape(kernel_len: usize, bias_len: usize) -> (usize, usize) {
    (GROUPS - 1, kernel_len + bias_len)
}

/// A convolution's forward pass by runs of whole images: `work(x, patches, pre_activation, output)` for `parts`
/// runs of `x`'s images (and their rows of the other views) side by side on the pool, each with its share of whole
/// images of `patches` (`rows_per_image` rows each). Each output row depends on its image only, so the bits are
/// the same on any thread count.
pub(crate) fn forward_by_images(
    (x, patches): (ArrayView2<f32>, ArrayViewMut2<f32>),
    (pre_activation, output): (Option<ArrayViewMut2<f32>>, ArrayViewMut2<f32>),
    (rows_per_image, parts): (usize, usize),
    work: &(impl Fn(ArrayView2<f32>, ArrayViewMut2<f32>, Option<ArrayViewMut2<f32>>, ArrayViewMut2<f32>) + Sync),
) {
    let room = patches.nrows() / rows_per_image;
    if parts < 2 || room < 2 || x.nrows() < 2 {
        return work(x, patches, pre_activation, output);
    }
    let half = parts / 2;
    let images = x.nrows() * half / parts;
    let (x_first, x_rest) = x.split_at(Axis(0), images);
    let (patches_first, patches_rest) = patches.split_at(Axis(0), (room * half / parts).max(1) * rows_per_image);
    let (out_first, out_rest) = output.split_at(Axis(0), images);
    let (pre_first, pre_rest) = match pre_activation {
        Some(pre) => {
            let (first, rest) = pre.split_at(Axis(0), images);
            (Some(first), Some(rest))
        }
        None => (None, None),
    };
    join(
        || {
            forward_by_images(
                (x_first, patches_first),
                (pre_first, out_first),
                (rows_per_image, half),
                work,
            )
        },
        || {
            forward_by_images(
                (x_rest, patches_rest),
                (pre_rest, out_rest),
                (rows_per_image, parts - half),
                work,
            )
        },
    );
}

/// The values of windows a thread writes and reads back at a time (512 KB): few enough to stay in the core's own
/// cache (L2) between the product or gather that writes them and the product or scatter that reads them.
pub(crate) const FUSED_PATCH_VALUES: usize = 1 << 17;

/// How many of the images that `patches` has room for (`rows_per_image` rows of `window` values each) a thread
/// takes at a time: [`FUSED_PATCH_VALUES`] worth, at least one.
pub(crate) fn images_at_once(patches: &ArrayViewMut2<f32>, rows_per_image: usize) -> usize {
    (FUSED_PATCH_VALUES / (rows_per_image * patches.ncols()).max(1)).clamp(1, (patches.nrows() / rows_per_image).max(1))
}

/// How many images a convolution's patch scratch has room for, for batches of up to `capacity` images and
/// windows of `(rows, columns)` per image: what [`GROUPS`] threads take at a time ([`images_at_once`]), or the
/// whole batch if fewer. 2 MB whatever the batch, unless one image's windows take more than 512 KB (then four
/// images' worth): a batch of 256 of the book's model would have 110 MB of windows at once.
pub(crate) fn patch_room((rows, columns): (usize, usize), capacity: usize) -> usize {
    let per_thread = (FUSED_PATCH_VALUES / rows.saturating_mul(columns).max(1)).max(1);
    per_thread.saturating_mul(GROUPS).min(capacity).max(1)
}

/// What a convolution's backward reads and writes, for a whole batch or for one group of its images: rows of
/// images (`x`, `pre_activation`, `output`, `grad`, `grad_input`) and where the sums of `dL/dK` (as the kernel's
/// matrix) and `dL/db` go.
pub(crate) struct BackwardViews<'a> {
    pub(crate) x: ArrayView2<'a, f32>,
    pub(crate) pre_activation: Option<ArrayView2<'a, f32>>,
    pub(crate) output: ArrayView2<'a, f32>,
    /// `dL/dy` on entry, `dL/dz` on return.
    pub(crate) grad: ArrayViewMut2<'a, f32>,
    pub(crate) grad_input: Option<ArrayViewMut2<'a, f32>>,
    pub(crate) kernel_sum: ArrayViewMut2<'a, f32>,
    pub(crate) bias_sum: ArrayViewMut1<'a, f32>,
}

impl<'a> BackwardViews<'a> {
    /// A whole batch's views, in the order of a convolution's `backward_into`: the input, what forward kept
    /// (`(pre_activation, output)`), `dL/dy`, where `dL/dK` and `dL/db` go, and where `dL/dx` goes if anywhere.
    pub(crate) fn new(
        x: ArrayView2<'a, f32>,
        (pre_activation, output): (Option<ArrayView2<'a, f32>>, ArrayView2<'a, f32>),
        grad: ArrayViewMut2<'a, f32>,
        (kernel_sum, bias_sum): (ArrayViewMut2<'a, f32>, ArrayViewMut1<'a, f32>),
        grad_input: Option<ArrayViewMut2<'a, f32>>,
    ) -> Self {
        BackwardViews {
            x,
            pre_activation,
            output,
            grad,
            grad_input,
            kernel_sum,
            bias_sum,
        }
    }
}

/// Into how many parts (one per thread) to split a batch of `images`, each with `windows` values of windows: one
/// when the batch is too small for a hand-over to another thread to pay, never more than the images.
pub(crate) fn parts_for_images(images: usize, windows: usize) -> usize {
    parts_for(images.saturating_mul(windows)).min(images).max(1)
}

/// A convolution's backward by groups: `work(group, patches, pass)` for each group of `batch`'s images, which
/// goes through them `pass` images at a time with `patches` as scratch, its sums written to (not added to) the
/// group's `kernel_sum` and `bias_sum`: the first group's are `batch`'s own, the others' rows of `group_sums` (of
/// [`group_sums_shape`]), added to the first's at the end, in order. On up to `parts` threads; `patches` is the
/// scratch, whole images of `rows_per_image` rows each.
pub(crate) fn backward_by_groups(
    batch: BackwardViews<'_>,
    mut group_sums: ArrayViewMut2<f32>,
    patches: ArrayViewMut2<f32>,
    (rows_per_image, parts): (usize, usize),
    work: &(impl Fn(&mut BackwardViews<'_>, ArrayViewMut2<f32>, usize) + Sync),
) {
    let ranges = group_ranges(batch.x.nrows());
    let BackwardViews {
        x,
        pre_activation,
        output,
        grad,
        grad_input,
        mut kernel_sum,
        mut bias_sum,
    } = batch;
    {
        let (kernel_len, kernel_dim) = (kernel_sum.len(), kernel_sum.dim());
        let mut first = Some((kernel_sum.view_mut(), bias_sum.view_mut()));
        let mut sums = group_sums.rows_mut().into_iter();
        let (mut grad, mut grad_input) = (Some(grad), grad_input);
        let mut groups: [BackwardViews<'_>; GROUPS] = std::array::from_fn(|g| {
            let images = ranges[g].clone();
            let (grad_here, grad_rest) = grad
                .take()
                .expect("one split per group")
                .split_at(Axis(0), images.len());
            grad = Some(grad_rest);
            let grad_input_here = grad_input.take().map(|rest| {
                let (here, rest) = rest.split_at(Axis(0), images.len());
                grad_input = Some(rest);
                here
            });
            let (kernel_sum, bias_sum) = match g {
                0 => first.take().expect("one first group"),
                _ => {
                    let row = sums.next().expect("a row of sums per group after the first");
                    let (kernel, bias) = row.split_at(Axis(0), kernel_len);
                    let kernel = kernel.into_shape_with_order(kernel_dim);
                    (kernel.expect("group sums in standard layout"), bias)
                }
            };
            BackwardViews {
                x: x.slice_move(s![images.clone(), ..]),
                pre_activation: pre_activation.map(|pre| pre.slice_move(s![images.clone(), ..])),
                output: output.slice_move(s![images, ..]),
                grad: grad_here,
                grad_input: grad_input_here,
                kernel_sum,
                bias_sum,
            }
        });
        // Each group goes through its images `pass` at a time, a number that depends on the scratch's size
        // only (not on the threads), so that its sum of dL/dK is split into the same passes on any thread
        // count; side by side in slots of their own when the scratch has one for every group with images.
        let room = patches.nrows() / rows_per_image;
        let pass = (room / GROUPS).max(1);
        let busy = ranges.iter().filter(|r| !r.is_empty()).count();
        let mut patches = patches;
        if parts < 2 || room / pass < busy {
            for group in &mut groups {
                work(group, patches.view_mut(), pass);
            }
        } else {
            let mut slots = patches.axis_chunks_iter_mut(Axis(0), pass * rows_per_image);
            let mut groups = groups.map(|group| (group, slots.next()));
            run_groups(&mut groups[..busy], parts.min(busy), &|(group, slot)| {
                let slot = slot.as_mut().expect("a slot for every group with images");
                work(group, slot.view_mut(), pass)
            });
        }
    }
    add_group_sums(kernel_sum, bias_sum, group_sums, &ranges);
}

/// `work(group)` for every group, on `parts` threads of the pool.
fn run_groups<W: Send>(groups: &mut [W], parts: usize, work: &(impl Fn(&mut W) + Sync)) {
    if parts < 2 || groups.len() < 2 {
        return groups.iter_mut().for_each(work);
    }
    let half = parts / 2;
    let (first, rest) = groups.split_at_mut((groups.len() * half / parts).max(1));
    join(
        || run_groups(first, half, work),
        || run_groups(rest, parts - half, work),
    );
}

/// Adds the sums of the groups after the first (`group_sums`, the rows of [`group_sums_shape`]) to the first
/// group's, already in `grad_kernel` and `grad_bias`, in order; empty groups (past the batch) are left out.
fn add_group_sums(
    mut grad_kernel: ArrayViewMut2<f32>,
    mut grad_bias: ArrayViewMut1<f32>,
    group_sums: ArrayViewMut2<f32>,
    groups: &[Range<usize>; GROUPS],
) {
    let kernel_len = grad_kernel.len();
    let kernel = grad_kernel.as_slice_mut().expect("a standard-layout kernel gradient");
    for (sums, _) in group_sums
        .rows()
        .into_iter()
        .zip(&groups[1..])
        .filter(|(_, g)| !g.is_empty())
    {
        let sums = sums.to_slice().expect("group sums in standard layout");
        kernel
            .iter_mut()
            .zip(&sums[..kernel_len])
            .for_each(|(total, part)| *total += part);
        grad_bias
            .iter_mut()
            .zip(&sums[kernel_len..])
            .for_each(|(total, part)| *total += part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_the_batch_in_order() {
        assert_eq!(group_ranges(10), [0..3, 3..6, 6..8, 8..10]);
        assert_eq!(group_ranges(2), [0..1, 1..2, 2..2, 2..2]);
        assert_eq!(group_ranges(32), [0..8, 8..16, 16..24, 24..32]);
        for n in 0..20 {
            let groups = group_ranges(n);
            assert_eq!((groups[0].start, groups[GROUPS - 1].end), (0, n));
            assert!(groups
                .windows(2)
                .all(|w| w[0].end == w[1].start && w[0].len() >= w[1].len()));
        }
    }
}
