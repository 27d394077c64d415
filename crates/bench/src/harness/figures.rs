//! The report's figures: PSNR against seconds and against network evaluations (a panel
//! per task and noise level, a point per solver), PSNR bars per solver and task, every
//! baseline's paired PSNR difference to VML-MAP as a coloured table, and the restorations
//! of the first images as labelled grids.

use super::config::BenchSettings;
use super::record::RunRecord;
use super::runner::outputs_dir;
use super::stats::{cell, noise_label};
use super::HarnessError;
use std::path::Path;
use vmlmap_core::Shape;
use vmlmap_plot::{panels, BarChart, Block, Heatmap, LabelledGrid, LineChart, Series, Style, Tile};

fn save(img: &image::RgbImage, path: &Path) -> Result<(), HarnessError> {
    vmlmap_io::write_atomic(path, true, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| e.to_string())
    })
    .map_err(|e| HarnessError::Io {
        path: path.display().to_string(),
        source: e.into(),
    })
}

fn plot_err(e: vmlmap_plot::PlotError) -> HarnessError {
    HarnessError::Plot(Box::new(e))
}

/// Points more than this many dB below the best of their panel are left out of the
/// quality-against-cost panels (a collapsed solver at -84 dB would squash the rest).
const PANEL_DEPTH_DB: f64 = 8.0;

/// One legend entry per series of a figure, in order, with its colour and marker, shared
/// by every panel (so that a series keeps its look from panel to panel).
struct Look {
    name: String,
    line: bool,
    color: (u8, u8, u8),
    marker: vmlmap_plot::Marker,
}

fn looks(names: Vec<(String, bool)>) -> Vec<Look> {
    names
        .into_iter()
        .enumerate()
        .map(|(k, (name, line))| {
            let (color, marker) = vmlmap_plot::style_for(k);
            Look {
                name,
                line,
                color,
                marker,
            }
        })
        .collect()
}

/// The panels (a chart per case, each a series per look with its points) side by side,
/// a column per noise level, over one shared legend of the looks that have a point
/// anywhere and a line saying what was left out.
fn shared_legend_panels(
    settings: &BenchSettings,
    looks: &[Look],
    x_label: &str,
    points: impl Fn(&str, f64, usize) -> Vec<(f64, f64)>,
) -> image::RgbImage {
    let (w, h) = (560, 400);
    let mut figs = Vec::new();
    let mut drawn = vec![false; looks.len()];
    let mut cut = false;
    for t in &settings.tasks {
        for &sy in &settings.sigma_y {
            let mut chart = LineChart::new(
                format!("{}, {}", t.label, noise_label(sy)),
                x_label,
                "mean PSNR (dB)",
            );
            chart.log_x = true;
            chart.show_legend = false;
            chart.width = w;
            chart.height = h;
            let all: Vec<Vec<(f64, f64)>> =
                (0..looks.len()).map(|k| points(&t.label, sy, k)).collect();
            let best = all
                .iter()
                .flatten()
                .map(|p| p.1)
                .filter(|v| v.is_finite())
                .fold(f64::NEG_INFINITY, f64::max);
            let floor = best - PANEL_DEPTH_DB;
            for (k, (l, pts)) in looks.iter().zip(all).enumerate() {
                drawn[k] |= !pts.is_empty();
                cut |= pts.iter().any(|p| p.1 < floor);
                let style = if l.line {
                    Style::LineMarkers
                } else {
                    Style::Markers
                };
                chart = chart.with(
                    Series::new(l.name.clone(), pts, style)
                        .color(l.color)
                        .marker(l.marker),
                );
            }
            chart.y_floor = best.is_finite().then_some(floor);
            // A case without a single drawable point is left blank rather than failing
            // the report.
            figs.push(chart.draw().unwrap_or_else(|_| {
                image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]))
            }));
        }
    }
    let grid = panels(&figs, settings.sigma_y.len());
    let entries: Vec<vmlmap_plot::LegendEntry> = looks
        .iter()
        .zip(&drawn)
        .filter(|(_, &d)| d)
        .map(|(l, _)| vmlmap_plot::LegendEntry {
            name: l.name.clone(),
            color: l.color,
            marker: l.marker,
            line: l.line,
        })
        .collect();
    let Ok(mut legend) = vmlmap_plot::legend(&entries, grid.width()) else {
        return grid;
    };
    if cut {
        let text = format!(
            "Points more than {PANEL_DEPTH_DB} dB below the best of their panel are left out (report.md has every number)."
        );
        legend = above(&legend, &note(&text, legend.width()));
    }
    above(&grid, &legend)
}

/// `top` over `bottom` on white, left-aligned.
fn above(top: &image::RgbImage, bottom: &image::RgbImage) -> image::RgbImage {
    let mut out = image::RgbImage::from_pixel(
        top.width().max(bottom.width()),
        top.height() + bottom.height(),
        image::Rgb([255, 255, 255]),
    );
    image::imageops::replace(&mut out, top, 0, 0);
    image::imageops::replace(&mut out, bottom, 0, top.height() as i64);
    out
}

