//! What the tests against JAX's training trajectories (`tests/reference_jax_cae.rs`, `tests/reference_jax_vae.rs`)
//! share: the fixtures' JSON arrays as numbers, and the tolerances a loss or final weight must meet.

use serde_json::Value;

/// Every loss and final weight must be within this, relative to the larger magnitude, of JAX's...
pub const RELATIVE_TOLERANCE: f64 = 1e-5;
/// ...or within this absolute difference: with SGD, where the weights move by the gradients themselves (observed:
/// 2.6e-6 relative at most)...
pub const SGD_ABSOLUTE_FLOOR: f64 = 1e-6;
/// ...and with Adam, which divides each step by the gradient's running size, so that a gradient near zero, whose
/// rounding differs between the two implementations, moves its weight by a visibly different amount (observed:
/// 1.7e-6 absolute at most, on weights of order 0.1; with SGD the same weights agree to 1e-7). One part in
/// a thousand of the learning rate: a wrong gradient would move a weight by up to the learning rate per step.
pub const ADAM_ABSOLUTE_FLOOR: f64 = 1e-5;

/// A JSON array of numbers, as `f32`.
pub fn numbers(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// A JSON array of sizes.
pub fn sizes(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// Asserts that `ours` is within the tolerances of `theirs`; returns the absolute difference.
#[track_caller]
pub fn assert_close(ours: f32, theirs: f32, floor: f64, what: &str) -> f64 {
    let (a, b) = (f64::from(ours), f64::from(theirs));
    let difference = (a - b).abs();
    assert!(
        difference <= floor.max(RELATIVE_TOLERANCE * a.abs().max(b.abs())),
        "{what}: ours {ours}, JAX {theirs}"
    );
    difference
}
