//! The buffers of `fit`'s batches, and how a batch's rows are copied into them.
//!
//! Rows drawn at random from a large data set mostly come from memory rather than a cache, and each one's address
//! must be looked up anew: the copy of a batch is waiting more than copying. So `fit` keeps two batches and copies
//! the next one's rows while the step of this one runs (on another thread of the pool, and the step's own thread
//! once the step is done) instead of waiting for them at the start of each step.

use std::sync::{Mutex, PoisonError, TryLockError};

use ndarray::{s, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};

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
    /// Split across the crate's threads when large enough (see [`fill_beside`](Self::fill_beside) for a copy
    /// beside a step).
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

    /// [`fill`](Self::fill), as the background to `step` (a training step), whose result it returns: the batch
    /// is cut into a few pieces of rows; another thread of the pool copies them one after the other, giving way
    /// between rows to the step's work waiting on the pool (see [`gather_beside`]), and once the step is done,
    /// this thread takes the pieces not yet taken, from the last one. The same batch, bit for bit, whoever copies
    /// which piece.
    ///
    /// The copy often ends after the step (AE-16 at batch 256: in 454 of 470 steps, 168 µs per step later): the
    /// other thread also takes the step's parts as they come.
    pub(super) fn fill_beside<R: Send>(
        &mut self,
        source: &Source,
        rows: &[usize],
        (epoch, batch): (usize, usize),
        step: impl FnOnce() -> R + Send,
    ) -> R {
        let noise = (source.noise > 0.0).then(|| NoiseStream::new(source.seed, epoch as u64, batch as u64));
        let piece_rows = piece_rows(rows.len(), self.input.ncols(), noise.is_some());
        let mut pieces: [Mutex<Option<Piece>>; PIECES] = [const { Mutex::new(None) }; PIECES];
        let target_rows = rows.len().min(self.target.nrows()); // none without targets of their own
        let (mut inputs, mut targets) = (
            self.input.slice_mut(s![..rows.len(), ..]),
            self.target.slice_mut(s![..target_rows, ..]),
        );
        let mut targets = source.target.map(|_| targets.axis_chunks_iter_mut(Axis(0), piece_rows));
        for (k, (input, rows)) in inputs
            .axis_chunks_iter_mut(Axis(0), piece_rows)
            .zip(rows.chunks(piece_rows))
            .enumerate()
        {
            let target = targets.as_mut().and_then(Iterator::next);
            let piece = Piece {
                first_row: k * piece_rows,
                rows,
                input,
                target,
            };
            *pieces[k].get_mut().unwrap_or_else(PoisonError::into_inner) = Some(piece);
        }
        let (result, ()) = join(
            || {
                let result = step();
                copy_untaken(pieces.iter().rev(), source, noise, false);
                result
            },
            || copy_untaken(pieces.iter(), source, noise, true),
        );
        self.rows = rows.len();
        result
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

/// The most pieces [`Batch::fill_beside`] cuts a batch into.
const PIECES: usize = 16;

/// Rows per piece of a batch of `rows` rows of `width` values cut into at most [`PIECES`]: with `noise`, each piece
/// starts on an element of the batch where a part of its noise may start ([`NoiseStream::ALIGN`]).
fn piece_rows(rows: usize, width: usize, noise: bool) -> usize {
    let align = match noise {
        true => NoiseStream::ALIGN / gcd(width.max(1), NoiseStream::ALIGN),
        false => 1,
    };
    rows.div_ceil(PIECES).div_ceil(align).max(1) * align
}

fn gcd(a: usize, b: usize) -> usize {
    match b {
        0 => a,
        _ => gcd(b, a % b),
    }
}

/// Copies the pieces in `slots` that no thread took yet, in order. A slot's lock is held only while its piece is
/// taken out (a slot locked by the other thread is being taken, so skipped), never while a piece is copied.
fn copy_untaken<'s, 'a: 's>(
    slots: impl Iterator<Item = &'s Mutex<Option<Piece<'a>>>>,
    source: &Source,
    noise: Option<NoiseStream>,
    giving_way: bool,
) {
    for slot in slots {
        let piece = match slot.try_lock() {
            Ok(mut piece) => piece.take(),
            Err(TryLockError::Poisoned(piece)) => piece.into_inner().take(),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(piece) = piece {
            piece.copy(source, noise, giving_way);
        }
    }
}

/// A few rows of a batch to fill: rows `first_row..` of the batch, from the source's rows `rows`.
struct Piece<'a> {
    first_row: usize,
    rows: &'a [usize],
    input: ArrayViewMut2<'a, f32>,
    target: Option<ArrayViewMut2<'a, f32>>,
}

