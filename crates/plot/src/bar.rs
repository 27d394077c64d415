//! Grouped bar charts (one group per task, one bar per solver) and panels: several
//! figures pasted side by side into one image.

use crate::chart::PALETTE;
use crate::text::{draw_text, text_width};
use crate::PlotError;
use image::{Rgb, RgbImage};
use plotters::prelude::*;

/// Bars in groups: `values[s][g]` is series `s` in group `g` (`NaN`: no bar).
#[derive(Clone, Debug)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    pub series: Vec<String>,
    pub values: Vec<Vec<f64>>,
    pub width: u32,
    pub height: u32,
    /// The axis starts no lower than this (bars below it are not drawn: a PSNR of -80 dB
    /// from an unregularised inverse would flatten every other bar).
    pub y_floor: Option<f64>,
    /// The axis ends no higher than this: taller bars are drawn to it, broken by a white
    /// gap under the top, with their value written in them (a noise-free problem that the
    /// pseudo-inverse solves exactly scores hundreds of dB and would flatten every other
    /// bar). Bars below `y_floor` likewise get their value written above the axis.
    pub y_ceiling: Option<f64>,
    /// Draw the legend inside the chart (upper right). Off when several charts share one
    /// legend drawn under them, or when tall bars would hide behind it.
    pub show_legend: bool,
}

const GROUP_LABEL_PX: u32 = 14;
const CUT_LABEL_PX: f64 = 12.0;

impl BarChart {
    pub fn new(title: impl Into<String>, y_label: impl Into<String>, groups: Vec<String>) -> Self {
        Self {
            title: title.into(),
            y_label: y_label.into(),
            groups,
            series: Vec::new(),
            values: Vec::new(),
            width: 900,
            height: 480,
            y_floor: None,
            y_ceiling: None,
            show_legend: true,
        }
    }

    /// Adds a series with one value per group.
    pub fn with(mut self, name: impl Into<String>, values: Vec<f64>) -> Self {
        self.series.push(name.into());
        self.values.push(values);
        self
    }

    /// Whether any bar is cut: above `y_ceiling`, or at or below `y_floor`.
    pub fn cuts_any(&self) -> bool {
        let floor = self.y_floor.unwrap_or(f64::NEG_INFINITY);
        let ceiling = self.y_ceiling.unwrap_or(f64::INFINITY);
        self.values
            .iter()
            .flatten()
            .any(|v| v.is_finite() && (*v > ceiling || *v <= floor))
    }

