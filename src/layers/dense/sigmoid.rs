//! The sigmoid sweep of an output layer, vectorised while giving bit for bit what the scalar
//! [`Activation::Sigmoid`](crate::Activation) gives.
//!
//! The scalar sigmoid calls the C library's `expf` once per element, which no compiler vectorises: on the
//! AE-16 workload that call was the largest cost after the matrix products. This module carries `expf`'s
//! algorithm as glibc 2.28+ implements it on x86-64 CPUs with FMA (`sysdeps/ieee754/flt-32/e_expf.c`: a
//! 32-entry table of `2^(i/32)` and a cubic polynomial, in `f64` with fused multiply-adds), written so that the
//! compiler vectorises it. It is used only where it has been seen to agree with the `expf` this process
//! actually calls: at first use it is compared with `f32::exp` on a spread of inputs (on other C libraries or
//! CPUs it simply is not used); arguments outside `(-88, 88)`, NaN included, go through the scalar sigmoid.
//! With AVX-512 the same operations are written out in its instructions ([`x86`]), so that the table is read
//! by permutes across registers rather than by the gather the compiler emits (slow on AMD's Zen 4).

use std::sync::OnceLock;

use crate::layers::Activation;

/// `tab[i] = bits(2^(i/32)) - (i << 47)`: `2^(k/32) = f64::from_bits(tab[k % 32] + (k << 47))` (glibc's
/// `__exp2f_data.tab`).
const TABLE: [u64; 32] = [
    0x3ff0000000000000,
    0x3fefd9b0d3158574,
    0x3fefb5586cf9890f,
    0x3fef9301d0125b51,
    0x3fef72b83c7d517b,
    0x3fef54873168b9aa,
    0x3fef387a6e756238,
    0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715,
    0x3feef1a7373aa9cb,
    0x3feedea64c123422,
    0x3feece086061892d,
    0x3feebfdad5362a27,
    0x3feeb42b569d4f82,
    0x3feeab07dd485429,
    0x3feea47eb03a5585,
    0x3feea09e667f3bcd,
    0x3fee9f75e8ec5f74,
    0x3feea11473eb0187,
    0x3feea589994cce13,
    0x3feeace5422aa0db,
    0x3feeb737b0cdc5e5,
    0x3feec49182a3f090,
    0x3feed503b23e255d,
    0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47,
    0x3fef199bdd85529c,
    0x3fef3720dcef9069,
    0x3fef5818dcfba487,
    0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da,
    0x3fefd0765b6e4540,
];
/// `32 / ln 2`.
const INV_LN2_N: f64 = f64::from_bits(0x40471547652b82fe); // 0x1.71547652b82fep+5
/// `1.5 · 2^52`: adding it rounds to an integer, kept in the low bits.
const SHIFT: f64 = f64::from_bits(0x4338000000000000); // 0x1.8p+52
/// The polynomial for `2^(r/32)`, highest degree first.
const C0: f64 = f64::from_bits(0x3ebc6af84b912394); // 0x1.c6af84b912394p-20
const C1: f64 = f64::from_bits(0x3f2ebfce50fac4f3); // 0x1.ebfce50fac4f3p-13
const C2: f64 = f64::from_bits(0x3f962e42ff0c52d6); // 0x1.62e42ff0c52d6p-6

/// Below this magnitude `expf` takes its main path (glibc: `abstop(x) <= top12(88.0) - 1`).
const LIMIT: f32 = 88.0;

/// `e^x` for `|x| < 88`, in the operations, and the order, of glibc's `expf` on FMA CPUs.
#[inline(always)]
fn exp_main_path(x: f32) -> f32 {
    let xd = f64::from(x);
    let z = INV_LN2_N.mul_add(xd, SHIFT); // k + SHIFT, k = round(x · 32 / ln 2)
    let ki = z.to_bits();
    let kd = z - SHIFT;
    let r = INV_LN2_N.mul_add(xd, -kd); // x · 32 / ln 2 - k, in [-1/2, 1/2]
    let s = f64::from_bits(TABLE[(ki & 31) as usize].wrapping_add(ki << 47)); // 2^(k/32)
    let p = C0.mul_add(r, C1);
    let r2 = r * r;
    let q = C2.mul_add(r, 1.0);
    (p.mul_add(r2, q) * s) as f32
}

