//! An optimizer's state by parameter name: [`OptimizerState`], the form checkpoints save, and the table the
//! crate's optimizers keep it in between steps.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::{Error, Result};

/// An optimizer's state, as saved in checkpoints: its kind, the step count and, per parameter tensor by name,
/// the tensor's buffers.
///
/// `buffers` maps a parameter's name (a model names its tensors `encoder.0.weight`, `encoder.0.bias`, ...: see
/// [`crate::models::names`]) to its buffers (Adam: the first and second moments; SGD with momentum: the momentum
/// buffer), each as long as the parameter tensor. A parameter not updated yet has no entry; an entry with no
/// buffers means the same. A map keeps the state independent of the order in which a step updates the tensors.
///
/// ```
/// use autoencoder::{Optimizer, Sgd};
/// let mut sgd = Sgd::new(0.1).with_momentum(0.9);
/// sgd.begin_step();
/// sgd.update("encoder.0.bias", &mut [1.0, 2.0], &[1.0, 0.5])?;
/// let state = sgd.state();
/// assert_eq!((state.kind.as_str(), state.step), ("sgd", 1));
/// assert_eq!(state.buffers["encoder.0.bias"], [vec![1.0, 0.5]]); // the momentum buffer
/// let mut resumed = Sgd::new(0.1).with_momentum(0.9);
/// resumed.load_state(state)?;
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    /// The optimizer's name: `sgd`, `adam` or `adamw`.
    pub kind: String,
    /// Training steps taken.
    pub step: u64,
    /// Per parameter tensor, by name: its buffers, each as long as the tensor.
    pub buffers: BTreeMap<String, Vec<Vec<f32>>>,
}

impl OptimizerState {
    /// Checks that this state is of `kind`, that every parameter has `buffers` buffers (or none yet), and that
    /// a parameter's buffers have one length.
    pub(crate) fn check(&self, kind: &str, buffers: usize) -> Result<()> {
        if self.kind != kind {
            return Err(Error::InvalidArgument(format!(
                "optimizer state is for {:?}, but was loaded into {kind:?}",
                self.kind
            )));
        }
        for (name, found) in &self.buffers {
            if !found.is_empty() && found.len() != buffers {
                return Err(Error::InvalidArgument(format!(
                    "{kind} optimizer state: {name} has {} buffers, expected {buffers}",
                    found.len()
                )));
            }
            if let Some(other) = found.iter().find(|b| b.len() != found[0].len()) {
                return Err(Error::InvalidArgument(format!(
                    "{kind} optimizer state: the buffers of {name} differ in length ({} and {} elements)",
                    found[0].len(),
                    other.len()
                )));
            }
        }
        Ok(())
    }
}

/// The state of one parameter tensor: its name, its buffers and the maxima the optimizer keeps of them for
/// [`Optimizer::update_stays_finite`](super::Optimizer::update_stays_finite).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry<M> {
    pub(crate) name: String,
    pub(crate) buffers: Vec<Vec<f32>>,
    pub(crate) max: M,
}

/// The crate's optimizers' state between steps: one [`Entry`] per parameter tensor, in the order of their first
/// updates, found by name through a hash index. A look-up by `&str` allocates nothing, so once every parameter
/// has its entry a step allocates nothing; only a parameter's first update makes its entry.
#[derive(Clone, Default)]
pub(crate) struct Named<M> {
    entries: Vec<Entry<M>>,
    index: HashMap<String, usize>,
}

impl<M: std::fmt::Debug> std::fmt::Debug for Named<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|e| (&e.name, e)))
            .finish()
    }
}

/// Equal when both hold the same parameters with equal buffers and maxima, whatever the order of first updates.
impl<M: Copy + Default + PartialEq> PartialEq for Named<M> {
    fn eq(&self, other: &Named<M>) -> bool {
        self.entries.len() == other.entries.len() && self.entries.iter().all(|e| other.get(&e.name) == Some(e))
    }
}

impl<M: Copy + Default> Named<M> {
    /// The entry of `name`, if it has one.
    pub(crate) fn get(&self, name: &str) -> Option<&Entry<M>> {
        self.index.get(name).map(|&i| &self.entries[i])
    }

    /// Every entry, in the order of first updates.
    pub(crate) fn entries(&self) -> &[Entry<M>] {
        &self.entries
    }

    /// The entry of `name`, made as `count` zero buffers of `len` elements on first use, and whether it was just
    /// made; an error (and no entry made) when it exists with another length.
    pub(crate) fn entry(&mut self, name: &str, count: usize, len: usize) -> Result<(&mut Entry<M>, bool)> {
        self.check_len(name, len)?;
        let (i, made) = match self.index.get(name) {
            Some(&i) => (i, false),
            None => {
                self.entries.push(Entry {
                    name: name.to_string(),
                    buffers: vec![vec![0.0; len]; count],
                    max: M::default(),
                });
                self.index.insert(name.to_string(), self.entries.len() - 1);
                (self.entries.len() - 1, true)
            }
        };
        Ok((&mut self.entries[i], made))
    }

