//! The loss-curve PNG of the model card: the per-step training loss (light) and its
//! running mean (dark) against the step, on a log10 loss axis with labelled axes, tick
//! values and a legend (drawn by `vmlmap-plot`); and the held-out denoising loss, one line
//! per noise level, against the step, with (given a reference model's held-out loss on
//! the same images) a second panel of the ratio to the reference.

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
    let sigmas = sigmas_of(held_out);
    let mut chart = LineChart::new(
        "held-out denoising loss (MSE of D against the clean image)",
        "step",
        "MSE",
    );
    for &sigma in &sigmas {
        let pts = points_at(held_out, sigma);
        chart = chart.with(Series::new(format!("σ = {sigma}"), pts, Style::LineMarkers));
    }
    chart.log_y = true;
    chart.width = w;
    chart.height = h;
    chart.draw()
}

/// The reference line's colour: a blue-grey no antialiased black text produces.
const REFERENCE_COLOR: (u8, u8, u8) = (125, 125, 150);

/// Another model's held-out loss on the same images and noise (`vmlmap models eval
/// --json`), drawn as the ratio panel's baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOutReference {
    /// What the legend calls it (e.g. "shipped prior").
    pub name: String,
    /// `(sigma, mse)` per noise level.
    pub mse: Vec<(f64, f64)>,
}

/// The held-out figure: [`held_out_curve`] and, with a reference, below it the ratio of
/// each σ's MSE to the reference's (one line per σ in the same colours, and the
/// reference as a blue-grey line at 1), so that "below the reference at every σ" can be read
/// off. Noise levels the reference lacks are left out of the ratio panel.
pub fn held_out_figure(
    held_out: &[(u64, Vec<(f64, f64)>)],
    reference: Option<&HeldOutReference>,
    w: u32,
    h: u32,
) -> Result<image::RgbImage, PlotError> {
    let absolute = held_out_curve(held_out, w, h)?;
    let Some(reference) = reference else {
        return Ok(absolute);
    };
    let mut chart = LineChart::new(
        format!("held-out MSE relative to the {}", reference.name),
        "step",
        format!("MSE / {}", reference.name),
    );
    // `held_out_curve` has refused an empty history, so both ends exist.
    let step_at = |m: Option<&(u64, Vec<(f64, f64)>)>| m.map_or(0.0, |m| m.0 as f64);
    let (first, last) = (step_at(held_out.first()), step_at(held_out.last()));
    for (k, sigma) in sigmas_of(held_out).into_iter().enumerate() {
        let Some(base) = reference
            .mse
            .iter()
            .find(|p| p.0 == sigma && p.1 > 0.0)
            .map(|p| p.1)
        else {
            continue;
        };
        let pts = points_at(held_out, sigma)
            .into_iter()
            .map(|(s, m)| (s, m / base))
            .collect();
        let (color, marker) = vmlmap_plot::chart::style_for(k);
        chart = chart.with(
            Series::new(format!("σ = {sigma}"), pts, Style::LineMarkers)
                .color(color)
                .marker(marker),
        );
    }
    chart = chart.with(
        Series::new(
            reference.name.clone(),
            vec![(first, 1.0), (last, 1.0)],
            Style::Line,
        )
        .color(REFERENCE_COLOR),
    );
    chart.width = w;
    chart.height = h;
    let ratio = chart.draw()?;
    Ok(vmlmap_plot::panels(&[absolute, ratio], 1))
}

/// The noise levels measured, increasing.
fn sigmas_of(held_out: &[(u64, Vec<(f64, f64)>)]) -> Vec<f64> {
    let mut sigmas: Vec<f64> = held_out
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.0))
        .collect();
    sigmas.sort_by(f64::total_cmp);
    sigmas.dedup();
    sigmas
}

/// `(step, mse)` at one noise level, over the measurements that have it.
fn points_at(held_out: &[(u64, Vec<(f64, f64)>)], sigma: f64) -> Vec<(f64, f64)> {
    held_out
        .iter()
        .filter_map(|(step, v)| {
            v.iter()
                .find(|p| p.0 == sigma && p.1 > 0.0 && p.1.is_finite())
                .map(|p| (*step as f64, p.1))
        })
        .collect()
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

    #[test]
    fn the_reference_adds_a_ratio_panel() {
        let held: Vec<(u64, Vec<(f64, f64)>)> = (1..6)
            .map(|k| {
                (
                    k * 1000,
                    vec![(0.05, 1e-3 / k as f64), (0.2, 1e-2 / k as f64)],
                )
            })
            .collect();
        let alone = held_out_figure(&held, None, 640, 320).unwrap();
        assert_eq!(alone.dimensions(), (640, 320));
        let reference = HeldOutReference {
            name: "old prior".into(),
            mse: vec![(0.05, 5e-4), (0.2, 5e-3)],
        };
        let both = held_out_figure(&held, Some(&reference), 640, 320).unwrap();
        assert_eq!(both.dimensions(), (640, 640));
        // The lower panel draws the reference line, the upper one does not.
        let grey = |img: &image::RgbImage, y0: u32| {
            (y0..y0 + 320)
                .flat_map(|y| (0..640).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    img.get_pixel(x, y).0
                        == [REFERENCE_COLOR.0, REFERENCE_COLOR.1, REFERENCE_COLOR.2]
                })
                .count()
        };
        assert_eq!(grey(&both, 0), 0);
        assert!(grey(&both, 320) > 100, "{}", grey(&both, 320));
        assert!(held_out_figure(&[], Some(&reference), 640, 320).is_err());
    }
}
