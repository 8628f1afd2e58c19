//! The matrix products of the training loop, in one place.
//!
//! Every layer does three per step: the forward `Z = X · W`, and in backward `dW = Xᵀ · dZ` and `dX = dZ · Wᵀ`.
//! Transposes are read as views (through their strides), never copied. All of them go through
//! [`product_into`], so that the kernel behind it can be changed for all of them at once.
//!
//! The kernel is the crate's own ([`kernel`]): safe Rust over `pulp`'s run-time dispatch, so one build runs
//! AVX-512 kernels where the CPU has them and AVX2+FMA kernels elsewhere. On CPUs with neither (x86 without
//! AVX2/FMA, or other architectures), ndarray's own product (`matrixmultiply`) is used instead.
//!
//! Large products split across the crate's threads ([`set_num_threads`]) by blocks of output columns (or rows),
//! each computed on one thread (see [`split`]); small products stay on one thread, where splitting costs more
//! than it saves. No split ever divides a sum, so every thread count gives the same bits.

mod awake;
mod epilogue;
mod gate;
mod kernel;
mod thin;
mod threads;
mod transpose;
#[cfg(test)]
mod watchdog;

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::alloc::{describe_bytes, try_zeros};

pub(crate) use epilogue::BiasActivation;
pub(crate) use threads::{
    give_way, join, join_sharing, on_pool, on_this_thread, parts_for, parts_of_at_least, threads_for, Limit,
};
pub use threads::{num_threads, set_num_threads, MAX_THREADS};

/// `out = a · b`, overwriting `out`. The shapes must agree: `a` is `(m, k)`, `b` is `(k, n)`, `out` is `(m, n)`.
/// Any strides are accepted (transposed views included).
///
/// **Panics** if the shapes do not agree: callers check shapes at the crate's boundary, so a mismatch here is a
/// bug.
pub(crate) fn product_into(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>) {
    product_adding_into(a, b, out, false)
}

/// `out = a · b`, or with `adding` `out += a · b`, on the calling thread, whatever the thread count: for work
/// that is already split across the threads in larger pieces (a convolution's batch, by images). The same bits as
/// [`product_into`] and of a product added to `out`.
///
/// **Panics** if the shapes do not agree.
pub(crate) fn product_on_this_thread(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>, adding: bool) {
    product_with(a, b, out, adding, Some(1))
}

fn product_adding_into(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>, adding: bool) {
    product_with(a, b, out, adding, None)
}

/// `out = act(a · b + bias)`, a dense layer's forward: [`product_into`] with `epilogue` applied to each group of
/// rows of `out` by the thread that computed them, as soon as their sums are complete. The same bits as the
/// product followed by the bias-and-activation sweep, without a second pass over `out`.
///
/// **Panics** if the shapes do not agree (the bias included).
pub(crate) fn product_then_into(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    out: ArrayViewMut2<f32>,
    epilogue: BiasActivation,
) {
    assert_eq!(epilogue.width(), b.ncols(), "product_then_into: a bias per column");
    product_and_epilogue(a, b, out, false, None, Some(epilogue))
}

/// `out = a · b`, returning the largest [`magnitude`](crate::optim::magnitude) in `out` (infinity if a value is
/// NaN or infinite): each thread measures the block of `out` it computed, while the block is in its cache, instead
/// of a second pass over all of `out` (for a weight gradient, whose maximum bounds the optimizer's step).
///
/// **Panics** if the shapes do not agree.
pub(crate) fn product_and_max_into(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>) -> f32 {
    product_measuring(a, b, out, false, None, None, true)
}

/// The product on `threads` threads, or as many as [`threads_for`] picks for its size.
fn product_with(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>, adding: bool, threads: Option<usize>) {
    product_and_epilogue(a, b, out, adding, threads, None)
}

/// [`product_measuring`] without measuring.
fn product_and_epilogue(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    out: ArrayViewMut2<f32>,
    adding: bool,
    threads: Option<usize>,
    epilogue: Option<BiasActivation>,
) {
    product_measuring(a, b, out, adding, threads, epilogue, false);
}

