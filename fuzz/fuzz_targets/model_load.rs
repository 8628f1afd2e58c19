//! Fuzzes the model and checkpoint loaders on arbitrary bytes.
//!
//! Besides "never panic, abort, hang or allocate what the input does not hold" (libFuzzer's `-rss_limit_mb` and
//! `-malloc_limit_mb` catch the last), it checks that:
//! - whatever loads saves again and loads back equal, and saving a loaded model reproduces its bytes;
//! - `Autoencoder::load` on a file (which reads in stages and refuses early) gives the same verdict, and the
//!   same message, as `Autoencoder::from_safetensors_bytes` on its bytes.
//!
//! Seed the corpus with `./seed-model-corpus.sh`; `model_load.dict` holds the format's keywords.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use autoencoder::{Autoencoder, Checkpoint, Error};
use libfuzzer_sys::fuzz_target;

/// A scratch file for this fuzzing process.
fn scratch_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("model_load-fuzz-{}.safetensors", std::process::id())))
}

/// Whatever loaded must save, load back equal, and save to the same bytes again; an error must format.
fn check_round_trip<T: PartialEq + std::fmt::Debug>(
    loaded: &Result<T, Error>,
    save: impl Fn(&T) -> Result<Vec<u8>, Error>,
    load: impl Fn(&[u8]) -> Result<T, Error>,
) {
    match loaded {
        Ok(value) => {
            let bytes = save(value).expect("what loaded must save");
            let again = load(&bytes).expect("what was saved must load");
            assert_eq!(&again, value, "the value changed in a save/load round trip");
            assert_eq!(save(&again).unwrap(), bytes, "saving is not deterministic");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let in_memory = Autoencoder::from_safetensors_bytes(data);
    check_round_trip(&in_memory, Autoencoder::to_safetensors_bytes, |b| {
        Autoencoder::from_safetensors_bytes(b)
    });

    std::fs::write(scratch_file(), data).unwrap();
    match (Autoencoder::load(scratch_file()), &in_memory) {
        (Ok(a), Ok(b)) => assert_eq!(&a, b, "the file and the bytes load to different models"),
        (Err(Error::ModelFile { message: a, .. }), Err(Error::ModelFile { message: b, .. })) => {
            assert_eq!(&a, b, "the file and the bytes give different errors")
        }
        (a, b) => panic!("the file and the bytes disagree: {a:?} vs {b:?}"),
    }

    let checkpoint = Checkpoint::from_safetensors_bytes(data);
    check_round_trip(&checkpoint, Checkpoint::to_safetensors_bytes, |b| {
        Checkpoint::from_safetensors_bytes(b)
    });
});
