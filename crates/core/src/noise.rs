//! The measurement-noise convention: `sigma_y` is in `[-1, 1]` image units everywhere inside
//! vmlmap (the DPS/DAPS/DiffPIR convention, docs/algorithms.md §1). DDRM, DiffPIR's code and
//! RED-diff state noise levels for images in `[0, 1]`; an image in `[0, 1]` is half the
//! range of one in `[-1, 1]`, so their `sigma` is half of ours.

use std::str::FromStr;

/// The unit a user states `sigma_y` in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NoiseConvention {
    /// `sigma_y` for images in `[-1, 1]` (vmlmap's internal unit; DPS, DAPS).
    #[default]
    MinusOneOne,
    /// `sigma_y` for images in `[0, 1]` (DDRM, RED-diff); converted by doubling.
    ZeroOne,
}

impl NoiseConvention {
    /// Converts a user-stated `sigma_y` into vmlmap's `[-1, 1]` units.
    pub fn to_internal(self, sigma_y: f64) -> f64 {
        match self {
            Self::MinusOneOne => sigma_y,
            Self::ZeroOne => 2.0 * sigma_y,
        }
    }
}

/// An unknown convention name.
#[derive(Debug, thiserror::Error)]
#[error("unknown noise convention {0:?}: expected \"minus-one-one\" (images in [-1, 1]) or \"zero-one\" (images in [0, 1])")]
pub struct UnknownConvention(pub String);

impl FromStr for NoiseConvention {
    type Err = UnknownConvention;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "minus-one-one" | "-1,1" | "pm1" => Ok(Self::MinusOneOne),
            "zero-one" | "0,1" | "unit" => Ok(Self::ZeroOne),
            other => Err(UnknownConvention(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_one_noise_doubles() {
        // A pixel value p in [0, 1] is 2p - 1 in [-1, 1]: noise of std s becomes 2s.
        assert_eq!(NoiseConvention::ZeroOne.to_internal(0.025), 0.05);
        assert_eq!(NoiseConvention::MinusOneOne.to_internal(0.05), 0.05);
        assert!("bogus".parse::<NoiseConvention>().is_err());
        assert_eq!(
            "zero-one".parse::<NoiseConvention>().unwrap(),
            NoiseConvention::ZeroOne
        );
    }
}
