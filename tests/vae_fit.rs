//! `Vae::fit`: the shared fit loop with a VAE — seeded noise (the same seed, the same weights), resuming, the
//! history's reconstruction and KL parts, validation, early stopping, callbacks and errors.

use autoencoder::ndarray::Array2;
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{
    Activation, Adam, Autoencoder, BatchReport, Callback, Control, Decoder, Dense, EarlyStopping, Encoder, EpochReport,
    Error, FitConfig, FitData, Init, Loss, Optimizer, Vae,
};

/// 64 samples of 10 features in [0, 1] with some structure to learn.
fn data() -> Array2<f32> {
    Array2::from_shape_fn((64, 10), |(i, j)| {
        let phase = (i % 8) as f32 * 0.7;
        0.5 + 0.45 * (phase + j as f32 * 0.5).sin()
    })
}

/// A 10-8-(2x2) | 2-8-10 VAE with weights from `seed`.
fn vae(seed: u64) -> Vae {
    let mut rng = StdRng::seed_from_u64(seed);
    let dense = |i, o, a, rng: &mut StdRng| Dense::new(i, o, a, Init::GlorotUniform, rng).unwrap();
    let encoder = Encoder::new(vec![
        dense(10, 8, Activation::Tanh, &mut rng),
        dense(8, 4, Activation::Identity, &mut rng),
    ])
    .unwrap();
    let decoder = Decoder::new(vec![
        dense(2, 8, Activation::Tanh, &mut rng),
        dense(8, 10, Activation::Sigmoid, &mut rng),
    ])
    .unwrap();
    Vae::new(encoder, decoder).unwrap()
}

fn bce(epochs: usize) -> FitConfig {
    FitConfig::new(epochs).batch_size(16).loss(Loss::BinaryCrossEntropy)
}

#[test]
fn training_lowers_the_loss_and_the_history_has_both_parts_per_epoch() {
    let x = data();
    let mut model = vae(1).with_beta(0.5);
    let history = model
        .fit(x.view(), Some(x.view()), &mut Adam::new(1e-2), &bce(25).seed(3))
        .unwrap();
    assert_eq!(history.first_epoch, 1);
    for series in [
        &history.train_loss,
        &history.train_reconstruction,
        &history.train_kl,
        &history.validation_loss,
        &history.validation_reconstruction,
        &history.validation_kl,
    ] {
        assert_eq!(series.len(), 25);
    }
    assert!(history.train_loss[24] < history.train_loss[0]);
    for e in 0..25 {
        let parts = history.train_reconstruction[e] + 0.5 * history.train_kl[e];
        assert!(
            (history.train_loss[e] - parts).abs() <= 1e-4 * history.train_loss[e],
            "epoch {e}"
        );
        let parts = history.validation_reconstruction[e] + 0.5 * history.validation_kl[e];
        assert!((history.validation_loss[e] - parts).abs() <= 1e-4 * history.validation_loss[e]);
        assert!(history.train_kl[e] >= 0.0 && history.validation_kl[e] >= 0.0);
    }
    // The validation loss is the deterministic loss (z = mean) of the model after the epoch.
    let now = model.evaluate(x.view(), Loss::BinaryCrossEntropy).unwrap();
    assert_eq!(history.validation_loss[24], now.total);
    assert_eq!(history.validation_reconstruction[24], now.reconstruction);
    assert_eq!(history.validation_kl[24], now.kl);
}

#[test]
fn a_plain_autoencoders_history_has_no_parts() {
    let x = data();
    let mut ae = Autoencoder::builder(10).latent(2).seed(1).build().unwrap();
    let history = ae
        .fit(x.view(), Some(x.view()), &mut Adam::new(1e-2), &FitConfig::new(2))
        .unwrap();
    assert_eq!(history.train_loss.len(), 2);
    assert!(history.train_reconstruction.is_empty() && history.train_kl.is_empty());
    assert!(history.validation_reconstruction.is_empty() && history.validation_kl.is_empty());
}

#[test]
fn the_same_seed_gives_bit_identical_weights_and_another_seed_does_not() {
    let x = data();
    let run = |seed, shuffle| {
        let mut model = vae(5);
        let config = bce(3).seed(seed).shuffle(shuffle);
        model.fit(x.view(), None, &mut Adam::new(1e-2), &config).unwrap();
        model
    };
    assert_eq!(run(11, true), run(11, true));
    assert_ne!(run(11, true), run(12, true));
    // Without shuffling the batches are the same whatever the seed: the noise still follows it.
    assert_eq!(run(11, false), run(11, false));
    assert_ne!(run(11, false), run(12, false));
}

