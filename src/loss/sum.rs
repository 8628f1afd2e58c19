//! A loss summed over a batch (and its gradient written beside it), in a fixed order, split across threads.
//!
//! The sum is taken in `f64`, in an order that depends on the batch's shape alone, so that any thread count and
//! any memory layout of the arrays give the same bits:
//! - the rows are cut into *leaves* of about [`LEAF_ELEMENTS`] elements (whole rows);
//! - within a leaf, element `(r, j)` goes to accumulator `j % LANES`, each accumulator taking its elements row by
//!   row, then the accumulators are added pairwise; eight independent sums rather than one chain of additions,
//!   each waiting for the last, let the processor overlap them;
//! - the leaves' sums are added pairwise along a tree that halves the leaves at each level, and the threads take
//!   whole subtrees.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use super::{bce, Loss, BCE_EPSILON};
use crate::matmul::{join, on_pool, parts_for};

/// The accumulators of a leaf.
const LANES: usize = 8;

/// About how many elements a leaf holds: enough to pay for its place in the tree, few enough that a batch of a
/// few dozen rows splits across two threads.
const LEAF_ELEMENTS: usize = 4096;

/// The sum over every element of `loss(prediction, target)`, with `grad`, when given, set to the gradient of the
/// mean (each element's derivative times `scale`, which is `1 / elements`). The shapes must agree.
pub(super) fn loss_sum(
    loss: Loss,
    prediction: ArrayView2<f32>,
    target: ArrayView2<f32>,
    grad: Option<ArrayViewMut2<f32>>,
    scale: f32,
) -> f64 {
    let rows_per_leaf = (LEAF_ELEMENTS / prediction.ncols().max(1)).max(1);
    let leaves = prediction.nrows().div_ceil(rows_per_leaf);
    /// A logarithm costs about as much as ten of the other operations of an element.
    const BCE_COST: usize = 10;
    let cost = match loss {
        Loss::Mse => 1,
        Loss::BinaryCrossEntropy => BCE_COST,
    };
    let sum = Tree {
        loss,
        scale,
        rows_per_leaf,
    };
    // one leaf cannot split: no hand-over to the pool for it
    match parts_for(prediction.len().saturating_mul(cost)) {
        parts if parts > 1 && leaves > 1 => on_pool(|| sum.of(prediction, target, grad, leaves, parts)),
        _ => sum.of(prediction, target, grad, leaves, 1),
    }
}

/// What every node of the summation tree shares.
#[derive(Clone, Copy)]
struct Tree {
    loss: Loss,
    scale: f32,
    rows_per_leaf: usize,
}

/// One leaf of the tree as a [`pulp::WithSimd`] operation: its elements' logarithms and divisions in vector
/// registers (a BCE leaf took a third of the time this way).
struct Leaf<'a> {
    tree: Tree,
    prediction: ArrayView2<'a, f32>,
    target: ArrayView2<'a, f32>,
    grad: Option<ArrayViewMut2<'a, f32>>,
}

impl pulp::WithSimd for Leaf<'_> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f64 {
        self.tree.leaf_lanes(self.prediction, self.target, self.grad)
    }
}

