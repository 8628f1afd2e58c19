//! Inference through a chain of layers (an encoder, a decoder, or both one after the other) into a caller's
//! buffer.
//!
//! - The layers before the last write into two scratch buffers of the calling thread, used in turn and kept for
//!   the next call, so that once they have grown to a model's widest layer a call allocates nothing (a
//!   convolution still makes its patch scratch). The last layer writes into the caller's buffer (a convolution,
//!   which writes standard-layout rows only, into the scratch first when that buffer is not in standard layout).
//! - A large batch passes through the chain a slice of rows at a time ([`rows_per_pass`]), so that no layer's
//!   output is ever more than a few MB: reconstructing 10,000 images of a convolutional model needs the output,
//!   not gigabytes of activations. Rows are independent, so the result is the same bits.
//! - A batch too small to be worth a hand-over to the thread pool (one sample encoded at a time) runs on the
//!   calling thread; a larger one enters the pool once for the whole chain, not once per layer. A large batch
//!   ([`MIN_ROWS_PER_THREAD`] rows or more per thread) is split by rows, each thread taking its rows through the
//!   whole chain in its own part of the calling thread's scratch; a smaller one splits each product by columns.

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
/// which must be `(x.nrows(), outputs of the last layer)`. `call` names the call in errors, and `inputs` what its
/// input's columns are (`"input"`, `"latent"`).
pub(crate) fn infer_into(
    (first, second): (&[Layer], &[Layer]),
    x: ArrayView2<f32>,
    output: ArrayViewMut2<f32>,
    (call, inputs): (&str, &str),
) -> Result<()> {
    let layers = || first.iter().chain(second);
    let (Some(head), Some(last)) = (layers().next(), layers().last()) else {
        return Err(Error::InvalidArgument(format!("{call}: no layers")));
    };
    if x.ncols() != head.inputs() {
        return Err(Error::shape(
            format!("{call} ({inputs} columns)"),
            format!("{} columns", head.inputs()),
            format!("{} columns", x.ncols()),
        ));
    }
    if output.dim() != (x.nrows(), last.outputs()) {
        return Err(Error::shape(
            format!("{call} (output buffer)"),
            format!("{:?}", (x.nrows(), last.outputs())),
            format!("{:?}", output.dim()),
        ));
    }
    let n = x.nrows();
    // What the scratch holds: every layer's output but the last one's, which goes straight to `output` (unless the
    // last layer is a convolution, which writes standard-layout rows only, and `output` is not: then it too).
    let last_in_scratch = last.as_dense().is_none() && !output.is_standard_layout();
    let hidden = layers().take(first.len() + second.len() - 1);
    let widest = hidden
        .map(Layer::outputs)
        .chain(last_in_scratch.then(|| last.outputs()))
        .max();
    let widest = widest.unwrap_or(0);
    let per_pass = rows_per_pass(widest);
    let work = layers().map(Layer::multiply_adds_per_sample).sum::<usize>();
    let threads = threads_for(n.saturating_mul(work));
    let parts = if threads > 1 && n >= threads * MIN_ROWS_PER_THREAD && per_pass >= threads {
        threads
    } else {
        1
    };
    // Each part passes its rows through in slices of at most `rows`, small enough that all the parts' slices
    // together stay within one pass's scratch, which each part gets its own share of.
    let rows = (per_pass / parts).min(n.div_ceil(parts)).max(1);
    let share = rows * widest;
    let chain = Chain {
        layers: (first, second),
        rows,
    };
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => chain.run(x, output, &mut scratch, (threads, parts, share)),
        // only if inference ever ran inside inference on one thread: correct, with buffers of its own
        Err(_) => chain.run(x, output, &mut [Vec::new(), Vec::new()], (threads, parts, share)),
    })
}

/// Rows per thread from which inference splits a batch by rows, each thread running the whole chain on its own
/// rows (and packing every layer's weights for them), rather than splitting each product by columns (each thread
/// packing half of the weights, then waiting for the other at the end of every layer). Measured on AE-16 with 2
/// threads: by rows is 5% faster at 128 rows per thread and 15% at 500; at 64 the two are even, and below, by rows
/// is 30–80% slower.
const MIN_ROWS_PER_THREAD: usize = 128;

/// The layers of a chain, and the rows it passes through them at a time.
#[derive(Clone, Copy)]
struct Chain<'l> {
    layers: (&'l [Layer], &'l [Layer]),
    rows: usize,
}

