//! `vmlmap train`: train a guided-diffusion UNet prior with the DDPM objective; resumes from
//! its checkpoint; exports the EMA weights.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::process::ExitCode;
use vmlmap_models::adm::AdmConfig;
use vmlmap_train::data::{fashion_mnist, image_folder, ImageSet, FASHION_MNIST_DIR};
use vmlmap_train::lr::LrDecay;
use vmlmap_train::trainer::{TrainConfig, TrainState};

#[derive(clap::Args)]
pub struct Args {
    /// Training images: a folder with Fashion-MNIST IDX files, or a folder of PNG/JPEG images.
    #[arg(long, default_value = FASHION_MNIST_DIR)]
    data: String,
    /// Architecture: a preset (default adm-fashion32) or a JSON file of UNetModel arguments.
    #[arg(long, default_value = "adm-fashion32")]
    arch: String,
    /// Train until this many steps in total (a resumed run continues to it).
    #[arg(long, allow_negative_numbers = true, default_value_t = 20_000)]
    steps: u64,
    /// Images per step.
    #[arg(long, allow_negative_numbers = true, default_value_t = 64)]
    batch: usize,
    /// AdamW peak learning rate (after the warm-up).
    #[arg(long, allow_negative_numbers = true, default_value_t = 2e-4)]
    lr: f64,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 200)]
    warmup: u64,
    /// After the warm-up: `cosine` (a half-cosine from --lr down to --lr-final at --steps)
    /// or `constant` (--lr to the end). The cosine follows --steps, so resume with the same
    /// --steps to keep the schedule.
    #[arg(long, default_value = "cosine", value_parser = ["cosine", "constant"])]
    lr_decay: String,
    /// The cosine's final learning rate (default: --lr / 10).
    #[arg(long, allow_negative_numbers = true)]
    lr_final: Option<f64>,
    /// Decay of the exponential moving average of the weights (the exported weights).
    #[arg(long, default_value_t = 0.999)]
    ema: f64,
    /// Seed of the initial weights, the batches and the noise.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u64,
    /// Resumable checkpoint (model, EMA, AdamW state), resumed from when it exists.
    #[arg(long, default_value = "train_state.safetensors")]
    checkpoint: String,
    /// Steps between checkpoint saves (also saved on Ctrl-C and at the end).
    #[arg(long, default_value_t = 100)]
    save_every: u64,
    /// Held-out denoising loss of the EMA weights every this many steps (0: never), on
    /// the first --eval-images test images (Fashion-MNIST's t10k beside the training
    /// set, or --eval-data), printed and kept in the checkpoint.
    #[arg(long, default_value_t = 1000)]
    eval_every: u64,
    /// Test images of the held-out loss during training (`vmlmap models eval` does all).
    #[arg(long, default_value_t = 500)]
    eval_images: usize,
    /// Held-out images when --data is a folder of images.
    #[arg(long)]
    eval_data: Option<String>,
    /// Write the EMA weights here at the end (and NAME.json beside).
    #[arg(long)]
    export: Option<String>,
    /// Overwrite an existing export.
    #[arg(long)]
    force: bool,
    /// Another model's held-out loss on the same images, as `vmlmap models eval MODEL
    /// --images N --json` writes it (N = --eval-images): the export's held-out figure gets
    /// a second panel, the ratio of each noise level's MSE to this model's.
    #[arg(long, value_name = "JSON")]
    held_out_reference: Option<String>,
    /// What the figure calls the reference model.
    #[arg(long, default_value = "reference model")]
    held_out_reference_name: String,
}

