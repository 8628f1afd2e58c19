//! `Autoencoder::fit`: epochs, shuffling, determinism, resuming, early stopping, divergence, callbacks.

use autoencoder::ndarray::{s, Array2};
use autoencoder::{
    Adam, Autoencoder, BatchReport, Callback, Control, EarlyStopping, EpochReport, Error, FitConfig, FitData, History,
    Loss, Optimizer, Sgd,
};

/// 96 samples of 12 features in [0, 1] with some structure to learn.
fn data() -> Array2<f32> {
    Array2::from_shape_fn((96, 12), |(i, j)| {
        let phase = (i % 8) as f32 * 0.7;
        0.5 + 0.45 * (phase + j as f32 * 0.5).sin()
    })
}

fn model(seed: u64) -> Autoencoder {
    Autoencoder::builder(12)
        .hidden(&[8])
        .latent(3)
        .seed(seed)
        .build()
        .unwrap()
}

#[test]
fn training_lowers_the_loss_and_history_has_one_entry_per_epoch() {
    let x = data();
    let mut ae = model(1);
    let config = FitConfig::new(30).batch_size(16).seed(3);
    let history = ae.fit(x.view(), Some(x.view()), &mut Adam::new(1e-2), &config).unwrap();
    assert_eq!(history.first_epoch, 1);
    assert_eq!(history.train_loss.len(), 30);
    assert_eq!(history.validation_loss.len(), 30);
    assert_eq!(history.epoch_seconds.len(), 30);
    assert!(!history.stopped_early);
    let (first, last) = (history.train_loss[0], history.train_loss[29]);
    assert!(last < first * 0.5, "train loss {first} -> {last}");
    // The validation loss is the model's loss on the validation data after the epoch.
    let now = ae.evaluate(x.view(), x.view(), Loss::Mse).unwrap();
    assert_eq!(history.validation_loss[29], now);
}

