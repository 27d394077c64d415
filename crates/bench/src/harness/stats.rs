//! The statistics of bench reports: mean and standard error of a score, one solver's
//! scores on one case ([`cell`]), the best of several means, and how a noise level is
//! named. Shared by the report, the paired comparison and the figures.

use super::record::RunRecord;

/// Mean and standard error (sample standard deviation over √n; 0 for one value).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeanSe {
    pub mean: f64,
    pub se: f64,
    pub n: usize,
}

impl MeanSe {
    pub fn of(v: &[f64]) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        // Equal values (a batch's seconds, shared by its images) have no spread; their
        // mean's round-off would otherwise print as a standard error of 1e-15.
        let equal = v.iter().all(|x| *x == v[0]);
        let se = if v.len() > 1 && !equal {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() / n.sqrt()
        } else {
            0.0
        };
        Some(Self {
            mean,
            se,
            n: v.len(),
        })
    }
}

/// One solver's scores on one task and noise level.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub psnr: Option<MeanSe>,
    pub ssim: Option<MeanSe>,
    pub lpips: Option<MeanSe>,
    pub lpips_vgg: Option<MeanSe>,
    pub nfe: Option<MeanSe>,
    pub vjp: Option<MeanSe>,
    pub seconds: Option<MeanSe>,
    pub ok: usize,
    pub failed: usize,
}

/// The scores of `solver` on `task` at `sigma_y` over its successful runs.
pub fn cell(records: &[RunRecord], task: &str, sigma_y: f64, solver: &str) -> Cell {
    let sel: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.task == task && r.sigma_y == sigma_y && r.solver == solver)
        .collect();
    let ok: Vec<&&RunRecord> = sel.iter().filter(|r| r.ok()).collect();
    let stat = |f: &dyn Fn(&RunRecord) -> Option<f64>| {
        let v: Vec<f64> = ok.iter().filter_map(|r| f(r)).collect();
        // A score some runs lack (LPIPS without weights) is left out rather than averaged
        // over part of the runs.
        if v.len() == ok.len() {
            MeanSe::of(&v)
        } else {
            None
        }
    };
    Cell {
        psnr: stat(&|r| r.psnr),
        ssim: stat(&|r| r.ssim),
        lpips: stat(&|r| r.lpips),
        lpips_vgg: stat(&|r| r.lpips_vgg),
        nfe: stat(&|r| r.nfe.map(|v| v as f64)),
        vjp: stat(&|r| r.vjp.map(|v| v as f64)),
        seconds: stat(&|r| Some(r.seconds)),
        ok: ok.len(),
        failed: sel.len() - ok.len(),
    }
}

/// How the report describes a noise level.
pub fn noise_label(s: f64) -> String {
    if s < 1e-6 {
        format!("noise-free ({s:e})")
    } else {
        format!("sigma_y = {s}")
    }
}

/// The index of the best mean among `v` (`higher`: larger is better).
pub fn best(v: &[Option<MeanSe>], higher: bool) -> Option<usize> {
    let mut b: Option<(usize, f64)> = None;
    for (i, m) in v.iter().enumerate() {
        if let Some(m) = m.filter(|m| m.mean.is_finite()) {
            let better = match b {
                None => true,
                Some((_, x)) => (higher && m.mean > x) || (!higher && m.mean < x),
            };
            if better {
                b = Some((i, m.mean));
            }
        }
    }
    b.map(|(i, _)| i)
}
