//! Times a spread of training and inference workloads beyond AE-16 (other widths, batches and activations, a
//! VAE, a convolutional autoencoder), on random data: the shapes where a change to how the work splits across
//! threads may help AE-16 and hurt another model. Each workload runs once to warm up, then `--reps` times; one line
//! per workload: its name, a tab, the median time in milliseconds.
//!
//! Compare two builds of the crate run in turn, as ratios (`tools/bench/shapes_ab.py OLD NEW`), not as figures:
//! the host's speed drifts by more than most changes move one workload.
//!
//! ```text
//! cargo run --release --example bench_shapes -- --threads 2 --reps 5 --only gelu
//! ```

mod common;

use std::time::Instant;

use autoencoder::ndarray::{s, Array2};
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{Activation, Adam, Autoencoder, Decoder, Dense, Encoder, FitConfig, Init, Loss, Vae};
use common::{Args, Failure, Flag};

/// A workload: runs its work once per call.
type Work = Box<dyn FnMut() -> autoencoder::Result<()>>;

fn main() -> Result<(), Failure> {
    let args = Args::parse(
        "bench_shapes",
        "Times training and inference workloads of many shapes (median milliseconds, one line each).",
        1,
        &[
            Flag {
                name: "reps",
                value: "N",
                help: "timed repetitions of each workload, the median reported (default 5)",
            },
            Flag {
                name: "only",
                value: "TEXT",
                help: "run only the workloads whose name contains TEXT",
            },
        ],
    );
    common::set_threads(&args)?;
    let reps = args.get_or("reps", 5_usize).max(1);
    let only = args.get_or("only", String::new());
    for (name, mut work) in workloads()?.into_iter().filter(|(name, _)| name.contains(&only)) {
        work()?;
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let start = Instant::now();
            work()?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!("{name:<38}\t{:.3}", times[reps / 2]);
    }
    Ok(())
}

/// Every workload, by name.
fn workloads() -> autoencoder::Result<Vec<(&'static str, Work)>> {
    use Activation::{Gelu, Relu, Silu, Softplus, Tanh};
    const AE16: &[usize] = &[784, 256, 64, 16];
    const SQUARE: &[usize] = &[1024, 1024, 1024, 64];
    const WIDE: &[usize] = &[784, 1024, 1024, 32];
    const DEEP_INPUT: &[usize] = &[4096, 128, 32];
    const WIDE_MIDDLE: &[usize] = &[96, 2048, 96];
    let mut all: Vec<(&'static str, Work)> = vec![
        ("ae16 fit b1024 4096 rows", fit(AE16, Relu, 1024, 4096)?),
        ("ae16 fit b256 4096 rows", fit(AE16, Relu, 256, 4096)?),
        ("ae16 fit b128 2048 rows", fit(AE16, Relu, 128, 2048)?),
        ("ae16 fit b32 2048 rows", fit(AE16, Relu, 32, 2048)?),
        ("ae16 fit b8 512 rows", fit(AE16, Relu, 8, 512)?),
        ("ae16 fit b1 128 rows", fit(AE16, Relu, 1, 128)?),
        ("ae16 step b4 x50", steps(AE16, Relu, 4, 50)?),
        ("ae16 gelu fit b256 4096 rows", fit(AE16, Gelu, 256, 4096)?),
        ("ae16 gelu fit b128 2048 rows", fit(AE16, Gelu, 128, 2048)?),
        ("ae16 gelu fit b64 2048 rows", fit(AE16, Gelu, 64, 2048)?),
        ("ae16 gelu fit b32 2048 rows", fit(AE16, Gelu, 32, 2048)?),
        ("ae16 silu fit b128 2048 rows", fit(AE16, Silu, 128, 2048)?),
        ("ae16 softplus fit b512 4096 rows", fit(AE16, Softplus, 512, 4096)?),
        ("square1024 gelu step b64 x10", steps(SQUARE, Gelu, 64, 10)?),
        ("square1024 gelu step b512 x3", steps(SQUARE, Gelu, 512, 3)?),
        ("square1024 relu step b512 x3", steps(SQUARE, Relu, 512, 3)?),
        ("square1024 tanh step b512 x3", steps(SQUARE, Tanh, 512, 3)?),
        ("wide gelu fit b512 2048 rows", fit(WIDE, Gelu, 512, 2048)?),
        ("4096-128-32 step b256 x10", steps(DEEP_INPUT, Relu, 256, 10)?),
        ("4096-128-32 step b32 x30", steps(DEEP_INPUT, Relu, 32, 30)?),
        ("96-2048-96 step b256 x10", steps(WIDE_MIDDLE, Relu, 256, 10)?),
        ("vae2 fit b128 2048 rows", vae_fit(128, 2048)?),
        ("cae16 fit b32 256 rows", conv_fit(32, 256)?),
    ];
    all.extend(inference()?);
    Ok(all)
}

/// Rows of values in `[0, 1]` from a small generator (the figures do not depend on the data).
fn data(rows: usize, columns: usize, seed: u64) -> Array2<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    Array2::from_shape_fn((rows, columns), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) % 1000) as f32 / 999.0
    })
}

