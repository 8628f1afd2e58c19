//! Inference latency of AE-16 (784-256-64-16-64-256-784, random Glorot-uniform weights: the figures do not
//! depend on training), the workload of `../shared/bench/anchors/infer_ae16.py` (PyTorch and ONNX Runtime):
//! - `encode` of one image at a time over every test image (a stream scored one sample at a time), as
//!   `ae.encode` on a one-row view and as `ae.encode_into` a caller's buffer;
//! - `reconstruct` of the test images in batches of 1000, and `reconstruct_into` a buffer kept from batch to batch.
//!
//! Each is timed `--reps` times after one warm-up pass, and the best time is reported. The last line is one JSON
//! object: `encode_b1_us` (per image), `encode_into_b1_us`, `reconstruct_b1000_s` (all the test images),
//! `reconstruct_into_b1000_s`,
//! `threads`, `images`.
//!
//! ```text
//! cargo run --release --example bench_infer -- --data /usr/share/datasets/fashion-mnist --threads 2
//! ```

mod common;

use std::time::Instant;

use autoencoder::mnist::Mnist;
use autoencoder::ndarray::{s, Array2, Axis};
use autoencoder::Autoencoder;
use common::{Args, Failure, Flag};

fn main() -> Result<(), Failure> {
    let args = Args::parse(
        "bench_infer",
        "Times AE-16's inference: encode one image at a time, and reconstruct in batches of 1000.",
        0,
        &[Flag {
            name: "reps",
            value: "N",
            help: "timed repetitions of each measurement, the best one reported (default 3)",
        }],
    );
    common::set_threads(&args)?;
    let data = match args.get::<std::path::PathBuf>("data") {
        Some(dir) => Mnist::load(&dir)?,
        None => Mnist::load_bundled()?,
    };
    let test = data.test_images.view();
    let reps: usize = args.get_or("reps", 3);
    let ae = Autoencoder::builder(test.ncols())
        .hidden(&[256, 64])
        .latent(16)
        .seed(args.get_or("seed", 0))
        .build()?;

    let encode_b1 = best_of(reps, || {
        for i in 0..test.nrows() {
            ae.encode(test.slice(s![i..i + 1, ..]))?;
        }
        Ok(())
    })?;
    let mut code = Array2::zeros((1, ae.latent()));
    let encode_into_b1 = best_of(reps, || {
        for i in 0..test.nrows() {
            ae.encode_into(test.slice(s![i..i + 1, ..]), code.view_mut())?;
        }
        Ok(())
    })?;
    let reconstruct_b1000 = best_of(reps, || {
        for chunk in test.axis_chunks_iter(Axis(0), 1000) {
            ae.reconstruct(chunk)?;
        }
        Ok(())
    })?;
    let mut images = Array2::zeros((1000, ae.outputs()));
    let reconstruct_into_b1000 = best_of(reps, || {
        for chunk in test.axis_chunks_iter(Axis(0), 1000) {
            let rows = chunk.nrows();
            ae.reconstruct_into(chunk, images.slice_mut(s![..rows, ..]))?;
        }
        Ok(())
    })?;
    let per_image_us = |seconds: f64| seconds / test.nrows() as f64 * 1e6;
    println!(
        "encode, batch 1: {:.1} µs per image ({:.1} µs into a buffer); reconstruct, batches of 1000: {:.4} s for {} \
         images ({:.4} s into a buffer)",
        per_image_us(encode_b1),
        per_image_us(encode_into_b1),
        reconstruct_b1000,
        test.nrows(),
        reconstruct_into_b1000
    );
    let report = serde_json::json!({
        "framework": "autoencoder",
        "workload": "infer_ae16",
        "encode_b1_us": per_image_us(encode_b1),
        "encode_into_b1_us": per_image_us(encode_into_b1),
        "reconstruct_b1000_s": reconstruct_b1000,
        "reconstruct_into_b1000_s": reconstruct_into_b1000,
        "images": test.nrows(),
        "threads": autoencoder::num_threads(),
        "reps": reps,
    });
    println!("{report}");
    Ok(())
}

/// The shortest of `reps` timed runs of `run`, after one untimed warm-up run.
fn best_of(reps: usize, mut run: impl FnMut() -> autoencoder::Result<()>) -> autoencoder::Result<f64> {
    run()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        run()?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(best)
}
