//! Seeded, portable randomness: the same seed gives the same numbers on every machine.
//!
//! ChaCha8 is a stream cipher with a documented output, so results do not depend on the
//! platform or on the `rand` version's choice of default generator.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The generator every seeded computation in vmlmap uses.
pub type Rng = ChaCha8Rng;

/// A generator from a user seed.
pub fn seeded(seed: u64) -> Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` independent standard normal values.
pub fn normal_vec(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers() {
        let a = normal_vec(&mut seeded(7), 16);
        let b = normal_vec(&mut seeded(7), 16);
        let c = normal_vec(&mut seeded(8), 16);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn moments_are_standard() {
        let v = normal_vec(&mut seeded(1), 200_000);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }
}
