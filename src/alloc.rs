//! Fallible allocation of parameter buffers and a convolution's scratch: a model too large for memory is an [`Error`], not an abort of the
//! process (what `Vec::with_capacity` and `Array::zeros` do when the allocator says no).

use crate::error::{Error, Result};

/// An empty `Vec` with room for exactly `len` values of `f32`, or an error naming `what` (`"a 784 × 256 layer's
/// weights"`) and the bytes it needed.
pub(crate) fn try_vec(len: usize, what: &str) -> Result<Vec<f32>> {
    let mut values = Vec::new();
    match values.try_reserve_exact(len) {
        Ok(()) => Ok(values),
        Err(_) => Err(Error::InvalidArgument(format!(
            "{what} need {}, which could not be allocated",
            describe_bytes(len.checked_mul(size_of::<f32>()))
        ))),
    }
}

/// `len` zeros, or an error as [`try_vec`]'s.
pub(crate) fn try_zeros(len: usize, what: &str) -> Result<Vec<f32>> {
    let mut values = try_vec(len, what)?;
    values.resize(len, 0.0);
    Ok(values)
}

/// A `(rows, columns)` array of zeros, or an error as [`try_vec`]'s (also when the count overflows).
pub(crate) fn try_zeros_2d(shape: (usize, usize), what: &str) -> Result<ndarray::Array2<f32>> {
    let len = shape
        .0
        .checked_mul(shape.1)
        .ok_or_else(|| Error::InvalidArgument(format!("{what} need {}", describe_bytes(None))))?;
    let values = try_zeros(len, what)?;
    ndarray::Array2::from_shape_vec(shape, values).map_err(|e| Error::InvalidArgument(format!("{what}: {e}")))
}

/// `"40000400000 bytes (37.3 GiB)"`, or, for `None` (a count that overflows), a phrase saying it is too many.
pub(crate) fn describe_bytes(bytes: Option<usize>) -> String {
    match bytes {
        Some(bytes) => format!("{bytes} bytes ({:.1} GiB)", bytes as f64 / (1u64 << 30) as f64),
        None => "more bytes than memory can address".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_past_memory_are_errors_that_say_how_much() {
        let err = try_vec(usize::MAX / 8, "the test's values").unwrap_err().to_string();
        assert!(
            err.contains("the test's values need") && err.contains("could not be allocated"),
            "{err}"
        );
        assert!(try_vec(usize::MAX, "x")
            .unwrap_err()
            .to_string()
            .contains("more bytes than"));
        assert_eq!(try_zeros(3, "x").unwrap(), [0.0; 3]);
        assert_eq!(describe_bytes(Some(40_000_400_000)), "40000400000 bytes (37.3 GiB)");
    }
}
