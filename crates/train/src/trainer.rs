//! The training loop: DDPM epsilon objective `E ‖eps - net(sqrt(abar_t) x0 +
//! sqrt(1 - abar_t) eps, t)‖²` with `t` uniform over the 1000 steps, AdamW with linear
//! warm-up, EMA of the weights (with the usual warm-up of its decay), a checkpoint (model, EMA, AdamW moments, step) written
//! atomically every `save_every` steps and resumed from, and the EMA exported as
//! `.safetensors` with its `UNetModel` configuration beside it.

use crate::adamw::{parameters, AdamW};
use crate::data::ImageSet;
use crate::lr::{lr_at, LrDecay};
use crate::TrainError;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashMap;
use std::path::Path;
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::schedule::VpTable;
use vmlmap_models::adm::{AdmConfig, UNetModel};
use vmlmap_models::checkpoint::{Checkpoint, RawTensor, WeightLoader};
use vmlmap_models::registry::Engine;
use vmlmap_models::weights::{Builder, RandomInit};

/// Training settings.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub steps: u64,
    pub batch: usize,
    pub lr: f64,
    pub warmup: u64,
    /// What the rate does after the warm-up.
    pub decay: LrDecay,
    pub ema_decay: f64,
    pub seed: u64,
    pub save_every: u64,
}

impl TrainConfig {
    /// The settings that shape the weights, as one line for the checkpoint and model card.
    pub fn recipe(&self) -> String {
        let decay = match self.decay {
            LrDecay::Constant => "constant".to_string(),
            LrDecay::Cosine { final_lr } => format!("cosine to {final_lr:e}"),
        };
        format!(
            "batch {}, lr {:e} ({} warm-up steps, then {decay} at step {}), EMA {}, seed {}",
            self.batch, self.lr, self.warmup, self.steps, self.ema_decay, self.seed
        )
    }

