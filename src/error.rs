//! The crate's one error type and its `Result` alias.
//!
//! Every fallible call in `autoencoder` returns [`Result<T>`]. The variants carry what was wrong and where
//! (the file, the expected and the found value), so that the `Display` message alone tells a user what to fix.
//!
//! ```
//! use autoencoder::Error;
//! let err = Error::Shape {
//!     context: "encode".into(),
//!     expected: "784 columns".into(),
//!     found: "10 columns".into(),
//! };
//! assert_eq!(err.to_string(), "shape mismatch in encode: expected 784 columns, found 10 columns");
//! ```

use std::path::PathBuf;

/// `std::result::Result` with the crate's [`Error`] as its default error type (so that `Result<T, E>` keeps
/// working after `use autoencoder::*;` or the prelude).
///
/// ```
/// fn latent_size() -> autoencoder::Result<usize> {
///     Ok(autoencoder::Autoencoder::builder(784).latent(16).build()?.latent())
/// }
/// assert_eq!(latent_size().unwrap(), 16);
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `autoencoder`.
///
/// ```
/// use autoencoder::{Autoencoder, Error};
/// use autoencoder::ndarray::Array2;
/// let ae = Autoencoder::builder(784).latent(16).build()?;
/// match ae.encode(Array2::zeros((1, 10)).view()) {
///     Err(Error::Shape { expected, found, .. }) => assert_eq!((expected.as_str(), found.as_str()), ("784 columns", "10 columns")),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that was being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An I/O error on a stream that has no file name.
    #[error("I/O error: {0}")]
    Stream(#[from] std::io::Error),

    /// Malformed IDX data: the message names the problem (bad magic, data cut short, ...).
    #[error("malformed IDX data{}: {message}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Idx {
        /// The file, when the data came from one.
        path: Option<PathBuf>,
        /// What is wrong with it.
        message: String,
    },

    /// A PNG file or buffer that cannot be decoded (not a PNG, cut short, corrupt, too large, an unsupported
    /// kind): the message names the problem.
    #[error("malformed PNG{}: {message}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Png {
        /// The file, when the data came from one.
        path: Option<PathBuf>,
        /// What is wrong with it.
        message: String,
    },

    /// A data set (MNIST, Fashion-MNIST) that is missing files or whose contents do not fit together.
    #[error("data set in {}: {message}", path.display())]
    Dataset {
        /// The folder or file concerned.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// Arrays whose shapes do not fit the operation.
    #[error("shape mismatch in {context}: expected {expected}, found {found}")]
    Shape {
        /// The operation that was given the wrong shape.
        context: String,
        /// The shape it needed.
        expected: String,
        /// The shape it was given.
        found: String,
    },

    /// A parameter or configuration that cannot work (an empty layer list, a zero batch size, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The loss, a gradient or the update turned NaN or infinite during training; the model keeps the weights,
    /// and the optimizer its state, from before that step. (Batch 0 with `what` = `validation loss`: the epoch's
    /// validation loss, after its last step.)
    #[error("{}", diverged_message(*epoch, *batch, what, *value))]
    Diverged {
        /// The epoch (1-based) in which training diverged.
        epoch: usize,
        /// The batch (1-based) within that epoch; 0 for the validation after the epoch.
        batch: usize,
        /// What turned non-finite: `loss`, `gradient`, `update` (see [`Error::NonFinite`]) or `validation loss`.
        what: &'static str,
        /// The non-finite value.
        value: f32,
    },

    /// A training step met a NaN or infinite loss or gradient, or an update that would have made a weight or the
    /// optimizer's state NaN or infinite; it changed neither the weights nor the optimizer's state.
    #[error("non-finite {what} ({value}): the step was not applied and the weights are unchanged; try a smaller learning rate, or look for NaN or infinite values in the data")]
    NonFinite {
        /// What turned non-finite: `loss`, `gradient`, or `update` (the optimizer's update of a weight or of its
        /// own state; it was undone, the weights and the state put back bit for bit).
        what: &'static str,
        /// The offending value.
        value: f32,
    },

    /// A model or checkpoint file that cannot be loaded: corrupt, truncated, or holding tensors that do not
    /// make a model.
    #[error("model file {}: {message}", path.display())]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// An image could not be encoded as PNG.
    #[error("PNG image {}: {message}", path.display())]
    Image {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn diverged_message(epoch: usize, batch: usize, what: &str, value: f32) -> String {
    if batch == 0 {
        format!(
            "training diverged at epoch {epoch}: the {what} is {value}; look for NaN or infinite values in the \
             validation data, or try a smaller learning rate"
        )
    } else {
        format!(
            "training diverged at epoch {epoch}, batch {batch}: the {what} is {value}; the weights from before this \
             step were kept (try a smaller learning rate, or look for NaN or infinite values in the data)"
        )
    }
}

impl Error {
    /// Builds an [`Error::Shape`] from anything printable.
    pub(crate) fn shape(
        context: impl Into<String>,
        expected: impl std::fmt::Display,
        found: impl std::fmt::Display,
    ) -> Error {
        Error::Shape {
            context: context.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// Builds an [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
