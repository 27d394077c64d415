//! Figures for vmlmap's reports and model cards, drawn with `plotters` into an RGB buffer
//! (no system fonts: DejaVu Sans is embedded), returned as an [`image::RgbImage`] so that
//! callers write them atomically like every other output.
//!
//! - [`LineChart`]: one or more series against a shared x axis, labelled axes with tick
//!   values, a legend, optionally a log10 y axis (training-loss curves, PSNR against cost).
//! - [`LabelledGrid`]: blocks of images with a title, row and column labels (the demo's
//!   and the reports' restorations).
//! - [`BarChart`]: grouped bars (PSNR per solver and task); [`panels`]: figures side by side;
//!   [`legend`]: one legend shared by several panels.
//! - [`Heatmap`]: a table of signed values as coloured, labelled cells (paired
//!   differences per case and solver).
//! - [`text`]: a label drawn onto an existing image.

pub mod bar;
pub mod chart;
pub mod grid;
pub mod heatmap;
pub mod legend;
pub mod text;

pub use bar::{bar_colour, panels, BarChart};
pub use chart::{style_for, LineChart, Marker, Series, Style};
pub use grid::{Block, LabelledGrid, Tile};
pub use heatmap::{diverging, Heatmap};
pub use legend::{legend, LegendEntry};
pub use plotters::chart::SeriesLabelPosition as LegendPosition;
pub use text::{draw_text, text_width};

/// A figure that cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw the figure {title:?}: {reason}")]
    Draw { title: String, reason: String },
}

/// Registers the embedded font under plotters' `sans-serif` family (once per process).
pub(crate) fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate.
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}
