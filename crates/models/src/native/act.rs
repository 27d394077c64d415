//! An activation: a batch of feature maps stored channels-last (`[B, H, W, C]`, f32).
//! Its buffers are filled and copied on the rayon pool: the per-pixel copies (channel
//! concatenation, resampling) and zero-fills were serial and left a core idle.

use rayon::prelude::*;

/// Values below which a buffer is filled on the calling thread (a task costs more).
const PAR_MIN: usize = 1 << 15;

/// Pixels per rayon task in the per-pixel copies.
const PIXELS_PER_TASK: usize = 256;

/// `n` zeros, written in parallel when `n` is large (by `memset`, the C library's widest
/// stores).
pub fn zeros(n: usize) -> Vec<f32> {
    if n < PAR_MIN {
        return vec![0.0; n];
    }
    let mut v = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(PAR_MIN)
        .for_each(|chunk| {
            // SAFETY: `chunk` is `chunk.len()` writable f32 slots, and all-zero bytes
            // are the f32 0.0.
            unsafe { std::ptr::write_bytes(chunk.as_mut_ptr(), 0, chunk.len()) }
        });
    // SAFETY: every chunk of the first `n` slots was written above.
    unsafe { v.set_len(n) };
    v
}

/// `rows` copies of `row`, written once on the rayon pool: a convolution's output
/// initialised to its bias without a zero-fill pass first. Each task writes its first row
/// and doubles the written prefix with `memcpy` (a few large copies, not a store loop per
/// row).
pub fn repeated_rows(row: &[f32], rows: usize) -> Vec<f32> {
    let c = row.len();
    let n = rows * c;
    let mut v = Vec::with_capacity(n);
    if c > 0 {
        v.spare_capacity_mut()[..n]
            .par_chunks_mut(PIXELS_PER_TASK * c)
            .for_each(|chunk| {
                let p = chunk.as_mut_ptr() as *mut f32;
                let len = chunk.len();
                // SAFETY: `p` points at `len` writable f32 slots (`len` a whole number of
                // rows); each copy reads the written prefix `[0, done)` and writes the
                // disjoint range after it.
                unsafe {
                    std::ptr::copy_nonoverlapping(row.as_ptr(), p, c);
                    let mut done = c;
                    while done < len {
                        let m = done.min(len - done);
                        std::ptr::copy_nonoverlapping(p, p.add(done), m);
                        done += m;
                    }
                }
            });
    }
    // SAFETY: the loop above wrote all `n` values (`n` is a whole number of rows, and
    // every chunk a whole number of rows).
    unsafe { v.set_len(n) };
    v
}

