//! The buffers of a training step, made once and reused, so that a step allocates nothing.
//!
//! Each layer of the chain keeps its own [`LayerBuffers`] (its output, pre-activation, gradients and scratch),
//! made for a batch capacity; a batch smaller than the capacity (the last one of an epoch) uses the first `n`
//! rows of each. What a layer does with them is the layer's business ([`Layer`]); this file runs the chain.

use std::ops::Range;

use ndarray::{s, ArrayView2, ArrayViewMut2};

use super::names;
use super::snapshot::Snapshot;
use crate::error::{Error, Result};
use crate::layers::{Below, Layer, LayerBuffers, Parts};
use crate::loss::Loss;
use crate::matmul::on_pool;
use crate::optim::{max_magnitude, Optimizer};

/// A chain of layers seen as one: the encoder's (`first`), then the decoder's (`second`), named as
/// [`names::autoencoder`] names them.
#[derive(Clone, Copy)]
pub(crate) struct Chain<'a> {
    pub(crate) first: &'a [Layer],
    pub(crate) second: &'a [Layer],
}

impl<'a> Chain<'a> {
    pub(crate) fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    fn layer(&self, i: usize) -> &'a Layer {
        match i.checked_sub(self.first.len()) {
            None => &self.first[i],
            Some(j) => &self.second[j],
        }
    }

    fn layers(&self) -> impl Iterator<Item = &'a Layer> {
        self.first.iter().chain(self.second)
    }
}

/// Training buffers for one chain of layers.
#[derive(Clone, Default)]
pub(crate) struct Workspace {
    layers: Vec<LayerBuffers>,
    /// Per parameter tensor (layer `i`'s weights at `2i`, its bias at `2i + 1`): its name, made once, and its
    /// element count; what the optimizer's state is checked against.
    parameters: Vec<(String, usize)>,
    /// The number of layers of the chain's `first` part (the encoder), for which `parameters` were named.
    first_layers: usize,
    /// Per parameter tensor, as `parameters`: the largest `|gradient|`.
    grad_max: Vec<f32>,
    /// The parameters and optimizer state before a step that the optimizer's bounds cannot vouch for.
    snapshot: Snapshot,
}

impl std::fmt::Debug for Workspace {
    /// A summary, not the megabytes of scratch.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workspace {{ {} layers of buffers }}", self.layers.len())
    }
}

impl Workspace {
    /// Makes sure the buffers fit `chain` and a batch of `batch` rows; allocates only when they do not. Errors,
    /// keeping the buffers it had, when the new ones cannot be allocated.
    pub(crate) fn prepare(&mut self, chain: Chain<'_>, batch: usize) -> Result<()> {
        let fits = self.layers.len() == chain.len()
            && self.first_layers == chain.first.len()
            && chain
                .layers()
                .zip(&self.layers)
                .all(|(layer, buffers)| buffers.fit(layer, batch));
        if !fits {
            let capacity = self
                .layers
                .iter()
                .map(LayerBuffers::capacity)
                .max()
                .unwrap_or(0)
                .max(batch);
            let layers = chain.layers().map(|layer| LayerBuffers::new(layer, capacity));
            self.layers = layers.collect::<Result<_>>()?;
            let names = names::autoencoder(chain.first.len(), chain.second.len());
            let lengths = chain.layers().flat_map(|layer| {
                let (weights, bias) = layer.parameters();
                [weights.len(), bias.len()]
            });
            self.parameters = names.zip(lengths).collect();
            self.first_layers = chain.first.len();
            self.grad_max = vec![0.0; 2 * chain.len()];
            self.snapshot = Snapshot::default();
        }
        Ok(())
    }

