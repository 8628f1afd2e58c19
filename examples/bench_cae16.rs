//! Trains the book's convolutional autoencoder, the CAE-16 workload of `../shared/bench/WORKLOAD.md`, and reports
//! its speed, as `../shared/bench/anchors/cae16_{torch,jax,keras}.py` do.
//!
//! ```text
//! cargo run --release --example bench_cae16 -- --data /usr/share/datasets/fashion-mnist --limit 6000 --epochs 3 --batch 32
//! ```
//!
//! Model: Conv2D(32, 3x3, stride 2, same, ReLU) → Conv2D(64, ...) → Dense(16) | Dense(3136) →
//! Conv2DTranspose(64, 3x3, stride 2, same, ReLU) → Conv2DTranspose(32, ...) → Conv2DTranspose(1, 3x3, sigmoid):
//! 178,001 parameters (`Autoencoder::conv_builder`). The flags and the report (its last line, one JSON object
//! with `median_epoch_s`) are those of `examples/common/bench.rs`.

#[path = "common/bench.rs"]
mod bench;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    bench::run("bench_cae16", |options, inputs| {
        let side = (inputs as f64).sqrt() as usize;
        autoencoder::Autoencoder::conv_builder((side, side, 1))
            .filters(&[32, 64])
            .kernel_size(3)
            .latent(16)
            .seed(options.seed)
            .build()
    })
}