/// Scatter panels: for each case, a point per solver at (x, mean PSNR).
fn scatter(
    settings: &BenchSettings,
    records: &[RunRecord],
    x_label: &str,
    x: impl Fn(&super::stats::Cell) -> Option<f64>,
) -> image::RgbImage {
    let looks = looks(
        settings
            .solvers
            .iter()
            .map(|s| (s.label.clone(), false))
            .collect(),
    );
    shared_legend_panels(settings, &looks, x_label, |task, sy, k| {
        let c = cell(records, task, sy, &settings.solvers[k].label);
        match (x(&c), c.psnr) {
            (Some(xv), Some(p)) if xv > 0.0 => vec![(xv, p.mean)],
            _ => vec![],
        }
    })
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
    let singles: Vec<&str> = settings
        .solvers
        .iter()
        .filter(|s| s.family.is_none())
        .map(|s| s.label.as_str())
        .collect();
    let looks = looks(
        families
            .iter()
            .map(|f| (f.to_string(), true))
            .chain(singles.iter().map(|s| (s.to_string(), false)))
            .collect(),
    );
    let point = |task: &str, sy: f64, label: &str| {
        let c = cell(records, task, sy, label);
        match (c.nfe, c.vjp, c.psnr) {
            (Some(n), Some(v), Some(p)) if n.mean + v.mean > 0.0 => Some((n.mean + v.mean, p.mean)),
            _ => None,
        }
    };
    Some(shared_legend_panels(
        settings,
        &looks,
        "network passes per image (NFE + VJP)",
        |task, sy, k| match families.get(k) {
            Some(f) => {
                let mut pts: Vec<(f64, f64)> = settings
                    .solvers
                    .iter()
                    .filter(|s| s.family.as_deref() == Some(*f))
                    .filter_map(|s| point(task, sy, &s.label))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                pts
            }
            None => point(task, sy, singles[k - families.len()])
                .into_iter()
                .collect(),
        },
    ))
}

/// At most this many tasks share a bar chart (more are split over several, one under
/// the other: 13 tasks of 11 solvers side by side would be 4,500 pixels wide).
const BAR_GROUPS_PER_CHART: usize = 4;

/// Bars are cut at this PSNR: 8-bit quantisation alone limits an image file to 58.9 dB,
/// and a noise-free problem the pseudo-inverse solves exactly scores hundreds.
const BAR_CEILING_DB: f64 = 60.0;

/// The colour of a paired difference saturates at this many dB.
const PAIRED_LIMIT_DB: f64 = 3.0;

/// Every baseline against the first VML-MAP setting (the table "Every baseline against
/// ... (paired)" of the report, drawn): a row per case, a column per baseline, each cell
/// the paired PSNR difference baseline − VML-MAP, coloured (orange: the baseline ahead,
/// blue: VML-MAP ahead), framed where clear. `None` without a VML-MAP setting, another
/// solver, or a single difference to draw.
fn paired_differences(settings: &BenchSettings, records: &[RunRecord]) -> Option<image::RgbImage> {
    let (reference, others) = super::versus::reference_and_baselines(settings)?;
    let (mut rows, mut values, mut text, mut framed) = (vec![], vec![], vec![], vec![]);
    for t in &settings.tasks {
        for &sy in &settings.sigma_y {
            let d: Vec<Option<super::stats::MeanSe>> = others
                .iter()
                .map(|o| super::versus::paired_psnr(records, &t.label, sy, o, reference))
                .collect();
            if d.iter().all(Option::is_none) {
                continue;
            }
            rows.push(format!("{}, {}", t.label, noise_label(sy)));
            values.push(d.iter().map(|x| x.map_or(f64::NAN, |m| m.mean)).collect());
            text.push(
                d.iter()
                    .map(|x| x.map_or("–".to_string(), |m| format!("{:+.2}", m.mean)))
                    .collect(),
            );
            framed.push(
                d.iter()
                    .map(|x| x.is_some_and(|m| super::versus::clear(&m).is_some()))
                    .collect(),
            );
        }
    }
    if rows.is_empty() {
        return None;
    }
    Heatmap {
        title: format!("PSNR of each baseline minus {reference}'s (dB), paired over the same images"),
        row_labels: rows,
        col_labels: others.iter().map(|s| s.to_string()).collect(),
        values,
        text,
        framed,
        limit: PAIRED_LIMIT_DB,
        scale_labels: (format!("{reference} ahead"), "baseline ahead".into()),
        notes: vec![
            "Each cell: the mean over the images of the per-image difference (each image's seeds averaged first).".into(),
            format!(
                "Framed: more than {} standard errors from zero. The colour saturates at ±{PAIRED_LIMIT_DB} dB; report.md has the standard errors.",
                super::versus::CLEAR_SE
            ),
        ],
    }
    .draw()
    .ok()
}

