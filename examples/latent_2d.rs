//! A 2-dimensional latent space, small enough to look at.
//!
//! The model is 784-256-64-2-64-256-784 (ReLU hidden layers, a linear 2-D code, a sigmoid output). Two
//! pictures: `latent_2d.png`, the codes of the test digits as a scatter plot coloured by their label (classes the
//! model tells apart form separate clouds), and `manifold.png`, what the decoder draws at a 10×10 grid of codes
//! spanning two standard deviations around the mean code (larger second coordinate at the top, as in the plot).
//!
//! ```text
//! cargo run --release --example latent_2d
//! cargo run --release --example latent_2d -- --data /usr/share/datasets/fashion-mnist
//! ```

mod common;

use autoencoder::image::{write_grid, write_scatter, ScatterStyle};
use autoencoder::ndarray::{Array2, Axis};
use autoencoder::{Adam, FitData};
use common::{Args, Progress};

fn main() -> Result<(), common::Failure> {
    let args = Args::parse(
        "latent_2d",
        "Trains an autoencoder with a 2-D latent space and plots the codes of the test digits.",
        50,
        &[],
    );
    let run = common::start(&args)?;
    let (train, test) = (run.data.train_images.view(), run.data.test_images.view());

    let mut ae = run.autoencoder(2)?;
    let data = FitData::autoencoding(train).with_validation(test, test);
    ae.fit_with(data, &mut Adam::new(1e-3), &run.fit_config(), &mut Progress::default())?;

    let codes = ae.encode(test)?;
    let picture = run.out.join("latent_2d.png");
    write_scatter(
        &picture,
        codes.view(),
        run.data.test_labels.view(),
        &ScatterStyle::default(),
    )?;
    common::wrote(&picture);

    // Decode a grid of codes: column j and row i (from the top) of the picture is code (x_j, y_i).
    let mean = codes.mean_axis(Axis(0)).ok_or("no test codes")?;
    let spread = codes.std_axis(Axis(0), 0.0);
    let side = 10;
    let at = |k: usize, axis: usize| {
        let t = k as f32 / (side - 1) as f32 * 4.0 - 2.0; // -2 … 2 standard deviations
        mean[axis] + t * spread[axis]
    };
    let grid = Array2::from_shape_fn((side * side, 2), |(cell, axis)| match axis {
        0 => at(cell % side, 0),
        _ => at(side - 1 - cell / side, 1),
    });
    let picture = run.out.join("manifold.png");
    write_grid(
        &picture,
        ae.decode(grid.view())?.view(),
        &common::digit_layout(&run.data),
    )?;
    common::wrote(&picture);
    Ok(())
}
