//! Direct 2-D convolution for AVX2 + FMA CPUs: a register-blocked kernel that reads the
//! channels-last input where it lies, with no im2col buffer and no packing per call.
//!
//! The im2col + GEMM forward (`conv.rs`) copies every input pixel nine times into a column
//! block and the GEMM then packs that block again; on the default model at batch 16 those
//! two copies were 9–10% of a forward + VJP and of a training step
//! (docs/performance.md, "Profile"). Here the weights are packed once, when the network
//! is built, into panels of 16 output channels (`[cout / 16][k·k·cin][16]`), and a tile of
//! 6 output pixels × 16 channels lives in 12 AVX registers while the kernel walks the
//! taps: for each input channel it loads two weight vectors and broadcasts each pixel's
//! input value straight from the activation (a tap outside the image reads a zero row).
//!
//! Every output value is `bias + Σ_ky Σ_kx Σ_ci x · w` summed in that order, whatever the
//! blocking or the thread count, so results are the same on every run and machine with
//! AVX2 + FMA. Convolutions whose output channels are not a multiple of 16, with fewer
//! than 8 input channels, and every convolution on CPUs without AVX2 + FMA (or with
//! `VMLMAP_SIMD=baseline`) keep the im2col + GEMM path; tests hold both to the definition.

use super::act::Act;
use super::kernels::has_avx2_fma;
use rayon::prelude::*;

/// Output channels per weight panel: two 8-wide vectors.
const PANEL: usize = 16;
/// Output pixels per register tile (6 × 2 accumulators + 2 weights + 1 broadcast = 15 of
/// the 16 AVX registers).
const TILE: usize = 6;
/// Most output pixels per rayon task (a multiple of `TILE`).
const MAX_BLOCK: usize = 96;

/// A convolution's weights packed for the direct kernel, and its geometry.
#[derive(Clone, Debug)]
pub struct DirectConv {
    /// `[cout / 16][k·k·cin][16]`.
    panels: Vec<f32>,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
}

impl DirectConv {
    /// From the GEMM-layout weights `wmat` (`[k·k·cin, cout]`, row `(ky·k + kx)·cin + ci`),
    /// when this CPU and these sizes take the direct kernel; `None` otherwise.
    pub fn new(
        wmat: &[f32],
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Option<Self> {
        if !cfg!(target_arch = "x86_64")
            || !cout.is_multiple_of(PANEL)
            || cin < 8
            || k < 2
            || !has_avx2_fma()
        {
            return None;
        }
        let kk = k * k * cin;
        assert_eq!(wmat.len(), kk * cout, "conv weight size");
        let mut panels = vec![0.0; kk * cout];
        for (p, panel) in panels.chunks_exact_mut(kk * PANEL).enumerate() {
            for (r, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                dst.copy_from_slice(&wmat[r * cout + p * PANEL..][..PANEL]);
            }
        }
        Some(Self {
            panels,
            cin,
            cout,
            k,
            stride,
            pad,
        })
    }

    /// Adds the convolution of `x` to `out` (`[B, oh, ow, cout]`, holding the bias rows).
    pub fn accumulate(&self, x: &Act, out: &mut Act) {
        assert_eq!(x.c, self.cin, "conv input channels");
        assert_eq!(out.c, self.cout, "conv output channels");
        assert_eq!(out.b, x.b, "conv batch");
        let rows = out.rows();
        let block = block_pixels(rows);
        let zeros = vec![0.0f32; self.cin];
        let (oh, ow) = (out.h, out.w);
        out.data
            .par_chunks_mut(block * self.cout)
            .enumerate()
            .for_each(|(bi, dst)| {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `DirectConv` exists only where the CPU has AVX2 and FMA (`new`).
                unsafe {
                    self.block(x, oh, ow, bi * block, dst, &zeros)
                };
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!(
                    "no direct convolution off x86-64 ({bi}, {})",
                    dst.len() + zeros.len() + oh + ow
                );
            });
    }

    /// Output pixels `r0..` (as many as `dst` holds whole rows for).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block(
        &self,
        x: &Act,
        oh: usize,
        ow: usize,
        r0: usize,
        dst: &mut [f32],
        zeros: &[f32],
    ) {
        let n = dst.len() / self.cout;
        let kk = self.k * self.k * self.cin;
        let row_len = self.k * self.cin * PANEL;
        for (p, panel) in self.panels.chunks_exact(kk * PANEL).enumerate() {
            for ky in 0..self.k {
                let w = &panel[ky * row_len..][..row_len];
                let mut t = 0;
                while t < n {
                    let tile = Tile {
                        conv: self,
                        x,
                        oh,
                        ow,
                        r: r0 + t,
                        ky,
                        w,
                        zeros,
                    };
                    let d = &mut dst[t * self.cout + p * PANEL..];
                    match (n - t).min(TILE) {
                        6 => tile.run::<6>(d),
                        5 => tile.run::<5>(d),
                        4 => tile.run::<4>(d),
                        3 => tile.run::<3>(d),
                        2 => tile.run::<2>(d),
                        _ => tile.run::<1>(d),
                    }
                    t += TILE;
                }
            }
        }
    }
}

