//! Colorization, the article's third use of autoencoders (the book's section 3.4): a convolutional
//! encoder-decoder learns the colours of grey image patches.
//!
//! The photos (default: the seven bundled in `data/photos`) are cut into 32×32 patches (the size of the book's
//! CIFAR-10 images) at a stride of 16; whole photos are held out for testing (`--test`, default `coffee`), so no
//! test patch overlaps a training one. The input is a patch's grey (the book's `0.299 R + 0.587 G + 0.114 B`);
//! the book's model — Conv2D 64, 128, 256 (3×3, stride 2, ReLU), a 256-wide code, Conv2DTranspose 256, 128, 64
//! and a last sigmoid one of 3 channels — learns the RGB patch with the mean squared error, Adam 1e-3, batches of
//! 32. The default is a quarter of its size (filters 32, 64, 128, code 128, about a minute); `--book` trains the
//! book's.
//!
//! Through a 128-number code, the book's model blurs edges that the grey input has exactly. `--chroma` also
//! trains what real colorizers do: the same network predicting only the chroma (Cb and Cr of JPEG's YCbCr), the
//! brightness taken from the input as it is.
//!
//! After each epoch it prints the test PSNR of the colourised patches against the true colours; at the end, the
//! grey baseline's (the grey copied to R, G and B), and writes
//! - `colorize_patches.png`: test patches, grey / colourised (/ chroma) / true;
//! - `colorize_photo.png`: the first test photo coloured patch by patch (overlapping patches averaged, so there
//!   are no seams), between its grey and its true colours.
//!
//! Its last line is one JSON object: `grey_psnr`, `colour_psnr` (after the last epoch) and `colour_psnr_last3`
//! (the mean of the last three epochs', steadier from run to run), `colour_epoch_psnr` (every epoch's),
//! `colour_seconds` and `colour_median_epoch_s` (epochs 2..N), the same for `chroma_` with `--chroma`,
//! `train_patches`, `test_patches`, `epochs`, `seconds` (training, every model).
//!
//! ```text
//! cargo run --release --example colorize
//! cargo run --release --example colorize -- --chroma
//! cargo run --release --example colorize -- --book --epochs 30
//! cargo run --release --example colorize -- --data my_pngs/ --test holiday,garden
//! ```

mod common;

use std::time::Instant;

use autoencoder::data::colour::{grey_to_rgb, rgb_to_grey, rgb_to_ycbcr, ycbcr_to_rgb};
use autoencoder::data::patches::{covering_patch_origins, cut_patches, patch_origins, stitch_patches};
use autoencoder::image::{write_image, write_labelled_rows, GridLayout};
use autoencoder::metrics::psnr;
use autoencoder::ndarray::{concatenate, Array2, Array3, ArrayView2, Axis};
use autoencoder::{Adam, Autoencoder, Callback, Control, EpochReport, FitConfig, FitData};
use common::photos::{self, stack_rows, Photo};
use common::{Args, Failure, Flag};

