//! `vmlmap`: image restoration with diffusion priors by VML-MAP (Gutha, Vinuesa, Azizpour,
//! arXiv 2512.10524) and its baselines. Thin: parses arguments and hands each command to
//! its module under `commands/`.

mod assets;
mod commands;
mod heap;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vmlmap", version, about = "Restore images with diffusion priors: VML-MAP and baselines", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job, offline: restore shipped test images with the embedded prior.
    Demo(commands::demo::Args),
    /// Check the solvers against exact answers on analytic priors, for every operator.
    Validate(commands::validate::Args),
    /// List the tasks (measurement operators), their options and defaults.
    Tasks(commands::tasks::Args),
    /// List the solvers, what each computes, and their options with defaults.
    Solvers(commands::solvers::Args),
    /// Inspect model checkpoints.
    Models(commands::models::Args),
    /// Apply a network prior's denoiser D(x, sigma) once.
    Denoise(commands::denoise::Args),
    /// Run solvers x tasks x noise levels x images x seeds into results, a report, plots
    /// and grids (resumable, shardable; `bench merge` joins shards).
    Bench(commands::bench::Args),
    /// Time one network evaluation and one evaluation plus VJP.
    BenchNfe(commands::bench_nfe::Args),
    /// Train a diffusion prior (resumable).
    Train(commands::train::Args),
    /// Apply a task's operator and noise to an image (measurement + .npy + JSON sidecar).
    Degrade(commands::degrade::Args),
    /// Restore an image from a measurement written by `degrade`.
    Restore(commands::restore::Args),
    /// Unconditional samples of a prior, as a PNG grid.
    Sample(commands::sample::Args),
    /// Perceptual metrics: fetch their weights, calibrate, LPIPS of two images.
    Metrics(commands::metrics::Args),
}

fn main() -> std::process::ExitCode {
    heap::keep_freed_memory();
    // The environment is read here, at the edge: the library takes it as a setting.
    if let Ok(v) = std::env::var("VMLMAP_SIMD") {
        if let Err(e) = vmlmap_models::native::choose_simd(&v) {
            eprintln!("error: VMLMAP_SIMD={v}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => commands::demo::run(a),
        Command::Validate(a) => commands::validate::run(a),
        Command::Tasks(a) => commands::tasks::run(a),
        Command::Solvers(a) => commands::solvers::run(a),
        Command::Models(a) => commands::models::run(a),
        Command::Denoise(a) => commands::denoise::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::BenchNfe(a) => commands::bench_nfe::run(a),
        Command::Train(a) => commands::train::run(a),
        Command::Degrade(a) => commands::degrade::run(a),
        Command::Restore(a) => commands::restore::run(a),
        Command::Sample(a) => commands::sample::run(a),
        Command::Metrics(a) => commands::metrics::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
