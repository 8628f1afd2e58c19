//! An update that would make a weight or the optimizer's state NaN or infinite is refused, and the model and the
//! optimizer are left bit-identical to what they were before the step: `train_step` never returns `Ok` with
//! non-finite weights, and `fit`'s "the weights from before this step were kept" is true.

mod common;

use autoencoder::ndarray::Array2;
use autoencoder::{
    Activation, Adam, AdamW, Autoencoder, Callback, Control, EpochReport, Error, FitConfig, Loss, Optimizer,
    OptimizerState, Sgd,
};
use common::parameter_bits;

/// Every value of an optimizer's state, as bits (step count first).
fn state_bits(state: &OptimizerState) -> Vec<u64> {
    let values = state
        .buffers
        .values()
        .flatten()
        .flatten()
        .map(|v| u64::from(v.to_bits()));
    std::iter::once(state.step).chain(values).collect()
}

fn all_finite(ae: &Autoencoder) -> bool {
    let layers = ae.encoder().layers().iter().chain(ae.decoder().layers());
    layers
        .into_iter()
        .all(|l| l.weights().iter().chain(l.bias()).all(|v| v.is_finite()))
}

/// Adam with eps 0 divides 0 by 0 where a weight's gradient (and so its second moment) is zero: here every weight,
/// since the inputs and hence the hidden outputs are zero. Before the fix: `Ok(0.25)` and 16 NaN weights.
#[test]
fn adam_without_eps_and_a_zero_gradient_is_refused_and_changes_nothing() {
    let mut ae = Autoencoder::builder(4).latent(2).seed(1).build().unwrap();
    let zeros = Array2::<f32>::zeros((3, 4));
    let mut adam = Adam::new(1e-3).with_eps(0.0);
    for attempt in 0..2 {
        let (weights, optimizer) = (parameter_bits(&ae), adam.clone());
        match ae.train_step(zeros.view(), zeros.view(), Loss::Mse, &mut adam) {
            Err(error @ Error::NonFinite { .. }) => {
                common::assert_contains(&error.to_string(), &["the weights are unchanged"])
            }
            other => panic!("attempt {attempt}: expected Error::NonFinite, got {other:?}"),
        }
        assert!(all_finite(&ae), "attempt {attempt}: non-finite weights left");
        assert_eq!(parameter_bits(&ae), weights, "attempt {attempt}: the weights moved");
        assert_eq!(adam, optimizer, "attempt {attempt}: the optimizer's state moved");
        assert_eq!(state_bits(&adam.state()), state_bits(&optimizer.state()));
    }
    // A sound optimizer then trains the same model from the same weights.
    assert!(ae
        .train_step(zeros.view(), zeros.view(), Loss::Mse, &mut Adam::new(1e-3))
        .is_ok());
}

/// Keeps the model and optimizer state after every epoch.
#[derive(Default)]
struct Snapshots(Vec<(Vec<u32>, Vec<u64>)>);

impl Callback for Snapshots {
    fn on_epoch(&mut self, report: &EpochReport<'_>) -> autoencoder::Result<Control> {
        self.0.push((
            parameter_bits(report.autoencoder),
            state_bits(&report.optimizer.state()),
        ));
        Ok(Control::Continue)
    }
}

/// Trains with `optimizer` at one batch per epoch (so an epoch is a step) until it diverges, and checks that the
/// model and optimizer are then exactly as they were after the last good step.
///
/// The data are large (about 1e5) and the output linear, so that the gradients are large (about 1e9) while the
/// loss stays finite: with a learning rate of 1e30 the update itself overflows.
fn diverges_and_keeps_the_last_good_state(mut optimizer: impl Optimizer, name: &str) {
    let x = Array2::from_shape_fn((16, 6), |(i, j)| 1e5 * (0.5 + 0.4 * ((i * 7 + j * 3) as f32).sin()));
    let mut ae = Autoencoder::builder(6)
        .hidden(&[5])
        .latent(2)
        .hidden_activation(Activation::Relu)
        .output_activation(Activation::Identity)
        .seed(4)
        .build()
        .unwrap();
    let mut snapshots = Snapshots::default();
    snapshots.0.push((parameter_bits(&ae), state_bits(&optimizer.state())));
    let data = autoencoder::FitData::autoencoding(x.view());
    let config = FitConfig::new(200).batch_size(16).shuffle(false);
    let err = ae
        .fit_with(data, &mut optimizer, &config, &mut snapshots)
        .expect_err(name);
    let Error::Diverged { epoch, batch, .. } = &err else {
        panic!("{name}: expected Error::Diverged, got {err:?}");
    };
    assert_eq!((*batch, snapshots.0.len()), (1, *epoch), "{name}: {err}");
    common::assert_contains(&err.to_string(), &["the weights from before this step were kept"]);
    assert!(all_finite(&ae), "{name}: {err}, but non-finite weights were left");
    let (weights, state) = snapshots.0.last().unwrap();
    assert_eq!(&parameter_bits(&ae), weights, "{name}: {err}, but the weights moved");
    assert_eq!(
        &state_bits(&optimizer.state()),
        state,
        "{name}: {err}, but the optimizer's state moved"
    );
}

#[test]
fn sgd_with_a_learning_rate_of_1e30_diverges_and_keeps_the_weights_from_before() {
    diverges_and_keeps_the_last_good_state(Sgd::new(1e30), "Sgd 1e30");
}

#[test]
fn adam_with_a_learning_rate_of_1e300_diverges_and_keeps_the_weights_from_before() {
    diverges_and_keeps_the_last_good_state(Adam::new(1e300), "Adam 1e300");
}

#[test]
fn other_runaway_settings_diverge_and_keep_the_weights_from_before() {
    diverges_and_keeps_the_last_good_state(AdamW::new(1e300), "AdamW 1e300");
    diverges_and_keeps_the_last_good_state(Sgd::new(1e30).with_momentum(0.9), "Sgd 1e30 momentum");
    diverges_and_keeps_the_last_good_state(Sgd::new(1e30).with_weight_decay(0.1), "Sgd 1e30 weight decay");
    diverges_and_keeps_the_last_good_state(AdamW::new(1e3).with_weight_decay(10.0), "AdamW decay factor -9999");
}
