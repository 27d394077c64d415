//! `vmlmap bench-nfe`: the cost of one network evaluation (forward) and of one forward plus
//! input VJP, medians over runs after a warm-up, and peak memory; with `--train-step`, the
//! cost of one DDPM training step (forward, backward through the weights, AdamW, EMA) of a
//! guided-diffusion preset on random images. The forward and VJP are timed through the
//! `Denoiser` interface the solvers use (f64 in and out), on the engine `--engine` names.
//! `tools/bench_side_by_side.py` runs it beside PyTorch (`tools/bench_pytorch.py`) and
//! writes the table of docs/performance.md.

use std::process::ExitCode;
use std::time::Instant;
use vmlmap_core::Denoiser;
use vmlmap_models::native::Simd;
use vmlmap_models::registry::Engine;
use vmlmap_models::{DeviceSpec, Precision};

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint file, diffusers folder, or preset name (random weights).
    #[arg(long)]
    model: String,
    /// Image side (guided-diffusion models; default: the model's).
    #[arg(long)]
    size: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Timed runs after one warm-up.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// One JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// cpu, cuda, cuda:N, wgpu or wgpu:N (cuda and wgpu need a build with `--features cuda`
    /// or `--features wgpu`; networks there run on burn, the rest on the CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Time one training step (batch --batch, AdamW, EMA) of a guided-diffusion preset
    /// (`default` means `adm-fashion32`) instead of the forward and VJP.
    #[arg(long)]
    train_step: bool,
    /// `native` (the CPU kernels) or `burn` (burn's tensor ops and autodiff); default
    /// `VMLMAP_ENGINE`, else native.
    #[arg(long)]
    engine: Option<String>,
}

use vmlmap_bench::harness::peak_rss_mb;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.batch == 0 || a.runs == 0 {
        anyhow::bail!("--batch and --runs must be at least 1");
    }
    let device = a.device.parse::<DeviceSpec>()?.device()?;
    if a.train_step {
        return train_step(&a, &device);
    }
    let engine = match &a.engine {
        Some(e) => e.parse::<Engine>()?,
        None => Engine::from_env()?,
    };
    let (den, info) = vmlmap_models::registry::load_denoiser_on(
        &a.model,
        &device,
        Precision::F32,
        a.size,
        engine,
    )?;
    let s = den.shape();
    if let Some(size) = a.size {
        if size != s.h {
            anyhow::bail!(
                "--size {size}: model {} runs at {}x{} only (its image size is fixed); drop --size or use a preset",
                a.model,
                s.h,
                s.w
            );
        }
    }
    let x: Vec<f64> =
        vmlmap_core::rng::normal_vec(&mut vmlmap_core::rng::seeded(0), a.batch * s.numel());
    let sigmas = vec![1.0; a.batch];
    let forward = || -> anyhow::Result<f64> {
        let t = Instant::now();
        let out = den.denoise_batch(&x, &sigmas)?;
        std::hint::black_box(out);
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    let vjp = || -> anyhow::Result<f64> {
        let t = Instant::now();
        let g = den.linearize_batch(&x, &sigmas)?.vjp(&x)?;
        std::hint::black_box(g);
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    forward()?;
    let f = (0..a.runs)
        .map(|_| forward())
        .collect::<anyhow::Result<Vec<f64>>>()?;
    vjp()?;
    let b = (0..a.runs)
        .map(|_| vjp())
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let engine = match den.engine() {
        Engine::Native => match vmlmap_models::native::simd() {
            Simd::Avx512 => "native (AVX-512 kernels)",
            Simd::Avx2 => "native (AVX2+FMA kernels)",
            Simd::Portable => "native (portable kernels)",
        },
        Engine::Burn => "burn",
    };
    let (fm, bm) = (median(f), median(b));
    let rss = peak_rss_mb().unwrap_or(f64::NAN);
    let threads = rayon::current_num_threads();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"engine": engine, "kernels": vmlmap_models::native::simd().name(), "forward_ms_median": fm, "vjp_ms_median": bm, "peak_rss_mb": rss, "threads": threads, "size": s.h, "batch": a.batch, "model": info.preset.as_deref().unwrap_or(&info.source), "parameters": info.parameters, "runs": a.runs})
        );
    } else {
        println!(
            "model {} ({} parameters), {}x{}x{} batch {}, {} threads, {} runs after a warm-up, engine {engine}",
            info.preset.as_deref().unwrap_or(&info.source),
            info.parameters,
            s.c,
            s.h,
            s.w,
            a.batch,
            threads,
            a.runs
        );
        println!("forward         median {fm:9.1} ms");
        println!("forward + VJP   median {bm:9.1} ms");
        println!("peak RSS        {rss:9.0} MB");
    }
    Ok(ExitCode::SUCCESS)
}

/// The median time of one training step of a guided-diffusion preset (on the engine
/// `--engine` names), printed like the forward and VJP medians.
fn train_step(a: &Args, device: &burn::tensor::Device) -> anyhow::Result<ExitCode> {
    use vmlmap_models::adm::AdmConfig;
    use vmlmap_train::data::ImageSet;
    use vmlmap_train::trainer::{TrainConfig, TrainState};
    let preset = if a.model == "default" {
        "adm-fashion32"
    } else {
        a.model.as_str()
    };
    let mut cfg = AdmConfig::preset(preset)?;
    if let Some(s) = a.size {
        cfg.image_size = s;
    }
    let shape = cfg.image_shape();
    let tc = TrainConfig {
        steps: u64::MAX,
        batch: a.batch,
        lr: 1e-4,
        warmup: 1,
        decay: vmlmap_train::lr::LrDecay::Constant,
        ema_decay: 0.9999,
        seed: 0,
        save_every: u64::MAX,
    };
    tc.check()?;
    let fresh = std::env::temp_dir().join(format!(
        "vmlmap-bench-no-checkpoint-{}.safetensors",
        std::process::id()
    ));
    let mut state = TrainState::load_or_init(&fresh, &cfg, &tc, device, Engine::from_env()?)?;
    if let Some(e) = &a.engine {
        state.native = e.parse::<Engine>()? == Engine::Native && state.native_capable();
    }
    let engine = if state.native { "native" } else { "burn" };
    let images = 64.max(a.batch);
    let data = ImageSet {
        c: shape.c,
        h: shape.h,
        w: shape.w,
        data: vmlmap_core::rng::normal_vec(
            &mut vmlmap_core::rng::seeded(1),
            images * shape.numel(),
        )
        .into_iter()
        .map(|v| (0.5 * v).tanh() as f32)
        .collect(),
    };
    let table = vmlmap_core::schedule::VpTable::ddpm_linear();
    let mut step = || {
        let t = Instant::now();
        state.step(&data, &tc, &table);
        t.elapsed().as_secs_f64() * 1e3
    };
    step();
    let m = median((0..a.runs).map(|_| step()).collect());
    let rss = peak_rss_mb().unwrap_or(f64::NAN);
    let threads = rayon::current_num_threads();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"engine": engine, "kernels": vmlmap_models::native::simd().name(), "train_step_ms_median": m, "peak_rss_mb": rss, "threads": threads, "size": shape.h, "batch": a.batch, "model": preset, "runs": a.runs})
        );
    } else {
        println!(
            "model {preset}, {shape} batch {}, {threads} threads, {} runs after a warm-up, engine {engine}",
            a.batch, a.runs
        );
        println!("training step   median {m:9.1} ms");
        println!("peak RSS        {rss:9.0} MB");
    }
    Ok(ExitCode::SUCCESS)
}
