//! The product of a few rows: `out = a · b` for `a` of at most [`ROWS`] rows (one sample encoded at a time, a
//! small batch), with `b` read where it lies instead of packed.
//!
//! The blocked kernel ([`super::kernel`]) packs the block of `b` it multiplies: worth it when many groups of rows
//! of `a` pass over the packed copy, pure cost when one group does — for one row through a 784 × 256 layer, a
//! copy of 800 KB to do 200,000 multiply-adds once. Here each strip of `b` (`VECTORS` vectors of a row) is loaded
//! straight from `b`'s rows.
//!
//! The sums are those of the blocked kernel, term for term: the sum over `k` cut into the same blocks (equal
//! lengths ±1, at most `MAX_DEPTH` terms), each block's terms added in order with fused multiply-adds from zero,
//! the first block stored and the later ones added to `out`. So a row gives the same bits through either path,
//! and a batch the same bits whatever its size.

use ndarray::{s, ArrayView2, ArrayViewMut2};
use pulp::{Simd, WithSimd};

use super::kernel::{depth_per_block, OutputRows, MAX_DEPTH, ROWS};

/// `out = a · b`, or with `adding`, `out += a · b`, on the calling thread, when `a` has at most [`ROWS`] rows and
/// `b` is in standard layout (its rows runs in memory, one after the other): returns whether it did.
pub(super) fn product_adding_into(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    out: ArrayViewMut2<f32>,
    adding: bool,
) -> bool {
    let Some(b_values) = b.as_slice() else {
        return false;
    };
    if a.nrows() > ROWS || a.nrows() == 0 || b.ncols() == 0 || a.ncols() == 0 {
        return false;
    }
    pulp::Arch::new().dispatch(ThinProduct {
        a,
        b: b_values,
        columns: b.ncols(),
        out,
        adding,
    });
    true
}

/// The product as a [`WithSimd`] operation, compiled for (and run with) the CPU's widest vectors.
struct ThinProduct<'a> {
    a: ArrayView2<'a, f32>,
    /// `b`'s values, row after row.
    b: &'a [f32],
    /// `b`'s columns (the length of its rows).
    columns: usize,
    out: ArrayViewMut2<'a, f32>,
    adding: bool,
}

impl WithSimd for ThinProduct<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        // `R · VECTORS` accumulators: within the registers, and at least 8 where the rows allow (two fused
        // multiply-adds per cycle, each waiting 4 cycles for the one before it on the same accumulator).
        // With AVX2's 16 registers, 6 rows of 4 vectors (24) would spill every step to the stack, and one row of
        // 4 would leave half of the multiply-adds waiting (on Zen 3: products of 6 rows 1.4–1.6× as fast; encode of
        // one image, `bench_infer`, 27.5 and 25.4 → 24.2 and 22.4 µs).
        if S::REGISTER_COUNT >= 32 {
            match self.a.nrows() {
                1 => rows::<S, 1, 4>(simd, self),
                2 => rows::<S, 2, 4>(simd, self),
                3 | 4 => rows::<S, 4, 4>(simd, self),
                _ => rows::<S, ROWS, 4>(simd, self),
            }
        } else {
            match self.a.nrows() {
                1 => rows::<S, 1, 8>(simd, self),
                2 => rows::<S, 2, 4>(simd, self),
                3 | 4 => rows::<S, 4, 2>(simd, self),
                _ => rows::<S, ROWS, 2>(simd, self),
            }
        }
    }
}

/// Vectors per strip for one row on CPUs with 32 vector registers (16 accumulators).
const WIDE: usize = 16;

