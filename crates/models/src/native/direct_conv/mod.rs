//! Direct 2-D convolution for AVX2 + FMA and AVX-512 CPUs: a register-blocked kernel that
//! reads the channels-last input where it lies, with no im2col buffer and no packing per
//! call.
//!
//! The im2col + GEMM forward (`conv.rs`) copies every input pixel nine times into a column
//! block and the GEMM then packs that block again; on the default model at batch 16 those
//! two copies were 9–10% of a forward + VJP and of a training step
//! (docs/performance.md, "Profile"). Here the weights are packed once, when the network
//! is built, into panels of 16 output channels (`[cout / 16][k·k·cin][16]`), and a tile of
//! output pixels × output channels lives in vector registers while the kernel walks the
//! taps: for each input channel it loads the weight vectors and broadcasts each pixel's
//! input value straight from the activation (a tap outside the image reads a zero row).
//! The tiles are `avx2.rs` (6 pixels × 16 channels in 12 of the 16 AVX registers) and
//! `avx512.rs` (12 pixels × 32 channels, two panels at once, in 24 of the 32 AVX-512
//! registers), chosen at each call by [`simd`].
//!
//! Every output value is `bias + Σ_ky Σ_kx Σ_ci x · w` summed in that order, one FMA per
//! term, whatever the tile, the blocking or the thread count: results are the same bit for
//! bit on every run, on AVX2 and on AVX-512 (tests). The weight gradient likewise sums its
//! pixels in order. Convolutions whose output channels are not a multiple of 16, with fewer
//! than 8 input channels, and every convolution on CPUs without AVX2 + FMA (or with
//! `VMLMAP_SIMD=baseline`) keep the im2col + GEMM path; tests hold both to the definition.

mod avx2;
mod avx512;

use super::act::Act;
use super::kernels::{has_avx2_fma, simd, Simd};
use rayon::prelude::*;

/// Output channels per weight panel: one AVX-512 vector, two AVX2 vectors.
const PANEL: usize = 16;
/// Most output pixels per rayon task (a multiple of both tiles' pixel counts).
const MAX_BLOCK: usize = 96;
/// The AVX2 tile's pixels; blocks are whole numbers of them.
const TILE: usize = avx2::TILE;

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

    /// The panel `p`'s weights of kernel row `ky`: `[k·cin][16]`.
    fn panel_row(&self, p: usize, ky: usize) -> &[f32] {
        let kk = self.k * self.k * self.cin;
        let row_len = self.k * self.cin * PANEL;
        &self.panels[p * kk * PANEL + ky * row_len..][..row_len]
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
        let wide = simd() == Simd::Avx512;
        out.data
            .par_chunks_mut(block * self.cout)
            .enumerate()
            .for_each(|(bi, dst)| {
                let pixels = Pixels {
                    x,
                    oh,
                    ow,
                    r0: bi * block,
                    zeros: &zeros,
                };
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `DirectConv` exists only where the CPU has AVX2 and FMA (`new`),
                // and `simd()` says AVX-512 only where it has AVX-512F (`force_simd`).
                unsafe {
                    if wide {
                        avx512::block(self, &pixels, dst)
                    } else {
                        avx2::block(self, &pixels, dst)
                    }
                };
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!(
                    "no direct convolution off x86-64 ({bi}, {}, {wide})",
                    dst.len() + pixels.r0
                );
            });
    }

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
        let wide = simd() == Simd::Avx512;
        let mut pairs: Vec<Vec<(u32, u32)>> = vec![Vec::with_capacity(WGRAD_SUB); self.k * self.k];
        let mut start = r0;
        let mut first = true;
        while start < r0 + n {
            let end = (start + WGRAD_SUB).min(r0 + n);
            self.tap_pairs(x, g, start..end, &mut pairs);
            let sub = WgradSub {
                x,
                g,
                pairs: &pairs,
                first,
            };
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `accumulate`.
            unsafe {
                if wide {
                    avx512::weight_grad(self, &sub, dw)
                } else {
                    avx2::weight_grad(self, &sub, dw)
                }
            };
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!("no direct convolution off x86-64 ({}, {wide})", sub.first);
            first = false;
            start = end;
        }
    }

    /// Per tap: the (gradient row offset, input offset) pairs of the pixels `rows` whose
    /// tap falls inside the image (the others add zero).
    fn tap_pairs(
        &self,
        x: &Act,
        g: &Act,
        rows: std::ops::Range<usize>,
        pairs: &mut [Vec<(u32, u32)>],
    ) {
        let (k, cin, cout, s, pad) = (self.k, self.cin, self.cout, self.stride, self.pad as isize);
        let (oh, ow) = (g.h, g.w);
        for list in pairs.iter_mut() {
            list.clear();
        }
        // The first pixel's image, row and column by division, the next ones by stepping.
        let r = rows.start;
        let (mut b, mut oy, mut ox) = (r / (oh * ow), (r / ow) % oh, r % ow);
        for r in rows {
            for (tap, list) in pairs.iter_mut().enumerate() {
                let (ky, kx) = (tap / k, tap % k);
                let iy = (oy * s + ky) as isize - pad;
                let ix = (ox * s + kx) as isize - pad;
                if iy >= 0 && ix >= 0 && (iy as usize) < x.h && (ix as usize) < x.w {
                    let src = ((b * x.h + iy as usize) * x.w + ix as usize) * cin;
                    list.push(((r * cout) as u32, src as u32));
                }
            }
            next_pixel((&mut b, &mut oy, &mut ox), oh, ow);
        }
    }
}

