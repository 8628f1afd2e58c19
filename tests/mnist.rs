//! The MNIST loader: the bundled digits, full Fashion-MNIST when installed, and every error it checks for, on
//! small data sets written by the tests.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use autoencoder::idx::{self, Compression, IdxArray};
use autoencoder::mnist::Mnist;
use autoencoder::ndarray::{Array, Array1, Array3};
use autoencoder::Error;
use common::{assert_contains, scratch};

/// `n` images of `rows × cols` pixels, pixel `k` of image `i` being `(i + k) % 256`.
fn images(n: usize, rows: usize, cols: usize) -> IdxArray {
    Array3::from_shape_fn((n, rows, cols), |(i, r, c)| ((i + r * cols + c) % 256) as u8).into()
}

/// `n` labels cycling through 0..=9.
fn labels(n: usize) -> IdxArray {
    Array1::from_shape_fn(n, |i| (i % 10) as u8).into()
}

/// Writes a small valid data set (5 training and 3 test images of 4×3 pixels) under the standard names.
fn write_small_set(dir: &Path, compression: Compression) {
    let gz = if compression == Compression::Gzip { ".gz" } else { "" };
    let files = [
        ("train-images-idx3-ubyte", images(5, 4, 3)),
        ("train-labels-idx1-ubyte", labels(5)),
        ("t10k-images-idx3-ubyte", images(3, 4, 3)),
        ("t10k-labels-idx1-ubyte", labels(3)),
    ];
    for (name, array) in files {
        idx::write(dir.join(format!("{name}{gz}")), &array, compression).unwrap();
    }
}

/// The `Error::Dataset` that loading `dir` gives, as (path, message).
fn dataset_error(dir: &Path) -> (PathBuf, String) {
    match Mnist::load(dir) {
        Err(Error::Dataset { path, message }) => (path, message),
        other => panic!("expected Error::Dataset, got {other:?}"),
    }
}

fn class_counts(labels: &Array1<u8>) -> [usize; 10] {
    let mut counts = [0; 10];
    labels.iter().for_each(|&l| counts[usize::from(l)] += 1);
    counts
}

#[test]
fn bundled_digits_have_the_documented_shapes_and_class_counts() {
    let mnist = Mnist::load_bundled().unwrap();
    assert_eq!(mnist.train_images.dim(), (8000, 784));
    assert_eq!(mnist.test_images.dim(), (2000, 784));
    assert_eq!((mnist.train_labels.len(), mnist.test_labels.len()), (8000, 2000));
    assert_eq!((mnist.image_rows, mnist.image_cols, mnist.image_len()), (28, 28, 784));

    // From data/mnist-10k/README.md: class counts over all 10,000 digits.
    let expected = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    let (train, test) = (class_counts(&mnist.train_labels), class_counts(&mnist.test_labels));
    let all: Vec<usize> = train.iter().zip(test).map(|(a, b)| a + b).collect();
    assert_eq!(all, expected);
}

#[test]
fn bundled_pixels_are_the_raw_bytes_divided_by_255() {
    let mnist = Mnist::load_bundled().unwrap();
    for (file, loaded) in [
        ("train-images-idx3-ubyte.gz", &mnist.train_images),
        ("t10k-images-idx3-ubyte.gz", &mnist.test_images),
    ] {
        // The bytes as flate2 gives them, without going through the IDX reader.
        let mut raw = Vec::new();
        let gz = std::fs::File::open(Mnist::bundled_dir().join(file)).unwrap();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut raw).unwrap();
        let pixels = &raw[16..];
        assert_eq!(pixels.len(), loaded.len());
        assert!(loaded.iter().all(|&p| (0.0..=1.0).contains(&p)));
        for (&byte, &value) in pixels.iter().zip(loaded.iter()) {
            assert_eq!(value, f32::from(byte) / 255.0);
        }
        // A few by position: image 1, pixel (row 14, col 14), and the full range is used.
        assert_eq!(loaded[[1, 14 * 28 + 14]], f32::from(pixels[784 + 14 * 28 + 14]) / 255.0);
        assert!(loaded.iter().any(|&p| p == 1.0) && loaded.iter().any(|&p| p == 0.0));
    }
    let labels = idx::read(Mnist::bundled_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(
        labels.into_u8().unwrap().into_raw_vec_and_offset().0,
        mnist.test_labels.to_vec()
    );
}

