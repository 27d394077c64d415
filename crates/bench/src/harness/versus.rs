//! The report's comparisons with VML-MAP (Gutha, Vinuesa, Azizpour, arXiv 2512.10524):
//! per case, each VML-MAP setting against the best baseline, and every other solver
//! against VML-MAP, as **paired** differences of PSNR over the same images.
//!
//! Every solver restores the same measurement of each image (the noise is seeded by image
//! and task), so the image-to-image spread, which is far larger than the differences between
//! solvers on a 20-image bench, cancels in the difference. Per image, a solver's PSNR is the
//! mean over its seeds (samplers run several, point estimators one); the difference is
//! averaged over the images both solvers restored, with the standard error of that mean.
//! A difference counts as clear when it is more than [`CLEAR_SE`] standard errors from 0.

use super::config::BenchSettings;
use super::record::RunRecord;
use super::stats::{best, cell, MeanSe};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How many standard errors from zero a paired difference must be to count as clear.
pub const CLEAR_SE: f64 = 2.0;

/// Per image, the mean PSNR of `solver`'s successful runs on `task` at `sigma_y`.
fn per_image(
    records: &[RunRecord],
    task: &str,
    sigma_y: f64,
    solver: &str,
) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.ok() && r.task == task && r.sigma_y == sigma_y && r.solver == solver)
    {
        if let Some(p) = r.psnr.filter(|p| p.is_finite()) {
            let e = sums.entry(r.image.clone()).or_insert((0.0, 0));
            e.0 += p;
            e.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// The paired difference `a − b` of PSNR on `task` at `sigma_y`: mean ± standard error
/// over the images both restored (each image's seeds averaged first). `None` when they
/// share no image.
pub fn paired_psnr(
    records: &[RunRecord],
    task: &str,
    sigma_y: f64,
    a: &str,
    b: &str,
) -> Option<MeanSe> {
    let pa = per_image(records, task, sigma_y, a);
    let pb = per_image(records, task, sigma_y, b);
    let d: Vec<f64> = pa
        .iter()
        .filter_map(|(img, x)| pb.get(img).map(|y| x - y))
        .collect();
    MeanSe::of(&d)
}

/// Whether a difference is clearly positive (`Some(true)`), clearly negative
/// (`Some(false)`) or within [`CLEAR_SE`] standard errors of zero (`None`). A difference
/// over a single image has no standard error and is never clear.
pub fn clear(d: &MeanSe) -> Option<bool> {
    // Written so that a NaN (no difference to speak of) is never clear.
    let is_clear = d.n >= 2 && d.mean.abs() > CLEAR_SE * d.se;
    is_clear.then_some(d.mean > 0.0)
}

fn signed(d: &MeanSe) -> String {
    if d.n > 1 {
        format!("{:+.2} ± {:.2}", d.mean, d.se)
    } else {
        format!("{:+.2}", d.mean)
    }
}

/// The indices of the VML-MAP settings among the bench's solvers.
fn vml_settings(settings: &BenchSettings) -> Vec<usize> {
    settings
        .solvers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.solver.starts_with("vml-map"))
        .map(|(i, _)| i)
        .collect()
}

/// "Where VML-MAP wins and where it does not": per case, each VML-MAP setting's mean PSNR
/// and its paired difference to the best baseline of the case (the best other solver).
pub fn where_vml_wins(
    md: &mut String,
    settings: &BenchSettings,
    records: &[RunRecord],
    cases: &[(&str, f64)],
    head: &[String],
) {
    let solvers: Vec<&str> = settings.solvers.iter().map(|s| s.label.as_str()).collect();
    let vml = vml_settings(settings);
    if vml.is_empty() || solvers.len() <= vml.len() {
        return;
    }
    let names: Vec<&str> = vml.iter().map(|&v| solvers[v]).collect();
    let _ = writeln!(md, "\n## Where VML-MAP wins and where it does not\n");
    let _ = writeln!(
        md,
        "Mean PSNR of each VML-MAP setting and, in brackets, its paired difference to the best baseline of the case (the other solver with the highest mean PSNR; positive: VML-MAP is ahead) over the same images, ± its standard error (each image's seeds averaged first). Clear: more than {CLEAR_SE} standard errors from zero.\n"
    );
    let _ = writeln!(md, "| case | best baseline | {} |", names.join(" | "));
    let _ = writeln!(md, "|---|---|{}", "---|".repeat(names.len()));
    // Per setting: cases ahead, clearly ahead, behind, clearly behind, compared.
    let mut tally = vec![[0usize; 5]; vml.len()];
    for ((t, s), h) in cases.iter().zip(head) {
        let psnr = |name: &str| cell(records, t, *s, name).psnr;
        let others: Vec<Option<MeanSe>> = solvers
            .iter()
            .enumerate()
            .map(|(i, name)| if vml.contains(&i) { None } else { psnr(name) })
            .collect();
        let Some(o) = best(&others, true) else {
            continue;
        };
        let (other, base) = (solvers[o], others[o].map_or(f64::NAN, |m| m.mean));
        let cells: Vec<String> = vml
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let (Some(m), Some(d)) = (
                    psnr(solvers[v]),
                    paired_psnr(records, t, *s, solvers[v], other),
                ) else {
                    return "–".into();
                };
                let k = &mut tally[j];
                k[4] += 1;
                if d.mean > 0.0 {
                    k[0] += 1;
                } else if d.mean < 0.0 {
                    k[2] += 1;
                }
                match clear(&d) {
                    Some(true) => k[1] += 1,
                    Some(false) => k[3] += 1,
                    None => {}
                }
                format!("{:.2} ({})", m.mean, signed(&d))
            })
            .collect();
        let _ = writeln!(md, "| {h} | {other} {base:.2} | {} |", cells.join(" | "));
    }
    let _ = writeln!(md);
    for (j, n) in names.iter().enumerate() {
        let [ahead, clearly_ahead, behind, clearly_behind, compared] = tally[j];
        let _ = writeln!(
            md,
            "{n} is ahead of every baseline in {ahead} of {compared} cases ({clearly_ahead} clearly) and behind the best in {behind} ({clearly_behind} clearly).",
        );
    }
}

