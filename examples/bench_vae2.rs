//! Trains the VAE-2 reference workload (`../shared/bench/WORKLOAD.md`: the book's `vae-mlp-mnist`) and reports its
//! speed and deterministic test loss, as `../shared/bench/anchors/vae2_torch.py` does for PyTorch (and
//! `tools/bench/vae2_jax.py` for JAX).
//!
//! ```text
//! cargo run --release --example bench_vae2 -- --data /usr/share/datasets/fashion-mnist --epochs 5
//! ```
//!
//! Model 784-512-(2+2) | 2-512-784 (ReLU hidden layers, the mean and log-variance heads as one identity layer, a
//! sigmoid output), Glorot-uniform weights, zero biases, β = 1; the flags and the report (its last line, one JSON
//! object with `median_epoch_s`, `test_loss`, `test_reconstruction`, `test_kl`) are those of
//! `examples/common/bench.rs`, with batches of 128 unless `--batch` says otherwise.

#[path = "common/bench.rs"]
mod bench;

use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{Activation, Decoder, Dense, Encoder, Init, Vae};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    bench::run_vae("bench_vae2", |options, inputs| {
        let (latent, hidden) = (2, 512);
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut dense = |i, o, a| Dense::new(i, o, a, Init::GlorotUniform, &mut rng);
        let encoder = Encoder::new(vec![
            dense(inputs, hidden, Activation::Relu)?,
            dense(hidden, 2 * latent, Activation::Identity)?,
        ])?;
        let decoder = Decoder::new(vec![
            dense(latent, hidden, Activation::Relu)?,
            dense(hidden, inputs, Activation::Sigmoid)?,
        ])?;
        Vae::new(encoder, decoder)
    })
}
