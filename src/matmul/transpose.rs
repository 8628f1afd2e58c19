//! Packing a transposed `b` (`Wᵀ` in `dx = dz · Wᵀ`, whose columns are the runs in memory) into the kernel's
//! row-after-row strips: a transpose, done in registers a square tile at a time (16 × 16 floats with AVX-512,
//! 8 × 8 with AVX2: sixteen or eight loads of one column each, shuffles, as many stores of one row each), instead
//! of value by value (which took ~120 µs of the 770 µs of `dZ · W6ᵀ` at batch 256 on one thread). Only values
//! move: the packed strip holds the same bits either way.

use pulp::Simd;

/// Writes `packed[p · strip + c] = columns[c][p]` for every `p < depth` and `c < strip`, with zeros in the columns
/// past the last (`columns.len() ≤ strip`; every column at least `depth` long).
///
/// **Panics** if a column is shorter than `depth`, there are more columns than `strip`, or `packed` holds fewer
/// than `depth · strip` floats (a bug in the caller).
#[inline(always)]
pub(super) fn pack_columns<S: Simd>(columns: &[&[f32]], depth: usize, strip: usize, packed: &mut [f32]) {
    assert!(columns.len() <= strip && columns.iter().all(|run| run.len() >= depth));
    let packed = &mut packed[..depth * strip];
    let rows_done = transpose_tiles::<S>(columns, depth, strip, packed);
    // the rows the tiles left (fewer than a tile's), value by value
    for (p, row) in packed.chunks_exact_mut(strip).enumerate().skip(rows_done) {
        for (c, target) in row.iter_mut().enumerate() {
            *target = columns.get(c).map_or(0.0, |run| run[p]);
        }
    }
}

