//! Linear measurement operators `y = H x + eta` (docs/algorithms.md §7) for VML-MAP
//! (arXiv 2512.10524) and its baselines.
//!
//! Every operator gives `apply` (`H x`), `adjoint` (`H^T y`), the closed-form
//! `gram_solve(v, lambda) = (H^T H + lambda I)^-1 v`, the regularised pseudo-inverse
//! `(H^T H + lambda I)^-1 H^T y` and the null-space filter `lambda (H^T H + lambda I)^-1 u`
//! (the two numerically stable halves of VML-MAP's preconditioner, §4), the pseudo-inverse,
//! its singular values, and where the structure allows an explicit SVD ([`SvdBasis`]) for
//! DDRM-style solvers.
//!
//! Families: pixel masks ([`mask`]), Kronecker products of 1-D matrices ([`kronecker`]:
//! block-average and bicubic super-resolution, separable circular blurs, colourisation,
//! identity), circular 2-D convolution diagonalised by the FFT ([`fft_conv`]: motion blur)
//! and dense random matrices ([`dense`]: compressed sensing). [`task`] builds them by name.

pub mod dense;
pub mod factor;
pub mod fft_conv;
pub mod kernels;
pub mod kronecker;
pub mod mask;
pub mod measure;
pub mod spectral;
pub mod task;

pub use measure::measure;
pub use spectral::SvdBasis;
pub use task::{TaskSpec, TASK_NAMES};

use vmlmap_core::Shape;

/// Relative threshold below which a singular value counts as zero (numerical rank) in the
/// pseudo-inverse and the regularised solves.
pub const RANK_TOL: f64 = 1e-10;

/// An invalid operator description.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("unknown task {0:?}; known tasks: {list}", list = TASK_NAMES.join(", "))]
    UnknownTask(String),
    #[error("task {task}: unknown option {key:?}; options: {known}")]
    UnknownOption {
        task: String,
        key: String,
        known: String,
    },
    #[error("task {task}: option {key}={value:?} is invalid: {reason}")]
    InvalidOption {
        task: String,
        key: String,
        value: String,
        reason: String,
    },
    #[error("task option {0:?} is not of the form key=value")]
    MalformedOption(String),
    #[error("{task} needs {reason}; image shape is {shape}")]
    IncompatibleShape {
        task: String,
        shape: Shape,
        reason: String,
    },
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
}

/// A linear operator on images of [`LinearOperator::input_shape`].
pub trait LinearOperator: Send + Sync + std::fmt::Debug {
    /// The task name and its parameters, for reports.
    fn describe(&self) -> String;

    /// Shape of `x`.
    fn input_shape(&self) -> Shape;

    /// Number of measurements `m`.
    fn output_len(&self) -> usize;

    /// Shape of `y` when the measurement is itself an image (super-resolution, blur,
    /// colourisation), else `None` (masks and compressed sensing give plain vectors).
    fn output_shape(&self) -> Option<Shape>;

    /// `H x`.
    fn apply(&self, x: &[f64]) -> Vec<f64>;

    /// `H^T y`.
    fn adjoint(&self, y: &[f64]) -> Vec<f64>;

    /// The singular values of `H`, one per coordinate of the input space (`n` values,
    /// zeros for the null space), in no particular order.
    fn singular_values(&self) -> Vec<f64>;

    /// `(H^T H + lambda I)^-1 v`, `lambda >= 0`; for `lambda = 0` the pseudo-inverse of
    /// `H^T H` (null-space components are dropped).
    fn gram_solve(&self, v: &[f64], lambda: f64) -> Vec<f64>;

    /// `(H^T H + lambda I)^-1 H^T y`, computed without forming `H^T y / lambda`; `lambda = 0`
    /// gives `H^+ y`.
    fn regularized_pinv(&self, y: &[f64], lambda: f64) -> Vec<f64>;

    /// `lambda (H^T H + lambda I)^-1 u`: the identity on the null space of `H`, damped on
    /// its range; `lambda = 0` gives the projection onto the null space, `I - H^+ H`.
    fn null_filter(&self, u: &[f64], lambda: f64) -> Vec<f64>;

    /// `H^+ y`.
    fn pinv(&self, y: &[f64]) -> Vec<f64> {
        self.regularized_pinv(y, 0.0)
    }

    /// The explicit SVD `H = U S V^T`, where the structure gives one.
    fn svd(&self) -> Option<&dyn SvdBasis> {
        None
    }

    /// The largest singular value, `‖H‖₂`.
    fn norm(&self) -> f64 {
        self.singular_values().into_iter().fold(0.0, f64::max)
    }
}

/// The dense `m x n` matrix of an operator, column by column (for tests and exact
/// posteriors on small sizes).
pub fn to_dense(op: &dyn LinearOperator) -> nalgebra::DMatrix<f64> {
    let n = op.input_shape().numel();
    let m = op.output_len();
    let mut a = nalgebra::DMatrix::zeros(m, n);
    let mut e = vec![0.0; n];
    for j in 0..n {
        e[j] = 1.0;
        let col = op.apply(&e);
        for i in 0..m {
            a[(i, j)] = col[i];
        }
        e[j] = 0.0;
    }
    a
}
