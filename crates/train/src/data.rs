//! Training images: Fashion-MNIST IDX files (Debian's `dataset-fashion-mnist`, gzipped or
//! not) padded from 28x28 to 32x32 with a 2-pixel background border, or a folder of images;
//! all mapped to `[-1, 1]`.

use crate::TrainError;
use std::io::Read;
use std::path::Path;

/// Where Debian installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A set of equally sized grey or colour images, `C x H x W` each, in `[-1, 1]`.
#[derive(Debug, Clone)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx3(n: u32, r: u32, c: u32, px: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [0x0803, n, r, c] {
            b.extend(v.to_be_bytes());
        }
        b.extend(px);
        b
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("vmlmap-data-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn fashion_mnist_idx_gz_is_padded_and_scaled() {
        let d = tmp("idx");
        // Two 28x28 images: 0, 1, 2, ... (mod 256) and all 255.
        let mut px: Vec<u8> = (0..784).map(|i| (i % 256) as u8).collect();
        px.extend([255u8; 784]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&idx3(2, 28, 28, &px)).unwrap();
        std::fs::write(d.join("t10k-images-idx3-ubyte.gz"), gz.finish().unwrap()).unwrap();
        let set = fashion_mnist(&d, "t10k").unwrap();
        assert_eq!((set.len(), set.c, set.h, set.w), (2, 1, 32, 32));
        let a = set.image(0);
        // The 2-pixel border is background (-1); pixel (y, x) of the source sits at (y+2, x+2).
        for i in 0..32 {
            for j in 0..32 {
                let want = if (2..30).contains(&i) && (2..30).contains(&j) {
                    px[(i - 2) * 28 + j - 2] as f32 / 127.5 - 1.0
                } else {
                    -1.0
                };
                assert_eq!(a[i * 32 + j], want, "({i}, {j})");
            }
        }
        assert!(set.image(1)[2 * 32 + 2..30 * 32 - 2]
            .chunks(32)
            .all(|row| row[..28].iter().all(|&v| v == 1.0)));
        // Uncompressed files are read too, and a wrong split names what is missing.
        std::fs::write(
            d.join("train-images-idx3-ubyte"),
            idx3(1, 28, 28, &px[..784]),
        )
        .unwrap();
        assert_eq!(fashion_mnist(&d, "train").unwrap().len(), 1);
        let e = fashion_mnist(&d, "val").unwrap_err().to_string();
        assert!(
            e.contains("val-images-idx3-ubyte") && e.contains("--data"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn idx_errors_name_the_file_and_the_problem() {
        let d = tmp("bad");
        let p = d.join("x-images-idx3-ubyte");
        std::fs::write(&p, idx3(2, 28, 28, &[0; 100])).unwrap();
        let e = read_idx_images(&p).unwrap_err().to_string();
        assert!(
            e.contains("x-images-idx3-ubyte") && e.contains("116 bytes for 2 images of 28x28"),
            "{e}"
        );
        std::fs::write(&p, b"PNG not idx at all").unwrap();
        let e = read_idx_images(&p).unwrap_err().to_string();
        assert!(e.contains("not an IDX3 image file"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn image_folder_reads_sorted_images_and_rejects_mixed_sizes() {
        let d = tmp("folder");
        let shape = vmlmap_core::Shape::new(1, 4, 4).unwrap();
        let img = |v: f64| vec![v; 16];
        vmlmap_io::write_png(d.join("b.png").to_str().unwrap(), &img(1.0), shape, false).unwrap();
        vmlmap_io::write_png(d.join("a.png").to_str().unwrap(), &img(-1.0), shape, false).unwrap();
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let set = image_folder(&d, true).unwrap();
        assert_eq!((set.len(), set.c, set.h, set.w), (2, 1, 4, 4));
        assert_eq!(set.image(0), &[-1.0f32; 16][..], "a.png first");
        assert_eq!(set.image(1), &[1.0f32; 16][..]);
        let big = vmlmap_core::Shape::new(1, 5, 4).unwrap();
        vmlmap_io::write_png(d.join("c.png").to_str().unwrap(), &[0.0; 20], big, false).unwrap();
        let e = image_folder(&d, true).unwrap_err().to_string();
        assert!(
            e.contains("c.png is 1x5x4, the first image was 1x4x4"),
            "{e}"
        );
        let empty = tmp("empty");
        let e = image_folder(&empty, true).unwrap_err().to_string();
        assert!(e.contains("no PNG or JPEG images"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
