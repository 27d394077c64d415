//! LPIPS, the learned perceptual image patch similarity (Zhang, Isola, Efros, Shechtman,
//! Wang, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR
//! 2018; version 0.1 of the `lpips` package): the ImageNet backbone's features at five
//! depths (AlexNet `relu1`–`relu5`, or VGG-16 `relu1_2`–`relu5_3`), each normalised to unit
//! length over channels, the squared difference weighted per channel by the package's
//! linear layers (1x1 convolutions without bias), averaged over space and summed over
//! depths. Inputs in `[-1, 1]` pass the package's scaling layer first; grey images are
//! replicated to three channels.
//!
//! Weights: the backbone from torchvision's file (`alexnet-owt-7be5be79.pth`,
//! `vgg16-397923af.pth`: the `features.*` tensors; `.safetensors` too), the linear layers
//! from the `lpips` package (`weights/v0.1/alex.pth`, `vgg.pth`; BSD-2-Clause), which are
//! embedded here (`assets/lpips/`) and used when no file is given.

use crate::checkpoint::{Checkpoint, CheckpointError, RawTensor, WeightLoader};
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{DType, Device, Tensor, TensorData};
use std::path::Path;
use vmlmap_core::Shape;

/// The backbone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpipsNet {
    Alex,
    Vgg,
}

impl std::str::FromStr for LpipsNet {
    type Err = LpipsError;
    fn from_str(s: &str) -> Result<Self, LpipsError> {
        match s {
            "alex" | "alexnet" => Ok(Self::Alex),
            "vgg" | "vgg16" => Ok(Self::Vgg),
            _ => Err(LpipsError::Net(s.to_string())),
        }
    }
}

