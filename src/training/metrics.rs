//! How good a reconstruction is (mean squared error, PSNR) and how well a score separates two classes (ROC AUC).
//!
//! ```
//! use autoencoder::metrics::{mse, psnr, roc_auc};
//! use autoencoder::ndarray::array;
//!
//! let clean = array![[0.0_f32, 0.5, 1.0, 0.5]];
//! let noisy = array![[0.1_f32, 0.4, 0.9, 0.6]]; // every pixel off by 0.1
//! assert!((mse(clean.view(), noisy.view())? - 0.01).abs() < 1e-6);
//! assert!((psnr(clean.view(), noisy.view(), 1.0)? - 20.0).abs() < 1e-4); // dB
//!
//! // Anomaly scores: the two anomalies (true) score higher than one normal sample and tie with the other.
//! let auc = roc_auc(&[0.9, 0.7, 0.7, 0.1], &[true, true, false, false])?;
//! assert_eq!(auc, 0.875); // (1 + 1 + 1 + 0.5) / 4 pairs
//! # Ok::<(), autoencoder::Error>(())
//! ```
//!
//! Sums are taken in `f64`. A NaN or infinite value in the data is an error rather than a NaN result: it means
//! something upstream went wrong, and the message says where.

use std::cmp::Ordering;

use ndarray::{Array1, ArrayView2, Axis, Zip};

use crate::error::{Error, Result};

/// The mean squared error over every element of two arrays of the same shape.
///
/// # Errors
/// [`Error::Shape`] when the shapes differ or the arrays are empty, [`Error::InvalidArgument`] on a NaN or
/// infinite value.
///
/// ```
/// use autoencoder::ndarray::array;
/// let error = autoencoder::metrics::mse(array![[0.0_f32, 1.0]].view(), array![[0.5_f32, 1.0]].view())?;
/// assert_eq!(error, 0.125); // (0.25 + 0) / 2
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn mse(reference: ArrayView2<f32>, estimate: ArrayView2<f32>) -> Result<f32> {
    check_pair("mse", reference, estimate)?;
    let sum = Zip::from(reference)
        .and(estimate)
        .fold(0.0_f64, |sum, &r, &e| sum + squared_difference(r, e));
    Ok((sum / reference.len() as f64) as f32)
}

/// The mean squared error of each row (each sample): shape `(rows)`. The same as
/// [`Autoencoder::reconstruction_error`](crate::Autoencoder::reconstruction_error) of a model's output.
///
/// # Errors
/// As [`mse`].
///
/// ```
/// use autoencoder::ndarray::array;
/// let (reference, estimate) = (array![[0.0_f32, 0.0], [1.0, 1.0]], array![[0.0_f32, 1.0], [1.0, 1.0]]);
/// let errors = autoencoder::metrics::mse_per_row(reference.view(), estimate.view())?;
/// assert_eq!(errors.to_vec(), [0.5, 0.0]);
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn mse_per_row(reference: ArrayView2<f32>, estimate: ArrayView2<f32>) -> Result<Array1<f32>> {
    check_pair("mse_per_row", reference, estimate)?;
    let columns = reference.ncols() as f64;
    Ok(Zip::from(reference.axis_iter(Axis(0)))
        .and(estimate.axis_iter(Axis(0)))
        .map_collect(|r, e| {
            let sum = Zip::from(r)
                .and(e)
                .fold(0.0_f64, |sum, &r, &e| sum + squared_difference(r, e));
            (sum / columns) as f32
        }))
}

