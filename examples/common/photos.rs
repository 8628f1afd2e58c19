//! The photos the colour examples learn from: every PNG of a folder (default: the seven bundled in `data/photos`),
//! split by name into training and test photos, so that no test photo is ever seen in training.

use std::path::PathBuf;

use autoencoder::data::colour::rgb_to_grey;
use autoencoder::data::png::{png_files, read_png, Alpha};
use autoencoder::ndarray::{concatenate, Array2, Array3, Axis};

use super::{Args, Failure, Flag};

/// The bundled photos (public domain or CC0; their provenance is in the folder's README).
pub const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/photos");

/// The flags [`load`] reads.
pub const FLAGS: [Flag; 2] = [
    Flag {
        name: "data",
        value: "DIR",
        help: "a folder of PNG photos, of any sizes (default: the seven bundled in data/photos)",
    },
    Flag {
        name: "test",
        value: "NAMES",
        help: "the photos held out for testing, by file name without .png, comma-separated (default: coffee)",
    },
];

/// One photo: its file name without `.png`, and its RGB pixels `(h, w, 3)` in [0, 1].
pub struct Photo {
    pub name: String,
    pub rgb: Array3<f32>,
}

impl Photo {
    /// The photo's grey, `(h, w)`, with the book's weights.
    pub fn grey(&self) -> Result<Array2<f32>, Failure> {
        let (h, w, _) = self.rgb.dim();
        let flat = self.rgb.view().into_shape_with_order((1, h * w * 3))?;
        Ok(rgb_to_grey(flat)?.into_shape_with_order((h, w))?)
    }
}

/// The training and the test photos: every PNG in `--data`, alpha dropped and grey ones copied to R, G and B,
/// the `--test` ones apart. Errors when a test name matches no photo, when there is no test photo, or when no
/// photo is left to train on.
pub fn load(args: &Args) -> Result<(Vec<Photo>, Vec<Photo>), Failure> {
    let dir = args.get::<PathBuf>("data").unwrap_or_else(|| PathBuf::from(BUNDLED));
    let test_names: Vec<String> = args
        .get_or("test", "coffee".to_string())
        .split(',')
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect();
    let mut photos = Vec::new();
    for path in png_files(&dir)? {
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let pixels = read_png(&path, Alpha::Drop)?;
        let rgb = match pixels.dim().2 {
            3 => pixels,
            // grey: the same value in R, G and B
            _ => Array3::from_shape_fn((pixels.dim().0, pixels.dim().1, 3), |(y, x, _)| pixels[[y, x, 0]]),
        };
        photos.push(Photo { name, rgb });
    }
    for name in &test_names {
        if !photos.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = photos.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "--test {name}: no such photo in {} (it has: {})",
                dir.display(),
                known.join(", ")
            )
            .into());
        }
    }
    let (test, train): (Vec<Photo>, Vec<Photo>) = photos.into_iter().partition(|p| test_names.contains(&p.name));
    if test.is_empty() {
        return Err("no test photo: name one with --test".into());
    }
    if train.is_empty() {
        return Err(format!(
            "every photo in {} is a test photo: none is left to train on",
            dir.display()
        )
        .into());
    }
    println!(
        "photos: {} for training ({}), {} for testing ({})",
        train.len(),
        names(&train),
        test.len(),
        names(&test)
    );
    Ok((train, test))
}

/// The names of `photos`, the first eight of them when there are more.
fn names(photos: &[Photo]) -> String {
    let mut names: Vec<&str> = photos.iter().take(8).map(|p| p.name.as_str()).collect();
    if photos.len() > 8 {
        names.push("...");
    }
    names.join(", ")
}

/// The rows of several arrays of the same width, one after another.
pub fn stack_rows(parts: &[Array2<f32>]) -> Result<Array2<f32>, Failure> {
    let views: Vec<_> = parts.iter().map(|part| part.view()).collect();
    Ok(concatenate(Axis(0), &views)?)
}
