//! guided-diffusion's `AttentionBlock` on channels-last activations: GroupNorm, a 1x1
//! `qkv` projection, softmax attention per head over the `T = H·W` pixels (the legacy
//! `QKVAttentionLegacy` head-major channel order or the new q|k|v order), the `proj_out`
//! projection and the residual. The backward is the usual softmax-attention gradient:
//! `dS = P ⊙ (dP − rowsum(dP ⊙ P))`.

use super::act::Act;
use super::conv::Conv2d;
use super::gemm::{matmul, MatRef};
use super::grads::ParamGrads;
use super::kernels;
use super::norm::{GroupNorm, NormCache};
use rayon::prelude::*;

/// The block's weights.
#[derive(Clone, Debug)]
pub struct Attention {
    pub norm: GroupNorm,
    pub qkv: Conv2d,
    pub proj: Conv2d,
    pub heads: usize,
    pub new_order: bool,
}

/// What the backward needs.
#[derive(Debug)]
pub struct AttnCache {
    norm: NormCache,
    qkv: Act,
    /// Softmax probabilities `[B·heads, T, T]`.
    probs: Vec<f32>,
    /// For training: the inputs of `qkv` and `proj_out`.
    inputs: Option<(Act, Act)>,
}

impl Attention {
    /// Channel offsets of head `h`'s q, k and v in the `3C` qkv channels.
    fn offsets(&self, c: usize, h: usize) -> [usize; 3] {
        let ch = c / self.heads;
        if self.new_order {
            [h * ch, c + h * ch, 2 * c + h * ch]
        } else {
            [3 * h * ch, 3 * h * ch + ch, 3 * h * ch + 2 * ch]
        }
    }

    /// With `keep`, the tape for the input VJP; with `train` too, what the parameter
    /// gradients need.
    /// Image `bi`, head `h`: its q, k and v as `[T, ch]` views into the qkv activation.
    fn views<'a>(&self, qkv: &'a Act, bi: usize, h: usize) -> [MatRef<'a>; 3] {
        let (t, c3) = (qkv.pixels(), qkv.c);
        let (c, ch) = (c3 / 3, c3 / 3 / self.heads);
        let base = &qkv.data[bi * t * c3..(bi + 1) * t * c3];
        self.offsets(c, h)
            .map(|o| MatRef::row_major(&base[o..], t, ch, c3))
    }

    pub fn forward(&self, x: Act, keep: bool, train: bool) -> (Act, Option<AttnCache>) {
        let (b, c, t) = (x.b, x.c, x.pixels());
        let heads = self.heads;
        let ch = c / heads;
        let scale = 1.0 / (ch as f32).sqrt();
        let (xn, norm) = self.norm.forward(&x, None, false, keep);
        let qkv = self.qkv.forward(&xn);
        // Per (image, head): probabilities [T, T] and output [T, ch].
        let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..b * heads)
            .into_par_iter()
            .map(|i| {
                let (bi, h) = (i / heads, i % heads);
                let [q, k, v] = self.views(&qkv, bi, h);
                let mut p = vec![0.0f32; t * t];
                matmul(&mut p, t, q, k.t(), false);
                for row in p.chunks_exact_mut(t) {
                    kernels::softmax_scaled(row, scale);
                }
                let mut o = vec![0.0f32; t * ch];
                matmul(&mut o, ch, MatRef::row_major(&p, t, t, t), v, false);
                (p, o)
            })
            .collect();
        let mut a = Act::zeros(b, x.h, x.w, c);
        let mut probs = Vec::with_capacity(if keep { b * heads * t * t } else { 0 });
        for (i, (p, o)) in parts.into_iter().enumerate() {
            let (bi, h) = (i / heads, i % heads);
            for (r, src) in o.chunks_exact(ch).enumerate() {
                a.data[(bi * t + r) * c + h * ch..][..ch].copy_from_slice(src);
            }
            if keep {
                probs.extend(p);
            }
        }
        let mut out = self.proj.forward(&a);
        out.add_assign(&x);
        let inputs = train.then_some((xn, a));
        let cache = norm.map(|norm| AttnCache {
            norm,
            qkv,
            probs,
            inputs,
        });
        (out, cache)
    }

    pub fn backward(&self, cache: AttnCache, g: &Act, mut grads: Option<&mut ParamGrads>) -> Act {
        let AttnCache {
            norm,
            qkv,
            probs,
            inputs,
        } = cache;
        let (b, c, t) = (g.b, g.c, g.pixels());
        let heads = self.heads;
        let ch = c / heads;
        let scale = 1.0 / (ch as f32).sqrt();
        let c3 = 3 * c;
        let ga = self.proj.input_vjp(g, g.h, g.w);
        // Per (image, head): gradients of q, k, v, each [T, ch].
        let parts: Vec<[Vec<f32>; 3]> = (0..b * heads)
            .into_par_iter()
            .map(|i| {
                let (bi, h) = (i / heads, i % heads);
                let [q, k, v] = self.views(&qkv, bi, h);
                let p = &probs[i * t * t..(i + 1) * t * t];
                let pm = MatRef::row_major(p, t, t, t);
                let go = MatRef::row_major(&ga.data[bi * t * c + h * ch..], t, ch, c);
                let mut gp = vec![0.0f32; t * t];
                matmul(&mut gp, t, go, v.t(), false);
                let mut gv = vec![0.0f32; t * ch];
                matmul(&mut gv, ch, pm.t(), go, false);
                for (grow, prow) in gp.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
                    kernels::softmax_grad_scaled(grow, prow, scale);
                }
                let gs = MatRef::row_major(&gp, t, t, t);
                let mut gq = vec![0.0f32; t * ch];
                matmul(&mut gq, ch, gs, k, false);
                let mut gk = vec![0.0f32; t * ch];
                matmul(&mut gk, ch, gs.t(), q, false);
                [gq, gk, gv]
            })
            .collect();
        let mut gqkv = Act::zeros(b, g.h, g.w, c3);
        for (i, grads) in parts.iter().enumerate() {
            let (bi, h) = (i / heads, i % heads);
            for (off, grad) in self.offsets(c, h).iter().zip(grads) {
                for (r, src) in grad.chunks_exact(ch).enumerate() {
                    gqkv.data[(bi * t + r) * c3 + off..][..ch].copy_from_slice(src);
                }
            }
        }
        let gxn = self.qkv.input_vjp(&gqkv, g.h, g.w);
        if let (Some(grads), Some((xn, a))) = (grads.as_deref_mut(), &inputs) {
            self.proj.weight_grad(a, g, grads);
            self.qkv.weight_grad(xn, &gqkv, grads);
        }
        let (mut gx, _) = self.norm.backward(norm, &gxn, grads);
        gx.add_assign(g);
        gx
    }
}
