//! The element-wise passes around a dense layer's products, each fused into one sweep over memory and split
//! across the crate's threads by columns (so each thread keeps the row order of its sums, and the results do not
//! depend on the thread count).
//!
//! - forward: `z = x·W + b`, `y = act(z)` in place of `x·W` (and `z` kept where backward needs it);
//! - backward: `dL/dz = dL/dy ⊙ act'(z)` in place, and `dL/db = Σ_rows dL/dz`.
//!
//! Both give bit for bit what [`Activation::apply_in_place`] and [`Activation::backward_in_place`] give (a
//! test below holds them to it). The loops run in a context compiled for the CPU's widest vector extension
//! (chosen at run time by `pulp`), so the compiler can vectorise them beyond the baseline SSE2.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};

use crate::layers::Activation;
use crate::matmul::{at_cache_line, join, on_pool, parts_for, parts_of_at_least};

/// `output = act(output + bias)` row by row, and `pre_activation = output + bias` when given.
pub(crate) fn bias_activation(
    output: ArrayViewMut2<f32>,
    pre_activation: Option<ArrayViewMut2<f32>>,
    bias: ArrayView1<f32>,
    activation: Activation,
) {
    match parts_for(output.len() * forward_cost(activation)) {
        1 => forward_serial(output, pre_activation, bias, activation),
        parts => on_pool(|| forward_split(output, pre_activation, bias, activation, parts)),
    }
}

/// [`bias_activation`] on the calling thread: for a part of a batch that is already one thread's share.
pub(crate) fn bias_activation_on_this_thread(
    output: ArrayViewMut2<f32>,
    pre_activation: Option<ArrayViewMut2<f32>>,
    bias: ArrayView1<f32>,
    activation: Activation,
) {
    forward_serial(output, pre_activation, bias, activation)
}

/// `grad *= act'(z)` (`grad` holds `dL/dy` on entry, `dL/dz` on return) and `bias_grad = Σ_rows grad`.
pub(crate) fn activation_grad_bias_sum(
    pre_activation: Option<ArrayView2<f32>>,
    output: ArrayView2<f32>,
    grad: ArrayViewMut2<f32>,
    bias_grad: ArrayViewMut1<f32>,
    activation: Activation,
) {
    match backward_parts(grad.len(), activation) {
        1 => backward_serial(pre_activation, output, grad, bias_grad, activation),
        parts => on_pool(|| backward_split(pre_activation, output, grad, bias_grad, activation, parts)),
    }
}

/// Into how many parts to split the backward sweep over `elements` values of `activation`.
fn backward_parts(elements: usize, activation: Activation) -> usize {
    match backward_cost(activation) {
        1 => parts_of_at_least(elements, BACKWARD_MIN_PER_PART),
        cost => parts_for(elements * cost),
    }
}

/// The fewest elements per thread for which the backward sweep of an activation of [`backward_cost`] 1 splits.
/// Its values were just written, by the loss (split by rows) or by the product above (split by columns), and it is
/// bound by memory: split by columns, each thread reads much of them from the other core's cache, and that costs
/// more than the sweep (AE-16's last layer at batch 256, 200k values: 140 µs split in two, 50 µs on one thread).
/// So it splits only where its values no longer fit one core's cache anyway. The activations that call a
/// transcendental function again (cost 8) are bound by arithmetic instead, and split as [`parts_for`] says (GELU
/// models at batches 32–128 ran 1.10–1.19× slower per epoch under this threshold).
const BACKWARD_MIN_PER_PART: usize = 256 * 1024;

/// The cost of the forward sweep per element, in units of a ReLU's: the activations that call `exp`, `tanh` or
/// `erfc` cost several times more, and so are worth splitting across threads on smaller batches.
fn forward_cost(activation: Activation) -> usize {
    match activation {
        Activation::Identity | Activation::Relu | Activation::LeakyRelu(_) => 1,
        _ => 8,
    }
}

/// The cost of the backward sweep per element, as [`forward_cost`]: only GELU, SiLU and softplus call a
/// transcendental function again.
fn backward_cost(activation: Activation) -> usize {
    match activation {
        Activation::Gelu | Activation::Silu | Activation::Softplus => 8,
        _ => 1,
    }
}

/// Where to cut `columns` for the first `share` of `parts`: on a multiple of 16 floats (a cache line's worth), then
/// moved by [`at_cache_line`] to where the rows actually cross a line, so that no two threads write the same line.
fn split_column(columns: usize, share: usize, parts: usize) -> usize {
    (columns * share / parts / 16 * 16).clamp(1, columns - 1)
}

