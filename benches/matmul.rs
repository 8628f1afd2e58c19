//! The matrix products of an AE-16 training step (and of CAE-16's and VAE-2's), on the workloads' shapes, through
//! the crate's own product (the one training uses: the kernel for the CPU found at run time, threads as
//! configured), at 1 thread and at the default thread count, called from inside the crate's thread pool as a
//! training step calls them.
//! Throughput is in FLOP (2 per multiply-add).
//!
//! ```text
//! cargo bench --bench matmul
//! ```

use std::hint::black_box;
use std::time::Instant;

use autoencoder::__internals::{on_pool, product_into};
use autoencoder::ndarray::{Array2, ArrayView2};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn matrix(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 31 + j * 17) % 23) as f32 / 23.0 - 0.5)
}

/// One product `a · b` of the training step: `(name, a, b)`, where `a` or `b` may be a transposed view.
type Case<'a> = (String, ArrayView2<'a, f32>, ArrayView2<'a, f32>);

fn products(c: &mut Criterion) {
    for batch in [256, 32] {
        let x = matrix(batch, 784); // the input batch
        let h = matrix(batch, 256); // a hidden activation / its gradient
        let y = matrix(batch, 784); // the output layer's dL/dz
        let z = matrix(batch, 64);
        let w1 = matrix(784, 256);
        let w2 = matrix(256, 64);
        let w6 = matrix(256, 784);
        let cases: Vec<Case> = vec![
            (format!("b{batch}_fwd_x.w1_{batch}x784x256"), x.view(), w1.view()),
            (format!("b{batch}_fwd_h.w6_{batch}x256x784"), h.view(), w6.view()),
            (format!("b{batch}_fwd_h.w2_{batch}x256x64"), h.view(), w2.view()),
            (format!("b{batch}_dw1_xT.dz_784x{batch}x256"), x.t(), h.view()),
            (format!("b{batch}_dw6_hT.dz_256x{batch}x784"), h.t(), y.view()),
            (format!("b{batch}_dx6_dz.w6T_{batch}x784x256"), y.view(), w6.t()),
            (format!("b{batch}_dx2_dz.w2T_{batch}x64x256"), z.view(), w2.t()),
        ];
        bench_on_one_and_all_threads(c, &format!("matmul_batch{batch}"), &cases);
    }
}

/// Each of `cases` as a benchmark of the group `group`, at 1 thread and at the default thread count, from inside
/// the pool, as in a training step (no hand-over per product).
fn bench_on_one_and_all_threads(c: &mut Criterion, group: &str, cases: &[Case]) {
    let default_threads = autoencoder::num_threads();
    let mut group = c.benchmark_group(group);
    for (name, a, b) in cases {
        let mut out = Array2::zeros((a.nrows(), b.ncols()));
        group.throughput(Throughput::Elements((2 * a.nrows() * a.ncols() * b.ncols()) as u64));
        for threads in [1, default_threads] {
            autoencoder::set_num_threads(threads).unwrap();
            group.bench_function(format!("{name}_{threads}t"), |bench| {
                bench.iter_custom(|iters| {
                    on_pool(|| {
                        let started = Instant::now();
                        for _ in 0..iters {
                            product_into(black_box(*a), black_box(*b), out.view_mut());
                        }
                        started.elapsed()
                    })
                })
            });
            if default_threads == 1 {
                break;
            }
        }
    }
    group.finish();
    autoencoder::set_num_threads(default_threads).unwrap();
}

/// The products of a CAE-16 training step (`WORKLOAD.md`'s convolutional autoencoder, lowered onto patch
/// matrices: `M` is the batch times the window positions), on the default thread count. The transposed
/// convolutions (`t1`..`t3`) do most of the arithmetic; their `K` (the input channels) is small.
fn conv_products(c: &mut Criterion) {
    for batch in [32, 256] {
        // (name, m, k, n, a transposed, b transposed): a is (m, k), b is (k, n)
        let shapes: [(&str, usize, usize, usize, bool, bool); 15] = [
            ("c1_fwd", batch * 196, 9, 32, false, false),
            ("c2_fwd", batch * 49, 288, 64, false, false),
            ("t1_fwd", batch * 49, 64, 576, false, true),
            ("t2_fwd", batch * 196, 64, 288, false, true),
            ("t3_fwd", batch * 784, 32, 9, false, true),
            ("t3_dk", 9, batch * 784, 32, true, false),
            ("t3_dx", batch * 784, 9, 32, false, false),
            ("t2_dk", 288, batch * 196, 64, true, false),
            ("t2_dx", batch * 196, 288, 64, false, false),
            ("t1_dk", 576, batch * 49, 64, true, false),
            ("t1_dx", batch * 49, 576, 64, false, false),
            ("c2_dk", 288, batch * 49, 64, true, false),
            ("c2_dx", batch * 49, 64, 288, false, true),
            ("c1_dk", 9, batch * 196, 32, true, false),
            ("d1_fwd", batch, 3136, 16, false, false),
        ];
        let mut group = c.benchmark_group(format!("cae16_batch{batch}"));
        for (name, m, k, n, a_t, b_t) in shapes {
            let a = if a_t { matrix(k, m) } else { matrix(m, k) };
            let b = if b_t { matrix(n, k) } else { matrix(k, n) };
            let (a, b) = (if a_t { a.t() } else { a.view() }, if b_t { b.t() } else { b.view() });
            let mut out = Array2::zeros((m, n));
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));
            group.bench_function(format!("{name}_{m}x{k}x{n}"), |bench| {
                bench.iter_custom(|iters| {
                    on_pool(|| {
                        let started = Instant::now();
                        for _ in 0..iters {
                            product_into(black_box(a), black_box(b), out.view_mut());
                        }
                        started.elapsed()
                    })
                })
            });
        }
        group.finish();
    }
}

/// The large products of a VAE-2 training step (`WORKLOAD.md`: 784 → 512 → 2 · 2, 2 → 512 → 784, batch 128), at 1
/// thread and at the default thread count. `dx4` is the one the kernel computes as `dxᵀ = W4 · dzᵀ`, storing its
/// tiles through the transposed view `dxᵀ`: it should take about what `fwd_x.w1`, of the same size, takes.
fn vae_products(c: &mut Criterion) {
    let x = matrix(128, 784); // the input batch, and the output layer's dL/dz
    let h = matrix(128, 512); // the decoder's hidden activation
    let w1 = matrix(784, 512);
    let w4 = matrix(512, 784);
    let cases: Vec<Case> = vec![
        ("b128_fwd_x.w1_128x784x512".into(), x.view(), w1.view()),
        ("b128_dx4_dz.w4T_128x784x512".into(), x.view(), w4.t()),
        ("b128_dw4_hT.dz_512x128x784".into(), h.t(), x.view()),
    ];
    bench_on_one_and_all_threads(c, "vae2_batch128", &cases);
}

criterion_group!(benches, products, conv_products, vae_products);
criterion_main!(benches);
