//! Model files: round trips, the format contract, atomic saves, and every way `load` must refuse a file.
//!
//! Broken files are made with the `safetensors` crate's own writer from a valid model's tensors, so the checks
//! do not depend on our writer.

mod common;

use std::fs;
use std::path::Path;

use autoencoder::ndarray::{Array1, Array2};
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{Activation, Autoencoder, Decoder, Dense, Encoder, Error, Init, Layer};
use common::{assert_contains, entries, scratch, Parts, Raw};
use safetensors::Dtype;

// ---------------------------------------------------------------------------------------------------------------
// helpers

/// Deterministic values that exercise the bit patterns a round trip could lose: signed zeros, subnormals,
/// the largest and smallest normal floats, and ordinary values.
fn value(seed: usize) -> f32 {
    const SPECIAL: [f32; 6] = [-0.0, 1.0e-40, f32::MAX, f32::MIN_POSITIVE, -f32::MAX, 0.0];
    if seed % 17 < SPECIAL.len() && seed.is_multiple_of(5) {
        SPECIAL[seed % 17]
    } else {
        ((seed as f32 * 0.618_034).fract() - 0.5) * 3.7
    }
}

fn dense(inputs: usize, outputs: usize, activation: Activation, seed: usize) -> Dense {
    let weights = Array2::from_shape_fn((inputs, outputs), |(i, j)| value(seed * 1000 + i * outputs + j));
    let bias = Array1::from_shape_fn(outputs, |j| value(seed * 7919 + j));
    Dense::from_parts(weights, bias, activation).unwrap()
}

/// 7 → 5 → 3 → 2 → 4 → 7, with every parameterised activation and a few others.
fn model() -> Autoencoder {
    let encoder = Encoder::new(vec![
        dense(7, 5, Activation::LeakyRelu(0.2), 1),
        dense(5, 3, Activation::Elu(1.5), 2),
        dense(3, 2, Activation::Identity, 3),
    ])
    .unwrap();
    let decoder = Decoder::new(vec![
        dense(2, 4, Activation::Gelu, 4),
        dense(4, 7, Activation::Sigmoid, 5),
    ])
    .unwrap();
    Autoencoder::new(encoder, decoder).unwrap()
}

/// Every layer's weights and biases as bits, and its activation: equal means bit-identical.
fn fingerprint(ae: &Autoencoder) -> Vec<(Vec<u32>, Vec<u32>, String)> {
    ae.encoder()
        .layers()
        .iter()
        .chain(ae.decoder().layers())
        .map(|l| {
            (
                l.weights().iter().map(|v| v.to_bits()).collect(),
                l.bias().iter().map(|v| v.to_bits()).collect(),
                l.activation().to_string(),
            )
        })
        .collect()
}

