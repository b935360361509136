//! The weights of a snapshot seen through their safetensors headers: every tensor's dtype, shape
//! and bytes (memory-mapped, nothing loaded), and the parameter count transformers would report.
//!
//! Headers are untrusted: the `safetensors` crate refuses a header longer than the file,
//! overlapping or non-contiguous offsets and sizes that disagree with dtype × shape; we add
//! duplicate names across shards and a count that must fit in 64 bits.

use crate::architecture::ModelConfig;
use memmap2::Mmap;
use safetensors::tensor::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("{file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("{file}: invalid safetensors header: {reason}")]
    BadHeader { file: String, reason: String },
    #[error("tensor {name} appears in both {first} and {second}")]
    Duplicate { name: String, first: String, second: String },
    #[error("tensor {0} is missing")]
    Missing(String),
    #[error("tensor {name} has shape {shape:?}, the config implies {expected:?}")]
    Shape { name: String, shape: Vec<usize>, expected: Vec<usize> },
    #[error("the parameter count overflows 64 bits")]
    Overflow,
}

/// One tensor: where its bytes are and what they are.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    pub file: usize,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Byte range inside the mapped file.
    pub bytes: std::ops::Range<usize>,
}

impl TensorEntry {
    pub fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
    }
}

/// The safetensors files of a snapshot, mapped, with every tensor by name.
pub struct Weights {
    pub files: Vec<(String, Mmap)>,
    pub tensors: BTreeMap<String, TensorEntry>,
}

impl Weights {
    /// Maps and indexes `files` (paths relative to `dir`).
    pub fn open(dir: &Path, files: &[String]) -> Result<Weights, WeightsError> {
        let mut mapped = Vec::with_capacity(files.len());
        let mut tensors: BTreeMap<String, TensorEntry> = BTreeMap::new();
        for (index, name) in files.iter().enumerate() {
            let unreadable = |reason: String| WeightsError::Unreadable { file: name.clone(), reason };
            let file = File::open(dir.join(name)).map_err(|e| unreadable(e.to_string()))?;
            // SAFETY: the file lives in our own staging or store folder, which nothing else
            // writes to while the map is alive.
            let map = unsafe { Mmap::map(&file) }.map_err(|e| unreadable(e.to_string()))?;
            let (header_len, metadata) = SafeTensors::read_metadata(&map)
                .map_err(|e| WeightsError::BadHeader { file: name.clone(), reason: e.to_string() })?;
            let data_start = 8 + header_len;
            for (tensor, info) in metadata.tensors() {
                let entry = TensorEntry {
                    file: index,
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    bytes: data_start + info.data_offsets.0..data_start + info.data_offsets.1,
                };
                if let Some(prev) = tensors.insert(tensor.clone(), entry) {
                    return Err(WeightsError::Duplicate {
                        name: tensor,
                        first: files[prev.file].clone(),
                        second: name.clone(),
                    });
                }
            }
            mapped.push((name.clone(), map));
        }
        Ok(Weights { files: mapped, tensors })
    }

    /// The raw bytes of a tensor.
    pub fn data(&self, entry: &TensorEntry) -> &[u8] {
        &self.files[entry.file].1[entry.bytes.clone()]
    }
}

/// The parameter count, and what was left out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterCount {
    pub parameters: u64,
    /// Tensors the model class has no parameter for (transformers ignores them when loading).
    pub ignored: Vec<String>,
    /// The output head was tied to the embedding (counted once).
    pub tied_head: bool,
}

/// Counts parameters the way `sum(p.numel() for p in model.parameters())` does after
/// transformers loads the checkpoint into `cfg.arch`'s class: only the class's parameters, a tied
/// head once (it *is* the embedding), buffers and unknown tensors not at all. Checks the
/// embedding (and an untied head) against the config's vocabulary and hidden sizes, and that every
/// layer has the projections the norm check reads.
pub fn count_parameters(weights: &Weights, cfg: &ModelConfig) -> Result<ParameterCount, WeightsError> {
    let arch = cfg.arch;
    let mut parameters: u64 = 0;
    let mut ignored = Vec::new();
    let expected_embed = vec![cfg.vocab_size, cfg.hidden_size];
    for (name, entry) in &weights.tensors {
        let counted = if name == arch.embed || arch.top_level.contains(&name.as_str()) {
            true
        } else if name == arch.head {
            !cfg.tie_word_embeddings
        } else if let Some(rest) = name.strip_prefix(arch.layer_prefix) {
            rest.split_once('.').is_some_and(|(index, param)| {
                index.parse::<usize>().is_ok_and(|i| i < cfg.num_layers && index == i.to_string())
                    && arch.layer_params.contains(&param)
            })
        } else {
            false
        };
        if counted {
            parameters =
                parameters.checked_add(entry.numel().ok_or(WeightsError::Overflow)?).ok_or(WeightsError::Overflow)?;
        } else if name != arch.head {
            ignored.push(name.clone());
        }
    }
    let mut required = vec![(arch.embed.to_string(), Some(&expected_embed))];
    if !cfg.tie_word_embeddings {
        required.push((arch.head.to_string(), Some(&expected_embed)));
    }
    for layer in 0..cfg.num_layers {
        for projection in &arch.projections {
            required.push((format!("{}{layer}.{}", arch.layer_prefix, projection.tensor), None));
        }
    }
    for (name, shape) in required {
        let entry = weights.tensors.get(&name).ok_or_else(|| WeightsError::Missing(name.clone()))?;
        if let Some(expected) = shape.filter(|s| **s != entry.shape) {
            return Err(WeightsError::Shape { name, shape: entry.shape.clone(), expected: expected.clone() });
        }
    }
    Ok(ParameterCount { parameters, ignored, tied_head: cfg.tie_word_embeddings })
}
