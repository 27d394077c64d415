//! The guided-diffusion `UNetModel` (Dhariwal & Nichol 2021) on the native kernels:
//! built from the burn network's weights, its forward optionally keeps a tape, and the
//! backward walks the tape in reverse for the input VJP (the time embedding does not
//! depend on the image and is not differentiated).

use super::act::Act;
use super::attention::{Attention, AttnCache};
use super::conv::Conv2d;
use super::math;
use super::norm::{Film, GroupNorm, NormCache};
use crate::adm::blocks::{AttentionBlock, ResBlock};
use crate::adm::unet::{timestep_embedding, Layer as BurnLayer, UNetModel};
use crate::layers::{Conv, GroupNorm as BurnGroupNorm, Linear as BurnLinear, PointwiseConv1d};
use burn::tensor::Tensor;

/// Reads a burn tensor's values as f32.
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    let data = t.into_data().convert::<f32>();
    data.try_to_vec::<f32>()
        .expect("a converted f32 tensor reads back as f32")
}

fn conv(c: &Conv) -> Conv2d {
    let [cout, cin, k, _] = c.weight.dims();
    Conv2d::new(
        &values(c.weight.val()),
        &values(c.bias.val()),
        cout,
        cin,
        k,
        c.stride,
    )
}

fn pointwise(c: &PointwiseConv1d) -> Conv2d {
    let [cout, cin, _] = c.weight.dims();
    Conv2d::new(
        &values(c.weight.val()),
        &values(c.bias.val()),
        cout,
        cin,
        1,
        1,
    )
}

fn norm(n: &BurnGroupNorm) -> GroupNorm {
    let gamma = values(n.weight.val());
    GroupNorm {
        c: gamma.len(),
        groups: n.groups,
        eps: n.eps,
        gamma,
        beta: values(n.bias.val()),
    }
}

/// `nn.Linear` weights, `[out, in]`.
#[derive(Clone, Debug)]
struct Linear {
    w: Vec<f32>,
    b: Vec<f32>,
    cin: usize,
    cout: usize,
}

impl Linear {
    fn new(l: &BurnLinear) -> Self {
        let [cout, cin] = l.weight.dims();
        Self {
            w: values(l.weight.val()),
            b: values(l.bias.val()),
            cin,
            cout,
        }
    }

    /// `[B, in] -> [B, out]`, with SiLU applied to the input first when `silu_in`.
    fn forward(&self, x: &[f32], silu_in: bool) -> Vec<f32> {
        let b = x.len() / self.cin;
        let mut out = Vec::with_capacity(b * self.cout);
        for row in x.chunks_exact(self.cin) {
            let row: Vec<f32> = if silu_in {
                row.iter().map(|&v| math::silu(v)).collect()
            } else {
                row.to_vec()
            };
            for (o, w) in self.w.chunks_exact(self.cin).enumerate() {
                let s: f32 = w.iter().zip(&row).map(|(a, b)| a * b).sum();
                out.push(s + self.b[o]);
            }
        }
        out
    }
}

/// A ResBlock.
#[derive(Clone, Debug)]
struct Res {
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

struct ResCache {
    in_norm: NormCache,
    out_norm: NormCache,
    /// Size of the block's input and of the in-conv's input (after resampling).
    in_hw: (usize, usize),
    conv_hw: (usize, usize),
    mid_hw: (usize, usize),
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
    fn new(r: &ResBlock) -> Self {
        Self {
            in_norm: norm(&r.in_norm),
            in_conv: conv(&r.in_conv),
            emb: Linear::new(&r.emb),
            out_norm: norm(&r.out_norm),
            out_conv: conv(&r.out_conv),
            skip: r.skip.as_ref().map(conv),
            scale_shift: r.scale_shift,
            resample: r.resample,
        }
    }

    fn forward(&self, x: Act, emb: &[f32], keep: bool) -> (Act, Option<ResCache>) {
        let in_hw = (x.h, x.w);
        let (h, in_cache) = self.in_norm.forward(&x, None, true, keep);
        let h = resample(h, self.resample);
        let x = resample(x, self.resample);
        let conv_hw = (h.h, h.w);
        let mut h = self.in_conv.forward(&h);
        let c = h.c;
        let e = self.emb.forward(emb, true);
        let film = if self.scale_shift {
            let (mut scale, mut shift) = (Vec::new(), Vec::new());
            for row in e.chunks_exact(2 * c) {
                scale.extend_from_slice(&row[..c]);
                shift.extend_from_slice(&row[c..]);
            }
            Some(Film { scale, shift })
        } else {
            let pixels = h.pixels();
            for (i, row) in h.data.chunks_exact_mut(c).enumerate() {
                let b = i / pixels;
                for (v, e) in row.iter_mut().zip(&e[b * c..(b + 1) * c]) {
                    *v += e;
                }
            }
            None
        };
        let mid_hw = (h.h, h.w);
        let (h, out_cache) = self.out_norm.forward(&h, film, true, keep);
        let mut out = self.out_conv.forward(&h);
        match &self.skip {
            Some(s) => out.add_assign(&s.forward(&x)),
            None => out.add_assign(&x),
        }
        let cache = match (in_cache, out_cache) {
            (Some(in_norm), Some(out_norm)) => Some(ResCache {
                in_norm,
                out_norm,
                in_hw,
                conv_hw,
                mid_hw,
            }),
            _ => None,
        };
        (out, cache)
    }

