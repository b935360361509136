//! Engine errors, and whose fault each one is.
//!
//! The validator turns an error into a score, so every error says who caused it:
//! - **the miner** (`Fault::Miner`): the submitted folder is unusable — bad or missing config,
//!   weights with wrong shapes or missing tensors, pickle weights or remote code, an
//!   architecture we do not run, a tokenizer or chat template that cannot be loaded or that
//!   raises, or a forward pass that yields NaN/inf. The caller scores such a model (or sample)
//!   `inf`, as upstream does for any exception.
//! - **the validator** (`Fault::Validator`): out of memory, a device (CUDA) failure, an I/O
//!   error on our own disk, or a tokenizer the validator itself supplied. These are retryable
//!   and must never become `inf`.
//! - **the caller** (`Fault::Caller`): a bad argument to this crate (an empty batch, a sample
//!   of the wrong kind); a bug in the calling code, neither scored nor retried.

use std::path::PathBuf;

/// Who is to blame for an [`EngineError`]; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Miner,
    Validator,
    Caller,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("bad config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("unsupported architecture: {0}")]
    UnsupportedArchitecture(String),
    #[error("refused model folder {path}: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("bad weights: {0}")]
    Weights(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("the model produced a non-finite value ({what})")]
    NonFinite { what: String },
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    #[error("device error: {0}")]
    Device(String),
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A file the validator supplied (e.g. the competition's fixed tokenizer) is unusable.
    #[error("validator setup: {0}")]
    Setup(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// Whose fault this is.
    pub fn fault(&self) -> Fault {
        match self {
            EngineError::Config { .. }
            | EngineError::UnsupportedArchitecture(_)
            | EngineError::Refused { .. }
            | EngineError::Weights(_)
            | EngineError::Tokenizer(_)
            | EngineError::Template(_)
            | EngineError::NonFinite { .. } => Fault::Miner,
            EngineError::OutOfMemory(_) | EngineError::Device(_) | EngineError::Io { .. } | EngineError::Setup(_) => {
                Fault::Validator
            }
            EngineError::Invalid(_) => Fault::Caller,
        }
    }

    /// The model (or the sample) is to be scored `inf`.
    pub fn is_miner_fault(&self) -> bool {
        self.fault() == Fault::Miner
    }

    /// The validator's own failure: retry later (or elsewhere), never score it.
    pub fn is_retryable(&self) -> bool {
        self.fault() == Fault::Validator
    }

    pub(crate) fn config(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        EngineError::Config { path: path.into(), reason: reason.to_string() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io { path: path.into(), source }
    }

    /// Classifies a tensor-library error raised while building a model from its weights:
    /// the weights are to blame unless the device itself failed.
    pub(crate) fn from_load(err: candle_core::Error) -> Self {
        match device_failure(&err) {
            Some(e) => e,
            None => EngineError::Weights(err.to_string()),
        }
    }

    /// Classifies a tensor-library error raised while running a model that loaded fine: the
    /// shapes were all checked at load time, so what is left is the device (or memory).
    pub(crate) fn from_run(err: candle_core::Error) -> Self {
        match device_failure(&err) {
            Some(e) => e,
            None => EngineError::Device(err.to_string()),
        }
    }
}

fn device_failure(err: &candle_core::Error) -> Option<EngineError> {
    let text = err.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("out_of_memory") || lower.contains("out of memory") || lower.contains("memory allocation") {
        return Some(EngineError::OutOfMemory(text));
    }
    match innermost(err) {
        candle_core::Error::Cuda(_) | candle_core::Error::Metal(_) | candle_core::Error::NotCompiledWithCudaSupport => {
            Some(EngineError::Device(text))
        }
        candle_core::Error::Io(_) => Some(EngineError::Device(text)),
        _ => None,
    }
}

fn innermost(err: &candle_core::Error) -> &candle_core::Error {
    match err {
        candle_core::Error::WithBacktrace { inner, .. }
        | candle_core::Error::WithPath { inner, .. }
        | candle_core::Error::Context { inner, .. } => innermost(inner),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_classified() {
        assert!(EngineError::Weights("x".into()).is_miner_fault());
        assert!(EngineError::NonFinite { what: "loss".into() }.is_miner_fault());
        assert!(EngineError::OutOfMemory("x".into()).is_retryable());
        assert!(!EngineError::OutOfMemory("x".into()).is_miner_fault());
        assert_eq!(EngineError::Invalid("x".into()).fault(), Fault::Caller);
        let cuda = candle_core::Error::Cuda("DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")".into());
        assert!(matches!(EngineError::from_run(cuda), EngineError::OutOfMemory(_)));
        let missing = candle_core::Error::CannotFindTensor { path: "lm_head.weight".into() };
        assert!(EngineError::from_load(missing).is_miner_fault());
    }
}
