//! `vmlmap tasks`: the measurement operators and their `--task-opt` options.

use std::process::ExitCode;
use vmlmap_operators::task::{task_options, BlurDefaults};
use vmlmap_operators::TASK_NAMES;

#[derive(clap::Args)]
pub struct Args {
    /// Image side used to show the size-dependent blur defaults.
    #[arg(long, default_value_t = 256)]
    side: usize,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let d = BlurDefaults::for_side(a.side);
    println!("tasks (options as --task-opt key=value):");
    for t in TASK_NAMES {
        println!("  {t}");
        for (k, desc) in task_options(t) {
            println!("      {k:<10} {desc}");
        }
    }
    println!(
        "\nblur defaults at side {}: gaussian {} taps, std {:.3}; uniform {}x{}; motion {}x{}",
        a.side,
        d.gaussian_size,
        d.gaussian_std,
        d.uniform_size,
        d.uniform_size,
        d.motion_size,
        d.motion_size
    );
    println!("noise: sigma_y in [-1, 1] image units; values stated for [0, 1] images are doubled (--noise-convention zero-one)");
    Ok(ExitCode::SUCCESS)
}