/// The sigmoid of `z` as [`Activation::apply`] computes it (`1 / (1 + e^-z)` for `z >= 0`, `e^z / (1 + e^z)`
/// otherwise), with `e^-|z|` from [`exp_main_path`]: exact for `|z| < 88`.
#[inline(always)]
fn sigmoid_main_path(z: f32) -> f32 {
    let e = exp_main_path(-z.abs());
    if z >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// Whether [`exp_main_path`] gives what `f32::exp` gives in this process, on FMA hardware (without it,
/// `mul_add` would be a slow software routine, and glibc uses another variant).
fn agrees_with_libm() -> bool {
    static AGREES: OnceLock<bool> = OnceLock::new();
    *AGREES.get_or_init(|| {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        let fma = std::arch::is_x86_feature_detected!("fma");
        #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
        let fma = false;
        // 20,000 arguments spread over (-88, 0], the range the sigmoid uses, and the table's end points
        fma && (0..20_000u32).all(|i| {
            let x = -(i as f32) * (LIMIT / 20_000.0) - (i % 7) as f32 * 1e-4;
            x <= -LIMIT || exp_main_path(x).to_bits() == x.exp().to_bits()
        })
    })
}

/// `out = sigmoid(out + bias)`, element by element, vectorised where [`agrees_with_libm`]; bit for bit what
/// `Activation::Sigmoid.apply` gives.
///
/// Must be called inside a `pulp` vector context (an `inline(always)` chain from `WithSimd::with_simd`), where
/// `mul_add` is one instruction and the loops vectorise.
#[inline(always)]
pub(super) fn sigmoid_with_bias(out: &mut [f32], bias: &[f32]) {
    let scalar = |out: &mut [f32]| {
        out.iter_mut()
            .zip(bias)
            .for_each(|(y, &b)| *y = Activation::Sigmoid.apply(*y + b))
    };
    if !agrees_with_libm() {
        return scalar(out);
    }
    // Rows with an argument outside the main path (|z| >= 88, or NaN: rare) take the scalar form throughout.
    let outside = out.iter().zip(bias).fold(false, |outside, (&y, &b)| {
        let z = y + b;
        outside | (z.abs() >= LIMIT) | z.is_nan()
    });
    if outside {
        return scalar(out);
    }
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if let Some(simd) = pulp::x86::V4::try_new() {
        return simd.vectorize(
            #[inline(always)]
            || x86::sigmoid_main_path_with_bias(simd, out, bias),
        );
    }
    out.iter_mut()
        .zip(bias)
        .for_each(|(y, &b)| *y = sigmoid_main_path(*y + b));
}

/// [`sigmoid_main_path`] written out in AVX-512 instructions, eight values at a time: the same operations in the
/// same order, except that the table is read by two permutes across registers and a blend instead of a gather
/// (which takes about a quarter of the sigmoid's time on Zen 4).
///
/// After any change here, run the ignored exhaustive tests (`cargo test --release --lib exhaustive -- --ignored`):
/// `r` computed by a multiply and a subtraction instead of one fused operation changes one result in 2.2 billion,
/// which only they find.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86 {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::{__m256, __m512d, __m512i, _CMP_GE_OQ};
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::{__m256, __m512d, __m512i, _CMP_GE_OQ};

    use pulp::x86::V4;

    use super::{sigmoid_main_path, C0, C1, C2, INV_LN2_N, SHIFT, TABLE};

    /// `out = sigmoid(out + bias)` for arguments on the main path (`|z| < 88`, checked by the caller), bit for bit
    /// [`sigmoid_main_path`]`(out + bias)`.
    #[inline(always)]
    pub(super) fn sigmoid_main_path_with_bias(simd: V4, out: &mut [f32], bias: &[f32]) {
        let len = out.len().min(bias.len());
        let (out, bias) = (&mut out[..len], &bias[..len]);
        let (out_eights, out_rest) = pulp::as_arrays_mut::<8, f32>(out);
        let (bias_eights, bias_rest) = pulp::as_arrays::<8, f32>(bias);
        // the table as four vectors of eight entries
        let table: [__m512i; 4] =
            std::array::from_fn(|i| pulp::cast(std::array::from_fn::<u64, 8, _>(|j| TABLE[8 * i + j])));
        for (y, b) in out_eights.iter_mut().zip(bias_eights) {
            let z = simd.avx._mm256_add_ps(pulp::cast(*y), pulp::cast(*b));
            *y = pulp::cast(sigmoid_8(simd, z, table));
        }
        for (y, &b) in out_rest.iter_mut().zip(bias_rest) {
            *y = sigmoid_main_path(*y + b);
        }
    }

    /// [`sigmoid_main_path`] of eight arguments.
    #[inline(always)]
    fn sigmoid_8(simd: V4, z: __m256, table: [__m512i; 4]) -> __m256 {
        let avx = simd.avx;
        let e = exp_8(simd, avx._mm256_or_ps(z, avx._mm256_set1_ps(-0.0)), table); // e^-|z|
        let one = avx._mm256_set1_ps(1.0);
        // 1 / (1 + e) where z >= 0, e / (1 + e) elsewhere
        let numerator = avx._mm256_blendv_ps(e, one, avx._mm256_cmp_ps::<_CMP_GE_OQ>(z, avx._mm256_setzero_ps()));
        avx._mm256_div_ps(numerator, avx._mm256_add_ps(one, e))
    }

    /// [`exp_main_path`](super::exp_main_path) of eight arguments, in `f64` as glibc computes it; `table` is
    /// [`TABLE`] in four vectors.
    #[inline(always)]
    fn exp_8(simd: V4, x: __m256, table: [__m512i; 4]) -> __m256 {
        let avx = simd.avx512f;
        let splat = |value: f64| avx._mm512_set1_pd(value);
        let xd = avx._mm512_cvtps_pd(x);
        let z = avx._mm512_fmadd_pd(splat(INV_LN2_N), xd, splat(SHIFT)); // k + SHIFT
        let ki = avx._mm512_castpd_si512(z);
        let kd = avx._mm512_sub_pd(z, splat(SHIFT));
        let r = avx._mm512_fmsub_pd(splat(INV_LN2_N), xd, kd); // fma(INV_LN2_N, xd, -kd)
        let s = avx
            ._mm512_castsi512_pd(avx._mm512_add_epi64(table_entry(simd, table, ki), avx._mm512_slli_epi64::<47>(ki)));
        let p = avx._mm512_fmadd_pd(splat(C0), r, splat(C1));
        let r2 = avx._mm512_mul_pd(r, r);
        let q = avx._mm512_fmadd_pd(splat(C2), r, splat(1.0));
        let e: __m512d = avx._mm512_mul_pd(avx._mm512_fmadd_pd(p, r2, q), s);
        avx._mm512_cvtpd_ps(e)
    }

    /// `TABLE[ki & 31]` for each of the eight `ki`: entries 0–15 and 16–31 by a permute across two of `table`'s
    /// vectors each (bits 0–3 of `ki`), the half picked by bit 4.
    #[inline(always)]
    fn table_entry(simd: V4, table: [__m512i; 4], ki: __m512i) -> __m512i {
        let avx = simd.avx512f;
        let low = avx._mm512_permutex2var_epi64(table[0], ki, table[1]);
        let high = avx._mm512_permutex2var_epi64(table[2], ki, table[3]);
        let from_high = avx._mm512_test_epi64_mask(ki, avx._mm512_set1_epi64(16));
        avx._mm512_mask_blend_epi64(from_high, low, high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `sigmoid_with_bias` the way the sweeps do, inside pulp's vector context.
    fn sweep(out: &mut [f32], bias: &[f32]) {
        struct Sweep<'a>(&'a mut [f32], &'a [f32]);
        impl pulp::WithSimd for Sweep<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _simd: S) {
                sigmoid_with_bias(self.0, self.1)
            }
        }
        pulp::Arch::new().dispatch(Sweep(out, bias));
    }

    #[test]
    fn matches_the_scalar_sigmoid_bit_for_bit() {
        // a dense spread of arguments, and every special value, in rows with and without them
        let mut zs: Vec<f32> = (0..200_000)
            .map(|i| (i as f32 - 100_000.0) * 1.1e-3 + 1e-7 * (i % 13) as f32)
            .collect();
        zs.extend([0.0, -0.0, 87.99, -87.99, 88.0, -88.0, 103.0, -104.0, 1e30, -1e30]);
        zs.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
        ]);
        for chunk in zs.chunks(777) {
            let bias: Vec<f32> = (0..chunk.len()).map(|j| (j % 5) as f32 * 0.25 - 0.5).collect();
            let mut out = chunk.to_vec();
            sweep(&mut out, &bias);
            for ((&z, &b), &y) in chunk.iter().zip(&bias).zip(&out) {
                let want = Activation::Sigmoid.apply(z + b);
                assert_eq!(y.to_bits(), want.to_bits(), "sigmoid({z} + {b}): {y} vs {want}");
            }
        }
    }

    #[test]
    fn the_main_path_is_glibcs_expf_where_it_is_used() {
        if agrees_with_libm() {
            for i in 0..100_000 {
                let x = -(i as f32) * 8.8e-4;
                assert_eq!(exp_main_path(x).to_bits(), x.exp().to_bits(), "exp({x})");
            }
        }
    }

    /// Every `f32` in (-88, 0]: about 1.1 billion arguments, a few seconds in release mode.
    /// `cargo test --release --lib exhaustive -- --ignored`
    #[test]
    #[ignore]
    fn exhaustive_main_path_against_libm() {
        assert!(agrees_with_libm(), "the vectorised path is not in use on this machine");
        let mut mismatches = 0u64;
        for bits in 0x8000_0000u32..=0xc2b0_0000 {
            let x = f32::from_bits(bits);
            if x > -LIMIT && exp_main_path(x).to_bits() != x.exp().to_bits() {
                mismatches += 1;
            }
        }
        assert_eq!(mismatches, 0);
    }

    /// Every `f32` argument of the main path, (-88, 88), through the sweep (the AVX-512 form where the CPU has
    /// it): about 2.2 billion sigmoids against the scalar one, some seconds in release mode.
    /// `cargo test --release --lib exhaustive -- --ignored`
    #[test]
    #[ignore]
    fn exhaustive_sweep_against_the_scalar_sigmoid() {
        let zero_bias = vec![0.0f32; 4096];
        let mut mismatches = 0u64;
        for negative in [false, true] {
            let start = if negative { 0x8000_0000u32 } else { 0 };
            let end = start | 0x42b0_0000; // ±88
            let mut chunk = Vec::with_capacity(zero_bias.len());
            for bits in (start..end).step_by(zero_bias.len()) {
                chunk.clear();
                chunk.extend((bits..end.min(bits + zero_bias.len() as u32)).map(f32::from_bits));
                let mut out = chunk.clone();
                sweep(&mut out, &zero_bias[..chunk.len()]);
                mismatches += (chunk.iter().zip(&out))
                    .filter(|&(&z, &y)| y.to_bits() != Activation::Sigmoid.apply(z + 0.0).to_bits())
                    .count() as u64;
            }
        }
        assert_eq!(mismatches, 0);
    }
}
