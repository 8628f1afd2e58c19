//! The IDX reader and writer: round trips for every element type, raw and gzip, and one test for each kind
//! of malformed input, asserting on what its message says.

mod common;

use std::io::{self, Read, Write};

use autoencoder::idx::{self, Compression, ElementType, IdxArray};
use autoencoder::ndarray::{array, Array, ArrayD, IxDyn};
use autoencoder::Error;
use common::{assert_contains, scratch};
use flate2::write::GzEncoder;

/// An IDX header: magic (two zero bytes, type code, dimension count), then each dimension big-endian.
fn header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The message of the error that reading `bytes` gives; fails the test if reading succeeds.
fn message(bytes: &[u8]) -> String {
    match idx::read_from(bytes) {
        Ok(array) => panic!("expected an error, read {:?} {:?}", array.element_type(), array.shape()),
        Err(e @ Error::Idx { path: None, .. }) => e.to_string(),
        Err(e) => panic!("expected Error::Idx, got {e:?}"),
    }
}

/// The array's elements as bit patterns, so that NaN payloads and -0.0 compare exactly.
fn bits(array: &IdxArray) -> Vec<u64> {
    match array {
        IdxArray::U8(a) => a.iter().map(|&x| x.into()).collect(),
        IdxArray::I8(a) => a.iter().map(|&x| x as u64).collect(),
        IdxArray::I16(a) => a.iter().map(|&x| x as u64).collect(),
        IdxArray::I32(a) => a.iter().map(|&x| x as u64).collect(),
        IdxArray::F32(a) => a.iter().map(|&x| x.to_bits().into()).collect(),
        IdxArray::F64(a) => a.iter().map(|&x| x.to_bits()).collect(),
    }
}

/// An array of `shape` for element type `t`, cycling through values that include each type's extremes.
fn sample(t: ElementType, shape: &[usize]) -> IdxArray {
    let n: usize = shape.iter().product();
    let shape = IxDyn(shape);
    fn cycle<T: Copy>(values: &[T], n: usize) -> Vec<T> {
        values.iter().copied().cycle().take(n).collect()
    }
    match t {
        ElementType::U8 => Array::from_shape_vec(shape, cycle(&[0u8, 1, 127, 128, 254, 255], n))
            .unwrap()
            .into(),
        ElementType::I8 => Array::from_shape_vec(shape, cycle(&[0i8, -1, 1, i8::MIN, i8::MAX], n))
            .unwrap()
            .into(),
        ElementType::I16 => Array::from_shape_vec(shape, cycle(&[0i16, -1, 258, i16::MIN, i16::MAX], n))
            .unwrap()
            .into(),
        ElementType::I32 => Array::from_shape_vec(shape, cycle(&[0i32, -1, 16_909_060, i32::MIN, i32::MAX], n))
            .unwrap()
            .into(),
        ElementType::F32 => {
            let values = [
                0.5f32,
                -0.0,
                f32::MIN_POSITIVE,
                f32::MAX,
                f32::NEG_INFINITY,
                f32::from_bits(0x7FC0_1234),
            ];
            Array::from_shape_vec(shape, cycle(&values, n)).unwrap().into()
        }
        ElementType::F64 => {
            let values = [
                0.1f64,
                -0.0,
                f64::MIN_POSITIVE,
                f64::MIN,
                f64::INFINITY,
                f64::from_bits(0x7FF8_0000_0000_0042),
            ];
            Array::from_shape_vec(shape, cycle(&values, n)).unwrap().into()
        }
    }
}

const SHAPES: [&[usize]; 6] = [&[], &[7], &[2, 3, 4], &[0], &[3, 0, 2], &[1, 1, 1, 1, 5]];

#[test]
fn every_type_and_shape_round_trips_raw_and_gzip_in_memory() {
    for t in ElementType::ALL {
        for shape in SHAPES {
            let array = sample(t, shape);
            for compression in [Compression::Raw, Compression::Gzip] {
                let mut bytes = Vec::new();
                idx::write_to(&mut bytes, &array, compression).unwrap();
                assert_eq!(bytes[..2] == [0x1F, 0x8B], compression == Compression::Gzip);
                let back = idx::read_from(&bytes[..]).unwrap();
                let case = format!("{t} {shape:?} {compression:?}");
                assert_eq!(back.element_type(), t, "{case}");
                assert_eq!(back.shape(), shape, "{case}");
                assert_eq!(bits(&back), bits(&array), "{case}");
            }
        }
    }
}

