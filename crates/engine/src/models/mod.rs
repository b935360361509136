//! The supported architectures, one file each (its config struct and how its checkpoint maps
//! onto the shared [`Decoder`]), and the dispatch from `config.json` to the right one.

pub mod falcon;
pub mod gemma;
pub mod gemma2;
pub mod gpt_neox;
pub mod llama;
pub mod mistral;
pub mod phi;
pub mod phi3;
pub mod qwen2;
pub mod qwen3;

use crate::nn::decoder::Decoder;
use crate::nn::mlp::Activation;
use crate::nn::rotary::{RopeSpec, Rotary};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The architectures the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Phi3,
    Phi,
    Gemma,
    Gemma2,
    GptNeoX,
    Falcon,
}

impl Architecture {
    pub const ALL: [Architecture; 10] = [
        Architecture::Llama,
        Architecture::Mistral,
        Architecture::Qwen2,
        Architecture::Qwen3,
        Architecture::Phi3,
        Architecture::Phi,
        Architecture::Gemma,
        Architecture::Gemma2,
        Architecture::GptNeoX,
        Architecture::Falcon,
    ];

    /// The `architectures` entry `transformers` writes for it.
    pub fn class_name(self) -> &'static str {
        match self {
            Architecture::Llama => "LlamaForCausalLM",
            Architecture::Mistral => "MistralForCausalLM",
            Architecture::Qwen2 => "Qwen2ForCausalLM",
            Architecture::Qwen3 => "Qwen3ForCausalLM",
            Architecture::Phi3 => "Phi3ForCausalLM",
            Architecture::Phi => "PhiForCausalLM",
            Architecture::Gemma => "GemmaForCausalLM",
            Architecture::Gemma2 => "Gemma2ForCausalLM",
            Architecture::GptNeoX => "GPTNeoXForCausalLM",
            Architecture::Falcon => "FalconForCausalLM",
        }
    }

    /// The config's `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Mistral => "mistral",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
            Architecture::Phi3 => "phi3",
            Architecture::Phi => "phi",
            Architecture::Gemma => "gemma",
            Architecture::Gemma2 => "gemma2",
            Architecture::GptNeoX => "gpt_neox",
            Architecture::Falcon => "falcon",
        }
    }

    /// Picks the architecture from `architectures[0]`, else from `model_type`.
    pub fn from_config(config: &Value) -> Result<Architecture, String> {
        let class =
            config.get("architectures").and_then(Value::as_array).and_then(|a| a.first()).and_then(Value::as_str);
        let model_type = config.get("model_type").and_then(Value::as_str);
        if let Some(class) = class {
            return Architecture::ALL.into_iter().find(|a| a.class_name() == class).ok_or_else(|| {
                format!("architecture `{class}` is not supported (supported: {})", Self::supported_list())
            });
        }
        match model_type {
            Some(t) => Architecture::ALL
                .into_iter()
                .find(|a| a.model_type() == t)
                .ok_or_else(|| format!("model_type `{t}` is not supported (supported: {})", Self::supported_list())),
            None => Err("config.json names neither `architectures` nor `model_type`".into()),
        }
    }

    fn supported_list() -> String {
        Architecture::ALL.iter().map(|a| a.class_name()).collect::<Vec<_>>().join(", ")
    }

    /// Builds the model from its config and checkpoint.
    pub fn load(self, config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
        match self {
            Architecture::Llama => llama::load(config, vb),
            Architecture::Mistral => mistral::load(config, vb),
            Architecture::Qwen2 => qwen2::load(config, vb),
            Architecture::Qwen3 => qwen3::load(config, vb),
            Architecture::Phi3 => phi3::load(config, vb),
            Architecture::Phi => phi::load(config, vb),
            Architecture::Gemma => gemma::load(config, vb),
            Architecture::Gemma2 => gemma2::load(config, vb),
            Architecture::GptNeoX => gpt_neox::load(config, vb),
            Architecture::Falcon => falcon::load(config, vb),
        }
    }
}