impl Chain<'_> {
    /// `x` through the chain into `output`, on `threads` threads in `parts` parts (split by rows when more than
    /// one), each part with `share` values of each of the two `scratch` buffers (grown to it here, before any
    /// thread starts, so that which thread takes which part makes no difference to what is allocated).
    fn run(
        self,
        x: ArrayView2<f32>,
        output: ArrayViewMut2<f32>,
        scratch: &mut [Vec<f32>; 2],
        (threads, parts, share): (usize, usize, usize),
    ) -> Result<()> {
        let [write, read] = scratch;
        let len = parts * share;
        grow(write, len)?;
        grow(read, len)?;
        let buffers = (&mut write[..len], &mut read[..len]);
        match (threads, parts) {
            (1, _) => self.in_slices(x, output, buffers),
            (_, 1) => on_pool(|| self.in_slices(x, output, buffers)),
            _ => on_pool(|| self.by_rows(x, output, buffers, parts)),
        }
    }

    /// [`in_slices`](Self::in_slices) on `parts` blocks of the rows of `x` (and `output`, and of the scratch
    /// `buffers`), each on one thread of the pool with everything in it kept on that thread. Rows are
    /// independent, so the result is the same bits as in one piece.
    fn by_rows(
        self,
        x: ArrayView2<f32>,
        output: ArrayViewMut2<f32>,
        (write, read): (&mut [f32], &mut [f32]),
        parts: usize,
    ) -> Result<()> {
        if parts < 2 {
            return on_this_thread(|| self.in_slices(x, output, (write, read)));
        }
        let half = parts / 2;
        let mid = x.nrows() * half / parts;
        let (x_top, x_bottom) = x.split_at(Axis(0), mid);
        let (out_top, out_bottom) = output.split_at(Axis(0), mid);
        let (write_top, write_bottom) = write.split_at_mut(write.len() / parts * half);
        let (read_top, read_bottom) = read.split_at_mut(read.len() / parts * half);
        let (top, bottom) = join(
            || self.by_rows(x_top, out_top, (write_top, read_top), half),
            || self.by_rows(x_bottom, out_bottom, (write_bottom, read_bottom), parts - half),
        );
        top.and(bottom)
    }

    /// Every row of `x` through the chain into `output`, [`rows`](Self::rows) at a time, the layers' outputs in
    /// the two scratch `buffers` (each at least `rows` times the widest layer).
    fn in_slices(
        self,
        x: ArrayView2<f32>,
        mut output: ArrayViewMut2<f32>,
        (write, read): (&mut [f32], &mut [f32]),
    ) -> Result<()> {
        let slices = x
            .axis_chunks_iter(Axis(0), self.rows)
            .zip(output.axis_chunks_iter_mut(Axis(0), self.rows));
        for (x, output) in slices {
            self.slice_into(x, output, (&mut *write, &mut *read))?;
        }
        Ok(())
    }

    /// Every row of `x` through every layer, the last one writing `output`, the others into the two scratch
    /// buffers in turn.
    fn slice_into(
        self,
        x: ArrayView2<f32>,
        mut output: ArrayViewMut2<f32>,
        (mut write, mut read): (&mut [f32], &mut [f32]),
    ) -> Result<()> {
        let n = x.nrows();
        let (first, second) = self.layers;
        let mut layers = first.iter().chain(second);
        // the width of the values in `read`: `None` while the input is still `x`
        let mut read_width = None;
        let mut layer = layers.next().expect("a chain has a layer");
        for next in layers {
            let width = layer.outputs();
            layer.infer_into(input(x, read, read_width), scratch_rows(write, n, width))?;
            std::mem::swap(&mut write, &mut read);
            read_width = Some(width);
            layer = next;
        }
        let input = input(x, read, read_width);
        if layer.as_dense().is_some() || output.is_standard_layout() {
            return layer.infer_into(input, output);
        }
        // a convolution writes only standard-layout outputs: into the scratch, then copied
        let mut rows = scratch_rows(write, n, layer.outputs());
        layer.infer_into(input, rows.view_mut())?;
        output.assign(&rows);
        Ok(())
    }
}

/// The first `n · width` values of a scratch buffer, as `n` rows of `width`.
fn scratch_rows(buffer: &mut [f32], n: usize, width: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((n, width), &mut buffer[..n * width]).expect("a buffer of n · width values")
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

/// How many rows inference passes through a chain at a time, when the widest layer kept in scratch has `widest`
/// outputs: as many as keep each layer's output within about 8 MB (2^21 values), at least one.
pub(crate) fn rows_per_pass(widest: usize) -> usize {
    const VALUES_PER_PASS: usize = 1 << 21;
    (VALUES_PER_PASS / widest.max(1)).max(1)
}
