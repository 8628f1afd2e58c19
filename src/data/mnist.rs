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

use ndarray::{Array1, Array2, Ix1};

use crate::data::idx::{self, ElementType, IdxArray, IdxStream};
use crate::error::{Error, Result};

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
        let (train_images, train_labels, test_images, test_labels) = read_all(paths)?;

        let train_images = images(train_images)?;
        let test_images = images(test_images)?;
        let train_labels = labels(train_labels)?;
        let test_labels = labels(test_labels)?;
        for (images, labels) in [(&train_images, &train_labels), (&test_images, &test_labels)] {
            if images.count != labels.labels.len() {
                return Err(Error::Dataset {
                    path: dir.to_path_buf(),
                    message: format!(
                        "{} holds {} images but {} holds {} labels; they should match one to one",
                        file_name(&images.path),
                        images.count,
                        file_name(&labels.path),
                        labels.labels.len()
                    ),
                });
            }
        }
        let (rows, cols) = (train_images.rows, train_images.cols);
        let test_size = (test_images.rows, test_images.cols);
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
            train_images: train_images.into_rows()?,
            train_labels: train_labels.labels,
            test_images: test_images.into_rows()?,
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
///
/// Each images file goes straight into its `f32` pixels (see [`read_images`]), so that loading never holds a
/// file's bytes beside its pixels: the peak is the pixels plus a few buffers of 64 KiB per file.
fn read_all(paths: [PathBuf; 4]) -> Result<(ImagesFile, LabelsFile, ImagesFile, LabelsFile)> {
    let [train_images, train_labels, test_images, test_labels] = paths;
    let (a, b, c, d) = std::thread::scope(|scope| {
        let a = scope.spawn(|| read_images(train_images));
        let b = scope.spawn(|| read_labels(train_labels));
        let c = scope.spawn(|| read_images(test_images));
        let d = read_labels(test_labels);
        (joined(a), joined(b), joined(c), d)
    });
    Ok((a?, b?, c?, d?))
}

/// The result of a scoped thread, its panic (if any) passed on.
fn joined<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// An images file as read, before the checks of [`images`].
enum ImagesFile {
    /// `u8` elements in 3 dimensions, `(count, rows, cols)`: the pixels, each byte divided by 255.
    Pixels {
        path: PathBuf,
        shape: [usize; 3],
        pixels: Vec<f32>,
    },
    /// Any other element type or number of dimensions: only what the header declares, for the message.
    Other {
        path: PathBuf,
        element_type: ElementType,
        shape: Vec<usize>,
    },
}

/// A labels file as read, before the checks of [`labels`].
struct LabelsFile {
    path: PathBuf,
    array: IdxArray,
}

/// Reads an images file, converting its bytes to `f32` pixels a chunk at a time as they are decompressed.
///
/// The pixel buffer grows only as bytes arrive (doubling, up to what the header declares), like the IDX
/// reader's, so a header claiming more than the file holds fails as cut short without allocating the claim.
/// A file of another element type or shape is still read through, so that its IDX errors come first, as for
/// any file.
fn read_images(path: PathBuf) -> Result<ImagesFile> {
    let stream = IdxStream::open(&path)?;
    let (element_type, shape) = (stream.element_type(), stream.shape().to_vec());
    let (ElementType::U8, &[count, rows, cols]) = (element_type, &shape[..]) else {
        stream.for_each_chunk(|_| {})?;
        return Ok(ImagesFile::Other {
            path,
            element_type,
            shape,
        });
    };
    let len = stream.data_len();
    let mut pixels: Vec<f32> = Vec::new();
    stream.for_each_chunk(|bytes| {
        if pixels.capacity() - pixels.len() < bytes.len() {
            // The stream never hands over more than `len` bytes in all, so this grows by at least `bytes.len()`.
            pixels.reserve_exact(pixels.len().max(bytes.len()).min(len - pixels.len()));
        }
        pixels.extend(bytes.iter().map(|&byte| pixel_value(byte)));
    })?;
    Ok(ImagesFile::Pixels {
        path,
        shape: [count, rows, cols],
        pixels,
    })
}

/// The value of a pixel stored as `byte`: the byte divided by 255, in `[0, 1]`.
fn pixel_value(byte: u8) -> f32 {
    f32::from(byte) / 255.0
}

/// Reads a labels file whole (it is small: one byte per image).
fn read_labels(path: PathBuf) -> Result<LabelsFile> {
    let array = idx::read(&path)?;
    Ok(LabelsFile { path, array })
}

/// Checked images: `count` images of `rows × cols` pixels, each pixel the byte divided by 255.
struct Images {
    path: PathBuf,
    count: usize,
    rows: usize,
    cols: usize,
    pixels: Vec<f32>,
}

/// Checked labels, each in `0..CLASSES`.
struct Labels {
    path: PathBuf,
    labels: Array1<u8>,
}

/// Checks that the file holds `u8` images: 3 dimensions, none of the two image sides zero.
fn images(file: ImagesFile) -> Result<Images> {
    let (path, [count, rows, cols], pixels) = match file {
        ImagesFile::Pixels { path, shape, pixels } => (path, shape, pixels),
        ImagesFile::Other {
            path,
            element_type,
            shape,
        } => return Err(not_u8(&path, element_type, &shape, 3, "images", "(count, rows, cols)")),
    };
    if rows == 0 || cols == 0 {
        return Err(dataset(
            &path,
            format!("the images are {rows}×{cols} pixels: they have no pixels"),
        ));
    }
    Ok(Images {
        path,
        count,
        rows,
        cols,
        pixels,
    })
}

/// Checks that the file holds `u8` labels: 1 dimension, each at most 9.
fn labels(file: LabelsFile) -> Result<Labels> {
    let LabelsFile { path, array } = file;
    if array.element_type() != ElementType::U8 || array.ndim() != 1 {
        return Err(not_u8(
            &path,
            array.element_type(),
            array.shape(),
            1,
            "labels",
            "(count)",
        ));
    }
    let labels = array.into_u8()?.into_dimensionality::<Ix1>();
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

/// The error for a file whose elements are not `u8` in `ndim` dimensions: what was expected, and what it holds.
fn not_u8(path: &Path, element_type: ElementType, shape: &[usize], ndim: usize, what: &str, dims: &str) -> Error {
    dataset(
        path,
        format!(
            "expected {what} as u8 elements in {ndim} dimension{} {dims}, found {element_type} elements of shape \
             {shape:?}",
            if ndim == 1 { "" } else { "s" },
        ),
    )
}

impl Images {
    /// One image per row.
    fn into_rows(self) -> Result<Array2<f32>> {
        Array2::from_shape_vec((self.count, self.rows * self.cols), self.pixels)
            .map_err(|e| dataset(&self.path, e.to_string()))
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