    /// Checks that the buffers of `name`, where they exist, have `len` elements.
    pub(crate) fn check_len(&self, name: &str, len: usize) -> Result<()> {
        let lengths = self.get(name).into_iter().flat_map(|e| &e.buffers).map(Vec::len);
        match lengths.into_iter().find(|&n| n != len) {
            Some(found) => Err(Error::shape(
                format!("optimizer state of {name} (loaded for another model?)"),
                format!("{len} elements (the parameter's)"),
                format!("{found} elements"),
            )),
            None => Ok(()),
        }
    }

    /// Checks the state against a model whose parameter tensors are `parameters` (distinct names, each with its
    /// element count): every entry fits its parameter's length, and the entries are either none or exactly one
    /// per parameter. An optimizer's state belongs to one model, so a state with an entry the model does not
    /// have, or with entries for some of its parameters only, was made for another model: an error naming the
    /// tensor, rather than moments mixed between models.
    pub(crate) fn check_model(&self, parameters: &[(String, usize)]) -> Result<()> {
        let mut found = 0;
        let mut missing = None;
        for (name, len) in parameters {
            self.check_len(name, *len)?;
            match self.index.contains_key(name.as_str()) {
                true => found += 1,
                false => missing = missing.or(Some(name)),
            }
        }
        if found < self.entries.len() {
            // The error path only: which entry is not the model's.
            let model: HashSet<&str> = parameters.iter().map(|(name, _)| name.as_str()).collect();
            let extra = self.entries.iter().find(|e| !model.contains(e.name.as_str()));
            let extra = extra.map_or("?", |e| e.name.as_str());
            return Err(Error::InvalidArgument(format!(
                "the optimizer holds state for {extra}, a parameter this model does not have: an optimizer's \
                 state belongs to one model (was the optimizer used with, or its state loaded from, another \
                 model? use one optimizer per model)"
            )));
        }
        match missing {
            Some(name) if found > 0 => Err(Error::InvalidArgument(format!(
                "the optimizer holds state for {found} of this model's {} parameter tensors, but none for \
                 {name}: an optimizer's state belongs to one model (was the optimizer used with, or its state \
                 loaded from, another model? use one optimizer per model)",
                parameters.len()
            ))),
            _ => Ok(()),
        }
    }

    /// The buffers by name, as [`OptimizerState::buffers`] holds them.
    pub(crate) fn to_map(&self) -> BTreeMap<String, Vec<Vec<f32>>> {
        let entries = self.entries.iter();
        entries.map(|e| (e.name.clone(), e.buffers.clone())).collect()
    }

    /// Copies the buffers into `into`, reusing its allocations when it holds the same parameters with the same
    /// numbers of buffers (as a copy saved before does).
    pub(crate) fn save_into(&self, into: &mut BTreeMap<String, Vec<Vec<f32>>>) {
        let same = into.len() == self.entries.len()
            && into
                .iter()
                .all(|(name, buffers)| self.get(name).is_some_and(|e| e.buffers.len() == buffers.len()));
        if !same {
            *into = self.to_map();
            return;
        }
        for (name, buffers) in into.iter_mut() {
            if let Some(entry) = self.get(name) {
                for (to, from) in buffers.iter_mut().zip(&entry.buffers) {
                    to.clone_from(from);
                }
            }
        }
    }

    /// Replaces the state with `buffers` (entries with no buffers left out), the maxima of each entry worked out
    /// by `maxima`.
    pub(crate) fn load(&mut self, buffers: BTreeMap<String, Vec<Vec<f32>>>, maxima: impl Fn(&[Vec<f32>]) -> M) {
        self.entries.clear();
        self.index.clear();
        for (name, buffers) in buffers.into_iter().filter(|(_, b)| !b.is_empty()) {
            self.index.insert(name.clone(), self.entries.len());
            let max = maxima(&buffers);
            self.entries.push(Entry { name, buffers, max });
        }
    }

    /// Puts back exactly the state in `buffers`, copying into the existing buffers (no allocation) when they have
    /// the same names and sizes, as after [`save_into`](Self::save_into) from this table.
    pub(crate) fn restore(&mut self, buffers: &BTreeMap<String, Vec<Vec<f32>>>, maxima: impl Fn(&[Vec<f32>]) -> M) {
        let same_sizes = |saved: &Vec<Vec<f32>>, e: &Entry<M>| {
            saved.len() == e.buffers.len() && saved.iter().zip(&e.buffers).all(|(a, b)| a.len() == b.len())
        };
        let same = buffers.len() == self.entries.len()
            && (buffers.iter()).all(|(name, saved)| self.get(name).is_some_and(|e| same_sizes(saved, e)));
        if !same {
            self.load(buffers.clone(), maxima);
            return;
        }
        for (name, saved) in buffers {
            if let Some(&i) = self.index.get(name.as_str()) {
                let entry = &mut self.entries[i];
                for (to, from) in entry.buffers.iter_mut().zip(saved) {
                    to.copy_from_slice(from);
                }
                entry.max = maxima(&entry.buffers);
            }
        }
    }

    /// Every value of every buffer.
    pub(crate) fn values(&self) -> impl Iterator<Item = f32> + '_ {
        self.entries.iter().flat_map(|e| &e.buffers).flatten().copied()
    }
}
