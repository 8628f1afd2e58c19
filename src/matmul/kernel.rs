//! The matrix product on one thread: `out = a · b`, blocked for the caches, with a packed `b` and a
//! register-tiled inner kernel written with [`pulp`]'s portable SIMD (AVX-512 or AVX2, chosen at run time), in
//! safe Rust.
//!
//! How it is laid out (the Goto / BLIS scheme, sized for the shapes of an autoencoder's layers):
//! - The sum over `k` is cut into blocks of at most [`MAX_DEPTH`] terms, of equal length ±1 (784 = 2 · 392). For
//!   one block, a panel of `b` (at most [`MAX_WIDTH`] columns) is packed so that each group of `NR` columns (a
//!   *strip*: 4 vectors, 64 floats with AVX-512) is one contiguous run of `depth · NR` floats, row after row.
//! - `a` is read [`ROWS`] rows at a time (a *group*), in place when its rows are runs in memory; a transposed `a`
//!   (`xᵀ` in `dW = xᵀ · dz`) is packed [`GROUPS`] groups at a time (each of its columns read as one run), and
//!   the last, incomplete group is packed too, column after column. The group stays in L1 while every strip of
//!   the packed `b` passes (from L2).
//! - The kernel ([`tile`]) keeps a `ROWS × NR` tile of `out` in registers (24 of the 32 AVX-512 registers, 12
//!   of the 16 AVX2 ones): per term of the sum it loads one row of the strip as `NR / lanes` vectors, and for
//!   each row of the group multiplies them by that row's value of `a` (broadcast) into the row's accumulators,
//!   with fused multiply-adds. The last strip and the last group take as few vectors and rows as they need.
//! - The first block of the sum writes the tile to `out`; later blocks add to it.
//! - `dx = dz · Wᵀ` with fewer rows than columns is computed as `dxᵀ = W · dzᵀ`: the operand packed (and
//!   transposed on the way) is then the small `dzᵀ` instead of all of `Wᵀ`. Its tiles are stored to the
//!   transposed view `dxᵀ` column by column: each column of a tile (`ROWS` floats, fewer in the last group of
//!   rows) is a run in one row of `dx`.
//!
//! Each element of `out` is therefore `Σ` over the blocks (in order) of `Σ_p a[i, p] · b[p, j]` (in order,
//! fused), whatever the split of `out` among threads: results are the same bits on any thread count.
//!
//! The packing buffers are the thread's own, made at their largest size on its first product and reused by
//! every later one, so that no product allocates once each thread has run one.

use std::borrow::Borrow;
use std::cell::RefCell;

use ndarray::{s, ArrayView2, ArrayViewMut2, Axis};
use pulp::{Simd, WithSimd};

use super::epilogue::BiasActivation;
use super::transpose::pack_columns;

/// Rows of `out` (and of `a`) per tile of the kernel.
pub(super) const ROWS: usize = 6;
/// The most terms of the sum per block: a group of rows of `a` (`MAX_DEPTH · ROWS` floats, 12 KiB) stays in L1
/// while the strips of `b` (`MAX_DEPTH · NR` floats each) stream from L2.
pub(super) const MAX_DEPTH: usize = 512;
/// The most columns of `b` packed per block: `MAX_DEPTH · MAX_WIDTH` floats (1 MiB) in L2 (and L3).
const MAX_WIDTH: usize = 512;
/// The widest strip: 4 AVX-512 vectors.
const MAX_STRIP: usize = 64;
/// Groups of rows of a transposed `a` packed together (`GROUPS · ROWS · MAX_DEPTH` floats, 48 KiB): each
/// of `a`'s columns (a row of `x` in `xᵀ`) is then read as one run of `GROUPS · ROWS` values, not `GROUPS` runs of
/// `ROWS` far apart.
const GROUPS: usize = 4;