    fn backward(&self, cache: ResCache, g: &Act) -> Act {
        let gh = self.out_conv.input_vjp(g, cache.mid_hw.0, cache.mid_hw.1);
        let gh = self.out_norm.backward(cache.out_norm, &gh);
        let gh = self
            .in_conv
            .input_vjp(&gh, cache.conv_hw.0, cache.conv_hw.1);
        let gh = resample_adjoint(gh, self.resample);
        let gx = match &self.skip {
            Some(s) => s.input_vjp(g, cache.conv_hw.0, cache.conv_hw.1),
            None => g.clone(),
        };
        let mut gx = resample_adjoint(gx, self.resample);
        debug_assert_eq!((gx.h, gx.w), cache.in_hw);
        gx.add_assign(&self.in_norm.backward(cache.in_norm, &gh));
        gx
    }
}

#[derive(Clone, Debug)]
enum Layer {
    Conv(Conv2d),
    Res(Box<Res>),
    Attn(Box<Attention>),
    /// Nearest x2, then the optional conv.
    Up(Option<Conv2d>),
    /// A stride-2 conv, or 2x2 average pooling.
    Down(Option<Conv2d>),
}

enum LayerCache {
    /// The layer's input size.
    Size(usize, usize),
    Res(ResCache),
    Attn(AttnCache),
}

impl Layer {
    fn new(l: &BurnLayer) -> Self {
        match l {
            BurnLayer::Conv(c) => Layer::Conv(conv(c)),
            BurnLayer::Res(r) => Layer::Res(Box::new(Res::new(r))),
            BurnLayer::Attn(a) => Layer::Attn(Box::new(attention(a))),
            BurnLayer::Up(u) => Layer::Up(u.conv.as_ref().map(conv)),
            BurnLayer::Down(d) => Layer::Down(d.op.as_ref().map(conv)),
        }
    }

    fn forward(&self, x: Act, emb: &[f32], keep: bool) -> (Act, Option<LayerCache>) {
        let size = keep.then_some(LayerCache::Size(x.h, x.w));
        match self {
            Layer::Conv(c) => (c.forward(&x), size),
            Layer::Res(r) => {
                let (y, c) = r.forward(x, emb, keep);
                (y, c.map(LayerCache::Res))
            }
            Layer::Attn(a) => {
                let (y, c) = a.forward(x, keep);
                (y, c.map(LayerCache::Attn))
            }
            Layer::Up(c) => {
                let h = x.upsample2();
                (c.as_ref().map_or(h.clone(), |c| c.forward(&h)), size)
            }
            Layer::Down(Some(c)) => (c.forward(&x), size),
            Layer::Down(None) => (x.avg_pool2(), size),
        }
    }