/// Writes `psnr-vs-seconds.png`, `psnr-vs-nfe.png`, `psnr-bars.png`,
/// `paired-differences.png` (when the bench has VML-MAP and a baseline),
/// `psnr-vs-passes.png` (when variants have families) and
/// `grids/<task>.png` into `out`. Returns how many grids it drew: none when the runs'
/// output images are not in `out/outputs` (a report made from copied records), and then
/// no `grids/` folder is made.
pub fn write_figures(
    settings: &BenchSettings,
    records: &[RunRecord],
    shape: Option<Shape>,
    out: &Path,
) -> Result<usize, HarnessError> {
    save(
        &scatter(settings, records, "seconds per image", |c| {
            c.seconds.map(|m| m.mean)
        }),
        &out.join("psnr-vs-seconds.png"),
    )?;
    save(
        &scatter(settings, records, "network evaluations (NFE)", |c| {
            c.nfe.map(|m| m.mean)
        }),
        &out.join("psnr-vs-nfe.png"),
    )?;
    if let Some(img) = passes(settings, records) {
        save(&img, &out.join("psnr-vs-passes.png"))?;
    }
    if let Some(img) = paired_differences(settings, records) {
        save(&img, &out.join("paired-differences.png"))?;
    }
    let mut bars = Vec::new();
    let mut cut = false;
    for &sy in &settings.sigma_y {
        for tasks in balanced_chunks(&settings.tasks, BAR_GROUPS_PER_CHART) {
            let mut chart = BarChart::new(
                format!("Mean PSNR, {}", noise_label(sy)),
                "PSNR (dB)",
                tasks.iter().map(|t| t.label.clone()).collect(),
            );
            chart.y_floor = Some(0.0);
            chart.y_ceiling = Some(BAR_CEILING_DB);
            chart.show_legend = false;
            chart.width =
                160 + 120 * tasks.len() as u32 + 20 * (settings.solvers.len() * tasks.len()) as u32;
            let mut any = false;
            for s in &settings.solvers {
                let v: Vec<f64> = tasks
                    .iter()
                    .map(|t| {
                        cell(records, &t.label, sy, &s.label)
                            .psnr
                            .map_or(f64::NAN, |m| m.mean)
                    })
                    .collect();
                any |= v.iter().any(|x| x.is_finite());
                chart = chart.with(s.label.clone(), v);
            }
            cut |= chart.cuts_any();
            // A bench run in part (a shard, a sitting) may have no run yet at a noise
            // level: its panels are left out rather than failing the report.
            if any {
                bars.push(chart.draw().map_err(plot_err)?);
            }
        }
    }
    if !bars.is_empty() {
        save(
            &with_bar_legend(panels(&bars, 1), settings, cut),
            &out.join("psnr-bars.png"),
        )?;
    }
    let mut grids = 0;
    if let Some(shape) = shape {
        let dir = out.join("grids");
        for t in &settings.tasks {
            if let Some(g) = grid(settings, records, shape, out, &t.label)? {
                std::fs::create_dir_all(&dir).map_err(|e| HarnessError::Io {
                    path: dir.display().to_string(),
                    source: e.into(),
                })?;
                save(&g, &dir.join(format!("{}.png", t.label)))?;
                grids += 1;
            }
        }
    }
    Ok(grids)
}

/// The bar panels over one legend of the solvers, in the bars' colours (a legend inside
/// a panel would hide its tallest bars), and a line on the cut bars when there are any.
fn with_bar_legend(bars: image::RgbImage, settings: &BenchSettings, cut: bool) -> image::RgbImage {
    let entries: Vec<vmlmap_plot::LegendEntry> = settings
        .solvers
        .iter()
        .enumerate()
        .map(|(k, s)| vmlmap_plot::LegendEntry {
            name: s.label.clone(),
            color: vmlmap_plot::bar_colour(k),
            marker: vmlmap_plot::Marker::Square,
            line: false,
        })
        .collect();
    let Ok(mut legend) = vmlmap_plot::legend(&entries, bars.width()) else {
        return bars;
    };
    if cut {
        legend = above(
            &legend,
            &note(&format!(
                "Bars above {BAR_CEILING_DB} dB (past what an 8-bit image holds, 58.9 dB) or at 0 dB and below are cut; their value is written on them."
            ), legend.width()),
        );
    }
    above(&bars, &legend)
}

/// `items` split in order into the fewest chunks of at most `max` items, their sizes
/// differing by at most one (13 tasks by 4: 4, 3, 3, 3, not 4, 4, 4, 1).
fn balanced_chunks<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let k = items.len().div_ceil(max.max(1));
    let mut out = Vec::with_capacity(k);
    let mut rest = items;
    for i in 0..k {
        let size = rest.len().div_ceil(k - i);
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

/// A line of text on white, `width` pixels wide.
fn note(text: &str, width: u32) -> image::RgbImage {
    let w = width.max(vmlmap_plot::text_width(text, 13) + 20);
    let mut img = image::RgbImage::from_pixel(w, 22, image::Rgb([255, 255, 255]));
    vmlmap_plot::draw_text(&mut img, text, 10, 3, 13);
    img
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
        let (data, s) = vmlmap_io::read_array(p, Some(shape), false).ok()?;
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

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