impl LpipsNet {
    pub fn name(self) -> &'static str {
        match self {
            Self::Alex => "alex",
            Self::Vgg => "vgg",
        }
    }

    /// The linear layers shipped with the `lpips` package (v0.1), as safetensors.
    fn embedded_lin(self) -> &'static [u8] {
        match self {
            Self::Alex => include_bytes!("../../../assets/lpips/alex.safetensors"),
            Self::Vgg => include_bytes!("../../../assets/lpips/vgg.safetensors"),
        }
    }

    /// torchvision's `features` as (index, layer), and the indices whose output is a tap.
    fn layers(self) -> (Vec<(usize, Layer)>, [usize; 5]) {
        match self {
            Self::Alex => (
                vec![
                    (
                        0,
                        Layer::Conv {
                            cin: 3,
                            cout: 64,
                            k: 11,
                            stride: 4,
                            pad: 2,
                        },
                    ),
                    (1, Layer::Relu),
                    (2, Layer::Pool { k: 3 }),
                    (
                        3,
                        Layer::Conv {
                            cin: 64,
                            cout: 192,
                            k: 5,
                            stride: 1,
                            pad: 2,
                        },
                    ),
                    (4, Layer::Relu),
                    (5, Layer::Pool { k: 3 }),
                    (
                        6,
                        Layer::Conv {
                            cin: 192,
                            cout: 384,
                            k: 3,
                            stride: 1,
                            pad: 1,
                        },
                    ),
                    (7, Layer::Relu),
                    (
                        8,
                        Layer::Conv {
                            cin: 384,
                            cout: 256,
                            k: 3,
                            stride: 1,
                            pad: 1,
                        },
                    ),
                    (9, Layer::Relu),
                    (
                        10,
                        Layer::Conv {
                            cin: 256,
                            cout: 256,
                            k: 3,
                            stride: 1,
                            pad: 1,
                        },
                    ),
                    (11, Layer::Relu),
                ],
                [1, 4, 7, 9, 11],
            ),
            Self::Vgg => {
                // torchvision's cfg "D": channels, M = 2x2 max pool.
                let cfg: [usize; 17] = [
                    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512,
                ];
                let mut out = Vec::new();
                let (mut i, mut cin) = (0, 3);
                for c in cfg {
                    if c == 0 {
                        out.push((i, Layer::Pool { k: 2 }));
                        i += 1;
                    } else {
                        out.push((
                            i,
                            Layer::Conv {
                                cin,
                                cout: c,
                                k: 3,
                                stride: 1,
                                pad: 1,
                            },
                        ));
                        out.push((i + 1, Layer::Relu));
                        cin = c;
                        i += 2;
                    }
                }
                (out, [3, 8, 15, 22, 29])
            }
        }
    }

    /// The torchvision `features` indices of the convolutions, in order.
    pub fn conv_indices(self) -> Vec<usize> {
        self.layers()
            .0
            .into_iter()
            .filter(|(_, l)| matches!(l, Layer::Conv { .. }))
            .map(|(i, _)| i)
            .collect()
    }

    /// The smallest image side the network takes (AlexNet's strided first convolution and
    /// two 3x3 poolings need 31 pixels; VGG-16's four 2x2 poolings 16).
    pub fn min_side(self) -> usize {
        match self {
            Self::Alex => 31,
            Self::Vgg => 16,
        }
    }

    /// Channels at the five taps.
    pub fn channels(self) -> [usize; 5] {
        match self {
            Self::Alex => [64, 192, 384, 256, 256],
            Self::Vgg => [64, 128, 256, 512, 512],
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Layer {
    Conv {
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    },
    Relu,
    /// Max pooling with stride 2 (AlexNet: 3x3 windows; VGG: 2x2).
    Pool {
        k: usize,
    },
}

/// LPIPS that cannot be built or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum LpipsError {
    #[error("unknown LPIPS network {0:?} (expected alex or vgg)")]
    Net(String),
    #[error("LPIPS backbone {path}: {source}")]
    Backbone {
        path: String,
        #[source]
        source: CheckpointError,
    },
    #[error("LPIPS linear layers {path}: {source}")]
    Lin {
        path: String,
        #[source]
        source: CheckpointError,
    },
    #[error("LPIPS backbone {path} has no features.* tensors: is it torchvision's {net} file?")]
    NoFeatures { path: String, net: &'static str },
    #[error("LPIPS needs images of 1 or 3 channels, not {0}")]
    Channels(Shape),
    #[error("LPIPS-{net} needs images of at least {min}x{min} pixels, not {shape}")]
    TooSmall {
        net: &'static str,
        min: usize,
        shape: Shape,
    },
    #[error("LPIPS images differ in size or length: {0}")]
    Size(String),
    #[error("LPIPS: {0}")]
    Backend(String),
}

enum Op {
    Conv(Box<ConvOp>),
    Relu,
    Pool(usize),
}

struct ConvOp {
    w: Tensor<4>,
    b: Tensor<1>,
    stride: usize,
    pad: usize,
}

/// An LPIPS metric with its weights on a device.
pub struct Lpips {
    pub net: LpipsNet,
    /// (op, whether its output is a tap).
    ops: Vec<(Op, bool)>,
    lins: Vec<Tensor<4>>,
    device: Device,
}

fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, shape), (device, DType::F32))
}

impl Lpips {
    /// Reads torchvision's backbone file and (optionally; else the embedded ones) the
    /// `lpips` package's linear layers.
    pub fn load(
        net: LpipsNet,
        backbone: &Path,
        lin: Option<&Path>,
        device: &Device,
    ) -> Result<Self, LpipsError> {
        let bpath = backbone.display().to_string();
        let bb = Checkpoint::open(backbone).map_err(|source| LpipsError::Backbone {
            path: bpath.clone(),
            source,
        })?;
        let (lin_ck, lpath) = Self::lin_weights(net, lin)?;
        Self::from_checkpoints(net, &bb, &bpath, &lin_ck, &lpath, device)
    }

    /// The linear layers from `lin`, else the embedded ones, with the name errors give.
    pub fn lin_weights(
        net: LpipsNet,
        lin: Option<&Path>,
    ) -> Result<(Checkpoint, String), LpipsError> {
        Ok(match lin {
            Some(p) => (
                Checkpoint::open(p).map_err(|source| LpipsError::Lin {
                    path: p.display().to_string(),
                    source,
                })?,
                p.display().to_string(),
            ),
            None => {
                let name = format!("embedded lpips v0.1 {}", net.name());
                (
                    Checkpoint::from_safetensors_bytes(Path::new(&name), net.embedded_lin())
                        .map_err(|source| LpipsError::Lin {
                            path: name.clone(),
                            source,
                        })?,
                    name,
                )
            }
        })
    }

