//! Trains the AE-16 reference workload (`../shared/bench/WORKLOAD.md`) and reports its speed, as the anchor
//! scripts in `../shared/bench/anchors/` do for JAX, PyTorch, Keras and NumPy.
//!
//! ```text
//! cargo run --release --example bench_ae16 -- --data /usr/share/datasets/fashion-mnist --epochs 5 --batch 256 --threads 2
//! ```
//!
//! Model 784-256-64-16-64-256-784 (ReLU, identity latent, sigmoid output), Glorot-uniform weights, zero biases;
//! the flags and the report (its last line, one JSON object with `median_epoch_s`) are those of
//! `examples/common/bench.rs`.

#[path = "common/bench.rs"]
mod bench;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    bench::run("bench_ae16", |options, inputs| {
        autoencoder::Autoencoder::builder(inputs)
            .hidden(&[256, 64])
            .latent(16)
            .seed(options.seed)
            .build()
    })
}
