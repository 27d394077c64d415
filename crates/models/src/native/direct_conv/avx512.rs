//! The direct convolution's AVX-512 tiles: 12 output pixels × 32 output channels (two
//! panels; 24 of the 32 AVX-512 registers, plus two weight vectors and a broadcast) for
//! the forward, and 12 input channels × 32 output channels for the weight gradient. A
//! last odd panel takes a one-vector tile. Each output value gets the same FMAs in the
//! same order as on the AVX2 tiles (`avx2.rs`), so the two give the same bits.

#![cfg(target_arch = "x86_64")]

use super::avx2::check_pairs;
use super::{DirectConv, Pixels, RowTaps, WgradSub, PANEL};
use std::arch::x86_64::*;

/// Output pixels (forward) or input channels (weight gradient) per tile.
const TILE: usize = 12;

/// The panels a tile covers from `p`: two where there are two, else one.
fn vectors(conv: &DirectConv, p: usize) -> usize {
    (conv.cout / PANEL - p).min(2)
}

/// The forward of one rayon task: every panel pair, kernel row and tile of `dst`'s pixels.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn block(conv: &DirectConv, px: &Pixels, dst: &mut [f32]) {
    let n = dst.len() / conv.cout;
    let mut p = 0;
    while p < conv.cout / PANEL {
        let nv = vectors(conv, p);
        for ky in 0..conv.k {
            let w = [conv.panel_row(p, ky), conv.panel_row(p + nv - 1, ky)];
            let mut t = 0;
            while t < n {
                let r = px.r0 + t;
                let d = &mut dst[t * conv.cout + p * PANEL..];
                let np = (n - t).min(TILE);
                if nv == 2 {
                    tile_n::<2>(np, conv, px, r, ky, w, d);
                } else {
                    tile_n::<1>(np, conv, px, r, ky, w, d);
                }
                t += TILE;
            }
        }
        p += nv;
    }
}

/// [`tile`] with its pixel count as a constant.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn tile_n<const NV: usize>(
    np: usize,
    conv: &DirectConv,
    px: &Pixels,
    r: usize,
    ky: usize,
    w: [&[f32]; 2],
    d: &mut [f32],
) {
    match np {
        12 => tile::<12, NV>(conv, px, r, ky, w, d),
        11 => tile::<11, NV>(conv, px, r, ky, w, d),
        10 => tile::<10, NV>(conv, px, r, ky, w, d),
        9 => tile::<9, NV>(conv, px, r, ky, w, d),
        8 => tile::<8, NV>(conv, px, r, ky, w, d),
        7 => tile::<7, NV>(conv, px, r, ky, w, d),
        6 => tile::<6, NV>(conv, px, r, ky, w, d),
        5 => tile::<5, NV>(conv, px, r, ky, w, d),
        4 => tile::<4, NV>(conv, px, r, ky, w, d),
        3 => tile::<3, NV>(conv, px, r, ky, w, d),
        2 => tile::<2, NV>(conv, px, r, ky, w, d),
        _ => tile::<1, NV>(conv, px, r, ky, w, d),
    }
}

