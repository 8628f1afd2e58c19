//! The book's convolutional autoencoder (chapter 3; CAE-16 in `../shared/bench/WORKLOAD.md`): each 28×28 digit
//! through two stride-2 convolutions (32 and 64 filters, 3×3, ReLU) down to 16 numbers, and back through two
//! transposed convolutions and a last sigmoid one — 178,001 parameters, about a third of the dense AE-16's.
//!
//! Trained with Adam (learning rate 1e-3) on the mean squared error, in batches of 32 (the book's) reshuffled
//! every epoch, each epoch scored on the test images. At the end it prints `test MSE`, draws test digits above
//! their reconstructions, and saves the model.
//!
//! ```text
//! cargo run --release --example conv_mnist
//! cargo run --release --example conv_mnist -- --data /usr/share/datasets/fashion-mnist --epochs 5
//! ```

mod common;

use autoencoder::image::write_labelled_rows;
use autoencoder::ndarray::s;
use autoencoder::{Adam, FitData, Loss};
use common::{Args, Flag, Progress};

fn main() -> Result<(), common::Failure> {
    let args = Args::parse(
        "conv_mnist",
        "Trains the book's convolutional autoencoder (CAE-16) on digits and shows its reconstructions.",
        10,
        &[Flag {
            name: "model",
            value: "PATH",
            help: "where to save the trained model (default: <out>/cae16.safetensors)",
        }],
    );
    let run = common::start(&args)?;
    let (train, test) = (run.data.train_images.view(), run.data.test_images.view());

    let mut cae = run.conv_autoencoder(16)?;
    println!("CAE-16: {} parameters", cae.parameter_count());
    let config = run.fit_config().batch_size(args.get_or("batch", 32));
    let data = FitData::autoencoding(train).with_validation(test, test);
    cae.fit_with(data, &mut Adam::new(1e-3), &config, &mut Progress::default())?;
    println!("test MSE {:.6}", cae.evaluate(test, test, Loss::Mse)?);

    let originals = test.slice(s![..10.min(test.nrows()), ..]);
    let reconstructions = cae.reconstruct(originals)?;
    let picture = run.out.join("reconstructions.png");
    let rows = [("input", originals), ("output", reconstructions.view())];
    write_labelled_rows(&picture, &rows, &common::digit_layout(&run.data))?;
    common::wrote(&picture);

    let model = args.get_or("model", run.out.join("cae16.safetensors"));
    cae.save(&model)?;
    println!("saved the model to {}", model.display());
    Ok(())
}