    /// The metric from checkpoints already read (`features.*` of the backbone; the
    /// backbone's other tensors, torchvision's classifier, are ignored).
    pub fn from_checkpoints(
        net: LpipsNet,
        backbone: &Checkpoint,
        backbone_name: &str,
        lin: &Checkpoint,
        lin_name: &str,
        device: &Device,
    ) -> Result<Self, LpipsError> {
        let features = Checkpoint {
            tensors: backbone
                .tensors
                .iter()
                .filter(|(k, _)| k.starts_with("features."))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            format: backbone.format.clone(),
        };
        if features.tensors.is_empty() {
            return Err(LpipsError::NoFeatures {
                path: backbone_name.to_string(),
                net: match net {
                    LpipsNet::Alex => "AlexNet (alexnet-owt-7be5be79.pth)",
                    LpipsNet::Vgg => "VGG-16 (vgg16-397923af.pth)",
                },
            });
        }
        let (layers, taps) = net.layers();
        let mut wl = WeightLoader::new(&features);
        let mut ops = Vec::new();
        for (i, l) in layers {
            let op = match l {
                Layer::Conv {
                    cin,
                    cout,
                    k,
                    stride,
                    pad,
                } => Op::Conv(Box::new(ConvOp {
                    w: tensor(
                        wl.take(&format!("features.{i}.weight"), &[cout, cin, k, k]),
                        [cout, cin, k, k],
                        device,
                    ),
                    b: tensor(
                        wl.take(&format!("features.{i}.bias"), &[cout]),
                        [cout],
                        device,
                    ),
                    stride,
                    pad,
                })),
                Layer::Relu => Op::Relu,
                Layer::Pool { k } => Op::Pool(k),
            };
            ops.push((op, taps.contains(&i)));
        }
        let arch = format!("LPIPS {} backbone", net.name());
        wl.finish(&arch).map_err(|source| LpipsError::Backbone {
            path: backbone_name.to_string(),
            source,
        })?;
        let mut wl = WeightLoader::new(lin);
        let lins = net
            .channels()
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                tensor(
                    wl.take(&format!("lin{k}.model.1.weight"), &[1, c, 1, 1]),
                    [1, c, 1, 1],
                    device,
                )
            })
            .collect();
        wl.finish(&format!("LPIPS {} linear layers", net.name()))
            .map_err(|source| LpipsError::Lin {
                path: lin_name.to_string(),
                source,
            })?;
        Ok(Self {
            net,
            ops,
            lins,
            device: device.clone(),
        })
    }

    /// The five tapped feature maps of a `[B, 3, H, W]` batch after the scaling layer.
    fn taps(&self, mut x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut out = Vec::new();
        for (op, tap) in &self.ops {
            x = match op {
                Op::Conv(c) => conv2d(
                    x,
                    c.w.clone(),
                    Some(c.b.clone()),
                    ConvOptions::new([c.stride; 2], [c.pad; 2], [1, 1], 1),
                ),
                Op::Relu => relu(x),
                Op::Pool(k) => max_pool2d(x, MaxPoolOptions::new([*k; 2]).with_stride([2, 2])),
            };
            if *tap {
                out.push(x.clone());
            }
        }
        out
    }

    /// LPIPS between image pairs: `a` and `b` hold `n` images of `shape` each, in
    /// `[-1, 1]`; returns the `n` distances.
    pub fn distances(&self, a: &[f64], b: &[f64], shape: Shape) -> Result<Vec<f64>, LpipsError> {
        if shape.c != 1 && shape.c != 3 {
            return Err(LpipsError::Channels(shape));
        }
        let min = self.net.min_side();
        if shape.h < min || shape.w < min {
            return Err(LpipsError::TooSmall {
                net: self.net.name(),
                min,
                shape,
            });
        }
        let per = shape.numel();
        if a.len() != b.len() || a.is_empty() || !a.len().is_multiple_of(per) {
            return Err(LpipsError::Size(format!(
                "{} and {} values for {shape} images",
                a.len(),
                b.len()
            )));
        }
        let n = a.len() / per;
        let rgb = |v: &[f64]| -> Tensor<4> {
            let mut out = Vec::with_capacity(n * 3 * shape.h * shape.w);
            for img in v.chunks(per) {
                for c in 0..3 {
                    let src = if shape.c == 3 { c } else { 0 };
                    out.extend(
                        img[src * shape.h * shape.w..(src + 1) * shape.h * shape.w]
                            .iter()
                            .map(|&x| x as f32),
                    );
                }
            }
            tensor(out, [n, 3, shape.h, shape.w], &self.device)
        };
        let shift = tensor(vec![-0.030f32, -0.088, -0.188], [1, 3, 1, 1], &self.device);
        let scale = tensor(vec![0.458f32, 0.448, 0.450], [1, 3, 1, 1], &self.device);
        let scaled = |x: Tensor<4>| (x - shift.clone()) / scale.clone();
        let (fa, fb) = (self.taps(scaled(rgb(a))), self.taps(scaled(rgb(b))));
        let mut total: Option<Tensor<4>> = None;
        for ((x, y), lin) in fa.into_iter().zip(fb).zip(&self.lins) {
            let unit = |f: Tensor<4>| {
                let norm = f
                    .clone()
                    .powf_scalar(2.0)
                    .sum_dim(1)
                    .sqrt()
                    .add_scalar(1e-10);
                f / norm
            };
            let d = (unit(x) - unit(y)).powf_scalar(2.0);
            let w = conv2d(
                d,
                lin.clone(),
                None,
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            );
            let m = w.mean_dim(2).mean_dim(3);
            total = Some(match total {
                None => m,
                Some(t) => t + m,
            });
        }
        let t = total.ok_or_else(|| LpipsError::Backend("no feature taps".into()))?;
        t.into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .map_err(|e| LpipsError::Backend(format!("{e:?}")))
    }
}