thread_local! {
    /// This thread's packing buffers: `(packed b, a packed group of rows of a)`, made on first use.
    static PACKING: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `out = a · b` on the calling thread. `a` is `(m, k)`, `b` is `(k, n)`, `out` is `(m, n)`; any strides.
///
/// **Panics** if the shapes do not agree (a bug in the caller: shapes are checked at the crate's boundary).
#[cfg(test)]
pub(super) fn product_into(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>) {
    product_adding_into(a, b, out, false)
}

/// `out = a · b`, or with `adding`, `out += a · b` (each block of the sum added to `out` in turn, as the blocks
/// after the first always are), on the calling thread.
pub(super) fn product_adding_into(a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>, adding: bool) {
    product_then(a, b, out, adding, None)
}

/// [`product_adding_into`], then `epilogue` applied to each group of rows of `out` as soon as its sums are
/// complete (while the rows are in L1), or to all of `out` at the end when the product is computed transposed.
pub(super) fn product_then(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
    adding: bool,
    epilogue: Option<BiasActivation>,
) {
    assert!(a.ncols() == b.nrows() && out.dim() == (a.nrows(), b.ncols()));
    if swaps(&a, &b) {
        product_adding_into(
            b.reversed_axes(),
            a.reversed_axes(),
            out.view_mut().reversed_axes(),
            adding,
        );
        if let Some(epilogue) = epilogue {
            epilogue.apply_on_this_thread(out);
        }
        return;
    }
    PACKING.with(|packing| match packing.try_borrow_mut() {
        Ok(mut packing) => {
            let (packed_b, packed_a) = &mut *packing;
            pulp::Arch::new().dispatch(Product {
                a,
                b,
                out,
                adding,
                epilogue,
                packed_b,
                packed_a,
            })
        }
        // Only if a product ever ran inside another on one thread: correct, with buffers of its own.
        Err(_) => pulp::Arch::new().dispatch(Product {
            a,
            b,
            out,
            adding,
            epilogue,
            packed_b: &mut Vec::new(),
            packed_a: &mut Vec::new(),
        }),
    })
}

/// Whether [`product_adding_into`] computes `a · b` as `(bᵀ · aᵀ)ᵀ`: when `b` would have to be transposed while
/// packed (as `Wᵀ` in `dx = dz · Wᵀ`) and `a` has fewer rows, `outᵀ = bᵀ · aᵀ` packs the smaller `aᵀ` instead and
/// reads the rows of `bᵀ` in place.
pub(super) fn swaps(a: &ArrayView2<f32>, b: &ArrayView2<f32>) -> bool {
    let column_major = |v: &ArrayView2<f32>| v.strides()[0] == 1 && v.strides()[1] != 1;
    column_major(b) && !column_major(a) && a.nrows() < b.ncols().min(a.ncols())
}

/// Makes this thread's packing buffers now (each pool thread does when the pool is made), so that a product that
/// runs on a thread for the first time, in the middle of training, does not allocate them then.
pub(super) fn reserve_packing() {
    PACKING.with(|packing| {
        if let Ok(mut packing) = packing.try_borrow_mut() {
            let (packed_b, packed_a) = &mut *packing;
            aligned(packed_b, MAX_DEPTH * MAX_WIDTH);
            aligned(packed_a, MAX_DEPTH * ROWS * GROUPS);
        }
    })
}

/// The product as a [`WithSimd`] operation, so that it is compiled for (and run with) the CPU's widest vectors.
struct Product<'a, 'p> {
    a: ArrayView2<'a, f32>,
    b: ArrayView2<'a, f32>,
    out: ArrayViewMut2<'a, f32>,
    /// `out += a · b` rather than `out = a · b`.
    adding: bool,
    /// Applied to each group of rows of `out` once its sums are complete.
    epilogue: Option<BiasActivation<'a>>,
    packed_b: &'p mut Vec<f32>,
    packed_a: &'p mut Vec<f32>,
}

impl WithSimd for Product<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        // `NR / lanes` vectors per row of the tile: 4 with 32 vector registers (AVX-512), 2 with 16 (AVX2).
        if S::REGISTER_COUNT >= 32 {
            blocked::<S, 4>(simd, self)
        } else {
            blocked::<S, 2>(simd, self)
        }
    }
}

