//! The compiled core of the `vmlmap` Python package (`vmlmap._vmlmap`): VML-MAP (Gutha,
//! Vinuesa, Azizpour, arXiv 2512.10524) and its baselines on numpy arrays, with the
//! library's operators, solvers and native networks, or any Python denoiser as the prior.
//! The thin Python layer (`python/vmlmap`) adds docstrings, stubs and `vmlmap.torch`.

mod arrays;
mod catalogue;
mod degrade;
mod errors;
mod interrupt;
mod model;
mod operator;
mod options;
mod py_denoiser;
mod restore;

use pyo3::prelude::*;

#[pymodule]
fn _vmlmap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The environment is read here, at the edge, as the `vmlmap` binary does.
    if let Ok(v) = std::env::var("VMLMAP_SIMD") {
        vmlmap_models::native::choose_simd(&v).map_err(|e| {
            pyo3::exceptions::PyValueError::new_err(format!("VMLMAP_SIMD={v}: {e}"))
        })?;
    }
    m.add_function(wrap_pyfunction!(degrade::degrade, m)?)?;
    m.add_function(wrap_pyfunction!(restore::restore, m)?)?;
    m.add_function(wrap_pyfunction!(model::load_model, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue::tasks, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue::solvers, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue::validate, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue::default_weights, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue::read_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue::ddpm_timesteps, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue::ddpm_round_sigma, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue::read_image, m)?)?;
    m.add_class::<model::Model>()?;
    m.add_class::<operator::Operator>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
