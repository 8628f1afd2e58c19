//! Loading MNIST and data sets in its layout (Fashion-MNIST), from the four standard IDX files.
//!
//! [`Mnist::load`] reads a folder holding `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or gzipped (`.gz`), and also under the
//! dotted names some unpackers produce (`train-images.idx3-ubyte`). It checks that the files fit together and
//! gives the images as rows of `f32` pixels in `[0, 1]`, ready for a dense network.
//!
//! [`Mnist::load_bundled`] loads the 10,000 real digits committed in this repository (`data/mnist-10k/`).
//!
//! ```
//! use autoencoder::mnist::Mnist;
//!
//! # fn main() -> autoencoder::Result<()> {
//! let mnist = Mnist::load_bundled()?;
//! assert_eq!(mnist.train_images.dim(), (8000, 28 * 28));
//! assert_eq!(mnist.test_labels.len(), 2000);
//! assert_eq!((mnist.image_rows, mnist.image_cols), (28, 28));
//! assert!(mnist.train_images.iter().all(|&p| (0.0..=1.0).contains(&p)));
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayD, Ix1, Ix3};

use crate::error::{Error, Result};
use crate::idx::{self, IdxArray};

/// A data set in the MNIST layout: training and test images with their labels.
///
/// Image `i` is row `i` of `train_images` (or `test_images`): `image_rows * image_cols` pixels in row-major
/// order, each the stored byte divided by 255. Its class, `0..=9`, is `train_labels[i]` (or `test_labels[i]`).
///
/// ```
/// use autoencoder::mnist::Mnist;
/// let mnist = Mnist::load_bundled()?;
/// let (first, label) = (mnist.train_images.row(0), mnist.train_labels[0]);
/// assert_eq!((first.len(), label <= 9), (mnist.image_len(), true));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    /// Training images, shape `(n_train, image_rows * image_cols)`, pixels in `[0, 1]`.
    pub train_images: Array2<f32>,
    /// Training labels, shape `(n_train)`, each in `0..=9`.
    pub train_labels: Array1<u8>,
    /// Test images, shape `(n_test, image_rows * image_cols)`, pixels in `[0, 1]`.
    pub test_images: Array2<f32>,
    /// Test labels, shape `(n_test)`, each in `0..=9`.
    pub test_labels: Array1<u8>,
    /// The height of every image in pixels (28 for MNIST).
    pub image_rows: usize,
    /// The width of every image in pixels (28 for MNIST).
    pub image_cols: usize,
}

/// One of the four files: its standard stem and suffix, and what it holds (for messages).
struct Part {
    stem: &'static str,
    suffix: &'static str,
    what: &'static str,
}

const TRAIN_IMAGES: Part = Part {
    stem: "train-images",
    suffix: "idx3-ubyte",
    what: "training images",
};
const TRAIN_LABELS: Part = Part {
    stem: "train-labels",
    suffix: "idx1-ubyte",
    what: "training labels",
};
const TEST_IMAGES: Part = Part {
    stem: "t10k-images",
    suffix: "idx3-ubyte",
    what: "test images",
};
const TEST_LABELS: Part = Part {
    stem: "t10k-labels",
    suffix: "idx1-ubyte",
    what: "test labels",
};

impl Part {
    /// The names tried, in order: standard, standard gzipped, dotted, dotted gzipped.
    fn names(&self) -> [String; 4] {
        let (stem, suffix) = (self.stem, self.suffix);
        [
            format!("{stem}-{suffix}"),
            format!("{stem}-{suffix}.gz"),
            format!("{stem}.{suffix}"),
            format!("{stem}.{suffix}.gz"),
        ]
    }

    /// The first of [`Part::names`] that is a file in `dir`.
    fn find(&self, dir: &Path) -> Result<PathBuf> {
        let names = self.names();
        names
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
            .ok_or_else(|| Error::Dataset {
                path: dir.to_path_buf(),
                message: format!(
                    "missing the {}: tried {}, and none is a file there",
                    self.what,
                    names.join(", ")
                ),
            })
    }
}

/// The number of classes, and one more than the largest label.
const CLASSES: u8 = 10;

