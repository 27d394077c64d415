//! `vmlmap bench-nfe`: the cost of one network evaluation (forward) and of one forward plus
//! input VJP, medians over runs after a warm-up, and peak memory.

use burn::tensor::{Tensor, TensorData};
use std::process::ExitCode;
use std::time::Instant;
use vmlmap_models::autodiff_denoiser::TensorDenoiser;
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
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Peak resident memory of this process (MB), from /proc.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

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
    let (den, info) =
        vmlmap_models::registry::load_denoiser(&a.model, &device, Precision::F32, a.size)?;
    let net = den.network();
    let s = net.shape();
    let n = a.batch * s.numel();
    let x: Vec<f32> = vmlmap_core::rng::normal_vec(&mut vmlmap_core::rng::seeded(0), n)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let dims = [a.batch, s.c, s.h, s.w];
    let sigmas = vec![1.0; a.batch];
    let forward = || {
        let xt: Tensor<4> = Tensor::from_data(TensorData::new(x.clone(), dims), &device);
        let t = Instant::now();
        let out = net.forward(xt, &sigmas);
        let _ = out.into_data();
        t.elapsed().as_secs_f64() * 1e3
    };
    let ad = device.clone().autodiff();
    let vjp = || {
        let xt: Tensor<4> =
            Tensor::<4>::from_data(TensorData::new(x.clone(), dims), &ad).require_grad();
        let v: Tensor<4> = Tensor::from_data(TensorData::new(x.clone(), dims), &ad);
        let t = Instant::now();
        let out = net.forward(xt.clone(), &sigmas);
        let g = (out * v).sum().backward();
        let _ = xt.grad(&g).map(|g| g.into_data());
        t.elapsed().as_secs_f64() * 1e3
    };
    forward();
    let f: Vec<f64> = (0..a.runs).map(|_| forward()).collect();
    vjp();
    let b: Vec<f64> = (0..a.runs).map(|_| vjp()).collect();
    let (fm, bm) = (median(f), median(b));
    let rss = peak_rss_mb().unwrap_or(f64::NAN);
    let threads = rayon::current_num_threads();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"forward_ms_median": fm, "vjp_ms_median": bm, "peak_rss_mb": rss, "threads": threads, "size": s.h, "batch": a.batch, "model": info.preset.as_deref().unwrap_or(&info.source), "parameters": info.parameters, "runs": a.runs})
        );
    } else {
        println!(
            "model {} ({} parameters), {}x{}x{} batch {}, {} threads, {} runs after a warm-up",
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
