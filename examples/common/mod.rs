//! What the examples share: command-line flags, loading the digits, the output folder, and a progress line per
//! epoch. Each example includes it with `mod common;`.
#![allow(dead_code)] // each example uses its own part of this module

pub mod photos;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use autoencoder::image::GridLayout;
use autoencoder::mnist::Mnist;
use autoencoder::ndarray::{s, Array2};
use autoencoder::rand::Rng;
use autoencoder::{Autoencoder, Callback, Checkpoint, Control, EpochReport, FitConfig};

/// A flag of one example, besides the common ones: `--name VALUE`, with its help text.
#[derive(Clone, Copy)]
pub struct Flag {
    pub name: &'static str,
    pub value: &'static str,
    pub help: &'static str,
}

/// The flags every example takes.
const COMMON_FLAGS: [Flag; 7] = [
    Flag {
        name: "data",
        value: "DIR",
        help: "a data set in the MNIST layout, e.g. full MNIST or /usr/share/datasets/fashion-mnist \
               (default: the 10,000 digits bundled in data/mnist-10k)",
    },
    Flag {
        name: "epochs",
        value: "N",
        help: "training epochs (default: {epochs})",
    },
    Flag {
        name: "batch",
        value: "N",
        help: "batch size (default 256)",
    },
    Flag {
        name: "limit",
        value: "N",
        help: "use only the first N training and N test images (for quick runs)",
    },
    Flag {
        name: "seed",
        value: "S",
        help: "seed of the weights, the shuffles and any noise (default 0)",
    },
    Flag {
        name: "threads",
        value: "T",
        help: "threads for the matrix products (default: AUTOENCODER_NUM_THREADS, else all cores)",
    },
    Flag {
        name: "out",
        value: "DIR",
        help: "folder for the pictures (default: target/examples/<example>)",
    },
];

/// The parsed command line: `--name value` or `--name=value` pairs.
pub struct Args {
    example: &'static str,
    default_epochs: usize,
    values: BTreeMap<String, String>,
}

impl Args {
    /// Parses the command line of `example` (described by `about`, training `default_epochs` unless told
    /// otherwise), which takes `flags` besides the common ones. Prints the usage and exits on `--help` (status 0)
    /// or on a mistake (status 2).
    pub fn parse(example: &'static str, about: &str, default_epochs: usize, flags: &[Flag]) -> Args {
        let usage = usage(example, about, flags).replace("{epochs}", &default_epochs.to_string());
        let known = |name: &str| COMMON_FLAGS.iter().chain(flags).any(|f| f.name == name);
        let mut values = BTreeMap::new();
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            if word == "--help" || word == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(flag) = word.strip_prefix("--") else {
                exit_with_usage(&format!("unexpected argument {word:?}"), &usage);
            };
            // a flag without a value (`Flag::value` empty) is a switch: present or not
            let switch = |name: &str| {
                COMMON_FLAGS
                    .iter()
                    .chain(flags)
                    .any(|f| f.name == name && f.value.is_empty())
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None if switch(flag) => (flag.to_string(), Some("true".to_string())),
                None => (flag.to_string(), words.next()),
            };
            if !known(&name) {
                exit_with_usage(&format!("unknown flag --{name}"), &usage);
            }
            let Some(value) = value else {
                exit_with_usage(&format!("--{name} needs a value"), &usage);
            };
            values.insert(name, value);
        }
        Args {
            example,
            default_epochs,
            values,
        }
    }

    /// The value of `--name` parsed as a `T`, if given; exits with a message when it does not parse.
    pub fn get<T: FromStr>(&self, name: &str) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        self.values.get(name).map(|text| {
            text.parse().unwrap_or_else(|e| {
                eprintln!("error: --{name} {text:?}: {e}");
                std::process::exit(2);
            })
        })
    }

    /// `--epochs`, or the example's default.
    pub fn epochs(&self) -> usize {
        self.get_or("epochs", self.default_epochs)
    }

    /// Whether the switch `--name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The value of `--name`, or `default`.
    pub fn get_or<T: FromStr>(&self, name: &str, default: T) -> T
    where
        T::Err: std::fmt::Display,
    {
        self.get(name).unwrap_or(default)
    }
}

/// The usage text; an example's own flag replaces a common flag of the same name (`--data` of the colour
/// examples takes a folder of PNGs, not MNIST).
fn usage(example: &str, about: &str, flags: &[Flag]) -> String {
    let mut text = format!("{about}\n\nUsage: cargo run --release --example {example} -- [FLAGS]\n\nFlags:\n");
    let common = COMMON_FLAGS.iter().filter(|c| flags.iter().all(|f| f.name != c.name));
    for flag in flags.iter().chain(common) {
        let name = format!("--{} {}", flag.name, flag.value);
        text += &format!("  {name:<20} {}\n", flag.help);
    }
    text + "  --help               this text"
}

fn exit_with_usage(message: &str, usage: &str) -> ! {
    eprintln!("error: {message}\n\n{usage}");
    std::process::exit(2);
}

/// An error from an example's `main`, printed as its message (`Error: data set in ...: the folder does not
/// exist ...`) rather than in the debug form that a `Box<dyn Error>` gets.
pub struct Failure(Box<dyn std::error::Error>);

