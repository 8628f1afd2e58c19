//! Segmentation, the article's fourth use of autoencoders: a convolutional encoder-decoder learns which pixels
//! of a picture belong to a digit pasted onto a photo.
//!
//! Each picture is a random 64×64 crop of a photo's grey (default: the bundled photos; `--test` photos, default
//! `coffee`, are held out for testing) with a digit of the bundled MNIST pasted at a random place, white ink over
//! the photo in proportion to the digit's pixel value (training digits for the training pictures, test digits for
//! the test ones). The mask to learn: the digit's pixels above 0.5. The network is fully convolutional — Conv2D
//! 16 and 32 (3×3, stride 2, ReLU) down to 16×16, Conv2DTranspose 32 and 16 back up, and a sigmoid
//! Conv2DTranspose of one channel — trained on binary cross-entropy with Adam (learning rate 3e-3) in batches of 32.
//!
//! It reports the test IoU (intersection over union of the predicted and the true mask pixels, over all test
//! pictures) beside a classical baseline: one global threshold on the picture's brightness, the one that gives
//! the best IoU on the training pictures. It writes `segment.png`: test pictures, the predicted masks, the true
//! masks. Its last line is one JSON object: `iou`, `baseline_iou`, `baseline_threshold`, `train_images`,
//! `test_images`, `epochs`, `seconds` (training).
//!
//! ```text
//! cargo run --release --example segment
//! cargo run --release --example segment -- --images 8000 --epochs 20
//! ```

mod common;

use std::time::Instant;

use autoencoder::image::{write_labelled_rows, GridLayout};
use autoencoder::mnist::Mnist;
use autoencoder::ndarray::{s, Array2, ArrayView2};
use autoencoder::rand::{rngs::StdRng, Rng, SeedableRng};
use autoencoder::{
    Activation, Adam, Autoencoder, Conv2d, ConvTranspose2d, Decoder, Encoder, FitConfig, FitData, Init, Layer, Loss,
    Padding,
};
use common::photos::{self, Photo};
use common::{Args, Failure, Flag, Progress};

/// The side of the pictures.
const SIDE: usize = 64;

fn main() -> Result<(), Failure> {
    let flags = [
        &photos::FLAGS[..],
        &[
            Flag {
                name: "images",
                value: "N",
                help: "training pictures (default 3000; a quarter as many test pictures)",
            },
            Flag {
                name: "limit",
                value: "N",
                help: "the same as --images",
            },
            Flag {
                name: "lr",
                value: "RATE",
                help: "Adam's learning rate (default 0.003)",
            },
        ],
    ]
    .concat();
    let args = Args::parse(
        "segment",
        "Trains a convolutional encoder-decoder to find the digits pasted onto photos, against a threshold.",
        8,
        &flags,
    );
    common::set_threads(&args)?;
    let out = common::out_dir(&args)?;
    let (train_photos, test_photos) = photos::load(&args)?;
    let digits = Mnist::load_bundled()?;
    let seed: u64 = args.get_or("seed", 0);
    let train_count: usize = args.get_or("images", args.get_or("limit", 3000));
    if train_count == 0 {
        return Err("--images must be at least 1".into());
    }
    let test_count = (train_count / 4).max(1);
    let train = Pictures::new(
        &train_photos,
        digits.train_images.view(),
        digits.image_cols,
        train_count,
        seed,
    )?;
    let test = Pictures::new(
        &test_photos,
        digits.test_images.view(),
        digits.image_cols,
        test_count,
        seed + 1,
    )?;
    println!(
        "{} training and {} test pictures of {SIDE}×{SIDE} pixels, {} threads",
        train_count,
        test_count,
        autoencoder::num_threads()
    );

    let train_ious = threshold_ious(train.composites.view(), train.masks.view());
    let best = (0..train_ious.len())
        .max_by(|&a, &b| train_ious[a].total_cmp(&train_ious[b]))
        .unwrap_or(0);
    let (threshold, baseline_iou) = (
        best as f32 / 100.0,
        threshold_ious(test.composites.view(), test.masks.view())[best],
    );
    println!("baseline: pixels of {threshold:.2} or brighter (the best threshold on the training pictures): test IoU {baseline_iou:.3}");

    let mut model = fully_convolutional(seed)?;
    let epochs = args.epochs();
    let config = FitConfig::new(epochs)
        .batch_size(args.get_or("batch", 32))
        .seed(seed)
        .loss(Loss::BinaryCrossEntropy);
    let data = FitData::pairs(train.composites.view(), train.masks.view())
        .with_validation(test.composites.view(), test.masks.view());
    let started = Instant::now();
    model.fit_with(
        data,
        &mut Adam::new(args.get_or("lr", 3e-3)),
        &config,
        &mut Progress::default(),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let predicted = model.reconstruct(test.composites.view())?;
    let network_iou = iou(predicted.view(), test.masks.view(), 0.5);
    println!("network: test IoU {network_iou:.3} (baseline {baseline_iou:.3})");

    let shown = s![..10.min(test_count), ..];
    let predicted_masks = predicted.slice(shown).mapv(|p| f32::from(u8::from(p > 0.5)));
    let sets = [
        ("picture", test.composites.slice(shown)),
        ("found", predicted_masks.view()),
        ("true", test.masks.slice(shown)),
    ];
    let picture = out.join("segment.png");
    write_labelled_rows(&picture, &sets, &GridLayout::new(SIDE, SIDE).columns(10).scale(2))?;
    common::wrote(&picture);

    let report = serde_json::json!({
        "iou": network_iou,
        "baseline_iou": baseline_iou,
        "baseline_threshold": threshold,
        "train_images": train_count,
        "test_images": test_count,
        "epochs": epochs,
        "seconds": seconds,
        "seed": seed,
    });
    println!("{report}");
    Ok(())
}

/// Pictures of digits pasted onto photos, and their masks; rows of `SIDE × SIDE` pixels.
struct Pictures {
    composites: Array2<f32>,
    masks: Array2<f32>,
}

impl Pictures {
    /// `count` pictures: random crops of `photos`' grey, each with a random digit of `digits` (rows of
    /// `digit_side²` pixels) at a random place; drawn from `seed`.
    fn new(
        photos: &[Photo],
        digits: ArrayView2<f32>,
        digit_side: usize,
        count: usize,
        seed: u64,
    ) -> Result<Pictures, Failure> {
        let mut greys = Vec::new();
        for photo in photos {
            let (h, w, _) = photo.rgb.dim();
            if h < SIDE || w < SIDE {
                return Err(format!(
                    "photo {} is {w}×{h}, smaller than the {SIDE}×{SIDE} pictures",
                    photo.name
                )
                .into());
            }
            greys.push(photo.grey()?);
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut composites = Array2::zeros((count, SIDE * SIDE));
        let mut masks = Array2::zeros((count, SIDE * SIDE));
        for (i, (mut composite, mut mask)) in composites.outer_iter_mut().zip(masks.outer_iter_mut()).enumerate() {
            let grey = &greys[i % greys.len()];
            let (top, left) = (
                rng.random_range(0..=grey.nrows() - SIDE),
                rng.random_range(0..=grey.ncols() - SIDE),
            );
            let digit = digits.row(rng.random_range(0..digits.nrows()));
            let (y0, x0) = (
                rng.random_range(0..=SIDE - digit_side),
                rng.random_range(0..=SIDE - digit_side),
            );
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let background = grey[[top + y, left + x]];
                    let ink = match (y.checked_sub(y0), x.checked_sub(x0)) {
                        (Some(dy), Some(dx)) if dy < digit_side && dx < digit_side => digit[dy * digit_side + dx],
                        _ => 0.0,
                    };
                    composite[y * SIDE + x] = (1.0 - ink) * background + ink;
                    mask[y * SIDE + x] = f32::from(u8::from(ink > 0.5));
                }
            }
        }
        Ok(Pictures { composites, masks })
    }
}

