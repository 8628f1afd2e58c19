//! Data sets: the IDX file format ([`idx`]) and MNIST in it ([`mnist`]). Data loaders know nothing of the
//! network: they give arrays, and import only [`crate::error`] and [`crate::io`]'s atomic file writing.

pub mod idx;
pub mod mnist;

pub use idx::IdxArray;
pub use mnist::Mnist;