    /// The learning rate of the update at 0-based `step`.
    pub fn lr_at(&self, step: u64) -> f64 {
        lr_at(step, self.steps, self.lr, self.warmup, self.decay)
    }

    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |field, value: String, reason: &str| {
            Err(TrainError::Config {
                field,
                value,
                reason: reason.into(),
            })
        };
        if self.batch == 0 {
            return bad("batch", "0".into(), "must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", self.lr.to_string(), "must be positive");
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad("ema_decay", self.ema_decay.to_string(), "must be in [0, 1)");
        }
        if let LrDecay::Cosine { final_lr } = self.decay {
            if !(final_lr >= 0.0 && final_lr <= self.lr) {
                return bad(
                    "lr_final",
                    final_lr.to_string(),
                    "must be in [0, lr] (the cosine decays from lr to it)",
                );
            }
        }
        if self.save_every == 0 {
            return bad("save_every", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

/// Everything a run needs to resume.
pub struct TrainState {
    pub model: UNetModel,
    pub names: Vec<(String, Vec<usize>)>,
    pub ema: Vec<Vec<f32>>,
    pub opt: AdamW,
    pub config: AdmConfig,
    pub losses: Vec<(u64, f32)>,
    /// Held-out denoising losses `(step, [(sigma, mse)])` measured during training.
    pub held_out: Vec<(u64, Vec<(f64, f64)>)>,
    /// The settings of the run that last saved this state (`TrainConfig::recipe`); empty
    /// for checkpoints written before it was recorded.
    pub recipe: String,
    /// Steps run on the native engine (the CPU with [`Engine::Native`]) instead of burn's
    /// autodiff.
    pub native: bool,
}

/// The files an export writes: the weights, `NAME.loss.png`, `NAME.json` and, when the
/// held-out loss was measured, `NAME.held-out.png`.
pub fn export_paths(path: &Path) -> [std::path::PathBuf; 4] {
    [
        path.to_path_buf(),
        path.with_extension("loss.png"),
        path.with_extension("json"),
        path.with_extension("held-out.png"),
    ]
}

/// Without `force`, an error naming the first file of an export that already exists.
pub fn check_export_free(path: &Path, force: bool) -> Result<(), TrainError> {
    if force {
        return Ok(());
    }
    match export_paths(path).into_iter().find(|p| p.exists()) {
        Some(p) => Err(TrainError::Export {
            path: p.display().to_string(),
            reason: "exists; pass --force to overwrite it".into(),
        }),
        None => Ok(()),
    }
}

fn ck_err(path: &Path, reason: impl ToString) -> TrainError {
    TrainError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl TrainState {
    /// A fresh model (ADM initialisation: zeroed output convolutions) or the checkpoint at
    /// `path` when it exists.
    pub fn load_or_init(
        path: &Path,
        config: &AdmConfig,
        tc: &TrainConfig,
        device: &Device,
        engine: Engine,
    ) -> Result<Self, TrainError> {
        let ad = device.clone().autodiff();
        let native = Self::cpu(device) && engine == Engine::Native;
        if path.is_file() {
            let ck = Checkpoint::open(path).map_err(|e| match e {
                // The path is in TrainError's message already.
                vmlmap_models::checkpoint::CheckpointError::Read { reason, .. } => {
                    ck_err(path, reason)
                }
                e => ck_err(path, e),
            })?;
            let meta = read_metadata(path)?;
            let config: AdmConfig = serde_json::from_str(
                meta.get("config")
                    .ok_or_else(|| ck_err(path, "no config in metadata"))?,
            )
            .map_err(|e| ck_err(path, e))?;
            let step: u64 = meta
                .get("step")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ck_err(path, "no step in metadata"))?;
            let held_out: Vec<(u64, Vec<(f64, f64)>)> = meta
                .get("held_out")
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            let losses: Vec<(u64, f32)> = meta
                .get("losses")
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            let sub = |prefix: &str| Checkpoint {
                tensors: ck
                    .tensors
                    .iter()
                    .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone())))
                    .collect(),
                format: ck.format.clone(),
            };
            let weights = sub("model.");
            let mut loader = WeightLoader::new(&weights);
            let (model, names) = {
                let mut b = Builder::new(&mut loader, ad.clone(), burn::tensor::DType::F32);
                let m = UNetModel::new(&config, &mut b)?;
                (m, b.shapes)
            };
            loader
                .finish("training checkpoint")
                .map_err(|e| ck_err(path, e))?;
            let take = |prefix: &str| -> Result<Vec<Vec<f32>>, TrainError> {
                names
                    .iter()
                    .map(|(n, _)| {
                        ck.tensors
                            .get(&format!("{prefix}{n}"))
                            .map(|t| t.data.clone())
                            .ok_or_else(|| ck_err(path, format!("missing {prefix}{n}")))
                    })
                    .collect()
            };
            let recipe = meta.get("recipe").cloned().unwrap_or_default();
            let mut opt = AdamW::new(tc.lr);
            opt.step = step;
            opt.m = take("adam_m.")?;
            opt.v = take("adam_v.")?;
            Ok(Self {
                model,
                ema: take("ema.")?,
                names,
                opt,
                config,
                losses,
                held_out,
                recipe,
                native,
            })
        } else {
            let mut src = RandomInit::new(tc.seed, true);
            let (model, names) = {
                let mut b = Builder::new(&mut src, ad, burn::tensor::DType::F32);
                let m = UNetModel::new(config, &mut b)?;
                (m, b.shapes)
            };
            let ema = parameters(&model);
            if ema.len() != names.len() {
                return Err(ck_err(
                    path,
                    format!("{} parameters visited, {} built", ema.len(), names.len()),
                ));
            }
            Ok(Self {
                model,
                names,
                ema,
                opt: AdamW::new(tc.lr),
                config: config.clone(),
                losses: Vec::new(),
                held_out: Vec::new(),
                recipe: tc.recipe(),
                native,
            })
        }
    }

