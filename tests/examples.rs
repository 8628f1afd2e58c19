//! Runs every bundled example on a few digits and checks what it prints and the pictures it writes.
//!
//! `cargo test` builds the examples before it runs the integration tests; this file finds them beside its own
//! binary (`target/<profile>/deps/` → `target/<profile>/examples/`). When only this test target is built
//! (`cargo test --test examples`), the examples may be missing or stale: run `cargo build --examples` first.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autoencoder::mnist::Mnist;
use autoencoder::ndarray::s;
use autoencoder::{Autoencoder, Loss};
use common::scratch;

/// The few digits each example trains on here, and its settings.
const QUICK: [&str; 6] = ["--epochs", "1", "--limit", "1000", "--threads", "1"];

/// The compiled example `name`.
fn example(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().and_then(Path::parent).unwrap();
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds the examples, or run `cargo build --examples`",
        path.display()
    );
    path
}

/// Runs example `name` with `args`, asserting that it succeeds; returns its standard output.
fn run(name: &str, args: &[&str]) -> String {
    let output = run_raw(name, args);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{name} {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs example `name` on the [`QUICK`] settings with its pictures in `dir` and `extra` flags, asserting that it
/// succeeds with one progress line (one epoch); returns its standard output.
fn run_quick(name: &str, dir: &Path, extra: &[&str]) -> String {
    let stdout = run(name, &[&QUICK[..], &["--out", dir.to_str().unwrap()], extra].concat());
    assert_progress(&stdout, 1);
    stdout
}

/// Runs example `name` with `args`; fails the test if it runs for more than ten minutes (a hang).
fn run_raw(name: &str, args: &[&str]) -> Output {
    common::output_within(Command::new(example(name)).args(args), 600)
}

/// The number after `prefix` on the line that starts with it, e.g. `value(out, "test MSE")`.
fn value(stdout: &str, prefix: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{stdout}"));
    let number = line[prefix.len()..].split_whitespace().next().unwrap_or("");
    number
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {number:?} is not a number: {e}"))
}

/// Asserts one progress line per epoch, with finite losses and seconds.
fn assert_progress(stdout: &str, epochs: usize) {
    let lines: Vec<&str> = stdout.lines().filter(|line| line.starts_with("epoch ")).collect();
    assert_eq!(lines.len(), epochs, "{stdout}");
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        // epoch 1/1 train loss X validation loss Y Z s
        assert_eq!(
            (words[2], words[3], words[5], words[6], words[9]),
            ("train", "loss", "validation", "loss", "s")
        );
        for number in [words[4], words[7], words[8]] {
            assert!(number.parse::<f64>().unwrap().is_finite(), "{line}");
        }
    }
}

/// The width, height and colour type of a PNG file (decoding it all, so a truncated file fails).
fn png_info(path: &Path) -> (u32, u32, png::ColorType) {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    (frame.width, frame.height, frame.color_type)
}

/// The size of a picture of the examples' digit grids (28×28 digits magnified twice, gap 2, 10 to a row) with
/// `rows` rows and labels of up to `label_chars` characters.
fn grid_size(label_chars: usize, rows: usize) -> (u32, u32) {
    let cell = 28 * 2 + 2;
    let margin = if label_chars == 0 {
        0
    } else {
        2 + (6 * label_chars - 1) * 2
    };
    ((margin + 2 + 10 * cell) as u32, (2 + rows * cell) as u32)
}

fn assert_gray_grid(path: &Path, label_chars: usize, rows: usize) {
    let (width, height) = grid_size(label_chars, rows);
    assert_eq!(
        png_info(path),
        (width, height, png::ColorType::Grayscale),
        "{}",
        path.display()
    );
}

#[test]
fn mnist_trains_reports_the_test_mse_and_saves_a_model_that_generate_loads() {
    let dir = scratch("mnist");
    let out = dir.to_str().unwrap();
    let model = dir.join("model.safetensors");
    let stdout = run_quick("mnist", &dir, &["--model", model.to_str().unwrap()]);
    let test_mse = value(&stdout, "test MSE");
    assert!(test_mse > 0.0 && test_mse < 0.25, "{stdout}");
    assert_gray_grid(&dir.join("reconstructions.png"), "output".len(), 2);
    assert!(
        stdout.contains(&format!("saved the model to {}", model.display())),
        "{stdout}"
    );

    // The saved model is the trained one: it scores the same 1,000 test digits the same.
    let ae = Autoencoder::load(&model).unwrap();
    let digits = Mnist::load_bundled().unwrap();
    let test = digits.test_images.slice(s![..1000, ..]);
    let mse = ae.evaluate(test, test, Loss::Mse).unwrap();
    assert!((f64::from(mse) - test_mse).abs() < 1e-6, "{mse} vs {test_mse}");

    let stdout = run(
        "generate",
        &["--model", model.to_str().unwrap(), "--limit", "1000", "--out", out],
    );
    assert!(
        !stdout.contains("epoch "),
        "generate trained although given a model:\n{stdout}"
    );
    assert_gray_grid(&dir.join("interpolation.png"), "0 to 1".len(), 5);
    assert_gray_grid(&dir.join("samples.png"), "diagonal".len(), 4);
}

#[test]
fn mnist_resumed_from_its_checkpoint_ends_as_an_uninterrupted_run() {
    let dir = scratch("checkpoint");
    let out = dir.to_str().unwrap();
    let checkpoint = dir.join("run.ckpt");
    let settings = ["--limit", "300", "--threads", "1", "--batch", "64", "--out", out];
    let with_checkpoint = |epochs| {
        [
            &settings[..],
            &["--epochs", epochs, "--checkpoint", checkpoint.to_str().unwrap()],
        ]
        .concat()
    };
    run("mnist", &with_checkpoint("1"));
    let resumed = run("mnist", &with_checkpoint("2"));
    assert!(resumed.contains("after epoch 1"), "{resumed}");
    assert_progress(&resumed, 1); // only epoch 2 ran
    let straight = run("mnist", &[&settings[..], &["--epochs", "2"]].concat());
    assert_eq!(value(&resumed, "test MSE"), value(&straight, "test MSE"));
}

#[test]
fn denoising_reports_psnr_before_and_after() {
    let dir = scratch("denoising");
    let stdout = run_quick("denoising", &dir, &["--noise", "0.4"]);
    assert_eq!(value(&stdout, "noise standard deviation"), 0.4);
    let noisy = value(&stdout, "PSNR noisy vs clean");
    let clamped = value(&stdout, "PSNR noisy clamped to [0, 1] vs clean");
    let denoised = value(&stdout, "PSNR denoised vs clean");
    // Noise of standard deviation 0.4 has an MSE of 0.16: 10 · log10(1 / 0.16) ≈ 7.96 dB.
    assert!((noisy - 7.96).abs() < 0.2, "{stdout}");
    assert!(
        clamped > noisy,
        "clamping to [0, 1] can only bring pixels closer: {stdout}"
    );
    assert!(denoised.is_finite() && denoised > 0.0, "{stdout}");
    assert_gray_grid(&dir.join("denoising.png"), "denoised".len(), 3);
}

#[test]
fn the_convolutional_denoiser_beats_the_noise() {
    let dir = scratch("denoising-conv");
    let stdout = run_quick("denoising", &dir, &["--noise", "0.4", "--conv"]);
    assert!(stdout.contains("model: convolutional (CAE-16)"), "{stdout}");
    let (noisy, denoised) = (
        value(&stdout, "PSNR noisy vs clean"),
        value(&stdout, "PSNR denoised vs clean"),
    );
    // one epoch on 1,000 digits already removes much of the noise
    assert!(denoised > noisy + 3.0, "{stdout}");
    assert_gray_grid(&dir.join("denoising.png"), "denoised".len(), 3);
}

#[test]
fn conv_mnist_trains_the_books_model_and_saves_it() {
    let dir = scratch("conv-mnist");
    let model = dir.join("cae.safetensors");
    let stdout = run_quick("conv_mnist", &dir, &["--model", model.to_str().unwrap()]);
    assert!(stdout.contains("CAE-16: 178001 parameters"), "{stdout}");
    let test_mse = value(&stdout, "test MSE");
    // one epoch on 1,000 digits: below a constant image's MSE (about 0.1), above zero
    assert!(test_mse > 0.0 && test_mse < 0.08, "{stdout}");
    assert_gray_grid(&dir.join("reconstructions.png"), "output".len(), 2);
    let cae = Autoencoder::load(&model).unwrap();
    let digits = Mnist::load_bundled().unwrap();
    let test = digits.test_images.slice(s![..1000, ..]);
    let mse = cae.evaluate(test, test, Loss::Mse).unwrap();
    assert!((f64::from(mse) - test_mse).abs() < 1e-6, "{mse} vs {test_mse}");
}

#[test]
fn generate_trains_its_own_model_without_one() {
    let dir = scratch("generate");
    run_quick("generate", &dir, &["--steps", "7"]);
    assert_gray_grid(&dir.join("samples.png"), "diagonal".len(), 4);
    // Seven steps per line: seven columns.
    let (width, height, _) = png_info(&dir.join("interpolation.png"));
    let cell = 28 * 2 + 2;
    assert_eq!(
        (width, height),
        ((2 + 35 * 2 + 2 + 7 * cell) as u32, (2 + 5 * cell) as u32)
    );
}

#[test]
fn latent_2d_draws_the_codes_and_the_decoded_plane() {
    let dir = scratch("latent_2d");
    run_quick("latent_2d", &dir, &[]);
    assert_eq!(png_info(&dir.join("latent_2d.png")), (800, 600, png::ColorType::Rgb));
    assert_gray_grid(&dir.join("manifold.png"), 0, 10);
}

#[test]
fn anomaly_reports_the_roc_auc_and_the_mean_score_of_every_class() {
    let dir = scratch("anomaly");
    let stdout = run_quick("anomaly", &dir, &["--anomaly-class", "3"]);
    assert!(stdout.contains("without class 3"), "{stdout}");
    let auc = value(&stdout, "ROC AUC");
    assert!((0.0..=1.0).contains(&auc), "{stdout}");
    for class in 0..10 {
        let score = value(&stdout, &format!("class {class}: mean score"));
        assert!(score.is_finite() && score > 0.0, "{stdout}");
    }
    assert_gray_grid(&dir.join("anomaly.png"), "highest".len(), 2);
}

#[test]
fn bad_command_lines_print_the_usage_and_fail() {
    let help = run_raw("mnist", &["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--checkpoint PATH"));

    for args in [&["--epochs", "many"][..], &["--bogus", "1"], &["--epochs"], &["stray"]] {
        let output = run_raw("mnist", args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).starts_with("error: "),
            "{args:?}"
        );
    }
    let output = run_raw("latent_2d", &["--data", "/no/such/folder"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/no/such/folder"));
}

#[test]
fn vae_prints_its_test_loss_and_draws_its_means_plane_and_samples() {
    let dir = scratch("vae");
    let stdout = run("vae", &[&QUICK[..], &["--out", dir.to_str().unwrap()]].concat());
    // one line per epoch, its loss the sum of its parts
    let epochs: Vec<&str> = stdout.lines().filter(|line| line.starts_with("epoch ")).collect();
    assert_eq!(epochs.len(), 1, "{stdout}");
    // "test loss T (reconstruction R + kl K, z = the mean)": T = R + K, and T below what a constant output of 0.5
    // costs (784 ln 2 = 543 per image): it learned
    let total = value(&stdout, "test loss");
    let line = stdout.lines().find(|line| line.starts_with("test loss")).unwrap();
    let after = |word: &str| -> f64 {
        let rest = &line[line.find(word).unwrap() + word.len()..];
        rest.split([' ', ',']).find(|w| !w.is_empty()).unwrap().parse().unwrap()
    };
    let (reconstruction, kl) = (after("(reconstruction"), after("+ kl"));
    assert!((reconstruction + kl - total).abs() < 1e-3, "{line}");
    assert!(
        total.is_finite() && total > 0.0 && total < 543.0 && kl >= 0.0,
        "{stdout}"
    );
    assert_eq!(png_info(&dir.join("vae_means.png")), (800, 600, png::ColorType::Rgb));
    let side = (2 + 12 * (28 * 2 + 2)) as u32; // 12 × 12 cells of 28 × 28 pixels, doubled, 2 apart
    assert_eq!(
        png_info(&dir.join("vae_manifold.png")),
        (side, side, png::ColorType::Grayscale)
    );
    assert_gray_grid(&dir.join("vae_samples.png"), 0, 10);
}

/// The last line of an example's output, parsed as its JSON report.
fn json_report(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("the last line is not JSON ({e}):\n{stdout}"))
}

#[test]
fn colorize_reports_both_models_and_draws_colour_pictures() {
    let dir = scratch("colorize");
    let args = [
        "--epochs",
        "1",
        "--limit",
        "300",
        "--threads",
        "1",
        "--filters",
        "4,8",
        "--latent",
        "16",
        "--chroma",
        "--out",
        dir.to_str().unwrap(),
    ];
    let stdout = run("colorize", &args);
    let report = json_report(&stdout);
    // the bundled photos, coffee held out: 864 test patches of 32×32 at stride 16 (36 × 24)
    assert_eq!(report["test_patches"], 864, "{stdout}");
    assert_eq!(
        (report["train_patches"].as_u64(), report["epochs"].as_u64()),
        (Some(300), Some(1))
    );
    // the grey copied to R, G and B against the true colours of coffee's patches (the guide: 14.2 dB)
    let grey = report["grey_psnr"].as_f64().unwrap();
    assert!((grey - 14.17).abs() < 0.01, "{stdout}");
    for key in [
        "colour_psnr",
        "colour_psnr_last3",
        "chroma_psnr",
        "chroma_psnr_last3",
        "seconds",
    ] {
        let value = report[key].as_f64().unwrap_or(f64::NAN);
        assert!(value.is_finite() && value > 0.0, "{key}: {stdout}");
    }
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("epoch ")).count(),
        2,
        "{stdout}"
    );
    // patches: grey / colour / chroma / true bands of 10, RGB; the photo: 4 panels of 600×400, 8 pixels apart
    let (_, _, colour) = png_info(&dir.join("colorize_patches.png"));
    assert_eq!(colour, png::ColorType::Rgb);
    assert_eq!(
        png_info(&dir.join("colorize_photo.png")),
        (4 * 600 + 3 * 8, 400, png::ColorType::Rgb)
    );

    // a test photo that does not exist is a clear error
    let output = run_raw("colorize", &["--test", "nosuch", "--out", dir.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nosuch") && stderr.contains("coffee"), "{stderr}");
}

#[test]
fn segment_reports_the_iou_beside_the_threshold_baseline_and_draws_the_masks() {
    let dir = scratch("segment");
    let args = [
        "--epochs",
        "1",
        "--images",
        "200",
        "--threads",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ];
    let stdout = run("segment", &args);
    let report = json_report(&stdout);
    assert_eq!(
        (report["train_images"].as_u64(), report["test_images"].as_u64()),
        (Some(200), Some(50))
    );
    for key in ["iou", "baseline_iou"] {
        let value = report[key].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&value), "{key}: {stdout}");
    }
    let threshold = report["baseline_threshold"].as_f64().unwrap();
    assert!(
        report["baseline_iou"].as_f64().unwrap() > 0.0 && (0.0..1.0).contains(&threshold),
        "{stdout}"
    );
    // picture / found / true, 10 pictures of 64×64 magnified twice, gap 2, labels of up to 7 characters
    let cell = 64 * 2 + 2;
    let margin = 2 + (6 * "picture".len() - 1) * 2;
    let size = ((margin + 2 + 10 * cell) as u32, (2 + 3 * cell) as u32);
    assert_eq!(
        png_info(&dir.join("segment.png")),
        (size.0, size.1, png::ColorType::Grayscale)
    );
}

