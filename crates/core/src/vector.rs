//! Small dense-vector helpers (f64 slices) used by solvers and priors.

/// Inner product.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Euclidean norm.
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `a - b`.
pub fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// `a + b`.
pub fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// `s * a`.
pub fn scale(a: &[f64], s: f64) -> Vec<f64> {
    a.iter().map(|x| s * x).collect()
}

/// `y += s * x`, in place.
pub fn axpy(y: &mut [f64], s: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += s * xi;
    }
}

/// `‖a - b‖ / ‖b‖`, or `‖a - b‖` when `b` is zero.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let d = norm(&sub(a, b));
    let nb = norm(b);
    if nb > 0.0 {
        d / nb
    } else {
        d
    }
}

/// Whether every value is finite.
pub fn all_finite(a: &[f64]) -> bool {
    a.iter().all(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_identities() {
        let a = [3.0, 4.0];
        assert_eq!(norm(&a), 5.0);
        assert_eq!(dot(&a, &[1.0, 2.0]), 11.0);
        assert_eq!(rel_err(&[3.0, 4.0], &[3.0, 4.0]), 0.0);
        let mut y = vec![1.0, 1.0];
        axpy(&mut y, 2.0, &a);
        assert_eq!(y, vec![7.0, 9.0]);
    }
}
