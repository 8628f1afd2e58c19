//! A chain of layers whose sizes agree: what an [`Encoder`](crate::Encoder) and a [`Decoder`](crate::Decoder)
//! are made of.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::alloc::try_zeros_2d;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::models::inference;

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

    /// The output for a batch `x`, for inference; `call` names the call and what its input's columns are, in
    /// errors. Through [`inference::infer_into`]: a large batch in slices of rows, a small one on the calling
    /// thread.
    pub(crate) fn forward(&self, x: ArrayView2<f32>, call: (&str, &str)) -> Result<Array2<f32>> {
        let mut output = try_zeros_2d((x.nrows(), self.outputs()), &format!("{}'s output", call.0))?;
        self.forward_into(x, output.view_mut(), call)?;
        Ok(output)
    }

    /// [`forward`](Self::forward) into `output` (`(x.nrows(), outputs)`); allocates nothing for a dense stack
    /// once the calling thread's scratch has grown to it.
    pub(crate) fn forward_into(
        &self,
        x: ArrayView2<f32>,
        output: ArrayViewMut2<f32>,
        call: (&str, &str),
    ) -> Result<()> {
        inference::infer_into((&self.layers, &[]), x, output, call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Activation, Conv2d, ConvTranspose2d, Dense, Init, Padding};
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn a_large_batch_in_slices_gives_the_same_bits_as_one_pass() {
        let mut rng = StdRng::seed_from_u64(5);
        let conv = Conv2d::new(
            (64, 64, 1),
            8,
            (3, 3),
            1,
            Padding::Same,
            Activation::Relu,
            Init::HeUniform,
            &mut rng,
        );
        let back = ConvTranspose2d::new(
            (64, 64, 8),
            1,
            (3, 3),
            1,
            Padding::Same,
            Activation::Sigmoid,
            Init::GlorotUniform,
            &mut rng,
        );
        let dense = Dense::new(4096, 16, Activation::Identity, Init::GlorotUniform, &mut rng);
        let stack = Stack::new(
            vec![conv.unwrap().into(), back.unwrap().into(), dense.unwrap().into()],
            "test",
        )
        .unwrap();
        // 64 * 64 * 8 outputs: 64 rows per pass, so 150 rows take three passes, the last one short
        assert_eq!(inference::rows_per_pass(64 * 64 * 8), 64);
        let x = Array2::from_shape_fn((150, 4096), |(i, j)| ((i * 7 + j * 3) % 13) as f32 / 13.0);
        let sliced = stack.forward(x.view(), ("test", "input")).unwrap();
        let mut one_pass = x.clone();
        for layer in stack.layers() {
            one_pass = layer.forward(one_pass.view()).unwrap();
        }
        assert_eq!(sliced, one_pass);
        assert_eq!(sliced.dim(), (150, 16));
    }
}
