//! The layers a stack is made of ([`Layer`]), each with its forward and its hand-written backward side by
//! side: the convolutions ([`Conv2d`], [`ConvTranspose2d`]) with the [`Padding`] rules and the lowering onto the matrix
//! product they share. (The dense layer and the activations are in [`crate::dense`] and [`crate::activation`].)

mod conv2d;
mod conv_trace;
mod conv_transpose2d;
mod geometry;
mod layer;
mod patches;

pub use conv2d::Conv2d;
pub use conv_trace::{ConvGradients, ConvTrace};
pub use conv_transpose2d::ConvTranspose2d;
pub use geometry::Padding;
pub use layer::Layer;
pub(crate) use layer::LayerBuffers;
