//! The IDX parser: [`read`] for a file, [`read_from`] for any reader, raw or gzip-compressed, and
//! [`IdxStream`] for the crate's own readers that take the data a chunk at a time.

use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use byteorder::{BigEndian, ByteOrder};
use flate2::read::MultiGzDecoder;
use ndarray::{ArrayD, IxDyn};

use super::diagnose::{self, SNIFF_LEN};
use super::{ElementType, IdxArray};
use crate::error::{Error, Result};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// The first allocation for the data; later ones double what has arrived, up to what the header claims.
const FIRST_CHUNK: usize = 64 * 1024;

/// How many data bytes [`IdxStream::for_each_chunk`] hands over at a time.
const STREAM_CHUNK: usize = 64 * 1024;

/// How many trailing bytes are counted before giving up (so that an endless stream cannot hang the reader).
const TRAILING_COUNT_LIMIT: u64 = 1 << 20;

/// Reads the IDX file at `path`, raw or gzip-compressed (recognised by its first two bytes, not its name).
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened or read; [`Error::Idx`] naming the file and the problem if its
/// contents are not a well-formed IDX file.
///
/// ```
/// use autoencoder::idx;
/// use autoencoder::mnist::Mnist;
///
/// # fn main() -> autoencoder::Result<()> {
/// let labels = idx::read(Mnist::bundled_dir().join("t10k-labels-idx1-ubyte.gz"))?;
/// assert_eq!(labels.shape(), &[2000]);
/// assert!(labels.into_u8()?.iter().all(|&label| label <= 9));
/// # Ok(())
/// # }
/// ```
pub fn read(path: impl AsRef<Path>) -> Result<IdxArray> {
    IdxStream::open(path.as_ref())?.into_array()
}

/// Reads IDX data from any reader, raw or gzip-compressed (recognised by its first two bytes).
///
/// The reader is read in large chunks, so wrapping it in a `BufReader` gains little. It must hold exactly one
/// IDX array: bytes after the data are an error.
///
/// # Errors
/// [`Error::Stream`] if the reader fails; [`Error::Idx`] naming the problem if the data is not well-formed IDX.
///
/// ```
/// use autoencoder::idx;
///
/// // Magic 00 00 0B 01 (i16, 1 dimension), length 2, then the elements 1 and -2.
/// let bytes = [0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 0xFF, 0xFE];
/// let array = idx::read_from(&bytes[..]).unwrap().into_i16().unwrap();
/// assert_eq!(array.as_slice().unwrap(), &[1, -2]);
///
/// let err = idx::read_from(&bytes[..10]).unwrap_err();
/// assert!(err.to_string().contains("data cut short"));
/// ```
pub fn read_from(reader: impl Read) -> Result<IdxArray> {
    IdxStream::start(reader, None)?.into_array()
}

/// An IDX input whose header has been read and checked, but not yet its data.
///
/// [`IdxStream::into_array`] reads the data into an [`IdxArray`], as [`read`] does; [`IdxStream::for_each_chunk`]
/// hands it over a piece at a time instead, so that a caller converting it (the MNIST loader, to `f32`) never
/// holds all of its bytes at once. Both make the same checks, with the same messages, as [`read`].
pub(crate) struct IdxStream<'r> {
    /// The file read, if any: errors then name it, and a failing read is `Error::Io` rather than `Error::Stream`.
    path: Option<PathBuf>,
    layout: Layout,
    /// The (decompressed) bytes after the header.
    data: Box<dyn Read + 'r>,
}

/// What the header says, with the words messages use for the input.
struct Layout {
    header: Header,
    /// The number of data bytes the header declares.
    data_len: usize,
    /// `the input`, or `the decompressed data` for a gzipped input.
    input: &'static str,
}

impl IdxStream<'static> {
    /// Opens the IDX file at `path`, raw or gzipped, and reads its header.
    ///
    /// # Errors
    /// As [`read`], for the file and its header.
    pub(crate) fn open(path: &Path) -> Result<IdxStream<'static>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        IdxStream::start(file, Some(path.to_path_buf()))
    }
}

