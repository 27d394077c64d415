//! A measurement `y = H x0 + sigma_y eta` (docs/algorithms.md §1) with everything needed to
//! restore it: the task as resolved for the image size, the operator it builds, the noise
//! level and the image shape. Its noise is drawn by [`vmlmap_operators::measure`], the
//! one noise rule of the project.

use crate::RestoreError;
use vmlmap_core::Shape;
use vmlmap_operators::{measure, LinearOperator, TaskSpec};
use vmlmap_solvers::Problem;

/// A measurement with its operator and noise level, validated.
#[derive(Debug)]
pub struct Measurement {
    /// A name for reports and output files.
    pub name: String,
    /// The task with every option written out for [`Measurement::shape`].
    pub task: TaskSpec,
    pub op: Box<dyn LinearOperator>,
    /// The measured values (`op.output_len()` of them).
    pub y: Vec<f64>,
    /// Measurement noise in `[-1, 1]` image units (1e-9: noise-free).
    pub sigma_y: f64,
    /// `C x H x W` of the unknown image.
    pub shape: Shape,
    /// The seed of the noise, when this measurement was made by [`Measurement::degrade`].
    pub noise_seed: Option<u64>,
}

/// `sigma_y` must be positive and finite.
pub(crate) fn check_sigma_y(sigma_y: f64) -> Result<(), RestoreError> {
    if !(sigma_y > 0.0 && sigma_y.is_finite()) {
        return Err(RestoreError::Invalid(format!(
            "invalid sigma_y {sigma_y}: must be positive and finite (use 1e-9 for noise-free)"
        )));
    }
    Ok(())
}

/// Every value finite; `what` names the array in the error.
pub(crate) fn check_finite(values: &[f64], what: &str) -> Result<(), RestoreError> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(RestoreError::Invalid(format!(
            "{what} holds a non-finite value ({}) at index {i}",
            values[i]
        )));
    }
    Ok(())
}

/// The task resolved for `shape` and its operator, after checking `sigma_y`.
fn resolve(
    task: &TaskSpec,
    shape: Shape,
    sigma_y: f64,
) -> Result<(TaskSpec, Box<dyn LinearOperator>), RestoreError> {
    check_sigma_y(sigma_y)?;
    let task = task.resolved(shape)?;
    let op = task.build(shape)?;
    Ok((task, op))
}

impl Measurement {
    /// A measurement `y` of `task` on images of `shape` (the task is resolved for the
    /// shape); checks the length of `y`, its values and `sigma_y`.
    pub fn new(
        name: impl Into<String>,
        task: &TaskSpec,
        shape: Shape,
        y: Vec<f64>,
        sigma_y: f64,
    ) -> Result<Self, RestoreError> {
        let (task, op) = resolve(task, shape, sigma_y)?;
        if y.len() != op.output_len() {
            return Err(RestoreError::Invalid(format!(
                "a {} measurement of {shape} images has {} values, got {}",
                task.name,
                op.output_len(),
                y.len()
            )));
        }
        check_finite(&y, "the measurement")?;
        Ok(Self {
            name: name.into(),
            task,
            op,
            y,
            sigma_y,
            shape,
            noise_seed: None,
        })
    }

    /// The measurement of a clean image `x` of `shape`: `y = H x + sigma_y eta` with the
    /// noise of `seed` ([`measure`]).
    pub fn degrade(
        name: impl Into<String>,
        x: &[f64],
        shape: Shape,
        task: &TaskSpec,
        sigma_y: f64,
        seed: u64,
    ) -> Result<Self, RestoreError> {
        if x.len() != shape.numel() {
            return Err(RestoreError::Invalid(format!(
                "image has {} values, a {shape} image {}",
                x.len(),
                shape.numel()
            )));
        }
        check_finite(x, "the image")?;
        let (task, op) = resolve(task, shape, sigma_y)?;
        let y = measure(op.as_ref(), x, sigma_y, seed);
        Ok(Self {
            name: name.into(),
            task,
            op,
            y,
            sigma_y,
            shape,
            noise_seed: Some(seed),
        })
    }

    /// The solver's view of it.
    pub fn problem(&self) -> Result<Problem<'_>, RestoreError> {
        Ok(Problem::new(
            self.op.as_ref(),
            self.y.clone(),
            self.sigma_y,
        )?)
    }

    /// The shape of `y` when it is an image (`None` for masks' observed pixels and CS).
    pub fn output_shape(&self) -> Option<Shape> {
        self.op.output_shape()
    }

    /// A full-size picture of the measurement: `y` itself where it is an image, the
    /// masked image (`H^T y`) for inpainting, the pseudo-inverse otherwise.
    pub fn view(&self) -> (Vec<f64>, Shape) {
        match self.op.output_shape() {
            Some(s) => (self.y.clone(), s),
            None if self.task.name.starts_with("inpaint") => (self.op.adjoint(&self.y), self.shape),
            None => (self.op.pinv(&self.y), self.shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrade_is_h_x_plus_scaled_seeded_noise() {
        let shape = Shape::new(1, 8, 8).unwrap();
        let x: Vec<f64> = (0..64).map(|i| (i as f64 / 32.0) - 1.0).collect();
        let task = TaskSpec::new("sr2").unwrap();
        let a = Measurement::degrade("a", &x, shape, &task, 0.1, 3).unwrap();
        let b = Measurement::degrade("b", &x, shape, &task, 0.2, 3).unwrap();
        let hx = a.op.apply(&x);
        for ((ya, yb), h) in a.y.iter().zip(&b.y).zip(&hx) {
            // The same eta at both noise levels: (yb - h) = 2 (ya - h).
            assert!(((yb - h) - 2.0 * (ya - h)).abs() < 1e-12);
        }
        let c = Measurement::degrade("c", &x, shape, &task, 0.1, 4).unwrap();
        assert_ne!(a.y, c.y);
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        let shape = Shape::new(1, 8, 8).unwrap();
        let task = TaskSpec::new("sr2").unwrap();
        let e = Measurement::new("m", &task, shape, vec![0.0; 5], 0.1).unwrap_err();
        assert!(e.to_string().contains("16 values, got 5"), "{e}");
        let mut y = vec![0.0; 16];
        y[3] = f64::NAN;
        let e = Measurement::new("m", &task, shape, y, 0.1).unwrap_err();
        assert!(
            e.to_string().contains("non-finite value (NaN) at index 3"),
            "{e}"
        );
        let e = Measurement::new("m", &task, shape, vec![0.0; 16], 0.0).unwrap_err();
        assert!(e.to_string().contains("sigma_y 0"), "{e}");
        let e = Measurement::degrade("m", &[0.0; 10], shape, &task, 0.1, 0).unwrap_err();
        assert!(e.to_string().contains("10 values"), "{e}");
    }
}