impl DirectConv {
    /// `dW += Σ_p x_tap(p) ⊗ g(p)` over the output pixels `r0..r0 + n` of `g`
    /// (`[B, oh, ow, cout]`), into `dw` laid out as the GEMM weights (`[k·k·cin, cout]`):
    /// the weight gradient without an im2col block. Pixels are taken in sub-blocks of
    /// `WGRAD_SUB` (their gradient rows and input rows stay in L1 while the kernel walks
    /// the taps and channel tiles), in order, so the sum order is fixed.
    pub fn weight_grad(&self, x: &Act, g: &Act, r0: usize, n: usize, dw: &mut [f32]) {
        assert_eq!(x.c, self.cin, "conv input channels");
        assert_eq!(g.c, self.cout, "conv gradient channels");
        assert!(r0 + n <= g.rows(), "gradient rows");
        assert_eq!(
            dw.len(),
            self.k * self.k * self.cin * self.cout,
            "weight gradient size"
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `DirectConv` exists only where the CPU has AVX2 and FMA (`new`).
        unsafe {
            self.weight_grad_avx(x, g, r0, n, dw)
        };
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("no direct convolution off x86-64 ({r0}, {n}, {})", dw.len());
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn weight_grad_avx(&self, x: &Act, g: &Act, r0: usize, n: usize, dw: &mut [f32]) {
        let (k, cin, cout, s, pad) = (self.k, self.cin, self.cout, self.stride, self.pad as isize);
        let (oh, ow) = (g.h, g.w);
        // Per tap: the (gradient row, input offset) pairs of the sub-block's pixels whose
        // tap falls inside the image (the others add zero).
        let mut pairs: Vec<Vec<(u32, u32)>> = vec![Vec::with_capacity(WGRAD_SUB); k * k];
        let mut start = r0;
        let mut first = true;
        while start < r0 + n {
            let end = (start + WGRAD_SUB).min(r0 + n);
            for (tap, list) in pairs.iter_mut().enumerate() {
                let (ky, kx) = (tap / k, tap % k);
                list.clear();
                for r in start..end {
                    let b = r / (oh * ow);
                    let oy = (r / ow) % oh;
                    let ox = r % ow;
                    let iy = (oy * s + ky) as isize - pad;
                    let ix = (ox * s + kx) as isize - pad;
                    if iy >= 0 && ix >= 0 && (iy as usize) < x.h && (ix as usize) < x.w {
                        let src = ((b * x.h + iy as usize) * x.w + ix as usize) * cin;
                        list.push(((r * cout) as u32, src as u32));
                    }
                }
            }
            for p in 0..cout / PANEL {
                for (tap, list) in pairs.iter().enumerate() {
                    let mut ci = 0;
                    while ci < cin {
                        let row = tap * cin + ci;
                        let d = &mut dw[row * cout + p * PANEL..];
                        let args = (x, g, list.as_slice(), ci, p * PANEL, first);
                        match (cin - ci).min(TILE) {
                            6 => wgrad_tile::<6>(d, cout, args),
                            5 => wgrad_tile::<5>(d, cout, args),
                            4 => wgrad_tile::<4>(d, cout, args),
                            3 => wgrad_tile::<3>(d, cout, args),
                            2 => wgrad_tile::<2>(d, cout, args),
                            _ => wgrad_tile::<1>(d, cout, args),
                        }
                        ci += TILE;
                    }
                }
            }
            first = false;
            start = end;
        }
    }
}

/// Pixels per sub-block of the weight gradient.
const WGRAD_SUB: usize = 256;

/// `d[i·cout .. i·cout + 16] (+)= Σ_(row, src) x[src + ci0 + i] · g[row + co0 ..]` for the
/// tile's `NP` input channels (`=` on the first sub-block).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn wgrad_tile<const NP: usize>(
    d: &mut [f32],
    cout: usize,
    (x, g, pairs, ci0, co0, first): (&Act, &Act, &[(u32, u32)], usize, usize, bool),
) {
    use std::arch::x86_64::*;
    assert!(d.len() >= (NP - 1) * cout + PANEL, "tile destination");
    assert!(co0 + PANEL <= cout, "tile channels");
    let dp = d.as_mut_ptr();
    let mut acc = [[_mm256_setzero_ps(); 2]; NP];
    if !first {
        for (i, a) in acc.iter_mut().enumerate() {
            a[0] = _mm256_loadu_ps(dp.add(i * cout));
            a[1] = _mm256_loadu_ps(dp.add(i * cout + 8));
        }
    }
    let (xp, gp) = (x.data.as_ptr(), g.data.as_ptr());
    let (xl, gl) = (x.data.len(), g.data.len());
    // Every pair was made from a pixel inside `g` and `x` (`weight_grad_avx`); the last
    // one bounds them all (rows and sources increase).
    if let Some(&(row, src)) = pairs.last() {
        assert!(
            row as usize + co0 + PANEL <= gl && src as usize + ci0 + NP <= xl,
            "pixel in bounds"
        );
    }
    for &(row, src) in pairs {
        let (row, src) = (row as usize + co0, src as usize + ci0);
        let g0 = _mm256_loadu_ps(gp.add(row));
        let g1 = _mm256_loadu_ps(gp.add(row + 8));
        for (i, a) in acc.iter_mut().enumerate() {
            let v = _mm256_broadcast_ss(&*xp.add(src + i));
            a[0] = _mm256_fmadd_ps(v, g0, a[0]);
            a[1] = _mm256_fmadd_ps(v, g1, a[1]);
        }
    }
    for (i, a) in acc.iter().enumerate() {
        _mm256_storeu_ps(dp.add(i * cout), a[0]);
        _mm256_storeu_ps(dp.add(i * cout + 8), a[1]);
    }
}

#[cfg(target_arch = "x86_64")]
/// One kernel row `ky` of one panel for the output pixels `r..r + NP`.
struct Tile<'a> {
    conv: &'a DirectConv,
    x: &'a Act,
    oh: usize,
    ow: usize,
    r: usize,
    ky: usize,
    /// The panel's weights of kernel row `ky`: `[k·cin][16]`.
    w: &'a [f32],
    zeros: &'a [f32],
}