/// [`product_with`], then `epilogue` applied to `out`: by the kernel as it goes, or in a sweep of its own after
/// the products that cannot (a few rows read in place, no vector kernel). With `measuring`, returns the largest
/// magnitude in `out` (see [`product_and_max_into`]), else 0.
fn product_measuring(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
    adding: bool,
    threads: Option<usize>,
    epilogue: Option<BiasActivation>,
    measuring: bool,
) -> f32 {
    let ((m, k), n) = (a.dim(), b.ncols());
    assert!(
        b.nrows() == k && out.dim() == (m, n),
        "product_into: ({m}, {k}) · {:?} into {:?}",
        b.dim(),
        out.dim()
    );
    let done = if !has_vector_kernels() {
        let beta = if adding { 1.0 } else { 0.0 };
        ndarray::linalg::general_mat_mul(1.0, &a, &b, beta, &mut out);
        true
    } else {
        thin::product_adding_into(a, b, out.view_mut(), adding)
    };
    if done {
        if let Some(epilogue) = epilogue {
            epilogue.apply_across_threads(out.view_mut());
        }
        return if measuring { max_magnitude_of(out.view()) } else { 0.0 };
    }
    match threads.unwrap_or_else(|| threads_for(m.saturating_mul(k).saturating_mul(n))) {
        1 => block(a, b, out, adding, epilogue, measuring),
        threads => on_pool(|| split(a, b, out, adding, epilogue, measuring, threads)),
    }
}

/// One thread's block of a product: [`kernel::product_then`], then with `measuring` the largest magnitude in the
/// block (else 0).
fn block(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
    adding: bool,
    epilogue: Option<BiasActivation>,
    measuring: bool,
) -> f32 {
    kernel::product_then(a, b, out.view_mut(), adding, epilogue);
    match measuring {
        true => on_this_thread(|| max_magnitude_of(out.view())),
        false => 0.0,
    }
}

/// The largest [`magnitude`](crate::optim::magnitude) in `view`, a run at a time.
fn max_magnitude_of(view: ArrayView2<f32>) -> f32 {
    match view.as_slice_memory_order() {
        Some(values) => crate::optim::max_magnitude(values),
        None => (view.rows().into_iter())
            .map(|row| match row.as_slice() {
                Some(values) => crate::optim::max_magnitude(values),
                None => row.iter().copied().map(crate::optim::magnitude).fold(0.0, f32::max),
            })
            .fold(0.0, f32::max),
    }
}

/// The AVX-512 kernel's tile width in columns, the unit in which [`split`] cuts `out`'s columns.
const TILE: usize = 64;

/// `out = a · b` on `parts` threads of the pool, each computing a block of `out` on one thread: blocks of
/// columns (`a` times a block of `b`'s columns) where `out` has enough columns, else blocks of rows. With
/// `measuring`, returns the largest magnitude in `out`, each block measured by its thread (else 0).
///
/// Each block packs only its own part of `b`, in parallel. Blocks are cut near multiples of 64 columns (the
/// AVX-512 kernel's tile), moved to where the rows cross a cache line ([`at_cache_line`]; for the training
/// buffers, which start on a line, that is the multiple itself). No block shares a sum with another, so the
/// results are those of one thread. Each block applies `epilogue` (its columns of it) to its own rows.
fn split(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    out: ArrayViewMut2<f32>,
    adding: bool,
    epilogue: Option<BiasActivation>,
    measuring: bool,
    parts: usize,
) -> f32 {
    let half = parts / 2;
    let (rows, columns) = out.dim();
    // When the kernel swaps the product to pack the smaller transposed `a` instead of a column-major `b`
    // (`kernel::swaps`), every block of columns would pack all of that `aᵀ` again: blocks of rows pack a part
    // each (VAE-2's `dX = dZ · W4ᵀ` at batch 128: 0.97× the epoch). A transposed `a` is a weight gradient
    // (`dW = xᵀ · dz`): in blocks of rows, each thread's block is the run of elements the optimizer's update hands
    // the same thread next, still in its cache (AE-16 at batch 32: 0.97× the epoch). And blocks of columns narrower
    // than four tiles would pass each group of `a`'s rows, loaded into L1, by too few strips of `b`: in blocks of
    // rows each thread packs all of `b` but runs every strip past each group (AE-16's `X · W1` at batch 256, 256
    // columns: the epoch 0.97–0.98×). Tiles are counted, not columns: 500 columns are eight tiles, the last one
    // partly filled, and split well by columns.
    let by_rows = rows >= 2 * TILE && (kernel::swaps(&a, &b) || is_transposed(&a) || narrow(columns, parts));
    if parts >= 2 && columns >= 2 * TILE && !by_rows {
        // the nearest tile boundary, at least one tile either side, moved to where the rows cross a cache line
        let mid = ((columns * half / parts + TILE / 2) / TILE * TILE).clamp(TILE, columns - TILE);
        let mid = at_cache_line(&out, mid).min(columns - 1);
        let (b_left, b_right) = b.split_at(Axis(1), mid);
        let (out_left, out_right) = out.split_at(Axis(1), mid);
        let (left, right) = (
            epilogue.map(|e| e.for_columns(0..mid)),
            epilogue.map(|e| e.for_columns(mid..columns)),
        );
        let (left, right) = join(
            || split(a, b_left, out_left, adding, left, measuring, half),
            || split(a, b_right, out_right, adding, right, measuring, parts - half),
        );
        left.max(right)
    } else if parts >= 2 && rows >= 2 * TILE {
        let mid = rows * half / parts;
        let (a_top, a_bottom) = a.split_at(Axis(0), mid);
        let (out_top, out_bottom) = out.split_at(Axis(0), mid);
        let (top, bottom) = join(
            || split(a_top, b, out_top, adding, epilogue, measuring, half),
            || split(a_bottom, b, out_bottom, adding, epilogue, measuring, parts - half),
        );
        top.max(bottom)
    } else {
        block(a, b, out, adding, epilogue, measuring)
    }
}

