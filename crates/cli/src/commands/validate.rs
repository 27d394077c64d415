//! `vmlmap validate`: the solvers against exact answers (see `vmlmap_bench::validate`).

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
use vmlmap_bench::{run_validation, Record, ValidateOptions};
use vmlmap_core::NoiseConvention;

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Fewer tasks, runs and iterations (about a tenth of the time).
    #[arg(long)]
    quick: bool,
    /// Only these tasks (repeatable; default: every task that needs no file).
    #[arg(long = "task")]
    tasks: Vec<String>,
    /// Only these checks: per-step, end-to-end, mode (repeatable).
    #[arg(long = "check")]
    checks: Vec<String>,
    /// Measurement noise levels (repeatable; default 1e-9 and 0.05).
    #[arg(long = "sigma-y", allow_negative_numbers = true)]
    sigma_ys: Vec<f64>,
    /// Unit of --sigma-y: minus-one-one (images in [-1, 1], default) or zero-one (doubled).
    #[arg(long, default_value = "minus-one-one")]
    noise_convention: String,
}

fn options(a: &Args) -> anyhow::Result<ValidateOptions> {
    let mut o = ValidateOptions::default();
    if a.quick {
        o.tasks = [
            "inpaint-box",
            "inpaint-random",
            "sr4",
            "deblur-gaussian",
            "deblur-motion",
            "cs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        o.steps = vec![20, 100, 1000];
        o.plain_cap = 2_000;
        o.mode_runs = 4;
    }
    if !a.tasks.is_empty() {
        for t in &a.tasks {
            if !vmlmap_operators::TASK_NAMES.contains(&t.as_str()) {
                bail!(
                    "unknown task {t:?}; known tasks: {}",
                    vmlmap_operators::TASK_NAMES.join(", ")
                );
            }
            if t == "inpaint-mask" {
                bail!("inpaint-mask needs a mask file and is not part of validate");
            }
        }
        o.tasks = a.tasks.clone();
    }
    if !a.checks.is_empty() {
        for c in &a.checks {
            if !["per-step", "end-to-end", "mode"].contains(&c.as_str()) {
                bail!("unknown check {c:?}; known checks: per-step, end-to-end, mode");
            }
        }
        o.checks = a.checks.clone();
    }
    let conv: NoiseConvention = a.noise_convention.parse().context("--noise-convention")?;
    if !a.sigma_ys.is_empty() {
        o.sigma_ys = a.sigma_ys.iter().map(|s| conv.to_internal(*s)).collect();
        if let Some(s) = o.sigma_ys.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            bail!("invalid --sigma-y {s}: must be positive and finite (use 1e-9 for noise-free)");
        }
    }
    Ok(o)
}

fn table_row(r: &Record) -> String {
    let setting = match r.sigma {
        Some(s) => format!("sigma={s}"),
        None if r.check == "end-to-end" && r.solver != "pinv" => {
            format!("N={} K={}", r.steps, r.inner)
        }
        None if r.check == "mode" => {
            format!("N={} K={} x{}", r.steps, r.inner, r.runs.unwrap_or(0))
        }
        None => String::new(),
    };
    let iters = if r.check == "per-step" {
        format!(
            "{}{}",
            r.inner,
            if r.converged == Some(true) { "" } else { "+" }
        )
    } else {
        String::new()
    };
    format!(
        "{:<10} {:<13} {:<14} {:<22} {:<7.0e} {:<16} {:>9.2e} {:>9.2e} {:>7} {:>7} {:>6} {:>8.3} {:<4} {}",
        r.check,
        r.solver,
        r.prior,
        r.operator,
        r.sigma_y,
        setting,
        r.rel_err_to_map,
        r.measurement_residual,
        iters,
        r.nfe,
        r.vjp,
        r.seconds,
        if r.pass { "ok" } else { "FAIL" },
        r.note
    )
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let o = options(&a)?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("validate {bar:30} {pos}/{len} problems {elapsed}")
            .expect("valid template"),
    );
    let records = run_validation(&o, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    if a.json {
        for r in &records {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        println!(
            "{:<10} {:<13} {:<14} {:<22} {:<7} {:<16} {:>9} {:>9} {:>7} {:>7} {:>6} {:>8} {:<4} note",
            "check", "solver", "prior", "operator", "sigma_y", "setting", "rel_err", "residual", "iters", "nfe", "vjp", "seconds", "pass"
        );
        for r in &records {
            println!("{}", table_row(r));
        }
    }
    let failed = records.iter().filter(|r| !r.pass).count();
    eprintln!(
        "{} checks, {} passed, {} failed",
        records.len(),
        records.len() - failed,
        failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
