//! `vmlmap solvers`: every solver with what it computes and its `--solver-opt` options,
//! their kinds, defaults and documentation, all read from the solvers' declarations
//! (`vmlmap_solvers::registry`), so the list cannot drift from what `restore` accepts.

use std::process::ExitCode;
use vmlmap_solvers::SOLVERS;

#[derive(clap::Args)]
pub struct Args {
    /// Only this solver.
    solver: Option<String>,
    /// One JSON object per solver.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let chosen: Vec<_> = match &a.solver {
        Some(name) => vec![vmlmap_solvers::registry::declaration(name)?],
        None => SOLVERS.to_vec(),
    };
    for d in chosen {
        let options = d.options();
        if a.json {
            let opts: serde_json::Map<String, serde_json::Value> = options
                .iter()
                .map(|o| {
                    let v = serde_json::json!({"kind": o.kind, "default": o.default, "doc": o.doc});
                    (o.key.clone(), v)
                })
                .collect();
            let line = serde_json::json!({
                "name": d.name,
                "summary": d.summary,
                "computes": d.computes.describe(),
                "uses_prior": d.uses_prior,
                "options": opts,
            });
            println!("{line}");
            continue;
        }
        println!("{}  ({})", d.name, d.computes.describe());
        println!("    {}", d.summary);
        if !d.uses_prior {
            println!("    no network: needs no model");
        }
        for o in &options {
            println!(
                "    {:<16} {:<14} default {:<10} {}",
                o.key, o.kind, o.default, o.doc
            );
        }
        println!();
    }
    if !a.json {
        println!("options go as --solver-opt key=value (restore), SOLVER:key=value (bench, demo), or keywords (Python)");
    }
    Ok(ExitCode::SUCCESS)
}