/// Whether blocks of `columns` in `parts` would be narrower than four tiles each (see [`split`]).
fn narrow(columns: usize, parts: usize) -> bool {
    columns.div_ceil(TILE) < 4 * parts
}

/// Whether `view` is laid out column by column (the transpose of a standard array), with more than one column.
fn is_transposed(view: &ArrayView2<f32>) -> bool {
    view.ncols() > 1 && view.nrows() > 1 && view.strides()[0] == 1 && view.strides()[1] != 1
}

/// `column`, moved on to the first column at which the rows of `view` cross a 64-byte cache line, when its rows
/// are runs that all start at the same offset within a line (else `column` as it is). Threads that write the
/// columns either side then never write the same line: a line written by two cores passes back and forth between
/// them at every store (measured: `dW1` at batch 32 on 2 threads, 150 → 350 GFLOP/s once split on a line).
pub(crate) fn at_cache_line(view: &ArrayViewMut2<f32>, column: usize) -> usize {
    const LINE: usize = 64 / std::mem::size_of::<f32>();
    let rows_alike = view.nrows() <= 1 || view.strides()[0].unsigned_abs().is_multiple_of(LINE);
    if view.strides()[1] != 1 || !rows_alike {
        return column;
    }
    let first = view.as_ptr() as usize / std::mem::size_of::<f32>() + column;
    column + (LINE - first % LINE) % LINE
}

/// A `(rows, columns)` array of zeros, in standard layout, whose first element starts a 64-byte cache line: the
/// training buffers are made so, so that where the products and sweeps split their rows between threads (at
/// multiples of 64 columns) is also where the rows cross a cache line, and whole vectors are stored aligned.
/// ... or an error naming `what` and the bytes it needed when they cannot be allocated (a batch or layer too
/// large for memory is an error, not an abort).
pub(crate) fn try_line_aligned_zeros(rows: usize, columns: usize, what: &str) -> crate::Result<ndarray::Array2<f32>> {
    const LINE: usize = 64 / std::mem::size_of::<f32>();
    let (len, padded) = match rows.checked_mul(columns) {
        Some(len) if len.checked_add(LINE).is_some() => (len, len + LINE),
        _ => {
            let needs = describe_bytes(None);
            return Err(crate::Error::InvalidArgument(format!(
                "{what} ({rows} × {columns}) needs {needs}"
            )));
        }
    };
    let flat = ndarray::Array1::from(try_zeros(padded, what)?);
    let start = flat.as_ptr().align_offset(64).min(LINE);
    let aligned = flat.slice_move(ndarray::s![start..start + len]);
    aligned
        .into_shape_with_order((rows, columns))
        .map_err(|e| crate::Error::InvalidArgument(format!("{what}: {e}")))
}

/// The products' entry points for the crate's own benchmarks (`benches/`) and allocation test
/// (`tests/allocations.rs`), gathered with the others in `autoencoder::__internals`; not part of the public API.
#[doc(hidden)]
pub mod internals {
    use ndarray::{ArrayView2, ArrayViewMut2};