#[test]
fn a_resumed_run_draws_the_same_noise_and_ends_with_the_same_weights() {
    let x = data();
    let config = bce(5).seed(9);

    let mut straight = vae(2);
    let mut straight_opt = Adam::new(5e-3);
    let whole = straight.fit(x.view(), None, &mut straight_opt, &config).unwrap();

    let mut first = vae(2);
    let mut first_opt = Adam::new(5e-3);
    first.fit(x.view(), None, &mut first_opt, &bce(2).seed(9)).unwrap();

    let mut resumed = first.clone();
    let mut resumed_opt = Adam::new(5e-3);
    resumed_opt.load_state(first_opt.state()).unwrap();
    let rest = resumed
        .fit(x.view(), None, &mut resumed_opt, &config.clone().start_epoch(2))
        .unwrap();
    assert_eq!(rest.first_epoch, 3);
    assert_eq!(rest.train_loss, whole.train_loss[2..]);
    assert_eq!(rest.train_kl, whole.train_kl[2..]);
    assert_eq!(resumed, straight);
}

/// Keeps the VAE after every epoch and every report's parts.
#[derive(Default)]
struct Snapshots {
    models: Vec<Vae>,
    batches: Vec<BatchReport>,
}

impl Callback<Vae> for Snapshots {
    fn on_batch(&mut self, report: &BatchReport) -> Control {
        self.batches.push(*report);
        Control::Continue
    }

    fn on_epoch(&mut self, report: &EpochReport<'_, Vae>) -> autoencoder::Result<Control> {
        let train = report.train_vae_loss.expect("a VAE's epoch report has the parts");
        assert_eq!(train.total, report.train_loss);
        assert_eq!(report.validation_vae_loss.map(|v| v.total), report.validation_loss);
        self.models.push(report.autoencoder.clone());
        Ok(Control::Continue)
    }
}

#[test]
fn callbacks_see_the_vae_and_the_parts_of_every_loss() {
    let x = data();
    let mut model = vae(3);
    let mut snapshots = Snapshots::default();
    let data = FitData::autoencoding(x.view()).with_validation(x.view(), x.view());
    let history = model
        .fit_with(data, &mut Adam::new(1e-2), &bce(3), &mut snapshots)
        .unwrap();
    assert_eq!(snapshots.models.len(), 3);
    assert_eq!(snapshots.models[2], model);
    assert_eq!(snapshots.batches.len(), 3 * 4);
    for report in &snapshots.batches {
        let parts = report.vae_loss.expect("a VAE's batch report has the parts");
        assert_eq!(parts.total, report.loss);
    }
    // The epoch's mean is the batches' (all of 16 rows here).
    let kl: f32 = snapshots.batches[..4]
        .iter()
        .map(|r| r.vae_loss.unwrap().kl)
        .sum::<f32>()
        / 4.0;
    assert!((kl - history.train_kl[0]).abs() <= 1e-5 * kl.max(1.0));
}

#[test]
fn a_callback_can_stop_a_vae_mid_epoch() {
    struct StopAfter(usize);
    impl Callback<Vae> for StopAfter {
        fn on_batch(&mut self, report: &BatchReport) -> Control {
            if report.batch >= self.0 {
                Control::Stop
            } else {
                Control::Continue
            }
        }
    }
    let x = data();
    let mut model = vae(3);
    let history = model
        .fit_with(
            FitData::autoencoding(x.view()),
            &mut Adam::new(1e-2),
            &bce(5),
            &mut StopAfter(2),
        )
        .unwrap();
    assert!(history.stopped_early);
    assert_eq!((history.train_loss.len(), history.train_kl.len()), (1, 1));
}

#[test]
fn early_stopping_stops_and_restores_the_best_vae() {
    let x = data();
    // Validation data the model cannot fit while it learns the training data: the validation loss turns up.
    let validation = x.mapv(|v| 1.0 - v);
    let mut model = vae(4);
    let config = FitConfig::new(300)
        .batch_size(16)
        .early_stopping(EarlyStopping::new(3).min_delta(1e-4));
    let mut snapshots = Snapshots::default();
    let data = FitData::autoencoding(x.view()).with_validation(validation.view(), validation.view());
    let history = model
        .fit_with(data, &mut Adam::new(3e-2), &config, &mut snapshots)
        .unwrap();
    assert!(history.stopped_early, "ran all {} epochs", history.train_loss.len());
    let best = history.best_epoch.expect("a best epoch");
    assert_eq!(history.train_loss.len(), best + 3);
    assert_eq!(
        model,
        snapshots.models[best - 1],
        "the best epoch's weights are restored"
    );
    assert_ne!(model, *snapshots.models.last().unwrap());
}