impl Tree {
    /// The sum of `leaves` leaves (the rows of `prediction`), in `parts` parts across the crate's threads.
    fn of(
        self,
        prediction: ArrayView2<f32>,
        target: ArrayView2<f32>,
        grad: Option<ArrayViewMut2<f32>>,
        leaves: usize,
        parts: usize,
    ) -> f64 {
        if leaves <= 1 {
            return self.leaf(prediction, target, grad);
        }
        let first_leaves = leaves / 2;
        let mid = first_leaves * self.rows_per_leaf;
        let (prediction_a, prediction_b) = prediction.split_at(Axis(0), mid);
        let (target_a, target_b) = target.split_at(Axis(0), mid);
        let (grad_a, grad_b) = match grad {
            Some(grad) => {
                let (a, b) = grad.split_at(Axis(0), mid);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let first = move |parts| self.of(prediction_a, target_a, grad_a, first_leaves, parts);
        let last = move |parts| self.of(prediction_b, target_b, grad_b, leaves - first_leaves, parts);
        let (a, b) = match parts {
            parts if parts < 2 => (first(1), last(1)),
            _ => join(|| first(parts / 2), || last(parts - parts / 2)),
        };
        a + b
    }

    /// The sum of one leaf, through [`LANES`] accumulators, compiled for the CPU's widest vectors ([`Leaf`]).
    fn leaf(self, prediction: ArrayView2<f32>, target: ArrayView2<f32>, grad: Option<ArrayViewMut2<f32>>) -> f64 {
        pulp::Arch::new().dispatch(Leaf {
            tree: self,
            prediction,
            target,
            grad,
        })
    }

    /// [`leaf`](Self::leaf)'s body.
    #[inline(always)]
    fn leaf_lanes(
        self,
        prediction: ArrayView2<f32>,
        target: ArrayView2<f32>,
        mut grad: Option<ArrayViewMut2<f32>>,
    ) -> f64 {
        let mut lanes = [0.0_f64; LANES];
        for (r, (p, t)) in prediction.rows().into_iter().zip(target.rows()).enumerate() {
            let mut g = grad.as_mut().map(|grad| grad.row_mut(r));
            let slices = (p.as_slice(), t.as_slice());
            match (slices, g.as_mut().map(|g| g.as_slice_mut())) {
                ((Some(p), Some(t)), Some(Some(g))) => self.row(p, t, Some(g), &mut lanes),
                ((Some(p), Some(t)), None) => self.row(p, t, None, &mut lanes),
                _ => {
                    // any layout: the same elements in the same lanes, one at a time
                    for (j, (&p, &t)) in p.iter().zip(t).enumerate() {
                        let (value, derivative) = self.element(p, t);
                        lanes[j % LANES] += f64::from(value);
                        if let Some(g) = g.as_mut() {
                            g[j] = derivative;
                        }
                    }
                }
            }
        }
        let [a, b, c, d, e, f, g, h] = lanes;
        ((a + b) + (c + d)) + ((e + f) + (g + h))
    }

    /// A contiguous row's values into the lanes, its gradient (when asked) into `grad`.
    #[inline(always)]
    fn row(self, p: &[f32], t: &[f32], grad: Option<&mut [f32]>, lanes: &mut [f64; LANES]) {
        match self.loss {
            Loss::Mse => self.row_with(p, t, grad, lanes, |p, t| self.mse(p, t)),
            Loss::BinaryCrossEntropy => self.row_with(p, t, grad, lanes, |p, t| self.bce(p, t)),
        }
    }

    /// [`row`](Self::row) with the loss's `element` known at compile time: whole runs of [`LANES`] elements go
    /// through vector registers, their values and derivatives first, then the values into the lanes (the lanes in
    /// registers, not memory).
    #[inline(always)]
    fn row_with(
        self,
        p: &[f32],
        t: &[f32],
        mut grad: Option<&mut [f32]>,
        lanes: &mut [f64; LANES],
        element: impl Fn(f32, f32) -> (f32, f32),
    ) {
        let mut sums = *lanes;
        let whole = p.len() / LANES * LANES;
        for start in (0..whole).step_by(LANES) {
            let (p, t) = (&p[start..start + LANES], &t[start..start + LANES]);
            let (mut values, mut derivatives) = ([0.0_f32; LANES], [0.0_f32; LANES]);
            for k in 0..LANES {
                (values[k], derivatives[k]) = element(p[k], t[k]);
            }
            if let Some(grad) = grad.as_mut() {
                grad[start..start + LANES].copy_from_slice(&derivatives);
            }
            for k in 0..LANES {
                sums[k] += f64::from(values[k]);
            }
        }
        for (k, j) in (whole..p.len()).enumerate() {
            let (value, derivative) = element(p[j], t[j]);
            sums[k] += f64::from(value);
            if let Some(grad) = grad.as_mut() {
                grad[j] = derivative;
            }
        }
        *lanes = sums;
    }

    /// An element's loss and the derivative of the mean loss with respect to its prediction.
    #[inline(always)]
    fn element(self, p: f32, t: f32) -> (f32, f32) {
        match self.loss {
            Loss::Mse => self.mse(p, t),
            Loss::BinaryCrossEntropy => self.bce(p, t),
        }
    }

    /// [`element`](Self::element) of the squared error.
    #[inline(always)]
    fn mse(self, p: f32, t: f32) -> (f32, f32) {
        let diff = p - t;
        (diff * diff, 2.0 * diff * self.scale)
    }

    /// [`element`](Self::element) of the binary cross-entropy.
    #[inline(always)]
    fn bce(self, p: f32, t: f32) -> (f32, f32) {
        let clamped = p.clamp(BCE_EPSILON, 1.0 - BCE_EPSILON);
        (bce(p, t), (clamped - t) / (clamped * (1.0 - clamped)) * self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    fn batch(rows: usize, cols: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 31 + j * 17 + seed) % 101) as f32 / 100.0)
    }

    /// The sum and gradient the way they were taken before: one chain of additions in row-major order.
    fn plain(loss: Loss, p: &Array2<f32>, t: &Array2<f32>) -> (f64, Array2<f32>) {
        let scale = 1.0 / p.len() as f32;
        let tree = Tree {
            loss,
            scale,
            rows_per_leaf: 1,
        };
        let mut grad = Array2::zeros(p.raw_dim());
        let mut sum = 0.0;
        for ((g, &p), &t) in grad.iter_mut().zip(p).zip(t) {
            let (value, derivative) = tree.element(p, t);
            sum += f64::from(value);
            *g = derivative;
        }
        (sum, grad)
    }

    #[test]
    fn any_split_and_layout_give_the_same_bits_and_the_sum_is_right() {
        for loss in [Loss::Mse, Loss::BinaryCrossEntropy] {
            for (rows, cols) in [(1, 1), (3, 7), (33, 784), (257, 784), (40, 9), (1000, 3)] {
                let (p, t) = (batch(rows, cols, 1), batch(rows, cols, 5));
                let scale = 1.0 / p.len() as f32;
                let (want_sum, want_grad) = plain(loss, &p, &t);
                let mut reference = None;
                for parts in [1, 2, 3, 8] {
                    let mut grad = Array2::zeros((rows, cols));
                    let rows_per_leaf = (LEAF_ELEMENTS / cols).max(1);
                    let tree = Tree {
                        loss,
                        scale,
                        rows_per_leaf,
                    };
                    let leaves = rows.div_ceil(rows_per_leaf);
                    let sum = tree.of(p.view(), t.view(), Some(grad.view_mut()), leaves, parts);
                    assert_eq!(grad, want_grad, "{loss} {rows}x{cols}");
                    assert!(
                        (sum - want_sum).abs() <= 1e-12 * want_sum.abs().max(1.0),
                        "{sum} vs {want_sum}"
                    );
                    let alone = tree.of(p.view(), t.view(), None, leaves, parts);
                    assert_eq!(alone.to_bits(), sum.to_bits());
                    assert_eq!(*reference.get_or_insert(sum.to_bits()), sum.to_bits(), "{parts} parts");
                }
                // the same values in a strided layout (every other column of a wider array), and a strided
                // gradient buffer
                let mut wide_p = Array2::zeros((rows, 2 * cols));
                let mut wide_t = Array2::zeros((rows, 2 * cols));
                wide_p.slice_mut(s![.., ..;2]).assign(&p);
                wide_t.slice_mut(s![.., ..;2]).assign(&t);
                let mut wide_grad = Array2::zeros((rows, 2 * cols));
                let sum = loss_sum(
                    loss,
                    wide_p.slice(s![.., ..;2]),
                    wide_t.slice(s![.., ..;2]),
                    Some(wide_grad.slice_mut(s![.., ..;2])),
                    scale,
                );
                assert_eq!(Some(sum.to_bits()), reference, "{loss} {rows}x{cols} strided");
                assert_eq!(wide_grad.slice(s![.., ..;2]), want_grad);
            }
        }
    }
}
