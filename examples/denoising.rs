//! A denoising autoencoder (784-256-64-32-64-256-784): trained on digits with Gaussian noise added, towards the
//! clean digits.
//!
//! `FitConfig::input_noise` adds fresh noise to every training batch (the targets stay clean), so the model
//! never sees the same noisy digit twice; that noise is a function of the seed, the epoch, the batch and the
//! pixel (counter-based, see `FitConfig::input_noise`), so a rerun or a resumed run sees the same noise. The noisy inputs are not clamped to [0, 1]; only the pictures are.
//! Validation scores denoising itself: fixed noisy test digits against their clean originals. At the end it
//! prints the PSNR (dB, over the whole test set) of the noisy and the denoised digits against the clean ones.
//!
//! With `--conv`, the model is the book's convolutional denoising autoencoder instead (its section 3.3: the
//! CAE of `conv_mnist`, with a 16-wide code), trained in batches of 32 unless `--batch` says otherwise.
//!
//! ```text
//! cargo run --release --example denoising
//! cargo run --release --example denoising -- --noise 0.5
//! cargo run --release --example denoising -- --conv --epochs 10
//! ```

mod common;

use autoencoder::image::write_labelled_rows;
use autoencoder::metrics::psnr;
use autoencoder::ndarray::{s, Array2};
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{Adam, FitData};
use common::{Args, Flag, Progress};

fn main() -> Result<(), common::Failure> {
    let args = Args::parse(
        "denoising",
        "Trains an autoencoder to remove Gaussian noise from digits.",
        50,
        &[
            Flag {
                name: "noise",
                value: "STD",
                help: "standard deviation of the Gaussian noise added to the pixels (default 0.3)",
            },
            Flag {
                name: "conv",
                value: "",
                help: "the book's convolutional model instead of the dense one",
            },
        ],
    );
    let run = common::start(&args)?;
    let noise: f32 = args.get_or("noise", 0.3);
    let (train, clean) = (run.data.train_images.view(), run.data.test_images.view());

    // Fixed noisy test digits, from their own seeded generator.
    let mut rng = StdRng::seed_from_u64(run.seed.wrapping_add(1));
    let gaussian = common::standard_normal(&mut rng, clean.nrows(), clean.ncols());
    let noisy: Array2<f32> = &clean + &gaussian.mapv(|g| g as f32 * noise);

    let conv = args.has("conv");
    let (mut ae, mut config) = match conv {
        false => (run.autoencoder(32)?, run.fit_config()),
        true => (
            run.conv_autoencoder(16)?,
            run.fit_config().batch_size(args.get_or("batch", 32)),
        ),
    };
    println!(
        "model: {}",
        if conv {
            "convolutional (CAE-16)"
        } else {
            "dense (784-256-64-32)"
        }
    );
    config = config.input_noise(noise);
    let data = FitData::autoencoding(train).with_validation(noisy.view(), clean);
    ae.fit_with(data, &mut Adam::new(1e-3), &config, &mut Progress::default())?;

    let denoised = ae.reconstruct(noisy.view())?;
    let clamped = noisy.mapv(|v| v.clamp(0.0, 1.0));
    println!("noise standard deviation {noise}");
    println!("PSNR noisy vs clean {:.2} dB", psnr(clean, noisy.view(), 1.0)?);
    println!(
        "PSNR noisy clamped to [0, 1] vs clean {:.2} dB",
        psnr(clean, clamped.view(), 1.0)?
    );
    println!("PSNR denoised vs clean {:.2} dB", psnr(clean, denoised.view(), 1.0)?);

    let shown = s![..10.min(clean.nrows()), ..];
    let rows = [
        ("noisy", clamped.slice(shown)),
        ("denoised", denoised.slice(shown)),
        ("clean", clean.slice(shown)),
    ];
    let picture = run.out.join("denoising.png");
    write_labelled_rows(&picture, &rows, &common::digit_layout(&run.data))?;
    common::wrote(&picture);
    Ok(())
}
