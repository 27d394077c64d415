//! `report.md`: per task and noise level, mean ± standard error of every score per solver
//! (best in bold), a headline PSNR table, where VML-MAP wins and loses (paired, from
//! [`super::versus`]), failures, and the protocol written out.

use super::config::BenchSettings;
use super::record::RunRecord;
use super::stats::{best, cell, noise_label, Cell, MeanSe};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// What the report says about where the bench ran and with what.
#[derive(Clone, Debug, Default)]
pub struct Protocol {
    pub images: Vec<String>,
    pub image_source: String,
    pub shape: String,
    pub lpips_note: Option<String>,
    pub expected_runs: usize,
}

/// A mean (± its standard error when there is one) with `digits` decimals; a small
/// positive value (seconds of `pinv`) in scientific notation instead of as zero.
fn fmt(m: Option<MeanSe>, digits: usize, bold: bool) -> String {
    let num = |v: f64| {
        if digits > 0 && v != 0.0 && v.abs() < 10f64.powi(-(digits as i32)) * 10.0 {
            format!("{v:.1e}")
        } else {
            format!("{v:.digits$}")
        }
    };
    match m {
        None => "–".into(),
        Some(m) => {
            let s = if m.n > 1 && m.se > 0.0 {
                format!("{} ± {}", num(m.mean), num(m.se))
            } else {
                num(m.mean)
            };
            if bold {
                format!("**{s}**")
            } else {
                s
            }
        }
    }
}

