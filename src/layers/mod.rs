//! The layers a stack is made of ([`Layer`]), each with its forward and its hand-written backward side by
//! side: the dense layer ([`dense`]), the convolutions ([`Conv2d`], [`ConvTranspose2d`]) with the [`Padding`] rules,
//! the lowering onto the matrix product they share, their batches split by images across the threads (`groups`)
//! and the direct form of the last layer of a decoder (`direct`), the activations ([`activation`]) and the initialisers
//! ([`init`]). Layers know nothing of models or training: they import only `matmul`, `alloc` and [`crate::error`].

pub mod activation;
pub mod dense;
pub mod init;

mod conv2d;
mod conv_trace;
mod conv_transpose2d;
mod direct;
mod geometry;
mod groups;
mod layer;
mod patches;

pub use activation::Activation;
pub use conv2d::Conv2d;
pub use conv_trace::{ConvGradients, ConvTrace};
pub use conv_transpose2d::ConvTranspose2d;
pub use dense::{Dense, DenseGradients, DenseTrace};
pub use geometry::Padding;
pub use init::Init;
pub use layer::Layer;
pub(crate) use layer::{Below, LayerBuffers, Parts};