/// The blocked product with tiles of `ROWS × (VECTORS · lanes)`.
#[inline(always)]
fn blocked<S: Simd, const VECTORS: usize>(simd: S, product: Product) {
    let Product {
        a,
        b,
        mut out,
        adding,
        epilogue,
        packed_b,
        packed_a,
    } = product;
    let ((m, k), n) = (a.dim(), b.ncols());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !adding {
            out.fill(0.0);
        }
        if let Some(epilogue) = epilogue {
            epilogue.apply_on_this_thread(out);
        }
        return;
    }
    let strip = VECTORS * S::F32_LANES;
    let depth_max = depth_per_block(k);
    let width_max = MAX_WIDTH.div_ceil(strip) * strip;
    // Both buffers at their largest, whatever the product: a thread allocates them once, on its first product.
    let packed_b = aligned(packed_b, MAX_DEPTH * MAX_WIDTH);
    let packed_groups = aligned(packed_a, MAX_DEPTH * ROWS * GROUPS);
    // Rows of `a` are read in place when they are runs; otherwise (a transposed `a`, as `xᵀ` in `dW = xᵀ · dz`),
    // and for a last, incomplete group of rows, each group of rows is packed just before its use.
    let a_in_place = a.strides()[1] == 1;

    for (block, p0) in (0..k).step_by(depth_max).enumerate() {
        let depth = depth_max.min(k - p0);
        let a_block = a.slice(s![.., p0..p0 + depth]);
        // A transposed `a` is read through the rows of `x`: the runs of `a`'s columns.
        let mut a_columns: [&[f32]; MAX_DEPTH] = [&[]; MAX_DEPTH];
        let columns_are_runs = !a_in_place
            && a_block.columns().into_iter().zip(&mut a_columns).all(|(column, run)| {
                *run = column.to_slice().unwrap_or(&[]);
                run.len() == m
            });
        for col0 in (0..n).step_by(width_max) {
            let width = width_max.min(n - col0);
            let strips = width.div_ceil(strip);
            let packed_b = &mut packed_b[..strips * strip * depth];
            pack_b::<S, VECTORS>(b.slice(s![p0..p0 + depth, col0..col0 + width]), packed_b);
            // The group of rows of `a` stays in L1 while the strips of `b` pass (from L2).
            let mut panel = out.slice_mut(s![.., col0..col0 + width]);
            // groups of ROWS rows, then (if the rows end in one or two more) the last rows four at a time
            let tail = tail_start(m, columns_are_runs);
            let (a_groups, a_tail) = a_block.split_at(Axis(0), tail);
            let (mut target_groups, mut target_tail) = panel.view_mut().split_at(Axis(0), tail);
            let groups =
                (a_groups.axis_chunks_iter(Axis(0), ROWS)).zip(target_groups.axis_chunks_iter_mut(Axis(0), ROWS));
            let tail_groups = (a_tail.axis_chunks_iter(Axis(0), 4)).zip(target_tail.axis_chunks_iter_mut(Axis(0), 4));
            for (group, (a_rows, mut target)) in groups.chain(tail_groups).enumerate() {
                let group_rows = match a_in_place.then(|| six_rows(a_rows)).flatten() {
                    Some(rows) => GroupRows::InPlace(rows),
                    None if columns_are_runs => {
                        if group % GROUPS == 0 {
                            pack_groups(&a_columns[..depth], group * ROWS, m, packed_groups);
                        }
                        GroupRows::Packed(&packed_groups[(group % GROUPS) * depth * ROWS..][..depth * ROWS])
                    }
                    None => {
                        let packed_rows = &mut packed_groups[..depth * ROWS];
                        pack_a(a_rows, packed_rows);
                        GroupRows::Packed(packed_rows)
                    }
                };
                let mut target_rows = OutputRows::new(&mut target);
                let mut packed_strips = &packed_b[..];
                for j0 in (0..width).step_by(strip) {
                    let vectors = (width - j0).min(strip).div_ceil(S::F32_LANES);
                    let (packed_strip, rest) = packed_strips.split_at(vectors * S::F32_LANES * depth);
                    packed_strips = rest;
                    let columns = j0..(j0 + strip).min(width);
                    let accumulate = adding || block > 0;
                    let rows = (group_rows, &mut target_rows);
                    // a last, incomplete group of rows computes as few rows as it has (rounded up to even)
                    match a_rows.nrows() {
                        1 | 2 => strip_product::<S, 2, VECTORS>(simd, rows, packed_strip, vectors, columns, accumulate),
                        3 | 4 => strip_product::<S, 4, VECTORS>(simd, rows, packed_strip, vectors, columns, accumulate),
                        _ => strip_product::<S, ROWS, VECTORS>(simd, rows, packed_strip, vectors, columns, accumulate),
                    }
                }
                // the last block of the sum has completed these rows' sums in this panel's columns
                if let (Some(epilogue), true) = (epilogue, p0 + depth == k) {
                    epilogue.for_columns(col0..col0 + width).apply_on_this_thread(target);
                }
            }
        }
    }
}