/// Packs the rows of [`pack_columns`] that whole square tiles cover, in registers, with the instruction set the
/// product itself runs with (`S`, told apart by its lanes); returns how many rows that is (0 without AVX2).
#[inline(always)]
fn transpose_tiles<S: Simd>(columns: &[&[f32]], depth: usize, strip: usize, packed: &mut [f32]) -> usize {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if S::F32_LANES == 16 && strip.is_multiple_of(16) {
            if let Some(simd) = pulp::x86::V4::try_new() {
                return simd.vectorize(
                    #[inline(always)]
                    || x86::tiles_16(simd, columns, depth, strip, packed),
                );
            }
        }
        if S::F32_LANES == 8 && strip.is_multiple_of(8) {
            if let Some(simd) = pulp::x86::V3::try_new() {
                return simd.vectorize(
                    #[inline(always)]
                    || x86::tiles_8(simd, columns, depth, strip, packed),
                );
            }
        }
    }
    let _ = (columns, depth, strip, packed);
    0
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86 {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::{__m256, __m512};
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::{__m256, __m512};

    use pulp::x86::{V3, V4};

    /// The rows of `packed` in whole tiles of `N` (`strip` a multiple of `N`), each tile read as `N` runs of
    /// `N` values (one per column; zeros past the last column), transposed by `transpose`, stored as `N` rows.
    #[inline(always)]
    fn tiles<const N: usize, V: pulp::bytemuck::Pod>(
        columns: &[&[f32]],
        depth: usize,
        strip: usize,
        packed: &mut [f32],
        transpose: impl Fn([V; N]) -> [V; N],
    ) -> usize
    where
        [f32; N]: pulp::bytemuck::Pod,
    {
        let rows = depth / N * N;
        // read for the columns past the last one
        let zeros = [0.0; N];
        for (p0, target_rows) in (0..rows).step_by(N).zip(packed.chunks_exact_mut(N * strip)) {
            for c0 in (0..strip).step_by(N) {
                let tile: [V; N] = std::array::from_fn(|i| {
                    let run = columns.get(c0 + i).and_then(|run| run[p0..p0 + N].first_chunk::<N>());
                    pulp::cast(*run.unwrap_or(&zeros))
                });
                for (row, values) in target_rows.chunks_exact_mut(strip).zip(transpose(tile)) {
                    if let Some(target) = row[c0..].first_chunk_mut::<N>() {
                        *target = pulp::cast(values);
                    }
                }
            }
        }
        rows
    }

    /// [`tiles`] of 16 × 16 with AVX-512.
    #[inline(always)]
    pub(super) fn tiles_16(simd: V4, columns: &[&[f32]], depth: usize, strip: usize, packed: &mut [f32]) -> usize {
        tiles::<16, __m512>(columns, depth, strip, packed, |rows| transpose_16(simd, rows))
    }

    /// [`tiles`] of 8 × 8 with AVX2.
    #[inline(always)]
    pub(super) fn tiles_8(simd: V3, columns: &[&[f32]], depth: usize, strip: usize, packed: &mut [f32]) -> usize {
        tiles::<8, __m256>(columns, depth, strip, packed, |rows| transpose_8(simd, rows))
    }

    /// The first round of both transposes: each pair of rows `(r[2k], r[2k + 1])` becomes `low` and `high` of the
    /// two (the interleaved first and second halves of each 128-bit part).
    #[inline(always)]
    fn interleave_pairs<V: Copy, const N: usize>(
        r: [V; N],
        low: impl Fn(V, V) -> V,
        high: impl Fn(V, V) -> V,
    ) -> [V; N] {
        std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                low(a, b)
            } else {
                high(a, b)
            }
        })
    }

    /// The transpose of 16 rows of 16 floats, in four rounds of 16 shuffles: pairs of floats, pairs of pairs,
    /// then the 128-bit quarters twice. Writing `r[i][c]` for value `c` of row `i`, output row `c` is
    /// `(r[0][c], …, r[15][c])`.
    #[inline(always)]
    fn transpose_16(simd: V4, r: [__m512; 16]) -> [__m512; 16] {
        let avx = simd.avx512f;
        // per quarter q: t[2k] = (r2k[4q], r2k+1[4q], r2k[4q+1], r2k+1[4q+1]), t[2k+1] the same for 4q+2, 4q+3
        let t = interleave_pairs(
            r,
            |a, b| avx._mm512_unpacklo_ps(a, b),
            |a, b| avx._mm512_unpackhi_ps(a, b),
        );
        // per quarter q: u[4k + j] = (r4k[4q + j], r4k+1[4q + j], r4k+2[4q + j], r4k+3[4q + j])
        let u: [__m512; 16] = std::array::from_fn(|i| {
            let (k, j) = (i / 4, i % 4);
            let a = avx._mm512_castps_pd(t[4 * k + j / 2]);
            let b = avx._mm512_castps_pd(t[4 * k + j / 2 + 2]);
            avx._mm512_castpd_ps(if j % 2 == 0 {
                avx._mm512_unpacklo_pd(a, b)
            } else {
                avx._mm512_unpackhi_pd(a, b)
            })
        });
        // quarters (0, 2) and (1, 3) of u[j], u[4 + j] (then of u[8 + j], u[12 + j])
        let v: [__m512; 16] = std::array::from_fn(|i| {
            let (half, j, odd) = (i / 8, i % 4, (i / 4) % 2 == 1);
            let (a, b) = (u[8 * half + j], u[8 * half + 4 + j]);
            if odd {
                avx._mm512_shuffle_f32x4::<0xdd>(a, b)
            } else {
                avx._mm512_shuffle_f32x4::<0x88>(a, b)
            }
        });
        // row 4q + j gathers quarter q of u[j], u[4 + j], u[8 + j], u[12 + j]
        std::array::from_fn(|c| {
            let (q, j) = (c / 4, c % 4);
            let (a, b) = (v[4 * (q % 2) + j], v[8 + 4 * (q % 2) + j]);
            if q < 2 {
                avx._mm512_shuffle_f32x4::<0x88>(a, b)
            } else {
                avx._mm512_shuffle_f32x4::<0xdd>(a, b)
            }
        })
    }

    /// The transpose of 8 rows of 8 floats, in three rounds of 8 shuffles: pairs of floats, pairs of pairs, then
    /// the 128-bit halves.
    #[inline(always)]
    fn transpose_8(simd: V3, r: [__m256; 8]) -> [__m256; 8] {
        let avx = simd.avx;
        // per half h: t[2k] = (r2k[4h], r2k+1[4h], r2k[4h+1], r2k+1[4h+1]), t[2k+1] the same for 4h+2, 4h+3
        let t = interleave_pairs(
            r,
            |a, b| avx._mm256_unpacklo_ps(a, b),
            |a, b| avx._mm256_unpackhi_ps(a, b),
        );
        // per half h: u[4k + j] = (r4k[4h + j], r4k+1[4h + j], r4k+2[4h + j], r4k+3[4h + j])
        let u: [__m256; 8] = std::array::from_fn(|i| {
            let (k, j) = (i / 4, i % 4);
            let (a, b) = (t[4 * k + j / 2], t[4 * k + j / 2 + 2]);
            if j % 2 == 0 {
                avx._mm256_shuffle_ps::<0x44>(a, b)
            } else {
                avx._mm256_shuffle_ps::<0xee>(a, b)
            }
        });
        // row 4h + j: half h of u[j], then half h of u[4 + j]
        std::array::from_fn(|c| {
            let (h, j) = (c / 4, c % 4);
            if h == 0 {
                avx._mm256_permute2f128_ps::<0x20>(u[j], u[4 + j])
            } else {
                avx._mm256_permute2f128_ps::<0x31>(u[j], u[4 + j])
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every instruction set packs what the definition says, for depths and widths that do and do not fill whole
    /// tiles, and with columns longer than the depth.
    #[test]
    fn packs_the_transpose() {
        fn check<S: Simd>(name: &str) {
            for depth in [0, 1, 7, 8, 15, 16, 17, 33, 392] {
                for (columns, strip) in [(1, 8), (5, 8), (8, 8), (3, 16), (16, 16), (17, 32), (40, 64), (64, 64)] {
                    let data: Vec<Vec<f32>> = (0..columns)
                        .map(|c| (0..depth + 3).map(|p| (c * 1000 + p) as f32 + 0.5).collect())
                        .collect();
                    let runs: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
                    let mut packed = vec![f32::NAN; depth * strip + 5];
                    pack_columns::<S>(&runs, depth, strip, &mut packed);
                    for p in 0..depth {
                        for c in 0..strip {
                            let want = if c < columns { data[c][p] } else { 0.0 };
                            assert_eq!(
                                packed[p * strip + c].to_bits(),
                                want.to_bits(),
                                "{name}: depth {depth}, {columns} columns in {strip}, at ({p}, {c})"
                            );
                        }
                    }
                    assert!(
                        packed[depth * strip..].iter().all(|v| v.is_nan()),
                        "{name}: wrote past the end"
                    );
                }
            }
        }
        /// `check` compiled for (and run with) `simd`.
        struct Check(&'static str);
        impl pulp::WithSimd for Check {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _simd: S) {
                check::<S>(self.0)
            }
        }
        pulp::Simd::vectorize(pulp::Scalar::new(), Check("scalar"));
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            if let Some(simd) = pulp::x86::V3::try_new() {
                pulp::Simd::vectorize(simd, Check("AVX2"));
            }
            if let Some(simd) = pulp::x86::V4::try_new() {
                pulp::Simd::vectorize(simd, Check("AVX-512"));
            }
        }
    }
}
