//! The buffers of `fit`'s batches, and how a batch's rows are copied into them.
//!
//! Rows drawn at random from a large data set mostly come from memory rather than a cache, and each one's address
//! must be looked up anew: the copy of a batch is waiting more than copying. So `fit` keeps two batches and copies
//! the next one's rows (on another thread of the pool, while the step of this one runs) instead of waiting for them
//! at the start of each step.

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, Axis};

use super::noise::NoiseStream;
use crate::matmul::{give_way, join, num_threads};

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
    ///
    /// With `beside_step`, the copy is the background to a training step running on another thread: it runs on
    /// this thread only, and gives way between rows to the step's work waiting on the pool (see [`gather_beside`]).
    pub(super) fn fill(&mut self, source: &Source, rows: &[usize], epoch: usize, batch: usize, beside_step: bool) {
        let gather = if beside_step { gather_beside } else { gather_rows };
        gather(source.input, rows, &mut self.input);
        if source.noise > 0.0 {
            let values = rows.len() * self.input.ncols();
            let stream = NoiseStream::new(source.seed, epoch as u64, batch as u64);
            match self.input.as_slice_mut() {
                Some(batch_values) => stream.add_to(&mut batch_values[..values], source.noise),
                None => unreachable!("a batch buffer of fit's own is contiguous"),
            }
        }
        if let Some(target) = source.target {
            gather(target, rows, &mut self.target);
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

/// [`gather_rows`] on this thread, a run of at most a few thousand values at a time, running between two runs a
/// piece of work waiting on the pool (if any: [`give_way`]).
///
/// This is how the next batch is copied while a step runs. The copy is slow for its size (each row drawn at random
/// from a large data set waits on memory, and its address must be looked up anew), and the pool's other thread
/// copying the whole batch at once left the step's products to one thread for as long (about 170 µs of a 1 ms
/// step for AE-16 at batch 32). Giving way, the other thread takes the products' halves as they come and copies
/// rows while the step runs what it cannot split (the small layers, the loss).
fn gather_beside(source: ArrayView2<f32>, rows: &[usize], batch: &mut Array2<f32>) {
    /// The most values copied between two looks for waiting work: a few microseconds of copying.
    const RUN: usize = 2048;
    for (mut destination, &row) in batch.rows_mut().into_iter().zip(rows) {
        let source_row = source.row(row);
        let mut start = 0;
        while start < source_row.len() {
            let end = (start + RUN).min(source_row.len());
            destination
                .slice_mut(s![start..end])
                .assign(&source_row.slice(s![start..end]));
            give_way();
            start = end;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Rows of `width` varied values.
    fn rows(count: usize, width: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((count, width), |(i, j)| {
            ((i * 7919 + j * 31 + seed) % 1009) as f32 / 1009.0
        })
    }

    #[test]
    fn a_batch_filled_beside_a_step_is_the_batch_filled_alone() {
        // rows wider than a run between two looks for work, and narrower; with noise and separate targets
        for width in [3, 784, 2048, 5000] {
            let (input, target) = (rows(40, width, 1), rows(40, width, 2));
            let picked = [39, 0, 7, 7, 12, 3, 25];
            for (noise, target) in [(0.0, None), (0.3, Some(target.view()))] {
                let source = Source {
                    input: input.view(),
                    target,
                    noise,
                    seed: 5,
                };
                let (mut alone, mut beside) = (Batch::new(8, &source), Batch::new(8, &source));
                alone.fill(&source, &picked, 2, 3, false);
                // beside products that split across the pool, whose halves the filling thread may take between rows
                // (when the pool has two threads or more and no other caller: see `matmul::give_way`)
                let (a, b) = (rows(96, 256, 3), rows(256, 256, 4));
                let mut product = Array2::zeros((96, 256));
                crate::matmul::on_pool(|| {
                    join(
                        || (0..20).for_each(|_| crate::matmul::product_into(a.view(), b.view(), product.view_mut())),
                        || beside.fill(&source, &picked, 2, 3, true),
                    )
                });
                let ((alone_input, alone_target), (beside_input, beside_target)) = (alone.views(), beside.views());
                assert_eq!(alone_input.nrows(), picked.len());
                assert_eq!(alone_input, beside_input, "width {width}, noise {noise}");
                assert_eq!(alone_target, beside_target, "width {width}, noise {noise}");
                if noise == 0.0 {
                    for (k, &row) in picked.iter().enumerate() {
                        assert_eq!(beside_input.row(k), input.row(row), "width {width}");
                    }
                } else {
                    for (k, &row) in picked.iter().enumerate() {
                        assert_eq!(beside_target.row(k), source.target.unwrap().row(row), "width {width}");
                        assert_ne!(beside_input.row(k), input.row(row), "width {width}: no noise");
                    }
                }
            }
        }
    }
}