/// Where the kernel stops taking `m` rows [`ROWS`] at a time and takes the rest four at a time: before the last
/// group, when one or two rows would be left after it (two groups of four, or four and three, instead); otherwise
/// `m`. Alone, those rows would be a tile of two rows, whose four sums are too few to keep the multiply-adds busy
/// while each waits for the one before (the forward products at batch 32 on Zen 3: 0.97× the time). With `fixed`,
/// `m` (the packed groups of a transposed `a` are cut [`ROWS`] at a time throughout).
fn tail_start(m: usize, fixed: bool) -> usize {
    match m % ROWS {
        1 | 2 if !fixed && m > ROWS => (m / ROWS - 1) * ROWS,
        _ => m,
    }
}

/// The terms of the sum per block for a sum of `k` terms (`k > 0`): blocks of equal length ±1, at most
/// [`MAX_DEPTH`] (784 = 2 · 392).
pub(super) fn depth_per_block(k: usize) -> usize {
    k.div_ceil(k.div_ceil(MAX_DEPTH))
}

/// Packs the next (at most) [`GROUPS`] groups of rows of a transposed `a`, from row `i0` on, out of `columns`
/// (`a`'s columns as runs, `m` long each): group after group, each `depth` columns of `ROWS` floats, the rows
/// past `m` as zeros. Each column is read once, as one run.
fn pack_groups(columns: &[&[f32]], i0: usize, m: usize, packed: &mut [f32]) {
    let depth = columns.len();
    let rows = (m - i0).min(GROUPS * ROWS);
    let (groups, _) = pulp::as_arrays_mut::<ROWS, f32>(&mut packed[..rows.div_ceil(ROWS) * depth * ROWS]);
    for (p, run) in columns.iter().enumerate() {
        let (whole, last) = pulp::as_arrays::<ROWS, f32>(&run[i0..i0 + rows]);
        // a copy of known size per group, inlined (one of variable size would be a call to `memcpy`)
        for (g, values) in whole.iter().enumerate() {
            groups[g * depth + p] = *values;
        }
        if !last.is_empty() {
            let target = &mut groups[whole.len() * depth + p];
            *target = [0.0; ROWS];
            target[..last.len()].copy_from_slice(last);
        }
    }
}

