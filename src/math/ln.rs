//! The natural logarithm of a positive normal `f32`: of the binary cross-entropy's clamped predictions, and of
//! the uniform numbers that become the noise of a denoising fit.
//!
//! `f32::ln` calls the C library once per element, which keeps a loop of them out of vector registers: the
//! binary cross-entropy of a 128 × 784 batch, with its gradient, took 300 µs that way and 81 µs with [`ln`]
//! (BENCHMARKS.md). [`ln`] is the classic `logf` of FreeBSD and musl, whose error is below one unit in the last
//! place, written as operations that the compiler vectorises: no branch, no call, no table. With no fused
//! multiply-add in it, it gives the same bits on every CPU.

/// `ln(2)` split in two: a high part with trailing zero bits (so that `k · LN2_HIGH` is exact for the exponents
/// `k` of an `f32`) and the rest.
const LN2_HIGH: f32 = f32::from_bits(0x3f31_7180);
const LN2_LOW: f32 = f32::from_bits(0x3717_f7d1);
/// The polynomial in `s²` for `(ln(1 + s) - ln(1 - s)) / s`, error below 2^-34 on the reduced range.
const LG1: f32 = f32::from_bits(0x3f2a_aaaa);
const LG2: f32 = f32::from_bits(0x3ecc_ce13);
const LG3: f32 = f32::from_bits(0x3e91_e9ee);
const LG4: f32 = f32::from_bits(0x3e78_9e26);
/// The bits of `sqrt(2) / 2`: mantissas are reduced into `[sqrt(2) / 2, sqrt(2))`.
const HALF_SQRT_2_BITS: u32 = 0x3f35_04f3;

/// `ln(x)` for a positive normal `x` (as the clamped predictions and their complements all are), within one unit
/// in the last place; a NaN stays NaN. Other inputs (zero, subnormals, negatives, infinity) are outside its
/// contract and give a finite value of no meaning.
///
/// ```text
/// x = 2^k · m with m in [sqrt(2)/2, sqrt(2)),  f = m - 1,  s = f / (2 + f)
/// ln(x) = k · ln 2 + ln(1 + f),  ln(1 + f) = f - f²/2 + s · (f²/2 + R(s²))
/// ```
#[inline(always)]
pub(crate) fn ln(x: f32) -> f32 {
    let shifted = x.to_bits().wrapping_add(1.0_f32.to_bits() - HALF_SQRT_2_BITS);
    let k = (shifted >> 23) as i32 - 0x7f;
    let m = f32::from_bits((shifted & 0x007f_ffff) + HALF_SQRT_2_BITS);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let r = z * (LG1 + w * LG3) + w * (LG2 + w * LG4);
    let half_f_squared = 0.5 * f * f;
    let k = k as f32;
    let value = s * (half_f_squared + r) + k * LN2_LOW - half_f_squared + f + k * LN2_HIGH;
    if x.is_nan() {
        x
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many representable `f32`s lie between `a` and `b`.
    fn ulps(a: f32, b: f32) -> u32 {
        let key = |x: f32| {
            let bits = x.to_bits() as i32;
            if bits < 0 {
                i32::MIN - bits
            } else {
                bits
            }
        };
        key(a).abs_diff(key(b))
    }

    #[test]
    fn within_one_unit_in_the_last_place_over_the_clamped_range() {
        // every 97th f32 from the clamp's lower end (1e-7) to just below 1, and the ends themselves
        let (low, high) = (crate::loss::BCE_EPSILON, 1.0 - crate::loss::BCE_EPSILON);
        let mut checked = 0;
        let mut bits = low.to_bits();
        while bits <= high.to_bits() {
            let x = f32::from_bits(bits);
            let exact = f64::from(x).ln();
            let want = exact as f32;
            assert!(
                ulps(ln(x), want) <= 1,
                "ln({x:e}) = {:e}, the exact value is {exact:e}",
                ln(x)
            );
            bits += 97;
            checked += 1;
        }
        assert!(checked > 100_000);
        for x in [low, high, 1.0 - high, 0.5, 1.0, 2.0, 1e30, f32::MIN_POSITIVE] {
            assert!(ulps(ln(x), f64::from(x).ln() as f32) <= 1, "ln({x:e})");
        }
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn nan_stays_nan() {
        assert!(ln(f32::NAN).is_nan());
        assert!(ln(-f32::NAN).is_nan());
    }
}
