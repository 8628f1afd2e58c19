//! The Gaussian input noise of a denoising fit ([`FitConfig::input_noise`](super::FitConfig::input_noise)):
//! counter-based, so the noise of an element is a pure function of `(seed, epoch, batch, element)`.
//!
//! # Generator: Philox4x32-10
//!
//! The uniform bits come from Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as
//! 1, 2, 3", SC 2011; the generator of cuRAND, JAX and PyTorch's CUDA back end) with
//!
//! - key = the fit's seed (two 32-bit words), and
//! - counter = (quad index of the element within the batch, batch index within the epoch, epoch low word, epoch
//!   high word),
//!
//! giving 128 bits (two Gaussian pairs, four elements) per counter. Philox rather than a 64-bit mixer on the counter
//! (SplitMix64, wyhash): it was designed as a keyed counter-based generator, passes BigCrush for every key and
//! counter pattern tried (including the low-entropy, nearly equal counters used here), so neighbouring elements,
//! batches, epochs and seeds need no extra hashing to be unrelated; and its rounds are 32×32→64-bit products,
//! which vectorise on every x86 vector extension (`vpmuludq`), where a 64-bit mixer's 64×64-bit products need
//! AVX-512DQ or an emulation. Nothing is carried from one element to the next, so a resumed run
//! ([`FitConfig::start_epoch`](super::FitConfig::start_epoch)) sees the same noise, and any part of a batch can
//! be drawn on its own (the crate's threads split large batches; the bits do not depend on the split).
//!
//! # Gaussian: Box–Muller, with f32 `ln`, `sin` and `cos` of this file's own
//!
//! Each 64-bit half `(w0, w1)` of a Philox output gives two normals `r·cos θ`, `r·sin θ`, `r = √(−2 ln u)`:
//!
//! - `u = (K + ½)·2⁻⁴⁰` with `K` a 40-bit uniform integer (the 32 bits of `w0` and the top 8 of `w1`): `u` is in
//!   `[2⁻⁴¹, 1]`, with f32's relative precision all the way down, so the tails are exact to f32 precision out to
//!   the **tail limit** `r ≤ √(82 ln 2) ≈ 7.54σ` (a standard normal exceeds 7.54 in absolute value with
//!   probability 4.7·10⁻¹⁴: once in about 4.5·10⁵ Fashion-MNIST epochs). Near `u = 1`, `ln u` is resolved to
//!   f32's spacing 2⁻²⁴, a CDF error below 10⁻⁷;
//! - `θ = 2π (j + ½)·2⁻²⁴` with `j` the low 24 bits of `w1`, reduced to a quadrant and `|x| ≤ π/4` exactly in
//!   integers, so `sin` and `cos` need no range reduction.
//!
//! `ln` is musl's `logf` (< 1 ulp) and `sin`/`cos` Cephes' single-precision polynomials on `[−π/4, π/4]` (about
//! 1 ulp), written in plain f32 arithmetic (no fused multiply-add), so the results are the same bits on every
//! CPU and vector width, and the loops vectorise (libm's functions would not): blocks of 16 Philox counters (64
//! elements) run in a `pulp` context compiled for the widest vectors the CPU has. Box–Muller, unlike a Ziggurat,
//! has no tables and no rejection: every element costs the same, with no branches to diverge between lanes.

use crate::math::ln;
use crate::matmul::{join, on_pool, parts_for};

/// Philox counters per block, the width of the vector loops (16 lanes of u32: one AVX-512 register).
const LANES: usize = 16;

/// Elements per block: four per Philox counter.
const BLOCK: usize = 4 * LANES;

/// The cost of an element, in units of a ReLU's (for [`parts_for`]): ten Philox rounds per four elements, then
/// a logarithm, a square root and a sine and cosine per two.
const COST: usize = 8;

/// Philox4x32's round multipliers and key increments (Weyl constants), from the paper.
const PHILOX_M: [u32; 2] = [0xD251_1F53, 0xCD9E_8D57];
const PHILOX_W: [u32; 2] = [0x9E37_79B9, 0xBB67_AE85];

/// The noise of one batch: the Philox key and the counter words other than the element's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NoiseStream {
    key: [u32; 2],
    /// Counter words 1 to 3: the batch index and the epoch (low, high).
    counter: [u32; 3],
}

