//! Reading and writing IDX files, the format MNIST and Fashion-MNIST ship in.
//!
//! An IDX file is a 4-byte magic number — two zero bytes, a type code, the number of dimensions — then each
//! dimension's length as a big-endian `u32`, then the elements, big-endian, in row-major order:
//!
//! | type code | element | Rust type |
//! |---|---|---|
//! | `0x08` | unsigned byte | `u8` |
//! | `0x09` | signed byte | `i8` |
//! | `0x0B` | 2-byte integer | `i16` |
//! | `0x0C` | 4-byte integer | `i32` |
//! | `0x0D` | 4-byte float | `f32` |
//! | `0x0E` | 8-byte float | `f64` |
//!
//! [`read()`] and [`read_from`] accept the file raw or gzip-compressed: gzip is recognised by its first two
//! bytes (`1f 8b`), never by the file name. They return an [`IdxArray`], one variant per element type, each
//! holding an [`ndarray::ArrayD`]. [`write`](fn@write) and [`write_to`] write any [`IdxArray`], raw or gzipped.
//!
//! Malformed input is an [`Error::Idx`](crate::Error::Idx) whose message names the problem (bad magic, unknown
//! type code, header or data cut short, trailing bytes, corrupt gzip, an impossible shape), and says what the
//! bytes look like when they are plainly something else: an HTML page, a text file, a file still gzipped. A
//! header that claims more data than the input holds fails without allocating the claimed size.
//!
//! ```
//! use autoencoder::idx::{self, Compression, IdxArray};
//! use autoencoder::ndarray::array;
//!
//! # fn main() -> autoencoder::Result<()> {
//! let pixels = IdxArray::from(array![[0u8, 128, 255], [1, 2, 3]]);
//! let mut bytes = Vec::new();
//! idx::write_to(&mut bytes, &pixels, Compression::Raw)?;
//! assert_eq!(&bytes[..4], &[0, 0, 0x08, 2]); // magic: u8 elements, 2 dimensions
//!
//! let back = idx::read_from(&bytes[..])?;
//! assert_eq!(back.shape(), &[2, 3]);
//! assert_eq!(back.into_u8()?[[1, 2]], 3);
//!
//! // A file that is not IDX gets an error that says what it is.
//! let err = idx::read_from(&b"<!DOCTYPE html><title>404 Not Found</title>"[..]).unwrap_err();
//! assert!(err.to_string().contains("HTML page"));
//! # Ok(())
//! # }
//! ```

mod array;
mod diagnose;
mod read;
mod write;

pub use array::{ElementType, IdxArray};
pub(crate) use read::IdxStream;
pub use read::{read, read_from};
pub use write::{write, write_to, Compression};
