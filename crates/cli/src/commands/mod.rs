//! One module per command.

pub mod bench;
pub mod bench_nfe;
pub mod degrade;
pub mod demo;
pub mod denoise;
pub mod held_out;
pub mod metrics;
pub mod models;
pub mod perceptual;
pub mod progress;
pub mod restore;
pub mod sample;
pub mod solvers;
pub mod tasks;
pub mod train;
pub mod validate;

/// Reads an image or `.npy` like [`vmlmap_io::read_array`], and prints a warning for each
/// change made to the file's content (colour converted, alpha dropped, resampled) and for
/// `.npy` values outside `[-1 - slack, 1 + slack]`.
/// The model `spec` in f32 on `device`, on the engine `VMLMAP_ENGINE` names (the native
/// kernels unless it says `burn`): how every command loads its prior.
pub fn load_model(
    spec: &str,
    device: &burn::tensor::Device,
) -> Result<
    (
        vmlmap_models::registry::NetworkDenoiser,
        vmlmap_models::registry::ModelInfo,
    ),
    vmlmap_models::adm::load::LoadError,
> {
    use vmlmap_models::registry::{load_denoiser_on, Engine};
    load_denoiser_on(
        spec,
        device,
        vmlmap_models::Precision::F32,
        None,
        Engine::from_env()?,
    )
}

pub fn read_input(
    path: &str,
    expected: Option<vmlmap_core::Shape>,
    resize: bool,
    slack: f64,
) -> Result<(Vec<f64>, vmlmap_core::Shape), vmlmap_io::IoError> {
    let (v, shape, notes) = vmlmap_io::read_array_noting(path, expected, resize, slack)?;
    for n in notes {
        eprintln!("warning: {path}: {n}");
    }
    Ok((v, shape))
}

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
