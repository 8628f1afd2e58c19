//! [`IdxArray`], the in-memory form of an IDX file, and [`ElementType`], the kind of number it holds.

use std::fmt;

use ndarray::{Array, ArrayD, Dimension};

use crate::error::{Error, Result};

/// The element type of an IDX file, as named by the third byte of its magic number.
///
/// ```
/// use autoencoder::idx::ElementType;
/// let t = ElementType::from_code(0x0D).unwrap();
/// assert_eq!((t, t.size(), t.to_string()), (ElementType::F32, 4, "f32".to_string()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// Unsigned byte, type code `0x08` (MNIST images and labels).
    U8,
    /// Signed byte, type code `0x09`.
    I8,
    /// Big-endian 2-byte signed integer, type code `0x0B`.
    I16,
    /// Big-endian 4-byte signed integer, type code `0x0C`.
    I32,
    /// Big-endian IEEE 754 single, type code `0x0D`.
    F32,
    /// Big-endian IEEE 754 double, type code `0x0E`.
    F64,
}

impl ElementType {
    /// Every element type, in type-code order.
    ///
    /// ```
    /// use autoencoder::idx::ElementType;
    /// let codes: Vec<u8> = ElementType::ALL.iter().map(|t| t.code()).collect();
    /// assert_eq!(codes, [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]);
    /// ```
    pub const ALL: [ElementType; 6] = [
        ElementType::U8,
        ElementType::I8,
        ElementType::I16,
        ElementType::I32,
        ElementType::F32,
        ElementType::F64,
    ];

    /// The type code stored in the third byte of the magic number.
    ///
    /// ```
    /// assert_eq!(autoencoder::idx::ElementType::U8.code(), 0x08);
    /// ```
    pub fn code(self) -> u8 {
        match self {
            ElementType::U8 => 0x08,
            ElementType::I8 => 0x09,
            ElementType::I16 => 0x0B,
            ElementType::I32 => 0x0C,
            ElementType::F32 => 0x0D,
            ElementType::F64 => 0x0E,
        }
    }

    /// The element type of a type code, or `None` for a code IDX does not define.
    ///
    /// ```
    /// use autoencoder::idx::ElementType;
    /// assert_eq!(ElementType::from_code(0x0B), Some(ElementType::I16));
    /// assert_eq!(ElementType::from_code(0x0A), None);
    /// ```
    pub fn from_code(code: u8) -> Option<ElementType> {
        ElementType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The size of one element in bytes.
    ///
    /// ```
    /// assert_eq!(autoencoder::idx::ElementType::F64.size(), 8);
    /// ```
    pub fn size(self) -> usize {
        match self {
            ElementType::U8 | ElementType::I8 => 1,
            ElementType::I16 => 2,
            ElementType::I32 | ElementType::F32 => 4,
            ElementType::F64 => 8,
        }
    }

    /// The Rust name of the element type: `"u8"`, `"i8"`, `"i16"`, `"i32"`, `"f32"` or `"f64"`.
    ///
    /// ```
    /// assert_eq!(autoencoder::idx::ElementType::I32.name(), "i32");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ElementType::U8 => "u8",
            ElementType::I8 => "i8",
            ElementType::I16 => "i16",
            ElementType::I32 => "i32",
            ElementType::F32 => "f32",
            ElementType::F64 => "f64",
        }
    }
}

impl fmt::Display for ElementType {
    /// Writes the Rust name, e.g. `u8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The contents of an IDX file: an n-dimensional array of one of the six IDX element types.
///
/// Build one from any owned `ndarray` array with `IdxArray::from(array)`; take the array back out with the
/// typed accessors ([`into_u8`](IdxArray::into_u8), [`as_f32`](IdxArray::as_f32), ...).
///
/// ```
/// use autoencoder::idx::{ElementType, IdxArray};
/// use autoencoder::ndarray::Array3;
///
/// # fn main() -> autoencoder::Result<()> {
/// let images = IdxArray::from(Array3::<u8>::zeros((2, 28, 28)));
/// assert_eq!(images.element_type(), ElementType::U8);
/// assert_eq!(images.shape(), &[2, 28, 28]);
/// assert_eq!(images.len(), 2 * 28 * 28);
///
/// // Asking for the wrong element type is an error that says what the array holds.
/// let err = images.clone().into_f32().unwrap_err();
/// assert!(err.to_string().contains("expected f32 elements, found u8"));
/// let pixels = images.into_u8()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum IdxArray {
    /// Unsigned bytes (type code `0x08`).
    U8(ArrayD<u8>),
    /// Signed bytes (type code `0x09`).
    I8(ArrayD<i8>),
    /// 2-byte signed integers (type code `0x0B`).
    I16(ArrayD<i16>),
    /// 4-byte signed integers (type code `0x0C`).
    I32(ArrayD<i32>),
    /// 4-byte floats (type code `0x0D`).
    F32(ArrayD<f32>),
    /// 8-byte floats (type code `0x0E`).
    F64(ArrayD<f64>),
}

/// Runs `$body` with `$a` bound to the array inside any variant.
macro_rules! with_array {
    ($value:expr, $a:ident => $body:expr) => {
        match $value {
            IdxArray::U8($a) => $body,
            IdxArray::I8($a) => $body,
            IdxArray::I16($a) => $body,
            IdxArray::I32($a) => $body,
            IdxArray::F32($a) => $body,
            IdxArray::F64($a) => $body,
        }
    };
}

