//! A legend drawn on its own, for several chart panels that share one (the panels then
//! set `show_legend = false`): entries in columns, each a colour swatch (a line for
//! series drawn as lines) with its marker, and the name.

use crate::chart::Marker;
use crate::PlotError;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One legend line.
#[derive(Clone, Debug)]
pub struct LegendEntry {
    pub name: String,
    pub color: (u8, u8, u8),
    pub marker: Marker,
    /// Drawn as a line through the marker (a series of joined points).
    pub line: bool,
}

const ROW: u32 = 22;
const SWATCH: i32 = 28;
const FONT: u32 = 14;

/// The legend of `entries` at most `width` pixels wide: as many columns as fit.
pub fn legend(entries: &[LegendEntry], width: u32) -> Result<image::RgbImage, PlotError> {
    let err = |e: String| PlotError::Draw {
        title: "legend".into(),
        reason: e,
    };
    if entries.is_empty() {
        return Err(err("no entries".into()));
    }
    let col_w = entries
        .iter()
        .map(|e| crate::text_width(&e.name, FONT))
        .max()
        .unwrap_or(0)
        + SWATCH as u32
        + 30;
    let cols = (width.saturating_sub(20) / col_w).clamp(1, entries.len() as u32);
    let rows = (entries.len() as u32).div_ceil(cols);
    let (w, h) = (width.max(col_w + 20), rows * ROW + 16);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    crate::fonts();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let font = ("sans-serif", FONT as f64)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (i, e) in entries.iter().enumerate() {
            let (c, r) = (i as u32 / rows, i as u32 % rows);
            let x = 10 + (c * col_w) as i32;
            let y = 8 + (r * ROW) as i32 + ROW as i32 / 2;
            let color = RGBColor(e.color.0, e.color.1, e.color.2);
            let m = (x + SWATCH / 2, y);
            let res = if e.line {
                root.draw(&PathElement::new(
                    vec![(x, y), (x + SWATCH, y)],
                    color.stroke_width(2),
                ))
            } else {
                Ok(())
            };
            res.map_err(|e| err(e.to_string()))?;
            match e.marker {
                Marker::Circle => root.draw(&Circle::new(m, 4, color.filled())),
                Marker::Triangle => root.draw(&TriangleMarker::new(m, 5, color.filled())),
                Marker::Square => root.draw(&Rectangle::new(
                    [(m.0 - 4, m.1 - 4), (m.0 + 4, m.1 + 4)],
                    color.filled(),
                )),
                Marker::Cross => root.draw(&Cross::new(m, 4, color.stroke_width(2))),
            }
            .map_err(|e| err(e.to_string()))?;
            root.draw_text(&e.name, &font, (x + SWATCH + 8, y))
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    image::RgbImage::from_raw(w, h, buf).ok_or_else(|| err("buffer size".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::style_for;

    #[test]
    fn entries_are_laid_out_in_columns_with_their_colours() {
        let entries: Vec<LegendEntry> = (0..12)
            .map(|k| {
                let (color, marker) = style_for(k);
                LegendEntry {
                    name: format!("setting {k}"),
                    color,
                    marker,
                    line: k % 2 == 0,
                }
            })
            .collect();
        let wide = legend(&entries, 1200).unwrap();
        let narrow = legend(&entries, 300).unwrap();
        assert_eq!(wide.width(), 1200);
        assert!(narrow.height() > wide.height(), "fewer columns, more rows");
        // Every colour of the palette is drawn (the 11th and 12th reuse the first two,
        // with triangles).
        for k in 0..10 {
            let (c, _) = style_for(k);
            assert!(
                wide.pixels().any(|p| p.0 == [c.0, c.1, c.2]),
                "colour {k} missing"
            );
        }
        assert_eq!(style_for(10).1, Marker::Triangle);
        assert!(legend(&[], 100).is_err());
    }
}