impl<'r> IdxStream<'r> {
    /// Detects gzip from the first two bytes, then reads the (decompressed) header.
    fn start(mut reader: impl Read + 'r, path: Option<PathBuf>) -> Result<IdxStream<'r>> {
        let parsed = (|| {
            let mut start = [0u8; 2];
            let n = read_full(&mut reader, &mut start)?;
            let reader = Cursor::new(start).take(n as u64).chain(reader);
            let gzipped = start[..n] == GZIP_MAGIC;
            let mut data: Box<dyn Read + 'r> = if gzipped {
                Box::new(GzipStream::new(reader))
            } else {
                Box::new(reader)
            };
            let input = if gzipped { "the decompressed data" } else { "the input" };
            let header = read_header(&mut data, input, gzipped)?;
            let data_len = header.data_len()?;
            let layout = Layout {
                header,
                data_len,
                input,
            };
            Ok((layout, data))
        })();
        match parsed {
            Ok((layout, data)) => Ok(IdxStream { path, layout, data }),
            Err(failure) => Err(to_error(path.as_deref(), failure)),
        }
    }

    /// The element type the header declares.
    pub(crate) fn element_type(&self) -> ElementType {
        self.layout.header.element_type
    }

    /// The length of each dimension, as the header declares them.
    pub(crate) fn shape(&self) -> &[usize] {
        &self.layout.header.dims
    }

    /// The number of data bytes the header declares: the number of elements times the element's size.
    pub(crate) fn data_len(&self) -> usize {
        self.layout.data_len
    }

    /// Reads the data into an array, checking that the input holds exactly what the header declares.
    ///
    /// # Errors
    /// As [`read`] (with the file named) or [`read_from`] (without).
    pub(crate) fn into_array(mut self) -> Result<IdxArray> {
        let layout = &self.layout;
        let parsed = (|| {
            let data = read_data(&mut self.data, layout.data_len, |found| layout.cut_short(found))?;
            check_end(&mut self.data, layout)?;
            to_array(&layout.header, data)
                .map_err(|e| Failure::Malformed(format!("{} is not a valid array: {e}", layout.header)))
        })();
        parsed.map_err(|failure| to_error(self.path.as_deref(), failure))
    }

    /// Hands the data bytes to `take` in order, in chunks of at most 64 KiB, then checks that the input ends
    /// there. Never holds more than one chunk, whatever the header claims.
    ///
    /// # Errors
    /// As [`IdxStream::into_array`]; `take` may have been given part of the data before the error.
    pub(crate) fn for_each_chunk(mut self, take: impl FnMut(&[u8])) -> Result<()> {
        let layout = &self.layout;
        let parsed = stream_data(&mut self.data, layout.data_len, take, |found| layout.cut_short(found))
            .and_then(|()| check_end(&mut self.data, layout));
        parsed.map_err(|failure| to_error(self.path.as_deref(), failure))
    }
}

impl Layout {
    /// The error for data that stops after `found` of its bytes.
    fn cut_short(&self, found: usize) -> Failure {
        Failure::Malformed(format!(
            "data cut short: {} needs {} bytes of data after the {}-byte header, but {} holds only {found} (a \
             truncated file, e.g. an interrupted download?)",
            self.header,
            self.data_len,
            self.header.len(),
            self.input
        ))
    }
}

/// The error a caller sees: `Error::Io` (naming the file) or `Error::Stream` if reading failed, `Error::Idx` if
/// the bytes are not IDX.
fn to_error(path: Option<&Path>, failure: Failure) -> Error {
    match (failure, path) {
        (Failure::Io(e), Some(path)) => Error::io(path, e),
        (Failure::Io(e), None) => Error::Stream(e),
        (Failure::Malformed(message), path) => Error::Idx {
            path: path.map(Path::to_path_buf),
            message,
        },
    }
}

