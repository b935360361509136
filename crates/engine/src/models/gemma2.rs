//! Gemma-2 (`Gemma2ForCausalLM`): Gemma plus norms after the attention and MLP branches
//! (four per layer), attention and final logit soft-caps, `query_pre_attn_scalar` as the query
//! scale, and a sliding window on every other layer (even layers; or `layer_types`).
//!
//! The soft-caps are applied as transformers' eager attention does (the reference); note that
//! transformers 4.44's default SDPA path silently skipped the attention soft-cap.

use super::gemma::default_head_dim;
use super::llama::{build, Shape, Variant};
use super::{activation, layer_windows, nullable_f64, parse_config, rotary, Dims, LoadError};
use crate::nn::decoder::Decoder;
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Gemma2Config {
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
    pub hidden_activation: Option<String>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default = "default_query_scalar")]
    pub query_pre_attn_scalar: f64,
    #[serde(default = "default_window")]
    pub sliding_window: Option<usize>,
    #[serde(default = "default_tie")]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
}

fn default_rms_eps() -> f64 {
    1e-6
}

fn default_query_scalar() -> f64 {
    256.0
}

fn default_window() -> Option<usize> {
    Some(4096)
}

fn default_tie() -> bool {
    true
}

fn default_max_positions() -> usize {
    8192
}

pub fn load(config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let c: Gemma2Config = parse_config(config)?;
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, Some(c.head_dim))?;
    let rotary = rotary(config, &["rope_theta"], &[], 1.0, c.max_position_embeddings, dims.head_dim)?;
    if c.query_pre_attn_scalar.is_nan() || c.query_pre_attn_scalar <= 0.0 {
        return Err(LoadError::Config("query_pre_attn_scalar must be positive".into()));
    }
    let variant = Variant {
        act: activation(c.hidden_activation.as_deref().unwrap_or("gelu_pytorch_tanh"))?,
        qkv_bias: c.attention_bias,
        o_bias: c.attention_bias,
        gemma_norms: true,
        post_norms: true,
        windows: layer_windows(config, c.num_hidden_layers, c.sliding_window, |i| i % 2 == 0)?,
        query_scale: Some(c.query_pre_attn_scalar.powf(-0.5)),
        attn_softcap: nullable_f64(config, "attn_logit_softcapping", Some(50.0))?,
        final_softcap: nullable_f64(config, "final_logit_softcapping", Some(30.0))?,
        ..Variant::new(c.num_hidden_layers, c.rms_norm_eps, c.tie_word_embeddings)
    };
    let shape = Shape { vocab: c.vocab_size, hidden: c.hidden_size, intermediate: c.intermediate_size, dims };
    build(&shape, &variant, rotary, vb)
}