impl<E: Into<Box<dyn std::error::Error>>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure(error.into())
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The settings every example runs with, and its data.
pub struct Run {
    /// Training and test images (pixels in [0, 1]) with their labels.
    pub data: Mnist,
    /// The folder for the pictures, created.
    pub out: PathBuf,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
}

impl Run {
    /// The examples' model, `inputs-256-64-{latent}-64-256-inputs` with the builder's defaults (ReLU hidden layers,
    /// a linear code, a sigmoid output, Glorot-uniform weights), its weights drawn from `--seed`.
    pub fn autoencoder(&self, latent: usize) -> autoencoder::Result<Autoencoder> {
        Autoencoder::builder(self.data.image_len())
            .hidden(&[256, 64])
            .latent(latent)
            .seed(self.seed)
            .build()
    }

    /// The book's convolutional autoencoder (its chapter 3): Conv2D 32 and 64 (3×3, stride 2, ReLU), a
    /// `latent`-wide code, and the transposed convolutions back to a sigmoid image; weights drawn from `--seed`.
    pub fn conv_autoencoder(&self, latent: usize) -> autoencoder::Result<Autoencoder> {
        Autoencoder::conv_builder((self.data.image_rows, self.data.image_cols, 1))
            .filters(&[32, 64])
            .kernel_size(3)
            .latent(latent)
            .seed(self.seed)
            .build()
    }

    /// Training for `--epochs` epochs in batches of `--batch`, shuffled from `--seed`.
    pub fn fit_config(&self) -> FitConfig {
        FitConfig::new(self.epochs).batch_size(self.batch_size).seed(self.seed)
    }
}

/// Applies the common flags: sets the thread count, loads (and trims) the data, creates the output folder.
pub fn start(args: &Args) -> Result<Run, Failure> {
    set_threads(args)?;
    let mut data = match args.get::<PathBuf>("data") {
        Some(dir) => Mnist::load(&dir)?,
        None => Mnist::load_bundled()?,
    };
    if let Some(limit) = args.get::<usize>("limit") {
        data = first(data, limit);
    }
    println!(
        "data: {} training and {} test images of {}×{} pixels, {} threads",
        data.train_images.nrows(),
        data.test_images.nrows(),
        data.image_rows,
        data.image_cols,
        autoencoder::num_threads()
    );
    Ok(Run {
        data,
        out: out_dir(args)?,
        epochs: args.epochs(),
        batch_size: args.get_or("batch", 256),
        seed: args.get_or("seed", 0),
    })
}

/// Applies `--threads`, if given.
pub fn set_threads(args: &Args) -> Result<(), Failure> {
    if let Some(threads) = args.get("threads") {
        autoencoder::set_num_threads(threads)?;
    }
    Ok(())
}

/// The folder for the pictures (`--out`, else `target/examples/<example>`), created.
pub fn out_dir(args: &Args) -> Result<PathBuf, Failure> {
    let out = args
        .get::<PathBuf>("out")
        .unwrap_or_else(|| Path::new("target/examples").join(args.example));
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    Ok(out)
}

/// The first `n` training and `n` test images of `data`.
fn first(data: Mnist, n: usize) -> Mnist {
    let (train, test) = (n.min(data.train_images.nrows()), n.min(data.test_images.nrows()));
    Mnist {
        train_images: data.train_images.slice(s![..train, ..]).to_owned(),
        train_labels: data.train_labels.slice(s![..train]).to_owned(),
        test_images: data.test_images.slice(s![..test, ..]).to_owned(),
        test_labels: data.test_labels.slice(s![..test]).to_owned(),
        ..data
    }
}

/// How the examples draw digits: 10 to a row, each magnified twice.
pub fn digit_layout(data: &Mnist) -> GridLayout {
    GridLayout::new(data.image_rows, data.image_cols).columns(10).scale(2)
}

/// Prints where a picture went.
pub fn wrote(path: &Path) {
    println!("wrote {}", path.display());
}

/// A fit callback that prints one line per epoch to standard output and, when given a path, saves a checkpoint
/// after every epoch.
#[derive(Default)]
pub struct Progress {
    pub checkpoint: Option<PathBuf>,
}

impl Callback for Progress {
    fn on_epoch(&mut self, report: &EpochReport<'_>) -> autoencoder::Result<Control> {
        let validation = match report.validation_loss {
            Some(loss) => format!("  validation loss {loss:.6}"),
            None => String::new(),
        };
        println!(
            "epoch {:>3}/{}  train loss {:.6}{validation}  {:.2} s",
            report.epoch, report.epochs, report.train_loss, report.seconds
        );
        if let Some(path) = &self.checkpoint {
            let checkpoint = Checkpoint {
                autoencoder: report.autoencoder.clone(),
                optimizer: report.optimizer.state(),
                epoch: report.epoch,
                metadata: Default::default(),
            };
            checkpoint.save(path)?;
        }
        Ok(Control::Continue)
    }
}

/// A matrix of independent standard normal numbers (Box–Muller).
pub fn standard_normal(rng: &mut impl Rng, rows: usize, columns: usize) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, columns), || {
        let u1: f64 = 1.0 - rng.random::<f64>(); // in (0, 1], so the logarithm is finite
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    })
}
