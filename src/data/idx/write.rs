//! The IDX writer: [`write()`] for a file, [`write_to`] for any writer, raw or gzip-compressed.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use byteorder::{BigEndian, ByteOrder};
use flate2::write::GzEncoder;
use ndarray::ArrayD;

use super::IdxArray;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomically_with;

/// Whether [`write`](fn@write) and [`write_to`] compress what they write. Readers detect either form by itself.
///
/// ```
/// use autoencoder::idx::{self, Compression, IdxArray};
/// let array = IdxArray::from(autoencoder::ndarray::array![1u8, 2, 3]);
/// let (mut raw, mut gz) = (Vec::new(), Vec::new());
/// idx::write_to(&mut raw, &array, Compression::Raw)?;
/// idx::write_to(&mut gz, &array, Compression::Gzip)?;
/// assert_eq!(&gz[..2], &[0x1F, 0x8B]); // the gzip signature
/// assert_eq!(idx::read_from(&gz[..])?, idx::read_from(&raw[..])?);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Plain IDX bytes.
    #[default]
    Raw,
    /// IDX bytes in a gzip stream (flate2's default level), as MNIST is distributed (`*.gz`).
    Gzip,
}

/// How many elements are converted to big-endian bytes at a time.
const CHUNK: usize = 8192;

/// Writes `array` as an IDX file at `path`, replacing any file there.
///
/// The array is checked before the file is created, so an array that IDX cannot hold leaves no file behind. The
/// file is replaced atomically, as model files are: the data goes to a temporary file beside it, renamed over
/// `path` once complete, so a write that fails (a full disk) leaves any previous file as it was.
///
/// # Errors
/// [`Error::InvalidArgument`] if the array has more than 255 dimensions or a dimension longer than
/// `u32::MAX` (the limits of the IDX header); [`Error::Io`] naming the file if it cannot be written.
///
/// ```
/// use autoencoder::idx::{self, Compression, IdxArray};
/// use autoencoder::ndarray::array;
///
/// # fn main() -> autoencoder::Result<()> {
/// let path = std::env::temp_dir().join(format!("idx-write-doctest-{}.gz", std::process::id()));
/// let weights = IdxArray::from(array![[0.5f32, -1.0], [2.0, 0.25]]);
/// idx::write(&path, &weights, Compression::Gzip)?;
/// assert_eq!(idx::read(&path)?, weights);
/// # std::fs::remove_file(&path).ok();
/// # Ok(())
/// # }
/// ```
pub fn write(path: impl AsRef<Path>, array: &IdxArray, compression: Compression) -> Result<()> {
    let path = path.as_ref();
    let header = header(array)?;
    write_atomically_with(path, |file| {
        encode(BufWriter::with_capacity(1 << 16, file), &header, array, compression)
    })
}

/// Writes `array` as IDX data to any writer (pass `&mut writer` to keep using it afterwards).
///
/// # Errors
/// [`Error::InvalidArgument`] if the array has more than 255 dimensions or a dimension longer than
/// `u32::MAX`, before anything is written; [`Error::Stream`] if the writer fails.
///
/// ```
/// use autoencoder::idx::{self, Compression, IdxArray};
/// use autoencoder::ndarray::array;
///
/// let mut bytes = Vec::new();
/// idx::write_to(&mut bytes, &IdxArray::from(array![1i16, -2]), Compression::Raw).unwrap();
/// assert_eq!(bytes, [0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 0xFF, 0xFE]);
/// ```
pub fn write_to(writer: impl Write, array: &IdxArray, compression: Compression) -> Result<()> {
    let header = header(array)?;
    encode(writer, &header, array, compression).map_err(Error::Stream)
}

/// The magic number and dimensions, or an error if IDX cannot describe the array.
fn header(array: &IdxArray) -> Result<Vec<u8>> {
    let shape = array.shape();
    let ndim = u8::try_from(shape.len()).map_err(|_| {
        Error::InvalidArgument(format!(
            "cannot write an IDX file of {} dimensions: the header stores the count in one byte (at most 255)",
            shape.len()
        ))
    })?;
    let mut header = vec![0, 0, array.element_type().code(), ndim];
    for (axis, &len) in shape.iter().enumerate() {
        let len = u32::try_from(len).map_err(|_| {
            Error::InvalidArgument(format!(
                "cannot write an IDX file of shape {shape:?}: axis {axis} has length {len}, but the header stores \
                 each length as a 32-bit unsigned integer (at most {})",
                u32::MAX
            ))
        })?;
        header.extend_from_slice(&len.to_be_bytes());
    }
    Ok(header)
}

