//! `vmlmap models inspect PATH`: what a checkpoint holds and which architecture it is;
//! `vmlmap models eval MODEL --data DIR`: its held-out denoising loss (the MSE of `D`
//! against clean test images at fixed noise levels, [`vmlmap_train::eval`]).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Architecture, preset, tensor and parameter counts, dtype of a checkpoint or folder.
    Inspect {
        /// A `.pt`/`.pth`/`.safetensors` file (guided-diffusion) or a diffusers folder.
        path: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Held-out denoising loss: MSE of D(x + sigma eps, sigma) against x at sigma 0.05,
    /// 0.2, 0.5, 1, 2, 5 over held-out images (the same noise for every model).
    Eval {
        /// A model: `default`, a checkpoint file or a diffusers folder.
        model: String,
        /// Held-out images: a Fashion-MNIST folder (its t10k test set) or a folder of images.
        #[arg(long, default_value = vmlmap_train::data::FASHION_MNIST_DIR)]
        data: String,
        /// Evaluate the first N images (default: all; Fashion-MNIST has 10,000).
        #[arg(long)]
        images: Option<usize>,
        /// Images per network evaluation.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn eval(
    model: &str,
    data: &str,
    images: Option<usize>,
    batch: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    let device = vmlmap_models::DeviceSpec::Cpu.device()?;
    let (den, info) = super::load_model(model, &device)?;
    let shape = vmlmap_core::Denoiser::shape(&den);
    let (set, source) = super::held_out::held_out_images(std::path::Path::new(data), shape.c == 1)?;
    let n = images.unwrap_or(set.len()).min(set.len());
    let mut progress = super::progress::Progress::new("eval", 0, "batches");
    let losses = vmlmap_train::eval::held_out_loss(
        &den,
        &set,
        &vmlmap_train::eval::EVAL_SIGMAS,
        n,
        batch,
        |d, t| progress.set(d as u64, t as u64, ""),
    )?;
    progress.finish();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "model": model, "preset": info.preset, "source": info.source, "data": source, "images": n,
                "mse": losses.iter().map(|(s, m)| serde_json::json!({"sigma": s, "mse": m})).collect::<Vec<_>>(),
            })
        );
    } else {
        println!("held-out denoising loss of {model} on {n} images ({source}):");
        println!("{:>8}  {:>12}  {:>9}", "sigma", "MSE", "PSNR (dB)");
        for (s, m) in &losses {
            // PSNR of D on [0, 1] images: the MSE on [-1, 1] is 4 times larger.
            println!("{s:>8}  {m:>12.4e}  {:>9.2}", 10.0 * (4.0 / m).log10());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.command {
        Sub::Eval {
            model,
            data,
            images,
            batch,
            json,
        } => eval(&model, &data, images, batch, json),
        Sub::Inspect { path, json } => {
            let info = vmlmap_models::registry::inspect(&path)?;
            if json {
                println!("{}", serde_json::to_string(&info)?);
            } else {
                println!("file:         {}", info.source);
                println!("format:       {}", info.format);
                println!("architecture: {}", info.architecture);
                println!(
                    "preset:       {}",
                    info.preset
                        .as_deref()
                        .unwrap_or("none (custom configuration)")
                );
                println!("tensors:      {}", info.tensors);
                println!("parameters:   {}", info.parameters);
                println!("dtype:        {}", info.dtypes.join(", "));
                println!(
                    "image:        {}x{}x{}{}",
                    info.image[0],
                    info.image[1],
                    info.image[2],
                    if info.learn_sigma {
                        " (learned sigma: 2C outputs)"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