fn main() -> Result<(), Failure> {
    let flags = [
        &photos::FLAGS[..],
        &[
            Flag {
                name: "chroma",
                value: "",
                help: "also train the chroma model (predicts Cb and Cr; the brightness is the input's)",
            },
            Flag {
                name: "book",
                value: "",
                help: "the book's size: filters 64,128,256 and a code of 256",
            },
            Flag {
                name: "filters",
                value: "LIST",
                help: "the encoder's filter counts (default 32,64,128)",
            },
            Flag {
                name: "latent",
                value: "N",
                help: "the code's size (default 128)",
            },
            Flag {
                name: "lr",
                value: "RATE",
                help: "Adam's learning rate (default 0.001)",
            },
            Flag {
                name: "patch",
                value: "N",
                help: "the side of the square patches (default 32)",
            },
            Flag {
                name: "stride",
                value: "N",
                help: "the step between patches (default 16)",
            },
            Flag {
                name: "limit",
                value: "N",
                help: "train on only N of the training patches, evenly spread over them (all test patches stay)",
            },
        ],
    ]
    .concat();
    let args = Args::parse(
        "colorize",
        "Trains a convolutional autoencoder to colour grey patches of photos, and colours a held-out photo.",
        8,
        &flags,
    );
    common::set_threads(&args)?;
    let out = common::out_dir(&args)?;
    let (train_photos, test_photos) = photos::load(&args)?;
    let (size, stride): (usize, usize) = (args.get_or("patch", 32), args.get_or("stride", 16));
    let book = args.has("book");
    let filters = match args.get::<String>("filters") {
        Some(list) => parse_list(&list)?,
        None if book => vec![64, 128, 256],
        None => vec![32, 64, 128],
    };
    let latent: usize = args.get_or("latent", if book { 256 } else { 128 });
    let (epochs, seed): (usize, u64) = (args.epochs(), args.get_or("seed", 0));

    let mut train_rgb = patches_of(&train_photos, size, stride)?;
    let test_rgb = patches_of(&test_photos, size, stride)?;
    if let Some(limit) = args.get::<usize>("limit") {
        if limit == 0 {
            return Err("--limit must be at least 1".into());
        }
        train_rgb = evenly_spread(&train_rgb, limit);
    }
    let (train_grey, test_grey) = (rgb_to_grey(train_rgb.view())?, rgb_to_grey(test_rgb.view())?);
    println!(
        "{} training and {} test patches of {size}×{size} pixels (stride {stride}); filters {filters:?}, code {latent}, \
         {} threads",
        train_rgb.nrows(),
        test_rgb.nrows(),
        autoencoder::num_threads()
    );
    let grey_psnr = psnr(test_rgb.view(), grey_to_rgb(test_grey.view())?.view(), 1.0)?;
    println!("grey baseline: test PSNR {grey_psnr:.2} dB");

    let kinds: &[Kind] = if args.has("chroma") {
        &[Kind::Colour, Kind::Chroma]
    } else {
        &[Kind::Colour]
    };
    let mut results = Vec::new();
    for &kind in kinds {
        println!("{}:", kind.describe());
        let mut model = Autoencoder::conv_builder((size, size, 1))
            .filters(&filters)
            .latent(latent)
            .output_channels(kind.channels())
            .seed(seed)
            .build()?;
        let target = kind.target(train_rgb.view())?;
        let config = FitConfig::new(epochs).batch_size(args.get_or("batch", 32)).seed(seed);
        let mut scores = TestPsnr {
            kind,
            grey: test_grey.view(),
            rgb: test_rgb.view(),
            psnr: Vec::new(),
            seconds: Vec::new(),
        };
        let started = Instant::now();
        let mut adam = Adam::new(args.get_or("lr", 1e-3));
        model.fit_with(
            FitData::pairs(train_grey.view(), target.view()),
            &mut adam,
            &config,
            &mut scores,
        )?;
        let seconds = started.elapsed().as_secs_f64();
        results.push((kind, model, scores, seconds));
    }

    // test patches spread over the test photos: grey, then each model's colours, then the true ones
    let shown = evenly_spread(&test_rgb, 10);
    let shown_grey = rgb_to_grey(shown.view())?;
    let mut bands = vec![("grey".to_string(), grey_to_rgb(shown_grey.view())?)];
    for (kind, model, _, _) in &results {
        bands.push((kind.label().to_string(), kind.colours(model, shown_grey.view())?));
    }
    bands.push(("true".to_string(), shown));
    let sets: Vec<(&str, ArrayView2<f32>)> = bands.iter().map(|(l, b)| (l.as_str(), b.view())).collect();
    let picture = out.join("colorize_patches.png");
    write_labelled_rows(
        &picture,
        &sets,
        &GridLayout::new(size, size).channels(3).columns(10).scale(3),
    )?;
    common::wrote(&picture);

    // the first test photo, coloured patch by patch
    let photo = &test_photos[0];
    let mut panels = vec![grey_photo(photo)?];
    for (kind, model, _, _) in &results {
        panels.push(colour_photo(photo, size, (size / 4).max(1), |grey| {
            kind.colours(model, grey)
        })?);
    }
    panels.push(photo.rgb.clone());
    let picture = out.join("colorize_photo.png");
    write_image(&picture, side_by_side(&panels)?.view())?;
    common::wrote(&picture);

    let mut report = serde_json::json!({
        "grey_psnr": grey_psnr,
        "train_patches": train_rgb.nrows(),
        "test_patches": test_rgb.nrows(),
        "epochs": epochs,
        "filters": filters,
        "latent": latent,
        "seed": seed,
        "seconds": results.iter().map(|r| r.3).sum::<f64>(),
    });
    for (kind, _, scores, seconds) in &results {
        let psnr = &scores.psnr;
        let last3 = &psnr[psnr.len().saturating_sub(3)..];
        let prefix = kind.label();
        report[format!("{prefix}_psnr")] = serde_json::json!(psnr.last().copied().unwrap_or(f32::NAN));
        report[format!("{prefix}_psnr_last3")] = serde_json::json!(last3.iter().sum::<f32>() / last3.len() as f32);
        report[format!("{prefix}_epoch_psnr")] = serde_json::json!(psnr);
        report[format!("{prefix}_seconds")] = serde_json::json!(seconds);
        report[format!("{prefix}_median_epoch_s")] = serde_json::json!(median_after_first(&scores.seconds));
    }
    println!("{report}");
    Ok(())
}

