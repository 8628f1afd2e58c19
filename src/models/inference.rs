//! Inference through a chain of layers (an encoder, a decoder, or both one after the other) into a caller's
//! buffer.
//!
//! - The layers between the first and the last write into two scratch buffers of the calling thread, used in
//!   turn and kept for the next call, so that once they have grown to a model's widest layer a call allocates
//!   nothing (a convolution still makes its patch scratch).
//! - A large batch passes through the chain a slice of rows at a time ([`rows_per_pass`]), so that no layer's
//!   output is ever more than a few MB: reconstructing 10,000 images of a convolutional model needs the output,
//!   not gigabytes of activations. Rows are independent, so the result is the same bits.
//! - A batch too small to be worth a hand-over to the thread pool (one sample encoded at a time) runs on the
//!   calling thread; a larger one enters the pool once for the whole chain, not once per layer. A large batch
//!   (a hundred rows or more per thread) is split by rows, each thread taking its rows through the whole chain; a
//!   smaller one splits each product by columns.

use std::cell::RefCell;

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::matmul::{join, on_pool, on_this_thread, threads_for};

thread_local! {
    /// This thread's two buffers for the outputs of the layers inside a chain.
    static SCRATCH: RefCell<[Vec<f32>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
}

/// Passes `x` through the layers of `first` and then of `second` (either may be empty, not both) into `output`,
/// which must be `(x.nrows(), outputs of the last layer)`; `context` names the call in errors.
pub(crate) fn infer_into(
    (first, second): (&[Layer], &[Layer]),
    x: ArrayView2<f32>,
    output: ArrayViewMut2<f32>,
    context: &str,
) -> Result<()> {
    let layers = || first.iter().chain(second);
    let (Some(head), Some(last)) = (layers().next(), layers().last()) else {
        return Err(Error::InvalidArgument(format!("{context}: no layers")));
    };
    if x.ncols() != head.inputs() {
        return Err(Error::shape(
            context,
            format!("{} columns", head.inputs()),
            format!("{} columns", x.ncols()),
        ));
    }
    if output.dim() != (x.nrows(), last.outputs()) {
        return Err(Error::shape(
            format!("{context} (output buffer)"),
            format!("{:?}", (x.nrows(), last.outputs())),
            format!("{:?}", output.dim()),
        ));
    }
    let widest = layers().map(Layer::outputs).max().unwrap_or(1);
    let rows = rows_per_pass(widest);
    let work = layers().map(Layer::multiply_adds_per_sample).sum::<usize>();
    let run = move |x: ArrayView2<f32>, mut output: ArrayViewMut2<f32>| -> Result<()> {
        let slices = x
            .axis_chunks_iter(Axis(0), rows)
            .zip(output.axis_chunks_iter_mut(Axis(0), rows));
        for (x, output) in slices {
            SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
                Ok(mut scratch) => chain_into(layers(), x, output, &mut scratch),
                // only if inference ever ran inside inference on one thread: correct, with buffers of its own
                Err(_) => chain_into(layers(), x, output, &mut [Vec::new(), Vec::new()]),
            })?;
        }
        Ok(())
    };
    match threads_for(x.nrows().saturating_mul(work)) {
        1 => run(x, output),
        // each thread its share of the rows through the whole chain, without a hand-over between layers
        threads if x.nrows() >= threads * MIN_ROWS_PER_THREAD => on_pool(|| by_rows(&run, x, output, threads)),
        // too few rows for each thread to pack every layer's weights: each product is split by columns instead
        _ => on_pool(|| run(x, output)),
    }
}

/// Rows per thread from which inference splits a batch by rows, each thread running the whole chain on its own
/// rows (and packing every layer's weights for them), rather than splitting each product by columns (each thread
/// packing half of the weights, then waiting for the other at the end of every layer). Measured on AE-16 with 2
/// threads: by rows 5% faster at 128 rows per thread and 15% at 500, even at 64, 30–80% slower below.
const MIN_ROWS_PER_THREAD: usize = 128;

/// `run` on `parts` blocks of the rows of `x` (and `output`), each on one thread of the pool with everything in it
/// kept on that thread. Rows are independent, so the result is the same bits as in one piece.
fn by_rows(
    run: &(impl Fn(ArrayView2<f32>, ArrayViewMut2<f32>) -> Result<()> + Sync),
    x: ArrayView2<f32>,
    output: ArrayViewMut2<f32>,
    parts: usize,
) -> Result<()> {
    if parts < 2 {
        return on_this_thread(|| run(x, output));
    }
    let half = parts / 2;
    let mid = x.nrows() * half / parts;
    let (x_top, x_bottom) = x.split_at(Axis(0), mid);
    let (out_top, out_bottom) = output.split_at(Axis(0), mid);
    let (top, bottom) = join(
        || by_rows(run, x_top, out_top, half),
        || by_rows(run, x_bottom, out_bottom, parts - half),
    );
    top.and(bottom)
}

/// Every row of `x` through every layer of `layers`, the last one writing `output`, the others into `scratch`.
fn chain_into<'l>(
    mut layers: impl Iterator<Item = &'l Layer>,
    x: ArrayView2<f32>,
    output: ArrayViewMut2<f32>,
    scratch: &mut [Vec<f32>; 2],
) -> Result<()> {
    let n = x.nrows();
    let [write, read] = scratch;
    let (mut write, mut read) = (write, read);
    // the width of the values in `read`: `None` while the input is still `x`
    let mut read_width = None;
    let mut layer = layers.next().expect("a chain has a layer");
    for next in layers {
        let width = layer.outputs();
        grow(write, n * width)?;
        let out = ArrayViewMut2::from_shape((n, width), &mut write[..n * width]).expect("a buffer of n · width values");
        layer.infer_into(input(x, read, read_width), out)?;
        std::mem::swap(&mut write, &mut read);
        read_width = Some(width);
        layer = next;
    }
    layer.infer_into(input(x, read, read_width), output)
}

/// The input of the next layer: `x` while no layer has run (`read_width` is `None`), else the previous layer's
/// output, the first `x.nrows() · read_width` values of `read`.
fn input<'a>(x: ArrayView2<'a, f32>, read: &'a [f32], read_width: Option<usize>) -> ArrayView2<'a, f32> {
    let n = x.nrows();
    match read_width {
        None => x,
        Some(w) => ArrayView2::from_shape((n, w), &read[..n * w]).expect("a buffer of n · w values"),
    }
}

/// Grows `buffer` to at least `len` values (never shrinks it, so that it is made once per thread and model).
fn grow(buffer: &mut Vec<f32>, len: usize) -> Result<()> {
    if buffer.len() < len {
        buffer.try_reserve(len - buffer.len()).map_err(|_| {
            Error::InvalidArgument(format!("inference needs {len} values of scratch, more than memory"))
        })?;
        buffer.resize(len, 0.0);
    }
    Ok(())
}

/// How many rows inference passes through a chain at a time, when its widest layer has `widest` outputs: as many
/// as keep each layer's output within about 8 MB (2^21 values), at least one.
pub(crate) fn rows_per_pass(widest: usize) -> usize {
    const VALUES_PER_PASS: usize = 1 << 21;
    (VALUES_PER_PASS / widest.max(1)).max(1)
}
