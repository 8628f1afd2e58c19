//! A chain of layers whose sizes agree: what an [`Encoder`](crate::Encoder) and a [`Decoder`](crate::Decoder)
//! are made of.

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::layers::Layer;

/// Layers where each one's outputs equal the next one's inputs; never empty.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stack {
    layers: Vec<Layer>,
}

impl Stack {
    /// Checks that `layers` is not empty and that consecutive sizes agree; `what` names the stack in errors.
    pub(crate) fn new(layers: Vec<Layer>, what: &str) -> Result<Stack> {
        if layers.is_empty() {
            return Err(Error::InvalidArgument(format!("{what} needs at least one layer")));
        }
        for (i, pair) in layers.windows(2).enumerate() {
            if pair[0].outputs() != pair[1].inputs() {
                return Err(Error::shape(
                    format!("{what}: layer {} inputs (after layer {i})", i + 1),
                    format!("{} (layer {i}'s outputs)", pair[0].outputs()),
                    pair[1].inputs(),
                ));
            }
        }
        Ok(Stack { layers })
    }

    pub(crate) fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub(crate) fn layers_mut(&mut self) -> &mut [Layer] {
        &mut self.layers
    }

    pub(crate) fn into_layers(self) -> Vec<Layer> {
        self.layers
    }

    pub(crate) fn inputs(&self) -> usize {
        self.layers[0].inputs()
    }

    pub(crate) fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs()
    }

    /// The output for a batch `x`, for inference; `context` names the call in errors.
    pub(crate) fn forward(&self, x: ArrayView2<f32>, context: &str) -> Result<Array2<f32>> {
        if x.ncols() != self.inputs() {
            return Err(Error::shape(
                context,
                format!("{} columns", self.inputs()),
                format!("{} columns", x.ncols()),
            ));
        }
        let mut output = self.layers[0].forward(x)?;
        for layer in &self.layers[1..] {
            output = layer.forward(output.view())?;
        }
        Ok(output)
    }
}
