//! Safe single-threaded f32 matrix products on strided views, over the `gemm` crate's
//! kernels; the callers parallelise over row blocks, images or heads themselves, so that
//! results do not depend on the thread count.

use gemm::Parallelism;

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows x cols` matrix with row stride `ld`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize, ld: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: ld,
            cs: 1,
        }
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `dst = a · b` (or `dst += a · b` when `accumulate`), `dst` row-major with row stride
/// `ldd`.
pub fn matmul(dst: &mut [f32], ldd: usize, a: MatRef, b: MatRef, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "inner dimensions differ");
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldd >= n && (m - 1) * ldd + n <= dst.len(),
        "destination too small"
    );
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * ldd..r * ldd + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: every index the kernel touches lies inside the slices (checked above), and
    // `dst` does not alias `a` or `b` (a `&mut` and two `&` borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            ldd as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Rows per block when a `rows x n` product is split across threads: about 64k output
/// values per block, at least 16 rows; a function of the sizes only (not of the thread
/// count), so that results are the same on every machine.
pub fn block_rows(rows: usize, n: usize) -> usize {
    (65_536 / n.max(1)).clamp(16, rows.max(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &MatRef, b: &MatRef) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols)
                    .map(|k| a.data[i * a.rs + k * a.cs] * b.data[k * b.rs + j * b.cs])
                    .sum();
            }
        }
        out
    }

    #[test]
    fn matches_naive_with_transposes_and_accumulation() {
        let a: Vec<f32> = (0..35).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..42).map(|i| (i as f32 * 0.11).cos()).collect();
        let am = MatRef::row_major(&a, 5, 7, 7);
        let bm = MatRef::row_major(&b, 7, 6, 6);
        let mut d = vec![0.0; 30];
        matmul(&mut d, 6, am, bm, false);
        let want = naive(&am, &bm);
        for (x, y) in d.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
        matmul(&mut d, 6, am, bm, true);
        for (x, y) in d.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
        // (b^T a^T) = (a b)^T
        let mut dt = vec![0.0; 30];
        matmul(&mut dt, 5, bm.t(), am.t(), false);
        for i in 0..5 {
            for j in 0..6 {
                assert!((dt[j * 5 + i] - want[i * 6 + j]).abs() < 1e-5);
            }
        }
    }
}