/// An F32 tensor of `shape` holding `values`.
fn f32_raw(shape: &[usize], values: &[f32]) -> Raw {
    Raw {
        dtype: Dtype::F32,
        shape: shape.to_vec(),
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

impl Parts {
    /// The parts of [`model`]'s file.
    fn of_model() -> Parts {
        Parts::of(&model().to_safetensors_bytes().unwrap())
    }

    /// The message of the [`Error::ModelFile`] that loading these parts gives.
    fn load_error(&self) -> String {
        load_error(&self.bytes())
    }
}

/// The message of the [`Error::ModelFile`] that loading `bytes` gives (and it must give one).
fn load_error(bytes: &[u8]) -> String {
    match Autoencoder::from_safetensors_bytes(bytes) {
        Err(Error::ModelFile { path, message }) => {
            assert_eq!(path, Path::new("<in-memory safetensors>"));
            message
        }
        Err(other) => panic!("expected Error::ModelFile, got {other:?}"),
        Ok(_) => panic!("loaded a model from invalid bytes"),
    }
}

/// A crash input from `cargo fuzz run model_load`: a header without tensors (`{\n}`), then 28 bytes of data.
fn fuzz_found_empty_header_with_data() -> Vec<u8> {
    [b"\x03\0\0\0\0\0\0\0{\n}".as_slice(), &[b'}'; 26], b"sf"].concat()
}

// ---------------------------------------------------------------------------------------------------------------
// round trips and the format

#[test]
fn save_then_load_is_bit_identical() {
    let dir = scratch("roundtrip");
    let path = dir.join("model.safetensors");
    let ae = model();
    ae.save(&path).unwrap();
    let loaded = Autoencoder::load(&path).unwrap();
    assert_eq!(fingerprint(&loaded), fingerprint(&ae));
    assert_eq!(loaded, ae);
    assert_eq!(
        fs::read(&path).unwrap(),
        ae.to_safetensors_bytes().unwrap(),
        "save writes the bytes"
    );
}

#[test]
fn the_same_model_always_gives_the_same_bytes() {
    let ae = model();
    let first = ae.to_safetensors_bytes().unwrap();
    for _ in 0..5 {
        assert_eq!(ae.clone().to_safetensors_bytes().unwrap(), first);
    }
    let again = Autoencoder::from_safetensors_bytes(&first).unwrap();
    assert_eq!(again.to_safetensors_bytes().unwrap(), first);
}

#[test]
fn the_file_follows_the_documented_format() {
    let ae = model();
    let bytes = ae.to_safetensors_bytes().unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(
        header_len % 8,
        0,
        "the header is padded to 8 bytes, as safetensors does"
    );

    let parts = Parts::of(&bytes);
    let names: Vec<&str> = parts.tensors.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "decoder.0.bias",
            "decoder.0.weight",
            "decoder.1.bias",
            "decoder.1.weight",
            "encoder.0.bias",
            "encoder.0.weight",
            "encoder.1.bias",
            "encoder.1.weight",
            "encoder.2.bias",
            "encoder.2.weight",
        ]
    );
    let layers: Vec<(String, &Dense)> = ae
        .encoder()
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("encoder.{i}"), l.as_dense().unwrap()))
        .chain(
            ae.decoder()
                .layers()
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("decoder.{i}"), l.as_dense().unwrap())),
        )
        .collect();
    for (name, layer) in &layers {
        let weight = &parts.tensors[&format!("{name}.weight")];
        assert_eq!(weight.dtype, Dtype::F32);
        assert_eq!(
            weight.shape,
            [layer.inputs(), layer.outputs()],
            "Keras layout (inputs, outputs)"
        );
        let expected: Vec<u8> = layer.weights().iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(weight.data, expected, "row-major little-endian f32");
        let bias = &parts.tensors[&format!("{name}.bias")];
        assert_eq!(
            (bias.dtype, bias.shape.as_slice()),
            (Dtype::F32, &[layer.outputs()][..])
        );
        assert_eq!(
            bias.data,
            layer.bias().iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()
        );
    }

    let meta = parts.metadata.unwrap();
    assert_eq!(meta["format"], "autoencoder");
    assert_eq!(meta["format_version"], "2");
    assert_eq!(meta["crate_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(meta["encoder.layers"], "3");
    assert_eq!(meta["decoder.layers"], "2");
    assert_eq!(meta["encoder.0.activation"], "leaky_relu(0.2)");
    assert_eq!(meta["encoder.1.activation"], "elu(1.5)");
    assert_eq!(meta["encoder.2.activation"], "identity");
    assert_eq!(meta["decoder.0.activation"], "gelu");
    assert_eq!(meta["decoder.1.activation"], "sigmoid");
    for layer in ["encoder.0", "encoder.1", "encoder.2", "decoder.0", "decoder.1"] {
        assert_eq!(meta[&format!("{layer}.kind")], "dense");
    }
    assert_eq!(meta.len(), 15, "no undocumented keys: {meta:?}");
}

#[test]
fn loads_files_from_the_safetensors_writer_and_ignores_unknown_metadata() {
    let mut parts = Parts::of_model();
    parts.meta().insert("note".into(), "written by hand in Python".into());
    let loaded = Autoencoder::from_safetensors_bytes(&parts.bytes()).unwrap();
    assert_eq!(fingerprint(&loaded), fingerprint(&model()));
}

#[test]
fn activations_of_every_kind_round_trip() {
    let activations = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::LeakyRelu(1.0e-7),
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Elu(0.3),
        Activation::Gelu,
        Activation::Softplus,
        Activation::Silu,
    ];
    let encoder = Encoder::new(
        activations
            .iter()
            .enumerate()
            .map(|(i, &a)| dense(3, 3, a, i))
            .collect(),
    )
    .unwrap();
    let decoder = Decoder::new(vec![dense(3, 3, Activation::Relu, 99)]).unwrap();
    let ae = Autoencoder::new(encoder, decoder).unwrap();
    let loaded = Autoencoder::from_safetensors_bytes(&ae.to_safetensors_bytes().unwrap()).unwrap();
    let found: Vec<Activation> = loaded.encoder().layers().iter().map(Layer::activation).collect();
    assert_eq!(found, activations);
}

#[test]
fn a_trained_builder_model_round_trips() {
    use autoencoder::{Adam, Loss};
    let mut ae = Autoencoder::builder(12).hidden(&[8]).latent(3).seed(5).build().unwrap();
    let x = Array2::from_shape_fn((6, 12), |(i, j)| ((i * 3 + j) % 5) as f32 / 4.0);
    let mut adam = Adam::new(1e-2);
    for _ in 0..3 {
        ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
    }
    let loaded = Autoencoder::from_safetensors_bytes(&ae.to_safetensors_bytes().unwrap()).unwrap();
    assert_eq!(fingerprint(&loaded), fingerprint(&ae));
    let (a, b) = (ae.reconstruct(x.view()).unwrap(), loaded.reconstruct(x.view()).unwrap());
    assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
}

// ---------------------------------------------------------------------------------------------------------------
// atomic saves

#[test]
fn saving_over_a_model_replaces_it_and_leaves_no_temporary_file() {
    let dir = scratch("replace");
    let path = dir.join("model.safetensors");
    Autoencoder::builder(5)
        .latent(2)
        .seed(1)
        .build()
        .unwrap()
        .save(&path)
        .unwrap();
    let ae = model();
    ae.save(&path).unwrap();
    assert_eq!(Autoencoder::load(&path).unwrap(), ae);
    assert_eq!(entries(&dir), ["model.safetensors"]);
}