/// The product for `a` of at most `R` rows, strip by strip of `VECTORS` vectors of `b`'s columns.
#[inline(always)]
fn rows<S: Simd, const R: usize, const VECTORS: usize>(simd: S, product: ThinProduct) {
    let ThinProduct {
        a,
        b,
        columns: n,
        mut out,
        adding,
    } = product;
    let k = a.ncols();
    let strip = VECTORS * S::F32_LANES;
    let depth_max = depth_per_block(k);
    // a block of `a`'s columns, each as `R` values (zeros past the last row): copied, unless `a` is one row whose
    // values are a run (one image encoded), which is read in place
    let mut a_columns = [[0.0_f32; R]; MAX_DEPTH];
    let a_run = a.row(0).to_slice().filter(|_| R == 1);
    let mut target = OutputRows::new(&mut out);
    for (block, p0) in (0..k).step_by(depth_max).enumerate() {
        let depth = depth_max.min(k - p0);
        let a_block = match a_run {
            Some(run) => pulp::as_arrays::<R, f32>(&run[p0..p0 + depth]).0,
            None => {
                for (r, row) in a.slice(s![.., p0..p0 + depth]).rows().into_iter().enumerate() {
                    for (column, &value) in a_columns.iter_mut().zip(&row) {
                        column[r] = value;
                    }
                }
                &a_columns[..depth]
            }
        };
        let accumulate = adding || block > 0;
        let mut j0 = 0;
        // One row, with 32 registers: 16 vectors at a time where `b` is that wide, so that each row of `b` is read
        // in runs of 256 floats (with AE-16's `W1`, 256 wide, each row as one run, in one pass; its encode of one
        // image: 15.2 → 12.5 µs); the rest 4 at a time (strips of 8 or 16 vectors throughout were slower, 17.0 and
        // 18.5 µs, for their partial strips over the narrow layers).
        if R == 1 && S::REGISTER_COUNT >= 32 {
            let wide = WIDE * S::F32_LANES;
            while n - j0 >= wide {
                let tile = strip_tile::<S, R, WIDE>(simd, a_block, b, (p0 * n + j0, n));
                target.store::<S, R, WIDE>(simd, &tile, j0..j0 + wide, accumulate);
                j0 += wide;
            }
        }
        for j0 in (j0..n).step_by(strip) {
            let width = strip.min(n - j0);
            let tile = match width == strip {
                true => strip_tile::<S, R, VECTORS>(simd, a_block, b, (p0 * n + j0, n)),
                false => narrow_tile::<S, R, VECTORS>(simd, a_block, b, (p0 * n + j0, n), width),
            };
            target.store::<S, R, VECTORS>(simd, &tile, j0..j0 + width, accumulate);
        }
    }
}

/// `sums[r][c] = Σ_p a[p][r] · b[start + p · stride + c]` over the `VECTORS · lanes` columns of a whole strip.
#[inline(always)]
fn strip_tile<S: Simd, const R: usize, const VECTORS: usize>(
    simd: S,
    a_columns: &[[f32; R]],
    b: &[f32],
    (start, stride): (usize, usize),
) -> [[S::f32s; VECTORS]; R] {
    let strip = VECTORS * S::F32_LANES;
    let mut sums = [[simd.splat_f32s(0.0); VECTORS]; R];
    for (p, a_column) in a_columns.iter().enumerate() {
        let (b_row, _) = S::as_simd_f32s(&b[start + p * stride..][..strip]);
        let Some(b_row) = b_row.first_chunk::<VECTORS>() else {
            continue;
        };
        for (row_sums, &a_value) in sums.iter_mut().zip(a_column) {
            let a_value = simd.splat_f32s(a_value);
            for (sum, &b_value) in row_sums.iter_mut().zip(b_row) {
                *sum = simd.mul_add_e_f32s(a_value, b_value, *sum);
            }
        }
    }
    sums
}

