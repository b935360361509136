//! Phi-3 / Phi-4-mini (`Phi3ForCausalLM`): Llama with fused `qkv_proj` and `gate_up_proj`
//! checkpoint tensors, partial rotary (`partial_rotary_factor`), LongRoPE scaling, and a
//! sliding window on every layer when the config sets one (as transformers 5 applies it).

use super::llama::{build, Shape, Variant};
use super::{activation, layer_windows, parse_config, rotary, Dims, LoadError};
use crate::nn::decoder::Decoder;
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Phi3Config {
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
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
}

fn default_rms_eps() -> f64 {
    1e-5
}

fn default_act() -> String {
    "silu".into()
}

fn default_max_positions() -> usize {
    4096
}

pub fn load(config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let c: Phi3Config = parse_config(config)?;
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, None)?;
    let rotary =
        rotary(config, &["rope_theta"], &["partial_rotary_factor"], 1.0, c.max_position_embeddings, dims.head_dim)?;
    let variant = Variant {
        act: activation(&c.hidden_act)?,
        fused_checkpoint: true,
        windows: layer_windows(config, c.num_hidden_layers, c.sliding_window, |_| true)?,
        ..Variant::new(c.num_hidden_layers, c.rms_norm_eps, c.tie_word_embeddings)
    };
    let shape = Shape { vocab: c.vocab_size, hidden: c.hidden_size, intermediate: c.intermediate_size, dims };
    build(&shape, &variant, rotary, vb)
}