#[test]
fn the_same_seed_gives_bit_identical_weights_and_another_seed_does_not() {
    let x = data();
    let run = |shuffle_seed| {
        let mut ae = model(5);
        let config = FitConfig::new(3).batch_size(10).seed(shuffle_seed);
        ae.fit(x.view(), None, &mut Adam::new(1e-2), &config).unwrap();
        ae
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one() {
    let x = data();
    let config = FitConfig::new(5).batch_size(20).seed(9);

    let mut straight = model(2);
    let mut straight_opt = Adam::new(5e-3);
    straight.fit(x.view(), None, &mut straight_opt, &config).unwrap();

    // Stop after epoch 2 (as a crash would), keeping the model and the optimizer's state ...
    let mut first = model(2);
    let mut first_opt = Adam::new(5e-3);
    first
        .fit(
            x.view(),
            None,
            &mut first_opt,
            &FitConfig::new(2).batch_size(20).seed(9),
        )
        .unwrap();
    let (saved_model, saved_state) = (first.clone(), first_opt.state());

    // ... then resume into fresh objects from epoch 3.
    let mut resumed = saved_model;
    let mut resumed_opt = Adam::new(5e-3);
    resumed_opt.load_state(saved_state).unwrap();
    let history = resumed
        .fit(x.view(), None, &mut resumed_opt, &config.clone().start_epoch(2))
        .unwrap();
    assert_eq!(history.first_epoch, 3);
    assert_eq!(history.train_loss.len(), 3);
    assert_eq!(resumed, straight);
}

#[test]
fn a_resumed_denoising_run_sees_the_same_noise_and_ends_with_the_same_weights() {
    // The input noise of an element is a function of (seed, epoch, batch, element): resuming at epoch 3 draws
    // what the uninterrupted run drew there.
    let x = data();
    let config = FitConfig::new(5).batch_size(20).seed(9).input_noise(0.3);

    let mut straight = model(2);
    let mut straight_opt = Adam::new(5e-3);
    straight.fit(x.view(), None, &mut straight_opt, &config).unwrap();

    let mut first = model(2);
    let mut first_opt = Adam::new(5e-3);
    let two_epochs = FitConfig::new(2).batch_size(20).seed(9).input_noise(0.3);
    first.fit(x.view(), None, &mut first_opt, &two_epochs).unwrap();

    let mut resumed = first.clone();
    let mut resumed_opt = Adam::new(5e-3);
    resumed_opt.load_state(first_opt.state()).unwrap();
    let history = resumed
        .fit(x.view(), None, &mut resumed_opt, &config.clone().start_epoch(2))
        .unwrap();
    assert_eq!(history.first_epoch, 3);
    assert_eq!(resumed, straight);

    // ... and the noise did something, differently for another seed
    let mut clean = model(2);
    clean
        .fit(x.view(), None, &mut Adam::new(5e-3), &config.clone().input_noise(0.0))
        .unwrap();
    assert_ne!(straight, clean);
    let mut reseeded = model(2);
    reseeded
        .fit(x.view(), None, &mut Adam::new(5e-3), &config.clone().seed(10))
        .unwrap();
    assert_ne!(straight, reseeded);
}

/// Keeps a copy of the model after every epoch.
#[derive(Default)]
struct Snapshots(Vec<Autoencoder>);

impl Callback for Snapshots {
    fn on_epoch(&mut self, report: &EpochReport<'_>) -> autoencoder::Result<Control> {
        self.0.push(report.autoencoder.clone());
        Ok(Control::Continue)
    }
}

#[test]
fn early_stopping_stops_and_restores_the_best_weights() {
    let x = data();
    // A validation set the model cannot fit well while it learns the training set: the noise-free pattern
    // shifted, so the validation loss turns up after a while.
    let validation = x.mapv(|v| 1.0 - v);
    let mut ae = model(4);
    let config = FitConfig::new(200)
        .batch_size(16)
        .early_stopping(EarlyStopping::new(3).min_delta(1e-4));
    let mut snapshots = Snapshots::default();
    let data = FitData::autoencoding(x.view()).with_validation(validation.view(), validation.view());
    let history = ae
        .fit_with(data, &mut Adam::new(2e-2), &config, &mut snapshots)
        .unwrap();

    assert!(history.stopped_early, "ran all {} epochs", history.train_loss.len());
    let best = history.best_epoch.expect("a best epoch");
    let ran = history.train_loss.len();
    assert_eq!(ran, best + 3, "stops 3 epochs (patience) after the best epoch");
    let best_loss = history.validation_loss[best - 1];
    assert!(history.validation_loss[best..].iter().all(|&v| v >= best_loss - 1e-4));
    assert_eq!(ae, snapshots.0[best - 1], "the best epoch's weights are restored");
    assert_ne!(ae, snapshots.0[ran - 1]);
}

#[test]
fn without_restore_best_the_last_weights_stay() {
    let x = data();
    let validation = x.mapv(|v| 1.0 - v);
    let mut ae = model(4);
    let config = FitConfig::new(200)
        .batch_size(16)
        .early_stopping(EarlyStopping::new(3).min_delta(1e-4).restore_best(false));
    let mut snapshots = Snapshots::default();
    let data = FitData::autoencoding(x.view()).with_validation(validation.view(), validation.view());
    ae.fit_with(data, &mut Adam::new(2e-2), &config, &mut snapshots)
        .unwrap();
    assert_eq!(&ae, snapshots.0.last().unwrap());
}

#[test]
fn a_nan_in_the_data_stops_training_at_its_batch_and_keeps_the_weights_from_before() {
    let mut x = data();
    x[[45, 3]] = f32::NAN; // row 45 is in batch 3 of 16-row batches when not shuffled
    let config = FitConfig::new(2).batch_size(16).shuffle(false);
    let mut ae = model(6);
    let mut opt = Adam::new(1e-2);
    let err = ae.fit(x.view(), None, &mut opt, &config).unwrap_err();
    match &err {
        Error::Diverged {
            epoch,
            batch,
            what,
            value,
        } => {
            assert_eq!((*epoch, *batch, *what), (1, 3, "loss"));
            assert!(value.is_nan());
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
    assert!(err.to_string().contains("epoch 1, batch 3"), "{err}");

    // The same two good steps by hand give the same weights.
    let mut reference = model(6);
    let mut reference_opt = Adam::new(1e-2);
    for b in 0..2 {
        let batch = x.slice(s![b * 16..(b + 1) * 16, ..]);
        reference
            .train_step(batch, batch, Loss::Mse, &mut reference_opt)
            .unwrap();
    }
    assert_eq!(ae, reference);
}

#[test]
fn an_exploding_learning_rate_is_reported_as_divergence() {
    let x = data();
    // A linear model: nothing saturates, so a far too large step blows the loss up.
    let mut ae = Autoencoder::builder(12)
        .hidden(&[8])
        .latent(3)
        .hidden_activation(autoencoder::Activation::Identity)
        .output_activation(autoencoder::Activation::Identity)
        .build()
        .unwrap();
    let err = ae
        .fit(x.view(), None, &mut Sgd::new(1e3), &FitConfig::new(50).batch_size(8))
        .unwrap_err();
    assert!(matches!(err, Error::Diverged { .. }), "{err:?}");
    assert!(ae
        .encoder()
        .layers()
        .iter()
        .all(|l| l.weights().iter().all(|w| w.is_finite())));
}

#[derive(Default)]
struct Counter {
    batches: Vec<BatchReport>,
    epochs: usize,
    stop_at_epoch: Option<usize>,
}

impl Callback for Counter {
    fn on_batch(&mut self, report: &BatchReport) -> Control {
        self.batches.push(*report);
        Control::Continue
    }

    fn on_epoch(&mut self, report: &EpochReport<'_>) -> autoencoder::Result<Control> {
        self.epochs += 1;
        assert_eq!(report.epoch, self.epochs);
        Ok(match self.stop_at_epoch {
            Some(stop) if report.epoch >= stop => Control::Stop,
            _ => Control::Continue,
        })
    }
}

#[test]
fn callbacks_see_every_batch_and_epoch_and_can_stop_training() {
    let x = data(); // 96 rows: batches of 40, 40, 16
    let mut ae = model(8);
    let mut counter = Counter::default();
    let config = FitConfig::new(3).batch_size(40);
    ae.fit_with(
        FitData::autoencoding(x.view()),
        &mut Adam::new(1e-3),
        &config,
        &mut counter,
    )
    .unwrap();
    assert_eq!(counter.epochs, 3);
    assert_eq!(counter.batches.len(), 9);
    assert_eq!(counter.batches[2].batches, 3);
    assert_eq!(counter.batches[2].batch, 3);

    let mut stopper = Counter {
        stop_at_epoch: Some(2),
        ..Counter::default()
    };
    let history = ae
        .fit_with(
            FitData::autoencoding(x.view()),
            &mut Adam::new(1e-3),
            &FitConfig::new(10),
            &mut stopper,
        )
        .unwrap();
    assert_eq!(history.train_loss.len(), 2);
    assert!(history.stopped_early);
}

#[test]
fn input_noise_trains_towards_the_clean_targets_reproducibly() {
    let x = data();
    let run = |noise: f32| {
        let mut ae = model(10);
        let config = FitConfig::new(2).batch_size(16).input_noise(noise).seed(1);
        let history = ae.fit(x.view(), None, &mut Adam::new(1e-2), &config).unwrap();
        (ae, history)
    };
    let (noisy_a, history_a) = run(0.2);
    let (noisy_b, _) = run(0.2);
    let (clean, history_clean) = run(0.0);
    assert_eq!(noisy_a, noisy_b);
    assert_ne!(noisy_a, clean);
    // A noisy input is harder to reconstruct than a clean one.
    assert!(history_a.train_loss[0] > history_clean.train_loss[0]);
}

#[test]
fn bad_settings_and_shapes_are_errors_before_any_step() {
    let x = data();
    let mut ae = model(11);
    let before = ae.clone();
    let mut opt = Adam::new(1e-3);
    let cases: Vec<(FitConfig, Option<Array2<f32>>)> = vec![
        (FitConfig::new(1).batch_size(0), None),
        (FitConfig::new(1).start_epoch(2), None),
        (FitConfig::new(1).input_noise(-1.0), None),
        (
            FitConfig::new(1).early_stopping(EarlyStopping::new(1).min_delta(f32::NAN)),
            None,
        ),
        (FitConfig::new(1), Some(Array2::zeros((5, 11)))),
    ];
    for (config, validation) in cases {
        let err = ae
            .fit(x.view(), validation.as_ref().map(|v| v.view()), &mut opt, &config)
            .unwrap_err();
        assert!(!err.to_string().is_empty());
    }
    let wrong_width = Array2::zeros((10, 13));
    assert!(matches!(
        ae.fit(wrong_width.view(), None, &mut opt, &FitConfig::new(1)),
        Err(Error::Shape { .. })
    ));
    assert!(ae
        .fit(x.view(), None, &mut Adam::new(-1.0), &FitConfig::new(1))
        .is_err());
    assert_eq!(ae, before, "no failed call changed the weights");
}

#[test]
fn pairs_train_inputs_towards_their_targets() {
    let x = data();
    let shifted = x.mapv(|v| 1.0 - v);
    let mut ae = model(12);
    let config = FitConfig::new(40).batch_size(16);
    ae.fit_with(
        FitData::pairs(x.view(), shifted.view()),
        &mut Adam::new(1e-2),
        &config,
        &mut (),
    )
    .unwrap();
    let towards_target = ae.evaluate(x.view(), shifted.view(), Loss::Mse).unwrap();
    let towards_input = ae.evaluate(x.view(), x.view(), Loss::Mse).unwrap();
    assert!(
        towards_target < towards_input / 2.0,
        "{towards_target} vs {towards_input}"
    );
}

/// Stops training after `after` batches, keeping each batch's loss.
struct StopAfterBatches {
    after: usize,
    losses: Vec<f32>,
}

impl Callback for StopAfterBatches {
    fn on_batch(&mut self, report: &BatchReport) -> Control {
        self.losses.push(report.loss);
        if self.losses.len() >= self.after {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

#[test]
fn an_epoch_stopped_mid_way_reports_the_mean_loss_of_the_batches_that_ran() {
    let x = data(); // 96 rows: batches of 40, 40, 16
    let mut ae = model(13);
    let mut stopper = StopAfterBatches {
        after: 2,
        losses: Vec::new(),
    };
    let config = FitConfig::new(3).batch_size(40);
    let history = ae
        .fit_with(
            FitData::autoencoding(x.view()),
            &mut Adam::new(1e-3),
            &config,
            &mut stopper,
        )
        .unwrap();
    assert!(history.stopped_early);
    let [first, second] = stopper.losses[..] else {
        panic!("expected two batches, saw {:?}", stopper.losses)
    };
    // Two batches of 40 ran: their mean, not their sum spread over all 96 samples.
    let mean = ((f64::from(first) * 40.0 + f64::from(second) * 40.0) / 80.0) as f32;
    assert_eq!(history.train_loss, [mean]);
    assert!(history.validation_loss.is_empty());
}

#[test]
fn errors_in_fit_and_evaluate_name_the_call_and_the_data() {
    let x = data();
    let mut ae = model(14);
    let narrow = Array2::<f32>::zeros((5, 11));
    let message = |result: autoencoder::Result<History>| match result {
        Err(err @ Error::Shape { .. }) => err.to_string(),
        other => panic!("expected a shape error, got {other:?}"),
    };
    let validation = message(ae.fit(x.view(), Some(narrow.view()), &mut Adam::new(1e-3), &FitConfig::new(1)));
    assert!(validation.contains("fit (validation data)"), "{validation}");
    assert!(
        validation.contains("expected 12 columns, found 11 columns"),
        "{validation}"
    );
    let training = message(ae.fit(narrow.view(), None, &mut Adam::new(1e-3), &FitConfig::new(1)));
    assert!(training.contains("fit (training data)"), "{training}");

    let empty = Array2::<f32>::zeros((0, 12));
    match ae.fit(empty.view(), None, &mut Adam::new(1e-3), &FitConfig::new(1)) {
        Err(Error::InvalidArgument(message)) => assert!(message.contains("fit (training data)"), "{message}"),
        other => panic!("expected an invalid argument, got {other:?}"),
    }
    let err = ae.evaluate(narrow.view(), narrow.view(), Loss::Mse).unwrap_err();
    assert!(err.to_string().contains("evaluate (input columns)"), "{err}");
}

#[test]
fn a_nan_in_the_validation_data_stops_training_with_an_error_that_says_so() {
    let x = data();
    let mut validation = x.clone();
    validation[[7, 2]] = f32::NAN;
    let mut ae = model(13);
    let err = ae
        .fit(
            x.view(),
            Some(validation.view()),
            &mut Adam::new(1e-3),
            &FitConfig::new(3),
        )
        .unwrap_err();
    match &err {
        Error::Diverged { epoch, batch, what, .. } => assert_eq!((*epoch, *batch, *what), (1, 0, "validation loss")),
        other => panic!("expected Diverged, got {other:?}"),
    }
    assert!(err.to_string().contains("validation data"), "{err}");
}