/// The reference of the paired comparisons, the bench's first VML-MAP setting, and the
/// baselines compared with it (every solver that is not a VML-MAP setting). `None`
/// without a VML-MAP setting or without a baseline.
pub(super) fn reference_and_baselines(settings: &BenchSettings) -> Option<(&str, Vec<&str>)> {
    let vml = vml_settings(settings);
    let reference = settings.solvers.get(*vml.first()?)?.label.as_str();
    let others: Vec<&str> = settings
        .solvers
        .iter()
        .enumerate()
        .filter(|(i, _)| !vml.contains(i))
        .map(|(_, s)| s.label.as_str())
        .collect();
    (!others.is_empty()).then_some((reference, others))
}

/// "Every baseline against VML-MAP": a row per case and a column per baseline (every solver
/// that is not a VML-MAP setting), each cell the paired PSNR difference baseline − VML-MAP
/// (the first VML-MAP setting of the bench),
/// clear ones in bold, and a count per solver of the cases where it is clearly ahead or
/// behind.
pub fn versus_vml(
    md: &mut String,
    settings: &BenchSettings,
    records: &[RunRecord],
    cases: &[(&str, f64)],
    head: &[String],
) {
    let Some((reference, others)) = reference_and_baselines(settings) else {
        return;
    };
    let _ = writeln!(md, "\n## Every baseline against {reference} (paired)\n");
    let _ = writeln!(
        md,
        "Per case, each baseline's PSNR minus {reference}'s on the same images (each image's seeds averaged first), mean ± standard error over the images; positive: the baseline beats {reference}. In bold where the difference is more than {CLEAR_SE} standard errors from zero.\n"
    );
    let _ = writeln!(md, "| case | {} |", others.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(others.len()));
    // Per solver: cases clearly ahead of the reference, clearly behind, compared.
    let mut tally = vec![[0usize; 3]; others.len()];
    for ((t, s), h) in cases.iter().zip(head) {
        let cells: Vec<String> = others
            .iter()
            .enumerate()
            .map(|(j, o)| match paired_psnr(records, t, *s, o, reference) {
                Some(d) => {
                    tally[j][2] += 1;
                    match clear(&d) {
                        Some(up) => {
                            tally[j][usize::from(!up)] += 1;
                            format!("**{}**", signed(&d))
                        }
                        None => signed(&d),
                    }
                }
                None => "–".into(),
            })
            .collect();
        let _ = writeln!(md, "| {h} | {} |", cells.join(" | "));
    }
    let _ = writeln!(md);
    for (j, o) in others.iter().enumerate() {
        let [up, down, n] = tally[j];
        let _ = writeln!(
            md,
            "- {o}: clearly ahead of {reference} in {up} of {n} cases, clearly behind in {down}."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::record::tests::record;

    fn run(solver: &str, image: &str, seed: u64, psnr: f64) -> RunRecord {
        let mut r = record(image, psnr);
        r.solver = solver.into();
        r.seed = seed;
        r
    }

    /// The difference is taken image by image after averaging each image's seeds, over
    /// the images both solvers have; its standard error is that of the differences, not
    /// of either solver's PSNR.
    #[test]
    fn paired_difference_averages_seeds_then_pairs_images() {
        let records = vec![
            // a: image x seeds 20 and 22 (mean 21), image y 30, image z 40 (b lacks z).
            run("a", "x", 0, 20.0),
            run("a", "x", 1, 22.0),
            run("a", "y", 0, 30.0),
            run("a", "z", 0, 40.0),
            run("b", "x", 0, 20.0),
            run("b", "y", 0, 27.0),
        ];
        let d = paired_psnr(&records, "sr4", 0.05, "a", "b").unwrap();
        // differences 1 and 3
        assert_eq!(d.n, 2);
        assert!((d.mean - 2.0).abs() < 1e-12);
        assert!((d.se - 1.0).abs() < 1e-12, "{d:?}");
        let back = paired_psnr(&records, "sr4", 0.05, "b", "a").unwrap();
        assert!((back.mean + 2.0).abs() < 1e-12);
        assert!(paired_psnr(&records, "sr4", 1e-9, "a", "b").is_none());
        assert!(paired_psnr(&records, "sr4", 0.05, "a", "c").is_none());
    }

    /// A large spread between images hides nothing when the solvers differ by the same
    /// amount on each: the paired standard error is zero and the difference clear.
    #[test]
    fn clear_when_the_same_gain_on_every_image() {
        let mut records = Vec::new();
        for (i, base) in [10.0, 25.0, 40.0].iter().enumerate() {
            records.push(run("a", &i.to_string(), 0, base + 0.5));
            records.push(run("b", &i.to_string(), 0, *base));
        }
        let d = paired_psnr(&records, "sr4", 0.05, "a", "b").unwrap();
        assert!((d.mean - 0.5).abs() < 1e-12 && d.se < 1e-12, "{d:?}");
        assert_eq!(clear(&d), Some(true));
        let noisy = MeanSe {
            mean: 0.5,
            se: 0.3,
            n: 20,
        };
        assert_eq!(clear(&noisy), None);
        let one = MeanSe {
            mean: -3.0,
            se: 0.0,
            n: 1,
        };
        assert_eq!(clear(&one), None);
        let behind = MeanSe {
            mean: -1.0,
            se: 0.3,
            n: 20,
        };
        assert_eq!(clear(&behind), Some(false));
    }
}
