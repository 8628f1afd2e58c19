//! The buffers of a training step, made once and reused, so that a step allocates nothing.
//!
//! For a chain of `L` layers and a batch of `n ≤ capacity` rows, layer `i` has:
//!
//! | buffer | shape | holds |
//! |---|---|---|
//! | `outputs[i]` | `(capacity, outputs_i)` | `y_i`, the layer's output (the next layer's input) |
//! | `pre_activations[i]` | `(capacity, outputs_i)`, or empty | `z_i`, only for activations whose derivative needs it |
//! | `grads[i]` | `(capacity, outputs_i)` | `dL/dy_i`, turned into `dL/dz_i` in place by backward |
//! | `weight_grads[i]`, `bias_grads[i]` | the parameters' shapes | `dL/dW_i`, `dL/db_i` |
//!
//! A batch smaller than the capacity (the last one of an epoch) uses the first `n` rows of each buffer.

use ndarray::{s, Array1, Array2, ArrayView2};

use crate::matmul::{join, line_aligned_zeros, on_pool};
use crate::optim::max_magnitude;
use crate::snapshot::Snapshot;
use crate::{Dense, Error, Loss, Optimizer, Result};

/// A chain of layers seen as one: the encoder's, then the decoder's.
#[derive(Clone, Copy)]
pub(crate) struct Chain<'a> {
    pub(crate) first: &'a [Dense],
    pub(crate) second: &'a [Dense],
}

impl<'a> Chain<'a> {
    fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    fn layer(&self, i: usize) -> &'a Dense {
        match i.checked_sub(self.first.len()) {
            None => &self.first[i],
            Some(j) => &self.second[j],
        }
    }
}

/// Training buffers for one chain of layers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Workspace {
    capacity: usize,
    outputs: Vec<Array2<f32>>,
    pre_activations: Vec<Array2<f32>>,
    grads: Vec<Array2<f32>>,
    weight_grads: Vec<Array2<f32>>,
    bias_grads: Vec<Array1<f32>>,
    /// Per optimizer slot (layer `i`'s weights `2i`, its bias `2i + 1`): the largest `|gradient|`.
    grad_max: Vec<f32>,
    /// The parameters and optimizer state before a step that the optimizer's bounds cannot vouch for.
    snapshot: Snapshot,
}

impl Workspace {
    /// Makes sure the buffers fit `chain` and a batch of `batch` rows; allocates only when they do not.
    pub(crate) fn prepare(&mut self, chain: Chain<'_>, batch: usize) {
        let fits = self.capacity >= batch
            && self.outputs.len() == chain.len()
            && (0..chain.len()).all(|i| {
                let layer = chain.layer(i);
                self.weight_grads[i].dim() == (layer.inputs(), layer.outputs())
                    && (self.pre_activations[i].nrows() > 0) == layer.activation().needs_pre_activation()
            });
        if fits {
            return;
        }
        let capacity = batch.max(self.capacity);
        let layers = (0..chain.len()).map(|i| chain.layer(i));
        *self = Workspace {
            capacity,
            outputs: layers
                .clone()
                .map(|l| line_aligned_zeros(capacity, l.outputs()))
                .collect(),
            pre_activations: layers
                .clone()
                .map(|l| {
                    let rows = if l.activation().needs_pre_activation() {
                        capacity
                    } else {
                        0
                    };
                    line_aligned_zeros(rows, l.outputs())
                })
                .collect(),
            grads: layers
                .clone()
                .map(|l| line_aligned_zeros(capacity, l.outputs()))
                .collect(),
            weight_grads: layers
                .clone()
                .map(|l| line_aligned_zeros(l.inputs(), l.outputs()))
                .collect(),
            bias_grads: layers.map(|l| Array1::zeros(l.outputs())).collect(),
            grad_max: vec![0.0; 2 * chain.len()],
            snapshot: Snapshot::default(),
        };
    }