/// `d[i·cout + 16v ..][..16] += Σ_kx Σ_ci x(pixel r + i, tap (ky, kx), ci) · w[v]` for the
/// tile's `NP` pixels and `NV` panels, `w[v]` panel v's weights of kernel row `ky`.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn tile<const NP: usize, const NV: usize>(
    conv: &DirectConv,
    px: &Pixels,
    r: usize,
    ky: usize,
    w: [&[f32]; 2],
    d: &mut [f32],
) {
    let (cin, cout, k) = (conv.cin, conv.cout, conv.k);
    assert!(d.len() >= (NP - 1) * cout + NV * PANEL, "tile destination");
    assert!(w.iter().all(|w| w.len() >= k * cin * PANEL), "tile weights");
    let taps = RowTaps::<NP>::new(conv, px, r, ky);
    let mut acc = [[_mm512_setzero_ps(); NV]; NP];
    let dp = d.as_mut_ptr();
    for (i, a) in acc.iter_mut().enumerate() {
        for (v, a) in a.iter_mut().enumerate() {
            *a = _mm512_loadu_ps(dp.add(i * cout + v * PANEL));
        }
    }
    for kx in 0..k {
        let src = taps.sources(px, cin, kx);
        let wp = [
            w[0].as_ptr().add(kx * cin * PANEL),
            w[1].as_ptr().add(kx * cin * PANEL),
        ];
        for ci in 0..cin {
            let mut wv = [_mm512_setzero_ps(); NV];
            for (v, wv) in wv.iter_mut().enumerate() {
                *wv = _mm512_loadu_ps(wp[v].add(ci * PANEL));
            }
            for i in 0..NP {
                let x = _mm512_set1_ps(*src[i].add(ci));
                for v in 0..NV {
                    acc[i][v] = _mm512_fmadd_ps(x, wv[v], acc[i][v]);
                }
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        for (v, a) in a.iter().enumerate() {
            _mm512_storeu_ps(dp.add(i * cout + v * PANEL), *a);
        }
    }
}

/// One sub-block of the weight gradient: every panel pair, tap and input-channel tile.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn weight_grad(conv: &DirectConv, sub: &WgradSub, dw: &mut [f32]) {
    let (cin, cout) = (conv.cin, conv.cout);
    let mut p = 0;
    while p < cout / PANEL {
        let nv = vectors(conv, p);
        for (tap, list) in sub.pairs.iter().enumerate() {
            let mut ci = 0;
            while ci < cin {
                let row = tap * cin + ci;
                let d = &mut dw[row * cout + p * PANEL..];
                let args = (sub, list.as_slice(), ci, p * PANEL);
                let np = (cin - ci).min(TILE);
                if nv == 2 {
                    wgrad_tile_n::<2>(np, d, cout, args);
                } else {
                    wgrad_tile_n::<1>(np, d, cout, args);
                }
                ci += TILE;
            }
        }
        p += nv;
    }
}

type WgradArgs<'a> = (&'a WgradSub<'a>, &'a [(u32, u32)], usize, usize);

/// [`wgrad_tile`] with its input-channel count as a constant.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn wgrad_tile_n<const NV: usize>(np: usize, d: &mut [f32], cout: usize, a: WgradArgs) {
    match np {
        12 => wgrad_tile::<12, NV>(d, cout, a),
        11 => wgrad_tile::<11, NV>(d, cout, a),
        10 => wgrad_tile::<10, NV>(d, cout, a),
        9 => wgrad_tile::<9, NV>(d, cout, a),
        8 => wgrad_tile::<8, NV>(d, cout, a),
        7 => wgrad_tile::<7, NV>(d, cout, a),
        6 => wgrad_tile::<6, NV>(d, cout, a),
        5 => wgrad_tile::<5, NV>(d, cout, a),
        4 => wgrad_tile::<4, NV>(d, cout, a),
        3 => wgrad_tile::<3, NV>(d, cout, a),
        2 => wgrad_tile::<2, NV>(d, cout, a),
        _ => wgrad_tile::<1, NV>(d, cout, a),
    }
}

/// `d[i·cout + 16v ..][..16] (+)= Σ_(row, src) x[src + ci0 + i] · g[row + co0 + 16v ..]`
/// for the tile's `NP` input channels and `NV` panels (`=` on the first sub-block).
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn wgrad_tile<const NP: usize, const NV: usize>(
    d: &mut [f32],
    cout: usize,
    (sub, pairs, ci0, co0): WgradArgs,
) {
    assert!(d.len() >= (NP - 1) * cout + NV * PANEL, "tile destination");
    assert!(co0 + NV * PANEL <= cout, "tile channels");
    let dp = d.as_mut_ptr();
    let mut acc = [[_mm512_setzero_ps(); NV]; NP];
    if !sub.first {
        for (i, a) in acc.iter_mut().enumerate() {
            for (v, a) in a.iter_mut().enumerate() {
                *a = _mm512_loadu_ps(dp.add(i * cout + v * PANEL));
            }
        }
    }
    let (xp, gp) = (sub.x.data.as_ptr(), sub.g.data.as_ptr());
    check_pairs(sub, pairs, ci0 + NP, co0 + NV * PANEL);
    for &(row, src) in pairs {
        let (row, src) = (row as usize + co0, src as usize + ci0);
        let mut gv = [_mm512_setzero_ps(); NV];
        for (v, gv) in gv.iter_mut().enumerate() {
            *gv = _mm512_loadu_ps(gp.add(row + v * PANEL));
        }
        for (i, a) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_ps(*xp.add(src + i));
            for v in 0..NV {
                a[v] = _mm512_fmadd_ps(x, gv[v], a[v]);
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        for (v, a) in a.iter().enumerate() {
            _mm512_storeu_ps(dp.add(i * cout + v * PANEL), *a);
        }
    }
}
