//! Makes a worse copy of a model: Gaussian noise added to its weight matrices.
//!
//! Localnet needs miners of known, different quality without training anything. Adding noise
//! scaled to each matrix's own standard deviation (`w + strength * std(w) * N(0, 1)`) degrades a
//! model smoothly: the larger the strength, the higher its loss. Vectors (norms, biases) are left
//! alone so the model stays numerically sane. The noise is seeded, so a copy is reproducible and
//! its directory hash stable across runs.

use anyhow::{bail, Context, Result};
use half::{bf16, f16};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::Path;

fn to_f32(dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        other => bail!("cannot add noise to a {other:?} tensor"),
    })
}

fn from_f32(dtype: Dtype, values: &[f32]) -> Vec<u8> {
    match dtype {
        Dtype::BF16 => values.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect(),
        Dtype::F16 => values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
        _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// Writes `dst` (a `.safetensors` file): `src` with noise of `strength` on every 2-D tensor.
pub fn degrade_safetensors(src: &Path, dst: &Path, strength: f32, seed: u64) -> Result<()> {
    let bytes = std::fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    let tensors = SafeTensors::deserialize(&bytes).with_context(|| format!("{} is not safetensors", src.display()))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> = BTreeMap::new();
    let mut names: Vec<String> = tensors.names().into_iter().map(str::to_string).collect();
    names.sort(); // a fixed order makes the noise, hence the file, reproducible
    for name in names {
        let view = tensors.tensor(&name)?;
        let shape = view.shape().to_vec();
        let data = if shape.len() == 2 && strength > 0.0 {
            let mut values = to_f32(view.dtype(), view.data())?;
            let n = values.len() as f64;
            let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
            let std = (values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt() as f32;
            for v in &mut values {
                let z: f32 = StandardNormal.sample(&mut rng);
                *v += strength * std * z;
            }
            from_f32(view.dtype(), &values)
        } else {
            view.data().to_vec()
        };
        out.insert(name, (view.dtype(), shape, data));
    }
    let views: Vec<(String, TensorView)> = out
        .iter()
        .map(|(name, (dtype, shape, data))| Ok((name.clone(), TensorView::new(*dtype, shape.clone(), data)?)))
        .collect::<Result<_>>()?;
    safetensors::serialize_to_file(views, None, dst).with_context(|| format!("cannot write {}", dst.display()))?;
    Ok(())
}