impl NoiseStream {
    /// The noise of batch `batch` (0-based, within the epoch) of epoch `epoch` of a fit seeded with `seed`.
    /// Batch indices are taken modulo 2³² (an epoch has fewer batches than that).
    pub(crate) fn new(seed: u64, epoch: u64, batch: u64) -> NoiseStream {
        NoiseStream {
            key: [seed as u32, (seed >> 32) as u32],
            counter: [batch as u32, epoch as u32, (epoch >> 32) as u32],
        }
    }

    /// Adds `std_dev` times a standard normal to each value: `values[i] += σ·z(i)`, `z(i)` the normal of element
    /// `i` of this batch's stream (elements are numbered row by row through the batch). Split across the crate's
    /// threads when large enough; the result does not depend on the split. Allocates nothing.
    ///
    /// Elements are numbered with 32-bit counters of four: a batch holds at most 2³⁴ of them.
    pub(crate) fn add_to(&self, values: &mut [f32], std_dev: f32) {
        debug_assert!(
            values.len() as u64 <= 4 << 32,
            "a noise stream numbers at most 2^34 elements"
        );
        match parts_for(values.len().saturating_mul(COST)) {
            1 => self.add_serial(values, 0, std_dev),
            parts => on_pool(|| self.add_split(values, 0, std_dev, parts)),
        }
    }

    /// [`add_to`](Self::add_to) of a part of the batch, on this thread: `values` are the batch's elements from
    /// `first` on, which must be a multiple of [`NoiseStream::ALIGN`].
    pub(crate) fn add_to_part(&self, values: &mut [f32], first: usize, std_dev: f32) {
        assert_eq!(first % BLOCK, 0, "a part of a noise stream starts on a block");
        self.add_serial(values, first / BLOCK, std_dev)
    }

    /// What the first element of a part given to [`add_to_part`](Self::add_to_part) must be a multiple of.
    pub(crate) const ALIGN: usize = BLOCK;

    /// [`add_to`](Self::add_to) of `values`, the elements from block `first_block` on, in `parts` parts.
    fn add_split(&self, values: &mut [f32], first_block: usize, std_dev: f32, parts: usize) {
        if parts < 2 || values.len() < 2 * BLOCK {
            return self.add_serial(values, first_block, std_dev);
        }
        let half = parts / 2;
        let mid = (values.len() * half / parts / BLOCK * BLOCK).max(BLOCK);
        let (a, b) = values.split_at_mut(mid);
        join(
            || self.add_split(a, first_block, std_dev, half),
            || self.add_split(b, first_block + mid / BLOCK, std_dev, parts - half),
        );
    }

    /// [`add_to`](Self::add_to) of `values`, the elements from block `first_block` on, on this thread, in a
    /// context compiled for the CPU's widest vectors.
    fn add_serial(&self, values: &mut [f32], first_block: usize, std_dev: f32) {
        pulp::Arch::new().dispatch(AddNoise {
            stream: self,
            values,
            first_block,
            std_dev,
        })
    }
}

/// [`NoiseStream::add_serial`] as a [`pulp::WithSimd`] operation.
struct AddNoise<'a> {
    stream: &'a NoiseStream,
    values: &'a mut [f32],
    first_block: usize,
    std_dev: f32,
}

impl pulp::WithSimd for AddNoise<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let AddNoise {
            stream,
            values,
            first_block,
            std_dev,
        } = self;
        let mut noise = [0.0_f32; BLOCK];
        for (block, chunk) in values.chunks_mut(BLOCK).enumerate() {
            let first_counter = ((first_block + block) * LANES) as u32;
            gaussian_block(stream, first_counter, std_dev, &mut noise);
            chunk.iter_mut().zip(&noise).for_each(|(v, &z)| *v += z);
        }
    }
}

/// `out[4l + k]` = `σ·z` of element `4 (first_counter + l) + k`, for the block of [`LANES`] counters from
/// `first_counter`.
#[inline(always)]
fn gaussian_block(stream: &NoiseStream, first_counter: u32, std_dev: f32, out: &mut [f32; BLOCK]) {
    let words = philox_block(stream, first_counter);
    let (cos_a, sin_a) = box_muller(&words[0], &words[1], std_dev);
    let (cos_b, sin_b) = box_muller(&words[2], &words[3], std_dev);
    for (l, out) in out.chunks_exact_mut(4).enumerate() {
        out[0] = cos_a[l];
        out[1] = sin_a[l];
        out[2] = cos_b[l];
        out[3] = sin_b[l];
    }
}

