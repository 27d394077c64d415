//! The element-wise inner loops of the engine, each compiled twice: for the baseline
//! x86-64 target and with AVX2 + FMA, chosen at run time (`is_x86_feature_detected!`), so
//! that one binary runs on any x86-64 CPU and uses 8-wide FMA where there is one. Slices
//! in, slices out: the callers own parallelism and blocking.

use super::math;

/// The kernels' choice: 0 not yet made, 1 AVX2 + FMA, 2 the portable versions.
static CHOICE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Makes every later kernel call run the portable versions (what a CPU without AVX2 runs),
/// to check them on any machine. The library reads no environment: the `vmlmap` binary and
/// the Python package call this when `VMLMAP_SIMD=baseline`.
pub fn force_portable() {
    CHOICE.store(2, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the AVX2 + FMA versions run: the CPU has both and [`force_portable`] was not
/// called. Other architectures: never.
pub fn has_avx2_fma() -> bool {
    use std::sync::atomic::Ordering;
    match CHOICE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            #[cfg(target_arch = "x86_64")]
            let cpu = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            #[cfg(not(target_arch = "x86_64"))]
            let cpu = false;
            // A concurrent force_portable wins over the detection.
            let _ = CHOICE.compare_exchange(
                0,
                if cpu { 1 } else { 2 },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            CHOICE.load(Ordering::Relaxed) == 1
        }
    }
}

/// Defines `pub fn $name(args)` whose body is compiled for baseline and for AVX2 + FMA.
macro_rules! dispatched {
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast($($arg: $ty),*) {
                    body($($arg),*)
                }
                if has_avx2_fma() {
                    // SAFETY: the CPU has the features `fast` was compiled for.
                    return unsafe { fast($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

dispatched! {
    /// `dst += src`.
    pub fn add_into(dst: &mut [f32], src: &[f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += *s;
        }
    }
}

dispatched! {
    /// `dst[d..d + n] += src[s..s + n]` for each `(d, s)` of `offsets`.
    pub fn gather_add(dst: &mut [f32], src: &[f32], offsets: &[(usize, usize)], n: usize) {
        for &(d, s) in offsets {
            for (a, b) in dst[d..d + n].iter_mut().zip(&src[s..s + n]) {
                *a += *b;
            }
        }
    }
}

dispatched! {
    /// `dst = silu?(src · a + d)` per channel (`a`, `d`: one value per channel; `src` holds
    /// whole pixels).
    pub fn affine_act(dst: &mut [f32], src: &[f32], a: &[f32], d: &[f32], silu: bool) {
        let c = a.len();
        for (drow, srow) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
            for (((o, &v), &a), &d) in drow.iter_mut().zip(srow).zip(a).zip(d) {
                let z = v.mul_add(a, d);
                *o = if silu { math::silu(z) } else { z };
            }
        }
    }
}

dispatched! {
    /// Per-channel sums of `src` (whole pixels) and of `(src − mean)²` into f32 block
    /// accumulators; `mean` empty: only the first.
    pub fn channel_moments(src: &[f32], mean: &[f32], sum: &mut [f32], sq: &mut [f32]) {
        let c = sum.len().max(sq.len());
        for row in src.chunks_exact(c) {
            if mean.is_empty() {
                for (s, &v) in sum.iter_mut().zip(row) {
                    *s += v;
                }
            } else {
                for ((q, &v), &m) in sq.iter_mut().zip(row).zip(mean) {
                    let e = v - m;
                    *q = e.mul_add(e, *q);
                }
            }
        }
    }
}

dispatched! {
    /// GroupNorm backward, first pass: writes `g_z = g · silu'(x a + d)` (just `g` when
    /// `!silu`) to `gz`, and adds per channel `Σ g_z` to `s1` and `Σ g_z x̂` to `s2`,
    /// `x̂ = (x − mean) · rstd`.
    pub fn norm_grad_sums(
        x: &[f32],
        g: &[f32],
        coef: &NormCoef,
        silu: bool,
        gz: &mut [f32],
        s1: &mut [f32],
        s2: &mut [f32],
    ) {
        let c = s1.len();
        // Every per-channel slice cut to `c` first, so that the loop has no bounds checks
        // and vectorises across channels (indexing left a scalar loop hot).
        let s2 = &mut s2[..c];
        let (a, d, mean, rstd) = (&coef.a[..c], &coef.d[..c], &coef.mean[..c], &coef.rstd[..c]);
        for ((xr, gr), zr) in x.chunks_exact(c).zip(g.chunks_exact(c)).zip(gz.chunks_exact_mut(c)) {
            for ch in 0..c {
                let v = xr[ch];
                let mut dv = gr[ch];
                if silu {
                    dv *= math::silu_grad(v.mul_add(a[ch], d[ch]));
                }
                zr[ch] = dv;
                let xh = (v - mean[ch]) * rstd[ch];
                s1[ch] += dv;
                s2[ch] = dv.mul_add(xh, s2[ch]);
            }
        }
    }
}

dispatched! {
    /// GroupNorm backward, second pass, in place on the first pass's `g_z`:
    /// `dx = rstd (g_z f − m1 − x̂ m2)` per channel.
    pub fn norm_grad_apply(dst: &mut [f32], x: &[f32], coef: &NormCoef, m1: &[f32], m2: &[f32]) {
        let c = m1.len();
        let m2 = &m2[..c];
        let (f, mean, rstd) = (&coef.f[..c], &coef.mean[..c], &coef.rstd[..c]);
        for (dr, xr) in dst.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            for ch in 0..c {
                let xh = (xr[ch] - mean[ch]) * rstd[ch];
                dr[ch] = rstd[ch] * (dr[ch] * f[ch] - m1[ch] - xh * m2[ch]);
            }
        }
    }
}

dispatched! {
    /// In-place softmax of `row · scale`.
    pub fn softmax_scaled(row: &mut [f32], scale: f32) {
        let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) * scale;
        let mut sum = 0.0f32;
        for v in row.iter_mut() {
            *v = math::exp(v.mul_add(scale, -m));
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

dispatched! {
    /// Softmax backward, scaled: `g ← p (g − <g, p>) · scale`.
    pub fn softmax_grad_scaled(g: &mut [f32], p: &[f32], scale: f32) {
        let dot: f32 = g.iter().zip(p).map(|(a, b)| a * b).sum();
        for (gv, &pv) in g.iter_mut().zip(p) {
            *gv = pv * (*gv - dot) * scale;
        }
    }
}

/// One image's GroupNorm coefficients broadcast per channel: `z = x a + d` is the
/// pre-activation, `f = γ (1 + scale)`, and the group's mean and `1/std`.
#[derive(Clone, Debug, Default)]
pub struct NormCoef {
    pub a: Vec<f32>,
    pub d: Vec<f32>,
    pub f: Vec<f32>,
    pub mean: Vec<f32>,
    pub rstd: Vec<f32>,
}
