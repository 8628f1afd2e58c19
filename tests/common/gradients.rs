//! What the finite-difference checks (`tests/gradient_check.rs`, `tests/vae.rs`) share: the running comparison of
//! hand-written gradients with numeric ones.

/// The worst `|a - n| / (abs_tolerance + rel_tolerance · max(|a|, |n|))` seen so far (1 is the limit), and the
/// worst relative error among gradients larger than 1e-3, for the report.
#[derive(Debug)]
pub struct Comparison {
    pub abs_tolerance: f64,
    pub rel_tolerance: f64,
    pub worst_ratio: f64,
    pub worst_where: String,
    pub worst_relative: f64,
    pub compared: usize,
}

impl Comparison {
    /// Nothing compared yet, against these tolerances.
    pub fn new(abs_tolerance: f64, rel_tolerance: f64) -> Comparison {
        Comparison {
            abs_tolerance,
            rel_tolerance,
            worst_ratio: 0.0,
            worst_where: String::new(),
            worst_relative: 0.0,
            compared: 0,
        }
    }

    /// Compares one analytic gradient with its numeric estimate; `what` names it in the report.
    pub fn add(&mut self, analytic: f64, numeric: f64, what: impl FnOnce() -> String) {
        let error = (analytic - numeric).abs();
        let scale = analytic.abs().max(numeric.abs());
        let ratio = error / (self.abs_tolerance + self.rel_tolerance * scale);
        if ratio.is_nan() || ratio > self.worst_ratio {
            self.worst_ratio = ratio;
            self.worst_where = format!("{}: analytic {analytic:e}, numeric {numeric:e}", what());
        }
        if scale > 1e-3 {
            self.worst_relative = self.worst_relative.max(error / scale);
        }
        self.compared += 1;
    }

    /// Takes in another comparison's worst cases and count.
    pub fn merge(&mut self, other: Comparison) {
        if other.worst_ratio.is_nan() || other.worst_ratio > self.worst_ratio {
            self.worst_ratio = other.worst_ratio;
            self.worst_where = other.worst_where;
        }
        self.worst_relative = self.worst_relative.max(other.worst_relative);
        self.compared += other.compared;
    }

    /// Whether every gradient compared was within the tolerances.
    pub fn passes(&self) -> bool {
        self.worst_ratio <= 1.0 // false for NaN
    }

    /// Asserts that something was compared and that it [`passes`](Self::passes).
    #[track_caller]
    pub fn assert_passes(&self, context: &str) {
        assert!(self.compared > 0, "{context}: nothing compared");
        assert!(
            self.passes(),
            "{context}: gradient off by {:.2}× the tolerance at {}",
            self.worst_ratio,
            self.worst_where
        );
    }
}
