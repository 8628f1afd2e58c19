//! The buffers of `fit`'s batches, and how a batch's rows are copied into them.
//!
//! Rows drawn at random from a large data set mostly come from memory rather than a cache, and each one's address
//! must be looked up anew: the copy of a batch is waiting more than copying. So `fit` keeps two batches and copies
//! the next one's rows (on another thread of the pool, while the step of this one runs) instead of waiting for them
//! at the start of each step.

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, Axis};

use super::noise::NoiseStream;
use crate::matmul::{join, num_threads};

/// Where a batch's inputs and targets come from, and the noise added to the inputs.
#[derive(Clone, Copy)]
pub(super) struct Source<'a> {
    pub(super) input: ArrayView2<'a, f32>,
    /// The targets, when they differ from the (noisy) inputs: the given targets, or the clean inputs under noise.
    pub(super) target: Option<ArrayView2<'a, f32>>,
    /// The standard deviation of the Gaussian noise added to the inputs (0: none), and the fit's seed.
    pub(super) noise: f32,
    pub(super) seed: u64,
}

/// One batch's buffers, made once for the largest batch.
pub(super) struct Batch {
    input: Array2<f32>,
    target: Array2<f32>,
    /// Rows filled.
    rows: usize,
}

impl Batch {
    /// Buffers for batches of up to `batch_size` rows of `source` (a target buffer only when its targets differ
    /// from its inputs).
    pub(super) fn new(batch_size: usize, source: &Source) -> Batch {
        let target_shape = match source.target {
            Some(target) => (batch_size, target.ncols()),
            None => (0, 0),
        };
        Batch {
            input: Array2::zeros((batch_size, source.input.ncols())),
            target: Array2::zeros(target_shape),
            rows: 0,
        }
    }

    /// Copies `source`'s rows `rows` (at most the batch size) in, and adds to the inputs the noise of batch `batch`
    /// of epoch `epoch`: element `i` of the batch (row by row) gets the noise of `(seed, epoch, batch, i)`, drawn
    /// from nothing else, so that any order of filling gives the same batch.
    pub(super) fn fill(&mut self, source: &Source, rows: &[usize], epoch: usize, batch: usize) {
        gather_rows(source.input, rows, &mut self.input);
        if source.noise > 0.0 {
            let values = rows.len() * self.input.ncols();
            let stream = NoiseStream::new(source.seed, epoch as u64, batch as u64);
            match self.input.as_slice_mut() {
                Some(batch_values) => stream.add_to(&mut batch_values[..values], source.noise),
                None => unreachable!("a batch buffer of fit's own is contiguous"),
            }
        }
        if let Some(target) = source.target {
            gather_rows(target, rows, &mut self.target);
        }
        self.rows = rows.len();
    }

    /// The inputs and targets filled last.
    pub(super) fn views(&self) -> (ArrayView2<'_, f32>, ArrayView2<'_, f32>) {
        let input = self.input.slice(s![..self.rows, ..]);
        match self.target.nrows() {
            0 => (input, input),
            _ => (input, self.target.slice(s![..self.rows, ..])),
        }
    }
}

/// Copies `source`'s rows `rows` into the first `rows.len()` rows of `batch`, split across the crate's threads
/// (when called on its pool) for batches of more than a few rows.
fn gather_rows(source: ArrayView2<f32>, rows: &[usize], batch: &mut Array2<f32>) {
    /// Fewer rows per thread than this are copied on one thread: a hand-over costs about a microsecond, about
    /// what a few rows of MNIST take.
    const MIN_ROWS_PER_PART: usize = 8;
    let parts = num_threads().min(rows.len() / MIN_ROWS_PER_PART).max(1);
    gather_split(source, rows, batch.slice_mut(s![..rows.len(), ..]), parts);
}

/// [`gather_rows`] into `batch` (as many rows as `rows`), in `parts` parts.
fn gather_split(source: ArrayView2<f32>, rows: &[usize], mut batch: ArrayViewMut2<f32>, parts: usize) {
    if parts < 2 {
        for (mut destination, &row) in batch.rows_mut().into_iter().zip(rows) {
            destination.assign(&source.row(row));
        }
        return;
    }
    let half = parts / 2;
    let mid = rows.len() * half / parts;
    let (first_rows, last_rows) = rows.split_at(mid);
    let (first, last) = batch.split_at(Axis(0), mid);
    join(
        || gather_split(source, first_rows, first, half),
        || gather_split(source, last_rows, last, parts - half),
    );
}
