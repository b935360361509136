//! A loaded model: the checked snapshot, its network on a device, and its tokenizer (or the
//! one the caller imposes). Load once, then score or generate as often as needed.

use crate::error::{EngineError, Result};
use crate::models::{Architecture, LoadError};
use crate::nn::decoder::Decoder;
use crate::snapshot::Snapshot;
use crate::text::tokenizer::{ChatTokenizer, TokenizerOrigin};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use std::path::{Path, PathBuf};

/// Where the model runs: the CPU in f32, or a CUDA device in bf16 (needs the `cuda` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
}

impl DeviceChoice {
    fn open(self) -> Result<(Device, DType)> {
        match self {
            DeviceChoice::Cpu => Ok((Device::Cpu, DType::F32)),
            DeviceChoice::Cuda(ordinal) => {
                if !cfg!(feature = "cuda") {
                    return Err(EngineError::Setup("this build has no CUDA support (cargo feature `cuda`)".into()));
                }
                let device =
                    Device::new_cuda(ordinal).map_err(|e| EngineError::Device(format!("cuda:{ordinal}: {e}")))?;
                Ok((device, DType::BF16))
            }
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(format!("unknown device `{other}` (cpu, cuda, cuda:N)")),
            },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub device: DeviceChoice,
    /// Use this folder's tokenizer and chat template instead of the model's (a competition's
    /// fixed evaluation tokenizer). Its failures are the validator's, not the miner's.
    pub tokenizer_dir: Option<PathBuf>,
}

/// A model ready to evaluate.
pub struct Model {
    snapshot: Snapshot,
    decoder: Decoder,
    tokenizer: ChatTokenizer,
}

impl Model {
    /// Checks the folder, loads the tokenizer, then memory-maps and loads the weights.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Model> {
        let snapshot = Snapshot::open(dir)?;
        let tokenizer = match &opts.tokenizer_dir {
            Some(other) => ChatTokenizer::load(other, TokenizerOrigin::Validator)?,
            None => ChatTokenizer::load(dir, TokenizerOrigin::Model)?,
        };
        let (device, dtype) = opts.device.open()?;
        // SAFETY: the weight files are memory-mapped; the validator never modifies a model
        // folder while it is loaded, so the mapping stays valid while the tensors are built.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&snapshot.weight_files, dtype, &device) }
            .map_err(EngineError::from_load)?;
        let decoder = snapshot.architecture.load(&snapshot.config, vb).map_err(|e| match e {
            LoadError::Config(msg) => EngineError::config(dir.join("config.json"), msg),
            LoadError::Unsupported(msg) => EngineError::UnsupportedArchitecture(msg),
            LoadError::Tensors(e) => EngineError::from_load(e),
        })?;
        Ok(Model { snapshot, decoder, tokenizer })
    }

    pub fn architecture(&self) -> Architecture {
        self.snapshot.architecture
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn tokenizer(&self) -> &ChatTokenizer {
        &self.tokenizer
    }

    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    pub fn device(&self) -> &Device {
        self.decoder.device()
    }

    pub fn vocab_size(&self) -> usize {
        self.decoder.vocab_size
    }

    /// Every id must index the embedding: a tokenizer larger than the model's vocabulary
    /// makes the model unusable for this evaluation (the miner's fault, as upstream's
    /// IndexError would make it).
    pub(crate) fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids.iter().find(|&&id| id as usize >= self.decoder.vocab_size) {
            Some(id) => Err(EngineError::Weights(format!(
                "token id {id} is outside the model's vocabulary of {}",
                self.decoder.vocab_size
            ))),
            None => Ok(()),
        }
    }
}