/// Why parsing stopped: the reader failed, or the bytes are not IDX. The caller adds the file name, if any.
enum Failure {
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<CorruptGzip>()) {
            Some(corrupt) => Failure::Malformed(corrupt.to_string()),
            None => Failure::Io(e),
        }
    }
}

type Parsed<T> = std::result::Result<T, Failure>;

/// Checks that the data fills the stream exactly: nothing may follow it.
fn check_end(r: &mut impl Read, layout: &Layout) -> Parsed<()> {
    let extra = io::copy(&mut r.take(TRAILING_COUNT_LIMIT), &mut io::sink())?;
    if extra > 0 {
        let at_least = if extra == TRAILING_COUNT_LIMIT { "at least " } else { "" };
        return Err(Failure::Malformed(format!(
            "trailing bytes after the data: {} takes {} bytes with its header, but {} has {at_least}{extra} \
             more (two files joined, or a header with the wrong dimensions?)",
            layout.header,
            layout.header.len() + layout.data_len,
            layout.input
        )));
    }
    Ok(())
}

/// Reads and checks the magic number and the dimensions.
fn read_header(r: &mut impl Read, input: &str, gzipped: bool) -> Parsed<Header> {
    let mut magic = [0u8; 4];
    let got = read_full(r, &mut magic)?;
    let present = &magic[..got];
    if got == 0 {
        return Err(Failure::Malformed(format!(
            "{input} is empty: an IDX file starts with a 4-byte magic number"
        )));
    }
    if present.iter().take(2).any(|&b| b != 0) {
        let mut head = present.to_vec();
        // Best effort: the message only needs what arrives, so a read error here still reports the bad magic.
        let _ = r.take((SNIFF_LEN - got) as u64).read_to_end(&mut head);
        return Err(Failure::Malformed(diagnose::bad_magic(&head, gzipped)));
    }
    let element_type = match ElementType::from_code(magic[2]) {
        Some(t) if got == 4 => t,
        None if got >= 3 => {
            let bytes: Vec<String> = present.iter().map(|b| format!("{b:02x}")).collect();
            return Err(Failure::Malformed(format!(
                "unknown type code 0x{:02X} (magic bytes {}); IDX defines 0x08 (u8), 0x09 (i8), 0x0B (i16), \
                 0x0C (i32), 0x0D (f32) and 0x0E (f64)",
                magic[2],
                bytes.join(" ")
            )));
        }
        _ => {
            return Err(Failure::Malformed(format!(
                "header cut short: {input} ends after {got} byte(s), inside the 4-byte magic number"
            )))
        }
    };

    let ndim = usize::from(magic[3]);
    let mut dim_bytes = vec![0u8; 4 * ndim];
    let got = read_full(r, &mut dim_bytes)?;
    if got < dim_bytes.len() {
        return Err(Failure::Malformed(format!(
            "header cut short: a {ndim}-dimensional IDX header is {} bytes (the magic number and {ndim} \
             4-byte lengths), but {input} ends after {} bytes",
            4 + dim_bytes.len(),
            4 + got
        )));
    }
    // A length that does not fit in usize becomes usize::MAX, which `data_len` reports as an overflow.
    let dims = dim_bytes
        .chunks_exact(4)
        .map(|b| usize::try_from(BigEndian::read_u32(b)).unwrap_or(usize::MAX))
        .collect();
    Ok(Header { element_type, dims })
}