/// Fashion-MNIST from the Debian package `dataset-fashion-mnist`. Skipped with a note when it is not
/// installed, except in CI (`CI` set), where its absence is a failure.
#[test]
fn full_fashion_mnist_loads_with_balanced_classes() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.join("train-images-idx3-ubyte.gz").exists() && !dir.join("train-images-idx3-ubyte").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Fashion-MNIST is missing from {} in CI: install it with `apt-get install -y dataset-fashion-mnist`",
            dir.display()
        );
        eprintln!(
            "SKIPPED full_fashion_mnist_loads_with_balanced_classes: no Fashion-MNIST in {} \
             (apt-get install -y dataset-fashion-mnist)",
            dir.display()
        );
        return;
    }
    let fashion = Mnist::load(dir).unwrap();
    assert_eq!(fashion.train_images.dim(), (60_000, 784));
    assert_eq!(fashion.test_images.dim(), (10_000, 784));
    assert_eq!((fashion.image_rows, fashion.image_cols), (28, 28));
    assert_eq!(class_counts(&fashion.train_labels), [6000; 10]);
    assert_eq!(class_counts(&fashion.test_labels), [1000; 10]);
    assert!(fashion.train_images.iter().all(|&p| (0.0..=1.0).contains(&p)));
}

#[test]
fn raw_and_gzipped_files_load_alike_and_pixels_scale_to_unit_range() {
    let (raw, gz) = (scratch("raw"), scratch("gz"));
    write_small_set(&raw, Compression::Raw);
    write_small_set(&gz, Compression::Gzip);
    let mnist = Mnist::load(&raw).unwrap();
    assert_eq!(mnist, Mnist::load(&gz).unwrap());
    assert_eq!(mnist.train_images.dim(), (5, 12));
    assert_eq!(mnist.test_images.dim(), (3, 12));
    assert_eq!((mnist.image_rows, mnist.image_cols), (4, 3));
    assert_eq!(mnist.train_labels.to_vec(), [0, 1, 2, 3, 4]);
    // Image 2, pixel 5 (row 1, col 2) is byte 7.
    assert_eq!(mnist.train_images[[2, 5]], 7.0 / 255.0);
    assert_eq!(mnist.train_images[[0, 0]], 0.0);
}

#[test]
fn dotted_names_and_mixed_compression_are_found() {
    let dir = scratch("dotted");
    idx::write(dir.join("train-images.idx3-ubyte"), &images(2, 2, 2), Compression::Raw).unwrap();
    idx::write(dir.join("train-labels.idx1-ubyte.gz"), &labels(2), Compression::Gzip).unwrap();
    idx::write(
        dir.join("t10k-images-idx3-ubyte.gz"),
        &images(1, 2, 2),
        Compression::Gzip,
    )
    .unwrap();
    idx::write(dir.join("t10k-labels-idx1-ubyte"), &labels(1), Compression::Raw).unwrap();
    let mnist = Mnist::load(&dir).unwrap();
    assert_eq!((mnist.train_images.nrows(), mnist.test_images.nrows()), (2, 1));
}

#[test]
fn full_byte_range_maps_to_zero_through_one() {
    let dir = scratch("range");
    write_small_set(&dir, Compression::Raw);
    let all_bytes: Array3<u8> = Array::from_shape_fn((256, 1, 1), |(i, _, _)| i as u8);
    idx::write(dir.join("train-images-idx3-ubyte"), &all_bytes.into(), Compression::Raw).unwrap();
    idx::write(dir.join("train-labels-idx1-ubyte"), &labels(256), Compression::Raw).unwrap();
    idx::write(dir.join("t10k-images-idx3-ubyte"), &images(3, 1, 1), Compression::Raw).unwrap();
    let mnist = Mnist::load(&dir).unwrap();
    for (byte, &value) in mnist.train_images.iter().enumerate() {
        assert_eq!(value, byte as f32 / 255.0);
    }
    assert_eq!((mnist.train_images[[0, 0]], mnist.train_images[[255, 0]]), (0.0, 1.0));
}

#[test]
fn missing_folder_is_named() {
    let parent = scratch("no-folder");
    let dir = parent.join("absent");
    let (path, message) = dataset_error(&dir);
    assert_eq!(path, dir);
    assert_contains(&message, &["does not exist"]);
    let err = Mnist::load(&dir).unwrap_err().to_string();
    assert!(err.contains(&dir.display().to_string()), "{err}");
}

#[test]
fn missing_file_names_every_name_tried() {
    let dir = scratch("missing");
    write_small_set(&dir, Compression::Gzip);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let (path, message) = dataset_error(&dir);
    assert_eq!(path, *dir);
    assert_contains(
        &message,
        &[
            "missing the test labels",
            "t10k-labels-idx1-ubyte, t10k-labels-idx1-ubyte.gz, t10k-labels.idx1-ubyte, t10k-labels.idx1-ubyte.gz",
        ],
    );
}