    fn backward(&self, cache: LayerCache, g: &Act) -> Act {
        match (self, cache) {
            (Layer::Res(r), LayerCache::Res(c)) => r.backward(c, g),
            (Layer::Attn(a), LayerCache::Attn(c)) => a.backward(c, g),
            (Layer::Conv(c), LayerCache::Size(h, w)) => c.input_vjp(g, h, w),
            (Layer::Up(c), LayerCache::Size(h, w)) => match c {
                Some(c) => c.input_vjp(g, 2 * h, 2 * w).upsample2_adjoint(),
                None => g.upsample2_adjoint(),
            },
            (Layer::Down(Some(c)), LayerCache::Size(h, w)) => c.input_vjp(g, h, w),
            (Layer::Down(None), LayerCache::Size(..)) => g.avg_pool2_adjoint(),
            _ => unreachable!("a layer's cache is made by its own forward"),
        }
    }
}

fn attention(a: &AttentionBlock) -> Attention {
    Attention {
        norm: norm(&a.norm),
        qkv: pointwise(&a.qkv),
        proj: pointwise(&a.proj_out),
        heads: a.heads,
        new_order: a.new_order,
    }
}

type Block = Vec<Layer>;

/// The saved state of one forward, consumed by [`NativeAdm::backward`].
pub struct Tape {
    input: Vec<Vec<LayerCache>>,
    middle: Vec<LayerCache>,
    output: Vec<Vec<LayerCache>>,
    /// Channels of the running activation entering each output block (before the skip).
    output_split: Vec<usize>,
    head_norm: NormCache,
    head_hw: (usize, usize),
}

/// The UNet on the native kernels.
#[derive(Clone, Debug)]
pub struct NativeAdm {
    time_embed_0: Linear,
    time_embed_2: Linear,
    input_blocks: Vec<Block>,
    middle_block: Block,
    output_blocks: Vec<Block>,
    out_norm: GroupNorm,
    out_conv: Conv2d,
    model_channels: usize,
}

fn block_forward(blk: &Block, mut x: Act, emb: &[f32], keep: bool) -> (Act, Vec<LayerCache>) {
    let mut caches = Vec::new();
    for l in blk {
        let (y, c) = l.forward(x, emb, keep);
        x = y;
        caches.extend(c);
    }
    (x, caches)
}

fn block_backward(blk: &Block, caches: Vec<LayerCache>, g: Act) -> Act {
    let mut g = g;
    for (l, c) in blk.iter().zip(caches).rev() {
        g = l.backward(c, &g);
    }
    g
}

impl NativeAdm {
    /// Copies the weights of a burn network (any dtype; computed in f32).
    pub fn from_burn(net: &UNetModel) -> Self {
        let block = |b: &crate::adm::unet::Block| b.layers.iter().map(Layer::new).collect();
        Self {
            time_embed_0: Linear::new(&net.time_embed_0),
            time_embed_2: Linear::new(&net.time_embed_2),
            input_blocks: net.input_blocks.iter().map(block).collect(),
            middle_block: block(&net.middle_block),
            output_blocks: net.output_blocks.iter().map(block).collect(),
            out_norm: norm(&net.out_norm),
            out_conv: conv(&net.out_conv),
            model_channels: net.model_channels,
        }
    }

    /// `model(x, t)` for `x [B, H, W, C]` and one step per image; with `keep`, the tape
    /// for [`NativeAdm::backward`].
    pub fn forward(&self, x: Act, timesteps: &[f64], keep: bool) -> (Act, Option<Tape>) {
        let (emb, _) = timestep_embedding(timesteps, self.model_channels);
        let emb = self.time_embed_0.forward(&emb, false);
        let emb = self.time_embed_2.forward(&emb, true);
        let mut hs = Vec::with_capacity(self.input_blocks.len());
        let mut input = Vec::new();
        let mut h = x;
        for blk in &self.input_blocks {
            let (y, c) = block_forward(blk, h, &emb, keep);
            input.push(c);
            hs.push(y.clone());
            h = y;
        }
        let (mut h, middle) = block_forward(&self.middle_block, h, &emb, keep);
        let mut output = Vec::new();
        let mut output_split = Vec::new();
        for blk in &self.output_blocks {
            let skip = hs.pop().expect("one skip per output block");
            output_split.push(h.c);
            let (y, c) = block_forward(blk, h.concat_channels(&skip), &emb, keep);
            output.push(c);
            h = y;
        }
        let head_hw = (h.h, h.w);
        let (h, head_norm) = self.out_norm.forward(&h, None, true, keep);
        let out = self.out_conv.forward(&h);
        let tape = head_norm.map(|head_norm| Tape {
            input,
            middle,
            output,
            output_split,
            head_norm,
            head_hw,
        });
        (out, tape)
    }

    /// `J^T g`: the gradient with respect to the forward's input of `<model(x), g>`.
    pub fn backward(&self, tape: Tape, g: &Act) -> Act {
        let Tape {
            input,
            middle,
            output,
            output_split,
            head_norm,
            head_hw,
        } = tape;
        let g = self.out_conv.input_vjp(g, head_hw.0, head_hw.1);
        let mut g = self.out_norm.backward(head_norm, &g);
        let n = self.input_blocks.len();
        let mut skips: Vec<Option<Act>> = (0..n).map(|_| None).collect();
        for (i, (blk, caches)) in self.output_blocks.iter().zip(output).enumerate().rev() {
            let gin = block_backward(blk, caches, g);
            let (gh, gskip) = gin.split_channels(output_split[i]);
            // Output block i took the skip of input block n - 1 - i.
            skips[n - 1 - i] = Some(gskip);
            g = gh;
        }
        g = block_backward(&self.middle_block, middle, g);
        for (j, (blk, caches)) in self.input_blocks.iter().zip(input).enumerate().rev() {
            if let Some(s) = skips[j].take() {
                g.add_assign(&s);
            }
            g = block_backward(blk, caches, g);
        }
        g
    }
}
