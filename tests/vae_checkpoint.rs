//! Checkpoints of a variational autoencoder: round trips, exact resumption of `Vae::fit` (weights, optimizer
//! state and noise), the file saying that it holds a VAE and its β, and the errors between the two kinds.

mod common;

use autoencoder::ndarray::Array2;
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{
    Activation, Adam, AdamW, Autoencoder, Callback, Checkpoint, Control, Decoder, Dense, Encoder, EpochReport, Error,
    FitConfig, Init, Loss, Optimizer, Sgd, Vae, VaeCheckpoint,
};
use common::{assert_contains, scratch};

/// 48 samples of 10 features in [0, 1].
fn data() -> Array2<f32> {
    Array2::from_shape_fn((48, 10), |(i, j)| {
        let phase = (i % 6) as f32 * 0.9;
        0.5 + 0.45 * (phase + j as f32 * 0.4).cos()
    })
}

/// A 10-6-(2x3) | 3-6-10 VAE with weights from `seed`, β 0.75.
fn vae(seed: u64) -> Vae {
    let mut rng = StdRng::seed_from_u64(seed);
    let dense = |i, o, a, rng: &mut StdRng| Dense::new(i, o, a, Init::GlorotUniform, rng).unwrap();
    let encoder = Encoder::new(vec![
        dense(10, 6, Activation::Relu, &mut rng),
        dense(6, 6, Activation::Identity, &mut rng),
    ])
    .unwrap();
    let decoder = Decoder::new(vec![
        dense(3, 6, Activation::Relu, &mut rng),
        dense(6, 10, Activation::Sigmoid, &mut rng),
    ])
    .unwrap();
    Vae::new(encoder, decoder).unwrap().with_beta(0.75)
}