/// Philox4x32-10 of the [`LANES`] counters `(first_counter + l, stream.counter)`, word by word (`[word][lane]`).
#[inline(always)]
fn philox_block(stream: &NoiseStream, first_counter: u32) -> [[u32; LANES]; 4] {
    let mut c = [[0_u32; LANES]; 4];
    for (l, c0) in c[0].iter_mut().enumerate() {
        *c0 = first_counter.wrapping_add(l as u32);
    }
    c[1] = [stream.counter[0]; LANES];
    c[2] = [stream.counter[1]; LANES];
    c[3] = [stream.counter[2]; LANES];
    let mut key = stream.key;
    for round in 0..10 {
        if round > 0 {
            key = [key[0].wrapping_add(PHILOX_W[0]), key[1].wrapping_add(PHILOX_W[1])];
        }
        let mut next = [[0_u32; LANES]; 4];
        for l in 0..LANES {
            let p0 = u64::from(PHILOX_M[0]) * u64::from(c[0][l]);
            let p1 = u64::from(PHILOX_M[1]) * u64::from(c[2][l]);
            next[0][l] = (p1 >> 32) as u32 ^ c[1][l] ^ key[0];
            next[1][l] = p1 as u32;
            next[2][l] = (p0 >> 32) as u32 ^ c[3][l] ^ key[1];
            next[3][l] = p0 as u32;
        }
        c = next;
    }
    c
}

/// Two normals times `std_dev` from each lane's 64 bits `(w0, w1)`: `σ·r·cos θ` and `σ·r·sin θ` (see the module
/// documentation).
#[inline(always)]
fn box_muller(w0: &[u32; LANES], w1: &[u32; LANES], std_dev: f32) -> ([f32; LANES], [f32; LANES]) {
    let (mut cos, mut sin) = ([0.0_f32; LANES], [0.0_f32; LANES]);
    for l in 0..LANES {
        let radius = std_dev * (-2.0 * ln(uniform_open0(w0[l], w1[l]))).sqrt();
        let (c, s) = sin_cos_turn(w1[l]);
        cos[l] = radius * c;
        sin[l] = radius * s;
    }
    (cos, sin)
}

/// `u = (K + ½)·2⁻⁴⁰` in `[2⁻⁴¹, 1]`, `K` the 40-bit integer of `w0` (high) and the top 8 bits of `w1`.
#[inline(always)]
fn uniform_open0(w0: u32, w1: u32) -> f32 {
    const TWO_POW_M31: f32 = 1.0 / 2_147_483_648.0;
    const TWO_POW_M40: f32 = TWO_POW_M31 / 512.0;
    // (w0 >> 1) is exact in i32; its f32 rounds to 24 bits, the relative precision of the result.
    let high = (w0 >> 1) as i32 as f32;
    let low = (((w0 & 1) << 8) | (w1 >> 24)) as i32 as f32 + 0.5;
    high * TWO_POW_M31 + low * TWO_POW_M40
}

/// `(cos θ, sin θ)` of `θ = 2π (j + ½)·2⁻²⁴`, `j` the low 24 bits of `w1`.
#[inline(always)]
fn sin_cos_turn(w1: u32) -> (f32, f32) {
    // θ = π·a·2⁻²⁴ with a = 2j + 1 (odd, 25 bits); quadrant q = round(a / 2²³), remainder |rem| ≤ 2²² exact.
    let a = ((w1 & 0x00FF_FFFF) << 1) | 1;
    let q = (a + (1 << 22)) >> 23;
    let rem = a as i32 - (q << 23) as i32;
    let x = rem as f32 * (std::f32::consts::PI / 16_777_216.0); // |x| ≤ π/4
    let (s, c) = sin_cos_quarter(x);
    // rotate by q quarter turns: q = 1: (−s, c), 2: (−c, −s), 3: (s, −c)
    let swap = 0_u32.wrapping_sub(q & 1);
    let (cb, sb) = (c.to_bits(), s.to_bits());
    let cos_bits = (cb & !swap) | (sb & swap);
    let sin_bits = (sb & !swap) | (cb & swap);
    let cos_sign = ((q + 1) & 2) << 30;
    let sin_sign = (q & 2) << 30;
    (f32::from_bits(cos_bits ^ cos_sign), f32::from_bits(sin_bits ^ sin_sign))
}

