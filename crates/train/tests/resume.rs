//! Training is deterministic and resumes exactly: 4 steps straight equal 2 steps, a
//! checkpoint written to disk and read back, then 2 more steps — bit for bit.

mod common;

use vmlmap_core::schedule::VpTable;
use vmlmap_train::adamw::parameters;
use vmlmap_train::trainer::{TrainConfig, TrainState};

fn tiny() -> vmlmap_models::adm::AdmConfig {
    common::tiny_config(vec![1, 1])
}

#[test]
fn resumed_training_equals_uninterrupted_training() {
    let data = common::ten_images();
    let tc = TrainConfig {
        steps: 4,
        batch: 3,
        lr: 1e-3,
        warmup: 2,
        decay: vmlmap_train::lr::LrDecay::Constant,
        ema_decay: 0.9,
        seed: 5,
        save_every: 2,
    };
    let table = VpTable::ddpm_linear();
    let dir = std::env::temp_dir().join(format!("vmlmap-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dev = burn::tensor::Device::flex();

    let mut a = TrainState::load_or_init(
        &dir.join("none.safetensors"),
        &tiny(),
        &tc,
        &dev,
        vmlmap_models::registry::Engine::Native,
    )
    .unwrap();
    let losses: Vec<f32> = (0..4).map(|_| a.step(&data, &tc, &table)).collect();
    assert!(
        losses.iter().all(|l| l.is_finite() && *l > 0.0),
        "{losses:?}"
    );

    let ck = dir.join("state.safetensors");
    let mut b = TrainState::load_or_init(
        &ck,
        &tiny(),
        &tc,
        &dev,
        vmlmap_models::registry::Engine::Native,
    )
    .unwrap();
    b.step(&data, &tc, &table);
    b.step(&data, &tc, &table);
    b.save(&ck).unwrap();
    drop(b);
    let mut c = TrainState::load_or_init(
        &ck,
        &tiny(),
        &tc,
        &dev,
        vmlmap_models::registry::Engine::Native,
    )
    .unwrap();
    assert_eq!(c.opt.step, 2);
    c.step(&data, &tc, &table);
    c.step(&data, &tc, &table);
    assert_eq!(
        parameters(&a.model),
        parameters(&c.model),
        "weights differ after resume"
    );
    assert_eq!(a.ema, c.ema, "EMA differs after resume");
    assert_eq!(c.losses.iter().map(|l| l.1).collect::<Vec<_>>(), losses);

    // The exported EMA loads as an ordinary model.
    let out = dir.join("ema.safetensors");
    c.export_ema(&out, false, None).unwrap();
    let info = vmlmap_models::registry::inspect(out.to_str().unwrap()).unwrap();
    assert_eq!(info.image, [1, 8, 8]);
    std::fs::remove_dir_all(&dir).unwrap();
}
