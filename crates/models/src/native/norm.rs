//! `GroupNorm32` (32 groups, biased variance, eps 1e-5) fused with what follows it in the
//! guided-diffusion UNet: the per-image scale-shift of `use_scale_shift_norm`
//! (`n · (1 + scale) + shift`) and SiLU. The forward is one pass for the statistics and
//! one that writes `silu(x · a + d)` with `a, d` per image and channel; the backward
//! recomputes the pre-activation from the saved input and applies the GroupNorm gradient
//! `r (g - mean(g) - x̂ mean(g x̂))` per group.

use super::act::Act;
use super::grads::ParamGrads;
use super::kernels::{self, NormCoef};
use rayon::prelude::*;

/// Pixels per block of a parallel pass (a constant: results do not depend on the threads).
const BLOCK: usize = 256;

/// GroupNorm's affine parameters.
#[derive(Clone, Debug)]
pub struct GroupNorm {
    /// The state-dict prefix of `gamma` (`NAME.weight`) and `beta` (`NAME.bias`).
    pub name: String,
    pub c: usize,
    pub groups: usize,
    pub eps: f64,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// Per-image, per-channel `(scale, shift)` applied after the norm: `n (1 + scale) + shift`.
#[derive(Clone, Debug)]
pub struct Film {
    /// `[B, C]`.
    pub scale: Vec<f32>,
    /// `[B, C]`.
    pub shift: Vec<f32>,
}

/// What the backward needs: the input and its group statistics.
#[derive(Debug)]
pub struct NormCache {
    x: Act,
    mean: Vec<f64>,
    rstd: Vec<f64>,
    film: Option<Film>,
    silu: bool,
}

/// Per-channel f32 sums over blocks of [`BLOCK`] pixels of one image, by `f(rows, acc)`
/// (`k` sums per channel), reduced in order in f64: `[B, k·C]`.
fn channel_sums<F>(x: &Act, k: usize, f: F) -> Vec<f64>
where
    F: Fn(usize, std::ops::Range<usize>, &mut [f32]) + Sync,
{
    let c = x.c;
    let blocks = x.pixels().div_ceil(BLOCK);
    let parts: Vec<Vec<f32>> = (0..x.b * blocks)
        .into_par_iter()
        .map(|i| {
            let (b, blk) = (i / blocks, i % blocks);
            let mut acc = vec![0.0f32; k * c];
            let p0 = b * x.pixels() + blk * BLOCK;
            let p1 = b * x.pixels() + ((blk + 1) * BLOCK).min(x.pixels());
            f(b, p0 * c..p1 * c, &mut acc);
            acc
        })
        .collect();
    let mut out = vec![0.0; x.b * k * c];
    for (i, part) in parts.iter().enumerate() {
        let b = i / blocks;
        for (o, v) in out[b * k * c..(b + 1) * k * c].iter_mut().zip(part) {
            *o += *v as f64;
        }
    }
    out
}

impl GroupNorm {
    fn group_of(&self, ch: usize) -> usize {
        ch / (self.c / self.groups)
    }

    /// Group sums `[B, G]` of per-channel sums `[B, k·C]` (the `j`-th of the `k`).
    fn group_sums(&self, sums: &[f64], b: usize, k: usize, j: usize) -> Vec<f64> {
        let mut out = vec![0.0; b * self.groups];
        for bi in 0..b {
            for ch in 0..self.c {
                out[bi * self.groups + self.group_of(ch)] += sums[(bi * k + j) * self.c + ch];
            }
        }
        out
    }

    /// A `[B, G]` group value per channel: `[B, C]`.
    fn per_channel(&self, v: &[f64], b: usize) -> Vec<f64> {
        (0..b * self.c)
            .map(|i| v[(i / self.c) * self.groups + self.group_of(i % self.c)])
            .collect()
    }

