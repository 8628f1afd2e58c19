//! Training and inference speed on the AE-16 workload (`../shared/bench/WORKLOAD.md`): one `train_step` at batch
//! 32 and 256, `encode` / `reconstruct` at batch 1000, `encode` / `encode_into` of one sample, and the input noise
//! of a denoising fit (a 256 × 784 and a 32 × 784 batch, and a one-batch `fit` epoch with and without it), and the
//! loss of a batch with its gradient (MSE and binary cross-entropy, 128 × 784, VAE-2's batch), and AE-16's output
//! layer (256 → 784) on a batch of 256 with its sigmoid and without (the difference, per output value, is what
//! the sigmoid costs), on the crate's default thread count (set `AUTOENCODER_NUM_THREADS` to change it).
//!
//! ```text
//! cargo bench --bench train
//! cargo bench --bench train -- noise
//! cargo bench --bench train -- loss
//! cargo bench --bench train -- output_layer
//! ```

use std::hint::black_box;

use autoencoder::ndarray::Array2;
use autoencoder::{Activation, Adam, Autoencoder, Dense, FitConfig, Loss};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The AE-16 model: 784-256-64-16-64-256-784, ReLU, identity latent, sigmoid output, Glorot uniform.
fn ae16() -> Autoencoder {
    Autoencoder::builder(784)
        .hidden(&[256, 64])
        .latent(16)
        .seed(0)
        .build()
        .expect("AE-16 builds")
}

/// Image-like inputs in [0, 1]: deterministic, varied, a third of them zero (as Fashion-MNIST's background).
fn images(rows: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, 784), |(i, j)| {
        let v = ((i * 7919 + j * 104_729) % 1000) as f32 / 999.0;
        if v < 0.33 {
            0.0
        } else {
            v
        }
    })
}

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    for batch in [32, 256] {
        let x = images(batch);
        let mut ae = ae16();
        let mut adam = Adam::new(1e-3);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("ae16_batch{batch}"), |b| {
            b.iter(|| black_box(ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap()))
        });
    }
    group.finish();
}

fn inference(c: &mut Criterion) {
    let mut group = c.benchmark_group("inference");
    let x = images(1000);
    let ae = ae16();
    group.throughput(Throughput::Elements(1000));
    group.bench_function("encode_batch1000", |b| {
        b.iter(|| black_box(ae.encode(x.view()).unwrap()))
    });
    group.bench_function("reconstruct_batch1000", |b| {
        b.iter(|| black_box(ae.reconstruct(x.view()).unwrap()))
    });
    // one sample at a time: the thin product on the calling thread, into a new array or the caller's buffer
    group.throughput(Throughput::Elements(1));
    let one = x.slice(autoencoder::ndarray::s![..1, ..]);
    group.bench_function("encode_batch1", |b| b.iter(|| black_box(ae.encode(one).unwrap())));
    let mut code = Array2::zeros((1, 16));
    group.bench_function("encode_into_batch1", |b| {
        b.iter(|| ae.encode_into(one, code.view_mut()).unwrap())
    });
    group.finish();
}

/// The Gaussian input noise of a denoising fit (`FitConfig::input_noise`): the fill of one batch, and one-batch
/// epochs of `fit` with and without it (a training step plus the gathering of the batch, and the noise).
fn noise(c: &mut Criterion) {
    let mut group = c.benchmark_group("noise");
    for batch in [32, 256] {
        let mut x = images(batch);
        let values = x.as_slice_mut().expect("a new array is contiguous");
        group.throughput(Throughput::Elements(values.len() as u64));
        let mut epoch = 0;
        group.bench_function(format!("fill_{batch}x784"), |b| {
            b.iter(|| {
                epoch += 1;
                autoencoder::__internals::add_input_noise(black_box(&mut *values), 0.5, 0, epoch, 0);
            })
        });
    }
    let x = images(256);
    group.throughput(Throughput::Elements(256));
    for (name, sigma) in [("fit_epoch_batch256_plain", 0.0), ("fit_epoch_batch256_noise0.5", 0.5)] {
        let mut ae = ae16();
        let mut adam = Adam::new(1e-3);
        let config = FitConfig::new(1).batch_size(256).input_noise(sigma);
        group.bench_function(name, |b| {
            b.iter(|| black_box(ae.fit(x.view(), None, &mut adam, &config).unwrap()))
        });
    }
    group.finish();
}

fn loss(c: &mut Criterion) {
    let mut group = c.benchmark_group("loss");
    let target = images(128);
    // predictions strictly inside (0, 1), as a sigmoid layer's are
    let prediction = target.mapv(|t| 0.02 + 0.96 * (1.0 - t));
    let mut grad = Array2::zeros(target.raw_dim());
    group.throughput(Throughput::Elements(target.len() as u64));
    for (name, loss) in [
        ("mse_value_and_gradient_128x784", Loss::Mse),
        ("bce_value_and_gradient_128x784", Loss::BinaryCrossEntropy),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    loss.value_and_gradient_into(prediction.view(), target.view(), grad.view_mut())
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
}

/// AE-16's output layer, `H · W6 + b` (256 × 256 × 784), through the sigmoid and through the identity: the same
/// product, so the difference in time is the sigmoid's (applied by the product to each block of rows it finishes).
fn output_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("output_layer");
    let h = Array2::from_shape_fn((256, 256), |(i, j)| ((i * 31 + j * 17) % 23) as f32 / 11.0 - 1.0);
    let weights = Array2::from_shape_fn((256, 784), |(i, j)| ((i * 13 + j * 7) % 29) as f32 / 70.0 - 0.2);
    let bias = autoencoder::ndarray::Array1::from_shape_fn(784, |j| (j % 5) as f32 * 0.1 - 0.2);
    group.throughput(Throughput::Elements(256 * 784));
    for (name, activation) in [
        ("sigmoid_256x784", Activation::Sigmoid),
        ("identity_256x784", Activation::Identity),
    ] {
        let layer = Dense::from_parts(weights.clone(), bias.clone(), activation).expect("the shapes agree");
        group.bench_function(name, |b| b.iter(|| black_box(layer.forward(h.view()).unwrap())));
    }
    group.finish();
}

criterion_group!(benches, train_step, inference, noise, loss, output_layer);
criterion_main!(benches);
