//! What a dense layer's forward does to its product once the sums are complete: `out = act(out + bias)`, applied
//! by the kernel to each group of rows it has just finished, while they are still in L1, instead of in a sweep of
//! its own over the whole output afterwards (a second pass over memory, and a second hand-over to the threads).
//!
//! The arithmetic is the sweep's own ([`sweeps::bias_activation_on_this_thread`]), element by element, so the
//! result is the same bits as the product followed by the sweep.

use std::ops::Range;

use ndarray::{ArrayView1, ArrayViewMut2};

use crate::layers::dense::sweeps;
use crate::layers::Activation;

/// `out = act(out + bias)`, for the rows of a product's output: `bias` has one value per column of the output (or
/// of the block of columns this part of the product computes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BiasActivation<'a> {
    bias: &'a [f32],
    activation: Activation,
}

impl<'a> BiasActivation<'a> {
    /// The bias and activation of a layer whose output has `bias.len()` columns.
    pub(crate) fn new(bias: &'a [f32], activation: Activation) -> Self {
        BiasActivation { bias, activation }
    }

    /// The columns of the output it is for.
    pub(super) fn width(self) -> usize {
        self.bias.len()
    }

    /// The same for the block `columns` of the output (as a block of columns of a product is computed apart).
    pub(super) fn for_columns(self, columns: Range<usize>) -> Self {
        BiasActivation {
            bias: &self.bias[columns],
            ..self
        }
    }

    /// Applies it to `rows` (a few rows of the output, or all of it; as many columns as the bias), on the calling
    /// thread.
    ///
    /// Through the sweep's own vector context, a function of its own: inlined in the kernel, the sigmoid's loop
    /// was left scalar by the compiler, and took a third of a reconstruction's time.
    #[inline(never)]
    pub(super) fn apply_on_this_thread(self, rows: ArrayViewMut2<f32>) {
        sweeps::bias_activation_on_this_thread(rows, None, ArrayView1::from(self.bias), self.activation)
    }

    /// Applies it to the whole output in a sweep of its own, split across the threads where that pays: for the
    /// products that cannot apply it as they go (a few rows read in place, no vector kernel).
    pub(super) fn apply_across_threads(self, out: ArrayViewMut2<f32>) {
        sweeps::bias_activation(out, None, ArrayView1::from(self.bias), self.activation)
    }
}
