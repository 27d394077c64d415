use super::*;
use crate::weights::{Builder, ShapesOnly};
use burn::tensor::DType;

fn count(cfg: &AdmConfig) -> (usize, usize) {
    let mut src = ShapesOnly;
    let mut b = Builder::new(&mut src, burn::tensor::Device::flex(), DType::F32);
    b.dry_run = true;
    UNetModel::new(cfg, &mut b).unwrap();
    (b.shapes.len(), b.parameter_count())
}

#[test]
fn preset_tensor_and_parameter_counts_match_the_published_checkpoints() {
    assert_eq!(count(&AdmConfig::ffhq256()), (362, 93_563_910));
    assert_eq!(count(&AdmConfig::imagenet256_uncond()).1, 552_814_086);
}

#[test]
fn invalid_configurations_are_typed_errors() {
    let mut c = AdmConfig::ffhq256();
    c.model_channels = 100;
    assert!(matches!(
        c.check(),
        Err(ConfigError::Invalid {
            field: "model_channels",
            ..
        })
    ));
    let mut c = AdmConfig::ffhq256();
    c.image_size = 100;
    assert!(c
        .check()
        .unwrap_err()
        .to_string()
        .contains("image_size = 100"));
    assert!(AdmConfig::preset("adm-nope").is_err());
    assert_eq!(AdmConfig::ffhq256().preset_name(), Some("adm-ffhq256"));
}
