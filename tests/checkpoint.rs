//! Checkpoints: bit-identical round trips of the model and the optimizer state, exact resumption with
//! `train_step`, the format, and the checks on load.

mod common;

use std::collections::BTreeMap;
use std::fs;

use autoencoder::ndarray::{array, Array2};
use autoencoder::{
    Activation, Adam, AdamW, Autoencoder, Checkpoint, Decoder, Dense, Encoder, Error, Loss, Optimizer, OptimizerState,
    Sgd,
};
use common::{assert_contains, entries, parameter_bits, scratch, Parts};
use safetensors::Dtype;

// ---------------------------------------------------------------------------------------------------------------
// helpers

fn model() -> Autoencoder {
    Autoencoder::builder(10)
        .hidden(&[6])
        .latent(3)
        .seed(11)
        .build()
        .unwrap()
}

/// Batch `k` of a small fixed data set: four batches of five samples.
fn batch(k: usize) -> Array2<f32> {
    Array2::from_shape_fn((5, 10), |(i, j)| (((k * 5 + i) * 7 + j * 3) % 11) as f32 / 10.0)
}

fn train(ae: &mut Autoencoder, optimizer: &mut impl Optimizer, steps: std::ops::Range<usize>) {
    for step in steps {
        let x = batch(step % 4);
        ae.train_step(x.view(), x.view(), Loss::Mse, optimizer).unwrap();
    }
}

/// The optimizer state with every buffer value as bits.
fn state_bits(state: &OptimizerState) -> (String, u64, BTreeMap<String, Vec<Vec<u32>>>) {
    let buffers = (state.buffers.iter())
        .map(|(name, buffers)| {
            let bits = buffers
                .iter()
                .map(|b| b.iter().map(|v| v.to_bits()).collect())
                .collect();
            (name.clone(), bits)
        })
        .collect();
    (state.kind.clone(), state.step, buffers)
}

/// The model's parameter names, in order: 10-6-3-6-10.
const NAMES: [&str; 8] = [
    "encoder.0.weight",
    "encoder.0.bias",
    "encoder.1.weight",
    "encoder.1.bias",
    "decoder.0.weight",
    "decoder.0.bias",
    "decoder.1.weight",
    "decoder.1.bias",
];

/// The element counts of [`NAMES`].
const LENGTHS: [usize; 8] = [60, 6, 18, 3, 18, 6, 60, 10];

fn trained_checkpoint() -> Checkpoint {
    let mut ae = model();
    let mut adam = Adam::new(1e-2);
    train(&mut ae, &mut adam, 0..3);
    Checkpoint::new(ae, &adam, 2)
        .with_metadata("learning_rate", "0.01")
        .with_metadata("data.set", "toy ünïcode ✓")
        .with_metadata("empty", "")
}

impl Parts {
    /// The parts of `checkpoint`'s file, to break it in one place.
    fn of_checkpoint(checkpoint: &Checkpoint) -> Parts {
        Parts::of(&checkpoint.to_safetensors_bytes().unwrap())
    }