#[cfg(target_arch = "x86_64")]
impl Tile<'_> {
    /// `d[i·cout .. i·cout + 16] += Σ_kx Σ_ci x(pixel i, tap (ky, kx), ci) · w` for the
    /// tile's `NP` pixels.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run<const NP: usize>(&self, d: &mut [f32]) {
        use std::arch::x86_64::*;
        let c = self.conv;
        let (cin, cout, k, s) = (c.cin, c.cout, c.k, c.stride);
        assert!(d.len() >= (NP - 1) * cout + PANEL, "tile destination");
        assert!(self.w.len() >= k * cin * PANEL, "tile weights");
        // Each pixel's input row for this kernel row: its first tap's column and whether
        // the row is inside the image.
        let mut base = [0usize; NP];
        let mut ix0 = [0isize; NP];
        let mut row_in = [false; NP];
        for i in 0..NP {
            let r = self.r + i;
            let b = r / (self.oh * self.ow);
            let oy = (r / self.ow) % self.oh;
            let ox = r % self.ow;
            let iy = (oy * s + self.ky) as isize - c.pad as isize;
            row_in[i] = iy >= 0 && (iy as usize) < self.x.h;
            base[i] = (b * self.x.h + iy.max(0) as usize) * self.x.w;
            ix0[i] = (ox * s) as isize - c.pad as isize;
        }
        let mut acc = [[_mm256_setzero_ps(); 2]; NP];
        let dp = d.as_mut_ptr();
        for (i, a) in acc.iter_mut().enumerate() {
            a[0] = _mm256_loadu_ps(dp.add(i * cout));
            a[1] = _mm256_loadu_ps(dp.add(i * cout + 8));
        }
        let xp = self.x.data.as_ptr();
        for kx in 0..k {
            let mut src = [self.zeros.as_ptr(); NP];
            for i in 0..NP {
                let ix = ix0[i] + kx as isize;
                if row_in[i] && ix >= 0 && (ix as usize) < self.x.w {
                    // In bounds: pixel `base + ix` of `x` has `cin` values.
                    src[i] = xp.add((base[i] + ix as usize) * cin);
                }
            }
            let wp = self.w.as_ptr().add(kx * cin * PANEL);
            for ci in 0..cin {
                let w0 = _mm256_loadu_ps(wp.add(ci * PANEL));
                let w1 = _mm256_loadu_ps(wp.add(ci * PANEL + 8));
                for i in 0..NP {
                    let v = _mm256_broadcast_ss(&*src[i].add(ci));
                    acc[i][0] = _mm256_fmadd_ps(v, w0, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(v, w1, acc[i][1]);
                }
            }
        }
        for (i, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(dp.add(i * cout), a[0]);
            _mm256_storeu_ps(dp.add(i * cout + 8), a[1]);
        }
    }
}

/// Pixels per rayon task: enough tasks to feed the threads on small layers (at least 8
/// where there are pixels for them), at most `MAX_BLOCK`, a whole number of tiles; a
/// function of the size only (and the result does not depend on it anyway).
fn block_pixels(rows: usize) -> usize {
    (rows.div_ceil(8).div_ceil(TILE) * TILE).clamp(TILE, MAX_BLOCK)
}
