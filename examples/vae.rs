//! A variational autoencoder, the book's `vae-mlp-mnist` (its chapter 8): generating new digits.
//!
//! VAE-2: 784 → 512 (ReLU) → the mean and log-variance of a 2-D latent → 512 (ReLU) → 784 (sigmoid), trained on
//! binary cross-entropy summed over the pixels plus the KL divergence to `N(0, I)` (β = 1), Adam 1e-3, batches
//! of 128, with `Vae::fit` (shuffling and noise from `--seed`). Prints the test loss and its two parts (with `z` = the mean), and writes three pictures:
//! - `vae_means.png`: the latent means of the test digits, coloured by digit (the first two latent dimensions);
//! - `vae_manifold.png`: what the decoder draws on a 12×12 grid of latent points over [-4, 4]² (larger second
//!   coordinate at the top; the other latent dimensions 0);
//! - `vae_samples.png`: decoded draws `z ~ N(0, I)`: new digits.
//!
//! `--latent 16` for sharper samples; `--conv` for the book's `vae-cnn-mnist` (Conv2D 32, 64, 3×3, stride 2,
//! ReLU, Dense 16, the heads; Dense 7·7·64, Conv2DTranspose 64, 32, then 1 with a sigmoid); `--beta B` for a
//! β-VAE.
//!
//! ```text
//! cargo run --release --example vae
//! cargo run --release --example vae -- --latent 16 --epochs 30
//! cargo run --release --example vae -- --conv
//! cargo run --release --example vae -- --data /usr/share/datasets/fashion-mnist
//! ```

mod common;

use autoencoder::image::{write_grid, write_scatter, ScatterStyle};
use autoencoder::ndarray::{s, Array2, Axis};
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{Activation, Adam, Conv2d, ConvTranspose2d, Decoder, Dense, Encoder, Init, Layer, Loss, Padding};
use autoencoder::{Callback, Control, EpochReport, FitData, Vae};
use common::{Args, Flag, Run};

fn main() -> Result<(), common::Failure> {
    let args = Args::parse(
        "vae",
        "Trains a variational autoencoder on the digits and draws its latent space and new samples.",
        30,
        &[
            Flag {
                name: "latent",
                value: "N",
                help: "latent dimensions (default 2)",
            },
            Flag {
                name: "beta",
                value: "B",
                help: "the weight of the KL term (default 1)",
            },
            Flag {
                name: "conv",
                value: "",
                help: "the book's convolutional VAE (vae-cnn-mnist)",
            },
        ],
    );
    let mut run = common::start(&args)?;
    run.batch_size = args.get_or("batch", 128);
    let latent: usize = args.get_or("latent", 2);
    let beta: f32 = args.get_or("beta", 1.0);
    let mut rng = StdRng::seed_from_u64(run.seed);
    let (encoder, decoder) = match args.has("conv") {
        true => convolutional(&run, latent, &mut rng)?,
        false => dense(run.data.image_len(), latent, &mut rng)?,
    };
    let mut vae = Vae::new(encoder, decoder)?.with_beta(beta);
    println!(
        "VAE with a {latent}-D latent space, β = {beta}, {} parameters",
        vae.parameter_count()
    );

    let (train, test) = (run.data.train_images.view(), run.data.test_images.view());
    let loss = Loss::BinaryCrossEntropy;
    let config = run.fit_config().loss(loss);
    vae.fit_with(FitData::autoencoding(train), &mut Adam::new(1e-3), &config, &mut Parts)?;
    let tested = vae.evaluate(test, loss)?;
    println!(
        "test loss {:.4} (reconstruction {:.4} + kl {:.4}, z = the mean)",
        tested.total, tested.reconstruction, tested.kl
    );

    // the test digits' latent means, by digit (the first two latent dimensions)
    let (means, _) = vae.encode(test)?;
    let picture = run.out.join("vae_means.png");
    let plane = means.slice(s![.., ..2.min(latent)]).to_owned();
    let plane = match latent {
        1 => autoencoder::ndarray::concatenate![Axis(1), plane, Array2::zeros((plane.nrows(), 1))],
        _ => plane,
    };
    write_scatter(
        &picture,
        plane.view(),
        run.data.test_labels.view(),
        &ScatterStyle::default(),
    )?;
    common::wrote(&picture);

    // the decoded grid over [-4, 4]²: column j and row i (from the top) is the point (x_j, y_i)
    let side = 12;
    let at = |k: usize| k as f32 / (side - 1) as f32 * 8.0 - 4.0;
    let grid = Array2::from_shape_fn((side * side, latent), |(cell, axis)| match axis {
        0 => at(cell % side),
        1 => at(side - 1 - cell / side),
        _ => 0.0,
    });
    let layout = common::digit_layout(&run.data).columns(side);
    let picture = run.out.join("vae_manifold.png");
    write_grid(&picture, vae.decode(grid.view())?.view(), &layout)?;
    common::wrote(&picture);

    // new digits: decoded draws from N(0, I)
    let picture = run.out.join("vae_samples.png");
    write_grid(
        &picture,
        vae.generate(100, &mut rng)?.view(),
        &common::digit_layout(&run.data),
    )?;
    common::wrote(&picture);
    Ok(())
}

