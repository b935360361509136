//! Qwen2 (`Qwen2ForCausalLM`): Llama with biases on q, k and v, and a sliding window only
//! when `use_sliding_window` is set (then on the layers from `max_window_layers` on).

use super::llama::{build, Shape, Variant};
use super::{activation, layer_windows, parse_config, rotary, Dims, LoadError};
use crate::nn::decoder::Decoder;
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Qwen2Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub use_sliding_window: bool,
    pub sliding_window: Option<usize>,
    #[serde(default = "default_max_window_layers")]
    pub max_window_layers: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
}

fn default_rms_eps() -> f64 {
    1e-6
}

fn default_act() -> String {
    "silu".into()
}

fn default_max_window_layers() -> usize {
    28
}

fn default_max_positions() -> usize {
    32768
}

pub fn load(config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let c: Qwen2Config = parse_config(config)?;
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, None)?;
    let rotary = rotary(config, &["rope_theta"], &[], 1.0, c.max_position_embeddings, dims.head_dim)?;
    let window = if c.use_sliding_window { c.sliding_window } else { None };
    let variant = Variant {
        act: activation(&c.hidden_act)?,
        qkv_bias: true,
        windows: layer_windows(config, c.num_hidden_layers, window, |i| i >= c.max_window_layers)?,
        ..Variant::new(c.num_hidden_layers, c.rms_norm_eps, c.tie_word_embeddings)
    };
    let shape = Shape { vocab: c.vocab_size, hidden: c.hidden_size, intermediate: c.intermediate_size, dims };
    build(&shape, &variant, rotary, vb)
}
