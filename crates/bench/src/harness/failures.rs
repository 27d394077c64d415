//! The report's "Failed runs" section: failed runs grouped by solver, task, noise level
//! and error, one line per group with how many runs, images and seeds it holds, so that a
//! solver that cannot take an operator (DDRM on a blur without an explicit SVD) reads as
//! one explained line rather than sixty. Every failed run is still in `results.jsonl`.

use super::record::RunRecord;
use std::collections::BTreeSet;
use std::fmt::Write;

/// One group of failed runs that share solver, task, noise level and error.
#[derive(Debug, PartialEq)]
pub struct FailureGroup {
    pub solver: String,
    pub task: String,
    pub sigma_y: f64,
    pub error: String,
    pub runs: usize,
    pub images: usize,
    pub seeds: usize,
}

/// The failed runs of `records`, grouped, in the order each group first appears.
pub fn group_failures(records: &[RunRecord]) -> Vec<FailureGroup> {
    // (group, images seen, seeds seen)
    let mut groups: Vec<(FailureGroup, BTreeSet<&str>, BTreeSet<u64>)> = Vec::new();
    for r in records.iter().filter(|r| !r.ok()) {
        let error = r.error.as_deref().unwrap_or("(no error recorded)");
        let at = groups.iter().position(|(g, _, _)| {
            g.solver == r.solver
                && g.task == r.task
                && g.sigma_y.to_bits() == r.sigma_y.to_bits()
                && g.error == error
        });
        let at = match at {
            Some(i) => i,
            None => {
                groups.push((
                    FailureGroup {
                        solver: r.solver.clone(),
                        task: r.task.clone(),
                        sigma_y: r.sigma_y,
                        error: error.to_string(),
                        runs: 0,
                        images: 0,
                        seeds: 0,
                    },
                    BTreeSet::new(),
                    BTreeSet::new(),
                ));
                groups.len() - 1
            }
        };
        let (g, images, seeds) = &mut groups[at];
        g.runs += 1;
        images.insert(r.image.as_str());
        seeds.insert(r.seed);
    }
    groups
        .into_iter()
        .map(|(mut g, images, seeds)| {
            g.images = images.len();
            g.seeds = seeds.len();
            g
        })
        .collect()
}

/// The markdown section, empty when no run failed.
pub fn failures_section(records: &[RunRecord]) -> String {
    let groups = group_failures(records);
    if groups.is_empty() {
        return String::new();
    }
    let total: usize = groups.iter().map(|g| g.runs).sum();
    let mut md = String::new();
    let _ = writeln!(md, "## Failed runs\n");
    let _ = writeln!(
        md,
        "{total} runs failed, in {} {} (solver, task, noise level, error); each run and its error is in `results.jsonl`.\n",
        groups.len(),
        if groups.len() == 1 { "group" } else { "groups" }
    );
    let _ = writeln!(
        md,
        "| solver | task | sigma_y | runs | images | seeds | error |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for g in &groups {
        let _ = writeln!(
            md,
            "| {} | {} | {:e} | {} | {} | {} | {} |",
            g.solver,
            g.task,
            g.sigma_y,
            g.runs,
            g.images,
            g.seeds,
            g.error.replace('|', "/")
        );
    }
    let _ = writeln!(md);
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::record::tests::record;

    fn failed(image: &str, solver: &str, sigma_y: f64, seed: u64, error: &str) -> RunRecord {
        let mut r = record(image, 0.0);
        r.solver = solver.into();
        r.sigma_y = sigma_y;
        r.seed = seed;
        r.status = "failed".into();
        r.psnr = None;
        r.ssim = None;
        r.error = Some(error.into());
        r
    }

    #[test]
    fn groups_by_solver_task_noise_and_error() {
        let mut records = vec![record("a", 20.0)];
        for image in ["a", "b"] {
            for seed in 0..3 {
                records.push(failed(image, "ddrm", 1e-9, seed, "no SVD"));
            }
        }
        records.push(failed("a", "ddrm", 0.05, 0, "no SVD"));
        records.push(failed("b", "ddnm", 0.05, 0, "no SVD | here"));
        records.push(failed("c", "ddrm", 1e-9, 0, "NaN at step 3"));
        let groups = group_failures(&records);
        let summary: Vec<_> = groups
            .iter()
            .map(|g| {
                (
                    g.solver.as_str(),
                    g.sigma_y,
                    g.error.as_str(),
                    g.runs,
                    g.images,
                    g.seeds,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("ddrm", 1e-9, "no SVD", 6, 2, 3),
                ("ddrm", 0.05, "no SVD", 1, 1, 1),
                ("ddnm", 0.05, "no SVD | here", 1, 1, 1),
                ("ddrm", 1e-9, "NaN at step 3", 1, 1, 1),
            ]
        );
        let md = failures_section(&records);
        assert!(md.contains("9 runs failed, in 4 groups"), "{md}");
        assert!(
            md.contains("| ddrm | sr4 | 1e-9 | 6 | 2 | 3 | no SVD |"),
            "{md}"
        );
        // A pipe in an error cannot break the table.
        assert!(
            md.contains("| ddnm | sr4 | 5e-2 | 1 | 1 | 1 | no SVD / here |"),
            "{md}"
        );
        assert!(failures_section(&[record("a", 20.0)]).is_empty());
    }
}