/// The peak signal-to-noise ratio in decibels, `10 · log10(max_value² / mse)`, with one MSE over the whole
/// array (every image together, not a mean of per-image PSNRs). `max_value` is the largest possible value:
/// 1 for pixels in `[0, 1]`, 255 for bytes. Identical arrays give `+∞`. Higher is better; each halving of the MSE
/// adds about 3 dB.
///
/// # Errors
/// As [`mse`], and [`Error::InvalidArgument`] when `max_value` is not positive and finite.
///
/// ```
/// use autoencoder::ndarray::array;
/// use autoencoder::metrics::psnr;
/// let clean = array![[0.0_f32, 1.0]];
/// assert!((psnr(clean.view(), array![[0.1_f32, 0.9]].view(), 1.0)? - 20.0).abs() < 1e-4);
/// assert_eq!(psnr(clean.view(), clean.view(), 1.0)?, f32::INFINITY);
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn psnr(reference: ArrayView2<f32>, estimate: ArrayView2<f32>, max_value: f32) -> Result<f32> {
    if !(max_value.is_finite() && max_value > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "psnr: max_value must be positive and finite, got {max_value}"
        )));
    }
    let error = f64::from(mse(reference, estimate)?);
    Ok((10.0 * (f64::from(max_value).powi(2) / error).log10()) as f32)
}

/// The area under the ROC curve of `scores` for telling the positive samples (`labels[i] == true`, e.g. the
/// anomalies) from the negative ones, a higher score meaning "more likely positive".
///
/// It is the probability that a random positive sample scores higher than a random negative one, with a tie
/// counting one half: 1 separates the classes perfectly, 0.5 is chance, 0 is perfectly reversed. Computed
/// exactly from the ranks of the scores (the Mann–Whitney U statistic; tied scores share their mean rank) in
/// `O(n log n)`. Infinite scores are allowed.
///
/// # Errors
/// [`Error::Shape`] when the lengths differ, [`Error::InvalidArgument`] when there are no samples, only one
/// class (the AUC is undefined), or a NaN score.
///
/// ```
/// use autoencoder::metrics::roc_auc;
/// assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true])?, 0.75);
/// assert_eq!(roc_auc(&[1.0, 2.0], &[false, true])?, 1.0);
/// assert!(roc_auc(&[1.0, 2.0], &[true, true]).is_err()); // no negatives
/// assert!(roc_auc(&[f32::NAN, 2.0], &[false, true]).is_err());
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Result<f64> {
    if scores.len() != labels.len() {
        return Err(Error::shape(
            "roc_auc",
            format!("one label per score ({} scores)", scores.len()),
            format!("{} labels", labels.len()),
        ));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::InvalidArgument(format!("roc_auc: score {i} is NaN")));
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(Error::InvalidArgument(format!(
            "roc_auc needs both classes, got {positives} positive and {negatives} negative samples"
        )));
    }

    let mut order: Vec<usize> = (0..scores.len()).collect();
    // No NaN is left, so the comparison is total (and -0 ties with +0).
    order.sort_unstable_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap_or(Ordering::Equal));
    // The sum of the positives' ranks (1-based), each run of tied scores sharing the mean of its ranks.
    let mut positive_rank_sum = 0.0_f64;
    let mut start = 0;
    while start < order.len() {
        let tied = order[start..]
            .iter()
            .take_while(|&&i| scores[i] == scores[order[start]])
            .count();
        let end = start + tied;
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| labels[i]).count();
        positive_rank_sum += mean_rank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Ok((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

fn squared_difference(reference: f32, estimate: f32) -> f64 {
    let difference = f64::from(reference) - f64::from(estimate);
    difference * difference
}

/// Checks that two arrays have the same, non-empty shape and only finite values.
fn check_pair(context: &str, reference: ArrayView2<f32>, estimate: ArrayView2<f32>) -> Result<()> {
    if reference.dim() != estimate.dim() {
        return Err(Error::shape(
            context,
            format!("the reference's shape {:?}", reference.dim()),
            format!("{:?}", estimate.dim()),
        ));
    }
    if reference.is_empty() {
        return Err(Error::shape(
            context,
            "at least one element",
            format!("{:?}", reference.dim()),
        ));
    }
    for (name, array) in [("reference", reference), ("estimate", estimate)] {
        if let Some(((row, column), value)) = array.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "{context}: the {name} has the non-finite value {value} at ({row}, {column})"
            )));
        }
    }
    Ok(())
}