/// [`strip_tile`] for the last strip, `width` columns (fewer than a whole strip): its vectors loaded partially.
#[inline(always)]
fn narrow_tile<S: Simd, const R: usize, const VECTORS: usize>(
    simd: S,
    a_columns: &[[f32; R]],
    b: &[f32],
    (start, stride): (usize, usize),
    width: usize,
) -> [[S::f32s; VECTORS]; R] {
    let lanes = S::F32_LANES;
    let mut sums = [[simd.splat_f32s(0.0); VECTORS]; R];
    for (p, a_column) in a_columns.iter().enumerate() {
        let row = &b[start + p * stride..][..width];
        let b_row: [S::f32s; VECTORS] =
            std::array::from_fn(|v| simd.partial_load_f32s(row.get(v * lanes..).unwrap_or_default()));
        for (row_sums, &a_value) in sums.iter_mut().zip(a_column) {
            let a_value = simd.splat_f32s(a_value);
            for (sum, &b_value) in row_sums.iter_mut().zip(&b_row) {
                *sum = simd.mul_add_e_f32s(a_value, b_value, *sum);
            }
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn values(rows: usize, columns: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, columns), |(i, j)| {
            let x = (i * 7919 + j * 104_729 + seed * 15_485_863) % 10_007;
            (x as f32 / 10_007.0 - 0.5) * 1.7
        })
    }

    /// The values' bits, so that `+0` and `-0` differ.
    fn bits(values: ndarray::ArrayView2<f32>) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// For every row count it takes, sums long and short (one block, two, three) and widths that end on a whole
    /// strip, inside a vector, after the wide strips of one row (and whole strips after them), the thin product
    /// gives the blocked kernel's bits, overwriting and adding, for any layout of `a` and of `out`; and with AVX2
    /// forced, where the CPU has more (the wide strips of one row are for 32 registers only).
    #[test]
    fn a_few_rows_give_the_blocked_kernels_bits() {
        for m in 1..=ROWS {
            for k in [1, 5, 392, 512, 513, 784, 1100] {
                for n in [1, 7, 16, 63, 64, 65, 130, 256, 300, 512, 784, 1000] {
                    let (a, b) = (values(m, k, 1), values(k, n, 2));
                    let start = values(m, n, 3);
                    for adding in [false, true] {
                        let mut expected = start.clone();
                        super::super::kernel::product_adding_into(a.view(), b.view(), expected.view_mut(), adding);
                        let context = format!("m {m} k {k} n {n} adding {adding}");
                        let mut got = start.clone();
                        assert!(product_adding_into(a.view(), b.view(), got.view_mut(), adding));
                        assert_eq!(bits(got.view()), bits(expected.view()), "{context}");
                        // a transposed `a` and a column-major `out`
                        let a_t = a.t().as_standard_layout().into_owned();
                        let mut got_t = start.t().as_standard_layout().into_owned();
                        let mut out_view = got_t.view_mut().reversed_axes();
                        assert!(product_adding_into(a_t.t(), b.view(), out_view.view_mut(), adding));
                        assert_eq!(bits(out_view.view()), bits(expected.view()), "transposed, {context}");
                        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                        if let Some(simd) = pulp::x86::V3::try_new() {
                            let mut got = start.clone();
                            let (b, columns) = (b.as_slice().unwrap(), n);
                            let out = got.view_mut();
                            pulp::Simd::vectorize(
                                simd,
                                ThinProduct {
                                    a: a.view(),
                                    b,
                                    columns,
                                    out,
                                    adding,
                                },
                            );
                            assert_eq!(bits(got.view()), bits(expected.view()), "AVX2, {context}");
                        }
                    }
                }
            }
        }
    }

    /// What it leaves to the blocked kernel: more rows than a group, a `b` whose rows are not runs, empty sizes.
    #[test]
    fn other_products_are_left_to_the_blocked_kernel() {
        let mut out = Array2::zeros((7, 4));
        assert!(!product_adding_into(
            values(7, 3, 1).view(),
            values(3, 4, 2).view(),
            out.view_mut(),
            false
        ));
        let b = values(4, 3, 2);
        let mut out = Array2::zeros((2, 4));
        assert!(!product_adding_into(
            values(2, 3, 1).view(),
            b.t(),
            out.view_mut(),
            false
        ));
        let mut out = Array2::zeros((2, 4));
        assert!(!product_adding_into(
            values(2, 0, 1).view(),
            values(0, 4, 2).view(),
            out.view_mut(),
            false
        ));
    }
}