fn forward_split(
    output: ArrayViewMut2<f32>,
    pre_activation: Option<ArrayViewMut2<f32>>,
    bias: ArrayView1<f32>,
    activation: Activation,
    parts: usize,
) {
    if parts < 2 || output.ncols() < 32 {
        return forward_serial(output, pre_activation, bias, activation);
    }
    let half = parts / 2;
    let mid = at_cache_line(&output, split_column(output.ncols(), half, parts)).min(output.ncols() - 1);
    let (out_left, out_right) = output.split_at(Axis(1), mid);
    let (pre_left, pre_right) = match pre_activation {
        Some(pre) => {
            let (left, right) = pre.split_at(Axis(1), mid);
            (Some(left), Some(right))
        }
        None => (None, None),
    };
    let (bias_left, bias_right) = bias.split_at(Axis(0), mid);
    join(
        || forward_split(out_left, pre_left, bias_left, activation, half),
        || forward_split(out_right, pre_right, bias_right, activation, parts - half),
    );
}

fn backward_split(
    pre_activation: Option<ArrayView2<f32>>,
    output: ArrayView2<f32>,
    grad: ArrayViewMut2<f32>,
    bias_grad: ArrayViewMut1<f32>,
    activation: Activation,
    parts: usize,
) {
    if parts < 2 || grad.ncols() < 32 {
        return backward_serial(pre_activation, output, grad, bias_grad, activation);
    }
    let half = parts / 2;
    let mid = at_cache_line(&grad, split_column(grad.ncols(), half, parts)).min(grad.ncols() - 1);
    let (pre_left, pre_right) = match pre_activation {
        Some(pre) => {
            let (left, right) = pre.split_at(Axis(1), mid);
            (Some(left), Some(right))
        }
        None => (None, None),
    };
    let (out_left, out_right) = output.split_at(Axis(1), mid);
    let (grad_left, grad_right) = grad.split_at(Axis(1), mid);
    let (bias_left, bias_right) = bias_grad.split_at(Axis(0), mid);
    join(
        || backward_split(pre_left, out_left, grad_left, bias_left, activation, half),
        || backward_split(pre_right, out_right, grad_right, bias_right, activation, parts - half),
    );
}

fn forward_serial(
    mut output: ArrayViewMut2<f32>,
    pre_activation: Option<ArrayViewMut2<f32>>,
    bias: ArrayView1<f32>,
    activation: Activation,
) {
    let rows_contiguous = output.ncols() <= 1
        || (output.strides()[1] == 1 && pre_activation.as_ref().is_none_or(|p| p.strides()[1] == 1));
    let (Some(bias), true) = (bias.as_slice(), rows_contiguous) else {
        // Unusual layouts (never the workspace's): the same arithmetic, element by element.
        output += &bias;
        if let Some(mut pre) = pre_activation {
            pre.assign(&output);
        }
        return output.mapv_inplace(|z| activation.apply(z));
    };
    pulp::Arch::new().dispatch(ForwardRows {
        output,
        pre_activation,
        bias,
        activation,
    });
}

/// Rows of at most half this many values go through the sweeps a block of rows at a time (`NARROW` values), so
/// that a convolution's pixels with one or a few channels each are not a loop of their own each.
const NARROW: usize = 64;

/// The forward sweep over rows with contiguous elements, as a `pulp` operation: `with_simd` and everything it
/// calls are `inline(always)`, so that the loops are compiled inside the vector context pulp picked at run time
/// (a closure would be called through a shim compiled for the baseline CPU).
struct ForwardRows<'a, 'b> {
    output: ArrayViewMut2<'a, f32>,
    pre_activation: Option<ArrayViewMut2<'a, f32>>,
    bias: &'b [f32],
    activation: Activation,
}

