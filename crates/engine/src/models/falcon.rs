//! Falcon (`FalconForCausalLM`), both layouts:
//! - Falcon-7B style: multi-query (one K/V head) or per-head `[q|k|v]` fused QKV, one
//!   LayerNorm feeding attention and MLP in parallel (or sequential when `parallel_attn` is
//!   false, with `post_attention_layernorm`);
//! - `new_decoder_architecture` (Falcon-40B/180B): grouped fused QKV (per KV group: its query
//!   heads, one key, one value) and separate `ln_attn` / `ln_mlp` norms.
//!
//! Rotary positions only: ALiBi checkpoints are refused.

use super::{activation, default_max_positions, parse_config, rotary, Dims, LoadError};
use crate::nn::attention::{Attention, AttentionConfig};
use crate::nn::decoder::{Block, BlockLayout, Decoder, LmHead};
use crate::nn::mlp::Mlp;
use crate::nn::norm::Norm;
use crate::nn::weights::{grouped_qkv_blocks, linear, per_head_qkv_blocks, regroup_rows, Rows};
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct FalconConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_kv_heads: Option<usize>,
    pub ffn_hidden_size: Option<usize>,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_act")]
    pub activation: String,
    #[serde(default)]
    pub bias: bool,
    #[serde(default)]
    pub alibi: bool,
    #[serde(default = "yes")]
    pub multi_query: bool,
    #[serde(default = "yes")]
    pub parallel_attn: bool,
    #[serde(default)]
    pub new_decoder_architecture: bool,
    pub num_ln_in_parallel_attn: Option<usize>,
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
}

fn default_eps() -> f64 {
    1e-5
}

fn default_act() -> String {
    "gelu".into()
}

fn yes() -> bool {
    true
}

pub fn load(config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let c: FalconConfig = parse_config(config)?;
    if c.alibi {
        return Err(LoadError::Unsupported("Falcon with ALiBi positions is not supported".into()));
    }
    let kv_heads = if c.new_decoder_architecture {
        c.num_kv_heads.unwrap_or(c.num_attention_heads)
    } else if c.multi_query {
        1
    } else {
        c.num_attention_heads
    };
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, Some(kv_heads), None)?;
    let rotary = rotary(config, &["rope_theta"], &[], 1.0, c.max_position_embeddings, dims.head_dim)?;
    let act = activation(&c.activation)?;
    let (h, eps) = (c.hidden_size, c.layer_norm_epsilon);
    let ffn = c.ffn_hidden_size.unwrap_or(4 * h);
    let two_norms = c.new_decoder_architecture && c.num_ln_in_parallel_attn.unwrap_or(2) == 2;
    let model = vb.pp("transformer");
    let embed = model.get((c.vocab_size, h), "word_embeddings.weight")?;
    let mut blocks = Vec::with_capacity(c.num_hidden_layers);
    for i in 0..c.num_hidden_layers {
        let lb = model.pp(format!("h.{i}"));
        let ab = lb.pp("self_attention");
        let fused = Rows::load(ab.pp("query_key_value"), h, dims.q_rows() + 2 * dims.kv_rows(), c.bias)?;
        let qkv = if c.new_decoder_architecture {
            regroup_rows(&fused, &grouped_qkv_blocks(dims.heads, dims.kv_heads, dims.head_dim))?
        } else if c.multi_query {
            fused.into_linear()? // already [all q | k | v]
        } else {
            regroup_rows(&fused, &per_head_qkv_blocks(dims.heads, dims.head_dim))?
        };
        let attn = Attention {
            qkv,
            out: linear(ab.pp("dense"), dims.q_rows(), h, c.bias)?,
            q_norm: None,
            k_norm: None,
            config: AttentionConfig {
                n_heads: dims.heads,
                n_kv_heads: dims.kv_heads,
                head_dim: dims.head_dim,
                scale: 1.0 / (dims.head_dim as f64).sqrt(),
                softcap: None,
                window: None,
            },
            layer: i,
        };
        let mb = lb.pp("mlp");
        let mlp = Mlp::Plain {
            fc1: linear(mb.pp("dense_h_to_4h"), h, ffn, c.bias)?,
            fc2: linear(mb.pp("dense_4h_to_h"), ffn, h, c.bias)?,
            act,
        };
        let (attn_norm, layout) = if two_norms {
            (
                Norm::layer(h, eps, true, lb.pp("ln_attn"))?,
                BlockLayout::Parallel { mlp_norm: Some(Norm::layer(h, eps, true, lb.pp("ln_mlp"))?) },
            )
        } else if c.new_decoder_architecture || c.parallel_attn {
            (Norm::layer(h, eps, true, lb.pp("input_layernorm"))?, BlockLayout::Parallel { mlp_norm: None })
        } else {
            (
                Norm::layer(h, eps, true, lb.pp("input_layernorm"))?,
                BlockLayout::Sequential {
                    mlp_norm: Norm::layer(h, eps, true, lb.pp("post_attention_layernorm"))?,
                    post_attn_norm: None,
                    post_mlp_norm: None,
                },
            )
        };
        blocks.push(Block { attn_norm, attn, mlp, layout });
    }
    let final_norm = Norm::layer(h, eps, true, model.pp("ln_f"))?;
    let head_weight = if c.tie_word_embeddings { embed.clone() } else { vb.get((c.vocab_size, h), "lm_head.weight")? };
    Ok(Decoder {
        embed,
        embed_scale: None,
        blocks,
        final_norm,
        rotary,
        head: LmHead { weight: head_weight, bias: None, softcap: None },
        vocab_size: c.vocab_size,
        hidden_size: h,
    })
}