    /// The loss of `chain` on `input` against `target`, with every layer's `dL/dW` and `dL/db` stored: forward,
    /// loss, backward. Errors with [`Error::NonFinite`] when the loss (then before backward) or a gradient is NaN
    /// or infinite. `input` in standard layout when the first layer is a convolution.
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
            let value = self.loss(loss, target)?;
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
        self.forward_part(chain, 0..chain.len(), input);
    }

    /// Runs the layers `part` of the chain forward, the first of them on `input` (`n` rows), keeping every layer's
    /// output.
    pub(crate) fn forward_part(&mut self, chain: Chain<'_>, part: Range<usize>, input: ArrayView2<f32>) {
        let n = input.nrows();
        let start = part.start;
        for i in part {
            let (before, after) = self.layers.split_at_mut(i);
            let x = match before.last() {
                Some(below) if i > start => below.output(n),
                _ => input,
            };
            chain.layer(i).forward_train_into(x, &mut after[0]);
        }
    }

    /// The loss of the last forward pass against `target`, with its gradient stored as the last layer's `dL/dy`.
    pub(crate) fn loss(&mut self, loss: Loss, target: ArrayView2<f32>) -> Result<f32> {
        let n = target.nrows();
        let last = self.layers.last_mut().expect("a chain has layers").parts();
        let output = last.output.slice(s![..n, ..]);
        loss.value_and_gradient_into(output, target, last.grad.slice_mut(s![..n, ..]))
    }

    /// Backpropagates from the last layer's `dL/dy` to every layer's `dL/dW` and `dL/db`, one layer after the
    /// other from the top (a loop, not a recursion: a stack of thousands of layers needs no deeper call stack; the
    /// top layer's `dL/dW` beside the rest adds one level, not one per layer).
    /// Each layer runs its backward sweep, then its `dL/dW` beside its `dL/dx` and the sweep of the layer below
    /// (see [`Layer::backward_rest`]); the top layer's `dL/dW` beside all the rest of the pass (see
    /// [`Layer::backward_beside`]). The first layer's input gradient is not computed: nobody needs it.
    fn backward(&mut self, chain: Chain<'_>, input: ArrayView2<f32>) {
        self.sweep_top(chain, chain.len() - 1, input.nrows());
        self.backward_part(chain, 0..chain.len(), input, None);
    }

    /// The backward sweep of layer `i` (`n` rows), once its `dL/dy` is in place: what starts a backward pass.
    pub(crate) fn sweep_top(&mut self, chain: Chain<'_>, i: usize, n: usize) {
        chain.layer(i).backward_sweep(&mut self.layers[i].parts(), n);
    }

    /// The backward of the layers `part` from the top one, whose sweep has run ([`sweep_top`](Self::sweep_top)),
    /// down to the first, whose input was `input`: every `dL/dW` and `dL/db`, and the first one's `dL/dx` into
    /// `input_gradient` if given (not computed otherwise). `part` holds at least one layer.
    pub(crate) fn backward_part(
        &mut self,
        chain: Chain<'_>,
        part: Range<usize>,
        input: ArrayView2<f32>,
        input_gradient: Option<ArrayViewMut2<f32>>,
    ) {
        debug_assert!(!part.is_empty(), "a backward of no layers");
        let (below, top) = self.layers[..part.end].split_at_mut(part.end - 1);
        let pass = BackwardPass {
            chain,
            start: part.start,
            input,
            input_gradient,
        };
        pass.run(below, top[0].parts(), part.end - 1, true);
    }

    /// Layer `i`'s output and `dL/dy` buffers, `n` rows of each: the output to read, the gradient to write.
    pub(crate) fn output_and_grad(&mut self, i: usize, n: usize) -> (ArrayView2<'_, f32>, ArrayViewMut2<'_, f32>) {
        let parts = self.layers[i].parts();
        (parts.output.slice(s![..n, ..]), parts.grad.slice_mut(s![..n, ..]))
    }

    /// Layer `i`'s output, `n` rows.
    pub(crate) fn output(&self, i: usize, n: usize) -> ArrayView2<'_, f32> {
        self.layers[i].output(n)
    }

    /// Checks every parameter gradient: [`Error::NonFinite`] (`what`: `gradient`) with the first NaN or infinite
    /// value. Stores the maxima [`apply`](Self::apply) needs.
    pub(crate) fn check_gradients(&mut self) -> Result<()> {
        match self.scan_gradients() {
            Some(value) => Err(Error::NonFinite {
                what: "gradient",
                value,
            }),
            None => Ok(()),
        }
    }

    /// Copies the largest `|gradient|` of every parameter tensor into `grad_max`, and returns the first non-finite
    /// value among the parameter gradients, if any. The maxima were found by each layer's backward as soon as it
    /// had made its gradients ([`LayerBuffers::gradient_maxima`]); only when one is infinite (a value is NaN or
    /// infinite) is the value looked for element by element.
    ///
    /// So every layer's backward must have run since the gradients last changed, and nothing may change a
    /// gradient between the backward and this check (no clipping or accumulation in between): `apply` trusts
    /// these maxima to bound the update. Debug builds check that they are those of the gradients as they are.
    fn scan_gradients(&mut self) -> Option<f32> {
        for (maxima, buffers) in self.grad_max.chunks_exact_mut(2).zip(&self.layers) {
            maxima.copy_from_slice(&buffers.gradient_maxima());
            debug_assert!(
                {
                    let (weights, bias) = buffers.parameter_gradients();
                    maxima == [max_magnitude(flat(weights)), max_magnitude(flat(bias))]
                },
                "a layer's gradient maxima are not those of its gradients: a gradient changed after its backward"
            );
        }
        if self.grad_max.iter().all(|max| max.is_finite()) {
            return None;
        }
        self.layers.iter().find_map(|buffers| {
            let (weights, bias) = buffers.parameter_gradients();
            let values = flat(weights).iter().chain(flat(bias));
            values.copied().find(|v| !v.is_finite())
        })
    }

    /// Applies the gradients to the layers (`first`'s, then `second`'s) with `optimizer`, each parameter tensor
    /// under its name (`encoder.0.weight`, ...). Errors when the optimizer's state does not fit the model
    /// ([`Optimizer::check_parameters`]), changing nothing, and with [`Error::NonFinite`] (`what`: `update`) when
    /// the update would make a parameter or the optimizer's state NaN or infinite, and then leaves both exactly as
    /// they were.
    ///
    /// The optimizer bounds each tensor's update from its gradient's largest magnitude
    /// ([`Optimizer::update_stays_finite`]), in O(1); a step the bounds vouch for runs as it is. Any other step
    /// copies the parameters and the optimizer's state first (into buffers made once), checks the result, and puts
    /// the copy back if a value turned non-finite.
    pub(crate) fn apply(
        &mut self,
        first: &mut [Layer],
        second: &mut [Layer],
        optimizer: &mut impl Optimizer,
    ) -> Result<()> {
        // Every tensor is checked before anything moves, so a mismatched state changes nothing.
        optimizer.check_parameters(&self.parameters)?;
        let vouched = (self.parameters.iter().zip(&self.grad_max))
            .all(|((name, _), &max)| optimizer.update_stays_finite(name, max));
        if vouched {
            return self.update(first.iter_mut().chain(second.iter_mut()), optimizer);
        }
        self.snapshot.save(first.iter().chain(second.iter()), optimizer);
        let updated = self
            .update(first.iter_mut().chain(second.iter_mut()), optimizer)
            .and_then(|()| {
                let parameters = first.iter().chain(second.iter()).flat_map(|l| {
                    let (weights, bias) = l.parameters();
                    [weights, bias]
                });
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

    /// Starts the optimizer's step and updates every parameter tensor, by name.
    fn update<'l>(&self, layers: impl Iterator<Item = &'l mut Layer>, optimizer: &mut impl Optimizer) -> Result<()> {
        optimizer.begin_step();
        let names = self.parameters.chunks_exact(2);
        for ((layer, buffers), names) in layers.zip(&self.layers).zip(names) {
            let (weights, bias) = layer.parameters_mut();
            let (weight_grad, bias_grad) = buffers.parameter_gradients();
            optimizer.update(&names[0].0, weights, flat(weight_grad))?;
            optimizer.update(&names[1].0, bias, flat(bias_grad))?;
        }
        Ok(())
    }
}

/// The elements of an array the crate allocated itself (standard layout), as one slice.
pub(crate) fn flat<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>) -> &[f32] {
    a.as_slice()
        .expect("parameters and their gradients are kept in standard layout")
}

