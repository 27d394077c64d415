//! One module per command.

pub mod bench_nfe;
pub mod degrade;
pub mod demo;
pub mod denoise;
pub mod models;
pub mod restore;
pub mod sample;
pub mod tasks;
pub mod train;
pub mod validate;

/// Checks an output path before any work: not there already (unless `force`), an
/// extension the command writes, and a folder that exists.
pub fn check_output(path: &str, extensions: &[&str], force: bool) -> anyhow::Result<()> {
    let p = std::path::Path::new(path);
    if p.exists() && !force {
        anyhow::bail!("{path} exists; pass --force to overwrite it");
    }
    let ext = p.extension().map(|e| e.to_string_lossy().to_lowercase());
    if !ext.as_deref().is_some_and(|e| extensions.contains(&e)) {
        anyhow::bail!(
            "cannot write {path}: this command writes {}",
            extensions
                .iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
    }
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !parent.is_dir() {
        anyhow::bail!(
            "cannot write {path}: the folder {} does not exist",
            parent.display()
        );
    }
    Ok(())
}
