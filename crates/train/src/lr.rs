//! The learning-rate schedule: a linear warm-up to the peak rate, then either the peak rate
//! to the end or a half-cosine decay from the peak to a final rate at the run's last step
//! (Loshchilov & Hutter 2017, "SGDR", without restarts).

/// What the rate does after the warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrDecay {
    /// The peak rate until the end.
    Constant,
    /// `final + (peak − final) · (1 + cos(π p)) / 2`, `p` the fraction of the post-warm-up
    /// steps done, reaching `final` at the run's total step count.
    Cosine { final_lr: f64 },
}

impl LrDecay {
    /// Parses `constant` or `cosine` (with the final rate given separately).
    pub fn parse(name: &str, final_lr: f64) -> Option<Self> {
        match name {
            "constant" => Some(Self::Constant),
            "cosine" => Some(Self::Cosine { final_lr }),
            _ => None,
        }
    }
}

/// The rate of the update at 0-based `step` of a run of `total` steps.
pub fn lr_at(step: u64, total: u64, peak: f64, warmup: u64, decay: LrDecay) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    match decay {
        LrDecay::Constant => peak,
        LrDecay::Cosine { final_lr } => {
            let span = total.saturating_sub(warmup).max(1) as f64;
            let p = ((step - warmup) as f64 / span).min(1.0);
            final_lr + (peak - final_lr) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_linear_then_constant() {
        let d = LrDecay::Constant;
        assert_eq!(lr_at(0, 100, 1e-3, 10, d), 1e-4);
        assert!((lr_at(4, 100, 1e-3, 10, d) - 5e-4).abs() < 1e-18);
        assert_eq!(lr_at(9, 100, 1e-3, 10, d), 1e-3);
        assert_eq!(lr_at(99, 100, 1e-3, 10, d), 1e-3);
        // No warm-up: the peak from the first step.
        assert_eq!(lr_at(0, 100, 1e-3, 0, d), 1e-3);
    }

    #[test]
    fn cosine_runs_from_peak_through_the_midpoint_to_final() {
        let d = LrDecay::Cosine { final_lr: 1e-4 };
        let (peak, warm, total) = (1e-3, 100, 1100);
        assert!((lr_at(100, total, peak, warm, d) - peak).abs() < 1e-15);
        // Halfway through the decay: the mean of the peak and final rates.
        assert!((lr_at(600, total, peak, warm, d) - 5.5e-4).abs() < 1e-15);
        assert!((lr_at(1100, total, peak, warm, d) - 1e-4).abs() < 1e-15);
        // Past the planned end (a run extended by resuming): the final rate.
        assert!((lr_at(5000, total, peak, warm, d) - 1e-4).abs() < 1e-15);
        // Monotone decreasing after the warm-up.
        let mut last = f64::INFINITY;
        for s in warm..total {
            let v = lr_at(s, total, peak, warm, d);
            assert!(v <= last);
            last = v;
        }
    }

    #[test]
    fn parse_names() {
        assert_eq!(LrDecay::parse("constant", 0.0), Some(LrDecay::Constant));
        assert_eq!(
            LrDecay::parse("cosine", 2e-5),
            Some(LrDecay::Cosine { final_lr: 2e-5 })
        );
        assert_eq!(LrDecay::parse("linear", 0.0), None);
    }
}
