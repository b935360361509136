//! GPT-NeoX / Pythia (`GPTNeoXForCausalLM`): fused `query_key_value` laid out per head as
//! `[q | k | v]`, partial rotary (`rotary_pct`), LayerNorms with bias, parallel residual
//! (`use_parallel_residual`), plain GELU MLP, untied `embed_out`.

use super::{activation, default_max_positions, parse_config, rotary, Dims, LoadError};
use crate::nn::attention::{Attention, AttentionConfig};
use crate::nn::decoder::{Block, BlockLayout, Decoder, LmHead};
use crate::nn::mlp::Mlp;
use crate::nn::norm::Norm;
use crate::nn::weights::{linear, per_head_qkv_blocks, regroup_rows, Rows};
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct GptNeoXConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "yes")]
    pub use_parallel_residual: bool,
    #[serde(default = "yes")]
    pub attention_bias: bool,
    #[serde(default)]
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
    let c: GptNeoXConfig = parse_config(config)?;
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, None, None)?;
    // 0.25: transformers' GPTNeoXConfig default for rotary_pct.
    let rotary = rotary(
        config,
        &["rope_theta", "rotary_emb_base"],
        &["partial_rotary_factor", "rotary_pct"],
        0.25,
        c.max_position_embeddings,
        dims.head_dim,
    )?;
    let act = activation(&c.hidden_act)?;
    let (h, eps) = (c.hidden_size, c.layer_norm_eps);
    let model = vb.pp("gpt_neox");
    let embed = model.get((c.vocab_size, h), "embed_in.weight")?;
    let mut blocks = Vec::with_capacity(c.num_hidden_layers);
    for i in 0..c.num_hidden_layers {
        let lb = model.pp(format!("layers.{i}"));
        let ab = lb.pp("attention");
        let fused = Rows::load(ab.pp("query_key_value"), h, 3 * dims.q_rows(), c.attention_bias)?;
        let attn = Attention {
            qkv: regroup_rows(&fused, &per_head_qkv_blocks(dims.heads, dims.head_dim))?,
            out: linear(ab.pp("dense"), dims.q_rows(), h, c.attention_bias)?,
            q_norm: None,
            k_norm: None,
            config: AttentionConfig {
                n_heads: dims.heads,
                n_kv_heads: dims.heads,
                head_dim: dims.head_dim,
                scale: 1.0 / (dims.head_dim as f64).sqrt(),
                softcap: None,
                window: None,
            },
            layer: i,
        };
        let mb = lb.pp("mlp");
        let mlp = Mlp::Plain {
            fc1: linear(mb.pp("dense_h_to_4h"), h, c.intermediate_size, true)?,
            fc2: linear(mb.pp("dense_4h_to_h"), c.intermediate_size, h, true)?,
            act,
        };
        let mlp_norm = Norm::layer(h, eps, true, lb.pp("post_attention_layernorm"))?;
        let layout = if c.use_parallel_residual {
            BlockLayout::Parallel { mlp_norm: Some(mlp_norm) }
        } else {
            BlockLayout::Sequential { mlp_norm, post_attn_norm: None, post_mlp_norm: None }
        };
        blocks.push(Block { attn_norm: Norm::layer(h, eps, true, lb.pp("input_layernorm"))?, attn, mlp, layout });
    }
    let final_norm = Norm::layer(h, eps, true, model.pp("final_layer_norm"))?;
    let head_weight =
        if c.tie_word_embeddings { embed.clone() } else { vb.get((c.vocab_size, h), "embed_out.weight")? };
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