    /// The loss of `chain` on `input` against `target`, with every layer's `dL/dW` and `dL/db` stored: forward,
    /// loss, backward. Errors with [`Error::NonFinite`] when the loss (then before backward) or a gradient is NaN
    /// or infinite.
    ///
    /// All of it runs in one hand-over to the crate's thread pool, rather than one per pass or per product.
    pub(crate) fn gradients(
        &mut self,
        chain: Chain<'_>,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        loss: Loss,
    ) -> Result<f32> {
        on_pool(|| {
            self.forward(chain, input);
            let value = self.loss(chain, loss, target)?;
            if !value.is_finite() {
                return Err(Error::NonFinite { what: "loss", value });
            }
            self.backward(chain, input);
            match self.scan_gradients() {
                Some(value) => Err(Error::NonFinite {
                    what: "gradient",
                    value,
                }),
                None => Ok(value),
            }
        })
    }

    /// Runs the chain forward on `input` (`n` rows), keeping every layer's output.
    fn forward(&mut self, chain: Chain<'_>, input: ArrayView2<f32>) {
        let n = input.nrows();
        for i in 0..chain.len() {
            let layer = chain.layer(i);
            let (before, after) = self.outputs.split_at_mut(i);
            let x = match i {
                0 => input,
                _ => before[i - 1].slice(s![..n, ..]),
            };
            let pre = layer
                .activation()
                .needs_pre_activation()
                .then(|| self.pre_activations[i].slice_mut(s![..n, ..]));
            layer.forward_into(x, pre, after[0].slice_mut(s![..n, ..]));
        }
    }

    /// The loss of the last forward pass against `target`, with its gradient stored as the last layer's `dL/dy`.
    fn loss(&mut self, chain: Chain<'_>, loss: Loss, target: ArrayView2<f32>) -> Result<f32> {
        let (n, last) = (target.nrows(), chain.len() - 1);
        loss.value_and_gradient_into(
            self.outputs[last].slice(s![..n, ..]),
            target,
            self.grads[last].slice_mut(s![..n, ..]),
        )
    }

    /// Backpropagates from the last layer's `dL/dy` to every layer's `dL/dW` and `dL/db`, one layer after the
    /// other from the top (a loop, not a recursion: a stack of thousands of layers needs no deeper call stack).
    /// On the thread pool each layer's `dL/dW` product runs beside what comes next on the critical path: its
    /// `dL/dx` and the element-wise sweep of the layer below. The first layer's input gradient is not computed:
    /// nobody needs it.
    fn backward(&mut self, chain: Chain<'_>, input: ArrayView2<f32>) {
        let n = input.nrows();
        let last = chain.len() - 1;
        self.backward_sweep(chain, last, n);
        for i in (0..=last).rev() {
            let layer = chain.layer(i);
            let (grads_below, grads_here) = self.grads.split_at_mut(i);
            let grad_z = grads_here[0].slice(s![..n, ..]);
            let x = match i {
                0 => input,
                _ => self.outputs[i - 1].slice(s![..n, ..]),
            };
            let (bias_grads_below, _) = self.bias_grads.split_at_mut(i);
            let (outputs, pre_activations) = (&self.outputs, &self.pre_activations);
            let next_on_the_path = || {
                if let Some(grad_input) = grads_below.last_mut() {
                    let mut grad_input = grad_input.slice_mut(s![..n, ..]);
                    layer.input_gradient_into(grad_z, grad_input.view_mut());
                    let below = chain.layer(i - 1);
                    let pre =
                        (below.activation().needs_pre_activation()).then(|| pre_activations[i - 1].slice(s![..n, ..]));
                    let bias_grad = bias_grads_below[i - 1].view_mut();
                    below.backward_sweep_into(pre, outputs[i - 1].slice(s![..n, ..]), grad_input, bias_grad);
                }
            };
            let weight_grad = self.weight_grads[i].view_mut();
            join(next_on_the_path, || layer.weight_gradient_into(x, grad_z, weight_grad));
        }
    }

    /// Turns layer `i`'s `dL/dy` into `dL/dz` in place (the activation's derivative) and stores `dL/db`.
    fn backward_sweep(&mut self, chain: Chain<'_>, i: usize, n: usize) {
        let layer = chain.layer(i);
        let pre = (layer.activation().needs_pre_activation()).then(|| self.pre_activations[i].slice(s![..n, ..]));
        layer.backward_sweep_into(
            pre,
            self.outputs[i].slice(s![..n, ..]),
            self.grads[i].slice_mut(s![..n, ..]),
            self.bias_grads[i].view_mut(),
        );
    }