impl pulp::WithSimd for ForwardRows<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let ForwardRows {
            mut output,
            mut pre_activation,
            bias,
            activation,
        } = self;
        let columns = output.ncols();
        let whole = output.is_standard_layout() && pre_activation.as_ref().is_none_or(|p| p.is_standard_layout());
        if let (true, Some(out)) = (whole && columns > 0, output.as_slice_mut()) {
            // one run of rows: no view per row (a convolution's rows are its pixels, a few channels each)
            match pre_activation.as_mut().and_then(|pre| pre.as_slice_mut()) {
                Some(pre) => {
                    for (out, pre) in out.chunks_exact_mut(columns).zip(pre.chunks_exact_mut(columns)) {
                        for ((y, z), &b) in out.iter_mut().zip(pre).zip(bias) {
                            *z = *y + b;
                            *y = activation.apply(*z);
                        }
                    }
                }
                None if columns <= NARROW / 2 => {
                    // narrow rows a block at a time, against the bias repeated once per row of the block
                    let rows_per_block = NARROW / columns;
                    let mut repeated = [0.0_f32; NARROW];
                    repeated[..rows_per_block * columns]
                        .iter_mut()
                        .zip(bias.iter().cycle())
                        .for_each(|(r, &b)| *r = b);
                    for block in out.chunks_mut(rows_per_block * columns) {
                        forward_row(block, &repeated[..block.len()], activation);
                    }
                }
                None => out
                    .chunks_exact_mut(columns)
                    .for_each(|out| forward_row(out, bias, activation)),
            }
            return;
        }
        for i in 0..output.nrows() {
            let mut out_row = output.row_mut(i);
            let out = out_row.as_slice_mut().expect("rows checked contiguous");
            match pre_activation.as_mut() {
                Some(pre) => {
                    let mut pre_row = pre.row_mut(i);
                    let pre = pre_row.as_slice_mut().expect("rows checked contiguous");
                    for ((y, z), &b) in out.iter_mut().zip(pre).zip(bias) {
                        *z = *y + b;
                        *y = activation.apply(*z);
                    }
                }
                None => forward_row(out, bias, activation),
            }
        }
    }
}

/// `out = act(out + bias)`, one loop per activation so that each is a tight loop the compiler can vectorise.
#[inline(always)]
fn forward_row(out: &mut [f32], bias: &[f32], activation: Activation) {
    match activation {
        Activation::Identity => out.iter_mut().zip(bias).for_each(|(y, &b)| *y += b),
        Activation::Relu => out
            .iter_mut()
            .zip(bias)
            .for_each(|(y, &b)| *y = Activation::Relu.apply(*y + b)),
        Activation::Sigmoid => super::sigmoid::sigmoid_with_bias(out, bias),
        other => out.iter_mut().zip(bias).for_each(|(y, &b)| *y = other.apply(*y + b)),
    }
}

fn backward_serial(
    pre_activation: Option<ArrayView2<f32>>,
    output: ArrayView2<f32>,
    grad: ArrayViewMut2<f32>,
    mut bias_grad: ArrayViewMut1<f32>,
    activation: Activation,
) {
    bias_grad.fill(0.0);
    activation_grad_bias_add_on_this_thread(pre_activation, output, grad, bias_grad, activation)
}

/// `grad *= act'(z)` and `bias_grad += Σ_rows grad` (in row order, onto what `bias_grad` holds), on the calling
/// thread: for a part of a batch that is already one thread's share, whose sum goes on from the part before.
pub(crate) fn activation_grad_bias_add_on_this_thread(
    pre_activation: Option<ArrayView2<f32>>,
    output: ArrayView2<f32>,
    mut grad: ArrayViewMut2<f32>,
    mut bias_grad: ArrayViewMut1<f32>,
    activation: Activation,
) {
    let rows_contiguous = grad.ncols() <= 1
        || (grad.strides()[1] == 1
            && output.strides()[1] == 1
            && pre_activation.as_ref().is_none_or(|p| p.strides()[1] == 1));
    let (Some(bias_grad), true) = (bias_grad.as_slice_mut(), rows_contiguous) else {
        // Unusual layouts (never the workspace's): the same arithmetic through the array forms.
        activation.backward_in_place(pre_activation, output, grad.view_mut());
        for row in grad.rows() {
            bias_grad += &row;
        }
        return;
    };
    let needs_z = activation.needs_pre_activation();
    let pre_activation = pre_activation.filter(|_| needs_z);
    assert!(
        !needs_z || pre_activation.is_some(),
        "this activation's backward needs the pre-activation"
    );
    pulp::Arch::new().dispatch(BackwardRows {
        pre_activation,
        output,
        grad,
        bias_grad,
        activation,
    });
}

/// The backward sweep over rows with contiguous elements, as a `pulp` operation (see [`ForwardRows`]).
struct BackwardRows<'a, 'b> {
    pre_activation: Option<ArrayView2<'a, f32>>,
    output: ArrayView2<'a, f32>,
    grad: ArrayViewMut2<'a, f32>,
    bias_grad: &'b mut [f32],
    activation: Activation,
}