    fn stats(&self, x: &Act) -> (Vec<f64>, Vec<f64>) {
        let c = self.c;
        let n = (x.pixels() * (c / self.groups)) as f64;
        let sums = channel_sums(x, 1, |_, r, acc| {
            kernels::channel_moments(&x.data[r], &[], acc, &mut [])
        });
        let mean: Vec<f64> = self
            .group_sums(&sums, x.b, 1, 0)
            .iter()
            .map(|s| s / n)
            .collect();
        let gm: Vec<f32> = self
            .per_channel(&mean, x.b)
            .iter()
            .map(|&m| m as f32)
            .collect();
        let sq = channel_sums(x, 1, |b, r, acc| {
            kernels::channel_moments(&x.data[r], &gm[b * c..(b + 1) * c], &mut [], acc)
        });
        let rstd = self
            .group_sums(&sq, x.b, 1, 0)
            .iter()
            .map(|s| 1.0 / (s / n + self.eps).sqrt())
            .collect();
        (mean, rstd)
    }

    /// Per image: the coefficients of `n (1 + scale) + shift = x a + d` and of the backward.
    fn coefficients(
        &self,
        b: usize,
        mean: &[f64],
        rstd: &[f64],
        film: Option<&Film>,
    ) -> Vec<NormCoef> {
        let c = self.c;
        (0..b)
            .map(|bi| {
                let mut k = NormCoef::default();
                for ch in 0..c {
                    let i = bi * c + ch;
                    let g = bi * self.groups + self.group_of(ch);
                    let (s1, sh) =
                        film.map_or((1.0, 0.0), |f| (1.0 + f.scale[i] as f64, f.shift[i] as f64));
                    let gamma = self.gamma[ch] as f64;
                    k.a.push((rstd[g] * gamma * s1) as f32);
                    k.d.push(((self.beta[ch] as f64 - mean[g] * rstd[g] * gamma) * s1 + sh) as f32);
                    k.f.push((gamma * s1) as f32);
                    k.mean.push(mean[g] as f32);
                    k.rstd.push(rstd[g] as f32);
                }
                k
            })
            .collect()
    }

    /// `silu?(film?(GroupNorm(x)))`; with `keep`, also what the backward needs (a copy of
    /// `x`).
    pub fn forward(
        &self,
        x: &Act,
        film: Option<Film>,
        silu: bool,
        keep: bool,
    ) -> (Act, Option<NormCache>) {
        assert_eq!(x.c, self.c, "group norm channels");
        let (mean, rstd) = self.stats(x);
        let coef = self.coefficients(x.b, &mean, &rstd, film.as_ref());
        let c = self.c;
        let pixels = x.pixels();
        let mut out = Act::zeros(x.b, x.h, x.w, c);
        out.data
            .par_chunks_mut(pixels * c)
            .zip(x.data.par_chunks(pixels * c))
            .enumerate()
            .flat_map(|(b, (dst, src))| {
                dst.par_chunks_mut(BLOCK * c)
                    .zip(src.par_chunks(BLOCK * c))
                    .map(move |pair| (b, pair))
            })
            .for_each(|(b, (dst, src))| {
                kernels::affine_act(dst, src, &coef[b].a, &coef[b].d, silu);
            });
        let cache = keep.then(|| NormCache {
            x: x.par_clone(),
            mean,
            rstd,
            film,
            silu,
        });
        (out, cache)
    }