/// Reads exactly `len` bytes, growing the buffer only as bytes arrive, so that a header claiming far more data
/// than the stream holds fails without ever allocating the claimed size.
///
/// A stream that ends early is the failure `cut_short` makes of the number of bytes found.
fn read_data(r: &mut impl Read, len: usize, cut_short: impl Fn(usize) -> Failure) -> Parsed<Vec<u8>> {
    let mut buf = Vec::new();
    let mut filled = 0;
    while filled < len {
        if filled == buf.len() {
            let grow = buf.len().max(FIRST_CHUNK).min(len - buf.len());
            buf.reserve_exact(grow);
            buf.resize(buf.len() + grow, 0);
        }
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Err(cut_short(filled)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf)
}

/// Hands exactly `len` bytes to `take`, in chunks of at most [`STREAM_CHUNK`] read into one reused buffer.
///
/// A stream that ends early is the failure `cut_short` makes of the number of bytes found.
fn stream_data(
    r: &mut impl Read,
    len: usize,
    mut take: impl FnMut(&[u8]),
    cut_short: impl Fn(usize) -> Failure,
) -> Parsed<()> {
    let mut buf = vec![0u8; len.min(STREAM_CHUNK)];
    let mut passed = 0;
    while passed < len {
        let want = buf.len().min(len - passed);
        let got = read_full(r, &mut buf[..want])?;
        take(&buf[..got]);
        passed += got;
        if got < want {
            return Err(cut_short(passed));
        }
    }
    Ok(())
}

/// Fills `buf` as far as the stream allows; returns how many bytes were read (less than `buf.len()` at the end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What an IDX header declares: the element type and the length of each dimension.
struct Header {
    element_type: ElementType,
    dims: Vec<usize>,
}

impl Header {
    /// The size of the header in bytes: the magic number and one 4-byte length per dimension.
    fn len(&self) -> usize {
        4 + 4 * self.dims.len()
    }

    /// The number of data bytes, or an error if it cannot be addressed. Like `ndarray`, zero-length
    /// dimensions are left out of the overflow check, but the other dimensions must still fit.
    fn data_len(&self) -> Parsed<usize> {
        let size = self.element_type.size();
        let mut non_zero = self.dims.iter().filter(|&&d| d != 0);
        let bytes = non_zero
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .filter(|&b| isize::try_from(b).is_ok());
        match bytes {
            None => Err(Failure::Malformed(format!(
                "dimensions overflow: {self} would take more than {} bytes, more than memory can address, so \
                 the header is corrupt",
                isize::MAX
            ))),
            Some(_) if self.dims.contains(&0) => Ok(0),
            Some(bytes) => Ok(bytes),
        }
    }
}

impl fmt::Display for Header {
    /// `a [8000, 28, 28] array of u8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {:?} array of {}", self.dims, self.element_type)
    }
}

/// Converts the big-endian data bytes to an array of the element type.
fn to_array(header: &Header, bytes: Vec<u8>) -> std::result::Result<IdxArray, ndarray::ShapeError> {
    let shape = IxDyn(&header.dims);
    fn decode<T: Clone + Default>(bytes: &[u8], size: usize, convert: fn(&[u8], &mut [T])) -> Vec<T> {
        let mut out = vec![T::default(); bytes.len() / size];
        convert(bytes, &mut out);
        out
    }
    Ok(match header.element_type {
        ElementType::U8 => IdxArray::U8(ArrayD::from_shape_vec(shape, bytes)?),
        ElementType::I8 => {
            let data = bytes.into_iter().map(|b| i8::from_be_bytes([b])).collect();
            IdxArray::I8(ArrayD::from_shape_vec(shape, data)?)
        }
        ElementType::I16 => IdxArray::I16(ArrayD::from_shape_vec(
            shape,
            decode(&bytes, 2, BigEndian::read_i16_into),
        )?),
        ElementType::I32 => IdxArray::I32(ArrayD::from_shape_vec(
            shape,
            decode(&bytes, 4, BigEndian::read_i32_into),
        )?),
        ElementType::F32 => IdxArray::F32(ArrayD::from_shape_vec(
            shape,
            decode(&bytes, 4, BigEndian::read_f32_into),
        )?),
        ElementType::F64 => IdxArray::F64(ArrayD::from_shape_vec(
            shape,
            decode(&bytes, 8, BigEndian::read_f64_into),
        )?),
    })
}

