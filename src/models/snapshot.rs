//! A copy of the parameters and of the optimizer's state, taken before a training step whose update the
//! optimizer cannot vouch for ([`Optimizer::update_stays_finite`]), to put back exactly if the update turns a
//! value NaN or infinite. Its buffers are made on first use and reused, so later steps allocate nothing.

use crate::error::Result;
use crate::layers::Layer;
use crate::optim::{Optimizer, OptimizerState};

/// The parameters (per parameter tensor in the chain's order: layer `i`'s weights at `2i`, its bias at `2i + 1`)
/// and the optimizer's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    parameters: Vec<Vec<f32>>,
    optimizer: Option<OptimizerState>,
}

impl Snapshot {
    /// Copies every layer's parameters and the optimizer's state.
    pub(crate) fn save<'l>(&mut self, layers: impl Iterator<Item = &'l Layer>, optimizer: &impl Optimizer) {
        let mut count = 0;
        for layer in layers {
            let (weights, bias) = layer.parameters();
            for values in [weights, bias] {
                if self.parameters.len() == count {
                    self.parameters.push(Vec::new());
                }
                self.parameters[count].clear();
                self.parameters[count].extend_from_slice(values);
                count += 1;
            }
        }
        self.parameters.truncate(count);
        match &mut self.optimizer {
            Some(state) => optimizer.save_state_into(state),
            None => self.optimizer = Some(optimizer.state()),
        }
    }

    /// Puts back what [`save`](Self::save) copied, into the same layers and optimizer.
    pub(crate) fn restore<'l>(
        &self,
        layers: impl Iterator<Item = &'l mut Layer>,
        optimizer: &mut impl Optimizer,
    ) -> Result<()> {
        for (layer, saved) in layers.zip(self.parameters.chunks(2)) {
            let (weights, bias) = layer.parameters_mut();
            weights.copy_from_slice(&saved[0]);
            bias.copy_from_slice(&saved[1]);
        }
        match &self.optimizer {
            Some(state) => optimizer.restore_state(state),
            None => Ok(()),
        }
    }
}