impl Mnist {
    /// Loads the four files of a data set in the MNIST layout from `dir`, raw or gzipped.
    ///
    /// Works unchanged on Fashion-MNIST (for example `/usr/share/datasets/fashion-mnist/`, from the Debian
    /// package `dataset-fashion-mnist`). The four files are read in parallel.
    ///
    /// # Errors
    /// [`Error::Dataset`] if the folder or a file is missing (the message lists the names tried), if images are
    /// not `u8` with 3 dimensions or labels not `u8` with 1 dimension, if a file's image and label counts differ,
    /// if a label is above 9, or if training and test images differ in size; [`Error::Idx`] or [`Error::Io`]
    /// (naming the file) if a file cannot be read as IDX.
    ///
    /// ```
    /// use autoencoder::mnist::Mnist;
    ///
    /// # fn main() -> autoencoder::Result<()> {
    /// // Full Fashion-MNIST would be `Mnist::load("/usr/share/datasets/fashion-mnist")`.
    /// let mnist = Mnist::load(Mnist::bundled_dir())?;
    /// assert_eq!(mnist.train_images.ncols(), mnist.image_len());
    ///
    /// let err = Mnist::load("no/such/folder").unwrap_err();
    /// assert!(err.to_string().contains("does not exist"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(dir: impl AsRef<Path>) -> Result<Mnist> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            let problem = if dir.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            return Err(Error::Dataset {
                path: dir.to_path_buf(),
                message: format!(
                    "the folder {problem}; it should hold the four MNIST files ({} and the other three)",
                    TRAIN_IMAGES.names()[0]
                ),
            });
        }
        let paths = [
            TRAIN_IMAGES.find(dir)?,
            TRAIN_LABELS.find(dir)?,
            TEST_IMAGES.find(dir)?,
            TEST_LABELS.find(dir)?,
        ];
        let [train_images, train_labels, test_images, test_labels] = read_all(paths)?;

        let train_images = images(train_images)?;
        let test_images = images(test_images)?;
        let train_labels = labels(train_labels)?;
        let test_labels = labels(test_labels)?;
        for (images, labels) in [(&train_images, &train_labels), (&test_images, &test_labels)] {
            if images.pixels.dim().0 != labels.labels.len() {
                return Err(Error::Dataset {
                    path: dir.to_path_buf(),
                    message: format!(
                        "{} holds {} images but {} holds {} labels; they should match one to one",
                        file_name(&images.path),
                        images.pixels.dim().0,
                        file_name(&labels.path),
                        labels.labels.len()
                    ),
                });
            }
        }
        let (rows, cols) = (train_images.pixels.dim().1, train_images.pixels.dim().2);
        let test_size = (test_images.pixels.dim().1, test_images.pixels.dim().2);
        if test_size != (rows, cols) {
            return Err(Error::Dataset {
                path: dir.to_path_buf(),
                message: format!(
                    "the training images ({}) are {rows}×{cols} pixels but the test images ({}) are {}×{}",
                    file_name(&train_images.path),
                    file_name(&test_images.path),
                    test_size.0,
                    test_size.1
                ),
            });
        }

        Ok(Mnist {
            train_images: train_images.to_rows()?,
            train_labels: train_labels.labels,
            test_images: test_images.to_rows()?,
            test_labels: test_labels.labels,
            image_rows: rows,
            image_cols: cols,
        })
    }

    /// Loads the 10,000 real MNIST digits bundled with this crate's source: 8,000 for training, 2,000 for test.
    ///
    /// Meant for the examples and tests of this repository: the folder is found through the path the crate was
    /// compiled from ([`Mnist::bundled_dir`]), so a program moved away from its source tree cannot use it. See
    /// `data/mnist-10k/README.md` for the provenance and the CC BY-SA 3.0 attribution.
    ///
    /// # Errors
    /// As [`Mnist::load`], if the bundled files are missing or damaged.
    ///
    /// ```
    /// use autoencoder::mnist::Mnist;
    ///
    /// # fn main() -> autoencoder::Result<()> {
    /// let digits = Mnist::load_bundled()?;
    /// assert_eq!(digits.train_labels.len(), 8000);
    /// # Ok(())
    /// # }
    /// ```
    pub fn load_bundled() -> Result<Mnist> {
        Mnist::load(Mnist::bundled_dir())
    }

    /// The folder of the bundled digits, `data/mnist-10k/` in this crate's source tree (fixed at compile time).
    ///
    /// ```
    /// let dir = autoencoder::mnist::Mnist::bundled_dir();
    /// assert!(dir.join("train-images-idx3-ubyte.gz").is_file());
    /// ```
    pub fn bundled_dir() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"))
    }

    /// The number of pixels in one image, `image_rows * image_cols`: the width of the image matrices.
    ///
    /// ```
    /// let mnist = autoencoder::mnist::Mnist::load_bundled()?;
    /// assert_eq!(mnist.image_len(), 28 * 28);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn image_len(&self) -> usize {
        self.image_rows * self.image_cols
    }
}