#[test]
fn every_type_round_trips_through_files_raw_and_gzip() {
    let dir = scratch("files");
    for t in ElementType::ALL {
        for compression in [Compression::Raw, Compression::Gzip] {
            let array = sample(t, &[4, 3, 2]);
            let path = dir.join(format!("{t}-{compression:?}"));
            idx::write(&path, &array, compression).unwrap();
            let back = idx::read(&path).unwrap();
            assert_eq!(
                (back.shape(), bits(&back)),
                (array.shape(), bits(&array)),
                "{t} {compression:?}"
            );
        }
    }
}

#[test]
fn writer_produces_the_exact_big_endian_bytes_of_the_format() {
    let cases: [(IdxArray, &[u8]); 6] = [
        (array![1u8, 255].into(), &[0x01, 0xFF]),
        (array![-1i8, 2].into(), &[0xFF, 0x02]),
        (array![-2i16, 0x0102].into(), &[0xFF, 0xFE, 0x01, 0x02]),
        (array![-1i32, 0x0102_0304].into(), &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]),
        (array![1.0f32, -2.0].into(), &[0x3F, 0x80, 0, 0, 0xC0, 0, 0, 0]),
        (
            array![1.0f64, -2.0].into(),
            &[0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ];
    for (array, data) in cases {
        let mut expected = header(array.element_type().code(), &[2]);
        expected.extend_from_slice(data);
        let mut bytes = Vec::new();
        idx::write_to(&mut bytes, &array, Compression::Raw).unwrap();
        assert_eq!(bytes, expected, "{}", array.element_type());
        assert_eq!(idx::read_from(&expected[..]).unwrap(), array);
    }
}

#[test]
fn three_dimensional_data_is_row_major() {
    let mut bytes = header(0x08, &[2, 2, 3]);
    bytes.extend(0..12u8);
    let a = idx::read_from(&bytes[..]).unwrap().into_u8().unwrap();
    assert_eq!(a[[0, 0, 2]], 2);
    assert_eq!(a[[0, 1, 0]], 3);
    assert_eq!(a[[1, 0, 0]], 6);
    assert_eq!(a[[1, 1, 2]], 11);
}

#[test]
fn zero_dimensional_file_holds_one_element() {
    let mut bytes = header(0x0C, &[]);
    bytes.extend_from_slice(&(-5i32).to_be_bytes());
    let a = idx::read_from(&bytes[..]).unwrap().into_i32().unwrap();
    assert_eq!(a, ArrayD::from_elem(IxDyn(&[]), -5));
}

#[test]
fn gzip_is_recognised_by_its_bytes_not_the_file_name() {
    let dir = scratch("names");
    let array = IdxArray::from(array![[1i16, 2], [3, 4]]);
    let (gzipped, raw) = (dir.join("plain-name.idx"), dir.join("looks-compressed.gz"));
    idx::write(&gzipped, &array, Compression::Gzip).unwrap();
    idx::write(&raw, &array, Compression::Raw).unwrap();
    assert_eq!(std::fs::read(&gzipped).unwrap()[..2], [0x1F, 0x8B]);
    assert_eq!(idx::read(&gzipped).unwrap(), array);
    assert_eq!(idx::read(&raw).unwrap(), array);
}

#[test]
fn concatenated_gzip_members_read_as_one_stream() {
    let mut bytes = header(0x08, &[3]);
    let mut gz = gzip(&bytes[..5]);
    bytes.extend([7, 8, 9]);
    gz.extend(gzip(&bytes[5..]));
    assert_eq!(idx::read_from(&gz[..]).unwrap(), IdxArray::from(array![7u8, 8, 9]));
}

#[test]
fn bundled_file_reads_as_the_bytes_flate2_gives() {
    let path = autoencoder::mnist::Mnist::bundled_dir().join("t10k-images-idx3-ubyte.gz");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let images = idx::read(&path).unwrap().into_u8().unwrap();
    assert_eq!(images.shape(), &[2000, 28, 28]);
    assert_eq!(&raw[..16], &header(0x08, &[2000, 28, 28])[..]);
    assert_eq!(images.as_slice().unwrap(), &raw[16..]);
}

// ---- Malformed input: each case is an error whose message names the problem. ----

#[test]
fn empty_input() {
    assert_contains(&message(b""), &["the input is empty", "4-byte magic number"]);
    assert_contains(&message(&gzip(b"")), &["the decompressed data is empty"]);
}

#[test]
fn magic_number_cut_short() {
    assert_contains(
        &message(&[0, 0, 0x08]),
        &["header cut short", "ends after 3 byte(s)", "magic number"],
    );
    assert_contains(&message(&[0]), &["header cut short", "ends after 1 byte(s)"]);
}

#[test]
fn bad_magic_number() {
    assert_contains(
        &message(&[0xDE, 0xAD, 0xBE, 0xEF, 1, 2]),
        &["bad magic 0xDEADBEEF", "two zero bytes"],
    );
    assert_contains(&message(&[0x12, 0x80]), &["bad magic (only 2 byte(s): 12 80)"]);
}

#[test]
fn unknown_type_code() {
    assert_contains(
        &message(&[0, 0, 0x0A, 1, 0, 0, 0, 0]),
        &["unknown type code 0x0A", "magic bytes 00 00 0a 01", "0x0E (f64)"],
    );
}

#[test]
fn little_endian_magic() {
    assert_contains(&message(&[0x03, 0x08, 0, 0, 1]), &["little-endian", "00 00 08 03"]);
}

#[test]
fn header_cut_short_in_the_dimensions() {
    let mut bytes = header(0x08, &[60000, 28, 28]);
    bytes.truncate(9);
    assert_contains(
        &message(&bytes),
        &[
            "header cut short",
            "3-dimensional IDX header is 16 bytes",
            "ends after 9 bytes",
        ],
    );
}

#[test]
fn data_cut_short_says_expected_and_found_bytes() {
    let mut bytes = header(0x0B, &[10, 3]);
    bytes.extend([0; 59]);
    assert_contains(
        &message(&bytes),
        &[
            "data cut short",
            "[10, 3] array of i16",
            "needs 60 bytes",
            "12-byte header",
            "holds only 59",
        ],
    );
    assert_contains(
        &message(&gzip(&bytes)),
        &["data cut short", "the decompressed data holds only 59"],
    );
}

#[test]
fn trailing_bytes_after_the_data() {
    let mut bytes = header(0x08, &[2, 2]);
    bytes.extend([1, 2, 3, 4, 5, 6, 7]);
    assert_contains(
        &message(&bytes),
        &["trailing bytes", "[2, 2] array of u8 takes 16 bytes", "has 3 more"],
    );
    assert_contains(
        &message(&gzip(&bytes)),
        &["trailing bytes", "the decompressed data has 3 more"],
    );
}

#[test]
fn an_endless_stream_after_the_data_does_not_hang() {
    let valid = [header(0x08, &[1]), vec![9]].concat();
    let err = idx::read_from((&valid[..]).chain(io::repeat(0)))
        .unwrap_err()
        .to_string();
    assert_contains(&err, &["trailing bytes", "at least 1048576 more"]);
}

#[test]
fn dimensions_whose_product_overflows() {
    assert_contains(
        &message(&header(0x08, &[u32::MAX; 3])),
        &["dimensions overflow", "[4294967295, 4294967295, 4294967295]"],
    );
    // The element count fits, but not its size in bytes.
    let msg = message(&header(0x0E, &[u32::MAX, u32::MAX, 1 << 30]));
    assert_contains(&msg, &["dimensions overflow", "array of f64"]);
    // As in ndarray, a zero-length axis does not excuse the others from overflowing.
    assert_contains(
        &message(&header(0x08, &[0, u32::MAX, u32::MAX, u32::MAX])),
        &["dimensions overflow"],
    );
}

/// The header of a 30-byte file claiming 10^12 one-byte elements, and one claiming 2^32 of them.
fn huge_claims() -> [Vec<u8>; 2] {
    let mut trillion = header(0x08, &[1_000_000, 1_000_000]);
    trillion.resize(30, 0);
    let mut four_gib = header(0x08, &[1 << 16, 1 << 16]);
    four_gib.resize(30, 0);
    [trillion, four_gib]
}

const CHILD_ENV: &str = "AUTOENCODER_IDX_TEST_MEMORY_LIMITED";

#[test]
fn a_header_claiming_far_more_data_fails_at_once_in_little_memory() {
    let [trillion, four_gib] = huge_claims();
    assert_contains(
        &message(&trillion),
        &["data cut short", "needs 1000000000000 bytes", "holds only 18"],
    );
    assert_contains(
        &message(&gzip(&four_gib)),
        &["data cut short", "needs 4294967296 bytes", "holds only 18"],
    );
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // This is the memory-limited copy: done.
    }
    // Once more with the address space capped at 512 MiB: allocating the claimed size would abort it.
    #[cfg(unix)]
    common::pass_again_in_512_mib(
        "a_header_claiming_far_more_data_fails_at_once_in_little_memory",
        CHILD_ENV,
    );
}

