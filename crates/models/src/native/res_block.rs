//! The ResBlock of the native `UNetModel`: group norm, SiLU, convolution, the time
//! embedding (added, or as FiLM scale and shift), a second norm and convolution, the skip
//! connection, and optional up- or down-sampling; forward with its cache and backward.

use super::*;

/// A ResBlock.
#[derive(Clone, Debug)]
pub(super) struct Res {
    in_norm: GroupNorm,
    in_conv: Conv2d,
    emb: Linear,
    out_norm: GroupNorm,
    out_conv: Conv2d,
    skip: Option<Conv2d>,
    scale_shift: bool,
    /// 0 none, 1 up, 2 down.
    resample: usize,
}

pub(super) struct ResCache {
    in_norm: NormCache,
    out_norm: NormCache,
    /// Size of the block's input, of the in-conv's input (after resampling) and of the
    /// out-conv's input.
    in_hw: (usize, usize),
    conv_hw: (usize, usize),
    mid_hw: (usize, usize),
    /// Training: the inputs of the in-conv, the out-conv and the skip convolution.
    inputs: Option<[Option<Act>; 3]>,
}

fn resample(x: Act, mode: usize) -> Act {
    match mode {
        1 => x.upsample2(),
        2 => x.avg_pool2(),
        _ => x,
    }
}

fn resample_adjoint(g: Act, mode: usize) -> Act {
    match mode {
        1 => g.upsample2_adjoint(),
        2 => g.avg_pool2_adjoint(),
        _ => g,
    }
}

impl Res {
    pub(super) fn new(r: &ResBlock, p: &str) -> Self {
        Self {
            in_norm: norm(&r.in_norm, format!("{p}.in_layers.0")),
            in_conv: conv(&r.in_conv, format!("{p}.in_layers.2")),
            emb: Linear::new(&r.emb, format!("{p}.emb_layers.1")),
            out_norm: norm(&r.out_norm, format!("{p}.out_layers.0")),
            out_conv: conv(&r.out_conv, format!("{p}.out_layers.3")),
            skip: r
                .skip
                .as_ref()
                .map(|c| conv(c, format!("{p}.skip_connection"))),
            scale_shift: r.scale_shift,
            resample: r.resample,
        }
    }

    pub(super) fn forward(&self, x: Act, emb: &[f32], mode: Mode) -> (Act, Option<ResCache>) {
        let keep = mode.keep();
        let in_hw = (x.h, x.w);
        let (h, in_cache) = self.in_norm.forward(&x, None, true, keep);
        let h = resample(h, self.resample);
        let x = resample(x, self.resample);
        let conv_hw = (h.h, h.w);
        let mut hc = self.in_conv.forward(&h);
        let conv_in = mode.train().then_some(h);
        let c = hc.c;
        let e = self.emb.forward(emb, true);
        let film = if self.scale_shift {
            let (mut scale, mut shift) = (Vec::new(), Vec::new());
            for row in e.chunks_exact(2 * c) {
                scale.extend_from_slice(&row[..c]);
                shift.extend_from_slice(&row[c..]);
            }
            Some(Film { scale, shift })
        } else {
            let pixels = hc.pixels();
            for (i, row) in hc.data.chunks_exact_mut(c).enumerate() {
                let b = i / pixels;
                for (v, e) in row.iter_mut().zip(&e[b * c..(b + 1) * c]) {
                    *v += e;
                }
            }
            None
        };
        let mid_hw = (hc.h, hc.w);
        let (h, out_cache) = self.out_norm.forward(&hc, film, true, keep);
        let mut out = self.out_conv.forward(&h);
        let out_in = mode.train().then_some(h);
        match &self.skip {
            Some(s) => out.add_assign(&s.forward(&x)),
            None => out.add_assign(&x),
        }
        let skip_in = (mode.train() && self.skip.is_some()).then_some(x);
        let cache = match (in_cache, out_cache) {
            (Some(in_norm), Some(out_norm)) => Some(ResCache {
                in_norm,
                out_norm,
                in_hw,
                conv_hw,
                mid_hw,
                inputs: mode.train().then_some([conv_in, out_in, skip_in]),
            }),
            _ => None,
        };
        (out, cache)
    }

    pub(super) fn backward(
        &self,
        cache: ResCache,
        g: &Act,
        mut train: Option<&mut TrainGrads>,
    ) -> Act {
        let [conv_in, out_in, skip_in] = cache.inputs.unwrap_or_default();
        let gh = self.out_conv.input_vjp(g, cache.mid_hw.0, cache.mid_hw.1);
        if let (Some(t), Some(a)) = (train.as_deref_mut(), &out_in) {
            self.out_conv.weight_grad(a, g, t.params);
        }
        let (gh, dfilm) = self.out_norm.backward(
            cache.out_norm,
            &gh,
            train.as_deref_mut().map(|t| &mut *t.params),
        );
        if let Some(t) = train.as_deref_mut() {
            let (b, c) = (gh.b, gh.c);
            // Gradient of the emb projection's output [B, 2C] (scale | shift) or [B, C].
            let de = match dfilm {
                Some(f) => (0..b)
                    .flat_map(|bi| {
                        let (s, h) = (
                            &f.scale[bi * c..(bi + 1) * c],
                            &f.shift[bi * c..(bi + 1) * c],
                        );
                        s.iter().chain(h).copied().collect::<Vec<_>>()
                    })
                    .collect::<Vec<f32>>(),
                None => {
                    let mut de = vec![0.0f32; b * c];
                    for (i, row) in gh.data.chunks_exact(c).enumerate() {
                        let bi = i / gh.pixels();
                        crate::native::kernels::add_into(&mut de[bi * c..(bi + 1) * c], row);
                    }
                    de
                }
            };
            let d = self.emb.backward(&t.emb, true, &de, t.params);
            crate::native::kernels::add_into(&mut t.demb, &d);
        }
        let ghc = self
            .in_conv
            .input_vjp(&gh, cache.conv_hw.0, cache.conv_hw.1);
        if let (Some(t), Some(a)) = (train.as_deref_mut(), &conv_in) {
            self.in_conv.weight_grad(a, &gh, t.params);
        }
        let gh = resample_adjoint(ghc, self.resample);
        let gx = match &self.skip {
            Some(s) => {
                if let (Some(t), Some(a)) = (train.as_deref_mut(), &skip_in) {
                    s.weight_grad(a, g, t.params);
                }
                s.input_vjp(g, cache.conv_hw.0, cache.conv_hw.1)
            }
            None => g.par_clone(),
        };
        let mut gx = resample_adjoint(gx, self.resample);
        debug_assert_eq!((gx.h, gx.w), cache.in_hw);
        let (gn, _) = self
            .in_norm
            .backward(cache.in_norm, &gh, train.map(|t| &mut *t.params));
        gx.add_assign(&gn);
        gx
    }
}
