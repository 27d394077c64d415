//! The element-wise inner loops of the engine, each compiled three times: for the baseline
//! x86-64 target, with AVX2 + FMA and with AVX-512F, chosen at run time
//! (`is_x86_feature_detected!`), so that one binary runs on any x86-64 CPU and uses the
//! widest FMA it has. Every loop is element-wise or reduces in a fixed order per element,
//! so the three versions give the same bits (tests). Slices in, slices out: the callers
//! own parallelism and blocking.

use super::math;
use std::sync::atomic::{AtomicU8, Ordering};

/// The instruction sets the engine's kernels come in, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Simd {
    /// The baseline x86-64 target (SSE2), or any other architecture.
    Portable,
    /// AVX2 + FMA: 8-wide.
    Avx2,
    /// AVX-512F (with AVX2 + FMA): 16-wide, 32 vector registers.
    Avx512,
}

impl Simd {
    /// The name `VMLMAP_SIMD` takes and `bench-nfe` prints: `baseline`, `avx2`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Portable => "baseline",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }

    /// From [`Simd::name`]'s spelling.
    pub fn parse(name: &str) -> Option<Self> {
        [Simd::Portable, Simd::Avx2, Simd::Avx512]
            .into_iter()
            .find(|s| s.name() == name)
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }
}

/// The widest kernels this CPU runs.
pub fn detect_simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            return if has!("avx512f") {
                Simd::Avx512
            } else {
                Simd::Avx2
            };
        }
    }
    Simd::Portable
}

/// Asked for kernels this CPU does not have.
#[derive(Debug, thiserror::Error)]
#[error("this CPU has no {wanted} kernels (the widest it runs: {best})", wanted = .wanted.name(), best = .best.name())]
pub struct SimdUnavailable {
    pub wanted: Simd,
    pub best: Simd,
}

/// The kernels' choice: 0 not yet made, else `Simd::code`.
static CHOICE: AtomicU8 = AtomicU8::new(0);

/// Makes every later kernel call run `level`'s versions (`VMLMAP_SIMD`), to check the
/// narrower ones on a wider CPU. The library reads no environment: the `vmlmap` binary
/// and the Python package call this. Convolutions built before the call keep the layout
/// they were built with (the direct kernel or im2col + GEMM) but run the new tiles.
pub fn force_simd(level: Simd) -> Result<(), SimdUnavailable> {
    let best = detect_simd();
    if level > best {
        return Err(SimdUnavailable {
            wanted: level,
            best,
        });
    }
    CHOICE.store(level.code(), Ordering::Relaxed);
    Ok(())
}

/// A kernel set named by a setting such as `VMLMAP_SIMD`.
#[derive(Debug, thiserror::Error)]
pub enum SimdChoiceError {
    #[error("unknown kernel set `{0}`: expected auto, baseline, avx2 or avx512")]
    Unknown(String),
    #[error(transparent)]
    Unavailable(#[from] SimdUnavailable),
}

/// [`force_simd`] by name: `auto` (or empty) keeps the CPU's widest, else `baseline`,
/// `avx2` or `avx512`.
pub fn choose_simd(name: &str) -> Result<(), SimdChoiceError> {
    match name.trim() {
        "" | "auto" => Ok(()),
        other => {
            let level = Simd::parse(other).ok_or_else(|| SimdChoiceError::Unknown(other.into()))?;
            Ok(force_simd(level)?)
        }
    }
}

/// Makes every later kernel call run the portable versions (what a CPU without AVX2
/// runs): `force_simd(Simd::Portable)`, which every CPU allows.
pub fn force_portable() {
    CHOICE.store(Simd::Portable.code(), Ordering::Relaxed);
}

/// The kernels that run: the CPU's widest unless [`force_simd`] chose narrower ones.
pub fn simd() -> Simd {
    match CHOICE.load(Ordering::Relaxed) {
        1 => Simd::Portable,
        2 => Simd::Avx2,
        3 => Simd::Avx512,
        _ => {
            // A concurrent force_simd wins over the detection.
            let _ = CHOICE.compare_exchange(
                0,
                detect_simd().code(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            simd()
        }
    }
}

/// Whether the AVX2 + FMA (or wider) versions run. Other architectures: never.
pub fn has_avx2_fma() -> bool {
    simd() >= Simd::Avx2
}

/// Defines `pub fn $name(args)` whose body is compiled for baseline, for AVX2 + FMA and
/// for AVX-512F.
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
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn widest($($arg: $ty),*) {
                    body($($arg),*)
                }
                match simd() {
                    // SAFETY: `simd()` names only features this CPU has (`force_simd`).
                    Simd::Avx512 => return unsafe { widest($($arg),*) },
                    // SAFETY: as above.
                    Simd::Avx2 => return unsafe { fast($($arg),*) },
                    Simd::Portable => {}
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