/// What a model predicts: the colours themselves (the book's model), or only the chroma.
#[derive(Clone, Copy)]
enum Kind {
    Colour,
    Chroma,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Colour => "colour",
            Kind::Chroma => "chroma",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Colour => "the colour model (the book's), grey to RGB",
            Kind::Chroma => "the chroma model, grey to Cb and Cr (the brightness is the input's)",
        }
    }

    /// The output channels.
    fn channels(self) -> usize {
        match self {
            Kind::Colour => 3,
            Kind::Chroma => 2,
        }
    }

    /// The training targets for RGB patches: the RGB itself, or its Cb and Cr.
    fn target(self, rgb: ArrayView2<f32>) -> autoencoder::Result<Array2<f32>> {
        match self {
            Kind::Colour => Ok(rgb.to_owned()),
            Kind::Chroma => {
                let ycbcr = rgb_to_ycbcr(rgb)?;
                Ok(Array2::from_shape_fn((rgb.nrows(), rgb.ncols() / 3 * 2), |(r, k)| {
                    ycbcr[[r, k / 2 * 3 + 1 + k % 2]]
                }))
            }
        }
    }

    /// The RGB patches the model makes of grey ones.
    fn colours(self, model: &Autoencoder, grey: ArrayView2<f32>) -> autoencoder::Result<Array2<f32>> {
        let output = model.reconstruct(grey)?;
        match self {
            Kind::Colour => Ok(output),
            Kind::Chroma => {
                let ycbcr = Array2::from_shape_fn((grey.nrows(), grey.ncols() * 3), |(r, k)| match k % 3 {
                    0 => grey[[r, k / 3]],
                    c => output[[r, k / 3 * 2 + c - 1]],
                });
                ycbcr_to_rgb(ycbcr.view())
            }
        }
    }
}

/// A fit callback that scores the test patches after every epoch and prints a progress line.
struct TestPsnr<'a> {
    kind: Kind,
    grey: ArrayView2<'a, f32>,
    rgb: ArrayView2<'a, f32>,
    psnr: Vec<f32>,
    seconds: Vec<f64>,
}

impl Callback for TestPsnr<'_> {
    fn on_epoch(&mut self, report: &EpochReport<'_>) -> autoencoder::Result<Control> {
        let colours = self.kind.colours(report.autoencoder, self.grey)?;
        let psnr = psnr(self.rgb, colours.view(), 1.0)?;
        self.psnr.push(psnr);
        self.seconds.push(report.seconds);
        println!(
            "epoch {:>3}/{}  train loss {:.6}  test PSNR {psnr:.2} dB  {:.2} s",
            report.epoch, report.epochs, report.train_loss, report.seconds
        );
        Ok(Control::Continue)
    }
}

/// Every `size × size` patch at `stride` of every photo, RGB rows.
fn patches_of(photos: &[Photo], size: usize, stride: usize) -> Result<Array2<f32>, Failure> {
    let mut parts = Vec::new();
    for photo in photos {
        let (h, w, _) = photo.rgb.dim();
        let origins = patch_origins(h, w, size, stride).map_err(|e| format!("photo {}: {e}", photo.name))?;
        parts.push(cut_patches(photo.rgb.view(), size, &origins)?);
    }
    stack_rows(&parts)
}

/// At most `n` rows of `rows`, evenly spread over it.
fn evenly_spread(rows: &Array2<f32>, n: usize) -> Array2<f32> {
    let picked: Vec<usize> = (0..n.min(rows.nrows()))
        .map(|i| i * rows.nrows() / n.min(rows.nrows()))
        .collect();
    rows.select(Axis(0), &picked)
}

/// The photo's grey, as RGB.
fn grey_photo(photo: &Photo) -> Result<Array3<f32>, Failure> {
    let grey = photo.grey()?;
    Ok(Array3::from_shape_fn((grey.nrows(), grey.ncols(), 3), |(y, x, _)| {
        grey[[y, x]]
    }))
}

/// The photo coloured by `colours` patch by patch, every pixel covered, overlaps averaged.
fn colour_photo(
    photo: &Photo,
    size: usize,
    stride: usize,
    colours: impl Fn(ArrayView2<f32>) -> autoencoder::Result<Array2<f32>>,
) -> Result<Array3<f32>, Failure> {
    let (h, w, _) = photo.rgb.dim();
    let origins = covering_patch_origins(h, w, size, stride)?;
    let grey = rgb_to_grey(cut_patches(photo.rgb.view(), size, &origins)?.view())?;
    Ok(stitch_patches(colours(grey.view())?.view(), &origins, size, (h, w, 3))?)
}

/// Images of one height side by side, 8 white pixels apart.
fn side_by_side(images: &[Array3<f32>]) -> Result<Array3<f32>, Failure> {
    let height = images[0].dim().0;
    let gap = Array3::<f32>::ones((height, 8, 3));
    let mut parts = Vec::new();
    for (i, image) in images.iter().enumerate() {
        if i > 0 {
            parts.push(gap.view());
        }
        parts.push(image.view());
    }
    Ok(concatenate(Axis(1), &parts)?)
}

/// The median of the epochs' seconds after the first (as the benchmarks report them), or of the one epoch.
fn median_after_first(seconds: &[f64]) -> f64 {
    let mut steady = seconds.get(1..).filter(|s| !s.is_empty()).unwrap_or(seconds).to_vec();
    steady.sort_by(f64::total_cmp);
    match steady.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => steady[n / 2],
        n => (steady[n / 2 - 1] + steady[n / 2]) / 2.0,
    }
}

/// `32,64,128` as numbers.
fn parse_list(list: &str) -> Result<Vec<usize>, Failure> {
    list.split(',')
        .map(|n| n.trim().parse().map_err(|e| format!("--filters {list:?}: {e}").into()))
        .collect()
}