/// The backward of a range of a chain's layers, from the top one down ([`Workspace::backward_part`]).
struct BackwardPass<'c, 'x, 'g> {
    chain: Chain<'c>,
    /// The lowest layer of the range, whose input was `input`.
    start: usize,
    input: ArrayView2<'x, f32>,
    /// Where the lowest layer's `dL/dx` goes, if anywhere (else it is not computed).
    input_gradient: Option<ArrayViewMut2<'g, f32>>,
}

impl BackwardPass<'_, '_, '_> {
    /// The backward of layers `i` down to `start`, layer `i`'s sweep done: `here` holds layer `i`'s buffers,
    /// `below` those under it. One layer after the other (a loop: thousands of layers need no deeper call stack),
    /// except that with `top`, layer `i`'s `dL/dW` runs beside all the rest ([`Layer::backward_beside`]): the
    /// thread that takes it no longer waits at each layer for the other, but only at the end.
    fn run<'a>(mut self, mut below: &'a mut [LayerBuffers], mut here: Parts<'a>, mut i: usize, top: bool) {
        let n = self.input.nrows();
        while i > self.start {
            let (last, rest) = std::mem::take(&mut below)
                .split_last_mut()
                .expect("a layer below each but the lowest");
            let layer_below = self.chain.layer(i - 1);
            if top {
                let below_parts = last.parts();
                let x = below_parts.output.slice(s![..n, ..]);
                let layer = self.chain.layer(i);
                return layer.backward_beside(x, here, layer_below, below_parts, move |parts| {
                    self.run(rest, parts, i - 1, false)
                });
            }
            let below_parts = last.parts();
            let x = below_parts.output.slice(s![..n, ..]);
            self.chain
                .layer(i)
                .backward_rest(x, here, Below::Layer(layer_below, below_parts));
            (here, below, i) = (last.parts(), rest, i - 1);
        }
        let below = match self.input_gradient.take() {
            Some(grad) => Below::Gradient(grad),
            None => Below::Nothing,
        };
        self.chain.layer(i).backward_rest(self.input, here, below);
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    use super::*;
    use crate::layers::{Activation, Conv2d, ConvTranspose2d, Dense, Init, Padding};

    /// Every layer's weight and bias gradients after a backward of `chain` on `input` (MSE against itself), with
    /// the top layer's `dL/dW` beside the rest of the pass (`beside`) or each layer after the other (the plain loop).
    fn gradients(chain: Chain<'_>, input: &Array2<f32>, beside: bool) -> Vec<(Array2<f32>, ndarray::Array1<f32>)> {
        let mut workspace = Workspace::default();
        workspace.prepare(chain, input.nrows()).unwrap();
        on_pool(|| {
            workspace.forward(chain, input.view());
            workspace.loss(Loss::Mse, input.view()).unwrap();
            let top = chain.len() - 1;
            workspace.sweep_top(chain, top, input.nrows());
            let (below, top_buffers) = workspace.layers.split_at_mut(top);
            let pass = BackwardPass {
                chain,
                start: 0,
                input: input.view(),
                input_gradient: None,
            };
            pass.run(below, top_buffers[0].parts(), top, beside);
        });
        let gradients = workspace.layers.iter().map(LayerBuffers::parameter_gradients);
        gradients.map(|(w, b)| (w.clone(), b.clone())).collect()
    }

    fn dense(inputs: usize, outputs: usize, activation: Activation, rng: &mut StdRng) -> Layer {
        Dense::new(inputs, outputs, activation, Init::GlorotUniform, rng)
            .unwrap()
            .into()
    }

    /// The top layer's `dL/dW` beside the rest gives the plain loop's gradients, bit for bit: pairs that share the
    /// threads (AE-16's) and one that does not (129 × 1024 × 1024), a GELU layer below, and a transposed
    /// convolution on top (which runs its backward first).
    #[test]
    fn the_top_weight_gradient_beside_the_rest_gives_the_plain_loops_gradients() {
        let mut rng = StdRng::seed_from_u64(8);
        let values = |rows: usize, columns: usize| {
            Array2::from_shape_fn((rows, columns), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 96.0)
        };
        let ae16 = (
            vec![
                dense(784, 256, Activation::Relu, &mut rng),
                dense(256, 16, Activation::Identity, &mut rng),
            ],
            vec![
                dense(16, 256, Activation::Gelu, &mut rng),
                dense(256, 784, Activation::Sigmoid, &mut rng),
            ],
            values(256, 784),
        );
        let wide = (
            vec![dense(1024, 8, Activation::Tanh, &mut rng)],
            vec![
                dense(8, 1024, Activation::Relu, &mut rng),
                dense(1024, 1024, Activation::Identity, &mut rng),
            ],
            values(129, 1024),
        );
        let conv = |shape, filters, stride, activation, rng: &mut StdRng| {
            let layer = Conv2d::new(
                shape,
                filters,
                (3, 3),
                stride,
                Padding::Same,
                activation,
                Init::GlorotUniform,
                rng,
            );
            Layer::from(layer.unwrap())
        };
        let conv_transpose = ConvTranspose2d::new(
            (4, 4, 4),
            1,
            (3, 3),
            2,
            Padding::Same,
            Activation::Sigmoid,
            Init::GlorotUniform,
            &mut rng,
        );
        let convolutional = (
            vec![conv((8, 8, 1), 4, 2, Activation::Relu, &mut rng)],
            vec![Layer::from(conv_transpose.unwrap())],
            values(5, 64),
        );
        for (name, (first, second, input)) in [("AE-16", ae16), ("wide", wide), ("convolutional", convolutional)] {
            let chain = Chain {
                first: &first,
                second: &second,
            };
            assert_eq!(
                gradients(chain, &input, true),
                gradients(chain, &input, false),
                "{name}"
            );
        }
    }
}
