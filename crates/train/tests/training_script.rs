//! `training/fashion32-20ep.sh` is the recipe of the embedded prior's 20-epoch run (issue 13;
//! `assets/models/MODEL_CARD.md`). This test checks that the script passes exactly the recipe
//! the model card describes, at least 20 epochs of Fashion-MNIST, so that a rerun of the
//! script retrains the shipped prior (`vmlmap train` would resume a state under another
//! recipe with only a note).

use std::collections::HashMap;
use std::path::PathBuf;
use vmlmap_train::lr::LrDecay;
use vmlmap_train::trainer::TrainConfig;

fn training_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../training")
}

/// The `--flag value` pairs of the script's `ARGS=( ... )` block.
fn script_args() -> HashMap<String, String> {
    let path = training_dir().join("fashion32-20ep.sh");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let start = text.find("ARGS=(").expect("the script has an ARGS=( block") + "ARGS=(".len();
    let end = start + text[start..].find(')').expect("the ARGS block is closed");
    let words: Vec<&str> = text[start..end].split_whitespace().collect();
    assert_eq!(
        words.len() % 2,
        0,
        "ARGS holds --flag value pairs: {words:?}"
    );
    words
        .chunks(2)
        .map(|p| {
            assert!(p[0].starts_with("--"), "{p:?} is not a --flag value pair");
            (p[0].trim_start_matches("--").to_string(), p[1].to_string())
        })
        .collect()
}

fn script_config(args: &HashMap<String, String>) -> TrainConfig {
    let get = |k: &str| -> &str {
        args.get(k)
            .unwrap_or_else(|| panic!("the script sets --{k}"))
    };
    let num = |k: &str| -> f64 { get(k).parse().unwrap_or_else(|e| panic!("--{k}: {e}")) };
    let int = |k: &str| -> u64 { get(k).parse().unwrap_or_else(|e| panic!("--{k}: {e}")) };
    TrainConfig {
        steps: int("steps"),
        batch: int("batch") as usize,
        lr: num("lr"),
        warmup: int("warmup"),
        decay: LrDecay::parse(get("lr-decay"), num("lr-final")).expect("a known --lr-decay"),
        ema_decay: num("ema"),
        seed: int("seed"),
        save_every: int("save-every"),
    }
}

#[test]
fn the_script_trains_the_issues_recipe() {
    // Issue 13: at least 20 epochs of Fashion-MNIST's 60,000 images.
    let tc = script_config(&script_args());
    assert!(tc.steps * tc.batch as u64 >= 20 * 60_000, "{tc:?}");
    assert_eq!(
        tc.recipe(),
        "batch 32, lr 5e-4 (500 warm-up steps, then cosine to 5e-5 at step 37500), EMA 0.9999, seed 0"
    );
}