/// Prints one line per epoch: the training loss and its two parts.
struct Parts;

impl Callback<Vae> for Parts {
    fn on_epoch(&mut self, report: &EpochReport<'_, Vae>) -> autoencoder::Result<Control> {
        let parts = report.train_vae_loss.unwrap_or_default();
        println!(
            "epoch {:>3}/{}  train loss {:.2} (reconstruction {:.2} + kl {:.2})  {:.2} s",
            report.epoch, report.epochs, report.train_loss, parts.reconstruction, parts.kl, report.seconds
        );
        Ok(Control::Continue)
    }
}

/// The book's `vae-mlp-mnist`: `inputs` → 512 (ReLU) → `2 · latent` (the mean and log-variance heads as one
/// layer) | `latent` → 512 (ReLU) → `inputs` (sigmoid).
fn dense(inputs: usize, latent: usize, rng: &mut StdRng) -> autoencoder::Result<(Encoder, Decoder)> {
    let layer = |i, o, a, rng: &mut StdRng| Dense::new(i, o, a, Init::GlorotUniform, rng);
    let encoder = Encoder::new(vec![
        layer(inputs, 512, Activation::Relu, rng)?,
        layer(512, 2 * latent, Activation::Identity, rng)?,
    ])?;
    let decoder = Decoder::new(vec![
        layer(latent, 512, Activation::Relu, rng)?,
        layer(512, inputs, Activation::Sigmoid, rng)?,
    ])?;
    Ok((encoder, decoder))
}

/// The book's `vae-cnn-mnist`: Conv2D 32 and 64 (3×3, stride 2, ReLU), Dense 16 (ReLU), the heads | Dense to
/// the last convolution's shape (ReLU), Conv2DTranspose 64 and 32 (3×3, stride 2, ReLU), Conv2DTranspose 1
/// (3×3, sigmoid).
fn convolutional(run: &Run, latent: usize, rng: &mut StdRng) -> autoencoder::Result<(Encoder, Decoder)> {
    let image = (run.data.image_rows, run.data.image_cols, 1);
    let (same, relu) = (Padding::Same, Activation::Relu);
    let first = Conv2d::new(image, 32, (3, 3), 2, same, relu, Init::HeUniform, rng)?;
    let second = Conv2d::new(first.output_shape(), 64, (3, 3), 2, same, relu, Init::HeUniform, rng)?;
    let shape = second.output_shape();
    let features = shape.0 * shape.1 * shape.2;
    let encoder: Vec<Layer> = vec![
        first.into(),
        second.into(),
        Dense::new(features, 16, relu, Init::GlorotUniform, rng)?.into(),
        Dense::new(16, 2 * latent, Activation::Identity, Init::GlorotUniform, rng)?.into(),
    ];
    let up = ConvTranspose2d::new(shape, 64, (3, 3), 2, same, relu, Init::HeUniform, rng)?;
    let up2 = ConvTranspose2d::new(up.output_shape(), 32, (3, 3), 2, same, relu, Init::HeUniform, rng)?;
    let last = ConvTranspose2d::new(
        up2.output_shape(),
        1,
        (3, 3),
        1,
        same,
        Activation::Sigmoid,
        Init::GlorotUniform,
        rng,
    )?;
    let decoder: Vec<Layer> = vec![
        Dense::new(latent, features, relu, Init::GlorotUniform, rng)?.into(),
        up.into(),
        up2.into(),
        last.into(),
    ];
    Ok((Encoder::new(encoder)?, Decoder::new(decoder)?))
}