/// Why a model could not be built: its config, or its tensors.
#[derive(Debug)]
pub enum LoadError {
    Config(String),
    Unsupported(String),
    Tensors(candle_core::Error),
}

impl From<candle_core::Error> for LoadError {
    fn from(e: candle_core::Error) -> Self {
        LoadError::Tensors(e)
    }
}

pub(crate) fn parse_config<T: DeserializeOwned>(config: &Value) -> Result<T, LoadError> {
    serde_json::from_value(config.clone()).map_err(|e| LoadError::Config(e.to_string()))
}

/// A number that the config may omit (then `default`) or set to null (then disabled).
pub(crate) fn nullable_f64(config: &Value, key: &str, default: Option<f64>) -> Result<Option<f64>, LoadError> {
    match config.get(key) {
        None => Ok(default),
        Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| LoadError::Config(format!("`{key}` is not a number"))),
    }
}

/// Which layers use a sliding window: the explicit `layer_types` list of newer configs
/// (`"sliding_attention"`), else `default(layer)`.
pub(crate) fn layer_windows(
    config: &Value,
    layers: usize,
    window: Option<usize>,
    default: impl Fn(usize) -> bool,
) -> Result<Vec<Option<usize>>, LoadError> {
    let Some(window) = window else { return Ok(vec![None; layers]) };
    if window == 0 {
        return Err(LoadError::Config("sliding_window must be positive".into()));
    }
    match config.get("layer_types").and_then(Value::as_array) {
        Some(types) => {
            if types.len() != layers {
                return Err(LoadError::Config(format!("layer_types has {} entries for {layers} layers", types.len())));
            }
            Ok(types.iter().map(|t| (t.as_str() == Some("sliding_attention")).then_some(window)).collect())
        }
        None => Ok((0..layers).map(|i| default(i).then_some(window)).collect()),
    }
}

/// Shared shape checks and the rotary embedding of an architecture.
pub(crate) struct Dims {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl Dims {
    pub fn new(
        hidden: usize,
        heads: usize,
        kv_heads: Option<usize>,
        head_dim: Option<usize>,
    ) -> Result<Dims, LoadError> {
        let kv_heads = kv_heads.unwrap_or(heads);
        if hidden == 0 || heads == 0 || kv_heads == 0 {
            return Err(LoadError::Config("hidden size and head counts must be positive".into()));
        }
        if !heads.is_multiple_of(kv_heads) {
            return Err(LoadError::Config(format!(
                "{heads} attention heads are not a multiple of {kv_heads} key/value heads"
            )));
        }
        let head_dim = match head_dim {
            Some(d) => d,
            None if hidden.is_multiple_of(heads) => hidden / heads,
            None => return Err(LoadError::Config(format!("hidden size {hidden} is not a multiple of {heads} heads"))),
        };
        if head_dim == 0 {
            return Err(LoadError::Config("head_dim must be positive".into()));
        }
        Ok(Dims { heads, kv_heads, head_dim })
    }

    pub fn q_rows(&self) -> usize {
        self.heads * self.head_dim
    }

    pub fn kv_rows(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

pub(crate) fn rotary(
    config: &Value,
    theta_keys: &[&str],
    partial_keys: &[&str],
    default_partial: f64,
    max_positions: usize,
    head_dim: usize,
) -> Result<Rotary, LoadError> {
    let spec = RopeSpec::from_config(config, theta_keys, partial_keys, default_partial, max_positions)
        .map_err(LoadError::Config)?;
    Rotary::new(&spec, head_dim).map_err(LoadError::Config)
}

pub(crate) fn activation(name: &str) -> Result<Activation, LoadError> {
    Activation::from_name(name).map_err(LoadError::Unsupported)
}

pub(crate) fn default_max_positions() -> usize {
    2048
}
