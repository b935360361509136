//! The miners' model folders: a base model (a folder given by the operator, or SmolLM2 imported
//! from its PyPI wheel), optionally cut to its first layers, and worse copies of it.

use super::degrade::degrade_safetensors;
use anyhow::{bail, Context, Result};
use half::bf16;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::path::Path;

/// Files a model folder may carry besides its weights, copied as they are.
const SIDE_FILES: [&str; 6] = [
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
];

/// `model.layers.7.mlp…` → 7 (Llama-style names and Falcon's `transformer.h.7…`).
fn layer_index(name: &str) -> Option<usize> {
    let rest = name.split(".layers.").nth(1).or_else(|| name.split(".h.").nth(1))?;
    rest.split('.').next()?.parse().ok()
}

fn copy_side_files(src: &Path, dst: &Path) -> Result<()> {
    for f in SIDE_FILES {
        if src.join(f).is_file() {
            std::fs::copy(src.join(f), dst.join(f)).with_context(|| format!("copying {f}"))?;
        }
    }
    Ok(())
}

/// Writes `dst`: the model in `src` with only its first `layers` layers (all when `None`) and
/// its floating-point weights in bf16, which halves what every miner copy costs on disk.
pub fn prepare_base(src: &Path, dst: &Path, layers: Option<usize>) -> Result<()> {
    let weights = src.join("model.safetensors");
    if !weights.is_file() {
        bail!("{} must hold a single model.safetensors (sharded checkpoints are not supported here)", src.display());
    }
    std::fs::create_dir_all(dst)?;
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(src.join("config.json"))?)
        .with_context(|| format!("{}/config.json", src.display()))?;
    let key = ["num_hidden_layers", "n_layer", "num_layers"].into_iter().find(|k| config.get(*k).is_some());
    if let (Some(n), Some(key)) = (layers, key) {
        let have = config[key].as_u64().unwrap_or(0) as usize;
        if n == 0 || n > have {
            bail!("the base model has {have} layers; cannot keep {n}");
        }
        config[key] = n.into();
    } else if layers.is_some() {
        bail!("cannot find the layer count in {}/config.json", src.display());
    }
    for k in ["torch_dtype", "dtype"] {
        if config.get(k).is_some() {
            config[k] = "bfloat16".into();
        }
    }
    std::fs::write(dst.join("config.json"), serde_json::to_vec_pretty(&config)?)?;

    let bytes = std::fs::read(&weights)?;
    let tensors = SafeTensors::deserialize(&bytes)?;
    let mut kept: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in tensors.tensors() {
        if let (Some(n), Some(i)) = (layers, layer_index(&name)) {
            if i >= n {
                continue;
            }
        }
        let data = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .flat_map(|c| bf16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes())
                .collect(),
            Dtype::F16 => view
                .data()
                .chunks_exact(2)
                .flat_map(|c| bf16::from_f32(half::f16::from_le_bytes([c[0], c[1]]).to_f32()).to_le_bytes())
                .collect(),
            Dtype::BF16 => view.data().to_vec(),
            other => bail!("tensor {name} has dtype {other:?}; only float models are supported"),
        };
        kept.push((name, view.shape().to_vec(), data));
    }
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    let views: Vec<(String, TensorView)> = kept
        .iter()
        .map(|(n, s, d)| Ok((n.clone(), TensorView::new(Dtype::BF16, s.clone(), d)?)))
        .collect::<Result<_>>()?;
    safetensors::serialize_to_file(views, None, &dst.join("model.safetensors"))?;
    copy_side_files(src, dst)
}

/// Writes `dst`: `src` with noise of `strength` on its weight matrices (see [`degrade_safetensors`]).
pub fn degraded_copy(src: &Path, dst: &Path, strength: f32, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    std::fs::copy(src.join("config.json"), dst.join("config.json"))?;
    degrade_safetensors(&src.join("model.safetensors"), &dst.join("model.safetensors"), strength, seed)?;
    copy_side_files(src, dst)
}

/// Copies a model folder as it is.
pub fn plain_copy(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    std::fs::copy(src.join("config.json"), dst.join("config.json"))?;
    std::fs::copy(src.join("model.safetensors"), dst.join("model.safetensors"))
        .with_context(|| format!("{} must hold a single model.safetensors", src.display()))?;
    copy_side_files(src, dst)
}

#[cfg(test)]
mod tests {
    use super::layer_index;

    #[test]
    fn layer_names() {
        assert_eq!(layer_index("model.layers.12.mlp.up_proj.weight"), Some(12));
        assert_eq!(layer_index("transformer.h.3.self_attention.dense.weight"), Some(3));
        assert_eq!(layer_index("model.embed_tokens.weight"), None);
    }
}