/// Deterministic weights for tests and fixtures: value `i` of a tensor with seed `s` is
/// `(((i + s) * 2654435761) mod 2^32 / 2^32 - 0.5) * scale`, exact in f32 when `scale` is
/// a power of two (so that Python and Rust build the same network bit for bit).
pub fn hashed_weights(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let h = ((i + seed).wrapping_mul(2_654_435_761)) % (1u64 << 32);
            ((h as f64 / 4_294_967_296.0 - 0.5) * scale as f64) as f32
        })
        .collect()
}

/// A backbone checkpoint (torchvision names) of [`hashed_weights`]: weights of each conv
/// scaled by the power of two nearest `1/sqrt(fan_in)`, biases by 1/64.
pub fn hashed_backbone(net: LpipsNet) -> Checkpoint {
    let mut ck = Checkpoint {
        format: "generated".into(),
        ..Default::default()
    };
    for (i, l) in net.layers().0 {
        if let Layer::Conv { cin, cout, k, .. } = l {
            let fan = (cin * k * k) as f64;
            let scale = 2f32.powi(-(fan.sqrt().log2().round() as i32));
            let n = cout * cin * k * k;
            ck.tensors.insert(
                format!("features.{i}.weight"),
                RawTensor {
                    shape: vec![cout, cin, k, k],
                    data: hashed_weights(n, 1000 * i as u64, scale),
                    source_dtype: "f32".into(),
                },
            );
            ck.tensors.insert(
                format!("features.{i}.bias"),
                RawTensor {
                    shape: vec![cout],
                    data: hashed_weights(cout, 1000 * i as u64 + 7, 1.0 / 64.0),
                    source_dtype: "f32".into(),
                },
            );
        }
    }
    ck
}

#[cfg(test)]
#[path = "lpips_tests.rs"]
mod tests;