/// Reads the four files in parallel; the first error in file order wins.
fn read_all(paths: [PathBuf; 4]) -> Result<[(PathBuf, IdxArray); 4]> {
    let arrays = std::thread::scope(|scope| {
        let readers = paths.each_ref().map(|path| scope.spawn(move || idx::read(path)));
        readers.map(|reader| reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    let [a, b, c, d] = arrays;
    let [pa, pb, pc, pd] = paths;
    Ok([(pa, a?), (pb, b?), (pc, c?), (pd, d?)])
}

/// Checked images: `(count, rows, cols)` bytes.
struct Images {
    path: PathBuf,
    pixels: ndarray::Array3<u8>,
}

/// Checked labels, each in `0..CLASSES`.
struct Labels {
    path: PathBuf,
    labels: Array1<u8>,
}

/// Checks that `array` holds `u8` images: 3 dimensions, none of the two image sides zero.
fn images((path, array): (PathBuf, IdxArray)) -> Result<Images> {
    let pixels = as_u8(&path, array, 3, "images", "(count, rows, cols)")?.into_dimensionality::<Ix3>();
    let pixels = pixels.map_err(|e| dataset(&path, e.to_string()))?;
    let (_, rows, cols) = pixels.dim();
    if rows == 0 || cols == 0 {
        return Err(dataset(
            &path,
            format!("the images are {rows}×{cols} pixels: they have no pixels"),
        ));
    }
    Ok(Images { path, pixels })
}

/// Checks that `array` holds `u8` labels: 1 dimension, each at most 9.
fn labels((path, array): (PathBuf, IdxArray)) -> Result<Labels> {
    let labels = as_u8(&path, array, 1, "labels", "(count)")?.into_dimensionality::<Ix1>();
    let labels = labels.map_err(|e| dataset(&path, e.to_string()))?;
    if let Some((index, label)) = labels.iter().enumerate().find(|(_, &label)| label >= CLASSES) {
        return Err(dataset(
            &path,
            format!(
                "label {label} at index {index} is above {}: MNIST labels are the classes 0 to 9",
                CLASSES - 1
            ),
        ));
    }
    Ok(Labels { path, labels })
}

/// The `u8` array of `ndim` dimensions in `array`, or an error saying what the file holds instead.
fn as_u8(path: &Path, array: IdxArray, ndim: usize, what: &str, dims: &str) -> Result<ArrayD<u8>> {
    if array.as_u8().is_none() || array.ndim() != ndim {
        return Err(dataset(
            path,
            format!(
                "expected {what} as u8 elements in {ndim} dimension{} {dims}, found {} elements of shape {:?}",
                if ndim == 1 { "" } else { "s" },
                array.element_type(),
                array.shape()
            ),
        ));
    }
    array.into_u8()
}

impl Images {
    /// One image per row, each pixel the byte divided by 255.
    fn to_rows(&self) -> Result<Array2<f32>> {
        let (count, rows, cols) = self.pixels.dim();
        let value_of_byte: [f32; 256] = std::array::from_fn(|byte| byte as f32 / 255.0);
        let data: Vec<f32> = self
            .pixels
            .iter()
            .map(|&byte| value_of_byte[usize::from(byte)])
            .collect();
        Array2::from_shape_vec((count, rows * cols), data).map_err(|e| dataset(&self.path, e.to_string()))
    }
}

fn dataset(path: &Path, message: String) -> Error {
    Error::Dataset {
        path: path.to_path_buf(),
        message,
    }
}

/// The last component of `path`, for messages that name two files of one folder.
fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}
