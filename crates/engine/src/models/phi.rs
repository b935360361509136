//! Phi-1/1.5/2 (`PhiForCausalLM`): one LayerNorm feeds attention and MLP in parallel, biases
//! on every projection (LM head included), partial rotary (`int(head_dim * factor)` dims),
//! an optional LayerNorm on each head of q and k, and a plain GELU MLP.

use super::{activation, default_max_positions, parse_config, rotary, Dims, LoadError};
use crate::nn::attention::{Attention, AttentionConfig};
use crate::nn::decoder::{Block, BlockLayout, Decoder, LmHead};
use crate::nn::mlp::Mlp;
use crate::nn::norm::Norm;
use crate::nn::weights::{fused, linear, Rows};
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct PhiConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub qk_layernorm: bool,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
}

fn default_eps() -> f64 {
    1e-5
}

fn default_act() -> String {
    "gelu_new".into()
}

pub fn load(config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let c: PhiConfig = parse_config(config)?;
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, None)?;
    // 0.5: transformers' PhiConfig default.
    let rotary =
        rotary(config, &["rope_theta"], &["partial_rotary_factor"], 0.5, c.max_position_embeddings, dims.head_dim)?;
    let act = activation(&c.hidden_act)?;
    let (h, eps) = (c.hidden_size, c.layer_norm_eps);
    let model = vb.pp("model");
    let embed = model.get((c.vocab_size, h), "embed_tokens.weight")?;
    let mut blocks = Vec::with_capacity(c.num_hidden_layers);
    for i in 0..c.num_hidden_layers {
        let lb = model.pp(format!("layers.{i}"));
        let ab = lb.pp("self_attn");
        let (q_norm, k_norm) = if c.qk_layernorm {
            (
                Some(Norm::layer(dims.head_dim, eps, true, ab.pp("q_layernorm"))?),
                Some(Norm::layer(dims.head_dim, eps, true, ab.pp("k_layernorm"))?),
            )
        } else {
            (None, None)
        };
        let attn = Attention {
            qkv: fused(&[
                Rows::load(ab.pp("q_proj"), h, dims.q_rows(), true)?,
                Rows::load(ab.pp("k_proj"), h, dims.kv_rows(), true)?,
                Rows::load(ab.pp("v_proj"), h, dims.kv_rows(), true)?,
            ])?,
            out: linear(ab.pp("dense"), dims.q_rows(), h, true)?,
            q_norm,
            k_norm,
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
            fc1: linear(mb.pp("fc1"), h, c.intermediate_size, true)?,
            fc2: linear(mb.pp("fc2"), c.intermediate_size, h, true)?,
            act,
        };
        blocks.push(Block {
            attn_norm: Norm::layer(h, eps, true, lb.pp("input_layernorm"))?,
            attn,
            mlp,
            layout: BlockLayout::Parallel { mlp_norm: None },
        });
    }
    let final_norm = Norm::layer(h, eps, true, model.pp("final_layernorm"))?;
    let head_weight = if c.tie_word_embeddings { embed.clone() } else { vb.get((c.vocab_size, h), "lm_head.weight")? };
    let head_bias = vb.get(c.vocab_size, "lm_head.bias")?;
    Ok(Decoder {
        embed,
        embed_scale: None,
        blocks,
        final_norm,
        rotary,
        head: LmHead { weight: head_weight, bias: Some(head_bias), softcap: None },
        vocab_size: c.vocab_size,
        hidden_size: h,
    })
}
