//! A competition's model constraints checked on a snapshot folder, without loading the model.
//!
//! | constraint | how | upstream |
//! |---|---|---|
//! | architecture | class from `config.json`'s `model_type` (must agree with `architectures[0]`), exact match with `allowed_architectures` | `type(model) in allowed` |
//! | parameters | from safetensors headers ([`crate::weights::count_parameters`]) | `Σ p.numel()` |
//! | bytes | Σ sizes of every file at the revision, from the listing | same, before download |
//! | sequence length | never a rejection: `max_position_embeddings` below `sequence_length` is reported and logged | not checked; inputs truncated |
//! | tokenizer | a competition without a fixed tokenizer needs the miner's `tokenizer.json` | missing tokenizer scores inf |
//! | norms | [`crate::norms`], every architecture | Llama-style names only |
//!
//! Sequence length: upstream evaluates a model whose window is shorter than the competition's
//! `sequence_length` (RoPE models run past it; most samples are shorter anyway), so rejecting it
//! would split our weights from upstream's. The limit is reported for the engine.
//!
//! On top of upstream, a config must be sane ([`crate::architecture::ModelConfig::parse`]:
//! bounded dimensions, embedding shapes that match it, every layer's projections present).

use crate::architecture::{ConfigError, ModelConfig};
use crate::fileset::{REQUIRED_TOKENIZER_FILE, SINGLE_WEIGHTS, WEIGHTS_INDEX};
use crate::norms::{check_norms, NormError, NormReport};
use crate::weights::{count_parameters, Weights, WeightsError};
use scoring::competition::ModelConstraints;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConstraintError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Weights(#[from] WeightsError),
    #[error("{0}")]
    Norm(#[from] NormError),
    #[error("architecture {class} is not allowed in this competition (allowed: {allowed})")]
    ArchitectureNotAllowed { class: String, allowed: String },
    #[error("{count} parameters, more than the maximum {max}")]
    TooManyParameters { count: u64, max: u64 },
    #[error("{count} parameters, fewer than the minimum {min}")]
    TooFewParameters { count: u64, min: u64 },
    #[error("the repository is {bytes} bytes, over the {max} byte limit")]
    TooLarge { bytes: u64, max: u64 },
    #[error("this competition evaluates with the miner's tokenizer, and the repository has no usable {REQUIRED_TOKENIZER_FILE}: {0}")]
    NoTokenizer(String),
    #[error(
        "weight norms fail the check: {}",
        match &.0.hard_violation {
            Some((at, n)) => format!("{at} has norm {n}, above the hard limit"),
            None => format!("mean share of layers above the soft limit is {:.3}", .0.mean_soft_exceed),
        }
    )]
    Norms(NormReport),
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

/// What the checks found about a model that passed them.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintReport {
    pub architecture: String,
    pub parameters: u64,
    /// Tensors in the files that the class has no parameter for (not counted; a warning).
    pub ignored_tensors: Vec<String>,
    pub total_bytes: u64,
    pub max_position_embeddings: Option<u64>,
    /// The model's window is shorter than the competition's `sequence_length`.
    pub window_shorter_than_sequence_length: bool,
    pub norms: Option<NormReport>,
}

/// The safetensors files of a snapshot folder: `model.safetensors`, else the index's shards.
pub fn weight_files(snapshot: &Path) -> Result<Vec<String>, ConstraintError> {
    if snapshot.join(SINGLE_WEIGHTS).is_file() {
        return Ok(vec![SINGLE_WEIGHTS.to_string()]);
    }
    let path = snapshot.join(WEIGHTS_INDEX);
    let bytes = std::fs::read(&path)
        .map_err(|e| ConstraintError::Io { path: path.display().to_string(), reason: e.to_string() })?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ConstraintError::Io { path: path.display().to_string(), reason: e.to_string() })?;
    let mut shards: Vec<String> = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .map(|m| m.values().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    shards.sort();
    shards.dedup();
    Ok(shards)
}

/// Checks the architecture from a parsed config (cheap: done before any weight byte is fetched).
pub fn check_architecture(cfg: &ModelConfig, constraints: &ModelConstraints) -> Result<(), ConstraintError> {
    if constraints.allowed_architectures.iter().any(|a| a == cfg.arch.class) {
        Ok(())
    } else {
        Err(ConstraintError::ArchitectureNotAllowed {
            class: cfg.arch.class.to_string(),
            allowed: constraints.allowed_architectures.join(", "),
        })
    }
}

/// Every constraint, on a snapshot folder (and the tokenizer folder beside it, when the
/// competition uses the miner's tokenizer). `total_bytes` is the listing's total.
pub fn check_snapshot(
    snapshot: &Path,
    tokenizer_dir: Option<&Path>,
    total_bytes: u64,
    constraints: &ModelConstraints,
) -> Result<ConstraintReport, ConstraintError> {
    if total_bytes > constraints.max_bytes {
        return Err(ConstraintError::TooLarge { bytes: total_bytes, max: constraints.max_bytes });
    }
    let config_path = snapshot.join(crate::fileset::CONFIG);
    let config = std::fs::read(&config_path)
        .map_err(|e| ConstraintError::Io { path: config_path.display().to_string(), reason: e.to_string() })?;
    let cfg = ModelConfig::parse(&config)?;
    check_architecture(&cfg, constraints)?;
    if constraints.tokenizer.is_none() {
        check_tokenizer(tokenizer_dir)?;
    }
    let weights = Weights::open(snapshot, &weight_files(snapshot)?)?;
    let count = count_parameters(&weights, &cfg)?;
    if count.parameters > constraints.max_model_parameter_size {
        return Err(ConstraintError::TooManyParameters {
            count: count.parameters,
            max: constraints.max_model_parameter_size,
        });
    }
    if count.parameters < constraints.min_model_parameter_size {
        return Err(ConstraintError::TooFewParameters {
            count: count.parameters,
            min: constraints.min_model_parameter_size,
        });
    }
    let norms = match &constraints.norm_validation {
        Some(limits) => {
            let report = check_norms(&weights, &cfg, limits)?;
            if !report.passed {
                return Err(ConstraintError::Norms(report));
            }
            Some(report)
        }
        None => None,
    };
    let short_window = cfg.max_position_embeddings.is_some_and(|p| p < constraints.sequence_length as u64);
    Ok(ConstraintReport {
        architecture: cfg.arch.class.to_string(),
        parameters: count.parameters,
        ignored_tensors: count.ignored,
        total_bytes,
        max_position_embeddings: cfg.max_position_embeddings,
        window_shorter_than_sequence_length: short_window,
        norms,
    })
}

fn check_tokenizer(dir: Option<&Path>) -> Result<(), ConstraintError> {
    let dir = dir.ok_or_else(|| ConstraintError::NoTokenizer("no tokenizer folder".into()))?;
    let path = dir.join(REQUIRED_TOKENIZER_FILE);
    let bytes = std::fs::read(&path).map_err(|e| ConstraintError::NoTokenizer(e.to_string()))?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.is_object() => Ok(()),
        Ok(_) => Err(ConstraintError::NoTokenizer("tokenizer.json is not a JSON object".into())),
        Err(e) => Err(ConstraintError::NoTokenizer(format!("tokenizer.json is not JSON: {e}"))),
    }
}
