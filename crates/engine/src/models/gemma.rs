//! Gemma (`GemmaForCausalLM`): Llama with `(1 + w)` RMSNorms, embeddings scaled by
//! sqrt(hidden), a GELU-gated MLP (`hidden_activation`), an explicit `head_dim`, tied head.

use super::llama::{build, Shape, Variant};
use super::{activation, parse_config, rotary, Dims, LoadError};
use crate::nn::decoder::Decoder;
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct GemmaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_head_dim")]
    pub head_dim: usize,
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    /// transformers uses this and ignores `hidden_act`; unset means tanh GELU.
    pub hidden_activation: Option<String>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default = "default_tie")]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
}

pub(crate) fn default_head_dim() -> usize {
    256
}

fn default_rms_eps() -> f64 {
    1e-6
}

fn default_tie() -> bool {
    true
}

fn default_max_positions() -> usize {
    8192
}

pub fn load(config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let c: GemmaConfig = parse_config(config)?;
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, Some(c.head_dim))?;
    let rotary = rotary(config, &["rope_theta"], &[], 1.0, c.max_position_embeddings, dims.head_dim)?;
    let variant = Variant {
        act: activation(c.hidden_activation.as_deref().unwrap_or("gelu_pytorch_tanh"))?,
        qkv_bias: c.attention_bias,
        o_bias: c.attention_bias,
        gemma_norms: true,
        ..Variant::new(c.num_hidden_layers, c.rms_norm_eps, c.tie_word_embeddings)
    };
    let shape = Shape { vocab: c.vocab_size, hidden: c.hidden_size, intermediate: c.intermediate_size, dims };
    build(&shape, &variant, rotary, vb)
}
