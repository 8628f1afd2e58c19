//! The matrix products of the training loop, in one place.
//!
//! Every layer does three per step: the forward `Z = X · W`, and in backward `dW = Xᵀ · dZ` and `dX = dZ · Wᵀ`.
//! Transposes are read as views (through their strides), never copied. All of them go through
//! [`product_into`], so that the kernel behind it can be changed for all of them at once.
//!
//! The kernel is the [`gemm`] crate (pure Rust, as candle and burn use): it picks its AVX-512, AVX2+FMA or NEON
//! kernels at run time from the CPU it finds, so one build runs everywhere. On CPUs where it has no SIMD kernel
//! (x86 without AVX2/FMA), ndarray's own product (`matrixmultiply`) is used instead.
//!
//! Large products split across the crate's threads ([`set_num_threads`]): through `gemm`'s own threading, or,
//! where `gemm` would first repack a transposed operand on one thread, by blocks of output columns computed on
//! one thread each (see [`split`]). Small products stay on one thread, where splitting costs more than it
//! saves. No split ever divides a sum, so every thread count gives the same bits.

mod threads;

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

pub(crate) use threads::{join, on_pool, parts_for};
pub use threads::{num_threads, set_num_threads};

/// `out = a · b`, overwriting `out`. The shapes must agree: `a` is `(m, k)`, `b` is `(k, n)`, `out` is `(m, n)`.
/// Any strides are accepted (transposed views included).
///
/// **Panics** if the shapes do not agree: callers check shapes at the crate's boundary, so a mismatch here is a
/// bug.
pub(crate) fn product_into(a: ArrayView2<f32>, b: ArrayView2<f32>, mut out: ArrayViewMut2<f32>) {
    let ((m, k), n) = (a.dim(), b.ncols());
    assert!(
        b.nrows() == k && out.dim() == (m, n),
        "product_into: ({m}, {k}) · {:?} into {:?}",
        b.dim(),
        out.dim()
    );
    if !gemm_has_simd_kernels() || !is_unaliased(&out) {
        ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut out);
        return;
    }
    match threads::threads_for(m.saturating_mul(k).saturating_mul(n)) {
        1 => gemm_into(a, b, out, 1),
        // gemm's own threading, except where it would pack a transposed `b` on one thread first
        threads if b.ncols() <= 1 || b.strides()[1] == 1 => on_pool(|| gemm_into(a, b, out, threads)),
        threads => on_pool(|| split(a, b, out, threads)),
    }
}

/// `out = a · b` on `parts` threads of the pool, each computing a block of `out` on one thread: blocks of
/// columns (`a` times a block of `b`'s columns) where `out` has enough columns, else blocks of rows.
///
/// For products whose `b` `gemm` must repack (a transposed weight matrix, as in `dL/dx = dL/dz · Wᵀ`): `gemm`'s
/// own threading packs all of `b` on one thread while the other waits, which at batch 32 halves the speed of
/// the product; column blocks each pack only their own part of `b`, in parallel. Blocks are cut at multiples of
/// 64 columns, the AVX-512 kernel's tile. No block shares a sum with another, so the results are those of one
/// thread.
fn split(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>, parts: usize) {
    const TILE: usize = 64;
    let half = parts / 2;
    let (rows, columns) = out.dim();
    if parts >= 2 && columns >= 2 * TILE {
        // the nearest tile boundary, at least one tile either side
        let mid = ((columns * half / parts + TILE / 2) / TILE * TILE).clamp(TILE, columns - TILE);
        let (b_left, b_right) = b.split_at(Axis(1), mid);
        let (out_left, out_right) = out.split_at(Axis(1), mid);
        join(
            || split(a, b_left, out_left, half),
            || split(a, b_right, out_right, parts - half),
        );
    } else if parts >= 2 && rows >= 2 * TILE {
        let mid = rows * half / parts;
        let (a_top, a_bottom) = a.split_at(Axis(0), mid);
        let (out_top, out_bottom) = out.split_at(Axis(0), mid);
        join(
            || split(a_top, b, out_top, half),
            || split(a_bottom, b, out_bottom, parts - half),
        );
    } else {
        gemm_into(a, b, out, 1);
    }
}

/// How many calls into the `gemm` crate are running, on any thread (see [`internals::gemm_calls_in_progress`]).
static GEMM_CALLS_IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);

/// Counts a call into `gemm` for as long as it lives, unwinding included.
struct GemmCall;

impl GemmCall {
    fn start() -> GemmCall {
        GEMM_CALLS_IN_PROGRESS.fetch_add(1, Ordering::SeqCst);
        GemmCall
    }
}