#[test]
fn corrupt_gzip() {
    let gz = gzip(&[header(0x08, &[100]), vec![42; 100]].concat());
    let mut damaged = gz.clone();
    damaged[12] ^= 0xFF; // inside the deflate data
    damaged[13] ^= 0xFF;
    assert_contains(&message(&damaged), &["corrupt gzip data"]);

    let mut bad_crc = gz.clone();
    let crc = bad_crc.len() - 8;
    bad_crc[crc] ^= 1;
    assert_contains(&message(&bad_crc), &["corrupt gzip data"]);

    let garbage_after = [&gz[..], b"<html>not gzip</html>"].concat();
    assert_contains(&message(&garbage_after), &["corrupt gzip data"]);

    assert_contains(&message(&[0x1F, 0x8B, 0x08]), &["gzip data cut short"]);
}

#[test]
fn gzip_cut_short() {
    let gz = gzip(&[header(0x08, &[100]), (0..100).collect()].concat());
    for len in [gz.len() - 4, gz.len() / 2, 12] {
        let msg = message(&gz[..len]);
        assert!(
            msg.contains("gzip data cut short") || msg.contains("data cut short"),
            "{len}: {msg}"
        );
    }
    assert_contains(&message(&gz[..gz.len() - 4]), &["gzip data cut short", "truncated"]);
}