/// A `[B, H, W, C]` f32 buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Act {
    pub b: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Act {
    pub fn zeros(b: usize, h: usize, w: usize, c: usize) -> Self {
        Self {
            b,
            h,
            w,
            c,
            data: zeros(b * h * w * c),
        }
    }

    /// A copy, made on the rayon pool when it is large (a tape keeping its input).
    pub fn par_clone(&self) -> Act {
        let data = if self.data.len() < PAR_MIN {
            self.data.clone()
        } else {
            let n = self.data.len();
            let mut v = Vec::with_capacity(n);
            v.spare_capacity_mut()[..n]
                .par_chunks_mut(PAR_MIN)
                .zip(self.data.par_chunks(PAR_MIN))
                .for_each(|(dst, src)| {
                    // SAFETY: `dst` and `src` have the same length (same chunking of
                    // equal lengths) and do not overlap (a fresh buffer).
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            src.as_ptr(),
                            dst.as_mut_ptr() as *mut f32,
                            src.len(),
                        )
                    }
                });
            // SAFETY: every slot of the first `n` was written above.
            unsafe { v.set_len(n) };
            v
        };
        Act { data, ..*self }
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.h * self.w
    }

    /// Rows of the `[B·H·W, C]` matrix view.
    pub fn rows(&self) -> usize {
        self.b * self.h * self.w
    }

    /// From `[B, C, H, W]` values.
    pub fn from_nchw(x: &[f64], b: usize, c: usize, h: usize, w: usize) -> Self {
        Self::from_nchw_scaled(x, b, c, h, w, c, |_| 1.0)
    }

    /// `[B, C, H, W]` values times `scale(image)`, as the first `C` of `channels` channels
    /// (the rest zero): a cotangent for a network with more outputs than the image has
    /// channels (learned sigma).
    pub fn from_nchw_scaled(
        x: &[f64],
        b: usize,
        c: usize,
        h: usize,
        w: usize,
        channels: usize,
        scale: impl Fn(usize) -> f64,
    ) -> Self {
        assert!(channels >= c, "{channels} channels cannot hold {c}");
        let mut a = Self::zeros(b, h, w, channels);
        for bi in 0..b {
            let k = scale(bi);
            for ci in 0..c {
                let src = &x[(bi * c + ci) * h * w..][..h * w];
                for (p, &v) in src.iter().enumerate() {
                    a.data[(bi * h * w + p) * channels + ci] = (k * v) as f32;
                }
            }
        }
        a
    }

    /// The first `c` channels as `[B, c, H, W]` f64 values.
    pub fn to_nchw(&self, c: usize) -> Vec<f64> {
        let (h, w) = (self.h, self.w);
        let mut out = vec![0.0; self.b * c * h * w];
        for bi in 0..self.b {
            for ci in 0..c {
                let dst = &mut out[(bi * c + ci) * h * w..][..h * w];
                for (p, d) in dst.iter_mut().enumerate() {
                    *d = self.data[(bi * h * w + p) * self.c + ci] as f64;
                }
            }
        }
        out
    }

    /// `self += other` (same shape).
    pub fn add_assign(&mut self, other: &Act) {
        assert_eq!(
            self.data.len(),
            other.data.len(),
            "adding activations of different sizes"
        );
        self.data
            .par_chunks_mut(PAR_MIN)
            .zip(other.data.par_chunks(PAR_MIN))
            .for_each(|(d, s)| super::kernels::add_into(d, s));
    }

    /// Channels `[self | other]` (same batch and size).
    pub fn concat_channels(&self, other: &Act) -> Act {
        let c = self.c + other.c;
        let mut out = Act::zeros(self.b, self.h, self.w, c);
        out.data
            .par_chunks_mut(c * PIXELS_PER_TASK)
            .zip(self.data.par_chunks(self.c * PIXELS_PER_TASK))
            .zip(other.data.par_chunks(other.c * PIXELS_PER_TASK))
            .for_each(|((dst, a), b)| {
                for ((dst, a), b) in dst
                    .chunks_exact_mut(c)
                    .zip(a.chunks_exact(self.c))
                    .zip(b.chunks_exact(other.c))
                {
                    dst[..self.c].copy_from_slice(a);
                    dst[self.c..].copy_from_slice(b);
                }
            });
        out
    }

    /// The adjoint of [`Act::concat_channels`]: the first `c1` channels and the rest.
    pub fn split_channels(&self, c1: usize) -> (Act, Act) {
        let c2 = self.c - c1;
        let mut a = Act::zeros(self.b, self.h, self.w, c1);
        let mut b = Act::zeros(self.b, self.h, self.w, c2);
        a.data
            .par_chunks_mut(c1 * PIXELS_PER_TASK)
            .zip(b.data.par_chunks_mut(c2 * PIXELS_PER_TASK))
            .zip(self.data.par_chunks(self.c * PIXELS_PER_TASK))
            .for_each(|((da, db), src)| {
                for ((src, da), db) in src
                    .chunks_exact(self.c)
                    .zip(da.chunks_exact_mut(c1))
                    .zip(db.chunks_exact_mut(c2))
                {
                    da.copy_from_slice(&src[..c1]);
                    db.copy_from_slice(&src[c1..]);
                }
            });
        (a, b)
    }

    /// Nearest-neighbour x2 upsampling.
    pub fn upsample2(&self) -> Act {
        let (h2, w2, c) = (2 * self.h, 2 * self.w, self.c);
        let mut out = Act::zeros(self.b, h2, w2, c);
        // One output row per task: row `y` of image `bi` reads input row `y / 2`.
        out.data
            .par_chunks_mut(w2 * c)
            .enumerate()
            .for_each(|(row, dst)| {
                let (bi, y) = (row / h2, row % h2);
                let src = &self.data[(bi * self.h + y / 2) * self.w * c..][..self.w * c];
                for (x, d) in dst.chunks_exact_mut(c).enumerate() {
                    d.copy_from_slice(&src[(x / 2) * c..][..c]);
                }
            });
        out
    }

    /// The adjoint of [`Act::upsample2`]: each pixel sums its 2x2 block.
    pub fn upsample2_adjoint(&self) -> Act {
        self.pool2(1.0)
    }

    /// 2x2 average pooling.
    pub fn avg_pool2(&self) -> Act {
        self.pool2(0.25)
    }

    /// The adjoint of [`Act::avg_pool2`]: each pixel's value, quartered, to its 2x2 block.
    pub fn avg_pool2_adjoint(&self) -> Act {
        let mut out = self.upsample2();
        out.data.iter_mut().for_each(|v| *v *= 0.25);
        out
    }

    fn pool2(&self, scale: f32) -> Act {
        let (h2, w2, c) = (self.h / 2, self.w / 2, self.c);
        let mut out = Act::zeros(self.b, h2, w2, c);
        // One output row per task, each value summed in the same order as before.
        out.data
            .par_chunks_mut(w2 * c)
            .enumerate()
            .for_each(|(row, dst)| {
                let (bi, y) = (row / h2, row % h2);
                for (x, d) in dst.chunks_exact_mut(c).enumerate() {
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let src = ((bi * self.h + 2 * y + dy) * self.w + 2 * x + dx) * c;
                        for (o, v) in d.iter_mut().zip(&self.data[src..src + c]) {
                            *o += *v;
                        }
                    }
                    d.iter_mut().for_each(|v| *v *= scale);
                }
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(b: usize, h: usize, w: usize, c: usize) -> Act {
        let mut a = Act::zeros(b, h, w, c);
        for (i, v) in a.data.iter_mut().enumerate() {
            *v = ((i * 7919) % 101) as f32 / 50.0 - 1.0;
        }
        a
    }

    fn dot(a: &Act, b: &Act) -> f64 {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x * y) as f64)
            .sum()
    }

    #[test]
    fn layout_round_trip() {
        let x: Vec<f64> = (0..2 * 3 * 4 * 5).map(|i| i as f64).collect();
        let a = Act::from_nchw(&x, 2, 3, 4, 5);
        assert_eq!(a.to_nchw(3), x);
        // channel 1 of image 1 at (y 2, x 3)
        assert_eq!(
            a.data[((4 + 2) * 5 + 3) * 3 + 1],
            x[((3 + 1) * 4 + 2) * 5 + 3] as f32
        );
    }

    #[test]
    fn parallel_fills_and_copies_write_every_value() {
        // Sizes below and above the parallel threshold, and not a whole number of chunks.
        for n in [0, 5, PAR_MIN - 1, PAR_MIN, 3 * PAR_MIN + 17] {
            assert!(zeros(n).iter().all(|&v| v.to_bits() == 0), "{n} zeros");
            let a = Act {
                data: (0..n).map(|i| i as f32 * 0.5 - 7.0).collect(),
                ..Act::zeros(1, 1, n, 1)
            };
            assert_eq!(a.par_clone(), a, "{n} values copied");
        }
        for (c, rows) in [(1, 1), (3, 1000), (7, 2 * PIXELS_PER_TASK + 3), (64, 4099)] {
            let row: Vec<f32> = (0..c).map(|i| i as f32 + 0.25).collect();
            let v = repeated_rows(&row, rows);
            assert_eq!(v.len(), c * rows);
            assert!(
                v.chunks_exact(c).all(|r| r == row.as_slice()),
                "{c} x {rows}"
            );
        }
    }

    #[test]
    fn resampling_adjoints() {
        let x = ramp(2, 4, 6, 3);
        let y = ramp(2, 8, 12, 3);
        assert!((dot(&x.upsample2(), &y) - dot(&x, &y.upsample2_adjoint())).abs() < 1e-4);
        let z = ramp(2, 2, 3, 3);
        assert!((dot(&x.avg_pool2(), &z) - dot(&x, &z.avg_pool2_adjoint())).abs() < 1e-4);
        let (a, b) = x.concat_channels(&ramp(2, 4, 6, 2)).split_channels(3);
        assert_eq!(a, x);
        assert_eq!(b, ramp(2, 4, 6, 2));
    }
}