#[test]
fn denoising_pairs_score_the_validation_reconstructions_against_their_targets() {
    let clean = data();
    let noisy = clean.mapv(|v| (v + 0.1).min(1.0));
    let mut model = vae(6);
    let data = FitData::pairs(noisy.view(), clean.view()).with_validation(noisy.view(), clean.view());
    let history = model
        .fit_with(data, &mut Adam::new(1e-2), &FitConfig::new(2).batch_size(16), &mut ())
        .unwrap();
    let (mean, _) = model.encode(noisy.view()).unwrap();
    let reconstructed = model.decode(mean.view()).unwrap();
    let expected = Loss::Mse.value(reconstructed.view(), clean.view()).unwrap() * 10.0;
    assert!((history.validation_reconstruction[1] - expected).abs() <= 1e-5 * expected);
}

#[test]
fn bad_data_and_settings_are_errors_before_any_step() {
    let x = data();
    let before = vae(7);
    let mut model = before.clone();
    let mut adam = Adam::new(1e-2);
    let wrong = Array2::<f32>::zeros((4, 9));
    let err = model.fit(x.view(), Some(wrong.view()), &mut adam, &bce(2)).unwrap_err();
    assert!(err.to_string().contains("validation"), "{err}");
    assert!(model.fit(wrong.view(), None, &mut adam, &bce(2)).is_err());
    assert!(model.fit(x.view(), None, &mut adam, &bce(2).batch_size(0)).is_err());
    let mut negative = before.clone().with_beta(-1.0);
    assert!(matches!(
        negative.fit(x.view(), None, &mut adam, &bce(2)),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(model, before);
}

#[test]
fn a_diverging_vae_reports_the_epoch_and_batch() {
    let x = data().mapv(|v| v * 1e19);
    let mut model = vae(8);
    let err = model
        .fit(x.view(), None, &mut Adam::new(1e-2), &FitConfig::new(2).batch_size(16))
        .unwrap_err();
    assert!(matches!(err, Error::Diverged { epoch: 1, batch: 1, .. }), "{err}");
}

#[test]
fn print_progress_serves_a_vae_too() {
    let x = data();
    let mut model = vae(9);
    let data = FitData::autoencoding(x.view()).with_validation(x.view(), x.view());
    let history = model
        .fit_with(data, &mut Adam::new(1e-2), &bce(2), &mut autoencoder::PrintProgress)
        .unwrap();
    assert_eq!(history.validation_kl.len(), 2);
}

/// The bundled digits: a 784-64-(2x2) | 2-64-784 VAE learns in a few epochs on 512 of them, and the test loss
/// (deterministic) falls with it.
#[test]
fn a_vae_fits_the_bundled_digits() {
    use autoencoder::ndarray::s;
    let digits = autoencoder::Mnist::load_bundled().unwrap();
    let train = digits.train_images.slice(s![..512, ..]);
    let test = digits.test_images.slice(s![..256, ..]);
    let mut rng = StdRng::seed_from_u64(0);
    let dense = |i, o, a, rng: &mut StdRng| Dense::new(i, o, a, Init::GlorotUniform, rng).unwrap();
    let encoder = Encoder::new(vec![
        dense(784, 64, Activation::Relu, &mut rng),
        dense(64, 4, Activation::Identity, &mut rng),
    ])
    .unwrap();
    let decoder = Decoder::new(vec![
        dense(2, 64, Activation::Relu, &mut rng),
        dense(64, 784, Activation::Sigmoid, &mut rng),
    ])
    .unwrap();
    let mut model = Vae::new(encoder, decoder).unwrap();
    let before = model.evaluate(test, Loss::BinaryCrossEntropy).unwrap();
    let config = FitConfig::new(4).batch_size(64).seed(1).loss(Loss::BinaryCrossEntropy);
    let history = model.fit(train, Some(test), &mut Adam::new(1e-3), &config).unwrap();
    assert!(
        history.train_loss[3] < history.train_loss[0],
        "{:?}",
        history.train_loss
    );
    assert!(
        history.validation_loss[3] < 0.8 * before.total,
        "{before:?} -> {:?}",
        history.validation_loss
    );
    assert!(history.train_kl.iter().all(|kl| kl.is_finite() && *kl >= 0.0));
}
