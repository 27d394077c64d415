//! The measurement behind VML-MAP's default step size (`lr = 1.5`): the end-to-end error to
//! the exact MAP at N = 1000, K = 5 on the validation problems (sigma_y = 0.05), for a few
//! schedule ends, Karras exponents and step sizes. The error is a tracking lag that scales
//! like 1/lr; the preconditioned step is stable for lr < 2 on Gaussian priors.
//!
//!     cargo run --release -p vmlmap-bench --example lr_sweep

use vmlmap_bench::problems::*;
use vmlmap_core::rng::seeded;
use vmlmap_core::vector::rel_err;
use vmlmap_solvers::vml_map::VmlMapConfig;
use vmlmap_solvers::{Problem, Silent, Solver};
fn main() {
    for task in ["deblur-motion", "deblur-gaussian", "sr4", "inpaint-box"] {
        let op = operator(task).unwrap();
        for (pn, prior) in gaussian_priors(shape_for(task)) {
            let x0 = prior.sample(&mut seeded(7));
            let y = measure(op.as_ref(), &x0, 0.05, 7);
            let map = prior
                .posterior(op.as_ref(), &y, 0.05)
                .unwrap()
                .map()
                .to_vec();
            let problem = Problem::new(op.as_ref(), y, 0.05).unwrap();
            for (smin, rho, lr) in [
                (0.002, 7.0, 1.0),
                (0.001, 7.0, 1.0),
                (0.002, 5.0, 1.0),
                (0.002, 7.0, 1.5),
                (0.0005, 7.0, 1.0),
            ] {
                let s = VmlMapConfig {
                    steps: 1000,
                    inner: 5,
                    sigma_min: smin,
                    rho,
                    lr,
                    ..VmlMapConfig::paper()
                }
                .check()
                .unwrap();
                let out = s.solve(&problem, &prior, 0, &mut Silent).unwrap();
                println!(
                    "{task} {pn} smin={smin} rho={rho} lr={lr}: {:.2e}",
                    rel_err(&out.x, &map)
                );
            }
        }
    }
}