/// Reads a `vmlmap models eval --json` file; warns when it covers a different number of
/// images than the held-out loss of the run.
fn read_reference(
    path: &str,
    name: &str,
    eval_images: usize,
) -> anyhow::Result<vmlmap_train::plot::HeldOutReference> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the held-out reference {path}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!("{path}: not JSON (expected the output of `vmlmap models eval --json`)")
    })?;
    let entries = v["mse"].as_array().ok_or_else(|| {
        anyhow::anyhow!("{path}: no \"mse\" list (expected `vmlmap models eval --json` output)")
    })?;
    let mut mse = Vec::new();
    for (k, e) in entries.iter().enumerate() {
        match (e["sigma"].as_f64(), e["mse"].as_f64()) {
            (Some(s), Some(m)) if s > 0.0 && m > 0.0 && m.is_finite() => mse.push((s, m)),
            _ => anyhow::bail!(
                "{path}: mse[{k}] is not a {{\"sigma\", \"mse\"}} pair of positive numbers"
            ),
        }
    }
    if mse.is_empty() {
        anyhow::bail!("{path}: the \"mse\" list is empty");
    }
    if let Some(n) = v["images"].as_u64() {
        if n as usize != eval_images {
            eprintln!(
                "note: {path} measured {n} images, the run's held-out loss {eval_images}: the ratio compares different image sets"
            );
        }
    }
    Ok(vmlmap_train::plot::HeldOutReference {
        name: name.to_string(),
        mse,
    })
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let tc = TrainConfig {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        warmup: a.warmup,
        decay: LrDecay::parse(&a.lr_decay, a.lr_final.unwrap_or(a.lr / 10.0))
            .expect("clap admits only the names LrDecay::parse knows"),
        ema_decay: a.ema,
        seed: a.seed,
        save_every: a.save_every,
    };
    tc.check()?;
    let reference = match &a.held_out_reference {
        Some(p) => Some(read_reference(
            p,
            &a.held_out_reference_name,
            a.eval_images,
        )?),
        None => None,
    };
    // Refuse an export that would overwrite files before spending hours training.
    if let Some(out) = &a.export {
        vmlmap_train::trainer::check_export_free(Path::new(out), a.force)?;
    }
    let arch = if Path::new(&a.arch).is_file() {
        vmlmap_models::adm::load::read_config(Path::new(&a.arch))?
    } else {
        AdmConfig::preset(&a.arch)?
    };
    let (data, idx) = training_images(&a, &arch)?;
    let (eval_every, eval_images) = (a.eval_every, a.eval_images);
    let held_out = held_out_set(&a, idx, &arch)?;
    // Ctrl-C or SIGTERM: finish the step under way, save, and stop (resumable).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::SeqCst))
            .context("installing the interrupt handler")?;
    }
    let ckpt = Path::new(&a.checkpoint);
    let mut state = open_state(ckpt, &arch, &tc, data.len())?;
    let table = vmlmap_core::schedule::VpTable::ddpm_linear();
    let bar = ProgressBar::new(tc.steps);
    bar.set_style(
        ProgressStyle::with_template(
            "train {bar:30} {pos}/{len} steps  loss {msg}  {elapsed} eta {eta}",
        )
        .expect("valid template"),
    );
    bar.set_position(state.opt.step);
    let mut avg = None::<f32>;
    // Not a terminal (a background job writing a log): one line every 10 steps instead.
    let log_lines = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    let first = state.opt.step;
    while state.opt.step < tc.steps {
        let loss = state.step(&data, &tc, &table);
        if !loss.is_finite() {
            anyhow::bail!("loss became {loss} at step {}; lower --lr", state.opt.step);
        }
        let a = avg.map_or(loss, |m| 0.98 * m + 0.02 * loss);
        avg = Some(a);
        bar.set_message(format!("{a:.4}"));
        bar.set_position(state.opt.step);
        if log_lines && state.opt.step % 10 == 0 {
            let rate = started.elapsed().as_secs_f64() / (state.opt.step - first) as f64;
            eprintln!(
                "step {}/{} loss {loss:.4} (avg {a:.4}) lr {:.2e} {rate:.2} s/step",
                state.opt.step,
                tc.steps,
                tc.lr_at(state.opt.step - 1)
            );
        }
        let stopping = stop.load(std::sync::atomic::Ordering::SeqCst);
        let eval_now =
            !stopping && (state.opt.step % eval_every.max(1) == 0 || state.opt.step == tc.steps);
        if let (Some((set, _)), true) = (&held_out, eval_now) {
            let den = state.ema_denoiser(&burn::tensor::Device::flex())?;
            let losses = vmlmap_train::eval::held_out_loss(
                &den,
                set,
                &vmlmap_train::eval::EVAL_SIGMAS,
                eval_images,
                32,
                |_, _| {},
            )?;
            bar.suspend(|| {
                eprintln!(
                    "step {}: held-out MSE ({} images) {}",
                    state.opt.step,
                    eval_images.min(set.len()),
                    super::held_out::line(&losses)
                )
            });
            state.held_out.push((state.opt.step, losses));
        }
        if stopping || eval_now || state.opt.step % tc.save_every == 0 || state.opt.step == tc.steps
        {
            state.save(ckpt)?;
        }
        if stopping {
            bar.abandon();
            eprintln!(
                "interrupted at step {}; checkpoint saved to {}; run the same command to resume",
                state.opt.step,
                ckpt.display()
            );
            return Ok(ExitCode::from(130));
        }
    }
    bar.finish();
    if let Some(out) = &a.export {
        state.export_ema(Path::new(out), a.force, reference.as_ref())?;
        eprintln!("EMA weights -> {out}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The training images (a Fashion-MNIST idx folder or an image folder), checked against
/// the architecture; and whether they came from an idx folder.
fn training_images(a: &Args, arch: &AdmConfig) -> anyhow::Result<(ImageSet, bool)> {
    let dir = Path::new(&a.data);
    let idx = dir.join("train-images-idx3-ubyte.gz").is_file()
        || dir.join("train-images-idx3-ubyte").is_file();
    let data = if idx {
        fashion_mnist(dir, "train")?
    } else {
        image_folder(dir, arch.in_channels == 1)?
    };
    if (data.c, data.h, data.w) != (arch.in_channels, arch.image_size, arch.image_size) {
        anyhow::bail!(
            "training images are {}x{}x{}, the architecture expects {}x{}x{}",
            data.c,
            data.h,
            data.w,
            arch.in_channels,
            arch.image_size,
            arch.image_size
        );
    }
    Ok((data, idx))
}

/// The held-out images the loss is measured on during training, if any.
fn held_out_set(
    a: &Args,
    idx: bool,
    arch: &AdmConfig,
) -> anyhow::Result<Option<(ImageSet, String)>> {
    Ok(if a.eval_every == 0 || a.eval_images == 0 {
        None
    } else if idx || a.eval_data.is_some() {
        let d = a.eval_data.clone().unwrap_or_else(|| a.data.clone());
        Some(super::held_out::held_out_images(
            Path::new(&d),
            arch.in_channels == 1,
        )?)
    } else {
        eprintln!("note: no held-out loss during training (pass --eval-data DIR)");
        None
    })
}

/// The training state: resumed from the checkpoint when it exists, else fresh; says which.
fn open_state(
    ckpt: &Path,
    arch: &AdmConfig,
    tc: &TrainConfig,
    images: usize,
) -> anyhow::Result<TrainState> {
    let resuming = ckpt.exists();
    let mut state = TrainState::load_or_init(
        ckpt,
        arch,
        tc,
        &burn::tensor::Device::flex(),
        vmlmap_models::registry::Engine::from_env()?,
    )?;
    let params: usize = state
        .names
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    let start = if resuming {
        format!(
            "resuming from {} at step {}",
            ckpt.display(),
            state.opt.step
        )
    } else {
        format!("a fresh start, checkpoint {}", ckpt.display())
    };
    eprintln!("{images} images; {params} parameters; {start}");
    if resuming && state.recipe != tc.recipe() {
        eprintln!(
            "note: the checkpoint was trained with: {}\n      continuing with:           {}",
            if state.recipe.is_empty() {
                "(not recorded)"
            } else {
                &state.recipe
            },
            tc.recipe()
        );
    }
    state.recipe = tc.recipe();
    Ok(state)
}