#[test]
fn html_page_saved_under_an_idx_name() {
    let page = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>...</body></html>\n";
    let expect = [
        "looks like an HTML page titled \"404 Not Found\"",
        "e.g. a download error page",
    ];
    assert_contains(&message(page), &expect);
    assert_contains(&message(&gzip(page)), &expect);
    let dir = scratch("html");
    let path = dir.join("train-images-idx3-ubyte.gz");
    std::fs::write(&path, page).unwrap();
    let err = idx::read(&path).unwrap_err().to_string();
    assert_contains(&err, &[&path.display().to_string(), "HTML page"]);
}

#[test]
fn plain_text_file() {
    assert_contains(
        &message(b"5,0,0,0,128,255\n3,0,0,0,0,0\n"),
        &["looks like a text file", "\"5,0,0,0,128,255\""],
    );
}

#[test]
fn gzip_inside_gzip_is_named_with_its_magic() {
    let idx_bytes = [header(0x08, &[1]), vec![1]].concat();
    let twice = gzip(&gzip(&idx_bytes));
    assert_contains(
        &message(&twice),
        &["bad magic 0x1F8B0800", "gzip signature", "gzip inside gzip", "gunzip"],
    );
}

#[test]
fn other_archive_formats_are_named() {
    assert_contains(&message(b"PK\x03\x04\x14\x00\x00\x00"), &["ZIP archive"]);
    assert_contains(
        &message(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n"),
        &["Git LFS pointer"],
    );
}

#[test]
fn errors_reading_a_file_name_the_file() {
    let dir = scratch("path");
    let path = dir.join("short-idx1-ubyte");
    std::fs::write(&path, [header(0x08, &[5]), vec![1, 2]].concat()).unwrap();
    match idx::read(&path).unwrap_err() {
        Error::Idx { path: Some(p), message } => {
            assert_eq!(p, path);
            assert_contains(&message, &["data cut short"]);
        }
        other => panic!("expected Error::Idx with the path, got {other:?}"),
    }
    let err = idx::read(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("malformed IDX data in {}: data cut short", path.display())),
        "{err}"
    );

    let missing = dir.join("no-such-file");
    match idx::read(&missing).unwrap_err() {
        Error::Io { path, source } => {
            assert_eq!((path, source.kind()), (missing, io::ErrorKind::NotFound))
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
    assert!(matches!(idx::read(&dir), Err(Error::Io { path, .. }) if path == *dir));
}

#[test]
fn write_errors_name_the_file() {
    let dir = scratch("write");
    let path = dir.join("missing-folder").join("out.idx");
    let err = idx::write(&path, &IdxArray::from(array![1u8]), Compression::Raw).unwrap_err();
    assert!(matches!(&err, Error::Io { path: p, .. } if *p == path), "{err:?}");
    assert!(err.to_string().contains("out.idx"));
}

const FULL_DISK_CHILD_ENV: &str = "AUTOENCODER_IDX_TEST_FILE_SIZE_LIMITED";

/// A write that fails midway (the disk "full" past 8 KiB) leaves the previous file as it was, and no temporary
/// file: IDX files are replaced atomically, as model files are.
#[cfg(unix)]
#[test]
fn a_write_that_fails_midway_keeps_the_old_file() {
    let dir = scratch(&format!(
        "full-disk-{}",
        std::env::var_os(FULL_DISK_CHILD_ENV).is_some()
    ));
    let path = dir.join("weights.idx");
    if std::env::var_os(FULL_DISK_CHILD_ENV).is_none() {
        common::pass_again_with_8_kib_files("a_write_that_fails_midway_keeps_the_old_file", FULL_DISK_CHILD_ENV);
        return;
    }
    let old = IdxArray::from(array![1.0f32, 2.0, 3.0]);
    idx::write(&path, &old, Compression::Raw).unwrap();
    let before = std::fs::read(&path).unwrap();
    for compression in [Compression::Raw, Compression::Gzip] {
        // 400 KB of data (incompressible enough for gzip too), far past the 8 KiB the child may write
        let big = IdxArray::from(Array::from_shape_fn(100_000, |i| (i as f32 * 0.618_034).sin()));
        let err = idx::write(&path, &big, compression).unwrap_err();
        assert!(matches!(&err, Error::Io { path: p, .. } if *p == path), "{err:?}");
        let after = std::fs::read(&path).unwrap();
        assert!(
            after == before,
            "{compression:?}: the old file was damaged ({} bytes now)",
            after.len()
        );
        assert_eq!(
            common::entries(&dir),
            ["weights.idx"],
            "a temporary file was left behind"
        );
    }
    assert_eq!(idx::read(&path).unwrap(), old);
}

/// Yields its bytes, then fails (or, with `interrupt`, reports `Interrupted` before every read).
struct Flaky<'a> {
    bytes: &'a [u8],
    interrupt: bool,
    interrupted: bool,
}

impl Read for Flaky<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupt && !self.interrupted {
            self.interrupted = true;
            return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
        }
        self.interrupted = false;
        if self.bytes.is_empty() && !self.interrupt {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "network down"));
        }
        let n = buf.len().min(self.bytes.len()).min(3);
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn reader_failures_are_stream_errors_even_inside_gzip() {
    let bytes = [header(0x0C, &[4]), vec![0; 16]].concat();
    for input in [bytes[..10].to_vec(), gzip(&bytes)[..15].to_vec()] {
        let err = idx::read_from(Flaky {
            bytes: &input,
            interrupt: false,
            interrupted: false,
        })
        .unwrap_err();
        assert!(
            matches!(&err, Error::Stream(e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{err:?}"
        );
    }
}

#[test]
fn interrupted_reads_are_retried() {
    let bytes = [header(0x0D, &[2, 2]), (0..16).collect()].concat();
    for input in [bytes.clone(), gzip(&bytes)] {
        let array = idx::read_from(Flaky {
            bytes: &input,
            interrupt: true,
            interrupted: false,
        })
        .unwrap();
        assert_eq!(array.shape(), &[2, 2]);
    }
}

// Inputs that make `cargo fuzz run idx_read` (fuzz/fuzz_targets/idx_read.rs) fail belong here as regression
// tests. The runs so far have found none.