impl Drop for GemmCall {
    fn drop(&mut self) {
        GEMM_CALLS_IN_PROGRESS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `out = a · b` with the `gemm` crate on `threads` threads (the current rayon pool's, when above 1).
///
/// **Panics** if the shapes do not agree or `out` is not [unaliased](is_unaliased).
#[allow(unsafe_code)]
fn gemm_into(a: ArrayView2<f32>, b: ArrayView2<f32>, mut out: ArrayViewMut2<f32>, threads: usize) {
    let ((m, k), n) = (a.dim(), b.ncols());
    assert!(b.nrows() == k && out.dim() == (m, n) && is_unaliased(&out));
    let _call = GemmCall::start();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let (a_rows, a_cols) = (a.strides()[0], a.strides()[1]);
    let (b_rows, b_cols) = (b.strides()[0], b.strides()[1]);
    let (out_rows, out_cols) = (out.strides()[0], out.strides()[1]);
    // SAFETY: `gemm::gemm` reads `lhs[i, p] = *lhs.offset(i·lhs_rs + p·lhs_cs)` for i < m, p < k, the same for
    // `rhs` (p < k, j < n), and writes `dst[i, j]` for i < m, j < n (after reading it only when `read_dst`).
    // - In bounds: each pointer is its view's first element and each stride its view's own (ndarray's strides are
    //   in elements, like gemm's, and may be negative, which gemm handles), so every address gemm forms is an
    //   element of that view, inside the allocation that ndarray guarantees for it. Shapes agree (asserted), so
    //   no index leaves its view. With `m == 0` or `n == 0` gemm returns at once; with `k == 0` it only writes
    //   zeros to `dst` and never reads the (possibly dangling, never null) input pointers.
    // - No data race or aliasing: `out` is a mutable view, so for the whole call nothing else reads or writes its
    //   elements, and `a`, `b` (shared views) cannot overlap it. `is_unaliased(&out)` proves that distinct (i, j)
    //   are distinct addresses, so the threads gemm runs (each writing its own tiles of `dst`) never write one
    //   element twice. The inputs are only read. gemm joins all its threads before returning, so no pointer
    //   outlives the borrows.
    // - Valid values and alignment: the pointers come from live `f32` views, aligned and initialised.
    // - `read_dst = false` (alpha ignored, beta = 1): `dst = lhs · rhs`, no conjugation (real numbers).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            out_cols,
            out_rows,
            false,
            a.as_ptr(),
            a_cols,
            a_rows,
            b.as_ptr(),
            b_cols,
            b_rows,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Entry points for the crate's own benchmarks (`benches/`) and allocation test (`tests/allocations.rs`); not part
/// of the public API, and not covered by semantic versioning.
#[doc(hidden)]
pub mod internals {
    use ndarray::{ArrayView2, ArrayViewMut2};

    /// `out = a · b` through the crate's product (threads, kernel choice and all), as training computes it.
    ///
    /// **Panics** if the shapes do not agree.
    pub fn product_into(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>) {
        super::product_into(a, b, out)
    }

    /// How many calls into the `gemm` crate are running right now, on any thread. The `gemm` crate allocates
    /// small bookkeeping and packing buffers inside every call (it has no API to pass them in); a counting
    /// allocator uses this to tell those from the crate's own allocations.
    pub fn gemm_calls_in_progress() -> usize {
        super::GEMM_CALLS_IN_PROGRESS.load(super::Ordering::SeqCst)
    }

    /// Runs `work` on the crate's thread pool (on the calling thread with one thread), as a training step runs
    /// its products: from inside the pool, products split across its threads without a hand-over each.
    pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
        super::on_pool(work)
    }

    /// How many times work has been handed to the crate's thread pool from outside it. Each hand-over pushes a
    /// job onto rayon's injector queue, which allocates one block per 63 jobs.
    pub fn pool_entries() -> usize {
        super::threads::pool_entries()
    }
}

/// Whether distinct indices of `out` are distinct elements: one axis steps over the whole extent of the other.
/// True for every view ndarray's safe API makes (standard, transposed, sliced); checked rather than assumed
/// because `gemm_into`'s soundness rests on it.
fn is_unaliased(out: &ArrayViewMut2<f32>) -> bool {
    let (rows, cols) = out.dim();
    let (row_step, col_step) = (out.strides()[0].unsigned_abs(), out.strides()[1].unsigned_abs());
    rows <= 1
        || cols <= 1
        || row_step >= cols.saturating_mul(col_step).max(1)
        || col_step >= rows.saturating_mul(row_step).max(1)
}

/// Whether `gemm` has vector kernels for this CPU (checked at run time): AVX2 with FMA (its AVX-512 kernels come
/// on top of those) on x86, NEON on aarch64. Elsewhere ndarray's `matrixmultiply` is faster than gemm's scalar
/// fallback.
fn gemm_has_simd_kernels() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        // gemm picks its FMA kernels when it sees FMA, and those need AVX2 too (AMD Piledriver has FMA only).
        std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("neon")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
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
    fn threaded_products_are_bit_identical_to_single_threaded() {
        // Large enough to be split: each thread writes its own tiles, no reduction across threads.
        let a = matrix(256, 300, 6, false);
        let b = matrix(300, 256, 7, false);
        let mut single = Array2::zeros((256, 256));
        gemm_into(a.view(), b.view(), single.view_mut(), 1);
        for threads in [2, 3] {
            let mut split = Array2::zeros((256, 256));
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| gemm_into(a.view(), b.view(), split.view_mut(), threads));
            assert_eq!(split, single, "{threads} threads");
        }
    }

    #[test]
    fn aliasing_check_accepts_ordinary_views() {
        let mut m = Array2::<f32>::zeros((4, 6));
        assert!(is_unaliased(&m.view_mut()));
        assert!(is_unaliased(&m.view_mut().reversed_axes()));
        assert!(is_unaliased(&m.slice_mut(s![..;2, 1..;3])));
        assert!(is_unaliased(&m.slice_mut(s![..;-1, ..])));
    }
}
