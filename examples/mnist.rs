//! The main job: an autoencoder that squeezes each 28×28 digit through 16 numbers and back.
//!
//! The model is AE-16 (784-256-64-16-64-256-784: ReLU hidden layers, a linear 16-dimensional code, a sigmoid
//! output, Glorot-uniform weights), trained with Adam (learning rate 1e-3) on the mean squared error, in batches
//! of 256 reshuffled every epoch. Each epoch is scored on the test images. At the end it prints `test MSE`,
//! draws test digits above their reconstructions, and saves the model for `generate --model`.
//!
//! ```text
//! cargo run --release --example mnist
//! cargo run --release --example mnist -- --data /usr/share/datasets/fashion-mnist --epochs 10
//! cargo run --release --example mnist -- --checkpoint run.ckpt   # stop any time, run again to resume
//! ```

mod common;

use autoencoder::image::write_labelled_rows;
use autoencoder::ndarray::s;
use autoencoder::{Adam, Checkpoint, FitData, Loss, Optimizer};
use common::{Args, Flag, Progress};

fn main() -> Result<(), common::Failure> {
    let args = Args::parse(
        "mnist",
        "Trains the 16-dimensional autoencoder AE-16 on digits and shows its reconstructions.",
        50,
        &[
            Flag {
                name: "model",
                value: "PATH",
                help: "where to save the trained model (default: <out>/ae16.safetensors)",
            },
            Flag {
                name: "checkpoint",
                value: "PATH",
                help: "save a checkpoint here after every epoch, and resume from it if it exists",
            },
        ],
    );
    let run = common::start(&args)?;
    let (train, test) = (run.data.train_images.view(), run.data.test_images.view());

    let mut ae = run.autoencoder(16)?;
    let mut adam = Adam::new(1e-3);
    let mut config = run.fit_config();
    let checkpoint = args.get::<std::path::PathBuf>("checkpoint");
    if let Some(path) = checkpoint.as_ref().filter(|path| path.exists()) {
        let saved = Checkpoint::load(path)?;
        println!("resuming from {} after epoch {}", path.display(), saved.epoch);
        ae = saved.autoencoder;
        adam.load_state(saved.optimizer)?;
        config = config.start_epoch(saved.epoch);
    }

    let data = FitData::autoencoding(train).with_validation(test, test);
    ae.fit_with(data, &mut adam, &config, &mut Progress { checkpoint })?;
    println!("test MSE {:.6}", ae.evaluate(test, test, Loss::Mse)?);

    let originals = test.slice(s![..10.min(test.nrows()), ..]);
    let reconstructions = ae.reconstruct(originals)?;
    let picture = run.out.join("reconstructions.png");
    let rows = [("input", originals), ("output", reconstructions.view())];
    write_labelled_rows(&picture, &rows, &common::digit_layout(&run.data))?;
    common::wrote(&picture);

    let model = args.get_or("model", run.out.join("ae16.safetensors"));
    ae.save(&model)?;
    println!("saved the model to {}", model.display());
    Ok(())
}
