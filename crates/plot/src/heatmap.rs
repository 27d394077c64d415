//! A table drawn as an image: a labelled row per case and column per series, each cell
//! coloured by a signed value on a diverging scale (blue below zero, orange above, white
//! at zero, full colour at `±limit` and beyond) with its text written in it, chosen cells
//! framed. The bench report draws every baseline's paired PSNR difference to VML-MAP with
//! it, where a bar chart of 26 cases × 11 solvers would be unreadable.

use crate::PlotError;
use image::{Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The table: `values[r][c]` colours the cell of row `r`, column `c` (`NaN`: no value, a
/// grey cell), `text[r][c]` is written in it, `framed[r][c]` draws a frame round it.
#[derive(Clone, Debug)]
pub struct Heatmap {
    pub title: String,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    pub values: Vec<Vec<f64>>,
    pub text: Vec<Vec<String>>,
    pub framed: Vec<Vec<bool>>,
    /// The value at which the colour saturates (both signs).
    pub limit: f64,
    /// What the two ends of the scale mean, written under the colour bar: (below zero,
    /// above zero).
    pub scale_labels: (String, String),
    /// Lines written under the table (what the frame means, units).
    pub notes: Vec<String>,
}

/// The colour at the negative end of the scale.
pub const NEGATIVE: (u8, u8, u8) = (92, 150, 210);
/// The colour at the positive end.
pub const POSITIVE: (u8, u8, u8) = (240, 128, 60);
/// The colour of a cell without a value.
pub const MISSING: (u8, u8, u8) = (225, 225, 225);

const FONT: u32 = 13;
const TITLE: u32 = 17;
const CELL_H: u32 = 24;
const PAD: u32 = 10;

/// `v` on the diverging scale saturating at `limit`: white at 0, [`NEGATIVE`] at
/// `-limit` and below, [`POSITIVE`] at `limit` and above; [`MISSING`] for NaN.
pub fn diverging(v: f64, limit: f64) -> (u8, u8, u8) {
    if v.is_nan() {
        return MISSING;
    }
    let t = (v.abs() / limit).min(1.0);
    let end = if v < 0.0 { NEGATIVE } else { POSITIVE };
    let mix = |c: u8| (255.0 + (c as f64 - 255.0) * t).round() as u8;
    (mix(end.0), mix(end.1), mix(end.2))
}

/// Whether `m` is `r` rows of `c` cells.
fn shaped<T>(m: &[Vec<T>], r: usize, c: usize) -> bool {
    m.len() == r && m.iter().all(|row| row.len() == c)
}

impl Heatmap {
    fn check(&self) -> Result<(), String> {
        let (r, c) = (self.row_labels.len(), self.col_labels.len());
        if r == 0 || c == 0 {
            return Err("no rows or no columns".into());
        }
        if !shaped(&self.values, r, c) || !shaped(&self.text, r, c) || !shaped(&self.framed, r, c) {
            return Err(format!(
                "values, text and frames must each be {r} rows of {c} cells"
            ));
        }
        if !(self.limit > 0.0 && self.limit.is_finite()) {
            return Err(format!(
                "the colour limit must be positive, not {}",
                self.limit
            ));
        }
        Ok(())
    }

    /// Draws the table: the title, the column labels over the columns, the row labels
    /// left of the rows, the cells, then a colour bar with its end labels and the notes.
    pub fn draw(&self) -> Result<RgbImage, PlotError> {
        crate::fonts();
        let err = |reason: String| PlotError::Draw {
            title: self.title.clone(),
            reason,
        };
        self.check().map_err(err)?;
        let l = self.layout();
        let mut img = RgbImage::from_pixel(l.w, l.h, Rgb([255, 255, 255]));
        self.paint(&mut img, &l);
        let texts = self.texts(&l);
        {
            let buf: &mut [u8] = img.as_mut();
            let root = BitMapBackend::with_buffer(buf, (l.w, l.h)).into_drawing_area();
            for (t, x, y, size, hpos) in &texts {
                let style = ("sans-serif", *size as f64)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(*hpos, VPos::Center));
                root.draw_text(t, &style, (*x, *y))
                    .map_err(|e| err(e.to_string()))?;
            }
            root.present().map_err(|e| err(e.to_string()))?;
        }
        Ok(img)
    }

    /// Where everything goes.
    fn layout(&self) -> Layout {
        let tw = |s: &str| crate::text_width(s, FONT);
        let label_w = self.row_labels.iter().map(|s| tw(s)).max().unwrap_or(0) + 2 * PAD;
        let cell_w = self
            .col_labels
            .iter()
            .chain(self.text.iter().flatten())
            .map(|s| tw(s))
            .max()
            .unwrap_or(0)
            .max(40)
            + 2 * PAD;
        let (rows, cols) = (self.row_labels.len() as u32, self.col_labels.len() as u32);
        let top = PAD + TITLE + 2 * PAD + CELL_H;
        let table_h = rows * CELL_H;
        let bar_h = 14;
        let footer = 2 * PAD + bar_h + 4 + CELL_H + self.notes.len() as u32 * (FONT + 6) + PAD;
        let title_w = crate::text_width(&self.title, TITLE) + 2 * PAD;
        let notes_w = self
            .notes
            .iter()
            .map(|n| tw(n) + 2 * PAD)
            .max()
            .unwrap_or(0);
        let fmt = |v: f64| format!("{v:+}");
        let low = format!("{} {}", fmt(-self.limit), self.scale_labels.0);
        let high = format!("{} {}", self.scale_labels.1, fmt(self.limit));
        // The colour bar: as wide as the columns up to 360 pixels, wide enough for its
        // end labels.
        let bar_w = (cols * cell_w).min(360).max(tw(&low) + tw(&high) + 4 * PAD);
        let w = (label_w + (cols * cell_w).max(bar_w) + PAD)
            .max(title_w)
            .max(notes_w);
        Layout {
            label_w,
            cell_w,
            rows,
            cols,
            top,
            table_h,
            bar_y: top + table_h + 2 * PAD,
            bar_w,
            bar_h,
            w,
            h: top + table_h + footer,
            low,
            high,
        }
    }

    /// The cells, their grid lines and frames, and the colour bar.
    fn paint(&self, img: &mut RgbImage, l: &Layout) {
        let fill = |img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, c: (u8, u8, u8)| {
            for y in y0..y1.min(l.h) {
                for x in x0..x1.min(l.w) {
                    img.put_pixel(x, y, Rgb([c.0, c.1, c.2]));
                }
            }
        };
        let (cell_w, grey) = (l.cell_w, (200, 200, 200));
        for r in 0..l.rows as usize {
            for c in 0..l.cols as usize {
                let (x0, y0) = (l.label_w + c as u32 * cell_w, l.top + r as u32 * CELL_H);
                let colour = diverging(self.values[r][c], self.limit);
                fill(img, x0, y0, x0 + cell_w, y0 + CELL_H, colour);
                fill(img, x0, y0, x0 + cell_w, y0 + 1, grey);
                fill(img, x0, y0, x0 + 1, y0 + CELL_H, grey);
                if self.framed[r][c] {
                    let k = (0, 0, 0);
                    let (x1, y1) = (x0 + cell_w - 1, y0 + CELL_H - 1);
                    fill(img, x0 + 1, y0 + 1, x1, y0 + 3, k);
                    fill(img, x0 + 1, y1 - 2, x1, y1, k);
                    fill(img, x0 + 1, y0 + 1, x0 + 3, y1, k);
                    fill(img, x1 - 2, y0 + 1, x1, y1, k);
                }
            }
        }
        let x_end = l.label_w + l.cols * cell_w;
        let bottom = l.top + l.table_h;
        fill(img, l.label_w, bottom, x_end + 1, bottom + 1, grey);
        fill(img, x_end, l.top, x_end + 1, bottom, grey);
        // The colour bar: from -limit to +limit under the table's columns.
        for i in 0..l.bar_w {
            let v = self.limit * (2.0 * (i as f64 + 0.5) / l.bar_w as f64 - 1.0);
            let x = l.label_w + i;
            fill(
                img,
                x,
                l.bar_y,
                x + 1,
                l.bar_y + l.bar_h,
                diverging(v, self.limit),
            );
        }
    }

    /// Every text with its anchor, size and alignment.
    fn texts(&self, l: &Layout) -> Vec<(String, i32, i32, u32, HPos)> {
        let mut texts: Vec<(String, i32, i32, u32, HPos)> = Vec::new();
        texts.push((
            self.title.clone(),
            PAD as i32,
            PAD as i32,
            TITLE,
            HPos::Left,
        ));
        let mid = |n: u32, size: u32| (n * size + size / 2) as i32;
        for (c, t) in self.col_labels.iter().enumerate() {
            let x = l.label_w as i32 + mid(c as u32, l.cell_w);
            texts.push((
                t.clone(),
                x,
                (l.top - CELL_H / 2) as i32,
                FONT,
                HPos::Center,
            ));
        }
        for (r, t) in self.row_labels.iter().enumerate() {
            let y = l.top as i32 + mid(r as u32, CELL_H);
            texts.push((t.clone(), PAD as i32, y, FONT, HPos::Left));
            for (c, t) in self.text[r].iter().enumerate() {
                let x = l.label_w as i32 + mid(c as u32, l.cell_w);
                texts.push((t.clone(), x, y, FONT, HPos::Center));
            }
        }
        let scale_y = (l.bar_y + l.bar_h + 4 + CELL_H / 2) as i32;
        texts.push((l.low.clone(), l.label_w as i32, scale_y, FONT, HPos::Left));
        texts.push((
            "0".into(),
            (l.label_w + l.bar_w / 2) as i32,
            scale_y,
            FONT,
            HPos::Center,
        ));
        texts.push((
            l.high.clone(),
            (l.label_w + l.bar_w) as i32,
            scale_y,
            FONT,
            HPos::Right,
        ));
        for (i, n) in self.notes.iter().enumerate() {
            let y = scale_y + (CELL_H / 2 + PAD) as i32 + (i as u32 * (FONT + 6)) as i32;
            texts.push((n.clone(), PAD as i32, y, FONT, HPos::Left));
        }
        texts
    }
}

/// Where the parts of a heat map go (pixels).
struct Layout {
    label_w: u32,
    cell_w: u32,
    rows: u32,
    cols: u32,
    top: u32,
    table_h: u32,
    bar_y: u32,
    bar_w: u32,
    bar_h: u32,
    w: u32,
    h: u32,
    /// The colour bar's end labels.
    low: String,
    high: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Heatmap {
        Heatmap {
            title: "difference".into(),
            row_labels: vec![
                "sr4, noise-free".into(),
                "inpaint-box, sigma_y = 0.05".into(),
            ],
            col_labels: vec!["dps".into(), "red-diff".into(), "pinv".into()],
            values: vec![vec![-3.5, 0.0, f64::NAN], vec![1.5, 0.25, -108.0]],
            text: vec![
                vec!["-3.50".into(), "+0.00".into(), "–".into()],
                vec!["+1.50".into(), "+0.25".into(), "-108.00".into()],
            ],
            framed: vec![vec![true, false, false], vec![false, false, true]],
            limit: 3.0,
            scale_labels: ("vml-map ahead".into(), "baseline ahead".into()),
            notes: vec!["framed: more than 2 standard errors from zero".into()],
        }
    }

    #[test]
    fn the_scale_is_white_at_zero_and_saturates_at_the_limit() {
        assert_eq!(diverging(0.0, 3.0), (255, 255, 255));
        assert_eq!(diverging(3.0, 3.0), POSITIVE);
        assert_eq!(diverging(30.0, 3.0), POSITIVE);
        assert_eq!(diverging(-3.0, 3.0), NEGATIVE);
        assert_eq!(diverging(f64::NAN, 3.0), MISSING);
        // Halfway: halfway between white and the end colour.
        let (r, g, b) = diverging(-1.5, 3.0);
        let half = |c: u8| ((255.0 + c as f64) / 2.0).round() as u8;
        assert_eq!(
            (r, g, b),
            (half(NEGATIVE.0), half(NEGATIVE.1), half(NEGATIVE.2))
        );
    }

    /// Each cell shows its colour (the saturated one over most of a cell whose value is
    /// past the limit), framed cells carry black frames, and labels are written.
    #[test]
    fn cells_are_coloured_framed_and_labelled() {
        let img = table().draw().unwrap();
        let count = |c: (u8, u8, u8)| img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
        // One saturated negative cell (-3.5) and one past the limit (-108), a grey one,
        // and the colour bar's ends.
        assert!(count(NEGATIVE) > 2 * 30 * 15, "{}", count(NEGATIVE));
        assert!(count(MISSING) > 30 * 15, "{}", count(MISSING));
        // Two frames: 2-pixel-wide black lines round 24-pixel-high cells, beyond the
        // black of the text that the same table without frames has.
        let mut plain = table();
        plain.framed = vec![vec![false; 3]; 2];
        let plain = plain.draw().unwrap();
        let black = |i: &RgbImage| i.pixels().filter(|p| p.0 == [0, 0, 0]).count();
        let frames = black(&img) - black(&plain);
        assert!(frames > 2 * 2 * 2 * (40 + 18), "{frames}");
        // Row labels: dark ink in the left margin, where no cell is.
        let ink = (0..60)
            .flat_map(|x| (40..img.height() - 80).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 100)
            .count();
        assert!(ink > 50, "{ink}");
        let mut bad = table();
        bad.text.pop();
        assert!(bad.draw().is_err());
        let mut bad = table();
        bad.limit = 0.0;
        assert!(bad.draw().is_err());
    }
}
