//! Adam (Kingma and Ba 2015, "Adam: A Method for Stochastic Optimization") on one vector:
//! the optimiser of RED-diff's `mu` and of VML-MAP's `optimizer=adam` inner steps.

/// Adam's state for one vector; `eps = 1e-8`.
pub(crate) struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
    beta1: f64,
    beta2: f64,
}

impl Adam {
    pub(crate) fn new(n: usize, beta1: f64, beta2: f64) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
            beta1,
            beta2,
        }
    }

    /// `x -= lr * m_hat / (sqrt(v_hat) + eps)` after folding the gradient `g` into the
    /// bias-corrected moments.
    pub(crate) fn step(&mut self, x: &mut [f64], g: &[f64], lr: f64) {
        let (b1, b2) = (self.beta1, self.beta2);
        self.t += 1;
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        for (((xi, &gi), m), v) in x.iter_mut().zip(g).zip(&mut self.m).zip(&mut self.v) {
            *m = b1 * *m + (1.0 - b1) * gi;
            *v = b2 * *v + (1.0 - b2) * gi * gi;
            *xi -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_step_moves_each_coordinate_by_lr_against_its_gradient_sign() {
        let mut a = Adam::new(3, 0.9, 0.999);
        let mut x = vec![1.0, 1.0, 1.0];
        a.step(&mut x, &[2.0, -0.5, 1e-3], 0.1);
        for (xi, want) in x.iter().zip([0.9, 1.1, 0.9]) {
            assert!((xi - want).abs() < 1e-6, "{x:?}");
        }
    }
}
