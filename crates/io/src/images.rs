//! Images: PNG, JPEG and BMP in (grey or RGB, 8 or 16 bit), PNG out; pixel values map linearly
//! between `[0, 255]` and `[-1, 1]` (`x = 2 p / 255 - 1`).

use crate::{write_atomic, IoError};
use image::{DynamicImage, GenericImageView};
use std::path::Path;
use vmlmap_core::Shape;

/// Reads an image as `C x H x W` in `[-1, 1]`. With `expected`, the channel count is
/// converted (grey <-> RGB) and a different size is an error unless `resize` is set.
pub fn read_image(
    path: impl AsRef<Path>,
    expected: Option<Shape>,
    resize: bool,
) -> Result<(Vec<f64>, Shape), IoError> {
    let path = path.as_ref();
    read_image_noting(path, expected, resize).map(|(v, s, _)| (v, s))
}

/// [`read_image`], with a note for each change made to the file's content: colour
/// converted to grey (luminance) or grey replicated to RGB, an alpha channel dropped, a
/// resampling.
pub fn read_image_noting(
    path: impl AsRef<Path>,
    expected: Option<Shape>,
    resize: bool,
) -> Result<(Vec<f64>, Shape, Vec<String>), IoError> {
    let path = path.as_ref();
    let img = image::open(path).map_err(|e| IoError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut notes = Vec::new();
    if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        if rgba.pixels().any(|p| p.0[3] != 255) {
            notes.push("its alpha channel (transparency) is ignored".to_string());
        }
    }
    if let Some(e) = expected {
        let coloured = img.color().has_color()
            && img
                .to_rgb8()
                .pixels()
                .any(|p| p.0[0] != p.0[1] || p.0[1] != p.0[2]);
        if e.c == 1 && coloured {
            notes.push("a colour image, converted to grey (luminance): the model is grey".into());
        } else if e.c == 3 && !img.color().has_color() {
            notes.push("a grey image, replicated to 3 channels: the model is RGB".into());
        }
    }
    let (w, h) = img.dimensions();
    let mut img = img;
    if let Some(e) = expected {
        if (w as usize, h as usize) != (e.w, e.h) {
            if !resize {
                return Err(IoError::Shape {
                    path: path.display().to_string(),
                    expected: e,
                    found: format!("{w}x{h} (WxH)"),
                    hint: " (pass --resize to resample it)".into(),
                });
            }
            notes.push(format!("resampled from {w}x{h} to {}x{} (WxH)", e.w, e.h));
            img = img.resize_exact(
                e.w as u32,
                e.h as u32,
                image::imageops::FilterType::Lanczos3,
            );
        }
    }
    let grey = match expected {
        Some(e) => e.c == 1,
        None => !img.color().has_color(),
    };
    let (c, raw): (usize, Vec<u8>) = if grey {
        (1, img.to_luma8().into_raw())
    } else {
        (3, img.to_rgb8().into_raw())
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let shape = Shape::new(c, h, w).map_err(|e| IoError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut out = vec![0.0; shape.numel()];
    for (i, px) in raw.iter().enumerate() {
        let (p, ch) = (i / c, i % c);
        out[ch * h * w + p] = 2.0 * (*px as f64) / 255.0 - 1.0;
    }
    Ok((out, shape, notes))
}

/// Writes `C x H x W` values in `[-1, 1]` as an 8-bit PNG (values outside are clipped).
pub fn write_png(
    path: impl AsRef<Path>,
    data: &[f64],
    shape: Shape,
    force: bool,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let (h, w) = (shape.h, shape.w);
    let to8 = |v: f64| (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8;
    let img = match shape.c {
        1 => DynamicImage::ImageLuma8(image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
            image::Luma([to8(data[y as usize * w + x as usize])])
        })),
        3 => DynamicImage::ImageRgb8(image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let p = y as usize * w + x as usize;
            image::Rgb([to8(data[p]), to8(data[h * w + p]), to8(data[2 * h * w + p])])
        })),
        c => {
            return Err(IoError::Write {
                path: path.display().to_string(),
                reason: format!("{c} channels; images need 1 or 3"),
            })
        }
    };
    write_atomic(path, force, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| e.to_string())
    })
}

