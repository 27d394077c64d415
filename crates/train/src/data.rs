//! Training images: Fashion-MNIST IDX files (Debian's `dataset-fashion-mnist`, gzipped or
//! not) padded from 28x28 to 32x32 with a 2-pixel background border, or a folder of images;
//! all mapped to `[-1, 1]`.

use crate::TrainError;
use std::io::Read;
use std::path::Path;

/// Where Debian installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A set of equally sized grey or colour images, `C x H x W` each, in `[-1, 1]`.
pub struct ImageSet {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.data.len() / (self.c * self.h * self.w)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.c * self.h * self.w;
        &self.data[i * n..(i + 1) * n]
    }
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, TrainError> {
    let raw =
        std::fs::read(path).map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX3 image file (`magic 0x00000803`, count, rows, cols, u8 pixels).
pub fn read_idx_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>), TrainError> {
    let b = read_maybe_gz(path)?;
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    if b.len() < 16 || be(0) != 0x0803 {
        return Err(TrainError::Data(format!(
            "{}: not an IDX3 image file",
            path.display()
        )));
    }
    let (n, r, c) = (be(4), be(8), be(12));
    if b.len() != 16 + n * r * c {
        return Err(TrainError::Data(format!(
            "{}: {} bytes for {n} images of {r}x{c}",
            path.display(),
            b.len()
        )));
    }
    Ok((n, r, c, b[16..].to_vec()))
}

/// Fashion-MNIST (`train` or `t10k`) padded to 32x32 (background 0 -> -1), in `[-1, 1]`.
pub fn fashion_mnist(dir: &Path, split: &str) -> Result<ImageSet, TrainError> {
    let name = format!("{split}-images-idx3-ubyte");
    let path = [dir.join(format!("{name}.gz")), dir.join(&name)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            TrainError::Data(format!(
                "no {name}[.gz] in {} (install Debian's dataset-fashion-mnist or pass --data DIR)",
                dir.display()
            ))
        })?;
    let (n, r, c, px) = read_idx_images(&path)?;
    let (h, w) = (r + 4, c + 4);
    let mut data = vec![-1.0f32; n * h * w];
    for i in 0..n {
        for y in 0..r {
            for x in 0..c {
                data[i * h * w + (y + 2) * w + x + 2] =
                    px[i * r * c + y * c + x] as f32 / 127.5 - 1.0;
            }
        }
    }
    Ok(ImageSet { c: 1, h, w, data })
}

/// Every PNG/JPEG image in a folder (sorted by name), all of one size, grey if `grey`.
pub fn image_folder(dir: &Path, grey: bool) -> Result<ImageSet, TrainError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| TrainError::Data(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension()
                    .and_then(|e| e.to_str())
                    .map(|e| e.to_ascii_lowercase())
                    .as_deref(),
                Some("png" | "jpg" | "jpeg")
            )
        })
        .collect();
    files.sort();
    let mut set: Option<ImageSet> = None;
    for f in &files {
        let (v, shape) = vmlmap_io::read_image(f.to_str().unwrap_or_default(), None, false)
            .map_err(|e| TrainError::Data(e.to_string()))?;
        let v: Vec<f32> = if grey && shape.c == 3 {
            (0..shape.pixels())
                .map(|p| ((v[p] + v[shape.pixels() + p] + v[2 * shape.pixels() + p]) / 3.0) as f32)
                .collect()
        } else {
            v.iter().map(|&x| x as f32).collect()
        };
        let c = if grey { 1 } else { shape.c };
        let s = set.get_or_insert_with(|| ImageSet {
            c,
            h: shape.h,
            w: shape.w,
            data: Vec::new(),
        });
        if (s.c, s.h, s.w) != (c, shape.h, shape.w) {
            return Err(TrainError::Data(format!(
                "{} is {}x{}x{}, the first image was {}x{}x{}",
                f.display(),
                c,
                shape.h,
                shape.w,
                s.c,
                s.h,
                s.w
            )));
        }
        s.data.extend(v);
    }
    set.ok_or_else(|| TrainError::Data(format!("no PNG or JPEG images in {}", dir.display())))
}