impl Piece<'_> {
    /// Copies the piece's rows in and adds their noise (of the batch's `noise` stream), giving way between runs of
    /// values to the step's waiting work when `giving_way`.
    fn copy(mut self, source: &Source, noise: Option<NoiseStream>, giving_way: bool) {
        let gather = if giving_way { gather_beside } else { gather_here };
        gather(source.input, self.rows, self.input.view_mut());
        if let Some(stream) = noise {
            let first = self.first_row * self.input.ncols();
            match self.input.as_slice_mut() {
                Some(values) => stream.add_to_part(values, first, source.noise),
                None => unreachable!("a piece of rows of a batch buffer of fit's own is contiguous"),
            }
        }
        if let (Some(target), Some(source_target)) = (self.target, source.target) {
            gather(source_target, self.rows, target);
        }
    }
}

/// Copies `source`'s rows `rows` into `batch`, on this thread.
fn gather_here(source: ArrayView2<f32>, rows: &[usize], batch: ArrayViewMut2<f32>) {
    gather_split(source, rows, batch, 1)
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
fn gather_beside(source: ArrayView2<f32>, rows: &[usize], mut batch: ArrayViewMut2<f32>) {
    /// The most values copied between two looks for waiting work: a few microseconds of copying.
    const RUN: usize = 2048;
    for (mut destination, &row) in batch.rows_mut().into_iter().zip(rows) {
        let source_row = source.row(row);
        let mut start = 0;
        while start < source_row.len() {
            let end = (start + RUN).min(source_row.len());
            copy_values(source_row.slice(s![start..end]), destination.slice_mut(s![start..end]));
            give_way();
            start = end;
        }
    }
}

/// `destination = source`, by `copy_from_slice` (the C library's `memcpy`: the widest vectors the CPU has) when both
/// are runs in memory. ndarray's `assign` copies 16 bytes at a time in the default build, and random rows of a
/// large data set copied so took 1.7x the time (256 rows of Fashion-MNIST: 143 against 83 µs, Xeon model 167).
fn copy_values(source: ArrayView1<f32>, mut destination: ArrayViewMut1<f32>) {
    match (source.to_slice(), destination.as_slice_mut()) {
        (Some(from), Some(to)) => to.copy_from_slice(from),
        _ => destination.assign(&source),
    }
}

/// [`gather_rows`] into `batch` (as many rows as `rows`), in `parts` parts.
fn gather_split(source: ArrayView2<f32>, rows: &[usize], mut batch: ArrayViewMut2<f32>, parts: usize) {
    if parts < 2 {
        for (destination, &row) in batch.rows_mut().into_iter().zip(rows) {
            copy_values(source.row(row), destination);
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
        // rows wider than a run between two looks for work, and narrower (pieces of up to 64 rows, so that each
        // starts where a part of the noise may); with noise and separate targets; batches of one piece and of all
        // sixteen
        let picked: Vec<usize> = (0..200).map(|i| (i * 37 + 11) % 250).collect();
        for (width, count) in [(3, 200), (784, 7), (784, 200), (2048, 33), (5000, 5)] {
            let (input, target) = (rows(250, width, 1), rows(250, width, 2));
            let picked = &picked[..count];
            for (noise, target) in [(0.0, None), (0.3, Some(target.view()))] {
                let source = Source {
                    input: input.view(),
                    target,
                    noise,
                    seed: 5,
                };
                let mut alone = Batch::new(count, &source);
                alone.fill(&source, picked, 2, 3);
                // beside products that split across the pool, whose halves the filling thread may take between rows
                // (when the pool has two threads or more and no other caller: see `matmul::give_way`); off the pool,
                // the step's thread copies every piece once the step is done
                let (a, b) = (rows(96, 256, 3), rows(256, 256, 4));
                let mut product = Array2::zeros((96, 256));
                for on_pool in [true, false] {
                    let mut beside = Batch::new(count, &source);
                    let step =
                        || (0..20).for_each(|_| crate::matmul::product_into(a.view(), b.view(), product.view_mut()));
                    match on_pool {
                        true => crate::matmul::on_pool(|| beside.fill_beside(&source, picked, (2, 3), step)),
                        false => beside.fill_beside(&source, picked, (2, 3), step),
                    }
                    let ((alone_input, alone_target), (beside_input, beside_target)) = (alone.views(), beside.views());
                    let context = format!("width {width}, {count} rows, noise {noise}, on the pool: {on_pool}");
                    assert_eq!(alone_input.nrows(), picked.len());
                    assert_eq!(alone_input, beside_input, "{context}");
                    assert_eq!(alone_target, beside_target, "{context}");
                    for (k, &row) in picked.iter().enumerate() {
                        match noise == 0.0 {
                            true => assert_eq!(beside_input.row(k), input.row(row), "{context}"),
                            false => {
                                assert_eq!(beside_target.row(k), source.target.unwrap().row(row), "{context}");
                                assert_ne!(beside_input.row(k), input.row(row), "{context}: no noise");
                            }
                        }
                    }
                }
            }
        }
    }

    /// Rows that are not runs in memory (a column-major data set) are copied value by value: the same batch.
    #[test]
    fn rows_of_a_column_major_source_fill_the_same_batch() {
        let input = rows(250, 784, 1);
        let column_major = input.t().as_standard_layout().into_owned().reversed_axes();
        assert!(column_major.row(0).to_slice().is_none());
        let picked: Vec<usize> = (0..40).map(|i| (i * 37 + 11) % 250).collect();
        let source = |input| Source {
            input,
            target: None,
            noise: 0.0,
            seed: 5,
        };
        let (standard, strided) = (source(input.view()), source(column_major.view()));
        let mut expected = Batch::new(picked.len(), &standard);
        expected.fill(&standard, &picked, 1, 0);
        let mut alone = Batch::new(picked.len(), &strided);
        alone.fill(&strided, &picked, 1, 0);
        let mut beside = Batch::new(picked.len(), &strided);
        crate::matmul::on_pool(|| beside.fill_beside(&strided, &picked, (1, 0), || ()));
        assert_eq!(alone.views().0, expected.views().0);
        assert_eq!(beside.views().0, expected.views().0);
    }

    #[test]
    fn pieces_start_where_the_noise_may_and_are_at_most_sixteen() {
        for width in [1, 3, 16, 64, 100, 784, 785, 1000, 2048] {
            for rows in [1, 2, 15, 16, 17, 32, 100, 256, 1000] {
                let piece = piece_rows(rows, width, true);
                assert_eq!(piece * width % NoiseStream::ALIGN, 0, "{rows} rows of {width}");
                assert!(
                    rows.div_ceil(piece) <= PIECES,
                    "{rows} rows of {width}: pieces of {piece}"
                );
                assert_eq!(
                    piece_rows(rows, width, false),
                    rows.div_ceil(PIECES),
                    "{rows} rows of {width}"
                );
            }
        }
        assert_eq!(
            (
                piece_rows(256, 784, true),
                piece_rows(256, 785, true),
                piece_rows(256, 785, false)
            ),
            (16, 64, 16)
        );
    }
}