    /// The y range: from a little below the smallest value (bars of PSNR differ by a few
    /// dB, which a zero baseline would hide) to a little above the largest.
    fn y_range(&self) -> Option<(f64, f64)> {
        let floor = self.y_floor.unwrap_or(f64::NEG_INFINITY);
        let ceiling = self.y_ceiling.unwrap_or(f64::INFINITY);
        let v: Vec<f64> = self
            .values
            .iter()
            .flatten()
            .map(|v| v.min(ceiling))
            .filter(|v| v.is_finite() && *v > floor)
            .collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            return None;
        }
        let pad = ((hi - lo) * 0.1).max(0.5);
        Some(((lo - 2.0 * pad).floor().max(floor), (hi + pad).min(ceiling)))
    }

    /// Draws the chart: the groups along x (named under the axis), a bar per series in
    /// each, a legend.
    pub fn draw(&self) -> Result<RgbImage, PlotError> {
        crate::fonts();
        let err = |e: String| PlotError::Draw {
            title: self.title.clone(),
            reason: e,
        };
        if self.values.iter().any(|v| v.len() != self.groups.len()) {
            return Err(err(format!(
                "every series needs one value per group ({})",
                self.groups.len()
            )));
        }
        let (y0, y1) = self
            .y_range()
            .ok_or_else(|| err("no finite value to draw".into()))?;
        let (w, h) = (self.width, self.height);
        let g = self.groups.len() as f64;
        let s = self.series.len().max(1) as f64;
        let mut buf = vec![255u8; (w * h * 3) as usize];
        let mut label_at = Vec::new();
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(64)
                .build_cartesian_2d(0.0..g, y0..y1)
                .map_err(|e| err(e.to_string()))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_desc(self.y_label.as_str())
                .label_style(("sans-serif", 13))
                .axis_desc_style(("sans-serif", 15))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            let bar = 0.8 / s;
            // Series k's bar in group i: its left edge and its width.
            let left = |i: usize, k: usize| i as f64 + 0.1 + k as f64 * bar;
            let width = bar * 0.92;
            let cut_label = ("sans-serif", CUT_LABEL_PX)
                .into_font()
                .transform(FontTransform::Rotate270)
                .color(&BLACK);
            let mut cuts = Vec::new();
            for (k, (name, vals)) in self.series.iter().zip(&self.values).enumerate() {
                let (r, gg, b) = bar_colour(k);
                let color = RGBColor(r, gg, b);
                let rects = vals
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite() && **v > y0)
                    .map(|(i, &v)| {
                        let x = left(i, k);
                        Rectangle::new([(x, y0), (x + width, v.min(y1))], color.filled())
                    });
                chart
                    .draw_series(rects)
                    .map_err(|e| err(e.to_string()))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled())
                    });
                for (i, &v) in vals.iter().enumerate() {
                    if v.is_finite() && (v > y1 || v <= y0) {
                        cuts.push((left(i, k), v));
                    }
                }
            }
            // Bars past the axis: a white gap under the top of a cut tall bar, and each
            // one's value written upwards from near its foot.
            let span = y1 - y0;
            for &(x, v) in &cuts {
                if v > y1 {
                    let gap = [(x, y1 - 0.05 * span), (x + width, y1 - 0.035 * span)];
                    chart
                        .draw_series(std::iter::once(Rectangle::new(gap, WHITE.filled())))
                        .map_err(|e| err(e.to_string()))?;
                }
                let text = format!("{v:.1}");
                chart
                    .draw_series(std::iter::once(Text::new(
                        text,
                        (x + width / 2.0, y0 + 0.02 * span),
                        cut_label.clone(),
                    )))
                    .map_err(|e| err(e.to_string()))?;
            }
            if self.show_legend {
                chart
                    .configure_series_labels()
                    .label_font(("sans-serif", 13))
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(|e| err(e.to_string()))?;
            }
            for (i, name) in self.groups.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(i as f64 + 0.5, y0));
                label_at.push((name.clone(), px, py));
            }
            root.present().map_err(|e| err(e.to_string()))?;
        }
        let mut img = RgbImage::from_raw(w, h, buf).ok_or_else(|| err("buffer size".into()))?;
        for (name, px, py) in label_at {
            let tw = text_width(&name, GROUP_LABEL_PX) as i32;
            draw_text(&mut img, &name, px - tw / 2, py + 6, GROUP_LABEL_PX);
        }
        Ok(img)
    }
}

/// Series `k`'s colour: the palette, and past its end the palette again darker each
/// round (a bar has no marker to tell two series of one colour apart: the report's bench
/// of every solver has 11).
pub fn bar_colour(k: usize) -> (u8, u8, u8) {
    let (r, g, b) = PALETTE[k % PALETTE.len()];
    let round = (k / PALETTE.len()) as i32;
    let f = 0.55f64.powi(round);
    let dark = |c: u8| (c as f64 * f).round() as u8;
    (dark(r), dark(g), dark(b))
}

