//! Trace of one VML-MAP run on the embedded prior (noise-free box inpainting of a shipped
//! dress): per level and inner step, the largest step, max |D| and the PSNR of D, to see
//! where few-step runs leave the data manifold.
//!
//!     cargo run --release -p vmlmap-bench --example vml_trace -- N K [lr]
//!
//! Finding (2026-11-29): with N = 5, K = 1 the first inner step at sigma = 80 moves x by up
//! to 68 and D(x) jumps to |D| = 52: at high sigma the network's Jacobian is sigma times
//! its epsilon-prediction error, far from the ~0 of the ideal denoiser, and one full
//! preconditioned step there throws x off the data; the run never recovers (-7.4 dB).
use vmlmap_core::rng::{normal_vec, seeded};
use vmlmap_core::Denoiser;
use vmlmap_operators::TaskSpec;
use vmlmap_solvers::common::Ddim;
use vmlmap_solvers::vml_map::{vml_direction, Preconditioning, VmlMapConfig};
use vmlmap_solvers::Problem;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args[1].parse().unwrap();
    let inner: usize = args[2].parse().unwrap();
    let lr: f64 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(1.5);
    let device = vmlmap_models::DeviceSpec::Cpu.device().unwrap();
    let (den, _) = vmlmap_models::registry::load_denoiser_on(
        "default",
        &device,
        vmlmap_models::Precision::F32,
        None,
        vmlmap_models::registry::Engine::from_env().unwrap(),
    )
    .unwrap();
    let shape = den.shape();
    let (x0, _) = vmlmap_io::read_array(
        "assets/fashion-test/06_dress_t10k13.png",
        Some(shape),
        false,
    )
    .unwrap();
    let op = TaskSpec::new("inpaint-box").unwrap().build(shape).unwrap();
    let y = op.apply(&x0);
    let p = Problem::new(op.as_ref(), y, 1e-9).unwrap();
    let solver = VmlMapConfig {
        steps,
        inner,
        lr,
        ..VmlMapConfig::paper()
    }
    .check()
    .unwrap();
    let sigmas = solver.sigmas(&den);
    let mut x: Vec<f64> = normal_vec(&mut seeded(0), shape.numel())
        .iter()
        .map(|v| v * sigmas[0])
        .collect();
    let mut rng = seeded(1);
    let maxabs = |v: &[f64]| v.iter().fold(0f64, |m, a| m.max(a.abs()));
    for (i, &s) in sigmas.iter().enumerate() {
        for k in 0..inner {
            let d = vml_direction(&p, &den, &x, s, Preconditioning::Gram).unwrap();
            let stepn = maxabs(&d.direction) * lr;
            for (a, b) in x.iter_mut().zip(&d.direction) {
                *a -= lr * b;
            }
            println!("  level {i} sigma {s:.4} inner {k}: max|step| {stepn:.3} max|D| {:.3} psnr(D) {:.2}", maxabs(&d.denoised), vmlmap_metrics::psnr(&d.denoised, &x0));
        }
        let d = den.denoise(&x, s).unwrap();
        let next = sigmas.get(i + 1).copied().unwrap_or(0.0);
        println!(
            "level {i} sigma {s:.4}: max|x| {:.3} max|D| {:.3} psnr(D) {:.2}",
            maxabs(&x),
            maxabs(&d),
            vmlmap_metrics::psnr(&d, &x0)
        );
        x = Ddim::new(s, next, 0.0).step(&x, &d, &mut rng);
    }
}