#[test]
fn images_must_be_u8_in_three_dimensions() {
    let dir = scratch("image-type");
    write_small_set(&dir, Compression::Raw);
    let file = dir.join("train-images-idx3-ubyte");
    idx::write(&file, &Array3::<f32>::zeros((5, 4, 3)).into(), Compression::Raw).unwrap();
    let (path, message) = dataset_error(&dir);
    assert_eq!(path, file);
    assert_contains(
        &message,
        &[
            "expected images as u8 elements in 3 dimensions",
            "found f32 elements of shape [5, 4, 3]",
        ],
    );

    idx::write(&file, &Array::<u8, _>::zeros((5, 12)).into(), Compression::Raw).unwrap();
    assert_contains(
        &dataset_error(&dir).1,
        &["in 3 dimensions", "found u8 elements of shape [5, 12]"],
    );

    idx::write(&file, &Array3::<u8>::zeros((5, 0, 3)).into(), Compression::Raw).unwrap();
    assert_contains(&dataset_error(&dir).1, &["0×3 pixels"]);
}

#[test]
fn labels_must_be_u8_in_one_dimension() {
    let dir = scratch("label-type");
    write_small_set(&dir, Compression::Raw);
    let file = dir.join("t10k-labels-idx1-ubyte");
    idx::write(&file, &Array1::<i32>::zeros(3).into(), Compression::Raw).unwrap();
    let (path, message) = dataset_error(&dir);
    assert_eq!(path, file);
    assert_contains(
        &message,
        &[
            "expected labels as u8 elements in 1 dimension (count)",
            "found i32 elements of shape [3]",
        ],
    );

    idx::write(&file, &Array::<u8, _>::zeros((3, 1)).into(), Compression::Raw).unwrap();
    assert_contains(&dataset_error(&dir).1, &["found u8 elements of shape [3, 1]"]);
}

#[test]
fn image_and_label_counts_must_match() {
    let dir = scratch("counts");
    write_small_set(&dir, Compression::Raw);
    idx::write(dir.join("train-labels-idx1-ubyte"), &labels(4), Compression::Raw).unwrap();
    let (path, message) = dataset_error(&dir);
    assert_eq!(path, *dir);
    assert_contains(
        &message,
        &[
            "train-images-idx3-ubyte holds 5 images",
            "train-labels-idx1-ubyte holds 4 labels",
        ],
    );
}

#[test]
fn labels_above_nine_are_refused() {
    let dir = scratch("label-range");
    write_small_set(&dir, Compression::Raw);
    let file = dir.join("train-labels-idx1-ubyte");
    idx::write(&file, &Array1::from(vec![0u8, 9, 3, 10, 200]).into(), Compression::Raw).unwrap();
    let (path, message) = dataset_error(&dir);
    assert_eq!(path, file);
    assert_contains(&message, &["label 10 at index 3 is above 9"]);
}

#[test]
fn train_and_test_image_sizes_must_agree() {
    let dir = scratch("sizes");
    write_small_set(&dir, Compression::Raw);
    idx::write(dir.join("t10k-images-idx3-ubyte"), &images(3, 3, 4), Compression::Raw).unwrap();
    let (_, message) = dataset_error(&dir);
    assert_contains(
        &message,
        &[
            "training images (train-images-idx3-ubyte) are 4×3",
            "test images (t10k-images-idx3-ubyte) are 3×4",
        ],
    );
}

#[test]
fn a_malformed_file_is_an_idx_error_naming_it() {
    let dir = scratch("malformed");
    write_small_set(&dir, Compression::Gzip);
    let file = dir.join("t10k-images-idx3-ubyte.gz");
    std::fs::write(&file, "<html><head><title>Service Unavailable</title></head></html>").unwrap();
    match Mnist::load(&dir) {
        Err(Error::Idx {
            path: Some(path),
            message,
        }) => {
            assert_eq!(path, file);
            assert_contains(&message, &["HTML page"]);
        }
        other => panic!("expected Error::Idx naming the file, got {other:?}"),
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Mnist>();
    check::<IdxArray>();
    check::<Error>();
}

/// The `Error::Idx` that loading `dir` gives, as (path, message).
fn idx_error(dir: &Path) -> (PathBuf, String) {
    match Mnist::load(dir) {
        Err(Error::Idx {
            path: Some(path),
            message,
        }) => (path, message),
        other => panic!("expected Error::Idx naming a file, got {other:?}"),
    }
}

/// The bytes of an IDX file holding `array`, raw or gzipped.
fn idx_bytes(array: &IdxArray, compression: Compression) -> Vec<u8> {
    let mut bytes = Vec::new();
    idx::write_to(&mut bytes, array, compression).unwrap();
    bytes
}

#[test]
fn an_images_file_cut_short_or_with_trailing_bytes_is_an_idx_error_naming_it() {
    for (compression, gz, input) in [
        (Compression::Raw, "", "the input"),
        (Compression::Gzip, ".gz", "the decompressed data"),
    ] {
        let dir = scratch("images-length");
        write_small_set(&dir, compression);
        let file = dir.join(format!("train-images-idx3-ubyte{gz}"));
        // 5 images of 4×3 pixels: a 16-byte header and 60 bytes of data.
        let raw = idx_bytes(&images(5, 4, 3), Compression::Raw);
        let write = |bytes: &[u8]| match compression {
            Compression::Raw => std::fs::write(&file, bytes).unwrap(),
            Compression::Gzip => std::fs::write(&file, gzipped(bytes)).unwrap(),
        };

        write(&raw[..raw.len() - 1]);
        let (path, message) = idx_error(&dir);
        assert_eq!(path, file);
        assert_contains(
            &message,
            &[
                "data cut short: a [5, 4, 3] array of u8 needs 60 bytes of data after the 16-byte header",
                &format!("but {input} holds only 59"),
            ],
        );

        write(&[&raw[..], &[1, 2]].concat());
        let (path, message) = idx_error(&dir);
        assert_eq!(path, file);
        assert_contains(
            &message,
            &[
                "trailing bytes after the data: a [5, 4, 3] array of u8 takes 76 bytes with its header",
                &format!("but {input} has 2 more"),
            ],
        );
    }
}

/// `bytes` gzipped, as a file would be.
fn gzipped(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// An IDX header of `u8` images, `count × rows × cols`, followed by `data_len` zero bytes: a file whose header
/// claims far more than it holds.
fn claimed_images(count: u32, rows: u32, cols: u32, data_len: usize) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, 3];
    [count, rows, cols].iter().for_each(|d| bytes.extend(d.to_be_bytes()));
    bytes.resize(bytes.len() + data_len, 0);
    bytes
}