/// The typed accessors and `From` conversions of one variant.
macro_rules! typed_access {
    ($variant:ident, $t:ty, $into:ident, $as:ident) => {
        #[doc = concat!("Takes out the `", stringify!($t), "` array, or fails with an [`Error::Idx`] that names ")]
        #[doc = "the element type actually held."]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "use autoencoder::idx::IdxArray;"]
        #[doc = concat!("let array = IdxArray::from(autoencoder::ndarray::arr1(&[1 as ", stringify!($t), "]));")]
        #[doc = concat!("assert_eq!(array.", stringify!($into), "().unwrap().len(), 1);")]
        #[doc = "```"]
        pub fn $into(self) -> Result<ArrayD<$t>> {
            match self {
                IdxArray::$variant(a) => Ok(a),
                other => Err(other.type_mismatch(ElementType::$variant)),
            }
        }

        #[doc = concat!("The `", stringify!($t), "` array, or `None` if the elements are of another type.")]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "use autoencoder::idx::IdxArray;"]
        #[doc = concat!("let array = IdxArray::from(autoencoder::ndarray::arr1(&[1 as ", stringify!($t), ", 2 as ", stringify!($t), "]));")]
        #[doc = concat!("assert_eq!(array.", stringify!($as), "().map(|a| a.len()), Some(2));")]
        #[doc = "```"]
        pub fn $as(&self) -> Option<&ArrayD<$t>> {
            match self {
                IdxArray::$variant(a) => Some(a),
                _ => None,
            }
        }
    };
}

impl IdxArray {
    /// The type of the elements.
    ///
    /// ```
    /// use autoencoder::idx::{ElementType, IdxArray};
    /// assert_eq!(IdxArray::from(autoencoder::ndarray::array![1i16]).element_type(), ElementType::I16);
    /// ```
    pub fn element_type(&self) -> ElementType {
        match self {
            IdxArray::U8(_) => ElementType::U8,
            IdxArray::I8(_) => ElementType::I8,
            IdxArray::I16(_) => ElementType::I16,
            IdxArray::I32(_) => ElementType::I32,
            IdxArray::F32(_) => ElementType::F32,
            IdxArray::F64(_) => ElementType::F64,
        }
    }

    /// The length of each dimension, outermost first (`[count, rows, cols]` for MNIST images).
    ///
    /// ```
    /// let images = autoencoder::IdxArray::from(autoencoder::ndarray::Array3::<u8>::zeros((5, 28, 28)));
    /// assert_eq!(images.shape(), &[5, 28, 28]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        with_array!(self, a => a.shape())
    }

    /// The number of dimensions (0 for a single scalar).
    ///
    /// ```
    /// use autoencoder::IdxArray;
    /// assert_eq!(IdxArray::from(autoencoder::ndarray::arr0(1.5f32)).ndim(), 0);
    /// assert_eq!(IdxArray::from(autoencoder::ndarray::array![[1u8, 2]]).ndim(), 2);
    /// ```
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// The number of elements: the product of the dimensions (1 for a 0-dimensional array).
    ///
    /// ```
    /// let labels = autoencoder::IdxArray::from(autoencoder::ndarray::Array1::<u8>::zeros(7));
    /// assert_eq!(labels.len(), 7);
    /// ```
    pub fn len(&self) -> usize {
        with_array!(self, a => a.len())
    }

    /// Whether the array has no elements (some dimension has length 0).
    ///
    /// ```
    /// let none = autoencoder::IdxArray::from(autoencoder::ndarray::Array2::<f64>::zeros((3, 0)));
    /// assert!(none.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    typed_access!(U8, u8, into_u8, as_u8);
    typed_access!(I8, i8, into_i8, as_i8);
    typed_access!(I16, i16, into_i16, as_i16);
    typed_access!(I32, i32, into_i32, as_i32);
    typed_access!(F32, f32, into_f32, as_f32);
    typed_access!(F64, f64, into_f64, as_f64);

    fn type_mismatch(&self, expected: ElementType) -> Error {
        let found = self.element_type();
        Error::Idx {
            path: None,
            message: format!(
                "expected {expected} elements, found {found} (type code 0x{:02X}) in an array of shape {:?}",
                found.code(),
                self.shape()
            ),
        }
    }
}

macro_rules! from_array {
    ($variant:ident, $t:ty) => {
        impl<D: Dimension> From<Array<$t, D>> for IdxArray {
            #[doc = concat!("Wraps an owned `", stringify!($t), "` array of any dimensionality.")]
            fn from(array: Array<$t, D>) -> IdxArray {
                IdxArray::$variant(array.into_dyn())
            }
        }
    };
}

from_array!(U8, u8);
from_array!(I8, i8);
from_array!(I16, i16);
from_array!(I32, i32);
from_array!(F32, f32);
from_array!(F64, f64);

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, array, IxDyn};

    #[test]
    fn type_codes_round_trip_and_unknown_codes_are_none() {
        for t in ElementType::ALL {
            assert_eq!(ElementType::from_code(t.code()), Some(t));
        }
        for code in [0x00, 0x07, 0x0A, 0x0F, 0xFF] {
            assert_eq!(ElementType::from_code(code), None);
        }
    }

    #[test]
    fn accessors_report_shape_type_and_length() {
        let a = IdxArray::from(array![[1.5f64, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(a.element_type(), ElementType::F64);
        assert_eq!((a.shape(), a.ndim(), a.len()), (&[2, 3][..], 2, 6));
        assert!(a.as_f64().is_some() && a.as_f32().is_none());

        let scalar = IdxArray::from(arr0(7i16));
        assert_eq!((scalar.ndim(), scalar.len(), scalar.is_empty()), (0, 1, false));

        let empty = IdxArray::from(ArrayD::<i8>::zeros(IxDyn(&[3, 0])));
        assert!(empty.is_empty());
    }

    #[test]
    fn wrong_type_names_expected_and_found() {
        let err = IdxArray::from(array![1i32, 2]).into_u8().unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed IDX data: expected u8 elements, found i32 (type code 0x0C) in an array of shape [2]"
        );
    }
}
