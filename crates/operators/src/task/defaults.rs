//! Size-dependent blur defaults: the literature's values at 256² scaled to the image side
//! (the rule is in the parent module's documentation).

/// Size-dependent blur defaults (see the module documentation for the rule).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlurDefaults {
    pub gaussian_size: usize,
    pub gaussian_std: f64,
    pub uniform_size: usize,
    pub motion_size: usize,
}

fn nearest_odd(x: f64) -> usize {
    let k = (2.0 * ((x - 1.0) / 2.0).round() + 1.0) as i64;
    k.max(3) as usize
}

impl BlurDefaults {
    pub fn for_side(side: usize) -> Self {
        let s = side as f64;
        let size = |small: f64, large: f64| -> usize {
            if side >= 256 {
                large as usize
            } else if side >= 32 {
                nearest_odd(small + (large - small) * (s / 32.0).log2() / 3.0)
            } else {
                nearest_odd(small * s / 32.0)
            }
        };
        Self {
            gaussian_size: size(9.0, 61.0),
            gaussian_std: 1.5 * (s.min(256.0) / 32.0).cbrt(),
            uniform_size: size(5.0, 9.0),
            motion_size: size(9.0, 61.0),
        }
    }
}