/// `(sin x, cos x)` for `|x| ≤ π/4`: Cephes' `sinf` and `cosf` polynomials (about 1 ulp).
#[inline(always)]
fn sin_cos_quarter(x: f32) -> (f32, f32) {
    const S1: f32 = f32::from_bits(0xbe2a_aaa3); // -1.6666654611e-1
    const S2: f32 = f32::from_bits(0x3c08_839e); // 8.3321608736e-3
    const S3: f32 = f32::from_bits(0xb94c_a1f9); // -1.9515295891e-4
    const C1: f32 = f32::from_bits(0x3d2a_aaa5); // 4.166664568298827e-2
    const C2: f32 = f32::from_bits(0xbab6_061a); // -1.388731625493765e-3
    const C3: f32 = f32::from_bits(0x37cc_f5ce); // 2.443315711809948e-5
    let z = x * x;
    let sin = ((S3 * z + S2) * z + S1) * z * x + x;
    let cos = ((C3 * z + C2) * z + C1) * z * z - 0.5 * z + 1.0;
    (sin, cos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` standard normals of a stream, from element 0.
    fn normals(stream: NoiseStream, n: usize) -> Vec<f32> {
        let mut values = vec![0.0; n];
        stream.add_to(&mut values, 1.0);
        values
    }

    /// The standard normal CDF, from `erfc` in f64 (W. J. Cody's rational approximations are not in std, so a
    /// continued fraction / series of our own, accurate to about 1e-14 here).
    fn normal_cdf(x: f64) -> f64 {
        0.5 * erfc(-x / std::f64::consts::SQRT_2)
    }

    /// `erfc(x)`: the series of `erf` for |x| < 3, Lentz's continued fraction beyond.
    fn erfc(x: f64) -> f64 {
        if x < 0.0 {
            return 2.0 - erfc(-x);
        }
        if x < 3.0 {
            // erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
            let (mut term, mut sum, mut n) = (x, x, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            return 1.0 - sum * 2.0 / std::f64::consts::PI.sqrt();
        }
        // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
        let mut fraction = x;
        for k in (1..200).rev() {
            fraction = x + (k as f64 / 2.0) / fraction;
        }
        (-x * x).exp() / std::f64::consts::PI.sqrt() / fraction
    }

    #[test]
    fn philox_matches_the_known_answers_of_random123() {
        // kat_vectors of Random123 1.09: philox4x32 10 rounds, (counter, key) -> output
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            ([0; 4], [0; 2], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
            ),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
        ];
        for (counter, key, expected) in cases {
            let stream = NoiseStream {
                key,
                counter: [counter[1], counter[2], counter[3]],
            };
            let words = philox_block(&stream, counter[0]);
            assert_eq!([words[0][0], words[1][0], words[2][0], words[3][0]], expected);
        }
    }

    #[test]
    fn ln_and_sin_cos_are_within_two_ulps() {
        let ulps = |got: f32, want: f64| {
            ((f64::from(got) - want).abs() / f64::from(f32::EPSILON * (want.abs() as f32).max(f32::MIN_POSITIVE)))
                as f32
        };
        let mut worst = 0.0_f32;
        for i in 0..1_000_000_u32 {
            let u = uniform_open0(i.wrapping_mul(0x9E37_79B9), i.wrapping_mul(0x85EB_CA6B));
            let want = f64::from(u).ln();
            if want != 0.0 {
                worst = worst.max(ulps(ln(u), want));
            }
        }
        for u in [f32::MIN_POSITIVE, 2.0_f32.powi(-41), 0.5, 0.999_999_94, 1.0] {
            assert!(
                (f64::from(ln(u)) - f64::from(u).ln()).abs()
                    <= 2.0 * f64::from(f32::EPSILON) * f64::from(u).ln().abs().max(1e-30)
            );
        }
        assert!(worst <= 2.0, "ln: {worst} ulps");
        let mut worst = 0.0_f32;
        for j in 0..(1_u32 << 24) {
            let (c, s) = sin_cos_turn(j);
            let theta = std::f64::consts::TAU * (f64::from(j) + 0.5) / 16_777_216.0;
            // errors relative to 1 (an absolute error of an f32 ulp of 1): the angle itself is rounded to f32
            worst = worst.max(
                ((f64::from(c) - theta.cos())
                    .abs()
                    .max((f64::from(s) - theta.sin()).abs())
                    / f64::from(f32::EPSILON)) as f32,
            );
        }
        assert!(worst <= 2.0, "sin/cos: {worst} ulps of 1");
    }

    #[test]
    fn the_noise_is_a_function_of_seed_epoch_batch_and_element() {
        let base = normals(NoiseStream::new(7, 3, 11), 1000);
        assert_eq!(
            base.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            normals(NoiseStream::new(7, 3, 11), 1000)
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        );
        for other in [
            NoiseStream::new(8, 3, 11),
            NoiseStream::new(7, 4, 11),
            NoiseStream::new(7, 3, 12),
            NoiseStream::new(7 | 1 << 32, 3, 11),
            NoiseStream::new(7, 3 | 1 << 32, 11),
        ] {
            let values = normals(other, 1000);
            let same = values.iter().zip(&base).filter(|(a, b)| a == b).count();
            assert_eq!(same, 0, "{other:?} repeats {same} values of the base stream");
        }
        // A part of a batch (any offset, any length) gets the values of the whole batch: element i is element i.
        let whole = normals(NoiseStream::new(1, 2, 3), 5000);
        for (start, end) in [(0, 1), (0, 63), (64, 130), (128, 4999), (4096, 5000)] {
            let mut part = vec![0.0; end - start];
            let first_block = start / BLOCK;
            let mut padded = vec![0.0; end - first_block * BLOCK];
            NoiseStream::new(1, 2, 3).add_serial(&mut padded, first_block, 1.0);
            part.copy_from_slice(&padded[start - first_block * BLOCK..]);
            assert_eq!(part, whole[start..end]);
        }
        // σ scales the values (as σ·(r·cos θ): the product in that order) and adds to what is there.
        let mut shifted = vec![2.0_f32; 1000];
        NoiseStream::new(7, 3, 11).add_to(&mut shifted, 0.5);
        let mut scaled = vec![0.0_f32; 1000];
        NoiseStream::new(7, 3, 11).add_to(&mut scaled, 0.5);
        for ((s, z), b) in shifted.iter().zip(&scaled).zip(&base) {
            assert_eq!(*s, 2.0 + z);
            assert!((z - 0.5 * b).abs() <= 1e-6 * b.abs().max(1.0), "{z} vs 0.5 × {b}");
        }
    }

    #[test]
    fn the_same_bits_on_one_and_two_threads_and_in_any_split() {
        // 256 × 784: split in two on two threads; the serial and split fills agree bit for bit
        let stream = NoiseStream::new(42, 1, 0);
        let mut serial = vec![0.5_f32; 256 * 784 + 5];
        stream.add_serial(&mut serial, 0, 0.3);
        for parts in [2, 3, 4, 7] {
            let mut split = vec![0.5_f32; 256 * 784 + 5];
            on_pool(|| stream.add_split(&mut split, 0, 0.3, parts));
            assert!(
                split.iter().zip(&serial).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{parts} parts"
            );
        }
        let mut threaded = vec![0.5_f32; 256 * 784 + 5];
        stream.add_to(&mut threaded, 0.3);
        assert!(threaded.iter().zip(&serial).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    /// About 2·10⁶ normals from several streams: the moments, the Kolmogorov–Smirnov distance to the normal CDF,
    /// the tail frequencies and the correlations of neighbours.
    #[test]
    fn the_noise_is_standard_normal() {
        let mut all = Vec::new();
        for batch in 0..8 {
            all.extend(normals(NoiseStream::new(123, 5, batch), 256 * 1000));
        }
        let n = all.len() as f64;
        let mean = all.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let variance = all.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let third = all.iter().map(|&v| (f64::from(v) - mean).powi(3)).sum::<f64>() / n;
        let fourth = all.iter().map(|&v| (f64::from(v) - mean).powi(4)).sum::<f64>() / n;
        // standard errors: 1/√n ≈ 7e-4 for the mean, √(2/n) ≈ 1e-3 for the variance; 5 of them
        assert!(mean.abs() < 5.0 / n.sqrt(), "mean {mean}");
        assert!((variance - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "variance {variance}");
        assert!(third.abs() < 5.0 * (6.0 / n).sqrt(), "third moment {third}");
        assert!((fourth - 3.0).abs() < 5.0 * (96.0 / n).sqrt(), "fourth moment {fourth}");

        // Kolmogorov–Smirnov: √n·D above 1.95 happens with probability 0.001 for a true normal
        let mut sorted: Vec<f64> = all.iter().map(|&v| f64::from(v)).collect();
        sorted.sort_by(f64::total_cmp);
        let d = sorted
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let cdf = normal_cdf(x);
                (cdf - i as f64 / n).abs().max(((i + 1) as f64 / n - cdf).abs())
            })
            .fold(0.0, f64::max);
        assert!(d * n.sqrt() < 1.95, "KS distance {d} (sqrt(n) D = {})", d * n.sqrt());

        // chi-square over 100 equiprobable cells (by the CDF): 99 degrees of freedom, 0.001 quantile 148.2
        let mut cells = [0_u64; 100];
        for &x in &sorted {
            cells[((normal_cdf(x) * 100.0) as usize).min(99)] += 1;
        }
        let expected = n / 100.0;
        let chi2: f64 = cells.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum();
        assert!(chi2 < 148.2, "chi-square {chi2}");

        // the tails: beyond 3σ (p = 2.70e-3) and 4σ (p = 6.33e-5), within 5 standard errors of a binomial count
        for (limit, p) in [(3.0, 2.699_796e-3), (4.0, 6.334_248e-5), (4.5, 6.795_346e-6)] {
            let count = all.iter().filter(|v| f64::from(v.abs()) > limit).count() as f64;
            let (want, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
            assert!(
                (count - want).abs() < 5.0 * sd + 1.0,
                "beyond {limit}: {count}, expected {want}"
            );
        }
        // the largest values reach past 4.5σ, as 2·10⁶ draws of a normal do, but not past the tail limit
        let largest = sorted[0].abs().max(sorted[sorted.len() - 1]);
        assert!(largest > 4.5 && largest < 7.54, "largest |z| {largest}");

        // neighbours (lag 1 to 5: within a Box–Muller pair, across pairs and Philox counters), and the same element
        // of consecutive batches, are uncorrelated: |r| below 5/√n
        let correlation = |a: &[f32], b: &[f32]| {
            let m = a.len() as f64;
            a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum::<f64>() / m
        };
        for lag in 1..=5 {
            let r = correlation(&all[..all.len() - lag], &all[lag..]);
            assert!(r.abs() < 5.0 / n.sqrt(), "lag {lag}: correlation {r}");
        }
        let per_batch = 256 * 1000;
        let across = correlation(&all[..7 * per_batch], &all[per_batch..]);
        assert!(
            across.abs() < 5.0 / (7.0 * per_batch as f64).sqrt(),
            "consecutive batches: {across}"
        );
        // and the squares too (Box–Muller's r is shared by a pair, but r·cos θ and r·sin θ are independent)
        let squares: Vec<f32> = all.iter().map(|v| v * v - 1.0).collect();
        for lag in 1..=4 {
            let r = correlation(&squares[..squares.len() - lag], &squares[lag..]) / 2.0;
            assert!(r.abs() < 5.0 / n.sqrt(), "squares at lag {lag}: correlation {r}");
        }
    }

    #[test]
    fn the_tails_follow_the_normal_far_out() {
        // u near its floor: r at the tail limit; the largest |z| the generator can give
        let r_max = (-2.0 * ln(uniform_open0(0, 0))).sqrt();
        assert!((r_max - 7.54).abs() < 0.01, "{r_max}");
        // the radius of u = the CDF of r² (exponential with mean 2) agrees to f32 precision far into the tail:
        // P(r > x) = exp(-x²/2) for u = exp(-x²/2) exactly
        for x in [0.001_f64, 0.5, 1.0, 3.0, 5.0, 6.0, 7.0, 7.5] {
            let u = (-x * x / 2.0).exp() as f32;
            let r = f64::from((-2.0 * ln(u)).sqrt());
            let want = (-2.0 * f64::from(u).ln()).sqrt();
            assert!(
                (r - want).abs() <= 4.0 * f64::from(f32::EPSILON) * want.max(1e-3),
                "x {x}: {r} vs {want}"
            );
        }
    }
}
