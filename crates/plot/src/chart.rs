//! Line and scatter charts with labelled axes, tick values and a legend.

use crate::PlotError;
use plotters::prelude::*;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Points joined by lines.
    Line,
    /// Points joined by lines, with a marker at each.
    LineMarkers,
    /// Markers only (one point per solver, for example).
    Markers,
}

/// The shape drawn at each point (and in the legend swatch), so that more series than
/// the palette has colours stay apart: colour and shape together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

/// The markers in the order [`style_for`] hands them out.
pub const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Triangle,
    Marker::Square,
    Marker::Cross,
];

/// Colour and marker of the `k`-th series of a figure: the palette's ten colours with
/// circles, then again with triangles, squares and crosses (40 distinct series).
pub fn style_for(k: usize) -> ((u8, u8, u8), Marker) {
    (
        PALETTE[k % PALETTE.len()],
        MARKERS[(k / PALETTE.len()) % MARKERS.len()],
    )
}

/// One named series of `(x, y)` points.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
    /// `None`: the next colour of the palette.
    pub color: Option<(u8, u8, u8)>,
    /// `None`: a circle.
    pub marker: Option<Marker>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, style: Style) -> Self {
        Self {
            name: name.into(),
            points,
            style,
            color: None,
            marker: None,
        }
    }

    pub fn color(mut self, rgb: (u8, u8, u8)) -> Self {
        self.color = Some(rgb);
        self
    }

    pub fn marker(mut self, m: Marker) -> Self {
        self.marker = Some(m);
        self
    }
}

/// A chart: title, axis labels, series; `log_x` / `log_y` draw that axis in log10.
#[derive(Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_x: bool,
    pub log_y: bool,
    pub width: u32,
    pub height: u32,
    /// Where the legend sits (upper right by default; lower right keeps it off the
    /// cheap-and-good and costly-and-good corners of a quality-against-cost scatter).
    pub legend: SeriesLabelPosition,
    /// Draw the legend inside the chart (default); off when several panels share one
    /// [`legend`] drawn beside them.
    pub show_legend: bool,
    /// Lower end of the y axis: points below it are left out (so that one collapsed
    /// result does not squash the others into a line). `None`: the data's range.
    pub y_floor: Option<f64>,
}

/// A tick value without trailing zeros: `10`, `0.25`, `1.5e-3`, `2e+04`.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let s = if (1e-3..1e5).contains(&a) {
        format!("{v:.4}")
    } else {
        return format!("{v:.1e}").replace(".0e", "e");
    };
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A palette that stays distinguishable in print (Tableau 10).
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

