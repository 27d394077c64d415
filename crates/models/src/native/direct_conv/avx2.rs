//! The direct convolution's AVX2 + FMA tiles: 6 output pixels × 16 output channels (12 of
//! the 16 AVX registers, plus two weight vectors and a broadcast) for the forward, and 6
//! input channels × 16 output channels for the weight gradient.

#![cfg(target_arch = "x86_64")]

use super::{DirectConv, Pixels, RowTaps, WgradSub, PANEL};
use std::arch::x86_64::*;

/// Output pixels (forward) or input channels (weight gradient) per tile.
pub(super) const TILE: usize = 6;

/// The forward of one rayon task: every panel, kernel row and tile of `dst`'s pixels.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn block(conv: &DirectConv, px: &Pixels, dst: &mut [f32]) {
    let n = dst.len() / conv.cout;
    for p in 0..conv.cout / PANEL {
        for ky in 0..conv.k {
            let w = conv.panel_row(p, ky);
            let mut t = 0;
            while t < n {
                let r = px.r0 + t;
                let d = &mut dst[t * conv.cout + p * PANEL..];
                match (n - t).min(TILE) {
                    6 => tile::<6>(conv, px, r, ky, w, d),
                    5 => tile::<5>(conv, px, r, ky, w, d),
                    4 => tile::<4>(conv, px, r, ky, w, d),
                    3 => tile::<3>(conv, px, r, ky, w, d),
                    2 => tile::<2>(conv, px, r, ky, w, d),
                    _ => tile::<1>(conv, px, r, ky, w, d),
                }
                t += TILE;
            }
        }
    }
}

/// `d[i·cout .. i·cout + 16] += Σ_kx Σ_ci x(pixel r + i, tap (ky, kx), ci) · w` for the
/// tile's `NP` pixels, `w` the panel's weights of kernel row `ky` (`[k·cin][16]`).
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const NP: usize>(
    conv: &DirectConv,
    px: &Pixels,
    r: usize,
    ky: usize,
    w: &[f32],
    d: &mut [f32],
) {
    let (cin, cout, k) = (conv.cin, conv.cout, conv.k);
    assert!(d.len() >= (NP - 1) * cout + PANEL, "tile destination");
    assert!(w.len() >= k * cin * PANEL, "tile weights");
    let taps = RowTaps::<NP>::new(conv, px, r, ky);
    let mut acc = [[_mm256_setzero_ps(); 2]; NP];
    let dp = d.as_mut_ptr();
    for (i, a) in acc.iter_mut().enumerate() {
        a[0] = _mm256_loadu_ps(dp.add(i * cout));
        a[1] = _mm256_loadu_ps(dp.add(i * cout + 8));
    }
    for kx in 0..k {
        let src = taps.sources(px, cin, kx);
        let wp = w.as_ptr().add(kx * cin * PANEL);
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

/// One sub-block of the weight gradient: every panel, tap and input-channel tile.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn weight_grad(conv: &DirectConv, sub: &WgradSub, dw: &mut [f32]) {
    let (cin, cout) = (conv.cin, conv.cout);
    for p in 0..cout / PANEL {
        for (tap, list) in sub.pairs.iter().enumerate() {
            let mut ci = 0;
            while ci < cin {
                let row = tap * cin + ci;
                let d = &mut dw[row * cout + p * PANEL..];
                let args = (sub, list.as_slice(), ci, p * PANEL);
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
}

/// `d[i·cout .. i·cout + 16] (+)= Σ_(row, src) x[src + ci0 + i] · g[row + co0 ..]` for the
/// tile's `NP` input channels (`=` on the first sub-block).
#[target_feature(enable = "avx2,fma")]
unsafe fn wgrad_tile<const NP: usize>(
    d: &mut [f32],
    cout: usize,
    (sub, pairs, ci0, co0): (&WgradSub, &[(u32, u32)], usize, usize),
) {
    assert!(d.len() >= (NP - 1) * cout + PANEL, "tile destination");
    assert!(co0 + PANEL <= cout, "tile channels");
    let dp = d.as_mut_ptr();
    let mut acc = [[_mm256_setzero_ps(); 2]; NP];
    if !sub.first {
        for (i, a) in acc.iter_mut().enumerate() {
            a[0] = _mm256_loadu_ps(dp.add(i * cout));
            a[1] = _mm256_loadu_ps(dp.add(i * cout + 8));
        }
    }
    let (xp, gp) = (sub.x.data.as_ptr(), sub.g.data.as_ptr());
    check_pairs(sub, pairs, ci0 + NP, co0 + PANEL);
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

/// Every pair was made from a pixel inside `g` and `x` (`DirectConv::tap_pairs`); the
/// last one bounds them all (rows and sources increase), read up to input channel
/// `ci_end` and output channel `co_end`.
pub(super) fn check_pairs(sub: &WgradSub, pairs: &[(u32, u32)], ci_end: usize, co_end: usize) {
    if let Some(&(row, src)) = pairs.last() {
        assert!(
            row as usize + co_end <= sub.g.data.len() && src as usize + ci_end <= sub.x.data.len(),
            "pixel in bounds"
        );
    }
}
