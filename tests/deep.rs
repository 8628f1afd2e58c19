//! Deep stacks: a model of thousands of layers trains, runs, saves and loads without a deep call stack (issue 9:
//! the backward pass recursed once per layer on pool threads with small stacks, and 140 hidden layers in a debug
//! build — 700 in release — ended the process with a stack overflow).

mod common;

use autoencoder::ndarray::Array2;
use autoencoder::{Autoencoder, FitConfig, Sgd};
use common::within;

/// 2,000 hidden layers of 4 units between 8 inputs and a latent of 2, trained with `fit` on every thread count
/// the test runs with (one thread, and the pool), then encoded, saved and loaded.
#[test]
fn two_thousand_hidden_layers_train_run_save_and_load() {
    within(300, || {
        let x = Array2::from_shape_fn((64, 8), |(i, j)| ((i * 3 + j * 5) % 7) as f32 / 7.0);
        let mut ae = Autoencoder::builder(8)
            .hidden(&[4; 2000])
            .latent(2)
            .seed(1)
            .build()
            .unwrap();
        assert_eq!(ae.encoder().layers().len() + ae.decoder().layers().len(), 4002);
        let before = ae.clone();
        let config = FitConfig::new(2).batch_size(16).seed(2);
        let history = ae.fit(x.view(), None, &mut Sgd::new(0.01), &config).unwrap();
        assert!(
            history.train_loss.iter().all(|l| l.is_finite()),
            "{:?}",
            history.train_loss
        );
        assert!(ae != before, "training changed nothing");

        let z = ae.encode(x.view()).unwrap();
        assert_eq!(z.dim(), (64, 2));
        let dir = common::scratch("deep");
        let path = dir.join("deep.safetensors");
        ae.save(&path).unwrap();
        let loaded = Autoencoder::load(&path).unwrap();
        assert!(loaded == ae, "the loaded model differs");
    })
}
