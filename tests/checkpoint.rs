//! Checkpoints: bit-identical round trips of the model and the optimizer state, exact resumption with
//! `train_step`, the format, and the checks on load.

mod common;

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
fn state_bits(state: &OptimizerState) -> (String, u64, Vec<Vec<Vec<u32>>>) {
    let slots = state
        .slots
        .iter()
        .map(|slot| slot.iter().map(|b| b.iter().map(|v| v.to_bits()).collect()).collect())
        .collect();
    (state.kind.clone(), state.step, slots)
}

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
    assert_eq!(checkpoint.optimizer.slots.len(), 8, "every slot was used");
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
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn empty_slots_round_trip_as_empty() {
    // A fresh optimizer: no slots at all.
    let fresh = Checkpoint::new(model(), &Adam::new(1e-3), 0);
    let loaded = Checkpoint::from_safetensors_bytes(&fresh.to_safetensors_bytes().unwrap()).unwrap();
    assert_eq!(
        loaded.optimizer,
        OptimizerState {
            kind: "adam".into(),
            step: 0,
            slots: vec![]
        }
    );

    // Unused slots between and before used ones stay empty (SGD's momentum treats a first update specially,
    // so an empty slot must not come back as zeros).
    let mut checkpoint = Checkpoint::new(model(), &Sgd::new(0.1).with_momentum(0.9), 7);
    checkpoint.optimizer = OptimizerState {
        kind: "sgd".into(),
        step: 5,
        slots: vec![vec![], vec![vec![0.5; 6]], vec![], vec![vec![-0.0, 1.0e-40, 3.0]]],
    };
    let loaded = Checkpoint::from_safetensors_bytes(&checkpoint.to_safetensors_bytes().unwrap()).unwrap();
    assert_eq!(state_bits(&loaded.optimizer), state_bits(&checkpoint.optimizer));
    assert_eq!(loaded.epoch, 7);
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
    fs::remove_dir_all(dir).unwrap();
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
    assert_eq!(m["checkpoint_version"], "1");
    assert_eq!(m["epoch"], "2");
    assert_eq!(m["optimizer.kind"], "adam");
    assert_eq!(m["optimizer.step"], "3");
    assert_eq!(m["optimizer.slots"], "8");
    for slot in 0..8 {
        assert_eq!(m[&format!("optimizer.{slot}.buffers")], "2");
    }
    assert_eq!(m["user.learning_rate"], "0.01");
    // The model is 10-6-3-6-10: slot 2l is layer l's weights, 2l + 1 its bias, encoder then decoder.
    for (slot, len) in [(0, 60), (1, 6), (2, 18), (3, 3), (4, 18), (5, 6), (6, 60), (7, 10)] {
        for k in 0..2 {
            let t = &parts.tensors[&format!("optimizer.{slot}.{k}")];
            assert_eq!((t.dtype, t.shape.as_slice()), (Dtype::F32, &[len][..]));
        }
    }
    assert_eq!(
        parts.tensors.len(),
        8 + 16,
        "4 layers × 2 model tensors, 8 slots × 2 buffers"
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
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_newer_checkpoint_version_says_to_upgrade() {
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.meta().insert("checkpoint_version".into(), "2".into());
    assert_contains(&parts.load_error(), &["checkpoint_version 2 is newer", "upgrade"]);
}

#[test]
fn missing_checkpoint_metadata_is_an_error() {
    for key in [
        "epoch",
        "optimizer.kind",
        "optimizer.step",
        "optimizer.slots",
        "optimizer.2.buffers",
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
    parts.tensors.remove("optimizer.1.1");
    assert_contains(&parts.load_error(), &["missing tensor optimizer.1.1"]);

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.meta().insert("optimizer.3.buffers".into(), "1".into());
    assert_contains(&parts.load_error(), &["unexpected optimizer tensors optimizer.3.1"]);

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.meta().insert("optimizer.0.buffers".into(), u64::MAX.to_string());
    assert_contains(
        &parts.load_error(),
        &["optimizer.0.buffers", "more than the file's 24 tensors"],
    );
}

#[test]
fn optimizer_state_that_does_not_fit_the_model_is_an_error() {
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    let buffer = parts.tensors.get_mut("optimizer.2.0").unwrap();
    buffer.shape = vec![17];
    buffer.data.truncate(17 * 4);
    assert_contains(
        &parts.load_error(),
        &["optimizer.2.0 has 17 elements", "slot 2's parameter has 18"],
    );

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.meta().insert("optimizer.slots".into(), "9".into());
    assert_contains(
        &parts.load_error(),
        &["optimizer.slots is 9", "only 8 parameter tensors"],
    );

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.tensors.get_mut("optimizer.0.1").unwrap().shape = vec![6, 10];
    assert_contains(
        &parts.load_error(),
        &["optimizer.0.1 has shape (6, 10)", "optimizer buffer"],
    );

    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    let buffer = parts.tensors.get_mut("optimizer.0.0").unwrap();
    buffer.dtype = Dtype::F64;
    buffer.shape = vec![30];
    assert_contains(&parts.load_error(), &["optimizer.0.0 has dtype F64"]);
}

#[test]
fn non_finite_optimizer_state_is_an_error() {
    let mut parts = Parts::of_checkpoint(&trained_checkpoint());
    parts.tensors.get_mut("optimizer.3.1").unwrap().data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_contains(&parts.load_error(), &["optimizer.3.1 holds NaN at index 0"]);
}

#[test]
fn a_state_that_does_not_fit_the_model_is_not_saved() {
    let dir = scratch("bad-state");
    let path = dir.join("ckpt.safetensors");
    trained_checkpoint().save(&path).unwrap();
    let before = fs::read(&path).unwrap();

    let mut checkpoint = trained_checkpoint();
    checkpoint.optimizer.slots[1][0].push(0.0);
    let err = checkpoint.save(&path).unwrap_err();
    assert_contains(
        &err.to_string(),
        &["optimizer.1.0 has 7 elements", "its parameter has 6"],
    );

    let mut checkpoint = trained_checkpoint();
    checkpoint.optimizer.slots.resize(9, vec![]);
    assert_contains(
        &checkpoint.save(&path).unwrap_err().to_string(),
        &["9 slots", "only 8 parameter tensors"],
    );

    let mut checkpoint = trained_checkpoint();
    checkpoint.optimizer.slots[0][1][3] = f32::INFINITY;
    assert_contains(
        &checkpoint.save(&path).unwrap_err().to_string(),
        &["optimizer.0.1", "inf"],
    );

    assert_eq!(fs::read(&path).unwrap(), before, "a refused save changed the file");
    assert_eq!(entries(&dir), ["ckpt.safetensors"]);
    fs::remove_dir_all(dir).unwrap();
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
    fs::remove_dir_all(dir).unwrap();
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
        slots: vec![vec![vec![0.125], vec![0.5]]; 4 * LAYERS],
    };
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