    /// The gradient with respect to the input, given the output's gradient `g`; with
    /// `grads`, also adds those of `gamma` and `beta` and returns those of the scale-shift
    /// (per image and channel) when there is one.
    pub fn backward(
        &self,
        cache: NormCache,
        g: &Act,
        grads: Option<&mut ParamGrads>,
    ) -> (Act, Option<Film>) {
        let NormCache {
            x,
            mean,
            rstd,
            film,
            silu,
        } = cache;
        let c = self.c;
        let pixels = x.pixels();
        let coef = self.coefficients(x.b, &mean, &rstd, film.as_ref());
        // First pass: g_z into `out`, and its per-channel sums in fixed blocks of one
        // image, reduced in order (as `channel_sums`).
        let mut out = Act::zeros(x.b, x.h, x.w, c);
        let parts: Vec<(usize, Vec<f32>)> = out
            .data
            .par_chunks_mut(pixels * c)
            .zip(x.data.par_chunks(pixels * c))
            .zip(g.data.par_chunks(pixels * c))
            .enumerate()
            .flat_map(|(b, ((dst, xs), gs))| {
                dst.par_chunks_mut(BLOCK * c)
                    .zip(xs.par_chunks(BLOCK * c))
                    .zip(gs.par_chunks(BLOCK * c))
                    .map(move |t| (b, t))
            })
            .map(|(b, ((dst, xs), gs))| {
                let mut acc = vec![0.0f32; 2 * c];
                let (s1, s2) = acc.split_at_mut(c);
                kernels::norm_grad_sums(xs, gs, &coef[b], silu, dst, s1, s2);
                (b, acc)
            })
            .collect();
        let mut sums = vec![0.0f64; x.b * 2 * c];
        for (b, acc) in &parts {
            for (o, v) in sums[b * 2 * c..(b + 1) * 2 * c].iter_mut().zip(acc) {
                *o += *v as f64;
            }
        }
        // sums: per image, [Σ g_z | Σ g_z x̂] per channel; the GroupNorm gradient wants them
        // times f = gamma (1 + scale).
        let mut fsums = sums.clone();
        for b in 0..x.b {
            for ch in 0..c {
                let f = coef[b].f[ch] as f64;
                fsums[(2 * b) * c + ch] *= f;
                fsums[(2 * b + 1) * c + ch] *= f;
            }
        }
        let dfilm = grads.map(|grads| self.param_grads(&sums, film.as_ref(), x.b, grads));
        let sums = fsums;
        let n = (pixels * (c / self.groups)) as f64;
        let m1 = self.group_sums(&sums, x.b, 2, 0);
        let m2 = self.group_sums(&sums, x.b, 2, 1);
        let m1: Vec<f32> = self
            .per_channel(&m1, x.b)
            .iter()
            .map(|v| (v / n) as f32)
            .collect();
        let m2: Vec<f32> = self
            .per_channel(&m2, x.b)
            .iter()
            .map(|v| (v / n) as f32)
            .collect();
        out.data
            .par_chunks_mut(pixels * c)
            .zip(x.data.par_chunks(pixels * c))
            .enumerate()
            .flat_map(|(b, (dst, xs))| {
                dst.par_chunks_mut(BLOCK * c)
                    .zip(xs.par_chunks(BLOCK * c))
                    .map(move |t| (b, t))
            })
            .for_each(|(b, (dst, xs))| {
                let (m1, m2) = (&m1[b * c..(b + 1) * c], &m2[b * c..(b + 1) * c]);
                kernels::norm_grad_apply(dst, xs, &coef[b], m1, m2);
            });
        (out, dfilm.flatten())
    }

    /// From `S1 = Σ g_z`, `S2 = Σ g_z x̂` per image and channel: `dγ = Σ_b (1 + s) S2`,
    /// `dβ = Σ_b (1 + s) S1`, and the scale-shift's `d scale = γ S2 + β S1`, `d shift = S1`.
    fn param_grads(
        &self,
        sums: &[f64],
        film: Option<&Film>,
        b: usize,
        grads: &mut ParamGrads,
    ) -> Option<Film> {
        let c = self.c;
        let mut dgamma = vec![0.0f64; c];
        let mut dbeta = vec![0.0f64; c];
        let mut dfilm = Film {
            scale: vec![0.0; b * c],
            shift: vec![0.0; b * c],
        };
        for bi in 0..b {
            for ch in 0..c {
                let (s1, s2) = (sums[(2 * bi) * c + ch], sums[(2 * bi + 1) * c + ch]);
                let k = 1.0 + film.map_or(0.0, |f| f.scale[bi * c + ch] as f64);
                dgamma[ch] += k * s2;
                dbeta[ch] += k * s1;
                dfilm.scale[bi * c + ch] =
                    (self.gamma[ch] as f64 * s2 + self.beta[ch] as f64 * s1) as f32;
                dfilm.shift[bi * c + ch] = s1 as f32;
            }
        }
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
        grads.add(&format!("{}.weight", self.name), &f32s(dgamma));
        grads.add(&format!("{}.bias", self.name), &f32s(dbeta));
        film.map(|_| dfilm)
    }
}