impl LineChart {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            log_x: false,
            log_y: false,
            width: 800,
            height: 480,
            legend: SeriesLabelPosition::UpperRight,
            show_legend: true,
            y_floor: None,
        }
    }

    pub fn with(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    /// The data range of one coordinate over every finite point (positive only on a log
    /// axis), widened a little so that no point sits on the frame.
    fn range(&self, pick: impl Fn(&(f64, f64)) -> f64, log: bool) -> Option<(f64, f64)> {
        let v: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| self.shown(p)).map(&pick))
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            return None;
        }
        Some(if log {
            let (a, b) = (lo.log10(), hi.log10());
            let pad = ((b - a) * 0.05).max(0.05);
            (10f64.powf(a - pad), 10f64.powf(b + pad))
        } else {
            let pad = ((hi - lo) * 0.05).max(hi.abs().max(1.0) * 1e-3);
            (lo - pad, hi + pad)
        })
    }

    /// Whether a point is above the y floor.
    fn shown(&self, p: &(f64, f64)) -> bool {
        self.y_floor.is_none_or(|f| p.1 >= f)
    }

    /// Draws the chart.
    pub fn draw(&self) -> Result<image::RgbImage, PlotError> {
        crate::fonts();
        let err = |e: String| PlotError::Draw {
            title: self.title.clone(),
            reason: e,
        };
        let (w, h) = (self.width, self.height);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        let (x0, x1) = self
            .range(|p| p.0, self.log_x)
            .ok_or_else(|| err("no finite point to draw".into()))?;
        let (y0, y1) = self
            .range(|p| p.1, self.log_y)
            .ok_or_else(|| err("no finite point to draw".into()))?;
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
            let mut cb = ChartBuilder::on(&root);
            cb.caption(&self.title, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(42)
                .y_label_area_size(64);
            // One code path for the four axis kinds.
            macro_rules! body {
                ($chart:expr) => {{
                    let mut chart = $chart.map_err(|e| err(e.to_string()))?;
                    chart
                        .configure_mesh()
                        .x_desc(self.x_label.as_str())
                        .y_desc(self.y_label.as_str())
                        .label_style(("sans-serif", 13))
                        .axis_desc_style(("sans-serif", 15))
                        .light_line_style(RGBColor(235, 235, 235))
                        .x_labels(if self.log_x { 6 } else { 10 })
                        .x_label_formatter(&|v| tick(*v))
                        .y_label_formatter(&|v| tick(*v))
                        .draw()
                        .map_err(|e| err(e.to_string()))?;
                    for (k, s) in self.series.iter().enumerate() {
                        let (r, g, b) = s.color.unwrap_or(PALETTE[k % PALETTE.len()]);
                        let color = RGBColor(r, g, b);
                        let marker = s.marker.unwrap_or(Marker::Circle);
                        let pts: Vec<(f64, f64)> = s
                            .points
                            .iter()
                            .copied()
                            .filter(|p| p.0.is_finite() && p.1.is_finite() && self.shown(p))
                            .filter(|p| (!self.log_x || p.0 > 0.0) && (!self.log_y || p.1 > 0.0))
                            .collect();
                        if s.style != Style::Markers {
                            chart
                                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                                .map_err(|e| err(e.to_string()))?;
                        }
                        let anno = match (s.style, marker) {
                            (Style::Line, _) => {
                                chart.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                            }
                            (_, Marker::Circle) => chart.draw_series(
                                pts.iter().map(|&p| Circle::new(p, 4, color.filled())),
                            ),
                            (_, Marker::Triangle) => chart.draw_series(
                                pts.iter()
                                    .map(|&p| TriangleMarker::new(p, 5, color.filled())),
                            ),
                            (_, Marker::Square) => chart.draw_series(pts.iter().map(|&p| {
                                EmptyElement::at(p)
                                    + Rectangle::new([(-4, -4), (4, 4)], color.filled())
                            })),
                            (_, Marker::Cross) => chart.draw_series(
                                pts.iter().map(|&p| Cross::new(p, 4, color.stroke_width(2))),
                            ),
                        }
                        .map_err(|e| err(e.to_string()))?;
                        anno.label(s.name.as_str()).legend(move |(x, y)| {
                            Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled())
                        });
                    }
                    if self.show_legend
                        && (self.series.len() > 1 || self.series.iter().any(|s| !s.name.is_empty()))
                    {
                        chart
                            .configure_series_labels()
                            .label_font(("sans-serif", 13))
                            .background_style(WHITE.mix(0.85))
                            .border_style(RGBColor(180, 180, 180))
                            .position(self.legend.clone())
                            .draw()
                            .map_err(|e| err(e.to_string()))?;
                    }
                }};
            }
            match (self.log_x, self.log_y) {
                (false, false) => body!(cb.build_cartesian_2d(x0..x1, y0..y1)),
                (true, false) => body!(cb.build_cartesian_2d((x0..x1).log_scale(), y0..y1)),
                (false, true) => body!(cb.build_cartesian_2d(x0..x1, (y0..y1).log_scale())),
                (true, true) => {
                    body!(cb.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale()))
                }
            }
            root.present().map_err(|e| err(e.to_string()))?;
        }
        image::RgbImage::from_raw(w, h, buf).ok_or_else(|| err("buffer size".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dark(img: &image::RgbImage, x: std::ops::Range<u32>, y: std::ops::Range<u32>) -> usize {
        let mut n = 0;
        for i in x {
            for j in y.clone() {
                let p = img.get_pixel(i, j).0;
                n += usize::from(p.iter().all(|&c| c < 120));
            }
        }
        n
    }

    #[test]
    fn draws_series_with_labelled_axes_and_legend() {
        let pts: Vec<(f64, f64)> = (1..100).map(|s| (s as f64, 1.0 / s as f64)).collect();
        let chart = LineChart::new("training loss", "step", "loss")
            .with(Series::new("per step", pts.clone(), Style::Line))
            .with(Series::new("mean", pts, Style::LineMarkers));
        let mut log = chart.clone();
        log.log_y = true;
        for c in [chart, log] {
            let img = c.draw().unwrap();
            assert_eq!(img.dimensions(), (800, 480));
            // Text (title, tick values, axis names) is dark ink: in the title band, in the
            // y tick column and under the x axis.
            assert!(dark(&img, 300..500, 0..30) > 50, "title");
            assert!(dark(&img, 0..70, 40..440) > 100, "y ticks and label");
            assert!(dark(&img, 80..780, 440..480) > 100, "x ticks and label");
            // Both palette colours appear.
            let has = |rgb: [u8; 3]| img.pixels().any(|p| p.0 == rgb);
            assert!(has([31, 119, 180]) && has([255, 127, 14]));
        }
    }

    #[test]
    fn the_y_floor_leaves_out_low_points_and_markers_keep_their_colour() {
        let (c2, m2) = style_for(12);
        assert_eq!(m2, Marker::Triangle);
        let chart = |floor: Option<f64>| {
            let mut c = LineChart::new("psnr", "passes", "dB")
                .with(Series::new(
                    "good",
                    vec![(10.0, 20.0), (100.0, 21.0)],
                    Style::LineMarkers,
                ))
                .with(
                    Series::new("collapsed", vec![(50.0, -84.0)], Style::Markers)
                        .color(c2)
                        .marker(m2),
                );
            c.y_floor = floor;
            c.show_legend = false;
            c.draw().unwrap()
        };
        let has = |img: &image::RgbImage| img.pixels().any(|p| p.0 == [c2.0, c2.1, c2.2]);
        assert!(has(&chart(None)), "the triangle is drawn in its colour");
        assert!(!has(&chart(Some(15.0))), "below the floor: left out");
    }

    #[test]
    fn ticks_drop_trailing_zeros() {
        assert_eq!(tick(10.0), "10");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(-3.5), "-3.5");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(20000.0), "20000");
        assert_eq!(tick(2e6), "2e6");
    }

    #[test]
    fn nothing_to_draw_is_an_error() {
        let c = LineChart::new("empty", "x", "y").with(Series::new(
            "nan",
            vec![(f64::NAN, 1.0)],
            Style::Line,
        ));
        assert!(c
            .draw()
            .unwrap_err()
            .to_string()
            .contains("no finite point"));
    }
}
