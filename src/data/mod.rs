//! Data sets and pictures: the IDX file format ([`idx`]) and MNIST in it ([`mnist`]); PNG pictures read into
//! arrays ([`png`](mod@png)), cut into patches and stitched back ([`patches`]), and converted between colour
//! spaces ([`colour`]). Data loaders know nothing of the network: they give arrays, and import only
//! [`crate::error`] and [`crate::io`]'s atomic file writing.

pub mod colour;
pub mod idx;
pub mod mnist;
pub mod patches;
pub mod png;

pub use idx::IdxArray;
pub use mnist::Mnist;