#[test]
fn a_failed_save_leaves_the_previous_file_byte_identical() {
    let dir = scratch("failed");
    let path = dir.join("model.safetensors");
    model().save(&path).unwrap();
    let before = fs::read(&path).unwrap();

    // A diverged model is refused before anything is written.
    let nan = Dense::from_parts(Array2::from_elem((7, 2), f32::NAN), Array1::zeros(2), Activation::Relu).unwrap();
    let diverged = Autoencoder::new(
        Encoder::new(vec![nan]).unwrap(),
        Decoder::new(vec![dense(2, 7, Activation::Sigmoid, 1)]).unwrap(),
    )
    .unwrap();
    let err = diverged.save(&path).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert_contains(&err.to_string(), &["encoder.0.weight", "NaN", "diverged"]);
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(entries(&dir), ["model.safetensors"]);
}

/// `load` could not read back `leaky_relu(NaN)`, so `save` must not write it (it once did).
#[test]
fn an_activation_with_a_non_finite_parameter_is_not_saved() {
    let dir = scratch("odd-activation");
    let path = dir.join("model.safetensors");
    for slope in [f32::NAN, f32::INFINITY] {
        let decoder = Decoder::new(vec![dense(2, 7, Activation::LeakyRelu(slope), 1)]).unwrap();
        let encoder = Encoder::new(vec![dense(7, 2, Activation::Relu, 2)]).unwrap();
        let err = Autoencoder::new(encoder, decoder).unwrap().save(&path).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        assert_contains(&err.to_string(), &["decoder.0", "leaky_relu(", "not a finite number"]);
    }
    assert_eq!(entries(&dir), Vec::<String>::new(), "nothing was written");
}

#[test]
fn a_save_whose_rename_fails_leaves_the_target_and_no_temporary_file() {
    // The target is a folder with a file in it: the temporary file is written in full, then the rename over
    // the folder fails. Neither the folder nor its contents may change.
    let dir = scratch("rename");
    let target = dir.join("model.safetensors");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep.txt"), b"precious").unwrap();
    let err = model().save(&target).unwrap_err();
    match &err {
        Error::Io { path, .. } => assert_eq!(path, &target),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    assert!(target.is_dir());
    assert_eq!(fs::read(target.join("keep.txt")).unwrap(), b"precious");
    assert_eq!(entries(&dir), ["model.safetensors"], "a temporary file was left behind");
    assert_eq!(entries(&target), ["keep.txt"]);
}

#[test]
fn saving_into_a_missing_folder_is_an_io_error_naming_the_path() {
    let dir = scratch("missing-folder");
    let path = dir.join("no/such/folder/model.safetensors");
    let err = model().save(&path).unwrap_err();
    assert!(matches!(&err, Error::Io { path: p, .. } if p == &path), "{err:?}");
    assert_contains(&err.to_string(), &["no/such/folder/model.safetensors"]);
    assert_eq!(entries(&dir), Vec::<String>::new());
}

#[test]
fn concurrent_saves_to_one_path_leave_one_whole_model() {
    let dir = scratch("concurrent");
    let path = dir.join("model.safetensors");
    let models: Vec<Autoencoder> = (0..4)
        .map(|seed| {
            Autoencoder::builder(30)
                .hidden(&[20])
                .latent(4)
                .seed(seed)
                .build()
                .unwrap()
        })
        .collect();
    let (models, path) = common::within(60, move || {
        std::thread::scope(|scope| {
            for ae in &models {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..10 {
                        ae.save(path).unwrap();
                    }
                });
            }
        });
        (models, path)
    });
    let loaded = Autoencoder::load(&path).unwrap();
    assert!(models.contains(&loaded));
    assert_eq!(entries(&dir), ["model.safetensors"]);
}

// ---------------------------------------------------------------------------------------------------------------
// load: files that are not models

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let path = std::env::temp_dir().join("autoencoder-no-such-model.safetensors");
    let err = Autoencoder::load(&path).unwrap_err();
    assert!(matches!(&err, Error::Io { path: p, .. } if p == &path), "{err:?}");
}

#[test]
fn errors_from_files_name_the_file() {
    let dir = scratch("named");
    let path = dir.join("notes.safetensors");
    fs::write(&path, "these are my notes, not a model").unwrap();
    let err = Autoencoder::load(&path).unwrap_err();
    assert!(
        matches!(&err, Error::ModelFile { path: p, .. } if p == &path),
        "{err:?}"
    );
    assert_contains(&err.to_string(), &["notes.safetensors", "not a safetensors file"]);
}