/// A gzip decoder whose own errors (as opposed to the underlying reader's) come out tagged [`CorruptGzip`].
struct GzipStream<R: Read> {
    decoder: MultiGzDecoder<Watched<R>>,
}

impl<R: Read> GzipStream<R> {
    fn new(inner: R) -> Self {
        GzipStream {
            decoder: MultiGzDecoder::new(Watched { inner, failed: false }),
        }
    }
}

impl<R: Read> Read for GzipStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf).map_err(|e| {
            if self.decoder.get_ref().failed || e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io::Error::new(io::ErrorKind::InvalidData, CorruptGzip(e))
            }
        })
    }
}

/// A reader that remembers whether it has failed, to tell its errors from the decoder's.
struct Watched<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.inner.read(buf);
        self.failed = matches!(&result, Err(e) if e.kind() != io::ErrorKind::Interrupted);
        result
    }
}

/// An error of the gzip decoder: the compressed bytes are damaged or cut short.
#[derive(Debug)]
struct CorruptGzip(io::Error);

impl fmt::Display for CorruptGzip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.kind() == io::ErrorKind::UnexpectedEof {
            write!(
                f,
                "gzip data cut short: the compressed stream stops before its end marker ({}); the input is truncated",
                self.0
            )
        } else {
            write!(f, "corrupt gzip data: {} (the file is damaged)", self.0)
        }
    }
}

impl std::error::Error for CorruptGzip {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An IDX header of `u8` elements with the given dimensions.
    fn header(dims: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
        dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// What streaming `bytes` gives: the chunks handed over, then the outcome as text.
    fn streamed(bytes: &[u8]) -> (Vec<Vec<u8>>, std::result::Result<(), String>) {
        let mut chunks = Vec::new();
        let outcome = IdxStream::start(bytes, None)
            .and_then(|stream| stream.for_each_chunk(|chunk| chunks.push(chunk.to_vec())))
            .map_err(|e| e.to_string());
        (chunks, outcome)
    }

    #[test]
    fn streaming_hands_over_the_data_bytes_in_order_in_chunks_of_at_most_64_kib() {
        let data: Vec<u8> = (0..3 * 70_000).map(|i| (i * 7 % 251) as u8).collect();
        let file = [header(&[3, 70_000]), data.clone()].concat();
        for input in [file.clone(), gzip(&file)] {
            let stream = IdxStream::start(&input[..], None).unwrap();
            assert_eq!(
                (stream.element_type(), stream.shape(), stream.data_len()),
                (ElementType::U8, &[3, 70_000][..], data.len())
            );
            let (chunks, outcome) = streamed(&input);
            assert_eq!(outcome, Ok(()));
            assert!(chunks.len() >= 4 && chunks.iter().all(|c| !c.is_empty() && c.len() <= STREAM_CHUNK));
            assert_eq!(chunks.concat(), data);
        }
    }

    #[test]
    fn streaming_fails_exactly_as_reading_does() {
        let valid = [header(&[2, 40_000]), vec![5; 80_000]].concat();
        let mut huge = header(&[1 << 16, 1 << 16]);
        huge.resize(30, 0);
        let malformed = [
            valid[..valid.len() - 1].to_vec(),             // cut short in the second chunk
            valid[..10].to_vec(),                          // header cut short
            [valid.clone(), vec![1, 2, 3]].concat(),       // trailing bytes
            huge,                                          // claims 4 GiB, holds 18 bytes
            b"<!DOCTYPE html><title>404</title>".to_vec(), // not IDX
            vec![0, 0, 0x0D, 1, 0, 0, 0, 1, 0],            // an f32 cut short
        ];
        for bytes in malformed {
            for input in [bytes.clone(), gzip(&bytes), gzip(&bytes)[..20].to_vec()] {
                let expected = read_from(&input[..]).unwrap_err().to_string();
                assert_eq!(streamed(&input).1, Err(expected));
            }
        }
    }
}
