//! Text drawn onto an existing RGB image (labels of image grids), in the embedded font.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Pixel width of `text` at `size` pixels.
pub fn text_width(text: &str, size: u32) -> u32 {
    crate::fonts();
    let font: FontDesc = ("sans-serif", size as f64).into_font();
    font.box_size(text).map(|(w, _)| w).unwrap_or(0)
}

/// Draws `text` in black at `size` pixels with its top-left corner at `(x, y)`; text
/// beyond the image is clipped.
pub fn draw_text(img: &mut image::RgbImage, text: &str, x: i32, y: i32, size: u32) {
    crate::fonts();
    let (w, h) = img.dimensions();
    let buf: &mut [u8] = img.as_mut();
    let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
    let style = ("sans-serif", size as f64)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Top));
    let _ = root.draw_text(text, &style, (x, y));
    let _ = root.present();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_where_asked_and_measured() {
        let mut img = image::RgbImage::from_pixel(200, 40, image::Rgb([255, 255, 255]));
        draw_text(&mut img, "PSNR 19.2", 10, 5, 20);
        let ink = |x0: u32, x1: u32| {
            (x0..x1)
                .flat_map(|x| (0..40).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
                .count()
        };
        let w = text_width("PSNR 19.2", 20);
        assert!((60..140).contains(&w), "{w}");
        assert!(ink(10, 10 + w) > 50);
        assert_eq!(ink(0, 9), 0);
        assert_eq!(ink(12 + w, 200), 0);
    }
}