/// Where the kernel reads a group of `ROWS` rows of `a`: the rows themselves, or their packed copy.
#[derive(Clone, Copy)]
enum GroupRows<'a> {
    InPlace([&'a [f32]; ROWS]),
    Packed(&'a [f32]),
}

/// One tile: `R` rows of the group times one strip of `b` (`vectors` wide, at most `VECTORS`), stored to
/// `columns`. The last strip may be narrower than the others: it takes as few vectors as its columns need.
#[inline(always)]
fn strip_product<S: Simd, const R: usize, const VECTORS: usize>(
    simd: S,
    rows: (GroupRows, &mut OutputRows),
    packed_strip: &[f32],
    vectors: usize,
    columns: std::ops::Range<usize>,
    accumulate: bool,
) {
    match vectors {
        v if v == VECTORS => strip_tile::<S, R, VECTORS>(simd, rows, packed_strip, columns, accumulate),
        1 => strip_tile::<S, R, 1>(simd, rows, packed_strip, columns, accumulate),
        2 => strip_tile::<S, R, 2>(simd, rows, packed_strip, columns, accumulate),
        _ => strip_tile::<S, R, 3>(simd, rows, packed_strip, columns, accumulate),
    }
}

/// [`strip_product`] for a strip of `VECTORS` vectors.
#[inline(always)]
fn strip_tile<S: Simd, const R: usize, const VECTORS: usize>(
    simd: S,
    (rows, target): (GroupRows, &mut OutputRows),
    packed_strip: &[f32],
    columns: std::ops::Range<usize>,
    accumulate: bool,
) {
    let (b_vectors, _) = S::as_simd_f32s(packed_strip);
    let (b_rows, _) = pulp::as_arrays::<VECTORS, S::f32s>(b_vectors);
    // Each arm stores its own tile: one value flowing out of both would be copied through memory.
    match rows {
        GroupRows::InPlace([r0, r1, r2, r3, r4, r5]) => {
            let a_columns = r0.iter().zip(r1).zip(r2).zip(r3).zip(r4).zip(r5);
            let a_columns = a_columns.map(|(((((v0, v1), v2), v3), v4), v5)| [*v0, *v1, *v2, *v3, *v4, *v5]);
            let tile = tile::<S, R, VECTORS>(simd, a_columns, b_rows);
            target.store::<S, R, VECTORS>(simd, &tile, columns, accumulate);
        }
        GroupRows::Packed(packed) => {
            let (a_columns, _) = pulp::as_arrays::<ROWS, f32>(packed);
            // by reference, so that each value is broadcast straight from the packed buffer (a copy of the column
            // by value went through the stack with AVX2's 16 registers: 0.68× the speed on Zen 3)
            let tile = tile::<S, R, VECTORS>(simd, a_columns.iter(), b_rows);
            target.store::<S, R, VECTORS>(simd, &tile, columns, accumulate);
        }
    }
}

/// The six rows of `rows` as slices, when each is a run in memory.
fn six_rows<'a>(rows: ArrayView2<'a, f32>) -> Option<[&'a [f32]; ROWS]> {
    if rows.nrows() != ROWS {
        return None;
    }
    let run = |i| rows.index_axis_move(Axis(0), i).to_slice();
    Some([run(0)?, run(1)?, run(2)?, run(3)?, run(4)?, run(5)?])
}

/// `len` floats of `buffer` starting on a cache line (so that no vector load of packed data straddles two), the
/// buffer grown first if need be (only ever growing, so a thread allocates once, for its largest product).
fn aligned(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    const LINE_FLOATS: usize = 64 / std::mem::size_of::<f32>();
    if buffer.len() < len + LINE_FLOATS {
        buffer.resize(len + LINE_FLOATS, 0.0);
    }
    let start = buffer.as_ptr().align_offset(64).min(LINE_FLOATS);
    &mut buffer[start..start + len]
}

/// The kernel: `sums[r][c] = Σ_p a[p][r] · b[p][c]` for the first `R` of the `ROWS` values in each column of the
/// group of `a` (`a_columns`, one per term of the sum) and the `VECTORS · lanes` columns of a strip of `b`
/// (`b_rows`, one row per term), all in registers.
#[inline(always)]
fn tile<S: Simd, const R: usize, const VECTORS: usize>(
    simd: S,
    a_columns: impl Iterator<Item = impl Borrow<[f32; ROWS]>>,
    b_rows: &[[S::f32s; VECTORS]],
) -> [[S::f32s; VECTORS]; R] {
    let mut sums = [[simd.splat_f32s(0.0); VECTORS]; R];
    for (a_column, b_row) in a_columns.zip(b_rows) {
        for (row_sums, &a_value) in sums.iter_mut().zip(a_column.borrow()) {
            let a_value = simd.splat_f32s(a_value);
            for (sum, &b_value) in row_sums.iter_mut().zip(b_row) {
                *sum = simd.mul_add_e_f32s(a_value, b_value, *sum);
            }
        }
    }
    sums
}

/// The rows of `out` a row of tiles is stored to: as slices when each is a run in memory (the usual case), else
/// as the view itself.
pub(super) enum OutputRows<'t, 'a> {
    /// The rows (at most `ROWS`; empty slices past the last).
    Runs([&'t mut [f32]; ROWS], usize),
    Strided(&'t mut ArrayViewMut2<'a, f32>),
}

impl<'t, 'a> OutputRows<'t, 'a> {
    pub(super) fn new(target: &'t mut ArrayViewMut2<'a, f32>) -> Self {
        let rows = target.nrows();
        if rows <= ROWS && (target.strides()[1] == 1 || target.ncols() <= 1) {
            // every row is a run, so `into_slice` gives each
            let mut runs = target
                .axis_iter_mut(Axis(0))
                .map(|row| row.into_slice().unwrap_or_default());
            return OutputRows::Runs(std::array::from_fn(|_| runs.next().unwrap_or_default()), rows);
        }
        OutputRows::Strided(target)
    }

    /// Writes (or, with `accumulate`, adds) the tile's values to `columns` of the rows (from the first column of
    /// the tile on).
    #[inline(always)]
    pub(super) fn store<S: Simd, const R: usize, const VECTORS: usize>(
        &mut self,
        simd: S,
        tile: &[[S::f32s; VECTORS]; R],
        columns: std::ops::Range<usize>,
        accumulate: bool,
    ) {
        match self {
            OutputRows::Runs(rows, count) => {
                // Loops of constant length over the tile, indexed by constants once unrolled, so that its values
                // are stored straight from the registers (an iterator over it, or a copy of a whole row, would
                // put the tile in memory and copy it from there with `memcpy`).
                #[allow(clippy::needless_range_loop)]
                for r in 0..R {
                    let Some(row) = rows.get_mut(r).filter(|_| r < *count) else {
                        break;
                    };
                    // whole vectors with plain stores; a masked one only for a last, partial vector
                    let (vectors, tail) = S::as_mut_simd_f32s(&mut row[columns.clone()]);
                    let whole = vectors.len();
                    for v in 0..VECTORS {
                        let sum = tile[r][v];
                        if let Some(vector) = vectors.get_mut(v) {
                            *vector = if accumulate { simd.add_f32s(*vector, sum) } else { sum };
                        } else if v == whole && !tail.is_empty() {
                            let value = if accumulate {
                                simd.add_f32s(simd.partial_load_f32s(tail), sum)
                            } else {
                                sum
                            };
                            simd.partial_store_f32s(tail, value);
                        }
                    }
                }
            }
            OutputRows::Strided(view) => {
                let mut target = view.slice_mut(s![.., columns]);
                if target.strides()[0] == 1 {
                    // A transposed view (`dxᵀ` when `dx = dz · Wᵀ` is computed as `dxᵀ = W · dzᵀ`): each column of
                    // the tile is a run in memory, in a row of `dx`. Written column by column, so that each run's
                    // cache line is fetched once, not once per row of the tile (rows of `dx` a power of two apart
                    // share a few sets of L1, and evict one another between rows of the tile).
                    let rows: [&[f32]; R] = std::array::from_fn(|r| pulp::bytemuck::cast_slice(tile[r].as_slice()));
                    for (c, mut run) in target.columns_mut().into_iter().enumerate() {
                        for (r, target) in run.iter_mut().enumerate().take(R) {
                            *target = if accumulate { *target + rows[r][c] } else { rows[r][c] };
                        }
                    }
                    return;
                }
                // any other strided `out`: element by element
                for (row_sums, mut row) in tile.iter().zip(target.rows_mut()) {
                    let values: &[f32] = pulp::bytemuck::cast_slice(row_sums.as_slice());
                    for (target, &value) in row.iter_mut().zip(values) {
                        *target = if accumulate { *target + value } else { value };
                    }
                }
            }
        }
    }
}

/// Packs `block` (`depth × width` of `b`) into `packed`: strip after strip of `strip` columns, each `depth` rows
/// of `strip` floats, the columns past `width` as zeros.
#[inline(always)]
fn pack_b<S: Simd, const VECTORS: usize>(block: ArrayView2<f32>, mut packed: &mut [f32]) {
    // rows that are runs (a weight matrix): the usual case
    if pack_rows_of_b::<S, VECTORS>(block, packed) {
        return;
    }
    let lanes = S::F32_LANES;
    let strip = VECTORS * lanes;
    let (depth, width) = block.dim();
    for j0 in (0..width).step_by(strip) {
        let columns = strip.min(width - j0);
        let strip = columns.div_ceil(lanes) * lanes;
        let (packed_strip, rest) = std::mem::take(&mut packed).split_at_mut(strip * depth);
        packed = rest;
        let source = block.slice(s![.., j0..j0 + columns]);
        if source.strides()[0] == 1 && source.strides()[1] != 1 && strip <= MAX_STRIP {
            // a transposed `b` (column-major, as `Wᵀ` in `dx = dz · Wᵀ`): columns are runs, transposed in registers
            let mut runs: [&[f32]; MAX_STRIP] = [&[]; MAX_STRIP];
            for (run, column) in runs.iter_mut().zip(source.columns()) {
                *run = column.to_slice().unwrap_or(&[]);
            }
            if runs[..columns].iter().all(|run| run.len() == depth) {
                pack_columns::<S>(&runs[..columns], depth, strip, packed_strip);
                continue;
            }
        }
        // neither rows nor columns are runs: value by value
        for (target, row) in packed_strip.chunks_exact_mut(strip).zip(source.rows()) {
            target.iter_mut().zip(row).for_each(|(t, &v)| *t = v);
            target[columns..].fill(0.0);
        }
    }
}

/// [`pack_b`] of a `block` whose rows are runs (the usual case: a weight matrix), a few rows at a time: each
/// strip takes its vectors of these rows (one cache line of each) while the rows stay in L1, so that every row is
/// read front to back, in order. Strip by strip down all the rows instead, the rows were read in pieces a page
/// apart for a wide `b`, which the hardware's prefetchers do not follow (at batch 32 on Zen 3 the packing took a
/// fifth of `X · W1`). Returns `false`, packing nothing, if the rows are not runs.
#[inline(always)]
fn pack_rows_of_b<S: Simd, const VECTORS: usize>(block: ArrayView2<f32>, packed: &mut [f32]) -> bool {
    /// Rows per pass over the strips: 8 rows of the widest block are 16 KiB.
    const ROWS_AT_A_TIME: usize = 8;
    let (depth, width) = block.dim();
    let mut rows: [&[f32]; MAX_DEPTH] = [&[]; MAX_DEPTH];
    let rows_are_runs = depth <= MAX_DEPTH
        && block.rows().into_iter().zip(&mut rows).all(|(row, run)| {
            *run = row.to_slice().unwrap_or(&[]);
            run.len() == width
        });
    if !rows_are_runs {
        return false;
    }
    let lanes = S::F32_LANES;
    let strip = VECTORS * lanes;
    let (whole_strips, last_columns) = (width / strip, width % strip);
    let last_strip = last_columns.div_ceil(lanes) * lanes;
    let (whole, last) =
        packed[..(whole_strips * strip + last_strip) * depth].split_at_mut(whole_strips * strip * depth);
    for p0 in (0..depth).step_by(ROWS_AT_A_TIME) {
        let rows = &rows[p0..depth.min(p0 + ROWS_AT_A_TIME)];
        for s in 0..whole_strips {
            let targets = whole[(s * depth + p0) * strip..][..rows.len() * strip].chunks_exact_mut(strip);
            for (target, row) in targets.zip(rows) {
                let (targets, _) = S::as_mut_simd_f32s(target);
                let (values, _) = S::as_simd_f32s(&row[s * strip..][..strip]);
                // a copy of known size, inlined (a call to `memcpy` per row costs more than the copy)
                if let (Some(targets), Some(values)) = (targets.first_chunk_mut::<VECTORS>(), values.first_chunk()) {
                    *targets = *values;
                }
            }
        }
        if last_strip > 0 {
            let targets = last[p0 * last_strip..][..rows.len() * last_strip].chunks_exact_mut(last_strip);
            for (target, row) in targets.zip(rows) {
                target[..last_columns].copy_from_slice(&row[whole_strips * strip..]);
                target[last_columns..].fill(0.0);
            }
        }
    }
    true
}

/// Packs `rows` (at most `ROWS` rows of `a`, `depth` long) into `packed`: column after column, each `ROWS`
/// floats, the rows past the last as zeros.
fn pack_a(rows: ArrayView2<f32>, packed: &mut [f32]) {
    if rows.nrows() < ROWS {
        packed.fill(0.0);
    }
    for (r, row) in rows.rows().into_iter().enumerate() {
        for (target, &value) in packed[r..].iter_mut().step_by(ROWS).zip(row) {
            *target = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    /// A product `out = a · b` as a function.
    type Product3 = dyn Fn(ArrayView2<f32>, ArrayView2<f32>, ArrayViewMut2<f32>);

    /// `out = a · b` with the kernel compiled for `simd`, whatever the CPU would pick.
    fn product_with<S: Simd>(simd: S, a: ArrayView2<f32>, b: ArrayView2<f32>, out: ArrayViewMut2<f32>) {
        let (mut packed_b, mut packed_a) = (Vec::new(), Vec::new());
        let product = Product {
            a,
            b,
            out,
            adding: false,
            epilogue: None,
            packed_b: &mut packed_b,
            packed_a: &mut packed_a,
        };
        simd.vectorize(product)
    }

    /// The groups of rows (six at a time up to `tail_start`, four at a time after it) leave a group of one or two
    /// rows only where there are no more rows, or the groups are fixed.
    #[test]
    fn no_tile_of_two_rows_at_the_end() {
        for m in 0..50 {
            for fixed in [false, true] {
                let tail = tail_start(m, fixed);
                assert!(tail == m || tail < m && tail.is_multiple_of(ROWS), "{m} rows: {tail}");
                let sizes: Vec<usize> = (0..tail)
                    .step_by(ROWS)
                    .map(|start| ROWS.min(tail - start))
                    .chain((tail..m).step_by(4).map(|start| 4.min(m - start)))
                    .collect();
                assert_eq!(sizes.iter().sum::<usize>(), m);
                if fixed {
                    assert_eq!(tail, m);
                } else if m > ROWS {
                    assert!(sizes.iter().all(|&size| size > 2), "{m} rows: {sizes:?}");
                }
            }
        }
    }

    /// Every instruction set the kernel can run with on this CPU gives the definition's result, on shapes with
    /// incomplete strips and groups, several blocks of the sum, and every layout of `a`, `b` and `out`: this is
    /// how the AVX2 code (for CPUs without AVX-512) is checked on a CPU that has AVX-512.
    #[test]
    fn every_instruction_set_matches_the_definition() {
        // sums of several blocks, incomplete strips and groups, and (1300 columns) several panels of `b`
        let shapes = [(13, 1100, 200), (32, 784, 256), (40, 70, 17), (7, 5, 3), (5, 600, 1300)];
        let check = |name: &str, run: &Product3| {
            for &(m, k, n) in &shapes {
                for layouts in 0..8 {
                    let value =
                        |seed: usize| move |(i, j): (usize, usize)| ((i * 31 + j * 17 + seed) % 23) as f32 / 11.0 - 1.0;
                    let a = Array2::from_shape_fn((m, k).set_f(layouts & 1 != 0), value(1));
                    let b = Array2::from_shape_fn((k, n).set_f(layouts & 2 != 0), value(2));
                    let mut out = Array2::from_elem((m, n).set_f(layouts & 4 != 0), f32::NAN);
                    run(a.view(), b.view(), out.view_mut());
                    for ((i, j), &got) in out.indexed_iter() {
                        let want: f64 = (0..k).map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]])).sum();
                        assert!(
                            (f64::from(got) - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{name}: ({m}, {k}, {n}) layouts {layouts} at ({i}, {j}): {got} vs {want}"
                        );
                    }
                }
            }
        };
        check("scalar", &|a, b, out| product_with(pulp::Scalar::new(), a, b, out));
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            match pulp::x86::V3::try_new() {
                Some(simd) => check("AVX2", &move |a, b, out| product_with(simd, a, b, out)),
                None => assert!(!std::arch::is_x86_feature_detected!("avx2"), "AVX2 present but not run"),
            }
            match pulp::x86::V4::try_new() {
                Some(simd) => check("AVX-512", &move |a, b, out| product_with(simd, a, b, out)),
                None => assert!(
                    !std::arch::is_x86_feature_detected!("avx512f"),
                    "AVX-512 present but not run"
                ),
            }
        }
    }
}
