//! `autoencoder::metrics` against values worked out by hand and against a brute-force ROC AUC.

use approx::assert_abs_diff_eq;
use autoencoder::metrics::{mse, mse_per_row, psnr, roc_auc};
use autoencoder::ndarray::{array, Array2};
use autoencoder::rand::{rngs::StdRng, Rng, SeedableRng};
use autoencoder::Error;

#[test]
fn mse_is_the_mean_over_every_element_and_per_row_the_mean_of_each_row() {
    let reference = array![[0.0_f32, 0.0, 0.0], [1.0, 1.0, 1.0]];
    let estimate = array![[0.3_f32, 0.0, 0.0], [1.0, 0.4, 1.0]];
    // Squared differences 0.09 and 0.36 among 6 elements.
    assert_abs_diff_eq!(
        mse(reference.view(), estimate.view()).unwrap(),
        0.45 / 6.0,
        epsilon = 1e-7
    );
    let rows = mse_per_row(reference.view(), estimate.view()).unwrap();
    assert_abs_diff_eq!(rows[0], 0.03, epsilon = 1e-7);
    assert_abs_diff_eq!(rows[1], 0.12, epsilon = 1e-7);
    assert_eq!(mse(reference.view(), reference.view()).unwrap(), 0.0);
}

#[test]
fn psnr_uses_one_mse_over_the_whole_array() {
    let reference = Array2::<f32>::zeros((2, 4));
    let mut estimate = Array2::<f32>::from_elem((2, 4), 0.1);
    // MSE 0.01: 10 · log10(1 / 0.01) = 20 dB; with max_value 2, 10 · log10(4 / 0.01) = 26.0206 dB.
    assert_abs_diff_eq!(
        psnr(reference.view(), estimate.view(), 1.0).unwrap(),
        20.0,
        epsilon = 1e-4
    );
    assert_abs_diff_eq!(
        psnr(reference.view(), estimate.view(), 2.0).unwrap(),
        26.0206,
        epsilon = 1e-4
    );
    // Row 0 exact, row 1 off by 0.2: one MSE of (4 · 0.04) / 8 = 0.02 → 16.9897 dB (a mean of per-row PSNRs
    // would be infinite).
    estimate.row_mut(0).fill(0.0);
    estimate.row_mut(1).fill(0.2);
    assert_abs_diff_eq!(
        psnr(reference.view(), estimate.view(), 1.0).unwrap(),
        16.9897,
        epsilon = 1e-4
    );
    assert_eq!(psnr(reference.view(), reference.view(), 1.0).unwrap(), f32::INFINITY);
    // On the byte scale: pixels off by 1 of 255 → 10 · log10(255²) = 48.1308 dB.
    let bytes = Array2::<f32>::from_elem((1, 3), 1.0);
    assert_abs_diff_eq!(
        psnr(Array2::zeros((1, 3)).view(), bytes.view(), 255.0).unwrap(),
        48.1308,
        epsilon = 1e-3
    );
}

#[test]
fn mse_and_psnr_refuse_mismatched_empty_or_non_finite_input() {
    let a = Array2::<f32>::zeros((2, 3));
    assert!(matches!(
        mse(a.view(), Array2::zeros((3, 2)).view()),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        mse_per_row(a.view(), Array2::zeros((2, 4)).view()),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        mse(Array2::zeros((0, 3)).view(), Array2::zeros((0, 3)).view()),
        Err(Error::Shape { .. })
    ));
    let mut bad = a.clone();
    bad[[1, 2]] = f32::NAN;
    let err = mse(a.view(), bad.view()).unwrap_err();
    assert!(err.to_string().contains("(1, 2)"), "{err}");
    bad[[1, 2]] = f32::INFINITY;
    assert!(mse_per_row(bad.view(), a.view()).is_err());
    for max_value in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let err = psnr(a.view(), a.view(), max_value).unwrap_err();
        assert!(err.to_string().contains("max_value"), "{err}");
    }
}

#[test]
fn roc_auc_matches_hand_computed_values() {
    // scikit-learn's documented example: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75.
    assert_eq!(
        roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap(),
        0.75
    );
    assert_eq!(roc_auc(&[1.0, 2.0, 3.0], &[false, true, true]).unwrap(), 1.0);
    assert_eq!(roc_auc(&[3.0, 2.0, 1.0], &[false, true, true]).unwrap(), 0.0);
    // Infinite scores are ordinary extremes.
    assert_eq!(
        roc_auc(&[f32::NEG_INFINITY, f32::INFINITY], &[false, true]).unwrap(),
        1.0
    );
}

#[test]
fn roc_auc_counts_ties_as_one_half() {
    assert_eq!(roc_auc(&[1.0, 1.0], &[true, false]).unwrap(), 0.5);
    assert_eq!(
        roc_auc(&[5.0; 6], &[true, false, true, false, false, false]).unwrap(),
        0.5
    );
    // Positives {0.5, 0.9}, negatives {0.5, 0.1}: pairs 0.5 + 1 + 1 + 1 of 4.
    assert_eq!(
        roc_auc(&[0.5, 0.5, 0.9, 0.1], &[true, false, true, false]).unwrap(),
        0.875
    );
    // -0 and +0 are the same score.
    assert_eq!(roc_auc(&[-0.0, 0.0], &[true, false]).unwrap(), 0.5);
}

#[test]
fn roc_auc_equals_the_pairwise_count_on_random_scores_with_many_ties() {
    let mut rng = StdRng::seed_from_u64(11);
    for n in [2, 3, 10, 57, 400] {
        let scores: Vec<f32> = (0..n).map(|_| (rng.random_range(0..8) as f32) * 0.25).collect();
        let mut labels: Vec<bool> = (0..n).map(|_| rng.random::<bool>()).collect();
        labels[0] = true;
        labels[1] = false;
        let mut wins = 0.0_f64;
        let mut pairs = 0.0_f64;
        for (p, _) in scores.iter().zip(&labels).filter(|(_, &l)| l) {
            for (q, _) in scores.iter().zip(&labels).filter(|(_, &l)| !l) {
                pairs += 1.0;
                wins += if p > q {
                    1.0
                } else if p == q {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert_abs_diff_eq!(roc_auc(&scores, &labels).unwrap(), wins / pairs, epsilon = 1e-12);
    }
}

#[test]
fn roc_auc_refuses_what_has_no_answer() {
    let err = roc_auc(&[1.0, 2.0], &[true, true]).unwrap_err();
    assert!(err.to_string().contains("both classes"), "{err}");
    assert!(roc_auc(&[1.0, 2.0], &[false, false]).is_err());
    assert!(roc_auc(&[], &[]).is_err());
    assert!(matches!(roc_auc(&[1.0, 2.0], &[true]), Err(Error::Shape { .. })));
    let err = roc_auc(&[1.0, f32::NAN, 0.0], &[true, false, false]).unwrap_err();
    assert!(err.to_string().contains("score 1 is NaN"), "{err}");
}