    /// `out = a · b` through the crate's product (threads, kernel choice and all), as training computes it.
    ///
    /// **Panics** if the shapes do not agree.
    pub fn product_into(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>) {
        super::product_into(a, b, out)
    }

    /// Runs `work` on the crate's thread pool (on the calling thread with one thread), as a training step runs
    /// its products: from inside the pool, products split across its threads without a hand-over each.
    pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
        super::on_pool(work)
    }
}

/// Whether this CPU has the vector instructions the crate's kernel is written for (checked at run time): AVX2
/// with FMA on x86 (AVX-512 comes on top where present). Elsewhere ndarray's `matrixmultiply` is faster than the
/// kernel compiled for plain SSE2 or scalars.
fn has_vector_kernels() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2, ShapeBuilder};

    /// A deterministic matrix with varied values, in standard or column-major layout.
    fn matrix(rows: usize, cols: usize, seed: usize, column_major: bool) -> Array2<f32> {
        let value = |(i, j): (usize, usize)| ((i * 31 + j * 17 + seed * 7) % 23) as f32 / 11.0 - 1.0;
        if column_major {
            Array2::from_shape_fn((rows, cols).f(), value)
        } else {
            Array2::from_shape_fn((rows, cols), value)
        }
    }

    fn reference(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols())
                .map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]]))
                .sum::<f64>() as f32
        })
    }

    fn assert_close(got: &Array2<f32>, want: &Array2<f32>) {
        assert_eq!(got.dim(), want.dim());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }

    #[test]
    fn matches_the_definition_for_every_layout() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 2),
            (33, 70, 17),
            (64, 16, 64),
            (100, 3, 130),
            (7, 200, 1),
            (40, 784, 70),   // two blocks of the sum
            (13, 1100, 200), // three blocks, a narrow last strip
            (200, 530, 33),
        ] {
            for layouts in 0..8 {
                let a = matrix(m, k, 1, layouts & 1 != 0);
                let b = matrix(k, n, 2, layouts & 2 != 0);
                let mut out = if layouts & 4 != 0 {
                    Array2::from_elem((m, n).f(), f32::NAN)
                } else {
                    Array2::from_elem((m, n), f32::NAN)
                };
                product_into(a.view(), b.view(), out.view_mut());
                assert_close(&out, &reference(a.view(), b.view()));
            }
        }
    }

    #[test]
    fn never_reads_what_an_earlier_product_left_in_the_packing_buffers() {
        // NaN everywhere in this thread's packing buffers first: any value a product read without writing it
        // in this call would show as NaN.
        let poison = Array2::from_elem((300, 1100), f32::NAN);
        let mut out = Array2::zeros((300, 300));
        kernel::product_into(poison.view(), poison.t(), out.view_mut());
        kernel::product_into(poison.t(), poison.view(), Array2::zeros((1100, 1100)).view_mut());
        for &(m, k, n) in &[
            (256, 256, 784),
            (88, 64, 16),
            (64, 88, 16),
            (9, 600, 100),
            (200, 30, 250),
        ] {
            for layouts in 0..4 {
                let a = matrix(m, k, 8, layouts & 1 != 0);
                let b = matrix(k, n, 9, layouts & 2 != 0);
                let mut out = Array2::from_elem((m, n), f32::NAN);
                kernel::product_into(a.view(), b.view(), out.view_mut());
                assert_close(&out, &reference(a.view(), b.view()));
            }
        }
    }

    #[test]
    fn reads_transposed_and_strided_views() {
        let x = matrix(40, 30, 3, false);
        let dz = matrix(40, 20, 4, false);
        let w = matrix(30, 20, 5, false);
        // dW = xᵀ · dz
        let mut dw = Array2::zeros((30, 20));
        product_into(x.t(), dz.view(), dw.view_mut());
        assert_close(&dw, &reference(x.t(), dz.view()));
        // dX = dz · Wᵀ
        let mut dx = Array2::zeros((40, 30));
        product_into(dz.view(), w.t(), dx.view_mut());
        assert_close(&dx, &reference(dz.view(), w.t()));
        // every other row and a reversed column order, into a slice of a larger buffer
        let a = x.slice(s![..;2, ..;-1]);
        let mut big = Array2::from_elem((30, 25), f32::NAN);
        product_into(a, w.view(), big.slice_mut(s![5..25, ..20]));
        assert_close(&big.slice(s![5..25, ..20]).to_owned(), &reference(a, w.view()));
        assert!(
            big.slice(s![..5, ..]).iter().all(|v| v.is_nan()),
            "wrote outside its view"
        );
        // a `b` whose rows and columns are not runs (every other one of both), and one with its columns reversed
        let wide = matrix(60, 70, 6, false);
        for b in [wide.slice(s![..;2, ..40;2]), wide.slice(s![..30, ..20;-1])] {
            let mut out = Array2::zeros((40, 20));
            product_into(x.view(), b, out.view_mut());
            assert_close(&out, &reference(x.view(), b));
        }
    }

    #[test]
    fn adding_adds_the_product_to_what_out_holds() {
        for &(m, k, n, layouts) in &[(33, 70, 17, 0), (40, 1100, 200, 1), (256, 300, 256, 2), (7, 0, 3, 0)] {
            let a = matrix(m, k, 10, layouts & 1 != 0);
            let b = matrix(k, n, 11, layouts & 2 != 0);
            let start = matrix(m, n, 12, false);
            let mut out = start.clone();
            product_on_this_thread(a.view(), b.view(), out.view_mut(), true);
            assert_close(&out, &(&start + &reference(a.view(), b.view())));
            let mut once = Array2::zeros((m, n));
            product_on_this_thread(a.view(), b.view(), once.view_mut(), false);
            let mut pooled = Array2::from_elem((m, n), f32::NAN);
            product_into(a.view(), b.view(), pooled.view_mut());
            assert_eq!(once, pooled, "on this thread, the same bits as on the pool");
        }
    }

    #[test]
    fn the_epilogue_gives_the_bits_of_the_product_then_the_sweep() {
        use crate::layers::activation::EVERY_KIND;
        use crate::layers::dense::sweeps::bias_activation_on_this_thread;
        // a few rows (read in place, then swept), one group, the AE-16 shapes (two panels of columns, two blocks
        // of the sum), a product computed transposed (`b` column-major, fewer rows than columns), narrow rows; into
        // a standard and a column-major output
        for &(m, k, n, b_transposed) in &[
            (1, 784, 256, false),
            (6, 64, 16, false),
            (7, 30, 40, false),
            (100, 256, 784, false),
            (88, 784, 256, false),
            (40, 1100, 200, false),
            (30, 300, 200, true),
            (150, 64, 16, false),
            (20, 0, 30, false), // an empty sum: the bias and activation alone
        ] {
            let a = matrix(m, k, 13, false);
            let b = matrix(k, n, 14, b_transposed);
            // values that reach every branch of the activations: large ones, zeros of both signs, NaN
            let bias = ndarray::Array1::from_shape_fn(n, |j| match j % 11 {
                0 => 100.0,
                1 => -100.0,
                2 => -0.0,
                3 => f32::NAN,
                j => j as f32 / 4.0 - 1.0,
            });
            let bias = bias.as_slice().unwrap();
            for activation in EVERY_KIND {
                let mut want = Array2::from_elem((m, n), f32::NAN);
                product_on_this_thread(a.view(), b.view(), want.view_mut(), false);
                bias_activation_on_this_thread(want.view_mut(), None, ndarray::ArrayView1::from(bias), activation);
                let same = |got: &Array2<f32>| {
                    got.iter()
                        .zip(&want)
                        .all(|(g, w)| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()))
                };
                let epilogue = BiasActivation::new(bias, activation);
                for column_major in [false, true] {
                    let mut got = Array2::from_elem((m, n).set_f(column_major), f32::NAN);
                    product_then_into(a.view(), b.view(), got.view_mut(), epilogue);
                    assert!(
                        same(&got),
                        "{activation}, {m}x{k}x{n}, column-major output: {column_major}"
                    );
                }
                for threads in [2, 3] {
                    let mut parts = Array2::from_elem((m, n), f32::NAN);
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    pool.install(|| {
                        split(
                            a.view(),
                            b.view(),
                            parts.view_mut(),
                            false,
                            Some(epilogue),
                            false,
                            threads,
                        )
                    });
                    assert!(same(&parts), "{activation}, {m}x{k}x{n}, {threads} threads");
                }
            }
        }
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let mut out = Array2::from_elem((3, 4), f32::NAN);
        product_into(
            Array2::zeros((3, 0)).view(),
            Array2::zeros((0, 4)).view(),
            out.view_mut(),
        );
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    #[should_panic(expected = "product_into")]
    fn mismatched_shapes_panic() {
        let mut out = Array2::zeros((2, 2));
        product_into(
            Array2::zeros((2, 3)).view(),
            Array2::zeros((4, 2)).view(),
            out.view_mut(),
        );
    }

    #[test]
    fn a_measured_product_returns_the_largest_magnitude_of_its_output() {
        let largest = |out: &Array2<f32>| out.iter().copied().map(crate::optim::magnitude).fold(0.0, f32::max);
        // a weight gradient's shapes (xᵀ · dz, split by rows), a forward's (split by columns), a thin one
        for &(m, k, n, layouts) in &[(784, 32, 256, 1), (256, 88, 784, 1), (88, 784, 256, 0), (3, 50, 40, 0)] {
            // nothing, or a value standing out (large, NaN, infinite) in the first or last row of the output (a
            // value of `a`) or in its first or last column (a value of `b`): in one block of either split
            let mut cases = vec![None];
            for value in [1e6, f32::NAN, f32::INFINITY] {
                cases.extend([(value, Some(0), None), (value, Some(m - 1), None)].map(Some));
                cases.extend([(value, None, Some(0)), (value, None, Some(n - 1))].map(Some));
            }
            for case in cases {
                let (mut a, mut b) = (matrix(m, k, 8, layouts & 1 != 0), matrix(k, n, 9, false));
                match case {
                    Some((value, Some(row), _)) => a[[row, k / 2]] = value,
                    Some((value, _, Some(column))) => b[[k / 2, column]] = value,
                    _ => {}
                }
                let mut single = Array2::from_elem((m, n), f32::NAN);
                let max = product_and_max_into(a.view(), b.view(), single.view_mut());
                let want = largest(&single);
                assert_eq!(max.to_bits(), want.to_bits(), "{m}x{k}x{n}, {case:?}");
                if let Some((value, _, _)) = case {
                    assert_eq!(max.is_finite(), value.is_finite(), "{m}x{k}x{n}, {case:?}");
                    assert!(max >= 5e5, "{m}x{k}x{n}, {case:?}: the value standing out was missed");
                }
                for threads in [2, 3] {
                    let mut parts = Array2::from_elem((m, n), f32::NAN);
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let max = pool.install(|| split(a.view(), b.view(), parts.view_mut(), false, None, true, threads));
                    assert_eq!(
                        max.to_bits(),
                        want.to_bits(),
                        "{threads} threads, {m}x{k}x{n}, {case:?}"
                    );
                }
            }
        }
    }

    /// Tiles are counted, not columns: a last tile partly filled counts.
    #[test]
    fn blocks_narrower_than_four_tiles_are_told_by_tiles() {
        assert!(narrow(256, 2) && narrow(448, 2) && narrow(511, 3));
        assert!(!narrow(449, 2) && !narrow(500, 2) && !narrow(512, 2) && !narrow(256, 1));
    }

    #[test]
    fn threaded_products_are_bit_identical_to_single_threaded() {
        // Large enough to be split: each thread writes its own tiles, no reduction across threads. Shapes of
        // AE-16's products (transposes included), with a partial batch of 88 rows.
        for &(m, k, n, layouts) in &[
            (256, 300, 256, 0),
            (88, 784, 256, 0),
            (784, 88, 256, 1),
            (88, 256, 784, 2),
            (256, 784, 256, 2),
            (100, 1100, 300, 3),
            // VAE-2's dX = dZ · W4ᵀ at batch 128: swapped in the kernel, so split by rows
            (128, 784, 512, 2),
            (130, 300, 200, 2),
            // by columns, in blocks of several panels of `b`; 500 columns: eight tiles, the last one partial
            (256, 300, 1100, 0),
            (128, 784, 500, 0),
        ] {
            let a = matrix(m, k, 6, layouts & 1 != 0);
            let b = matrix(k, n, 7, layouts & 2 != 0);
            let mut single = Array2::from_elem((m, n), f32::NAN);
            kernel::product_into(a.view(), b.view(), single.view_mut());
            assert_close(&single, &reference(a.view(), b.view()));
            for threads in [2, 3, 4] {
                let mut parts = Array2::from_elem((m, n), f32::NAN);
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| split(a.view(), b.view(), parts.view_mut(), false, None, false, threads));
                assert_eq!(parts, single, "{threads} threads, {m}x{k}x{n}, layouts {layouts}");
            }
        }
    }
}