/// A dense autoencoder through the widths `widths` and back, `hidden` between layers, identity at the latent and
/// a sigmoid at the output.
fn mirrored(widths: &[usize], hidden: Activation) -> autoencoder::Result<Autoencoder> {
    let mut rng = StdRng::seed_from_u64(0);
    let mut chain = |widths: &[usize], last: Activation| {
        let count = widths.len() - 1;
        (0..count)
            .map(|i| {
                let activation = if i + 1 == count { last } else { hidden };
                Dense::new(widths[i], widths[i + 1], activation, Init::GlorotUniform, &mut rng)
            })
            .collect::<autoencoder::Result<Vec<_>>>()
    };
    let encoder = Encoder::new(chain(widths, Activation::Identity)?)?;
    let back: Vec<usize> = widths.iter().rev().copied().collect();
    let decoder = Decoder::new(chain(&back, Activation::Sigmoid)?)?;
    Autoencoder::new(encoder, decoder)
}

/// One epoch of `fit` over `rows` rows at batch `batch`.
fn fit(widths: &'static [usize], hidden: Activation, batch: usize, rows: usize) -> autoencoder::Result<Work> {
    let (x, mut model, mut adam) = (data(rows, widths[0], 1), mirrored(widths, hidden)?, Adam::new(1e-4));
    let config = FitConfig::new(1).batch_size(batch).seed(1);
    Ok(Box::new(move || {
        model.fit(x.view(), None, &mut adam, &config).map(drop)
    }))
}

/// `count` calls of `train_step` on one batch of `batch` rows.
fn steps(widths: &'static [usize], hidden: Activation, batch: usize, count: usize) -> autoencoder::Result<Work> {
    let (x, mut model, mut adam) = (data(batch, widths[0], 1), mirrored(widths, hidden)?, Adam::new(1e-4));
    Ok(Box::new(move || {
        for _ in 0..count {
            model.train_step(x.view(), x.view(), Loss::Mse, &mut adam)?;
        }
        Ok(())
    }))
}

/// One epoch of `bench_vae2`'s model (784-512-2, binary cross-entropy) at batch `batch`.
fn vae_fit(batch: usize, rows: usize) -> autoencoder::Result<Work> {
    let mut rng = StdRng::seed_from_u64(0);
    let mut dense = |i, o, a| Dense::new(i, o, a, Init::GlorotUniform, &mut rng);
    let encoder = Encoder::new(vec![
        dense(784, 512, Activation::Relu)?,
        dense(512, 4, Activation::Identity)?,
    ])?;
    let decoder = Decoder::new(vec![
        dense(2, 512, Activation::Relu)?,
        dense(512, 784, Activation::Sigmoid)?,
    ])?;
    let (mut vae, x, mut adam) = (Vae::new(encoder, decoder)?, data(rows, 784, 2), Adam::new(1e-4));
    let config = FitConfig::new(1)
        .batch_size(batch)
        .seed(1)
        .loss(Loss::BinaryCrossEntropy);
    Ok(Box::new(move || vae.fit(x.view(), None, &mut adam, &config).map(drop)))
}

/// One epoch of a small convolutional autoencoder (filters 32 and 64, latent 16) at batch `batch`.
fn conv_fit(batch: usize, rows: usize) -> autoencoder::Result<Work> {
    let mut model = Autoencoder::conv_builder((28, 28, 1))
        .filters(&[32, 64])
        .latent(16)
        .seed(0)
        .build()?;
    let (x, mut adam) = (data(rows, 784, 3), Adam::new(1e-4));
    let config = FitConfig::new(1).batch_size(batch).seed(1);
    Ok(Box::new(move || {
        model.fit(x.view(), None, &mut adam, &config).map(drop)
    }))
}

/// AE-16's `encode` and `reconstruct` at batches of 1, 200 and 1000.
fn inference() -> autoencoder::Result<Vec<(&'static str, Work)>> {
    let (model, x) = (mirrored(&[784, 256, 64, 16], Activation::Relu)?, data(1000, 784, 4));
    let mut all: Vec<(&'static str, Work)> = Vec::new();
    for (name, rows, calls) in [
        ("encode b1 x2000", 1, 2000),
        ("reconstruct b1 x2000", 1, 2000),
        ("encode b200 x50", 200, 50),
        ("reconstruct b200 x50", 200, 50),
        ("encode b1000 x20", 1000, 20),
        ("reconstruct b1000 x20", 1000, 20),
    ] {
        let (model, x) = (model.clone(), x.clone());
        let encoding = name.starts_with("encode");
        all.push((
            name,
            Box::new(move || {
                let part = x.slice(s![..rows, ..]);
                for _ in 0..calls {
                    match encoding {
                        true => drop(std::hint::black_box(model.encode(part)?)),
                        false => drop(std::hint::black_box(model.reconstruct(part)?)),
                    }
                }
                Ok(())
            }),
        ));
    }
    Ok(all)
}
