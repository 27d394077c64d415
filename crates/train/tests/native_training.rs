//! A training step on the native engine against one on burn's autodiff, from the same
//! initialisation, data and random draws: the same losses and weights to f32 round-off
//! over three steps. (The native step's gradients are checked parameter by parameter
//! against burn in `crates/models/tests/native_engine.rs`.)

mod common;

use vmlmap_core::schedule::VpTable;
use vmlmap_core::vector::rel_err;
use vmlmap_train::adamw::parameters;
use vmlmap_train::trainer::{TrainConfig, TrainState};

#[test]
fn native_steps_match_burn_steps() {
    let cfg = common::tiny_config(vec![1, 2]);
    let data = common::ten_images();
    let tc = TrainConfig {
        steps: 3,
        batch: 4,
        lr: 1e-3,
        warmup: 1,
        decay: vmlmap_train::lr::LrDecay::Constant,
        ema_decay: 0.9,
        seed: 3,
        save_every: 10,
    };
    let table = VpTable::ddpm_linear();
    let dev = burn::tensor::Device::flex();
    let none = std::env::temp_dir().join(format!(
        "vmlmap-no-state-{}.safetensors",
        std::process::id()
    ));
    let mut native = TrainState::load_or_init(
        &none,
        &cfg,
        &tc,
        &dev,
        vmlmap_models::registry::Engine::Native,
    )
    .unwrap();
    let mut burn = TrainState::load_or_init(
        &none,
        &cfg,
        &tc,
        &dev,
        vmlmap_models::registry::Engine::Native,
    )
    .unwrap();
    assert!(
        native.native,
        "the CPU trains on the native engine by default"
    );
    burn.native = false;
    let ln: Vec<f32> = (0..3).map(|_| native.step(&data, &tc, &table)).collect();
    let lb: Vec<f32> = (0..3).map(|_| burn.step(&data, &tc, &table)).collect();
    for (a, b) in ln.iter().zip(&lb) {
        assert!((a - b).abs() <= 1e-4 * b.abs(), "losses {ln:?} vs {lb:?}");
    }
    let flat = |s: &TrainState| -> Vec<f64> {
        parameters(&s.model)
            .into_iter()
            .flatten()
            .map(|v| v as f64)
            .collect()
    };
    let e = rel_err(&flat(&native), &flat(&burn));
    assert!(e < 1e-3, "weights after 3 steps differ by {e:.1e}");
    let ema = |s: &TrainState| -> Vec<f64> { s.ema.iter().flatten().map(|&v| v as f64).collect() };
    let e = rel_err(&ema(&native), &ema(&burn));
    assert!(e < 1e-3, "EMA after 3 steps differs by {e:.1e}");
}
