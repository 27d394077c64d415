//! The report's figures: PSNR against seconds and against network evaluations (a panel
//! per task and noise level, a point per solver), PSNR bars per solver and task, and the
//! restorations of the first images as labelled grids.

use super::config::BenchSettings;
use super::record::RunRecord;
use super::report::{cell, noise_label};
use super::runner::outputs_dir;
use super::HarnessError;
use std::path::Path;
use vmlmap_core::Shape;
use vmlmap_plot::{panels, BarChart, Block, LabelledGrid, LineChart, Series, Style, Tile};

fn save(img: &image::RgbImage, path: &Path) -> Result<(), HarnessError> {
    vmlmap_io::write_atomic(&path.to_string_lossy(), true, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| e.to_string())
    })
    .map_err(|e| HarnessError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn plot_err(e: vmlmap_plot::PlotError) -> HarnessError {
    HarnessError::Plot(e.to_string())
}

/// Scatter panels: for each case, a point per solver at (x, mean PSNR).
fn scatter(
    settings: &BenchSettings,
    records: &[RunRecord],
    x_label: &str,
    x: impl Fn(&super::report::Cell) -> Option<f64>,
) -> Result<image::RgbImage, HarnessError> {
    let mut figs = Vec::new();
    for t in &settings.tasks {
        for &sy in &settings.sigma_y {
            let mut chart = LineChart::new(
                format!("{}, {}", t.label, noise_label(sy)),
                x_label,
                "mean PSNR (dB)",
            );
            chart.log_x = true;
            chart.legend = vmlmap_plot::LegendPosition::LowerRight;
            chart.width = 560;
            chart.height = 400;
            for s in &settings.solvers {
                let c = cell(records, &t.label, sy, &s.label);
                let pts = match (x(&c), c.psnr) {
                    (Some(xv), Some(p)) if xv > 0.0 => vec![(xv, p.mean)],
                    _ => vec![],
                };
                chart = chart.with(Series::new(s.label.clone(), pts, Style::Markers));
            }
            // A case without a single drawable point is left blank rather than failing
            // the report.
            if let Ok(img) = chart.draw() {
                figs.push(img);
            } else {
                figs.push(image::RgbImage::from_pixel(
                    560,
                    400,
                    image::Rgb([255, 255, 255]),
                ));
            }
        }
    }
    Ok(panels(&figs, settings.sigma_y.len()))
}

/// Quality against cost for sweeps: for each case, a line per family of variants (in
/// order of network passes, NFE + VJP) and a point per other solver. `None` without
/// families.
fn passes(settings: &BenchSettings, records: &[RunRecord]) -> Option<image::RgbImage> {
    let mut families: Vec<&str> = Vec::new();
    for s in &settings.solvers {
        if let Some(f) = s.family.as_deref() {
            if !families.contains(&f) {
                families.push(f);
            }
        }
    }
    if families.is_empty() {
        return None;
    }
    let mut figs = Vec::new();
    for t in &settings.tasks {
        for &sy in &settings.sigma_y {
            let mut chart = LineChart::new(
                format!("{}, {}", t.label, noise_label(sy)),
                "network passes per image (NFE + VJP)",
                "mean PSNR (dB)",
            );
            chart.log_x = true;
            chart.legend = vmlmap_plot::LegendPosition::LowerRight;
            chart.width = 620;
            chart.height = 440;
            let point = |label: &str| {
                let c = cell(records, &t.label, sy, label);
                match (c.nfe, c.vjp, c.psnr) {
                    (Some(n), Some(v), Some(p)) if n.mean + v.mean > 0.0 => {
                        Some((n.mean + v.mean, p.mean))
                    }
                    _ => None,
                }
            };
            for f in &families {
                let mut pts: Vec<(f64, f64)> = settings
                    .solvers
                    .iter()
                    .filter(|s| s.family.as_deref() == Some(f))
                    .filter_map(|s| point(&s.label))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                chart = chart.with(Series::new(f.to_string(), pts, Style::LineMarkers));
            }
            for s in settings.solvers.iter().filter(|s| s.family.is_none()) {
                let pts = point(&s.label).into_iter().collect();
                chart = chart.with(Series::new(s.label.clone(), pts, Style::Markers));
            }
            figs.push(chart.draw().unwrap_or_else(|_| {
                image::RgbImage::from_pixel(620, 440, image::Rgb([255, 255, 255]))
            }));
        }
    }
    Some(panels(&figs, settings.sigma_y.len()))
}

/// Writes `psnr-vs-seconds.png`, `psnr-vs-nfe.png`, `psnr-bars.png`,
/// `psnr-vs-passes.png` (when variants have families) and
/// `grids/<task>.png` into `out`.
pub fn write_figures(
    settings: &BenchSettings,
    records: &[RunRecord],
    shape: Option<Shape>,
    out: &Path,
) -> Result<(), HarnessError> {
    save(
        &scatter(settings, records, "seconds per image", |c| {
            c.seconds.map(|m| m.mean)
        })?,
        &out.join("psnr-vs-seconds.png"),
    )?;
    save(
        &scatter(settings, records, "network evaluations (NFE)", |c| {
            c.nfe.map(|m| m.mean)
        })?,
        &out.join("psnr-vs-nfe.png"),
    )?;
    if let Some(img) = passes(settings, records) {
        save(&img, &out.join("psnr-vs-passes.png"))?;
    }
    let groups: Vec<String> = settings.tasks.iter().map(|t| t.label.clone()).collect();
    let mut bars = Vec::new();
    for &sy in &settings.sigma_y {
        let mut chart = BarChart::new(
            format!("Mean PSNR, {}", noise_label(sy)),
            "PSNR (dB)",
            groups.clone(),
        );
        chart.y_floor = Some(0.0);
        chart.width =
            160 + 120 * groups.len() as u32 + 20 * (settings.solvers.len() * groups.len()) as u32;
        for s in &settings.solvers {
            let v = settings
                .tasks
                .iter()
                .map(|t| {
                    cell(records, &t.label, sy, &s.label)
                        .psnr
                        .map_or(f64::NAN, |m| m.mean)
                })
                .collect();
            chart = chart.with(s.label.clone(), v);
        }
        bars.push(chart.draw().map_err(plot_err)?);
    }
    save(&panels(&bars, 1), &out.join("psnr-bars.png"))?;
    if let Some(shape) = shape {
        let dir = out.join("grids");
        std::fs::create_dir_all(&dir).map_err(|e| HarnessError::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        for t in &settings.tasks {
            if let Some(g) = grid(settings, records, shape, out, &t.label)? {
                save(&g, &dir.join(format!("{}.png", t.label)))?;
            }
        }
    }
    Ok(())
}

/// The task's grid: a block per noise level; rows ground truth, measurement, solvers;
/// columns the images whose pictures were kept. `None` when none were.
fn grid(
    settings: &BenchSettings,
    records: &[RunRecord],
    shape: Shape,
    out: &Path,
    task: &str,
) -> Result<Option<image::RgbImage>, HarnessError> {
    let mut images: Vec<String> = Vec::new();
    for r in records.iter().filter(|r| r.task == task) {
        if !images.contains(&r.image) {
            images.push(r.image.clone());
        }
    }
    let read = |p: &Path| -> Option<Tile> {
        let (data, s) = vmlmap_io::read_array(&p.to_string_lossy(), Some(shape), false).ok()?;
        Some(Tile {
            data,
            channels: s.c,
            height: s.h,
            width: s.w,
        })
    };
    let mut blocks = Vec::new();
    for &sy in &settings.sigma_y {
        let dir = outputs_dir(out, task, sy);
        let shown: Vec<&String> = images
            .iter()
            .filter(|im| dir.join("_ground-truth").join(format!("{im}.npy")).exists())
            .take(settings.grid_images)
            .collect();
        if shown.is_empty() {
            continue;
        }
        let rows_of = ["_ground-truth", "_measurement"]
            .iter()
            .map(|s| s.to_string())
            .chain(settings.solvers.iter().map(|s| s.label.clone()));
        let rows = rows_of
            .map(|row| {
                shown
                    .iter()
                    .map(|im| read(&dir.join(&row).join(format!("{im}.npy"))))
                    .collect()
            })
            .collect();
        blocks.push(Block {
            title: format!("{task}, {}", noise_label(sy)),
            row_labels: ["ground truth", "measurement"]
                .iter()
                .map(|s| s.to_string())
                .chain(settings.solvers.iter().map(|s| s.label.clone()))
                .collect(),
            col_labels: shown.iter().map(|s| s.to_string()).collect(),
            rows,
        });
    }
    if blocks.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        LabelledGrid {
            block_cols: blocks.len(),
            blocks,
            zoom: vmlmap_io::legible_zoom(shape.w),
        }
        .draw(),
    ))
}