/// Conv2D 16, 32 (3×3, stride 2, ReLU) down to 16×16×32; Conv2DTranspose 32, 16 (stride 2, ReLU) back up, and a
/// sigmoid Conv2DTranspose of one channel: the mask.
fn fully_convolutional(seed: u64) -> autoencoder::Result<Autoencoder> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (same, init, relu) = (Padding::Same, Init::GlorotUniform, Activation::Relu);
    let down1 = Conv2d::new((SIDE, SIDE, 1), 16, (3, 3), 2, same, relu, init, &mut rng)?;
    let down2 = Conv2d::new(down1.output_shape(), 32, (3, 3), 2, same, relu, init, &mut rng)?;
    let up1 = ConvTranspose2d::new(down2.output_shape(), 32, (3, 3), 2, same, relu, init, &mut rng)?;
    let up2 = ConvTranspose2d::new(up1.output_shape(), 16, (3, 3), 2, same, relu, init, &mut rng)?;
    let mask = ConvTranspose2d::new(
        up2.output_shape(),
        1,
        (3, 3),
        1,
        same,
        Activation::Sigmoid,
        init,
        &mut rng,
    )?;
    let encoder: Vec<Layer> = vec![down1.into(), down2.into()];
    let decoder: Vec<Layer> = vec![up1.into(), up2.into(), mask.into()];
    Autoencoder::new(Encoder::new(encoder)?, Decoder::new(decoder)?)
}

/// The intersection over union of the pixels of `scores` above `threshold` and the mask pixels (1), over every
/// picture together; 1 when both are empty.
fn iou(scores: ArrayView2<f32>, masks: ArrayView2<f32>, threshold: f32) -> f32 {
    let (mut both, mut either) = (0_u64, 0_u64);
    for (&score, &mask) in scores.iter().zip(masks) {
        let (found, truth) = (score > threshold, mask > 0.5);
        both += u64::from(found && truth);
        either += u64::from(found || truth);
    }
    if either == 0 {
        1.0
    } else {
        both as f32 / either as f32
    }
}

/// The IoU of every global brightness threshold `t / 100`, `t` = 0..100, on these pictures: the pixels at `t / 100`
/// or above are the digit's.
fn threshold_ious(composites: ArrayView2<f32>, masks: ArrayView2<f32>) -> Vec<f32> {
    // a histogram of the pixels, mask and not, by brightness: every threshold's IoU from it at once
    let bins = 100;
    let bin = |v: f32| ((v.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
    let (mut digit, mut other) = (vec![0_u64; bins], vec![0_u64; bins]);
    for (&value, &mask) in composites.iter().zip(masks) {
        match mask > 0.5 {
            true => digit[bin(value)] += 1,
            false => other[bin(value)] += 1,
        }
    }
    let total_digit: u64 = digit.iter().sum();
    (0..bins)
        .map(|t| {
            let (found_digit, found_other): (u64, u64) = (digit[t..].iter().sum(), other[t..].iter().sum());
            found_digit as f32 / (total_digit + found_other).max(1) as f32
        })
        .collect()
}