#[test]
fn files_that_are_not_safetensors_are_named() {
    let cases: [(&[u8], &str); 8] = [
        (b"", "too short"),
        (b"\x01\x02\x03", "too short"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl", "zip archive"),
        (b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00\x00\x08\x08\x00", "HDF5"),
        (b"\x80\x02\x8a\x0alh\xf9\x9c\x46\xf9\x20\x6a\xa8\x50\x19", "pickle"),
        (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'}", "NumPy"),
        (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "HTML"),
        (b"{\"encoder.0.weight\": [[1, 2], [3, 4]]}", "JSON"),
    ];
    for (bytes, expected) in cases {
        assert_contains(&load_error(bytes), &[expected]);
    }
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend(std::iter::repeat_n(0x55, 600_000));
    assert_contains(&load_error(&gz), &["gzip"]);
    assert_contains(
        &load_error(b"\xff\xff\xff\xff\xff\xff\xff\xffxyz"),
        &["header length of 18446744073709551615 bytes, over the limit of"],
    );
}

#[test]
fn every_truncation_of_a_model_file_is_an_error() {
    let bytes = model().to_safetensors_bytes().unwrap();
    for len in 0..bytes.len() {
        load_error(&bytes[..len]);
    }
    // Cut inside the tensor data: the message says so, with the sizes.
    let message = load_error(&bytes[..bytes.len() - 10]);
    assert_contains(&message, &["truncated", "bytes of tensor data"]);
    // Cut inside the header.
    assert_contains(&load_error(&bytes[..40]), &["truncated", "header length"]);
}

#[test]
fn bytes_after_the_last_tensor_are_an_error() {
    let mut bytes = model().to_safetensors_bytes().unwrap();
    bytes.extend_from_slice(b"trailing");
    assert_contains(&load_error(&bytes), &["after the last tensor"]);
    // Found by fuzzing: the same for a header without tensors.
    let message = load_error(&fuzz_found_empty_header_with_data());
    assert_contains(&message, &["describes 0 bytes of tensor data, but the file holds 28"]);
}

#[test]
fn corrupt_headers_are_errors() {
    let header = |json: &str| {
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(json.as_bytes());
        bytes
    };
    assert_contains(&load_error(&header("{\"a\": ")), &["not valid JSON"]);
    assert_contains(&load_error(&header("[1, 2, 3]")), &["not valid JSON"]);
    let mut not_utf8 = 4_u64.to_le_bytes().to_vec();
    not_utf8.extend_from_slice(b"\xff\xfe\xfd\xfc");
    assert_contains(&load_error(&not_utf8), &["UTF-8"]);
    let overlapping = header(
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#,
    );
    assert_contains(
        &load_error(&overlapping),
        &[
            "tensor \"b\" has data offsets [2, 6], but the previous tensor ends at 4",
            "gaps or overlaps",
        ],
    );
    // A name given twice: which one counts is not for the loader to guess.
    let twice = header(
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
    );
    assert_contains(
        &load_error(&[twice, vec![0; 8]].concat()),
        &["tensor \"a\" appears twice"],
    );
    let metadata_twice = header(r#"{"__metadata__":{"format":"autoencoder"},"__metadata__":{}}"#);
    assert_contains(&load_error(&metadata_twice), &["__metadata__ appears twice"]);
    let wrong_size = header(r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}"#);
    assert_contains(
        &load_error(&[wrong_size, vec![0; 4]].concat()),
        &[
            "tensor \"a\" has dtype F32 and shape (3,), which take 12 bytes",
            "span 4 bytes",
        ],
    );
}

#[test]
fn a_corrupt_header_always_gets_the_same_message() {
    // Found by fuzzing: tensors that start at the same offset. `safetensors` checks them in HashMap order, which
    // differs between calls, so it blames one or the other; our message must not change from load to load.
    let bytes = bytes_with_header(
        r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#,
        8,
    );
    let first = load_error(&bytes);
    assert_contains(&first, &["tensor \"z\" has shape (0,) and holds nothing"]);
    for _ in 0..50 {
        assert_eq!(load_error(&bytes), first);
    }
    let without_empty = bytes_with_header(
        r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        8,
    );
    let first = load_error(&without_empty);
    assert_contains(
        &first,
        &["tensor \"y\" has data offsets [0, 8], but the previous tensor ends at 4"],
    );
    for _ in 0..50 {
        assert_eq!(load_error(&without_empty), first);
    }
}

/// A safetensors file with this JSON header and `data` zero bytes after it.
fn bytes_with_header(json: &str, data: usize) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.resize(bytes.len() + data, 0);
    bytes
}

#[test]
fn a_header_claiming_huge_tensors_fails_without_allocating_them() {
    // 2^30 × 2^20 f32 values (4 PiB) claimed by a 200-byte file: refused from the header alone.
    let json = format!(
        r#"{{"__metadata__":{{"format":"autoencoder","format_version":"1"}},"encoder.0.weight":{{"dtype":"F32","shape":[{},{}],"data_offsets":[0,{}]}}}}"#,
        1_u64 << 30,
        1_u64 << 20,
        1_u64 << 52
    );
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.extend_from_slice(&[0; 16]);
    assert_contains(
        &load_error(&bytes),
        &["truncated", "describes 4503599627370496 bytes", "holds only 16"],
    );

    // A shape whose element count overflows.
    let json = r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}"#;
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    assert_contains(&load_error(&bytes), &["too large"]);

    // A header length of 10 MB in a 100-byte file on disk: refused before reading further.
    let dir = scratch("huge-header");
    let path = dir.join("model.safetensors");
    let mut bytes = 10_000_000_u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[b' '; 92]);
    fs::write(&path, &bytes).unwrap();
    let err = Autoencoder::load(&path).unwrap_err();
    assert_contains(&err.to_string(), &["header length is 10000000 bytes, but only 92"]);
    // One of 90 MB, over the limit of a model file's header.
    bytes[..8].copy_from_slice(&90_000_000_u64.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let err = Autoencoder::load(&path).unwrap_err();
    assert_contains(
        &err.to_string(),
        &["header length of 90000000 bytes, over the limit of"],
    );
}

#[test]
fn offsets_that_tile_up_to_2_pow_64_are_an_error_not_an_overflow() {
    // Issue 9: the tensor table is consistent (offsets tile, sizes match shapes), but the data it claims ends at
    // 2^64 - 8, so adding the header's size overflowed (a panic in debug builds).
    let bytes = common::offsets_up_to_2_pow_64();
    let expected = [
        "truncated",
        "describes 18446744073709551608 bytes of tensor data",
        "holds only 0",
    ];
    let message = load_error(&bytes);
    assert_contains(&message, &expected);
    let dir = scratch("offsets-2-pow-64");
    let path = dir.join("model.safetensors");
    fs::write(&path, &bytes).unwrap();
    match Autoencoder::load(&path) {
        Err(Error::ModelFile { message: from_file, .. }) => assert_eq!(from_file, message),
        other => panic!("expected Error::ModelFile, got {other:?}"),
    }
}

/// The header of issue 9: `{"__metadata__":{"format":"autoencoder"},"x":[0,0,0,...]}`, 99 MB of JSON that
/// `safetensors` accepts by length, with no data after it.
fn a_99_mb_header() -> Vec<u8> {
    let prefix = br#"{"__metadata__":{"format":"autoencoder"},"x":[0"#;
    let zeros = (99_000_000 - prefix.len() - 2) / 2;
    let mut json = Vec::with_capacity(99_000_000);
    json.extend_from_slice(prefix);
    for _ in 0..zeros {
        json.extend_from_slice(b",0");
    }
    json.extend_from_slice(b"]}");
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    bytes
}

const CHILD_ENV: &str = "AUTOENCODER_PERSISTENCE_TEST_MEMORY_LIMITED";

#[test]
fn a_99_mb_header_is_refused_before_parsing_in_little_memory() {
    // Issue 9: such a header was parsed into JSON values several times, 1.6 GB and seconds for an error.
    let bytes = a_99_mb_header();
    let header_len = bytes.len() - 8;
    let expected = [
        &format!("header length of {header_len} bytes") as &str,
        &format!("over the limit of {} bytes", autoencoder::persist::MAX_HEADER_BYTES),
    ];
    assert_contains(&load_error(&bytes), &expected);
    match autoencoder::Checkpoint::from_safetensors_bytes(&bytes) {
        Err(Error::ModelFile { message, .. }) => assert_contains(&message, &expected),
        other => panic!("expected Error::ModelFile, got {other:?}"),
    }
    let dir = scratch("header-99-mb");
    let path = dir.join("model.safetensors");
    fs::write(&path, &bytes).unwrap();
    drop(bytes);
    assert_contains(&Autoencoder::load(&path).unwrap_err().to_string(), &expected);
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // This is the memory-limited copy: done.
    }
    // Once more with the address space capped at 512 MiB: parsing the header into JSON values would abort it.
    #[cfg(unix)]
    common::pass_again_in_512_mib("a_99_mb_header_is_refused_before_parsing_in_little_memory", CHILD_ENV);
}

/// The JSON header `{"__metadata__":{..},` + entries + `}` with as many entries from `entry(i)` as fit in
/// `limit` bytes, as a file with `data(entries)` bytes of data.
fn header_of_entries(limit: usize, entry: impl Fn(usize) -> String, data: impl Fn(usize) -> usize) -> Vec<u8> {
    let mut json =
        r#"{"__metadata__":{"format":"autoencoder","format_version":"1","encoder.layers":"1","decoder.layers":"1"}"#
            .to_string();
    let mut entries = 0;
    loop {
        let next = format!(",{}", entry(entries));
        if json.len() + next.len() + 1 > limit {
            break;
        }
        json.push_str(&next);
        entries += 1;
    }
    json.push('}');
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.resize(bytes.len() + data(entries), 0);
    bytes
}

const AT_LIMIT_CHILD_ENV: &str = "AUTOENCODER_PERSISTENCE_TEST_AT_LIMIT_MEMORY_LIMITED";

#[test]
fn headers_as_large_as_the_limit_load_in_little_memory() {
    // The costliest headers the limit lets through, for the memory of parsing them: the most tensors (one byte
    // each, in the densest form the parser accepts) and the longest shape.
    let limit = autoencoder::persist::MAX_HEADER_BYTES;
    let most_tensors = header_of_entries(limit, |i| format!(r#""{i}":["U8",[1],[{i},{}]]"#, i + 1), |n| n);
    let mut longest_shape = br#"{"x":{"dtype":"U8","data_offsets":[0,1],"shape":[1"#.to_vec();
    while longest_shape.len() + 4 < limit {
        longest_shape.extend_from_slice(b",1");
    }
    longest_shape.extend_from_slice(b"]}}");
    let longest_shape = [&(longest_shape.len() as u64).to_le_bytes()[..], &longest_shape, &[0]].concat();
    for (bytes, expected) in [
        (most_tensors, "missing tensors: encoder.0.weight"),
        (longest_shape, "no __metadata__"),
    ] {
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert!(limit - 64 < header_len && header_len <= limit, "{header_len}");
        assert_contains(&load_error(&bytes), &[expected]);
        match autoencoder::Checkpoint::from_safetensors_bytes(&bytes) {
            Err(Error::ModelFile { message, .. }) => assert_contains(&message, &[expected]),
            other => panic!("expected Error::ModelFile, got {other:?}"),
        }
    }
    if std::env::var_os(AT_LIMIT_CHILD_ENV).is_some() {
        return; // This is the memory-limited copy: done.
    }
    #[cfg(unix)]
    common::pass_again_in_512_mib(
        "headers_as_large_as_the_limit_load_in_little_memory",
        AT_LIMIT_CHILD_ENV,
    );
}

#[test]
fn no_byte_flip_makes_load_panic() {
    let bytes = Autoencoder::builder(3)
        .latent(1)
        .seed(2)
        .build()
        .unwrap()
        .to_safetensors_bytes()
        .unwrap();
    for i in 0..bytes.len() {
        for flip in [0x01_u8, 0x80, 0xff] {
            let mut changed = bytes.clone();
            changed[i] ^= flip;
            match Autoencoder::from_safetensors_bytes(&changed) {
                Ok(_) | Err(Error::ModelFile { .. }) => {}
                Err(other) => panic!("byte {i} ^ {flip:#x}: unexpected error kind {other:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// load: safetensors files that are not valid models

#[test]
fn missing_metadata_is_an_error() {
    let mut parts = Parts::of_model();
    parts.metadata = None;
    assert_contains(
        &parts.load_error(),
        &["no __metadata__", "not a file written by autoencoder"],
    );

    for key in [
        "format",
        "format_version",
        "encoder.layers",
        "decoder.layers",
        "decoder.1.activation",
    ] {
        let mut parts = Parts::of_model();
        parts.meta().remove(key);
        assert_contains(&parts.load_error(), &[&format!("{key:?} is missing")]);
    }
}

#[test]
fn another_format_is_an_error() {
    let mut parts = Parts::of_model();
    parts.meta().insert("format".into(), "pt".into());
    assert_contains(
        &parts.load_error(),
        &["format = \"pt\"", "PyTorch", "not written by autoencoder"],
    );
}

#[test]
fn a_newer_format_version_says_to_upgrade() {
    let mut parts = Parts::of_model();
    parts.meta().insert("format_version".into(), "3".into());
    // Even when the rest has changed beyond recognition, the version comes first.
    parts.meta().remove("encoder.layers");
    assert_contains(
        &parts.load_error(),
        &["format_version 3 is newer", "upgrade the autoencoder crate"],
    );

    for bad in ["one", "-1", "1.0", ""] {
        let mut parts = Parts::of_model();
        parts.meta().insert("format_version".into(), bad.into());
        assert_contains(&parts.load_error(), &["format_version", "not a valid number"]);
    }
    let mut parts = Parts::of_model();
    parts.meta().insert("format_version".into(), "0".into());
    assert_contains(&parts.load_error(), &["not a valid version"]);
}

/// Files of format version 1 (dense layers only, no `kind` keys), as the crate wrote them before convolutions,
/// still load, to the same model; in version 2 the kind is required and checked.
#[test]
fn version_1_files_still_load_and_version_2_needs_the_kind() {
    let mut parts = Parts::of_model();
    let expected = Autoencoder::from_safetensors_bytes(&parts.bytes()).unwrap();
    parts.meta().insert("format_version".into(), "1".into());
    parts.meta().retain(|key, _| !key.ends_with(".kind"));
    assert!(Autoencoder::from_safetensors_bytes(&parts.bytes()).unwrap() == expected);

    parts.meta().insert("format_version".into(), "2".into());
    assert_contains(&parts.load_error(), &["encoder.0.kind"]);
    parts.meta().insert("encoder.0.kind".into(), "lstm".into());
    assert_contains(
        &parts.load_error(),
        &["encoder.0.kind", "lstm", "dense, conv2d or conv_transpose2d"],
    );
}

#[test]
fn an_unknown_activation_is_an_error() {
    let mut parts = Parts::of_model();
    parts.meta().insert("encoder.1.activation".into(), "swishy".into());
    assert_contains(
        &parts.load_error(),
        &["encoder.1.activation", "unknown activation \"swishy\""],
    );
    let mut parts = Parts::of_model();
    parts
        .meta()
        .insert("decoder.0.activation".into(), "leaky_relu(NaN)".into());
    assert_contains(
        &parts.load_error(),
        &["decoder.0.activation", "leaky_relu(NaN)", "must be finite"],
    );
}

#[test]
fn wrong_layer_counts_are_errors() {
    let mut parts = Parts::of_model();
    parts.meta().insert("encoder.layers".into(), "0".into());
    assert_contains(&parts.load_error(), &["encoder.layers is 0"]);

    let mut parts = Parts::of_model();
    parts.meta().insert("decoder.layers".into(), u64::MAX.to_string());
    assert_contains(
        &parts.load_error(),
        &[
            "missing tensors: decoder.2.weight, decoder.2.bias, decoder.3.weight",
            "and more",
        ],
    );

    // One more layer than the tensors hold: the missing ones are named.
    let mut parts = Parts::of_model();
    parts.meta().insert("decoder.layers".into(), "3".into());
    assert_contains(
        &parts.load_error(),
        &["missing tensors: decoder.2.weight, decoder.2.bias"],
    );

    // One fewer: the last layer's tensors are unexpected.
    let mut parts = Parts::of_model();
    parts.meta().insert("encoder.layers".into(), "2".into());
    assert_contains(
        &parts.load_error(),
        &["unexpected tensors encoder.2.bias, encoder.2.weight"],
    );
}

#[test]
fn missing_and_extra_tensors_are_named() {
    let mut parts = Parts::of_model();
    parts.tensors.remove("decoder.1.bias");
    parts.tensors.remove("encoder.0.weight");
    assert_contains(
        &parts.load_error(),
        &["missing tensors: encoder.0.weight, decoder.1.bias"],
    );

    let mut parts = Parts::of_model();
    parts.tensors.insert("encoder.0.gamma".into(), f32_raw(&[5], &[1.0; 5]));
    assert_contains(&parts.load_error(), &["unexpected tensors encoder.0.gamma"]);

    // Optimizer tensors belong in checkpoints only.
    let mut parts = Parts::of_model();
    parts.tensors.insert("optimizer.0.0".into(), f32_raw(&[35], &[0.0; 35]));
    assert_contains(&parts.load_error(), &["unexpected tensors optimizer.0.0"]);
}

#[test]
fn a_dtype_other_than_f32_is_an_error() {
    for (dtype, size) in [(Dtype::F64, 8), (Dtype::F16, 2), (Dtype::BF16, 2), (Dtype::I32, 4)] {
        let mut parts = Parts::of_model();
        let weight = parts.tensors.get_mut("encoder.1.weight").unwrap();
        weight.dtype = dtype;
        weight.data = vec![0; 15 * size];
        assert_contains(
            &parts.load_error(),
            &[&format!("encoder.1.weight has dtype {dtype}"), "F32 only"],
        );
    }
}

#[test]
fn weights_and_biases_of_the_wrong_rank_are_errors() {
    let values: Vec<f32> = (0..35).map(|i| i as f32).collect();
    let cases = [
        ("encoder.0.weight", vec![35], "shape (35,) (1 dimensions), but a weight"),
        ("encoder.0.weight", vec![7, 5, 1], "(3 dimensions), but a weight"),
        ("encoder.0.bias", vec![1, 5], "(2 dimensions), but a bias"),
        ("encoder.0.bias", vec![], "(0 dimensions), but a bias"),
    ];
    for (name, shape, expected) in cases {
        let mut parts = Parts::of_model();
        let count: usize = shape.iter().product();
        parts.tensors.insert(name.into(), f32_raw(&shape, &values[..count]));
        assert_contains(&parts.load_error(), &[name, expected]);
    }
}

#[test]
fn a_bias_of_the_wrong_length_is_an_error() {
    let mut parts = Parts::of_model();
    parts.tensors.insert("decoder.0.bias".into(), f32_raw(&[5], &[0.0; 5]));
    assert_contains(
        &parts.load_error(),
        &["decoder.0.bias has 5 elements, but decoder.0.weight (shape (2, 4)) has 4"],
    );
}

#[test]
fn an_empty_layer_is_an_error() {
    let mut parts = Parts::of_model();
    parts.tensors.insert("encoder.2.weight".into(), f32_raw(&[3, 0], &[]));
    parts.tensors.insert("encoder.2.bias".into(), f32_raw(&[0], &[]));
    assert_contains(
        &parts.load_error(),
        &["\"encoder.2.", "holds nothing", "at least one input and one output"],
    );
}

#[test]
fn zero_size_layers_are_refused_where_they_are_made() {
    // Issue 9: `Dense::from_parts(zeros((4, 0)), ..)` was accepted and saved, and then the file did not load.
    let invalid = |result: autoencoder::Result<Dense>, parts: &[&str]| match result {
        Err(Error::InvalidArgument(message)) => assert_contains(&message, parts),
        other => panic!("expected Error::InvalidArgument, got {other:?}"),
    };
    for (inputs, outputs) in [(4, 0), (0, 4), (0, 0)] {
        let shape = format!("({inputs}, {outputs})");
        let parts = [shape.as_str(), "at least one input and one output"];
        let weights = Array2::zeros((inputs, outputs));
        invalid(
            Dense::from_parts(weights, Array1::zeros(outputs), Activation::Relu),
            &["Dense::from_parts", parts[0], parts[1]],
        );
        let mut rng = StdRng::seed_from_u64(0);
        invalid(
            Dense::new(inputs, outputs, Activation::Relu, Init::HeUniform, &mut rng),
            &["Dense::new", parts[0], parts[1]],
        );
    }
    // The builder refuses a zero size anywhere, before making a layer.
    for builder in [
        Autoencoder::builder(4).latent(0),
        Autoencoder::builder(4).hidden(&[0]).latent(2),
        Autoencoder::builder(4).hidden(&[3, 0]).latent(2),
        Autoencoder::builder(0).latent(2),
    ] {
        match builder.build() {
            Err(Error::InvalidArgument(message)) => assert_contains(&message, &["sizes must be at least 1"]),
            other => panic!("expected Error::InvalidArgument, got {other:?}"),
        }
    }
}

#[test]
fn shapes_that_do_not_chain_are_errors() {
    // encoder.1 takes 6 inputs, but encoder.0 gives 5.
    let mut parts = Parts::of_model();
    parts
        .tensors
        .insert("encoder.1.weight".into(), f32_raw(&[6, 3], &[0.5; 18]));
    assert_contains(
        &parts.load_error(),
        &["do not chain", "encoder.1 takes 6 inputs", "encoder.0 gives 5 outputs"],
    );

    // decoder.0 takes 3, the latent code has 2.
    let mut parts = Parts::of_model();
    parts
        .tensors
        .insert("decoder.0.weight".into(), f32_raw(&[3, 4], &[0.5; 12]));
    assert_contains(
        &parts.load_error(),
        &["decoder.0 takes 3 inputs", "encoder.2 gives 2 outputs"],
    );

    // The decoder gives 6, the encoder takes 7.
    let mut parts = Parts::of_model();
    parts
        .tensors
        .insert("decoder.1.weight".into(), f32_raw(&[4, 6], &[0.5; 24]));
    parts.tensors.insert("decoder.1.bias".into(), f32_raw(&[6], &[0.5; 6]));
    assert_contains(
        &parts.load_error(),
        &["decoder gives 6 outputs", "encoder takes 7 inputs", "reconstruct"],
    );
}

#[test]
fn non_finite_weights_are_errors() {
    for (name, bad) in [
        ("encoder.1.weight", f32::NAN),
        ("decoder.1.bias", f32::INFINITY),
        ("encoder.0.bias", f32::NEG_INFINITY),
    ] {
        let mut parts = Parts::of_model();
        let tensor = parts.tensors.get_mut(name).unwrap();
        tensor.data[4..8].copy_from_slice(&bad.to_le_bytes());
        assert_contains(
            &parts.load_error(),
            &[name, "at index 1", "non-finite", "corrupt or diverged"],
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// fuzz seeds

/// Writes small model and checkpoint files into `fuzz/corpus/model_load` as seeds for the `model_load` fuzz
/// target: `cargo test --test persistence write_fuzz_seeds -- --ignored` (what `fuzz/seed-model-corpus.sh` runs).
#[test]
#[ignore = "writes fuzz seeds; run on purpose"]
fn write_fuzz_seeds() {
    use autoencoder::{Adam, Checkpoint, Loss, Optimizer, Sgd};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/model_load");
    fs::create_dir_all(&dir).unwrap();
    let small = |inputs, hidden: &[usize], latent, seed| {
        Autoencoder::builder(inputs)
            .hidden(hidden)
            .latent(latent)
            .seed(seed)
            .build()
            .unwrap()
    };
    let x = Array2::from_shape_fn((2, 3), |(i, j)| (i + j) as f32 / 4.0);
    let mut seeds: Vec<(String, Vec<u8>)> = vec![
        ("model-3-1".into(), small(3, &[], 1, 0).to_safetensors_bytes().unwrap()),
        (
            "model-4-2-1".into(),
            small(4, &[2], 1, 1).to_safetensors_bytes().unwrap(),
        ),
        ("model-activations".into(), model().to_safetensors_bytes().unwrap()),
        (
            "model-conv".into(),
            Autoencoder::conv_builder((4, 4, 1))
                .filters(&[2])
                .kernel_size(3)
                .latent(2)
                .seed(3)
                .build()
                .unwrap()
                .to_safetensors_bytes()
                .unwrap(),
        ),
    ];
    let mut ae = small(3, &[], 1, 2);
    let mut adam = Adam::new(0.1);
    ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
    let checkpoint = Checkpoint::new(ae.clone(), &adam, 1).with_metadata("note", "seed");
    seeds.push(("checkpoint-adam".into(), checkpoint.to_safetensors_bytes().unwrap()));
    let mut sgd = Sgd::new(0.1).with_momentum(0.5);
    ae.train_step(x.view(), x.view(), Loss::Mse, &mut sgd).unwrap();
    let mut state = sgd.state();
    state.buffers.insert("encoder.0.bias".into(), vec![]); // a parameter listed with no buffers
    let checkpoint = Checkpoint {
        autoencoder: ae,
        optimizer: state,
        epoch: 3,
        metadata: Default::default(),
    };
    seeds.push((
        "checkpoint-sgd-empty-entry".into(),
        checkpoint.to_safetensors_bytes().unwrap(),
    ));
    // Checkpoints of version 1, whose optimizer state is numbered by slot.
    for name in ["checkpoint_v1_adam", "checkpoint_v1_sgd_unused_slots"] {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.safetensors"));
        seeds.push((name.replace('_', "-"), fs::read(fixture).unwrap()));
    }
    // Issue 9: offsets that tile up to 2^64 - 8 overflowed in safetensors.
    seeds.push(("offsets-up-to-2-pow-64".into(), common::offsets_up_to_2_pow_64()));
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn loading_from_a_file_reports_what_loading_the_bytes_reports() {
    // `load` reads a file in stages and refuses early; its verdict must match the in-memory parser's.
    let dir = scratch("staged");
    let path = dir.join("model.safetensors");
    let valid = model().to_safetensors_bytes().unwrap();
    let mut foreign = Parts::of_model();
    foreign.meta().insert("format".into(), "pt".into());
    let mut no_metadata = Parts::of_model();
    no_metadata.metadata = None;
    let mut cases: Vec<Vec<u8>> = (0..valid.len()).step_by(7).map(|len| valid[..len].to_vec()).collect();
    cases.push([valid.as_slice(), b"tail"].concat());
    cases.push(foreign.bytes());
    cases.push(no_metadata.bytes());
    cases.push(b"PK\x03\x04 a zip".to_vec());
    cases.push(vec![0; 64]); // header length 0: an empty header is not JSON
                             // Found by fuzzing: a header without tensors, followed by data.
    cases.push(fuzz_found_empty_header_with_data());
    for bytes in cases {
        fs::write(&path, &bytes).unwrap();
        let from_file = match Autoencoder::load(&path) {
            Err(Error::ModelFile { message, .. }) => message,
            other => panic!("expected Error::ModelFile, got {other:?}"),
        };
        assert_eq!(from_file, load_error(&bytes), "for {} bytes", bytes.len());
    }
    fs::write(&path, &valid).unwrap();
    assert_eq!(Autoencoder::load(&path).unwrap(), model());
}