    fn tensors(&self, prefix: &str, values: &[Vec<f32>]) -> Vec<(String, RawTensor)> {
        self.names
            .iter()
            .zip(values)
            .map(|((n, s), v)| {
                (
                    format!("{prefix}{n}"),
                    RawTensor {
                        shape: s.clone(),
                        data: v.clone(),
                        source_dtype: "f32".into(),
                    },
                )
            })
            .collect()
    }

    /// Writes the resumable checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let mut all = Vec::new();
        all.extend(self.tensors("model.", &parameters(&self.model)));
        all.extend(self.tensors("ema.", &self.ema));
        all.extend(self.tensors("adam_m.", &self.opt.m));
        all.extend(self.tensors("adam_v.", &self.opt.v));
        let mut meta = HashMap::new();
        meta.insert("step".to_string(), self.opt.step.to_string());
        meta.insert(
            "config".to_string(),
            serde_json::to_string(&self.config).expect("serialisable"),
        );
        meta.insert(
            "losses".to_string(),
            serde_json::to_string(&self.losses).expect("serialisable"),
        );
        meta.insert("recipe".to_string(), self.recipe.clone());
        meta.insert(
            "held_out".to_string(),
            serde_json::to_string(&self.held_out).expect("serialisable"),
        );
        write_safetensors(path, &all, Some(meta), true)
    }

    /// The EMA weights as a denoiser (f32, on `device`), as the export would load.
    pub fn ema_denoiser(
        &self,
        device: &Device,
    ) -> Result<vmlmap_models::registry::NetworkDenoiser, TrainError> {
        use vmlmap_models::autodiff_denoiser::{AutodiffDenoiser, Precision};
        use vmlmap_models::eps_denoiser::{Adm, EpsDenoiser, EpsNetwork};
        use vmlmap_models::registry::NetworkDenoiser;
        let ck = Checkpoint {
            tensors: self.tensors("", &self.ema).into_iter().collect(),
            format: "EMA".into(),
        };
        let net = vmlmap_models::adm::load::load_unet(
            Path::new("EMA weights"),
            &ck,
            &self.config,
            device,
            burn::tensor::DType::F32,
        )
        .map_err(|e| TrainError::Export {
            path: "EMA weights".into(),
            reason: e.to_string(),
        })?;
        let net: Box<dyn EpsNetwork> = Box::new(Adm {
            net,
            config: self.config.clone(),
        });
        let engine = if self.native {
            Engine::Native
        } else {
            Engine::Burn
        };
        let burn =
            AutodiffDenoiser::new(EpsDenoiser::new(net, "EMA"), device.clone(), Precision::F32);
        Ok(NetworkDenoiser::new(burn, engine))
    }

    /// Writes the EMA weights under their guided-diffusion names, with `NAME.json` (the
    /// `UNetModel` constructor arguments), `NAME.loss.png` (the loss curve) and, when the
    /// held-out loss was measured, `NAME.held-out.png` beside them. Without `force`,
    /// nothing is written if any of them exists ([`export_paths`]). With a `reference`
    /// (another model's held-out loss on the same images), the held-out figure has a
    /// second panel: the ratio to it.
    pub fn export_ema(
        &self,
        path: &Path,
        force: bool,
        reference: Option<&crate::plot::HeldOutReference>,
    ) -> Result<(), TrainError> {
        let [_, curve, json, held] = export_paths(path);
        check_export_free(path, force)?;
        let ex_err = |p: &Path, e: String| TrainError::Export {
            path: p.display().to_string(),
            reason: e,
        };
        write_safetensors(path, &self.tensors("", &self.ema), None, force)
            .map_err(|e| ex_err(path, e.to_string()))?;
        let c = &self.config;
        let args = serde_json::json!({
            "image_size": c.image_size, "in_channels": c.in_channels, "model_channels": c.model_channels,
            "out_channels": c.out_channels, "num_res_blocks": c.num_res_blocks, "attention_resolutions": c.attention_ds,
            "channel_mult": c.channel_mult, "num_heads": c.num_heads,
            "num_head_channels": c.num_head_channels.map(|v| v as i64).unwrap_or(-1),
            "use_scale_shift_norm": c.use_scale_shift_norm, "resblock_updown": c.resblock_updown,
            "use_new_attention_order": c.use_new_attention_order, "conv_resample": c.conv_resample,
        });
        let write_png = |path: &Path, plot: Result<image::RgbImage, vmlmap_plot::PlotError>| {
            let plot = plot.map_err(|e| ex_err(path, e.to_string()))?;
            vmlmap_io::write_atomic(path, force, |tmp| {
                plot.save_with_format(tmp, image::ImageFormat::Png)
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| ex_err(path, e.to_string()))
        };
        // No curve without a training step (or a held-out measurement) to draw.
        if !self.losses.is_empty() {
            write_png(&curve, crate::plot::loss_curve(&self.losses, 720, 360))?;
        }
        if !self.held_out.is_empty() {
            write_png(
                &held,
                crate::plot::held_out_figure(&self.held_out, reference, 720, 360),
            )?;
        }
        vmlmap_io::write_atomic(&json, force, |tmp| {
            std::fs::write(tmp, serde_json::to_string_pretty(&args).expect("json"))
                .map_err(|e| e.to_string())
        })
        .map_err(|e| ex_err(&json, e.to_string()))
    }

    /// One optimisation step on a batch drawn from `data`; returns the loss.
    pub fn step(&mut self, data: &ImageSet, tc: &TrainConfig, table: &VpTable) -> f32 {
        let step = self.opt.step;
        let mut rng = seeded(tc.seed.wrapping_mul(1_000_003).wrapping_add(step));
        let n = data.c * data.h * data.w;
        let b = tc.batch;
        let idx: Vec<usize> = (0..b).map(|_| rand_index(&mut rng, data.len())).collect();
        let ts: Vec<usize> = (0..b).map(|_| rand_index(&mut rng, table.len())).collect();
        let eps = normal_vec(&mut rng, b * n);
        let mut xt = Vec::with_capacity(b * n);
        for (k, (&i, &t)) in idx.iter().zip(&ts).enumerate() {
            let ab = table.alpha_bars()[t];
            let (sa, sb) = (ab.sqrt(), (1.0 - ab).sqrt());
            for (j, &x0) in data.image(i).iter().enumerate() {
                xt.push((sa * x0 as f64 + sb * eps[k * n + j]) as f32);
            }
        }
        if self.native {
            return self.native_step(&xt, &eps, &ts, data, tc);
        }
        // After native steps (which leave the parameters untracked) the burn step needs
        // them tracked again; tracked ones are left as they are.
        let model = std::mem::replace(&mut self.model, placeholder(&self.config));
        self.model = crate::adamw::track_parameters(model);
        let dims = [b, data.c, data.h, data.w];
        let ad = self.model.out_conv.weight.val().device();
        let x: Tensor<4> = Tensor::from_data(TensorData::new(xt, dims), &ad);
        let target: Tensor<4> = Tensor::from_data(
            TensorData::new(eps.iter().map(|&v| v as f32).collect::<Vec<_>>(), dims),
            &ad,
        );
        let tsf: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
        let out = self.model.forward(x, &tsf).narrow(1, 0, data.c);
        let loss = (out - target).powf_scalar(2.0).mean();
        let value: f32 = loss
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("scalar")[0];
        let grads = loss.backward();
        let lr = tc.lr_at(step);
        let model = std::mem::replace(&mut self.model, placeholder(&self.config));
        self.model = self.opt.update(model, &grads, lr);
        let params = parameters(&self.model);
        self.finish_step(&params, tc, value)
    }

    fn cpu(device: &Device) -> bool {
        *device == Device::flex()
    }

    /// Whether the native engine can run this state (the model lives on the CPU).
    pub fn native_capable(&self) -> bool {
        self.model.out_conv.weight.val().device() == Device::flex().autodiff()
    }

    /// The same step on the native engine: forward keeping the training tape, the
    /// gradient of the mean squared error `2 (out − eps) / N` on the ε channels, every
    /// parameter's gradient by the hand-written backward, then AdamW on plain vectors.
    fn native_step(
        &mut self,
        xt: &[f32],
        eps: &[f64],
        ts: &[usize],
        data: &ImageSet,
        tc: &TrainConfig,
    ) -> f32 {
        use vmlmap_models::native::{Act, Mode, NativeAdm, ParamGrads};
        let (b, c, h, w) = (ts.len(), data.c, data.h, data.w);
        let net = NativeAdm::from_burn(&self.model);
        let x: Vec<f64> = xt.iter().map(|&v| v as f64).collect();
        let tsf: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
        let (out, tape) = net.forward_mode(Act::from_nchw(&x, b, c, h, w), &tsf, Mode::Train);
        let n = (b * c * h * w) as f64;
        let resid: Vec<f64> = out.to_nchw(c).iter().zip(eps).map(|(o, e)| o - e).collect();
        let sse: f64 = resid.iter().map(|d| d * d).sum();
        let g = Act::from_nchw_scaled(&resid, b, c, h, w, out.c, |_| 2.0 / n);
        let mut pg = ParamGrads::default();
        net.backward_params(
            tape.expect("a training forward keeps its tape"),
            &g,
            Some(&mut pg),
        );
        let mut params = parameters(&self.model);
        let grads: Vec<&[f32]> = self
            .names
            .iter()
            .map(|(name, _)| {
                pg.map
                    .get(name)
                    .map(Vec::as_slice)
                    .expect("the native backward gives every parameter a gradient")
            })
            .collect();
        let step = self.opt.step;
        let lr = tc.lr_at(step);
        self.opt.update_flat(&mut params, &grads, lr);
        let model = std::mem::replace(&mut self.model, placeholder(&self.config));
        self.model = crate::adamw::set_parameters(model, &params);
        self.finish_step(&params, tc, (sse / n) as f32)
    }

    /// EMA with warm-up (decay `min(ema_decay, (1 + n) / (10 + n))`, so that early
    /// averages are not dominated by the random initialisation) and the loss record.
    fn finish_step(&mut self, params: &[Vec<f32>], tc: &TrainConfig, value: f32) -> f32 {
        let n = self.opt.step as f64;
        let d = tc.ema_decay.min((1.0 + n) / (10.0 + n)) as f32;
        use rayon::prelude::*;
        self.ema
            .par_iter_mut()
            .zip(params.par_iter())
            .for_each(|(e, p)| {
                for (a, b) in e.iter_mut().zip(p) {
                    *a = d * *a + (1.0 - d) * b;
                }
            });
        self.losses.push((self.opt.step, value));
        value
    }
}

/// A throwaway network used while the real one is moved through the optimiser.
fn placeholder(cfg: &AdmConfig) -> UNetModel {
    let mut src = vmlmap_models::weights::ShapesOnly;
    let mut b = Builder::new(&mut src, Device::flex(), burn::tensor::DType::F32);
    b.dry_run = true;
    UNetModel::new(cfg, &mut b).expect("validated configuration")
}

fn rand_index(rng: &mut vmlmap_core::rng::Rng, n: usize) -> usize {
    use rand::Rng as _;
    rng.random_range(0..n)
}

fn read_metadata(path: &Path) -> Result<HashMap<String, String>, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| ck_err(path, e))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| ck_err(path, e))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

fn write_safetensors(
    path: &Path,
    tensors: &[(String, RawTensor)],
    meta: Option<HashMap<String, String>>,
    force: bool,
) -> Result<(), TrainError> {
    vmlmap_models::checkpoint::write_safetensors(path, tensors, meta, force)
        .map_err(|e| ck_err(path, e))
}
