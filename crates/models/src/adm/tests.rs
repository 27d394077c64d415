use super::*;

fn count(cfg: &AdmConfig) -> (usize, usize) {
    let shapes = super::unet::parameter_shapes(cfg).unwrap();
    (
        shapes.len(),
        shapes
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum(),
    )
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
