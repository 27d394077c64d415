//! The guided-diffusion `UNetModel` (Dhariwal & Nichol 2021) on the native kernels:
//! built from the burn network's weights (each layer keeps its state-dict name), its
//! forward optionally keeps a tape, and the backward walks the tape in reverse for the
//! input VJP and, in training mode, the parameter gradients (the time embedding enters
//! only the latter: it does not depend on the image).

use super::act::Act;
use super::attention::{Attention, AttnCache};
use super::conv::Conv2d;
use super::grads::ParamGrads;
use super::math;
use super::norm::{Film, GroupNorm, NormCache};
use crate::adm::blocks::{AttentionBlock, ResBlock};
use crate::adm::unet::{timestep_embedding, Layer as BurnLayer, UNetModel};
use crate::layers::{Conv, GroupNorm as BurnGroupNorm, Linear as BurnLinear, PointwiseConv1d};
use burn::tensor::Tensor;

/// What a forward keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Nothing: the output only.
    Infer,
    /// The tape of the input VJP.
    Vjp,
    /// Also the layer inputs the parameter gradients need.
    Train,
}

impl Mode {
    fn keep(self) -> bool {
        self != Mode::Infer
    }
    fn train(self) -> bool {
        self == Mode::Train
    }
}

/// Reads a burn tensor's values as f32.
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    let data = t.into_data().convert::<f32>();
    data.try_to_vec::<f32>()
        .expect("a converted f32 tensor reads back as f32")
}

fn conv(c: &Conv, name: String) -> Conv2d {
    let [cout, cin, k, _] = c.weight.dims();
    let mut out = Conv2d::new(
        &values(c.weight.val()),
        &values(c.bias.val()),
        cout,
        cin,
        k,
        c.stride,
    );
    out.name = name;
    out
}

fn pointwise(c: &PointwiseConv1d, name: String) -> Conv2d {
    let [cout, cin, _] = c.weight.dims();
    let mut out = Conv2d::new(
        &values(c.weight.val()),
        &values(c.bias.val()),
        cout,
        cin,
        1,
        1,
    );
    out.name = name;
    out
}