/// Writes header and data, through a gzip encoder if asked, and flushes.
fn encode<W: Write>(mut w: W, header: &[u8], array: &IdxArray, compression: Compression) -> io::Result<()> {
    match compression {
        Compression::Raw => {
            w.write_all(header)?;
            write_data(&mut w, array)?;
            w.flush()
        }
        Compression::Gzip => {
            let mut gz = GzEncoder::new(w, flate2::Compression::default());
            gz.write_all(header)?;
            write_data(&mut gz, array)?;
            gz.finish()?.flush()
        }
    }
}

/// Writes the elements big-endian in row-major order, whatever the array's memory layout.
fn write_data(w: &mut impl Write, array: &IdxArray) -> io::Result<()> {
    match array {
        IdxArray::U8(a) => match a.as_slice() {
            Some(bytes) => w.write_all(bytes),
            None => write_elements(w, a, 1, |src, dst| dst.copy_from_slice(src)),
        },
        IdxArray::I8(a) => write_elements(w, a, 1, |src, dst| {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s.to_be_bytes()[0];
            }
        }),
        IdxArray::I16(a) => write_elements(w, a, 2, BigEndian::write_i16_into),
        IdxArray::I32(a) => write_elements(w, a, 4, BigEndian::write_i32_into),
        IdxArray::F32(a) => write_elements(w, a, 4, BigEndian::write_f32_into),
        IdxArray::F64(a) => write_elements(w, a, 8, BigEndian::write_f64_into),
    }
}

/// Converts `CHUNK` elements at a time with `convert` (elements to `size`-byte big-endian values) and writes them.
fn write_elements<T: Copy>(
    w: &mut impl Write,
    array: &ArrayD<T>,
    size: usize,
    convert: impl Fn(&[T], &mut [u8]),
) -> io::Result<()> {
    let mut bytes = vec![0u8; CHUNK.min(array.len()) * size];
    let mut put = |chunk: &[T]| {
        let out = &mut bytes[..chunk.len() * size];
        convert(chunk, out);
        w.write_all(out)
    };
    match array.as_slice() {
        Some(elements) => elements.chunks(CHUNK).try_for_each(put),
        None => {
            // Not in row-major order in memory: gather each chunk in logical order first.
            let mut chunk = Vec::with_capacity(CHUNK.min(array.len()));
            for &x in array {
                chunk.push(x);
                if chunk.len() == CHUNK {
                    put(&chunk)?;
                    chunk.clear();
                }
            }
            put(&chunk)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, IxDyn};

    #[test]
    fn non_standard_layouts_are_written_in_row_major_order() {
        let t = array![[1i32, 2, 3], [4, 5, 6]].reversed_axes(); // column-major in memory
        assert!(t.as_slice().is_none());
        let mut bytes = Vec::new();
        write_to(&mut bytes, &IdxArray::from(t.clone()), Compression::Raw).unwrap();
        let data: Vec<i32> = bytes[12..].chunks(4).map(BigEndian::read_i32).collect();
        assert_eq!(data, [1, 4, 2, 5, 3, 6]);

        let u = array![[1u8, 2, 3], [4, 5, 6]].reversed_axes();
        let mut bytes = Vec::new();
        write_to(&mut bytes, &IdxArray::from(u), Compression::Raw).unwrap();
        assert_eq!(&bytes[12..], &[1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn chunks_longer_than_one_buffer_are_all_written() {
        let a = ndarray::Array::from_iter((0..CHUNK as i32 * 2 + 5).map(|i| i * 3));
        let mut bytes = Vec::new();
        write_to(&mut bytes, &IdxArray::from(a.clone()), Compression::Raw).unwrap();
        assert_eq!(bytes.len(), 8 + 4 * a.len());
        assert_eq!(
            crate::data::idx::read_from(&bytes[..]).unwrap().into_i32().unwrap(),
            a.into_dyn()
        );
    }

    #[test]
    fn shapes_idx_cannot_hold_are_refused_before_writing() {
        let many = ArrayD::<u8>::zeros(IxDyn(&[1; 256]));
        let err = write_to(Vec::new(), &IdxArray::from(many), Compression::Raw).unwrap_err();
        assert!(err.to_string().contains("256 dimensions"), "{err}");

        let long = ArrayD::<f32>::zeros(IxDyn(&[0, 5_000_000_000]));
        let err = write_to(Vec::new(), &IdxArray::from(long), Compression::Gzip).unwrap_err();
        assert!(err.to_string().contains("axis 1 has length 5000000000"), "{err}");
    }
}
