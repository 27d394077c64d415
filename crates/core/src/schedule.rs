//! Diffusion noise schedules: the Karras/EDM sigma schedule and the discrete VP table of
//! DDPM-trained networks, with sigma <-> t conversion (docs/algorithms.md §2, §5).
//!
//! Karras, Aittala, Aila, Laine, "Elucidating the Design Space of Diffusion-Based Generative
//! Models" (NeurIPS 2022), eq. 5: `sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) -
//! smax^(1/rho)))^rho`. Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models"
//! (NeurIPS 2020): linear betas `1e-4 .. 0.02` over `T = 1000` steps; the VE noise level of
//! step `t` is `sigma_t = sqrt((1 - abar_t) / abar_t)`.

/// An invalid schedule parameter.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("schedule needs at least 1 step, got {0}")]
    TooFewSteps(usize),
    #[error(
        "invalid sigma range: sigma_max = {sigma_max} must exceed sigma_min = {sigma_min} > 0"
    )]
    SigmaRange { sigma_max: f64, sigma_min: f64 },
    #[error("invalid rho = {0}: must be positive and finite")]
    Rho(f64),
    #[error("invalid beta range {beta_start}..{beta_end}: need 0 < beta_start <= beta_end < 1")]
    Betas { beta_start: f64, beta_end: f64 },
}

/// The Karras/EDM schedule: `n` sigmas from `sigma_max` down to `sigma_min` (inclusive).
/// One step gives `[sigma_max]`.
pub fn karras(
    n: usize,
    sigma_max: f64,
    sigma_min: f64,
    rho: f64,
) -> Result<Vec<f64>, ScheduleError> {
    if n == 0 {
        return Err(ScheduleError::TooFewSteps(n));
    }
    if !(sigma_min > 0.0 && sigma_max > sigma_min && sigma_max.is_finite()) {
        return Err(ScheduleError::SigmaRange {
            sigma_max,
            sigma_min,
        });
    }
    if !(rho > 0.0 && rho.is_finite()) {
        return Err(ScheduleError::Rho(rho));
    }
    if n == 1 {
        return Ok(vec![sigma_max]);
    }
    let (a, b) = (sigma_max.powf(1.0 / rho), sigma_min.powf(1.0 / rho));
    Ok((0..n)
        .map(|i| (a + i as f64 / (n - 1) as f64 * (b - a)).powf(rho))
        .collect())
}

/// The discrete variance-preserving table of a DDPM-trained network.
#[derive(Clone, Debug)]
pub struct VpTable {
    betas: Vec<f64>,
    alpha_bars: Vec<f64>,
    sigmas: Vec<f64>,
    log_sigmas: Vec<f64>,
}

impl VpTable {
    /// Linear betas from `beta_start` to `beta_end` over `steps` steps.
    pub fn linear(steps: usize, beta_start: f64, beta_end: f64) -> Result<Self, ScheduleError> {
        if steps < 2 {
            return Err(ScheduleError::TooFewSteps(steps));
        }
        if !(beta_start > 0.0 && beta_start <= beta_end && beta_end < 1.0) {
            return Err(ScheduleError::Betas {
                beta_start,
                beta_end,
            });
        }
        let betas: Vec<f64> = (0..steps)
            .map(|i| beta_start + (beta_end - beta_start) * i as f64 / (steps - 1) as f64)
            .collect();
        let mut alpha_bars = Vec::with_capacity(steps);
        let mut acc = 1.0;
        for b in &betas {
            acc *= 1.0 - b;
            alpha_bars.push(acc);
        }
        let sigmas: Vec<f64> = alpha_bars.iter().map(|a| ((1.0 - a) / a).sqrt()).collect();
        let log_sigmas = sigmas.iter().map(|s| s.ln()).collect();
        Ok(Self {
            betas,
            alpha_bars,
            sigmas,
            log_sigmas,
        })
    }

    /// The standard table of DDPM and guided-diffusion: `T = 1000`, betas `1e-4 .. 0.02`.
    pub fn ddpm_linear() -> Self {
        Self::linear(1000, 1e-4, 0.02).expect("the standard table is valid")
    }

    pub fn len(&self) -> usize {
        self.sigmas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sigmas.is_empty()
    }

    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    pub fn alpha_bars(&self) -> &[f64] {
        &self.alpha_bars
    }

    /// VE noise level of every step.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// Smallest and largest sigma on the grid.
    pub fn sigma_range(&self) -> (f64, f64) {
        (self.sigmas[0], self.sigmas[self.sigmas.len() - 1])
    }

