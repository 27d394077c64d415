//! The measurement rule `y = H x + sigma_y eta`, `eta ~ N(0, I)` (docs/algorithms.md §1), in
//! one place: degrade, demo, the bench and `validate` all draw their noise with it, each
//! from a seed of its own derivation.

use crate::LinearOperator;
use vmlmap_core::rng::{normal_vec, seeded};

/// `H x + sigma_y eta` with `eta` drawn from the seeded generator of `noise_seed`.
pub fn measure(op: &dyn LinearOperator, x: &[f64], sigma_y: f64, noise_seed: u64) -> Vec<f64> {
    let eta = normal_vec(&mut seeded(noise_seed), op.output_len());
    op.apply(x)
        .iter()
        .zip(&eta)
        .map(|(v, e)| v + sigma_y * e)
        .collect()
}
