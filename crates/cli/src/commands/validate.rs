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
    /// Print the solvers x operators summary as Markdown tables (the README's).
    #[arg(long, conflicts_with = "json")]
    markdown: bool,
    /// Fewer tasks, runs and iterations (about a tenth of the time).
    #[arg(long)]
    quick: bool,
    /// Only these tasks (repeatable; default: every task that needs no file).
    #[arg(long = "task")]
    tasks: Vec<String>,
    /// Only these checks: per-step, end-to-end, mode, baselines (repeatable).
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
    let mut o = if a.quick {
        ValidateOptions::quick()
    } else {
        ValidateOptions::default()
    };
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
            if !["per-step", "end-to-end", "mode", "baselines"].contains(&c.as_str()) {
                bail!("unknown check {c:?}; known checks: per-step, end-to-end, mode, baselines");
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
        None if r.check == "baselines" => r.runs.map(|k| format!("x{k} runs")).unwrap_or_default(),
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
    } else if a.markdown {
        print!("{}", markdown(&records));
    } else {
        println!(
            "{:<10} {:<13} {:<14} {:<22} {:<7} {:<16} {:>9} {:>9} {:>7} {:>7} {:>6} {:>8} {:<4} note",
            "check", "solver", "prior", "operator", "sigma_y", "setting", "rel_err", "residual", "iters", "nfe", "vjp", "seconds", "pass"
        );
        for r in &records {
            println!("{}", table_row(r));
        }
    }
    let behind: Vec<String> = records
        .iter()
        .filter(|r| r.beats_pinv == Some(false))
        .map(|r| format!("{} ({}, {})", r.solver, r.prior, r.operator))
        .collect();
    let compared = records.iter().filter(|r| r.beats_pinv.is_some()).count();
    if compared > 0 {
        eprintln!(
            "baselines on noisy measurements: {} of {compared} closer to their target than pinv; not: {}",
            compared - behind.len(),
            if behind.is_empty() { "none".to_string() } else { behind.join(", ") }
        );
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

/// The solvers x operators summary: per prior, one row per operator and noise level; VML-MAP
/// at its largest N and `pinv` give their relative error to the exact MAP, the samplers
/// their bias (`~0`: below what 64 runs resolve), `tikhonov` its distance to the MAP of its
/// own prior `N(0, 0.25 I)`, `red-diff` its distance to the MAP. A `*` marks a noisy case
/// where the solver is not closer to its target than `pinv`; `n/a` a solver that cannot
/// take the operator; `FAIL` a failed check.
pub fn markdown(records: &[Record]) -> String {
    use std::fmt::Write as _;
    let mut priors: Vec<&str> = Vec::new();
    let mut rows: Vec<(String, f64)> = Vec::new();
    let mut solvers: Vec<&str> = Vec::new();
    for r in records {
        if r.check != "baselines" && r.check != "end-to-end" {
            continue;
        }
        if !priors.contains(&r.prior.as_str()) {
            priors.push(&r.prior);
        }
        if !rows
            .iter()
            .any(|(o, s)| *o == r.operator && *s == r.sigma_y)
        {
            rows.push((r.operator.clone(), r.sigma_y));
        }
        if !solvers.contains(&r.solver.as_str()) {
            solvers.push(&r.solver);
        }
    }
    let max_n = records
        .iter()
        .filter(|r| r.check == "end-to-end" && r.solver == "vml-map")
        .map(|r| r.steps)
        .max();
    let mut out = summary(records);
    for prior in &priors {
        let _ = writeln!(out, "\nPrior `{prior}`:\n");
        let _ = writeln!(out, "| operator | sigma_y | {} |", solvers.join(" | "));
        let _ = writeln!(out, "|---|---|{}", "---|".repeat(solvers.len()));
        for (op, sy) in &rows {
            let cells: Vec<String> = solvers
                .iter()
                .map(|s| {
                    let r = records.iter().find(|r| {
                        r.prior == *prior
                            && r.operator == *op
                            && r.sigma_y == *sy
                            && r.solver == *s
                            && (r.check == "baselines"
                                || (r.check == "end-to-end"
                                    && (r.solver == "pinv" || Some(r.steps) == max_n)))
                    });
                    match r {
                        None => "".into(),
                        Some(r) if !r.pass => "FAIL".into(),
                        Some(r) if r.note.starts_with("not applicable") => "n/a".into(),
                        Some(r) => {
                            let v = r.bias.unwrap_or(r.rel_err_to_map);
                            let star = if r.beats_pinv == Some(false) { "*" } else { "" };
                            if r.bias == Some(0.0) {
                                format!("~0{star}")
                            } else {
                                format!("{v:.1e}{star}")
                            }
                        }
                    }
                })
                .collect();
            let _ = writeln!(out, "| {op} | {sy:e} | {} |", cells.join(" | "));
        }
    }
    out
}

/// The per-check summary table, every number computed from `records`.
fn summary(records: &[Record]) -> String {
    use std::fmt::Write as _;
    let pick = |check: &str, solver: &str| -> Vec<&Record> {
        records
            .iter()
            .filter(|r| r.check == check && r.solver == solver)
            .collect()
    };
    let max = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    let mut out = String::from("| check | cases | passed | measured |\n|---|---|---|---|\n");
    let mut row = |check: &str, rs: &[&Record], measured: String| {
        if rs.is_empty() {
            return;
        }
        let passed = rs.iter().filter(|r| r.pass).count();
        let _ = writeln!(out, "| {check} | {} | {passed} | {measured} |", rs.len());
    };
    let pre = pick("per-step", "vml-map");
    let iters: Vec<usize> = pre.iter().map(|r| r.inner).collect();
    row(
        "`per-step` (preconditioned)",
        &pre,
        format!(
            "max rel. error to the MAP {:.1e}, in {} to {} iterations",
            max(&pre.iter().map(|r| r.rel_err_to_map).collect::<Vec<_>>()),
            iters.iter().min().unwrap_or(&0),
            iters.iter().max().unwrap_or(&0)
        ),
    );
    let plain = pick("per-step", "vml-map-plain");
    let unconverged = plain.iter().filter(|r| r.converged != Some(true)).count();
    row(
        "`per-step` (plain, step 1/L)",
        &plain,
        format!("{unconverged} did not converge within their cap"),
    );
    let e2e = pick("end-to-end", "vml-map");
    let mut ns: Vec<usize> = e2e.iter().map(|r| r.steps).collect();
    ns.sort();
    ns.dedup();
    let by_n: Vec<String> = ns
        .iter()
        .map(|n| {
            let v: Vec<f64> = e2e
                .iter()
                .filter(|r| r.steps == *n)
                .map(|r| r.rel_err_to_map)
                .collect();
            format!("N={n} {:.1e}", max(&v))
        })
        .collect();
    row(
        "`end-to-end`",
        &e2e,
        format!("max rel. error to the MAP: {}", by_n.join(", ")),
    );
    let modes = pick("mode", "vml-map");
    row(
        "`mode`",
        &modes,
        format!(
            "worst distance to a posterior mode {:.1e}",
            max(&modes.iter().map(|r| r.rel_err_to_map).collect::<Vec<_>>())
        ),
    );
    let base: Vec<&Record> = records.iter().filter(|r| r.check == "baselines").collect();
    let compared: Vec<&&Record> = base.iter().filter(|r| r.beats_pinv.is_some()).collect();
    let better = compared
        .iter()
        .filter(|r| r.beats_pinv == Some(true))
        .count();
    let tik = max(&base
        .iter()
        .filter(|r| r.solver == "tikhonov")
        .map(|r| r.rel_err_to_map)
        .collect::<Vec<_>>());
    row(
        "`baselines`",
        &base,
        format!(
            "tikhonov to its closed form: max {tik:.1e}; noisy cases closer to their target than pinv: {better} of {}",
            compared.len()
        ),
    );
    out
}