    /// The message of the [`Error::ModelFile`] that loading these parts as a checkpoint gives.
    fn load_error(&self) -> String {
        match Checkpoint::from_safetensors_bytes(&self.bytes()) {
            Err(Error::ModelFile { message, .. }) => message,
            Err(other) => panic!("expected Error::ModelFile, got {other:?}"),
            Ok(_) => panic!("loaded an invalid checkpoint"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// round trips

#[test]
fn save_then_load_is_bit_identical() {
    let dir = scratch("roundtrip");
    let path = dir.join("run.ckpt.safetensors");
    let checkpoint = trained_checkpoint();
    let names: Vec<&str> = checkpoint.optimizer.buffers.keys().map(String::as_str).collect();
    let mut sorted = NAMES;
    sorted.sort_unstable();
    assert_eq!(names, sorted, "every parameter has state, by name");
    checkpoint.save(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    assert_eq!(
        parameter_bits(&loaded.autoencoder),
        parameter_bits(&checkpoint.autoencoder)
    );
    assert_eq!(state_bits(&loaded.optimizer), state_bits(&checkpoint.optimizer));
    assert_eq!(loaded, checkpoint);
    assert_eq!(loaded.metadata["data.set"], "toy ünïcode ✓");
    assert_eq!(loaded.metadata["empty"], "");
    assert_eq!(entries(&dir), ["run.ckpt.safetensors"]);
    assert_eq!(
        fs::read(&path).unwrap(),
        checkpoint.to_safetensors_bytes().unwrap(),
        "deterministic bytes"
    );
}

#[test]
fn empty_states_and_entries_round_trip_as_empty() {
    // A fresh optimizer: no state at all.
    let fresh = Checkpoint::new(model(), &Adam::new(1e-3), 0);
    let loaded = Checkpoint::from_safetensors_bytes(&fresh.to_safetensors_bytes().unwrap()).unwrap();
    assert_eq!(
        loaded.optimizer,
        OptimizerState {
            kind: "adam".into(),
            step: 0,
            buffers: BTreeMap::new(),
        }
    );

    // Some parameters with state, one listed with no buffers (SGD's momentum treats a first update specially,
    // so a parameter without state must not come back as zeros).
    let mut checkpoint = Checkpoint::new(model(), &Sgd::new(0.1).with_momentum(0.9), 7);
    checkpoint.optimizer = OptimizerState {
        kind: "sgd".into(),
        step: 5,
        buffers: [
            ("encoder.0.bias".to_string(), vec![vec![0.5; 6]]),
            ("decoder.0.bias".to_string(), vec![]),
            ("encoder.1.bias".to_string(), vec![vec![-0.0, 1.0e-40, 3.0]]),
        ]
        .into(),
    };
    let loaded = Checkpoint::from_safetensors_bytes(&checkpoint.to_safetensors_bytes().unwrap()).unwrap();
    assert_eq!(state_bits(&loaded.optimizer), state_bits(&checkpoint.optimizer));
    assert_eq!(loaded.epoch, 7);
}

#[test]
fn the_state_survives_a_round_trip_by_name() {
    let checkpoint = trained_checkpoint();
    let loaded = Checkpoint::from_safetensors_bytes(&checkpoint.to_safetensors_bytes().unwrap()).unwrap();
    for (name, len) in NAMES.iter().zip(LENGTHS) {
        let (saved, back) = (&checkpoint.optimizer.buffers[*name], &loaded.optimizer.buffers[*name]);
        assert_eq!(saved.len(), 2, "{name}: Adam's two moments");
        assert!(saved.iter().all(|b| b.len() == len), "{name}");
        let bits = |b: &Vec<Vec<f32>>| b.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(saved), bits(back), "{name}");
    }
    // The state goes back into an optimizer that the model's next step accepts, and the step is the one the
    // uninterrupted run takes.
    let mut adam = Adam::new(1e-2);
    adam.load_state(loaded.optimizer).unwrap();
    let mut resumed = loaded.autoencoder;
    let (mut straight, mut straight_adam) = (model(), Adam::new(1e-2));
    train(&mut straight, &mut straight_adam, 0..4);
    train(&mut resumed, &mut adam, 3..4);
    assert_eq!(parameter_bits(&resumed), parameter_bits(&straight));
}

#[test]
fn every_optimizer_kind_round_trips() {
    fn round_trip(optimizer: &mut impl Optimizer) {
        let mut ae = model();
        train(&mut ae, optimizer, 0..2);
        let checkpoint = Checkpoint::new(ae, optimizer, 1);
        let loaded = Checkpoint::from_safetensors_bytes(&checkpoint.to_safetensors_bytes().unwrap()).unwrap();
        assert_eq!(state_bits(&loaded.optimizer), state_bits(&checkpoint.optimizer));
        optimizer.load_state(loaded.optimizer).unwrap();
    }
    round_trip(&mut Adam::new(1e-2));
    round_trip(&mut AdamW::new(1e-2).with_weight_decay(0.1));
    round_trip(&mut Sgd::new(0.1).with_momentum(0.9).with_nesterov(true));
    round_trip(&mut Sgd::new(0.1)); // no buffers
}

/// Training N steps, checkpointing through a file, loading into a fresh model and optimizer and training M more
/// gives the same bits as N + M steps straight.
fn resumes_exactly<O: Optimizer>(make: impl Fn() -> O, name: &str) {
    let (n, m) = (5, 7);
    let mut straight = model();
    let mut straight_opt = make();
    train(&mut straight, &mut straight_opt, 0..n + m);

    let dir = scratch(&format!("resume-{name}"));
    let path = dir.join("ckpt.safetensors");
    {
        let mut first = model();
        let mut first_opt = make();
        train(&mut first, &mut first_opt, 0..n);
        Checkpoint::new(first, &first_opt, n).save(&path).unwrap();
    }
    let checkpoint = Checkpoint::load(&path).unwrap();
    let mut resumed = checkpoint.autoencoder;
    let mut resumed_opt = make();
    resumed_opt.load_state(checkpoint.optimizer).unwrap();
    train(&mut resumed, &mut resumed_opt, checkpoint.epoch..n + m);

    assert_eq!(
        parameter_bits(&resumed),
        parameter_bits(&straight),
        "{name}: resumed weights differ"
    );
    assert_eq!(state_bits(&resumed_opt.state()), state_bits(&straight_opt.state()));
}

#[test]
fn training_resumed_from_a_checkpoint_gives_bit_identical_weights() {
    resumes_exactly(|| Adam::new(1e-2), "adam");
    resumes_exactly(|| AdamW::new(1e-2).with_weight_decay(0.05), "adamw");
    resumes_exactly(|| Sgd::new(0.05).with_momentum(0.9).with_nesterov(true), "sgd");
}

#[test]
fn a_checkpoint_loads_as_a_model() {
    let checkpoint = trained_checkpoint();
    let ae = Autoencoder::from_safetensors_bytes(&checkpoint.to_safetensors_bytes().unwrap()).unwrap();
    assert_eq!(parameter_bits(&ae), parameter_bits(&checkpoint.autoencoder));
}

#[test]
fn the_file_follows_the_documented_format() {
    let parts = Parts::of_checkpoint(&trained_checkpoint());
    let m = parts.metadata.as_ref().unwrap();
    assert_eq!(
        (m["format"].as_str(), m["format_version"].as_str()),
        ("autoencoder", "2")
    );
    assert_eq!(m["checkpoint_version"], "2");
    assert_eq!(m["epoch"], "2");
    assert_eq!(m["optimizer.kind"], "adam");
    assert_eq!(m["optimizer.step"], "3");
    // The names with state, in the model's order (10-6-3-6-10: encoder then decoder, weight then bias).
    assert_eq!(m["optimizer.parameters"], NAMES.join(","));
    for name in NAMES {
        assert_eq!(m[&format!("optimizer.{name}.buffers")], "2");
    }
    assert_eq!(m["user.learning_rate"], "0.01");
    for (name, len) in NAMES.iter().zip(LENGTHS) {
        for k in 0..2 {
            let t = &parts.tensors[&format!("optimizer.{name}.{k}")];
            assert_eq!((t.dtype, t.shape.as_slice()), (Dtype::F32, &[len][..]));
        }
    }
    assert_eq!(
        parts.tensors.len(),
        8 + 16,
        "4 layers × 2 model tensors, 8 parameters × 2 buffers"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// errors

#[test]
fn a_model_file_is_not_a_checkpoint() {
    let dir = scratch("model-file");
    let path = dir.join("model.safetensors");
    model().save(&path).unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    assert!(
        matches!(&err, Error::ModelFile { path: p, .. } if p == &path),
        "{err:?}"
    );
    assert_contains(
        &err.to_string(),
        &["no checkpoint_version", "load it with Autoencoder::load"],
    );
}

#[test]
fn a_newer_checkpoint_version_says_to_upgrade() {
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.meta().insert("checkpoint_version".into(), "3".into());
    assert_contains(&parts.load_error(), &["checkpoint_version 3 is newer", "upgrade"]);
}

#[test]
fn missing_checkpoint_metadata_is_an_error() {
    for key in [
        "epoch",
        "optimizer.kind",
        "optimizer.step",
        "optimizer.parameters",
        "optimizer.encoder.1.weight.buffers",
    ] {
        let mut parts = Parts::of_checkpoint(&trained_checkpoint());
        parts.meta().remove(key);
        assert_contains(&parts.load_error(), &[&format!("{key:?} is missing")]);
    }
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.meta().insert("optimizer.step".into(), "-3".into());
    assert_contains(&parts.load_error(), &["optimizer.step", "not a valid number"]);
}

#[test]
fn missing_and_extra_optimizer_tensors_are_named() {
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.tensors.remove("optimizer.encoder.0.bias.1");
    assert_contains(&parts.load_error(), &["missing tensor optimizer.encoder.0.bias.1"]);

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts
        .meta()
        .insert("optimizer.encoder.1.bias.buffers".into(), "1".into());
    assert_contains(
        &parts.load_error(),
        &[
            "unexpected optimizer tensors optimizer.encoder.1.bias.1",
            "optimizer.parameters and optimizer.{name}.buffers do not list them",
        ],
    );

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    let listed = NAMES.iter().filter(|n| **n != "decoder.0.weight").copied();
    parts
        .meta()
        .insert("optimizer.parameters".into(), listed.collect::<Vec<_>>().join(","));
    assert_contains(
        &parts.load_error(),
        &["unexpected optimizer tensors optimizer.decoder.0.weight.0, optimizer.decoder.0.weight.1"],
    );

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts
        .meta()
        .insert("optimizer.encoder.0.weight.buffers".into(), u64::MAX.to_string());
    assert_contains(
        &parts.load_error(),
        &["optimizer.encoder.0.weight.buffers", "more than the file's 24 tensors"],
    );
}

#[test]
fn optimizer_state_that_does_not_fit_the_model_is_an_error() {
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    let buffer = parts.tensors.get_mut("optimizer.encoder.1.weight.0").unwrap();
    buffer.shape = vec![17];
    buffer.data.truncate(17 * 4);
    assert_contains(
        &parts.load_error(),
        &[
            "tensor optimizer.encoder.1.weight.0 has 17 elements",
            "its parameter encoder.1.weight has 18",
        ],
    );

    for (listed, message) in [
        (
            format!("{},encoder.2.weight", NAMES.join(",")),
            r#"optimizer.parameters lists "encoder.2.weight", which is not a parameter of the model"#,
        ),
        (
            format!("{},encoder.0.bias", NAMES.join(",")),
            "optimizer.parameters lists encoder.0.bias twice",
        ),
        (
            format!("{},", NAMES.join(",")),
            r#"optimizer.parameters lists "", which is not a parameter"#,
        ),
        (
            "optimizer.0".to_string(),
            r#"lists "optimizer.0", which is not a parameter"#,
        ),
    ] {
        let mut parts = Parts::of_checkpoint(&trained_checkpoint());
        parts.meta().insert("optimizer.parameters".into(), listed);
        assert_contains(&parts.load_error(), &[message]);
    }

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.tensors.get_mut("optimizer.encoder.0.weight.1").unwrap().shape = vec![6, 10];
    assert_contains(
        &parts.load_error(),
        &["optimizer.encoder.0.weight.1 has shape (6, 10)", "optimizer buffer"],
    );

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    let buffer = parts.tensors.get_mut("optimizer.encoder.0.weight.0").unwrap();
    buffer.dtype = Dtype::F64;
    buffer.shape = vec![30];
    assert_contains(&parts.load_error(), &["optimizer.encoder.0.weight.0 has dtype F64"]);
}

/// A checkpoint whose optimizer state was made for another architecture: its optimizer tensors and keys put
/// beside another model's tensors. Names the model does not have, and names it has with other shapes, are errors
/// that name the tensor.
#[test]
fn a_state_whose_names_do_not_match_the_model_is_an_error_naming_the_tensor() {
    let transplant = |into: Autoencoder| {
        let source = Parts::of_checkpoint(&trained_checkpoint());
        let mut parts = Parts::of_checkpoint(&Checkpoint::new(into, &Adam::new(1e-2), 2));
        for (name, tensor) in source.tensors {
            if name.starts_with("optimizer.") {
                parts.tensors.insert(name, tensor);
            }
        }
        for (key, value) in source.metadata.unwrap() {
            if key.starts_with("optimizer.") {
                parts.meta().insert(key, value);
            }
        }
        parts
    };
    // 10-6-10: one layer a side, encoder.0 of the same shape, so encoder.1.weight is the first name listed that is
    // not one of its parameters.
    let shallow = Autoencoder::builder(10).latent(6).seed(1).build().unwrap();
    assert_contains(
        &transplant(shallow).load_error(),
        &[
            r#"optimizer.parameters lists "encoder.1.weight", which is not a parameter of the model"#,
            "its parameters are encoder.0.weight, encoder.0.bias, decoder.0.weight, decoder.0.bias",
            "saved for another model",
        ],
    );
    // 10-5-3-5-10: the same names, other shapes.
    let narrower = Autoencoder::builder(10).hidden(&[5]).latent(3).seed(1).build().unwrap();
    assert_contains(
        &transplant(narrower).load_error(),
        &["tensor optimizer.encoder.0.weight.0 has 60 elements, but its parameter encoder.0.weight has 50"],
    );
    // The same architecture: it loads.
    let twin = Autoencoder::builder(10).hidden(&[6]).latent(3).seed(5).build().unwrap();
    let loaded = Checkpoint::from_safetensors_bytes(&transplant(twin).bytes()).unwrap();
    assert_eq!(loaded.optimizer, trained_checkpoint().optimizer);
}

#[test]
fn non_finite_optimizer_state_is_an_error() {
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    let buffer = parts.tensors.get_mut("optimizer.encoder.1.bias.1").unwrap();
    buffer.data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_contains(
        &parts.load_error(),
        &["optimizer.encoder.1.bias.1 holds NaN at index 0"],
    );
}

#[test]
fn a_state_that_does_not_fit_the_model_is_not_saved() {
    let dir = scratch("bad-state");
    let path = dir.join("ckpt.safetensors");
    trained_checkpoint().save(&path).unwrap();
    let before = fs::read(&path).unwrap();

    let mut checkpoint = trained_checkpoint();
    checkpoint.optimizer.buffers.get_mut("encoder.0.bias").unwrap()[0].push(0.0);
    let err = checkpoint.save(&path).unwrap_err();
    assert_contains(
        &err.to_string(),
        &[
            "optimizer.encoder.0.bias.0 has 7 elements",
            "its parameter encoder.0.bias has 6",
        ],
    );

    let mut checkpoint = trained_checkpoint();
    checkpoint.optimizer.buffers.insert("encoder.2.weight".into(), vec![]);
    assert_contains(
        &checkpoint.save(&path).unwrap_err().to_string(),
        &[
            "holds encoder.2.weight, which is not a parameter of the model",
            "another model",
        ],
    );

    let mut checkpoint = trained_checkpoint();
    checkpoint.optimizer.buffers.get_mut("encoder.0.weight").unwrap()[1][3] = f32::INFINITY;
    assert_contains(
        &checkpoint.save(&path).unwrap_err().to_string(),
        &["optimizer.encoder.0.weight.1", "inf"],
    );

    assert_eq!(fs::read(&path).unwrap(), before, "a refused save changed the file");
    assert_eq!(entries(&dir), ["ckpt.safetensors"]);
}

#[test]
fn offsets_that_tile_up_to_2_pow_64_are_an_error_not_an_overflow() {
    // Issue 9: a consistent tensor table whose data ends at 2^64 - 8 overflowed (a panic in debug builds).
    let bytes = common::offsets_up_to_2_pow_64();
    let expected = ["truncated", "describes 18446744073709551608 bytes", "holds only 0"];
    let message = match Checkpoint::from_safetensors_bytes(&bytes) {
        Err(Error::ModelFile { message, .. }) => message,
        other => panic!("expected Error::ModelFile, got {other:?}"),
    };
    assert_contains(&message, &expected);
    let dir = scratch("offsets-2-pow-64");
    let path = dir.join("ckpt.safetensors");
    fs::write(&path, &bytes).unwrap();
    match Checkpoint::load(&path) {
        Err(Error::ModelFile { message: from_file, .. }) => assert_eq!(from_file, message),
        other => panic!("expected Error::ModelFile, got {other:?}"),
    }
}

#[test]
fn a_checkpoint_of_2000_layer_stacks_round_trips() {
    // The header grows with the layers: its size limit must leave room for deep stacks, with Adam's two
    // buffers per parameter tensor (the largest header per layer).
    const LAYERS: usize = 2000;
    let layer = || Dense::from_parts(array![[0.5_f32]], array![0.25], Activation::LeakyRelu(0.01)).unwrap();
    let ae = Autoencoder::new(
        Encoder::new((0..LAYERS).map(|_| layer()).collect()).unwrap(),
        Decoder::new((0..LAYERS).map(|_| layer()).collect()).unwrap(),
    )
    .unwrap();
    let optimizer = OptimizerState {
        kind: "adam".into(),
        step: 123_456_789,
        buffers: ae
            .named_parameters()
            .map(|(name, _)| (name, vec![vec![0.125], vec![0.5]]))
            .collect(),
    };
    assert_eq!(optimizer.buffers.len(), 4 * LAYERS);
    let checkpoint = Checkpoint {
        autoencoder: ae,
        optimizer,
        epoch: 1000,
        metadata: Default::default(),
    };
    let bytes = checkpoint.to_safetensors_bytes().unwrap();
    let loaded = Checkpoint::from_safetensors_bytes(&bytes).unwrap();
    assert_eq!(loaded, checkpoint);
    // With layers of 1000 × 1000 instead of 1 × 1, each of the 24,000 tensors' offsets takes up to 2 × 10 more
    // digits: still far below the limit.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let large_layers = header_len + 12 * LAYERS * 2 * 10;
    assert!(
        large_layers * 4 < autoencoder::persist::MAX_HEADER_BYTES,
        "{large_layers} bytes of header for {LAYERS} + {LAYERS} layers"
    );
}

#[test]
fn a_checkpoint_whose_header_would_be_over_the_limit_is_not_saved() {
    let limit = autoencoder::persist::MAX_HEADER_BYTES;
    let checkpoint = trained_checkpoint().with_metadata("notes", "n".repeat(limit));
    match checkpoint.to_safetensors_bytes() {
        Err(Error::InvalidArgument(message)) => assert_contains(
            &message,
            &[
                &format!("over the limit of {limit} bytes"),
                "too many layers or too much metadata",
            ],
        ),
        other => panic!("expected Error::InvalidArgument, got {other:?}"),
    }
}

#[test]
fn every_truncation_of_a_checkpoint_is_an_error() {
    let bytes = Checkpoint::new(Autoencoder::builder(4).latent(2).build().unwrap(), &Adam::new(0.1), 0)
        .to_safetensors_bytes()
        .unwrap();
    for len in 0..bytes.len() {
        assert!(Checkpoint::from_safetensors_bytes(&bytes[..len]).is_err());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// checkpoints of version 1, which numbered the optimizer's state by slot

/// A file of `tests/fixtures`.
fn fixture(name: &str) -> Vec<u8> {
    fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// The values of a raw F32 tensor.
fn values(raw: &common::Raw) -> Vec<f32> {
    raw.data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Rewrites the parts of a checkpoint of the current format, whose optimizer has state for every parameter, in
/// the layout of version 1: tensors `optimizer.{slot}.{k}`, keys `optimizer.slots` and `optimizer.{slot}.buffers`,
/// slot `s` the `s`-th of [`NAMES`].
fn to_slot_numbered(parts: &mut Parts) {
    let meta = parts.meta();
    meta.insert("checkpoint_version".into(), "1".into());
    assert_eq!(meta.remove("optimizer.parameters").unwrap(), NAMES.join(","));
    meta.insert("optimizer.slots".into(), NAMES.len().to_string());
    for (slot, name) in NAMES.iter().enumerate() {
        let count = parts.meta().remove(&format!("optimizer.{name}.buffers")).unwrap();
        for k in 0..count.parse().unwrap() {
            let tensor = parts.tensors.remove(&format!("optimizer.{name}.{k}")).unwrap();
            parts.tensors.insert(format!("optimizer.{slot}.{k}"), tensor);
        }
        parts.meta().insert(format!("optimizer.{slot}.buffers"), count);
    }
}

/// `tests/fixtures/checkpoint_v1_adam.safetensors` was written by the crate before the state was named (a 6-4-2
/// model after two Adam steps): slot `s` loads as the `s`-th parameter's state, and saves again in the named format.
#[test]
fn a_checkpoint_of_the_slot_numbered_format_loads_by_the_positional_rule() {
    let bytes = fixture("checkpoint_v1_adam.safetensors");
    let parts = Parts::of(&bytes);
    let meta = parts.metadata.as_ref().unwrap();
    assert_eq!(
        (meta["checkpoint_version"].as_str(), meta["optimizer.slots"].as_str()),
        ("1", "8")
    );
    let checkpoint = Checkpoint::from_safetensors_bytes(&bytes).unwrap();
    let names: Vec<String> = checkpoint
        .autoencoder
        .named_parameters()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names[2], "encoder.1.weight");
    assert_eq!(checkpoint.optimizer.buffers.len(), 8);
    for (slot, name) in names.iter().enumerate() {
        let buffers = &checkpoint.optimizer.buffers[name];
        assert_eq!(buffers.len(), 2, "{name}");
        for (k, buffer) in buffers.iter().enumerate() {
            let raw = values(&parts.tensors[&format!("optimizer.{slot}.{k}")]);
            assert_eq!(
                buffer.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                raw.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name} buffer {k} is slot {slot}'s"
            );
        }
    }
    let state = &checkpoint.optimizer;
    assert_eq!((state.kind.as_str(), state.step, checkpoint.epoch), ("adam", 2, 2));
    assert_contains(&checkpoint.metadata["note"], &["slot number"]);

    // Saved again: the named format, which loads back equal.
    let again = checkpoint.to_safetensors_bytes().unwrap();
    let meta = Parts::of(&again).metadata.unwrap();
    assert_eq!(meta["checkpoint_version"], "2");
    assert!(meta.contains_key("optimizer.encoder.1.weight.buffers") && !meta.contains_key("optimizer.slots"));
    assert_eq!(Checkpoint::from_safetensors_bytes(&again).unwrap(), checkpoint);

    // Training resumes from it, and from its copy in the named format, identically.
    let x = Array2::from_shape_fn((5, 6), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 10.0);
    let resume = |checkpoint: Checkpoint| {
        let (mut ae, mut adam) = (checkpoint.autoencoder, Adam::new(1e-2));
        adam.load_state(checkpoint.optimizer).unwrap();
        for _ in 0..2 {
            ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
        }
        (parameter_bits(&ae), state_bits(&adam.state()))
    };
    let from_copy = resume(Checkpoint::from_safetensors_bytes(&again).unwrap());
    assert_eq!(resume(checkpoint), from_copy);
}

/// `tests/fixtures/checkpoint_v1_sgd_unused_slots.safetensors`: SGD with momentum, slot 1 listed with no buffers
/// and slot 7 (the last) left out of `optimizer.slots`.
#[test]
fn unused_slots_of_the_slot_numbered_format_load_as_parameters_without_state() {
    let checkpoint =
        Checkpoint::from_safetensors_bytes(&fixture("checkpoint_v1_sgd_unused_slots.safetensors")).unwrap();
    let buffers = &checkpoint.optimizer.buffers;
    assert_eq!(buffers["encoder.0.bias"], Vec::<Vec<f32>>::new(), "slot 1: no buffers");
    assert!(!buffers.contains_key("decoder.1.bias"), "slot 7: not in the file");
    for name in [
        "encoder.0.weight",
        "encoder.1.weight",
        "encoder.1.bias",
        "decoder.0.weight",
        "decoder.0.bias",
    ] {
        assert_eq!(buffers[name].len(), 1, "{name}: the momentum");
    }
    assert_eq!(buffers["decoder.1.weight"][0].len(), 4 * 6);
    let mut sgd = Sgd::new(0.1).with_momentum(0.9);
    sgd.load_state(checkpoint.optimizer.clone()).unwrap();
    assert_eq!(sgd.state().buffers.len(), 6, "an entry with no buffers is no state");
    let again = checkpoint.to_safetensors_bytes().unwrap();
    assert_eq!(Checkpoint::from_safetensors_bytes(&again).unwrap(), checkpoint);
}

/// The layout of version 1 made by hand from a checkpoint of today: it loads to the same checkpoint, training
/// resumes from it bit for bit, and its errors name the slot and its parameter.
#[test]
fn the_slot_numbered_layout_loads_as_the_named_one_and_resumes_exactly() {
    let checkpoint = trained_checkpoint();
    let mut parts = Parts::of_checkpoint(&checkpoint);
    to_slot_numbered(&mut parts);
    let loaded = Checkpoint::from_safetensors_bytes(&parts.bytes()).unwrap();
    assert_eq!(state_bits(&loaded.optimizer), state_bits(&checkpoint.optimizer));
    assert_eq!(loaded, checkpoint);

    let (mut resumed, mut adam) = (loaded.autoencoder, Adam::new(1e-2));
    adam.load_state(loaded.optimizer).unwrap();
    train(&mut resumed, &mut adam, 3..7);
    let (mut straight, mut straight_adam) = (model(), Adam::new(1e-2));
    train(&mut straight, &mut straight_adam, 0..7);
    assert_eq!(parameter_bits(&resumed), parameter_bits(&straight));
    assert_eq!(state_bits(&adam.state()), state_bits(&straight_adam.state()));

    let slot_numbered = || {
        let mut parts = Parts::of_checkpoint(&trained_checkpoint());
        to_slot_numbered(&mut parts);
        parts
    };
    let mut parts = slot_numbered();
    let buffer = parts.tensors.get_mut("optimizer.2.0").unwrap();
    buffer.shape = vec![17];
    buffer.data.truncate(17 * 4);
    assert_contains(
        &parts.load_error(),
        &["tensor optimizer.2.0 has 17 elements, but optimizer slot 2's parameter (encoder.1.weight) has 18"],
    );
    let mut parts = slot_numbered();
    parts.meta().insert("optimizer.slots".into(), "9".into());
    assert_contains(
        &parts.load_error(),
        &["optimizer.slots is 9", "only 8 parameter tensors"],
    );
    let mut parts = slot_numbered();
    parts.meta().insert("optimizer.3.buffers".into(), "1".into());
    assert_contains(
        &parts.load_error(),
        &[
            "unexpected optimizer tensors optimizer.3.1",
            "optimizer.slots and optimizer.{slot}.buffers",
        ],
    );
    let mut parts = slot_numbered();
    parts.meta().remove("optimizer.slots");
    assert_contains(&parts.load_error(), &[r#""optimizer.slots" is missing"#]);
    let mut parts = slot_numbered();
    parts.meta().insert("optimizer.0.buffers".into(), u64::MAX.to_string());
    assert_contains(
        &parts.load_error(),
        &["optimizer.0.buffers", "more than the file's 24 tensors"],
    );
    // A file of today's layout that claims version 1: its named tensors are not slots.
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.meta().insert("checkpoint_version".into(), "1".into());
    parts.meta().insert("optimizer.slots".into(), "0".into());
    assert_contains(
        &parts.load_error(),
        &["unexpected optimizer tensors optimizer.decoder.0.bias.0"],
    );
}
