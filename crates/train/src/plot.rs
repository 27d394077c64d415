//! The loss-curve PNG of the model card: the per-step training loss (light) and its
//! running mean (dark) against the step, on a log10 loss axis with labelled axes, tick
//! values and a legend (drawn by `vmlmap-plot`); and the held-out denoising loss, one line
//! per noise level, against the step.

use vmlmap_plot::{LineChart, PlotError, Series, Style};

/// The running mean's weight on the past (the same smoothing `vmlmap train` prints).
const SMOOTHING: f64 = 0.98;

/// Draws `losses` (step, loss) into a `w x h` image.
pub fn loss_curve(losses: &[(u64, f32)], w: u32, h: u32) -> Result<image::RgbImage, PlotError> {
    let pts: Vec<(f64, f64)> = losses
        .iter()
        .filter(|(_, l)| *l > 0.0 && l.is_finite())
        .map(|(s, l)| (*s as f64, *l as f64))
        .collect();
    let mut mean = Vec::with_capacity(pts.len());
    let mut avg = pts.first().map_or(0.0, |p| p.1.ln());
    for &(s, l) in &pts {
        avg = SMOOTHING * avg + (1.0 - SMOOTHING) * l.ln();
        mean.push((s, avg.exp()));
    }
    let mut chart = LineChart::new("training loss (DDPM epsilon MSE)", "step", "loss")
        .with(Series::new("per step", pts, Style::Line).color((170, 190, 235)))
        .with(Series::new("running mean", mean, Style::Line).color((20, 50, 160)));
    chart.log_y = true;
    chart.width = w;
    chart.height = h;
    chart.draw()
}

/// Draws the held-out MSE of D against the clean image, `(step, [(sigma, mse)])` as
/// measured during training, one line with markers per σ (the chart's palette, in
/// increasing σ), on a log10 axis.
pub fn held_out_curve(
    held_out: &[(u64, Vec<(f64, f64)>)],
    w: u32,
    h: u32,
) -> Result<image::RgbImage, PlotError> {
    let mut sigmas: Vec<f64> = held_out
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.0))
        .collect();
    sigmas.sort_by(f64::total_cmp);
    sigmas.dedup();
    let mut chart = LineChart::new(
        "held-out denoising loss (MSE of D against the clean image)",
        "step",
        "MSE",
    );
    for &sigma in &sigmas {
        let pts: Vec<(f64, f64)> = held_out
            .iter()
            .filter_map(|(step, v)| {
                v.iter()
                    .find(|p| p.0 == sigma && p.1 > 0.0 && p.1.is_finite())
                    .map(|p| (*step as f64, p.1))
            })
            .collect();
        chart = chart.with(Series::new(format!("σ = {sigma}"), pts, Style::LineMarkers));
    }
    chart.log_y = true;
    chart.width = w;
    chart.height = h;
    chart.draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_curves_with_axes() {
        let losses: Vec<(u64, f32)> = (1..200).map(|s| (s, 1.0 / s as f32)).collect();
        let img = loss_curve(&losses, 640, 280).unwrap();
        let dark = img.pixels().filter(|p| p.0 == [20, 50, 160]).count();
        let light = img.pixels().filter(|p| p.0 == [170, 190, 235]).count();
        assert!(dark > 100 && light > 100, "{dark} {light}");
        assert!(loss_curve(&[], 640, 280).is_err());
    }

    #[test]
    fn draws_one_line_per_sigma() {
        let held: Vec<(u64, Vec<(f64, f64)>)> = (1..6)
            .map(|k| {
                let v = [0.05, 0.2, 5.0]
                    .iter()
                    .map(|&s| (s, s / (k as f64 * 10.0)))
                    .collect();
                (k * 1000, v)
            })
            .collect();
        let img = held_out_curve(&held, 640, 320).unwrap();
        use vmlmap_plot::chart::PALETTE;
        for c in &PALETTE[..3] {
            let n = img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
            assert!(n > 50, "{c:?}: {n}");
        }
        // The fourth colour is not drawn: three noise levels, three lines.
        let c = PALETTE[3];
        assert_eq!(img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count(), 0);
        assert!(held_out_curve(&[], 640, 320).is_err());
    }
}