/// `distinct(records, f)`: the values of `f` in order of first appearance.
fn distinct(records: &[RunRecord], f: impl Fn(&RunRecord) -> String) -> Vec<String> {
    let mut seen = BTreeSet::new();
    records
        .iter()
        .map(f)
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

/// The report's Markdown.
pub fn markdown(settings: &BenchSettings, records: &[RunRecord], p: &Protocol) -> String {
    let solvers: Vec<&str> = settings.solvers.iter().map(|s| s.label.as_str()).collect();
    let cases: Vec<(&str, f64)> = settings
        .tasks
        .iter()
        .flat_map(|t| settings.sigma_y.iter().map(move |&s| (t.label.as_str(), s)))
        .collect();
    let with_lpips = [
        records.iter().any(|r| r.lpips.is_some()),
        records.iter().any(|r| r.lpips_vgg.is_some()),
    ];
    let mut md = String::new();
    let _ = writeln!(md, "# vmlmap bench report\n");
    let _ = writeln!(
        md,
        "{} runs recorded ({} failed) of {} planned: {} solvers × {} tasks × {} noise levels × {} images{}.\n",
        records.len(),
        records.iter().filter(|r| !r.ok()).count(),
        p.expected_runs,
        solvers.len(),
        settings.tasks.len(),
        settings.sigma_y.len(),
        p.images.len(),
        if settings.seeds > 1 { format!(" × up to {} seeds", settings.seeds) } else { String::new() }
    );
    let head: Vec<String> = cases
        .iter()
        .map(|(t, s)| format!("{t}, {}", noise_label(*s)))
        .collect();
    let grid: Vec<Vec<Cell>> = solvers
        .iter()
        .map(|s| {
            cases
                .iter()
                .map(|(t, sy)| cell(records, t, *sy, s))
                .collect()
        })
        .collect();
    headline_section(&mut md, &solvers, &head, &grid, Headline::PSNR);
    if with_lpips[0] {
        headline_section(&mut md, &solvers, &head, &grid, Headline::LPIPS_ALEX);
    }
    super::versus::where_vml_wins(&mut md, settings, records, &cases, &head);
    super::versus::versus_vml(&mut md, settings, records, &cases, &head);
    sweep_section(&mut md, settings, records, &head, &cases);
    per_case_section(&mut md, &solvers, &head, &grid, with_lpips);
    md.push_str(&super::failures::failures_section(records));
    protocol_section(&mut md, settings, records, p);
    md
}

/// A score shown as a headline table.
struct Headline {
    title: &'static str,
    score: fn(&Cell) -> Option<MeanSe>,
    decimals: usize,
    higher_is_better: bool,
}

impl Headline {
    const PSNR: Self = Self {
        title: "## Mean PSNR (dB)\n",
        score: |c| c.psnr,
        decimals: 2,
        higher_is_better: true,
    };
    const LPIPS_ALEX: Self = Self {
        title: "\n## Mean LPIPS-alex (lower is better)\n",
        score: |c| c.lpips,
        decimals: 4,
        higher_is_better: false,
    };
}

/// A headline: the mean of one score per solver and case, best in bold.
fn headline_section(
    md: &mut String,
    solvers: &[&str],
    head: &[String],
    grid: &[Vec<Cell>],
    h: Headline,
) {
    let _ = writeln!(md, "{}", h.title);
    let best_psnr: Vec<Option<usize>> = (0..head.len())
        .map(|c| {
            best(
                &grid
                    .iter()
                    .map(|row| (h.score)(&row[c]))
                    .collect::<Vec<_>>(),
                h.higher_is_better,
            )
        })
        .collect();
    let psnr_cell = |i: usize, c: usize| {
        fmt(
            (h.score)(&grid[i][c]).map(|m| MeanSe { se: 0.0, ..m }),
            h.decimals,
            best_psnr[c] == Some(i),
        )
    };
    // A row per solver and a column per case, or the other way round when the cases
    // outnumber the solvers (a bench of every task), so that the table stays readable.
    if head.len() <= solvers.len() {
        let _ = writeln!(md, "| solver | {} |", head.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(head.len()));
        for (i, s) in solvers.iter().enumerate() {
            let cells: Vec<String> = (0..head.len()).map(|c| psnr_cell(i, c)).collect();
            let _ = writeln!(md, "| {s} | {} |", cells.join(" | "));
        }
    } else {
        let _ = writeln!(md, "| case | {} |", solvers.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(solvers.len()));
        for (c, h) in head.iter().enumerate() {
            let cells: Vec<String> = (0..solvers.len()).map(|i| psnr_cell(i, c)).collect();
            let _ = writeln!(md, "| {h} | {} |", cells.join(" | "));
        }
    }
}

/// Every score of every solver, one table per task and noise level.
fn per_case_section(
    md: &mut String,
    solvers: &[&str],
    head: &[String],
    grid: &[Vec<Cell>],
    with_lpips: [bool; 2],
) {
    let _ = writeln!(md, "\n## Per task and noise level\n");
    let _ = writeln!(md, "Mean ± standard error over the runs (images × seeds); best in bold (highest PSNR and SSIM, lowest LPIPS, NFE, VJP and seconds). NFE: network evaluations; VJP: vector-Jacobian products through the network; seconds: wall time per image, each batch's time divided by its size.\n");
    for (c, h) in head.iter().enumerate() {
        let col: Vec<&Cell> = grid.iter().map(|row| &row[c]).collect();
        let pick = |f: fn(&Cell) -> Option<MeanSe>, higher| {
            best(&col.iter().map(|x| f(x)).collect::<Vec<_>>(), higher)
        };
        let b = [
            pick(|x| x.psnr, true),
            pick(|x| x.ssim, true),
            pick(|x| x.lpips, false),
            pick(|x| x.nfe, false),
            pick(|x| x.vjp, false),
            pick(|x| x.seconds, false),
            pick(|x| x.lpips_vgg, false),
        ];
        let _ = writeln!(md, "### {h}\n");
        let names = [" LPIPS-alex |", " LPIPS-vgg |"];
        let lp: String = (0..2)
            .filter(|&k| with_lpips[k])
            .map(|k| names[k])
            .collect();
        let _ = writeln!(
            md,
            "| solver | PSNR | SSIM |{lp} NFE | VJP | seconds | runs |"
        );
        let _ = writeln!(
            md,
            "|---|---|---|{}---|---|---|---|",
            "---|".repeat(with_lpips.iter().filter(|&&w| w).count())
        );
        for (i, s) in solvers.iter().enumerate() {
            let x = col[i];
            let mut lp = String::new();
            if with_lpips[0] {
                lp += &format!(" {} |", fmt(x.lpips, 4, b[2] == Some(i)));
            }
            if with_lpips[1] {
                lp += &format!(" {} |", fmt(x.lpips_vgg, 4, b[6] == Some(i)));
            }
            let runs = if x.failed > 0 {
                format!("{} ({} failed)", x.ok, x.failed)
            } else {
                x.ok.to_string()
            };
            let _ = writeln!(
                md,
                "| {s} | {} | {} |{lp} {} | {} | {} | {runs} |",
                fmt(x.psnr, 2, b[0] == Some(i)),
                fmt(x.ssim, 4, b[1] == Some(i)),
                fmt(x.nfe.map(|m| MeanSe { se: 0.0, ..m }), 0, b[3] == Some(i)),
                fmt(x.vjp.map(|m| MeanSe { se: 0.0, ..m }), 0, b[4] == Some(i)),
                fmt(x.seconds, 3, b[5] == Some(i)),
            );
        }
        let _ = writeln!(md);
    }
}

/// How the bench was run: images, measurements, noise, seeds, solvers, model, machines.
fn protocol_section(
    md: &mut String,
    settings: &BenchSettings,
    records: &[RunRecord],
    p: &Protocol,
) {
    let _ = writeln!(md, "## Protocol\n");
    let _ = writeln!(
        md,
        "- Images: {} ({}), {}: {}.",
        p.images.len(),
        p.image_source,
        p.shape,
        p.images.join(", ")
    );
    let _ = writeln!(md, "- Measurements: y = H x + sigma_y · eta with the images in [-1, 1] (sigma_y = 0.05 here is 0.025 on a [0, 1] scale), eta standard normal seeded by the image and task name (FNV-1a), so every solver and seed restores the same measurement.");
    for t in &settings.tasks {
        let opts = records
            .iter()
            .find(|r| r.task == t.label)
            .map(|r| r.task_opts.join(", "))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "  - {}: {}",
            t.label,
            if opts.is_empty() {
                "no options".into()
            } else {
                opts
            }
        );
    }
    let _ = writeln!(
        md,
        "- Noise levels: {}.",
        settings
            .sigma_y
            .iter()
            .map(|s| format!("{s:e}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        md,
        "- Seeds: {} per solver that uses randomness ({}); pinv and tikhonov run once.",
        settings.seeds,
        match settings.seeds_for {
            super::config::SeedsFor::All => "every such solver",
            super::config::SeedsFor::Samplers =>
                "posterior samplers only; the point estimators run seed 0",
        }
    );
    let _ = writeln!(
        md,
        "- Solvers (each at its defaults unless options are listed):"
    );
    for s in &settings.solvers {
        let _ = writeln!(
            md,
            "  - {}: `{}`{}",
            s.label,
            s.solver,
            if s.opts.is_empty() {
                String::new()
            } else {
                format!(" with {}", s.opts.join(", "))
            }
        );
    }
    let models = distinct(records, |r| {
        format!("{} (SHA-256 {})", r.model, r.model_sha256)
    });
    let _ = writeln!(
        md,
        "- Model: {}.",
        if models.is_empty() {
            settings.model.clone()
        } else {
            models.join("; ")
        }
    );
    let _ = writeln!(
        md,
        "- Batch: up to {} runs of one solver share each network evaluation.",
        settings.batch
    );
    let _ = writeln!(
        md,
        "- Machines: {}.",
        distinct(records, |r| format!("{}, {} threads", r.machine, r.threads)).join("; ")
    );
    let _ = writeln!(
        md,
        "- Dates: {}.",
        distinct(records, |r| r.date.clone()).join(", ")
    );
    let _ = writeln!(
        md,
        "- vmlmap: {}.",
        distinct(records, |r| r.vmlmap_version.clone()).join(", ")
    );
    let _ = writeln!(md, "- Metrics: PSNR and SSIM (scikit-image's Gaussian-window definition) of the float outputs against the ground truth, both mapped from [-1, 1] to [0, 1] (data range 1); SSIM needs images of at least 11x11.");
    if let Some(n) = &p.lpips_note {
        let _ = writeln!(md, "- LPIPS: {n}");
    }
    let _ = writeln!(md, "\nFigures: `psnr-vs-seconds.png`, `psnr-vs-nfe.png` (solvers without network evaluations are left off its log axis), `psnr-bars.png`, `paired-differences.png` (the paired table above, drawn; when the bench has VML-MAP), and `grids/<task>.png` (ground truth, measurement and each solver's output, seed 0, for the first {} images).", settings.grid_images);
}

/// How far below the best PSNR a setting may be and still count as as good (#11's
/// criterion for cheaper defaults).
pub const WITHIN_DB: f64 = 0.2;

/// For benches with variant families (sweeps of a solver's settings): per case, the best
/// setting of each solver swept and the cheapest setting within [`WITHIN_DB`] of it.
fn sweep_section(
    md: &mut String,
    settings: &BenchSettings,
    records: &[RunRecord],
    head: &[String],
    cases: &[(&str, f64)],
) {
    let swept: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for s in settings.solvers.iter().filter(|s| s.family.is_some()) {
            if !v.contains(&s.solver.as_str()) {
                v.push(&s.solver);
            }
        }
        v
    };
    for solver in swept {
        let labels: Vec<&str> = settings
            .solvers
            .iter()
            .filter(|s| s.solver == solver)
            .map(|s| s.label.as_str())
            .collect();
        let _ = writeln!(
            md,
            "\n## Settings of {solver}: the best and the cheapest within {WITHIN_DB} dB of it\n"
        );
        let _ = writeln!(md, "Network passes: NFE + VJP per image.\n");
        let _ = writeln!(md, "| case | best setting | PSNR | passes | cheapest within {WITHIN_DB} dB | PSNR | passes |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for ((t, sy), h) in cases.iter().zip(head) {
            let scored: Vec<(&str, f64, f64)> = labels
                .iter()
                .filter_map(|l| {
                    let c = cell(records, t, *sy, l);
                    Some((*l, c.psnr?.mean, c.nfe?.mean + c.vjp?.mean))
                })
                .filter(|x| x.1.is_finite())
                .collect();
            let Some(b) = scored.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
                continue;
            };
            let Some(c) = scored
                .iter()
                .filter(|x| x.1 >= b.1 - WITHIN_DB)
                .min_by(|a, b| a.2.total_cmp(&b.2))
            else {
                continue;
            };
            let _ = writeln!(
                md,
                "| {h} | {} | {:.2} | {:.0} | {} | {:.2} | {:.0} |",
                b.0, b.1, b.2, c.0, c.1, c.2
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_standard_error() {
        let m = MeanSe::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.mean, 2.5);
        // sample sd = sqrt(5/3); se = sd / 2
        assert!((m.se - (5.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-15);
        assert_eq!(MeanSe::of(&[7.0]).unwrap().se, 0.0);
        // 0.1 is not exact in binary: the mean of seven of them is not 0.1, but they have
        // no spread.
        let same = MeanSe::of(&[0.1; 7]).unwrap();
        assert_ne!(same.mean, 0.1);
        assert_eq!(same.se, 0.0);
        assert!(MeanSe::of(&[]).is_none());
        let v = [None, MeanSe::of(&[3.0]), MeanSe::of(&[1.0])];
        assert_eq!(best(&v, true), Some(1));
        assert_eq!(best(&v, false), Some(2));
    }

    /// A sweep's table names, per case, the best setting and the cheapest within 0.2 dB;
    /// the VML-MAP table compares each setting with the best baseline.
    #[test]
    fn sweep_and_vml_map_sections() {
        use crate::harness::config::BenchConfig;
        use crate::harness::record::tests::record;
        let cfg: BenchConfig = toml::from_str(
            r#"
            tasks = ["sr4"]
            sigma_y = [0.05]
            solvers = ["ddrm", "v-cheap", "v-mid", "v-dear"]
            [variants.v-cheap]
            solver = "vml-map"
            opts = ["steps=10"]
            family = "N"
            [variants.v-mid]
            solver = "vml-map"
            opts = ["steps=20"]
            family = "N"
            [variants.v-dear]
            solver = "vml-map"
            opts = ["steps=100"]
            family = "N"
            "#,
        )
        .unwrap();
        let settings = cfg.resolve().unwrap();
        // (solver, psnr, nfe, vjp)
        let rows = [
            ("ddrm", 20.0, 20, 0),
            ("v-cheap", 19.0, 60, 50),
            ("v-mid", 21.85, 120, 100),
            ("v-dear", 22.0, 600, 500),
        ];
        let records: Vec<RunRecord> = rows
            .iter()
            .map(|&(s, p, n, v)| {
                let mut r = record("a", p);
                r.solver = s.into();
                r.nfe = Some(n);
                r.vjp = Some(v);
                r
            })
            .collect();
        let md = markdown(&settings, &records, &Protocol::default());
        assert!(
            md.contains("| sr4, sigma_y = 0.05 | v-dear | 22.00 | 1100 | v-mid | 21.85 | 220 |"),
            "{md}"
        );
        assert!(
            md.contains("| sr4, sigma_y = 0.05 | ddrm 20.00 | 19.00 (-1.00) | 21.85 (+1.85) | 22.00 (+2.00) |"),
            "{md}"
        );
        assert!(md.contains(
            "v-cheap is ahead of every baseline in 0 of 1 cases (0 clearly) and behind the best in 1 (0 clearly)."
        ), "{md}");
    }
}