impl pulp::WithSimd for BackwardRows<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let BackwardRows {
            pre_activation,
            output,
            mut grad,
            bias_grad,
            activation,
        } = self;
        let columns = grad.ncols();
        let whole = grad.is_standard_layout()
            && output.is_standard_layout()
            && pre_activation.as_ref().is_none_or(|p| p.is_standard_layout());
        if let (true, Some(g), Some(y)) = (whole && columns > 0, grad.as_slice_mut(), output.to_slice()) {
            // one run of rows: no view per row (a convolution's rows are its pixels, a few channels each)
            match pre_activation.as_ref().and_then(|pre| pre.to_slice()) {
                Some(z) => {
                    for ((g, z), y) in g
                        .chunks_exact_mut(columns)
                        .zip(z.chunks_exact(columns))
                        .zip(y.chunks_exact(columns))
                    {
                        for (((g, &z), &y), sum) in g.iter_mut().zip(z).zip(y).zip(bias_grad.iter_mut()) {
                            *g = activation.gradient(z, y, *g);
                            *sum += *g;
                        }
                    }
                }
                None if columns <= NARROW / 2 => {
                    // narrow rows a block at a time: the gradients of the block, then its rows added in order
                    let rows_per_block = NARROW / columns;
                    let mut discarded = [0.0_f32; NARROW];
                    for (g, y) in g
                        .chunks_mut(rows_per_block * columns)
                        .zip(y.chunks(rows_per_block * columns))
                    {
                        backward_row(g, y, &mut discarded[..g.len()], activation);
                        for row in g.chunks_exact(columns) {
                            bias_grad.iter_mut().zip(row).for_each(|(sum, &g)| *sum += g);
                        }
                    }
                }
                None => {
                    for (g, y) in g.chunks_exact_mut(columns).zip(y.chunks_exact(columns)) {
                        backward_row(g, y, bias_grad, activation);
                    }
                }
            }
            return;
        }
        for i in 0..grad.nrows() {
            let mut grad_row = grad.row_mut(i);
            let g = grad_row.as_slice_mut().expect("rows checked contiguous");
            let output_row = output.row(i);
            let y = output_row.as_slice().expect("rows checked contiguous");
            match &pre_activation {
                Some(pre) => {
                    let pre_row = pre.row(i);
                    let z = pre_row.as_slice().expect("rows checked contiguous");
                    for (((g, &z), &y), sum) in g.iter_mut().zip(z).zip(y).zip(bias_grad.iter_mut()) {
                        *g = activation.gradient(z, y, *g);
                        *sum += *g;
                    }
                }
                None => backward_row(g, y, bias_grad, activation),
            }
        }
    }
}