/// Writes images of one shape as a PNG grid (`cols` columns, white gutters), each pixel
/// drawn as a `zoom x zoom` block (nearest neighbour) so that small images stay legible.
pub fn write_grid(
    path: &str,
    images: &[Vec<f64>],
    shape: Shape,
    cols: usize,
    zoom: usize,
    force: bool,
) -> Result<(), IoError> {
    let cols = cols.max(1).min(images.len().max(1));
    let rows = images.len().div_ceil(cols);
    let z = zoom.max(1);
    let gap = 2 * z;
    let (th, tw) = (shape.h * z, shape.w * z);
    let (gh, gw) = (rows * (th + gap) + gap, cols * (tw + gap) + gap);
    let gs = Shape {
        c: shape.c,
        h: gh,
        w: gw,
    };
    let mut grid = vec![1.0; gs.numel()];
    for (k, img) in images.iter().enumerate() {
        let (r, c) = (k / cols, k % cols);
        for ch in 0..shape.c {
            for i in 0..th {
                for j in 0..tw {
                    let (gi, gj) = (gap + r * (th + gap) + i, gap + c * (tw + gap) + j);
                    grid[ch * gh * gw + gi * gw + gj] =
                        img[ch * shape.pixels() + (i / z) * shape.w + j / z];
                }
            }
        }
    }
    write_png(path, &grid, gs, force)
}

/// The zoom that draws a `side`-pixel image at least 96 pixels wide (1 for large images).
pub fn legible_zoom(side: usize) -> usize {
    (96 / side.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_roundtrip_size_check_and_channel_conversion() {
        let dir = std::env::temp_dir().join(format!("vmlmap-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.png");
        let ps = p.to_str().unwrap();
        let s = Shape::new(3, 4, 5).unwrap();
        let data: Vec<f64> = (0..60)
            .map(|i| (2 * (i * 4) as i64 - 255) as f64 / 255.0)
            .collect();
        write_png(ps, &data, s, false).unwrap();
        let (back, shape) = read_image(ps, None, false).unwrap();
        assert_eq!(shape, s);
        assert!(back.iter().zip(&data).all(|(a, b)| (a - b).abs() < 1e-12));
        let err = read_image(ps, Some(Shape::new(3, 8, 8).unwrap()), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("5x4 (WxH)") && err.contains("--resize"),
            "{err}"
        );
        let (_, resized) = read_image(ps, Some(Shape::new(1, 8, 8).unwrap()), true).unwrap();
        assert_eq!(resized, Shape::new(1, 8, 8).unwrap());
        assert!(
            write_png(ps, &data, s, false).is_err(),
            "no silent overwrite"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn grid_places_zoomed_tiles_between_white_gutters() {
        let dir = std::env::temp_dir().join(format!("vmlmap-grid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("g.png");
        let ps = p.to_str().unwrap();
        let s = Shape::new(1, 2, 3).unwrap();
        // Three 2x3 images of distinct values in 2 columns at zoom 2: 2 rows of tiles.
        let imgs: Vec<Vec<f64>> = (0..3)
            .map(|k| {
                (0..6)
                    .map(|p| -1.0 + (k * 6 + p) as f64 * 2.0 / 255.0)
                    .collect()
            })
            .collect();
        write_grid(ps, &imgs, s, 2, 2, false).unwrap();
        let (g, gs) = read_image(ps, None, false).unwrap();
        let (gap, th, tw) = (4, 4, 6);
        assert_eq!((gs.h, gs.w), (2 * (th + gap) + gap, 2 * (tw + gap) + gap));
        let at = |i: usize, j: usize| g[i * gs.w + j];
        for (k, img) in imgs.iter().enumerate() {
            let (r, c) = (k / 2, k % 2);
            for i in 0..th {
                for j in 0..tw {
                    let got = at(gap + r * (th + gap) + i, gap + c * (tw + gap) + j);
                    assert!(
                        (got - img[(i / 2) * 3 + j / 2]).abs() < 1e-9,
                        "tile {k} ({i},{j})"
                    );
                }
            }
        }
        assert_eq!(at(0, 0), 1.0, "gutter is white");
        assert_eq!(
            at(gs.h - 1, gs.w - 1),
            1.0,
            "the empty fourth cell is white"
        );
        assert_eq!(legible_zoom(32), 3);
        assert_eq!(legible_zoom(256), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