const CHILD_ENV: &str = "AUTOENCODER_MNIST_TEST_MEMORY_LIMITED";

/// The pixels are `f32`, four bytes per stored byte, so a loader that trusted the header would ask for 4 TB here
/// (and abort), or for 16 GiB in the memory-limited copy of this test.
#[test]
fn an_images_header_claiming_far_more_than_the_file_holds_fails_as_cut_short_in_little_memory() {
    let dir = scratch("huge-claim");
    write_small_set(&dir, Compression::Gzip);
    let file = dir.join("train-images-idx3-ubyte.gz");
    let claims = [
        (
            claimed_images(1_000_000, 1_000_000, 1, 100_000),
            "needs 1000000000000 bytes",
        ),
        (claimed_images(1 << 16, 1 << 16, 1, 100_000), "needs 4294967296 bytes"),
    ];
    for (bytes, needs) in claims {
        std::fs::write(&file, gzipped(&bytes)).unwrap();
        let (path, message) = idx_error(&dir);
        assert_eq!(path, file);
        assert_contains(&message, &["data cut short", needs, "holds only 100000"]);
    }
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // This is the memory-limited copy: done.
    }
    // Once more with the address space capped at 512 MiB: allocating the claimed size would abort it.
    #[cfg(unix)]
    common::pass_again_in_512_mib(
        "an_images_header_claiming_far_more_than_the_file_holds_fails_as_cut_short_in_little_memory",
        CHILD_ENV,
    );
}

#[test]
fn idx_errors_come_before_dataset_errors_in_file_order() {
    let dir = scratch("error-order");
    write_small_set(&dir, Compression::Raw);
    let train_images = dir.join("train-images-idx3-ubyte");
    let f32_images = idx_bytes(&Array3::<f32>::zeros((5, 4, 3)).into(), Compression::Raw);
    std::fs::write(&train_images, &f32_images).unwrap();
    let test_labels = dir.join("t10k-labels-idx1-ubyte");
    let labels_bytes = idx_bytes(&labels(3), Compression::Raw);
    std::fs::write(&test_labels, &labels_bytes[..labels_bytes.len() - 1]).unwrap();

    // The test labels are cut short: that comes before the training images' wrong element type.
    let (path, message) = idx_error(&dir);
    assert_eq!(path, test_labels);
    assert_contains(&message, &["data cut short"]);

    // Images of the wrong type are still checked as IDX: cut short, they are an IDX error.
    std::fs::write(&train_images, &f32_images[..f32_images.len() - 1]).unwrap();
    let (path, message) = idx_error(&dir);
    assert_eq!(path, train_images);
    assert_contains(&message, &["data cut short", "[5, 4, 3] array of f32"]);

    // Once every file is well-formed IDX, the wrong element type is the error.
    std::fs::write(&train_images, &f32_images).unwrap();
    std::fs::write(&test_labels, &labels_bytes).unwrap();
    let (path, message) = dataset_error(&dir);
    assert_eq!(path, train_images);
    assert_contains(
        &message,
        &[
            "expected images as u8 elements",
            "found f32 elements of shape [5, 4, 3]",
        ],
    );
}