/// Pixels per sub-block of the weight gradient.
const WGRAD_SUB: usize = 256;

/// One rayon task's output pixels of the forward: from `r0`, as many as its destination
/// holds whole rows for.
struct Pixels<'a> {
    x: &'a Act,
    oh: usize,
    ow: usize,
    r0: usize,
    /// `cin` zeros: the input row of a tap outside the image.
    zeros: &'a [f32],
}

/// One sub-block of the weight gradient: its tap pairs (`DirectConv::tap_pairs`), and
/// whether it is the first (the tiles then write instead of adding).
struct WgradSub<'a> {
    x: &'a Act,
    g: &'a Act,
    pairs: &'a [Vec<(u32, u32)>],
    first: bool,
}

/// Where the `np` pixels from `r` read kernel row `ky`: each pixel's input row start (in
/// pixels), its first tap's column, and whether the row lies inside the image.
struct RowTaps<const NP: usize> {
    base: [usize; NP],
    ix0: [isize; NP],
    row_in: [bool; NP],
}

impl<const NP: usize> RowTaps<NP> {
    #[inline(always)]
    fn new(conv: &DirectConv, px: &Pixels, r: usize, ky: usize) -> Self {
        let (s, pad) = (conv.stride, conv.pad as isize);
        let mut t = Self {
            base: [0; NP],
            ix0: [0; NP],
            row_in: [false; NP],
        };
        // The first pixel's image, row and column by division, the next ones by stepping
        // (three divisions per pixel were a tenth of the tile's time on small layers).
        let (mut b, mut oy, mut ox) = (r / (px.oh * px.ow), (r / px.ow) % px.oh, r % px.ow);
        for i in 0..NP {
            let iy = (oy * s + ky) as isize - pad;
            t.row_in[i] = iy >= 0 && (iy as usize) < px.x.h;
            t.base[i] = (b * px.x.h + iy.max(0) as usize) * px.x.w;
            t.ix0[i] = (ox * s) as isize - pad;
            next_pixel((&mut b, &mut oy, &mut ox), px.oh, px.ow);
        }
        t
    }

    /// Each pixel's `cin` input values at tap column `kx` (the zero row outside).
    #[inline(always)]
    fn sources(&self, px: &Pixels, cin: usize, kx: usize) -> [*const f32; NP] {
        let mut src = [px.zeros.as_ptr(); NP];
        let (xp, w) = (px.x.data.as_ptr(), px.x.w as isize);
        for (i, s) in src.iter_mut().enumerate() {
            let ix = self.ix0[i] + kx as isize;
            if self.row_in[i] && ix >= 0 && ix < w {
                let at = (self.base[i] + ix as usize) * cin;
                debug_assert!(at + cin <= px.x.data.len());
                // SAFETY: pixel `base + ix` lies inside `x` (its row is inside the image,
                // `base` is that row's start and `0 <= ix < w`), and has `cin` values.
                *s = unsafe { xp.add(at) };
            }
        }
        src
    }
}

/// The output pixel after `(image, row, column)` on an `oh × ow` grid, in place: the tiles
/// and tap lists step through consecutive pixels this way instead of dividing.
#[inline(always)]
fn next_pixel((b, oy, ox): (&mut usize, &mut usize, &mut usize), oh: usize, ow: usize) {
    *ox += 1;
    if *ox == ow {
        *ox = 0;
        *oy += 1;
        if *oy == oh {
            *oy = 0;
            *b += 1;
        }
    }
}

/// Pixels per rayon task: enough tasks to feed the threads on small layers (at least 8
/// where there are pixels for them), at most `MAX_BLOCK`, a whole number of tiles; a
/// function of the size only (and the result does not depend on it anyway).
fn block_pixels(rows: usize) -> usize {
    (rows.div_ceil(8).div_ceil(TILE) * TILE).clamp(TILE, MAX_BLOCK)
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests;
