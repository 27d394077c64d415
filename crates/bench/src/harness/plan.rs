//! The runs of a bench, in a fixed order (solver, task, noise level, image, seed), cut into
//! batches of one solver that share each network evaluation. The cut depends on the
//! settings alone, never on what has run already or on the shard, so that a resumed or a
//! sharded bench computes every batch exactly as an uninterrupted one would (same
//! problems, same seeds, same batch: the same bits).

use super::config::{BenchSettings, SeedsFor};
use crate::validate::baselines::computes;

/// One restoration: indices into the settings' solvers, tasks, noise levels and images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub solver: usize,
    pub task: usize,
    pub sigma: usize,
    pub image: usize,
    pub seed: u64,
}

/// A batch: consecutive runs of one solver, numbered in the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub index: usize,
    pub runs: Vec<Run>,
}

/// Seeds a solver runs: none but seed 0 for those that use no randomness (they need no
/// prior: `pinv`, `tikhonov`) and, with `seeds_for = samplers`, for the point estimators.
pub fn seeds_of(settings: &BenchSettings, solver: usize) -> u64 {
    let e = &settings.solvers[solver];
    let deterministic = !e.uses_prior();
    let sampler = computes(&e.solver).starts_with("posterior sample");
    if deterministic || (settings.seeds_for == SeedsFor::Samplers && !sampler) {
        1
    } else {
        settings.seeds
    }
}

/// Every run, in plan order.
pub fn runs(settings: &BenchSettings, images: usize) -> Vec<Run> {
    let mut out = Vec::new();
    for solver in 0..settings.solvers.len() {
        let seeds = seeds_of(settings, solver);
        for task in 0..settings.tasks.len() {
            for sigma in 0..settings.sigma_y.len() {
                for image in 0..images {
                    for seed in 0..seeds {
                        out.push(Run {
                            solver,
                            task,
                            sigma,
                            image,
                            seed,
                        });
                    }
                }
            }
        }
    }
    out
}

/// The plan's batches: at most `settings.batch` runs, never two solvers in one.
pub fn batches(settings: &BenchSettings, images: usize) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    for run in runs(settings, images) {
        match out.last_mut() {
            Some(b) if b.runs.len() < settings.batch && b.runs[0].solver == run.solver => {
                b.runs.push(run)
            }
            _ => out.push(Batch {
                index: out.len(),
                runs: vec![run],
            }),
        }
    }
    out
}

/// Shard `i` of `n`: every `n`-th batch from the `i`-th. Batches alternate between
/// shards, so that each shard gets a share of every solver (of the slow ones too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn holds(&self, batch: &Batch) -> bool {
        batch.index % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a shard i/n with 0 <= i < n (for example 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::config::BenchConfig;

    fn settings(solvers: &[&str], batch: usize, seeds: u64, seeds_for: SeedsFor) -> BenchSettings {
        BenchConfig {
            solvers: Some(solvers.iter().map(|s| s.to_string()).collect()),
            batch: Some(batch),
            seeds: Some(seeds),
            seeds_for: Some(seeds_for),
            ..Default::default()
        }
        .resolve()
        .unwrap()
    }

    #[test]
    fn batches_hold_one_solver_and_shards_partition_them() {
        let s = settings(&["pinv", "dps", "vml-map"], 4, 3, SeedsFor::Samplers);
        // pinv and vml-map: 1 seed; dps: 3. 3 tasks x 2 sigmas x 5 images.
        assert_eq!(runs(&s, 5).len(), 30 + 90 + 30);
        let b = batches(&s, 5);
        assert!(b
            .iter()
            .all(|b| b.runs.iter().all(|r| r.solver == b.runs[0].solver)));
        assert!(b.iter().all(|b| b.runs.len() <= 4));
        assert_eq!(b.iter().map(|b| b.runs.len()).sum::<usize>(), 150);
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for batch in &b {
            assert_eq!(shards.iter().filter(|s| s.holds(batch)).count(), 1);
        }
        let all = settings(&["pinv", "vml-map"], 4, 2, SeedsFor::All);
        assert_eq!(runs(&all, 1).len(), 6 + 12);
        assert!("2/2".parse::<Shard>().is_err() && "1".parse::<Shard>().is_err());
    }
}