/// Figures pasted `cols` per line on white, in order (each cell as large as the largest).
pub fn panels(figures: &[RgbImage], cols: usize) -> RgbImage {
    let cols = cols.clamp(1, figures.len().max(1));
    let cw = figures.iter().map(|f| f.width()).max().unwrap_or(1);
    let ch = figures.iter().map(|f| f.height()).max().unwrap_or(1);
    let rows = figures.len().div_ceil(cols).max(1);
    let mut out = RgbImage::from_pixel(cw * cols as u32, ch * rows as u32, Rgb([255, 255, 255]));
    for (i, f) in figures.iter().enumerate() {
        let (x, y) = ((i % cols) as u32 * cw, (i / cols) as u32 * ch);
        image::imageops::replace(&mut out, f, x as i64, y as i64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_drawn_in_each_series_colour_and_groups_named() {
        let chart = BarChart::new(
            "PSNR",
            "PSNR (dB)",
            vec!["sr4".into(), "inpaint-box".into()],
        )
        .with("pinv", vec![18.0, 12.0])
        .with("vml-map", vec![20.0, 17.5]);
        assert!(!chart.cuts_any());
        let img = chart.draw().unwrap();
        let count = |rgb: [u8; 3]| img.pixels().filter(|p| p.0 == rgb).count();
        // Two bars each (plus a legend swatch), the taller series with more ink.
        let (a, b) = (count([31, 119, 180]), count([255, 127, 14]));
        assert!(a > 1000 && b > a, "{a} {b}");
        // Group names under the axis: dark ink in the bottom band.
        let ink = (0..img.width())
            .flat_map(|x| (img.height() - 45..img.height()).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 100)
            .count();
        assert!(ink > 100, "{ink}");
        let bad = BarChart::new("t", "y", vec!["a".into()]).with("s", vec![1.0, 2.0]);
        assert!(bad.draw().is_err());
    }

    /// A bar past the ceiling is drawn to the top of the axis, which ends there, and not
    /// beyond; one under the floor is not drawn; both have their value written.
    #[test]
    fn bars_past_the_axis_are_cut_and_labelled() {
        let chart = |ceiling: Option<f64>| {
            let mut c = BarChart::new("PSNR", "PSNR (dB)", vec!["denoise".into(), "deblur".into()])
                .with("pinv", vec![160.0, -84.0])
                .with("vml-map", vec![40.0, 24.0]);
            c.y_floor = Some(0.0);
            c.y_ceiling = ceiling;
            c
        };
        let cut = chart(Some(60.0));
        assert!(cut.cuts_any());
        assert_eq!(cut.y_range().unwrap().1, 60.0);
        let img = cut.draw().unwrap();
        let blue = |img: &RgbImage| img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        let orange = |img: &RgbImage| img.pixels().filter(|p| p.0 == [255, 127, 14]).count();
        // Uncut, the axis goes from 0 to past 160 dB: the blue bar (160) has 2.5 times the
        // ink of the two orange ones (40 and 24). Cut at 60 dB, the axis runs from about
        // 16 dB to 60: blue 44 dB of bar against orange 24 + 8, about 1.4 times.
        let whole = chart(None);
        // (Still cut: the -84 dB bar under the floor.)
        assert!(whole.cuts_any());
        assert!(whole.y_range().unwrap().1 > 160.0);
        let whole = whole.draw().unwrap();
        assert!(
            blue(&whole) > 9 * orange(&whole) / 4,
            "{} {}",
            blue(&whole),
            orange(&whole)
        );
        assert!(
            blue(&img) < 8 * orange(&img) / 5,
            "{} {}",
            blue(&img),
            orange(&img)
        );
        // The cut bar's value is written in it: black text antialiased over the blue,
        // which leaves darkened blues no uncut chart has (a bar has no text on it).
        let on_blue = |img: &RgbImage| {
            img.pixels()
                .filter(|p| {
                    let [r, g, b] = p.0;
                    r < 25 && g < 100 && b < 160 && b > g && g > r
                })
                .count()
        };
        assert!(on_blue(&img) > 20, "{}", on_blue(&img));
        assert_eq!(on_blue(&whole), 0);
    }

    /// Eleven series (pinv … vml-map-plain) get eleven colours.
    #[test]
    fn series_past_the_palette_get_colours_of_their_own() {
        let c: Vec<(u8, u8, u8)> = (0..25).map(bar_colour).collect();
        for i in 0..c.len() {
            for j in 0..i {
                assert_ne!(c[i], c[j], "series {i} and {j}");
            }
        }
        assert_eq!(c[0], PALETTE[0]);
    }

    #[test]
    fn panels_paste_in_reading_order() {
        let a = RgbImage::from_pixel(10, 5, Rgb([0, 0, 0]));
        let b = RgbImage::from_pixel(8, 6, Rgb([9, 9, 9]));
        let p = panels(&[a.clone(), b, a], 2);
        assert_eq!(p.dimensions(), (20, 12));
        assert_eq!(p.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(p.get_pixel(10, 0).0, [9, 9, 9]);
        assert_eq!(p.get_pixel(19, 0).0, [255, 255, 255]);
        assert_eq!(p.get_pixel(0, 6).0, [0, 0, 0]);
    }
}