    /// Stores the largest `|gradient|` of every slot, and returns the first non-finite value among the parameter
    /// gradients, if any. The maxima are a branch-free reduction the compiler vectorises (at the CPU's widest
    /// vector width, picked at run time), since it runs over every gradient at every step; only when one is
    /// infinite (a value is NaN or infinite) is the value looked for element by element.
    fn scan_gradients(&mut self) -> Option<f32> {
        for (i, (weights, bias)) in self.weight_grads.iter().zip(&self.bias_grads).enumerate() {
            for (slot, values) in [(2 * i, flat(weights)), (2 * i + 1, flat(bias))] {
                self.grad_max[slot] = max_magnitude(values);
            }
        }
        if self.grad_max.iter().all(|max| max.is_finite()) {
            return None;
        }
        let weights = self.weight_grads.iter().map(flat);
        let biases = self.bias_grads.iter().map(flat);
        weights
            .chain(biases)
            .find_map(|values| values.iter().copied().find(|v| !v.is_finite()))
    }

    /// Applies the gradients to the layers (`first`'s, then `second`'s) with `optimizer`: layer `i`'s weights are
    /// slot `2i`, its bias `2i + 1`. Errors with [`Error::NonFinite`] (`what`: `update`) when the update would
    /// make a parameter or the optimizer's state NaN or infinite, and then leaves both exactly as they were.
    ///
    /// The optimizer bounds each slot's update from its gradient's largest magnitude
    /// ([`Optimizer::update_stays_finite`]), in O(1); a step the bounds vouch for runs as it is. Any other step
    /// copies the parameters and the optimizer's state first (into buffers made once), checks the result, and puts
    /// the copy back if a value turned non-finite.
    pub(crate) fn apply(
        &mut self,
        first: &mut [Dense],
        second: &mut [Dense],
        optimizer: &mut impl Optimizer,
    ) -> Result<()> {
        // Every slot is checked before anything moves, so a mismatched state changes nothing.
        for (i, (weights, bias)) in self.weight_grads.iter().zip(&self.bias_grads).enumerate() {
            optimizer.check_slot(2 * i, weights.len())?;
            optimizer.check_slot(2 * i + 1, bias.len())?;
        }
        let vouched = (self.grad_max.iter().enumerate()).all(|(slot, &max)| optimizer.update_stays_finite(slot, max));
        if vouched {
            return self.update(first.iter_mut().chain(second.iter_mut()), optimizer);
        }
        self.snapshot.save(first.iter().chain(second.iter()), optimizer);
        let updated = self
            .update(first.iter_mut().chain(second.iter_mut()), optimizer)
            .and_then(|()| {
                let parameters = first
                    .iter()
                    .chain(second.iter())
                    .flat_map(|l| [flat(l.weights()), flat(l.bias())]);
                let non_finite = parameters.map(|values| (values, max_magnitude(values)));
                let non_finite = non_finite
                    .filter(|(_, max)| !max.is_finite())
                    .find_map(|(values, _)| values.iter().copied().find(|v| !v.is_finite()));
                match non_finite.or_else(|| optimizer.non_finite_state()) {
                    Some(value) => Err(Error::NonFinite { what: "update", value }),
                    None => Ok(()),
                }
            });
        if updated.is_err() {
            self.snapshot
                .restore(first.iter_mut().chain(second.iter_mut()), optimizer)?;
        }
        updated
    }

    /// Starts the optimizer's step and updates every slot.
    fn update<'l>(&self, layers: impl Iterator<Item = &'l mut Dense>, optimizer: &mut impl Optimizer) -> Result<()> {
        optimizer.begin_step();
        for (i, layer) in layers.enumerate() {
            let (weights, bias) = layer.parameters_mut();
            optimizer.update(2 * i, flat_mut(weights), flat(&self.weight_grads[i]))?;
            optimizer.update(2 * i + 1, flat_mut(bias), flat(&self.bias_grads[i]))?;
        }
        Ok(())
    }
}

/// The elements of an array the crate allocated itself (standard layout), as one slice.
pub(crate) fn flat<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>) -> &[f32] {
    a.as_slice()
        .expect("parameters and their gradients are kept in standard layout")
}

pub(crate) fn flat_mut<D: ndarray::Dimension>(a: &mut ndarray::Array<f32, D>) -> &mut [f32] {
    a.as_slice_mut()
        .expect("parameters and their gradients are kept in standard layout")
}