/// `g = act.gradient(y, g)` and `sum += g`, for the activations whose derivative needs only `y`, exactly as
/// [`Activation::gradient`] defines it (ReLU and sigmoid written out so that they vectorise: the same bits).
#[inline(always)]
fn backward_row(g: &mut [f32], y: &[f32], sum: &mut [f32], activation: Activation) {
    let g_y_sum = g.iter_mut().zip(y).zip(sum.iter_mut());
    match activation {
        Activation::Identity => g_y_sum.for_each(|((g, _), sum)| *sum += *g),
        // a select rather than a conditional store, so that it vectorises; the same values
        Activation::Relu => g_y_sum.for_each(|((g, &y), sum)| {
            *g = if y <= 0.0 { 0.0 } else { *g };
            *sum += *g;
        }),
        Activation::Sigmoid => g_y_sum.for_each(|((g, &y), sum)| {
            *g *= y * (1.0 - y);
            *sum += *g;
        }),
        other => g_y_sum.for_each(|((g, &y), sum)| {
            *g = other.gradient(0.0, y, *g);
            *sum += *g;
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array1, Array2};

    const ALL: [Activation; 9] = crate::layers::activation::EVERY_KIND;

    /// Values that include zeros of both signs, large magnitudes, infinities and NaN.
    fn values(rows: usize, cols: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| match (i * 7 + j * 13 + seed) % 41 {
            0 => 0.0,
            1 => -0.0,
            2 => f32::INFINITY,
            3 => f32::NEG_INFINITY,
            4 => f32::NAN,
            5 => 90.0,
            6 => -90.0,
            k => (k as f32 - 20.0) / 7.0,
        })
    }

    /// The sweeps bound by memory stay on one thread up to 256k values per part; those that call a transcendental
    /// function again split as soon as a hand-over pays (AE-16's GELU layers at batch 32–128 included).
    #[test]
    fn only_sweeps_bound_by_memory_wait_for_a_cache_full_per_part() {
        let threads = crate::matmul::num_threads();
        assert_eq!(backward_parts(200_000, Activation::Relu), 1);
        assert_eq!(backward_parts(200_000, Activation::Sigmoid), 1);
        assert_eq!(backward_parts(4 * 256 * 1024, Activation::Relu), threads.min(4));
        assert_eq!(backward_parts(32 * 1024, Activation::Gelu), threads.min(16));
        assert_eq!(backward_parts(64 * 784, Activation::Silu), threads.min(24));
        assert_eq!(backward_parts(1000, Activation::Softplus), 1);
    }

    /// The same bits, any NaN matching any NaN: which NaN an operation on two NaNs (or an invalid one) gives is
    /// unspecified in Rust, and the optimizer may swap the operands of an addition, so an optimised build's sums
    /// of rows with NaN in them carry other NaN bits.
    fn same_bits(a: &Array2<f32>, b: &Array2<f32>) -> bool {
        a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn sweeps_match_the_activation_array_forms_bit_for_bit() {
        // wide rows (a dense layer's), and narrow ones (a convolution's pixels) that go a block of rows at a time
        for (rows, cols) in [(5, 70), (37, 1), (29, 3), (9, 32), (7, 33)] {
            sweeps_match_for(rows, cols);
        }
    }

    fn sweeps_match_for(rows: usize, cols: usize) {
        let xw = values(rows, cols, 0);
        let bias = values(1, cols, 3).row(0).to_owned();
        let dy = values(rows, cols, 5);
        for activation in ALL {
            // what forward_into and backward_into computed before the sweeps
            let mut z = xw.clone();
            z += &bias;
            let mut y = z.clone();
            activation.apply_in_place(y.view_mut());
            let mut dz = dy.clone();
            activation.backward_in_place(Some(z.view()), y.view(), dz.view_mut());
            let mut db = Array1::<f32>::zeros(cols);
            for row in dz.rows() {
                db += &row;
            }

            for parts in [1, 2, 3] {
                let mut out = xw.clone();
                let mut pre = Array2::zeros((rows, cols));
                forward_split(out.view_mut(), Some(pre.view_mut()), bias.view(), activation, parts);
                assert!(
                    same_bits(&out, &y) && same_bits(&pre, &z),
                    "{activation} forward, {parts} parts, {cols} columns"
                );
                let mut out = xw.clone();
                forward_split(out.view_mut(), None, bias.view(), activation, parts);
                assert!(
                    same_bits(&out, &y),
                    "{activation} forward without z, {parts} parts, {cols} columns"
                );

                let mut grad = dy.clone();
                let mut sum = Array1::from_elem(cols, 7.0_f32);
                backward_split(
                    Some(z.view()),
                    y.view(),
                    grad.view_mut(),
                    sum.view_mut(),
                    activation,
                    parts,
                );
                assert!(
                    same_bits(&grad, &dz),
                    "{activation} backward, {parts} parts, {cols} columns"
                );
                let sum = sum.insert_axis(Axis(0));
                assert!(
                    same_bits(&sum, &db.clone().insert_axis(Axis(0))),
                    "{activation} bias, {parts} parts, {cols} columns"
                );
            }
        }
    }

    #[test]
    fn strided_views_take_the_general_path_with_the_same_result() {
        let activation = Activation::Sigmoid;
        let xw = values(6, 40, 1);
        let bias = Array1::from_shape_fn(20, |j| j as f32 / 10.0 - 1.0);
        let mut want = xw.slice(s![.., ..;2]).to_owned();
        forward_serial(want.view_mut(), None, bias.view(), activation);
        let mut strided = xw.clone();
        forward_serial(strided.slice_mut(s![.., ..;2]), None, bias.view(), activation);
        assert!(same_bits(&strided.slice(s![.., ..;2]).to_owned(), &want));
        assert!(same_bits(
            &strided.slice(s![.., 1..;2]).to_owned(),
            &xw.slice(s![.., 1..;2]).to_owned()
        ));
    }

    #[test]
    fn columns_split_on_cache_line_boundaries() {
        assert_eq!(split_column(784, 1, 2), 384);
        assert_eq!(split_column(256, 1, 2), 128);
        assert_eq!(split_column(64, 1, 3), 16);
        assert_eq!(split_column(20, 1, 2), 1);
    }
}
