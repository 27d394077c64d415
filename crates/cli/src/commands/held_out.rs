//! The held-out denoising loss as `vmlmap models eval` and `vmlmap train` report it: the
//! test images of a folder (Fashion-MNIST's `t10k` IDX file, else every image in it), and
//! one line of `sigma: MSE` pairs.

use std::path::Path;
use vmlmap_train::data::{fashion_mnist, image_folder, ImageSet};

/// Held-out images: `t10k` of a Fashion-MNIST folder, else the images of the folder.
pub fn held_out_images(dir: &Path, grey: bool) -> anyhow::Result<(ImageSet, String)> {
    let idx = dir.join("t10k-images-idx3-ubyte.gz").is_file()
        || dir.join("t10k-images-idx3-ubyte").is_file();
    Ok(if idx {
        (
            fashion_mnist(dir, "t10k")?,
            format!("Fashion-MNIST test set ({})", dir.display()),
        )
    } else {
        (
            image_folder(dir, grey)?,
            format!("images in {}", dir.display()),
        )
    })
}

/// `sigma 0.05: 1.234e-3, sigma 0.2: ...`.
pub fn line(losses: &[(f64, f64)]) -> String {
    losses
        .iter()
        .map(|(s, m)| format!("sigma {s}: {m:.4e}"))
        .collect::<Vec<_>>()
        .join(", ")
}
