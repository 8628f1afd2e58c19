//! Training and inference speed on the AE-16 workload (`../shared/bench/WORKLOAD.md`): one `train_step` at batch
//! 32 and 256, `encode` / `reconstruct` at batch 1000, and `encode` / `encode_into` of one sample, on the crate's
//! default thread count (set `AUTOENCODER_NUM_THREADS` to change it).
//!
//! ```text
//! cargo bench --bench train
//! ```

use std::hint::black_box;

use autoencoder::ndarray::Array2;
use autoencoder::{Adam, Autoencoder, Loss};
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

criterion_group!(benches, train_step, inference);
criterion_main!(benches);
