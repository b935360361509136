//! Mistral (`MistralForCausalLM`): Llama with a sliding window on every layer and a `head_dim`
//! that may differ from hidden / heads.

use super::llama::{build, Shape, Variant};
use super::{activation, layer_windows, parse_config, rotary, Dims, LoadError};
use crate::nn::decoder::Decoder;
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct MistralConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub head_dim: Option<usize>,
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub sliding_window: Option<usize>,
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

fn default_max_positions() -> usize {
    4096 * 32
}

pub fn load(config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let c: MistralConfig = parse_config(config)?;
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim)?;
    let rotary = rotary(config, &["rope_theta"], &[], 1.0, c.max_position_embeddings, dims.head_dim)?;
    let variant = Variant {
        act: activation(&c.hidden_act)?,
        windows: layer_windows(config, c.num_hidden_layers, c.sliding_window, |_| true)?,
        ..Variant::new(c.num_hidden_layers, c.rms_norm_eps, c.tie_word_embeddings)
    };
    let shape = Shape { vocab: c.vocab_size, hidden: c.hidden_size, intermediate: c.intermediate_size, dims };
    build(&shape, &variant, rotary, vb)
}
