//! Fuzzes the IDX parser on raw and gzip input.
//!
//! Besides "never panic, abort, hang or allocate what the input does not hold" (libFuzzer's `-rss_limit_mb` and
//! `-malloc_limit_mb` catch the last), it checks two properties:
//! - IDX has one encoding per array, so bytes that parse as raw IDX are exactly what the writer makes of the
//!   array they parse to;
//! - the same bytes wrapped in gzip parse to the same array, or fail too (the gzip path runs on every input,
//!   not only on the rare ones that happen to start with a valid gzip header).
#![no_main]

use std::io::Write;

use autoencoder::idx::{self, Compression, IdxArray};
use libfuzzer_sys::fuzz_target;

fn encode(array: &IdxArray) -> Vec<u8> {
    let mut bytes = Vec::new();
    idx::write_to(&mut bytes, array, Compression::Raw).expect("a parsed array must be writable");
    bytes
}

fuzz_target!(|data: &[u8]| {
    let direct = idx::read_from(data);
    if let Ok(array) = &direct {
        if !data.starts_with(&[0x1F, 0x8B]) {
            assert_eq!(encode(array), data, "raw IDX must re-encode to the same bytes");
        }
    }

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    let wrapped = idx::read_from(&gz.finish().unwrap()[..]);
    if !data.starts_with(&[0x1F, 0x8B]) {
        match (&direct, &wrapped) {
            (Ok(a), Ok(b)) => assert_eq!(encode(a), encode(b), "gzip changed the array"),
            (Err(_), Err(_)) => {}
            _ => panic!("raw and gzip disagree: {direct:?} vs {wrapped:?}"),
        }
    }
    // Messages are built on every error path: make sure they format (no panics inside Display).
    if let Err(e) = direct {
        let _ = e.to_string();
    }
});