    /// The step whose sigma is nearest to `sigma` in log space (docs/algorithms.md §2).
    pub fn nearest_t(&self, sigma: f64) -> usize {
        let ls = sigma.max(f64::MIN_POSITIVE).ln();
        let i = self.log_sigmas.partition_point(|&v| v < ls);
        if i == 0 {
            0
        } else if i >= self.len() {
            self.len() - 1
        } else if (ls - self.log_sigmas[i - 1]) <= (self.log_sigmas[i] - ls) {
            i - 1
        } else {
            i
        }
    }

    /// `sigma` rounded to the grid.
    pub fn round_sigma(&self, sigma: f64) -> f64 {
        self.sigmas[self.nearest_t(sigma)]
    }

    /// Continuous `t` for `sigma`: linear interpolation of `t` over `log sigma_t`, clamped to
    /// `[0, T-1]`.
    pub fn sigma_to_t(&self, sigma: f64) -> f64 {
        let ls = sigma.max(f64::MIN_POSITIVE).ln();
        let i = self.log_sigmas.partition_point(|&v| v < ls);
        if i == 0 {
            return 0.0;
        }
        if i >= self.len() {
            return (self.len() - 1) as f64;
        }
        let (a, b) = (self.log_sigmas[i - 1], self.log_sigmas[i]);
        (i - 1) as f64 + (ls - a) / (b - a)
    }

    /// `sigma` at continuous `t`: linear interpolation of `log sigma_t`, clamped to the table.
    pub fn t_to_sigma(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, (self.len() - 1) as f64);
        let i = (t.floor() as usize).min(self.len() - 2);
        let f = t - i as f64;
        ((1.0 - f) * self.log_sigmas[i] + f * self.log_sigmas[i + 1]).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    // Reference numbers: tools/schedule_reference.py (numpy, f64).
    #[test]
    fn vp_table_matches_numpy() {
        let t = VpTable::ddpm_linear();
        let refs = [
            (0, 0.010000500037502575),
            (1, 0.014830923708982587),
            (10, 0.04688549021144125),
            (100, 0.3422596990130316),
            (250, 0.9580337146622314),
            (500, 3.4429671125258228),
            (999, 157.40728081040757),
        ];
        for (i, s) in refs {
            assert!(
                close(t.sigmas()[i], s, 1e-12),
                "t={i}: {} vs {s}",
                t.sigmas()[i]
            );
        }
        assert!(close(t.sigma_to_t(1.0), 258.09301969495516, 1e-12));
        assert!(close(t.sigma_to_t(10.0), 673.6655066487325, 1e-12));
        assert!(close(t.t_to_sigma(123.4), 0.4242089654727721, 1e-12));
    }

    #[test]
    fn sigma_t_roundtrip_and_rounding() {
        let t = VpTable::ddpm_linear();
        for s in [0.02, 0.3, 1.0, 7.0, 100.0] {
            assert!(close(t.t_to_sigma(t.sigma_to_t(s)), s, 1e-12));
        }
        assert_eq!(t.nearest_t(1e-6), 0);
        assert_eq!(t.nearest_t(1e6), 999);
        assert_eq!(t.nearest_t(t.sigmas()[417]), 417);
        assert_eq!(t.round_sigma(t.sigmas()[417] * 1.0001), t.sigmas()[417]);
    }

    #[test]
    fn karras_matches_numpy() {
        let k = karras(10, 80.0, 0.002, 7.0).unwrap();
        let refs = [
            80.0,
            42.41518931851267,
            21.10867673619376,
            9.723201355260132,
            4.066123602953759,
            1.501741979068008,
            0.46997905799774714,
            0.1166385635251784,
            0.020435334553438746,
            0.002,
        ];
        for (a, b) in k.iter().zip(refs) {
            assert!(close(*a, b, 1e-12), "{a} vs {b}");
        }
    }

    #[test]
    fn invalid_schedules_are_typed_errors() {
        assert_eq!(
            karras(0, 80.0, 0.002, 7.0),
            Err(ScheduleError::TooFewSteps(0))
        );
        assert!(matches!(
            karras(5, 0.001, 0.002, 7.0),
            Err(ScheduleError::SigmaRange { .. })
        ));
        assert!(matches!(
            karras(5, 80.0, 0.002, -1.0),
            Err(ScheduleError::Rho(_))
        ));
        assert!(VpTable::linear(1000, 0.0, 0.02).is_err());
    }
}