fn norm(n: &BurnGroupNorm, name: String) -> GroupNorm {
    let gamma = values(n.weight.val());
    GroupNorm {
        name,
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
    name: String,
    w: Vec<f32>,
    b: Vec<f32>,
    cin: usize,
    cout: usize,
}

impl Linear {
    fn new(l: &BurnLinear, name: String) -> Self {
        let [cout, cin] = l.weight.dims();
        Self {
            name,
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

    /// Adds `dW = doutᵀ x̃`, `db = Σ dout` (`x̃ = silu(x)` when `silu_in`) and returns the
    /// gradient with respect to `x`.
    fn backward(&self, x: &[f32], silu_in: bool, dout: &[f32], grads: &mut ParamGrads) -> Vec<f32> {
        let mut dw = vec![0.0f32; self.cout * self.cin];
        let mut db = vec![0.0f32; self.cout];
        let mut dx = vec![0.0f32; x.len()];
        for ((xr, dr), dxr) in x
            .chunks_exact(self.cin)
            .zip(dout.chunks_exact(self.cout))
            .zip(dx.chunks_exact_mut(self.cin))
        {
            let xt: Vec<f32> = if silu_in {
                xr.iter().map(|&v| math::silu(v)).collect()
            } else {
                xr.to_vec()
            };
            for (o, &d) in dr.iter().enumerate() {
                db[o] += d;
                let w = &self.w[o * self.cin..(o + 1) * self.cin];
                for (i, (&xv, &wv)) in xt.iter().zip(w).enumerate() {
                    dw[o * self.cin + i] += d * xv;
                    dxr[i] += d * wv;
                }
            }
            if silu_in {
                for (g, &v) in dxr.iter_mut().zip(xr) {
                    *g *= math::silu_grad(v);
                }
            }
        }
        grads.add(&format!("{}.weight", self.name), &dw);
        grads.add(&format!("{}.bias", self.name), &db);
        dx
    }
}

/// Parameter gradients and the gradient of the time embedding, while a backward runs.
struct TrainGrads<'a> {
    params: &'a mut ParamGrads,
    /// `[B, E]`: gradient with respect to the embedding the blocks read.
    demb: Vec<f32>,
    /// `[B, E]`: that embedding.
    emb: Vec<f32>,
}

#[path = "res_block.rs"]
mod res_block;
use res_block::{Res, ResCache};

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
    /// The layer's input size, and in training the input of its convolution.
    Plain(usize, usize, Option<Act>),
    Res(ResCache),
    Attn(AttnCache),
}

impl Layer {
    fn new(l: &BurnLayer, p: &str) -> Self {
        match l {
            BurnLayer::Conv(c) => Layer::Conv(conv(c, p.to_string())),
            BurnLayer::Res(r) => Layer::Res(Box::new(Res::new(r, p))),
            BurnLayer::Attn(a) => Layer::Attn(Box::new(attention(a, p))),
            BurnLayer::Up(u) => Layer::Up(u.conv.as_ref().map(|c| conv(c, format!("{p}.conv")))),
            BurnLayer::Down(d) => Layer::Down(d.op.as_ref().map(|c| conv(c, format!("{p}.op")))),
        }
    }

    fn forward(&self, x: Act, emb: &[f32], mode: Mode) -> (Act, Option<LayerCache>) {
        let (h, w) = (x.h, x.w);
        // A plain layer's cache: its input size and, in training, its convolution's input.
        let plain = |input: Option<Act>| {
            mode.keep()
                .then_some(LayerCache::Plain(h, w, input.filter(|_| mode.train())))
        };
        match self {
            Layer::Conv(c) | Layer::Down(Some(c)) => (c.forward(&x), plain(Some(x))),
            Layer::Res(r) => {
                let (y, c) = r.forward(x, emb, mode);
                (y, c.map(LayerCache::Res))
            }
            Layer::Attn(a) => {
                let (y, c) = a.forward(x, mode.keep(), mode.train());
                (y, c.map(LayerCache::Attn))
            }
            Layer::Up(Some(c)) => {
                let u = x.upsample2();
                (c.forward(&u), plain(Some(u)))
            }
            Layer::Up(None) => (x.upsample2(), plain(None)),
            Layer::Down(None) => (x.avg_pool2(), plain(None)),
        }
    }

    fn backward(&self, cache: LayerCache, g: &Act, train: Option<&mut TrainGrads>) -> Act {
        let params = |t: Option<&mut TrainGrads>, c: &Conv2d, input: &Option<Act>| {
            if let (Some(t), Some(a)) = (t, input) {
                c.weight_grad(a, g, t.params);
            }
        };
        match (self, cache) {
            (Layer::Res(r), LayerCache::Res(c)) => r.backward(c, g, train),
            (Layer::Attn(a), LayerCache::Attn(c)) => {
                a.backward(c, g, train.map(|t| &mut *t.params))
            }
            (Layer::Conv(c), LayerCache::Plain(h, w, input))
            | (Layer::Down(Some(c)), LayerCache::Plain(h, w, input)) => {
                params(train, c, &input);
                c.input_vjp(g, h, w)
            }
            (Layer::Up(c), LayerCache::Plain(h, w, input)) => match c {
                Some(c) => {
                    params(train, c, &input);
                    c.input_vjp(g, 2 * h, 2 * w).upsample2_adjoint()
                }
                None => g.upsample2_adjoint(),
            },
            (Layer::Down(None), LayerCache::Plain(..)) => g.avg_pool2_adjoint(),
            _ => unreachable!("a layer's cache is made by its own forward"),
        }
    }
}

fn attention(a: &AttentionBlock, p: &str) -> Attention {
    Attention {
        norm: norm(&a.norm, format!("{p}.norm")),
        qkv: pointwise(&a.qkv, format!("{p}.qkv")),
        proj: pointwise(&a.proj_out, format!("{p}.proj_out")),
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
    /// Training: the embeddings and the head convolution's input.
    embedding: Option<TrainTape>,
}

/// What a training backward needs beyond the input VJP's tape.
struct TrainTape {
    /// The sinusoidal embedding `[B, model_channels]`.
    temb: Vec<f32>,
    /// `time_embed.0`'s output `[B, E]`.
    h0: Vec<f32>,
    /// The embedding every block reads `[B, E]`.
    emb: Vec<f32>,
    /// The input of the head convolution `out.2`.
    head_in: Act,
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

fn block_forward(blk: &Block, mut x: Act, emb: &[f32], mode: Mode) -> (Act, Vec<LayerCache>) {
    let mut caches = Vec::new();
    for l in blk {
        let (y, c) = l.forward(x, emb, mode);
        x = y;
        caches.extend(c);
    }
    (x, caches)
}

fn block_backward(
    blk: &Block,
    caches: Vec<LayerCache>,
    g: Act,
    mut train: Option<&mut TrainGrads>,
) -> Act {
    let mut g = g;
    for (l, c) in blk.iter().zip(caches).rev() {
        g = l.backward(c, &g, train.as_deref_mut());
    }
    g
}

impl NativeAdm {
    /// Copies the weights of a burn network (any dtype; computed in f32).
    pub fn from_burn(net: &UNetModel) -> Self {
        let block = |b: &crate::adm::unet::Block, p: String| {
            b.layers
                .iter()
                .enumerate()
                .map(|(j, l)| Layer::new(l, &format!("{p}.{j}")))
                .collect()
        };
        Self {
            time_embed_0: Linear::new(&net.time_embed_0, "time_embed.0".into()),
            time_embed_2: Linear::new(&net.time_embed_2, "time_embed.2".into()),
            input_blocks: net
                .input_blocks
                .iter()
                .enumerate()
                .map(|(i, b)| block(b, format!("input_blocks.{i}")))
                .collect(),
            middle_block: block(&net.middle_block, "middle_block".into()),
            output_blocks: net
                .output_blocks
                .iter()
                .enumerate()
                .map(|(i, b)| block(b, format!("output_blocks.{i}")))
                .collect(),
            out_norm: norm(&net.out_norm, "out.0".into()),
            out_conv: conv(&net.out_conv, "out.2".into()),
            model_channels: net.model_channels,
        }
    }

    /// `model(x, t)` for `x [B, H, W, C]` and one step per image; with `keep`, the tape
    /// for [`NativeAdm::backward`].
    pub fn forward(&self, x: Act, timesteps: &[f64], keep: bool) -> (Act, Option<Tape>) {
        self.forward_mode(x, timesteps, if keep { Mode::Vjp } else { Mode::Infer })
    }

    /// [`NativeAdm::forward`] keeping what `mode` says.
    pub fn forward_mode(&self, x: Act, timesteps: &[f64], mode: Mode) -> (Act, Option<Tape>) {
        on_pool(|| self.forward_on_pool(x, timesteps, mode))
    }

    fn forward_on_pool(&self, x: Act, timesteps: &[f64], mode: Mode) -> (Act, Option<Tape>) {
        let (temb, _) = timestep_embedding(timesteps, self.model_channels);
        let h0 = self.time_embed_0.forward(&temb, false);
        let emb = self.time_embed_2.forward(&h0, true);
        let mut hs = Vec::with_capacity(self.input_blocks.len());
        let mut input = Vec::new();
        let mut h = x;
        for blk in &self.input_blocks {
            let (y, c) = block_forward(blk, h, &emb, mode);
            input.push(c);
            hs.push(y.par_clone());
            h = y;
        }
        let (mut h, middle) = block_forward(&self.middle_block, h, &emb, mode);
        let mut output = Vec::new();
        let mut output_split = Vec::new();
        for blk in &self.output_blocks {
            let skip = hs.pop().expect("one skip per output block");
            output_split.push(h.c);
            let (y, c) = block_forward(blk, h.concat_channels(&skip), &emb, mode);
            output.push(c);
            h = y;
        }
        let head_hw = (h.h, h.w);
        let (h, head_norm) = self.out_norm.forward(&h, None, true, mode.keep());
        let out = self.out_conv.forward(&h);
        let embedding = mode.train().then_some(TrainTape {
            temb,
            h0,
            emb,
            head_in: h,
        });
        let tape = head_norm.map(|head_norm| Tape {
            input,
            middle,
            output,
            output_split,
            head_norm,
            head_hw,
            embedding,
        });
        (out, tape)
    }

    /// `J^T g`: the gradient with respect to the forward's input of `<model(x), g>`.
    pub fn backward(&self, tape: Tape, g: &Act) -> Act {
        self.backward_params(tape, g, None)
    }

    /// [`NativeAdm::backward`]; with `params` (and a tape of [`Mode::Train`]), also adds
    /// every parameter's gradient of `<model(x), g>` to it.
    pub fn backward_params(&self, tape: Tape, g: &Act, params: Option<&mut ParamGrads>) -> Act {
        on_pool(|| self.backward_on_pool(tape, g, params))
    }

    fn backward_on_pool(&self, tape: Tape, g: &Act, params: Option<&mut ParamGrads>) -> Act {
        let Tape {
            input,
            middle,
            output,
            output_split,
            head_norm,
            head_hw,
            embedding,
        } = tape;
        let (temb, h0, emb, head_in) = match embedding {
            Some(t) => (t.temb, t.h0, t.emb, Some(t.head_in)),
            None => Default::default(),
        };
        let mut train = params.map(|params| TrainGrads {
            params,
            demb: vec![0.0; emb.len()],
            emb,
        });
        if let (Some(t), Some(a)) = (train.as_mut(), &head_in) {
            self.out_conv.weight_grad(a, g, t.params);
        }
        let g = self.out_conv.input_vjp(g, head_hw.0, head_hw.1);
        let (mut g, _) =
            self.out_norm
                .backward(head_norm, &g, train.as_mut().map(|t| &mut *t.params));
        let n = self.input_blocks.len();
        let mut skips: Vec<Option<Act>> = (0..n).map(|_| None).collect();
        for (i, (blk, caches)) in self.output_blocks.iter().zip(output).enumerate().rev() {
            let gin = block_backward(blk, caches, g, train.as_mut());
            let (gh, gskip) = gin.split_channels(output_split[i]);
            // Output block i took the skip of input block n - 1 - i.
            skips[n - 1 - i] = Some(gskip);
            g = gh;
        }
        g = block_backward(&self.middle_block, middle, g, train.as_mut());
        for (j, (blk, caches)) in self.input_blocks.iter().zip(input).enumerate().rev() {
            if let Some(s) = skips[j].take() {
                g.add_assign(&s);
            }
            g = block_backward(blk, caches, g, train.as_mut());
        }
        if let Some(t) = train {
            let dh0 = self.time_embed_2.backward(&h0, true, &t.demb, t.params);
            self.time_embed_0.backward(&temb, false, &dh0, t.params);
        }
        g
    }
}

/// Runs `f` on a worker thread of rayon's global pool (or right here on one already): the
/// network's hundreds of parallel loops then start from a worker, which pushes its tasks
/// for the other workers to steal, instead of each loop injecting its tasks from outside
/// the pool and putting the caller to sleep until they finish (two futex round trips per
/// loop, 6-8% of a batch-16 forward + VJP in `perf`). The blocks, and so the results, do
/// not depend on the thread.
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}