/// The colour examples take a folder of grey PNGs too (the grey copied to R, G and B), and say what is wrong with
/// flags that cannot work.
#[test]
fn the_colour_examples_read_a_folder_of_grey_pngs_and_refuse_empty_sets() {
    let dir = scratch("grey-photos");
    let photos = dir.join("photos");
    fs::create_dir_all(&photos).unwrap();
    for (name, seed) in [("first", 1), ("second", 2)] {
        let pixels = autoencoder::ndarray::Array3::from_shape_fn((70, 70, 1), |(y, x, _)| {
            ((y * 3 + x * 5 + seed * 11) % 17) as f32 / 16.0
        });
        autoencoder::image::write_image(photos.join(format!("{name}.png")), pixels.view()).unwrap();
    }
    let (data, out) = (photos.to_str().unwrap(), dir.to_str().unwrap());
    let common = [
        "--data",
        data,
        "--test",
        "second",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--out",
        out,
    ];
    let stdout = run(
        "colorize",
        &[
            &common[..],
            &["--patch", "16", "--stride", "16", "--filters", "4", "--latent", "4"],
        ]
        .concat(),
    );
    assert_eq!(json_report(&stdout)["test_patches"], 16, "{stdout}"); // 4 × 4 patches of 16 in 70 × 70
    let stdout = run("segment", &[&common[..], &["--images", "8"]].concat());
    assert_eq!(json_report(&stdout)["test_images"], 2, "{stdout}");

    for (example, flag) in [("colorize", "--limit"), ("segment", "--images")] {
        let output = run_raw(example, &[&common[..], &[flag, "0"]].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(&format!("{flag} must be at least 1")),
            "{stderr}"
        );
    }
}
