//! Helpers the `vmlmap` binary's test files share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// An empty cache folder: tests see no metric weights unless they ask for them, whatever
/// the machine's cache holds.
pub fn no_cache() -> PathBuf {
    std::env::temp_dir().join("vmlmap-tests-empty-cache")
}

/// Runs `vmlmap ARGS` (with [`no_cache`]).
pub fn vmlmap(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .env("VMLMAP_CACHE", no_cache())
        .args(args)
        .output()
        .expect("runs")
}

/// A file of the repository's `tests/fixtures`.
pub fn fixture(p: &str) -> String {
    format!("{}/../../tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))
}

pub fn vmlmap_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmlmap"))
        .env("VMLMAP_CACHE", no_cache())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

pub fn repo(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p)
        .to_string_lossy()
        .into_owned()
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmlmap-user-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(o)))
}

/// A grey PNG drawn by a formula.
pub fn grey(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> u8) {
    image::GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]))
        .save(path)
        .unwrap();
}

pub fn read_grey(path: &Path) -> Vec<u8> {
    image::open(path).unwrap().to_luma8().into_raw()
}
