//! What the training tests share: a tiny guided-diffusion UNet on 8×8 images and ten
//! fixed 8×8 grey images.

use vmlmap_models::adm::AdmConfig;
use vmlmap_train::data::ImageSet;

/// The default prior's architecture cut to 8×8 images, one attention level, and the
/// given channel multipliers.
pub fn tiny_config(channel_mult: Vec<usize>) -> AdmConfig {
    AdmConfig {
        image_size: 8,
        channel_mult,
        attention_ds: vec![2],
        ..AdmConfig::fashion32()
    }
}

/// Ten 8×8 grey images with values in [-1, 1].
pub fn ten_images() -> ImageSet {
    ImageSet {
        c: 1,
        h: 8,
        w: 8,
        data: (0..10 * 64)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect(),
    }
}
