//! New digits from the latent space: interpolations between two digits, and samples from a Gaussian.
//!
//! The model is AE-16 as in the `mnist` example: trained here, or loaded with `--model` from a file that
//! `mnist` saved. Two pictures:
//! - `interpolation.png`: for pairs of test digits, the decoded points on the straight line between their codes;
//! - `samples.png`: the decoded draws from a Gaussian fitted to the codes of the training digits — with the
//!   full covariance (drawn as `mean + L·ε`, `L` the Cholesky factor of the covariance) and, for comparison,
//!   with only its diagonal (every code dimension independent), which ignores how the dimensions move together
//!   and gives blurrier, less digit-like samples.
//!
//! A plain autoencoder's latent space has holes: nothing in its training asks codes between or around the
//! training digits to decode to digits, so a Gaussian fitted to its codes is a guess. When generating new
//! samples is the goal, a variational autoencoder ([`autoencoder::Vae`]) serves better: its training pulls the
//! codes towards `N(0, I)`, so `Vae::generate` decodes draws from the very distribution it was trained to fill.
//!
//! ```text
//! cargo run --release --example mnist    # saves target/examples/mnist/ae16.safetensors
//! cargo run --release --example generate -- --model target/examples/mnist/ae16.safetensors
//! cargo run --release --example generate    # trains its own model first
//! ```

mod common;

use std::path::PathBuf;

use autoencoder::image::write_labelled_rows;
use autoencoder::ndarray::{s, Array2, Axis};
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{Adam, Autoencoder, FitData};
use common::{Args, Flag, Progress};

fn main() -> Result<(), common::Failure> {
    let args = Args::parse(
        "generate",
        "Interpolates between digits in the latent space and samples new digits from it.",
        50,
        &[
            Flag {
                name: "model",
                value: "PATH",
                help: "a model saved by the mnist example (default: train one here)",
            },
            Flag {
                name: "steps",
                value: "N",
                help: "points on each interpolation line, ends included (default 10)",
            },
        ],
    );
    let run = common::start(&args)?;
    let (train, test) = (run.data.train_images.view(), run.data.test_images.view());
    if train.nrows() < 2 || test.nrows() < 2 {
        return Err("generate needs at least 2 training and 2 test images".into());
    }

    let ae = match args.get::<PathBuf>("model") {
        Some(path) => {
            let ae = Autoencoder::load(&path)?;
            println!("loaded {} (latent size {})", path.display(), ae.latent());
            ae
        }
        None => {
            let mut ae = run.autoencoder(16)?;
            let data = FitData::autoencoding(train).with_validation(test, test);
            ae.fit_with(data, &mut Adam::new(1e-3), &run.fit_config(), &mut Progress::default())?;
            ae
        }
    };
    let layout = common::digit_layout(&run.data);

    // Interpolation: test digits 0 and 1, 2 and 3, ... (up to five pairs).
    let steps: usize = args.get_or("steps", 10).max(2);
    let codes = ae.encode(test.slice(s![..10.min(test.nrows()), ..]))?;
    let mut lines = Vec::new();
    for pair in 0..codes.nrows() / 2 {
        let (from, to) = (codes.row(2 * pair), codes.row(2 * pair + 1));
        let line = Array2::from_shape_fn((steps, ae.latent()), |(step, k)| {
            let t = step as f32 / (steps - 1) as f32;
            (1.0 - t) * from[k] + t * to[k]
        });
        let labels = &run.data.test_labels;
        let name = format!("{} to {}", labels[2 * pair], labels[2 * pair + 1]);
        lines.push((name, ae.decode(line.view())?));
    }
    let rows: Vec<_> = lines
        .iter()
        .map(|(name, images)| (name.as_str(), images.view()))
        .collect();
    let picture = run.out.join("interpolation.png");
    write_labelled_rows(&picture, &rows, &layout)?;
    common::wrote(&picture);

    // A Gaussian fitted to the training codes: mean and covariance, in f64.
    let codes = ae.encode(train)?.mapv(f64::from);
    let mean = codes.mean_axis(Axis(0)).ok_or("no training codes")?;
    let centred = &codes - &mean;
    let mut covariance = centred.t().dot(&centred) / (codes.nrows() - 1) as f64;
    // A tiny ridge keeps the Cholesky factorisation possible when a code dimension never varies.
    let ridge = 1e-6 * covariance.diag().mean().unwrap_or(1.0).max(1e-12);
    covariance.diag_mut().mapv_inplace(|v| v + ridge);
    let factor = cholesky(&covariance).ok_or("the covariance of the codes is not positive definite")?;
    let spread = covariance.diag().mapv(f64::sqrt);

    let mut rng = StdRng::seed_from_u64(run.seed.wrapping_add(2));
    let noise = common::standard_normal(&mut rng, 20, ae.latent()); // ε, one draw per row
    let full = (noise.dot(&factor.t()) + &mean).mapv(|v| v as f32); // each row: mean + L·ε
    let diagonal = (&noise * &spread + &mean).mapv(|v| v as f32); // each row: mean + σ ⊙ ε
    let samples = [
        ("full", ae.decode(full.view())?),
        ("diagonal", ae.decode(diagonal.view())?),
    ];
    let rows: Vec<_> = samples.iter().map(|(name, images)| (*name, images.view())).collect();
    let picture = run.out.join("samples.png");
    write_labelled_rows(&picture, &rows, &layout)?;
    common::wrote(&picture);
    println!(
        "a plain autoencoder's codes leave holes between the digits; for new samples a variational autoencoder \
         serves better: `cargo run --release --example vae`"
    );
    Ok(())
}

/// The lower-triangular `L` with `L·Lᵀ = a`, for a symmetric positive-definite `a` (Cholesky–Banachiewicz);
/// `None` when `a` is not positive definite.
fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let pivot = a[[i, i]] - dot;
                if !(pivot > 0.0 && pivot.is_finite()) {
                    return None;
                }
                l[[i, i]] = pivot.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - dot) / l[[j, j]];
            }
        }
    }
    Some(l)
}