/// Every parameter as bits, in order.
fn bits(vae: &Vae) -> Vec<u32> {
    vae.named_parameters()
        .flat_map(|(_, values)| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

fn config(epochs: usize) -> FitConfig {
    FitConfig::new(epochs)
        .batch_size(7)
        .seed(21)
        .loss(Loss::BinaryCrossEntropy)
}

/// Saves a checkpoint of the VAE after every epoch into a directory.
struct SaveEvery(std::path::PathBuf);

impl Callback<Vae> for SaveEvery {
    fn on_epoch(&mut self, report: &EpochReport<'_, Vae>) -> autoencoder::Result<Control> {
        let checkpoint = VaeCheckpoint {
            vae: report.autoencoder.clone(),
            optimizer: report.optimizer.state(),
            epoch: report.epoch,
            metadata: [("run".to_string(), "test".to_string())].into(),
        };
        checkpoint.save(self.0.join(format!("epoch-{}.safetensors", report.epoch)))?;
        Ok(Control::Continue)
    }
}

/// Trains 6 epochs straight, and 6 epochs resumed from the checkpoint of epoch 2 written by a callback during a
/// first run (as after a crash): the weights and the optimizer's state must be bit-identical.
fn resume_is_exact<O: Optimizer>(name: &str, make: impl Fn() -> O) {
    let x = data();
    let dir = scratch(name);

    let mut straight = vae(3);
    let mut straight_opt = make();
    let whole = straight.fit(x.view(), None, &mut straight_opt, &config(6)).unwrap();

    let mut interrupted = vae(3);
    let data = autoencoder::FitData::autoencoding(x.view());
    interrupted
        .fit_with(data, &mut make(), &config(4), &mut SaveEvery(dir.to_path_buf()))
        .unwrap();

    let checkpoint = VaeCheckpoint::load(dir.join("epoch-2.safetensors")).unwrap();
    assert_eq!((checkpoint.epoch, checkpoint.vae.beta()), (2, 0.75));
    assert_eq!(checkpoint.metadata["run"], "test");
    let mut resumed = checkpoint.vae;
    let mut resumed_opt = make();
    resumed_opt.load_state(checkpoint.optimizer).unwrap();
    let rest = resumed
        .fit(
            x.view(),
            None,
            &mut resumed_opt,
            &config(6).start_epoch(checkpoint.epoch),
        )
        .unwrap();

    // The same noise: the per-epoch losses of epochs 3..6 are the uninterrupted run's, bit for bit.
    assert_eq!(rest.train_loss, whole.train_loss[2..]);
    assert_eq!(rest.train_reconstruction, whole.train_reconstruction[2..]);
    assert_eq!(rest.train_kl, whole.train_kl[2..]);
    assert_eq!(bits(&resumed), bits(&straight));
    assert_eq!(resumed, straight);
    assert_eq!(resumed_opt.state(), straight_opt.state());
}

#[test]
fn resuming_from_a_checkpoint_gives_bit_identical_weights_with_adam() {
    resume_is_exact("vae-resume-adam", || Adam::new(5e-3));
}

#[test]
fn resuming_from_a_checkpoint_gives_bit_identical_weights_with_adamw() {
    resume_is_exact("vae-resume-adamw", || AdamW::new(5e-3));
}

#[test]
fn resuming_from_a_checkpoint_gives_bit_identical_weights_with_sgd_momentum() {
    resume_is_exact("vae-resume-sgd", || Sgd::new(0.05).with_momentum(0.9));
}

#[test]
fn a_round_trip_keeps_everything_bit_for_bit() {
    let x = data();
    let mut model = vae(4);
    let mut adam = Adam::new(1e-2);
    model.fit(x.view(), None, &mut adam, &config(2)).unwrap();
    let checkpoint = VaeCheckpoint::new(model, &adam, 2).with_metadata("lr", "0.01");
    let bytes = checkpoint.to_safetensors_bytes().unwrap();
    let back = VaeCheckpoint::from_safetensors_bytes(&bytes).unwrap();
    assert_eq!(back, checkpoint);
    assert_eq!(bits(&back.vae), bits(&checkpoint.vae));
    assert_eq!(back.vae.beta().to_bits(), 0.75_f32.to_bits());
    // The same bytes again: the file is deterministic.
    assert_eq!(back.to_safetensors_bytes().unwrap(), bytes);
}

#[test]
fn the_file_says_it_holds_a_vae_and_its_beta() {
    let checkpoint = VaeCheckpoint::new(vae(5).with_beta(0.125), &Adam::new(1e-3), 7);
    let bytes = checkpoint.to_safetensors_bytes().unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let version = autoencoder::checkpoint::CHECKPOINT_VERSION;
    assert_contains(
        &text,
        &[
            r#""model":"vae""#,
            r#""beta":"0.125""#,
            &format!(r#""checkpoint_version":"{version}""#),
            r#""epoch":"7""#,
            r#""optimizer.kind":"adam""#,
        ],
    );
    // A VAE checkpoint is a VAE model file too.
    assert_eq!(Vae::from_safetensors_bytes(&bytes).unwrap(), checkpoint.vae);
}

#[test]
fn loading_one_kind_as_the_other_is_an_error_that_says_so() {
    let vae_bytes = VaeCheckpoint::new(vae(6), &Adam::new(1e-3), 1)
        .to_safetensors_bytes()
        .unwrap();
    let ae = Autoencoder::builder(10).latent(3).seed(1).build().unwrap();
    let ae_bytes = Checkpoint::new(ae, &Adam::new(1e-3), 1).to_safetensors_bytes().unwrap();

    let err = Checkpoint::from_safetensors_bytes(&vae_bytes).unwrap_err();
    assert!(matches!(err, Error::ModelFile { .. }), "{err:?}");
    assert_contains(&err.to_string(), &["variational", "VaeCheckpoint::load"]);

    let err = VaeCheckpoint::from_safetensors_bytes(&ae_bytes).unwrap_err();
    assert!(matches!(err, Error::ModelFile { .. }), "{err:?}");
    assert_contains(&err.to_string(), &["plain autoencoder", "Checkpoint::load"]);

    let err = Autoencoder::from_safetensors_bytes(&vae_bytes).unwrap_err();
    assert_contains(&err.to_string(), &["Vae::load"]);

    // Model files are not checkpoints.
    let model_file = vae(6).to_safetensors_bytes().unwrap();
    let err = VaeCheckpoint::from_safetensors_bytes(&model_file).unwrap_err();
    assert_contains(&err.to_string(), &["not a checkpoint", "Vae::load"]);
}

#[test]
fn loading_from_a_file_names_the_file_in_errors() {
    let dir = scratch("vae-ckpt-kind");
    let path = dir.join("ae.safetensors");
    let ae = Autoencoder::builder(10).latent(3).seed(1).build().unwrap();
    Checkpoint::new(ae, &Adam::new(1e-3), 0).save(&path).unwrap();
    let err = VaeCheckpoint::load(&path).unwrap_err();
    assert_contains(&err.to_string(), &["ae.safetensors", "Checkpoint::load"]);
}

#[test]
fn a_state_that_does_not_fit_the_vae_or_a_bad_beta_is_not_saved() {
    let x = data();
    let mut other = vae(7);
    let mut adam = Adam::new(1e-2);
    other.fit(x.view(), None, &mut adam, &config(1)).unwrap();
    // Adam's state of a VAE with other layer sizes.
    let mut rng = StdRng::seed_from_u64(0);
    let small = Vae::new(
        Encoder::new(vec![Dense::new(
            10,
            4,
            Activation::Identity,
            Init::GlorotUniform,
            &mut rng,
        )
        .unwrap()])
        .unwrap(),
        Decoder::new(vec![Dense::new(
            2,
            10,
            Activation::Sigmoid,
            Init::GlorotUniform,
            &mut rng,
        )
        .unwrap()])
        .unwrap(),
    )
    .unwrap();
    let err = VaeCheckpoint::new(small, &adam, 1).to_safetensors_bytes().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");

    let err = VaeCheckpoint::new(vae(7).with_beta(f32::NAN), &Adam::new(1e-3), 0)
        .to_safetensors_bytes()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}
