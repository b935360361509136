//! Llama (`LlamaForCausalLM`), including Llama-3 rope scaling, and the builder of the whole
//! Llama family: pre-norm blocks of RMSNorm, rotary attention and a gated MLP under
//! `model.layers.N.{self_attn,mlp,input_layernorm,post_attention_layernorm}`. Mistral, Qwen2,
//! Qwen3, Phi-3, Gemma and Gemma-2 are this builder with a few switches ([`Variant`]).

use super::{activation, default_max_positions, parse_config, rotary, Dims, LoadError};
use crate::nn::attention::{Attention, AttentionConfig};
use crate::nn::decoder::{embed_scale_in, Block, BlockLayout, Decoder, LmHead};
use crate::nn::mlp::{Activation, Mlp};
use crate::nn::norm::Norm;
use crate::nn::rotary::Rotary;
use crate::nn::weights::{fused, linear, Rows};
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct LlamaConfig {
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
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
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

pub fn load(config: &Value, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let c: LlamaConfig = parse_config(config)?;
    let dims = Dims::new(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim)?;
    let rotary =
        rotary(config, &["rope_theta"], &["partial_rotary_factor"], 1.0, c.max_position_embeddings, dims.head_dim)?;
    let variant = Variant {
        qkv_bias: c.attention_bias,
        o_bias: c.attention_bias,
        mlp_bias: c.mlp_bias,
        act: activation(&c.hidden_act)?,
        ..Variant::new(c.num_hidden_layers, c.rms_norm_eps, c.tie_word_embeddings)
    };
    build(&Shape::of(&c, dims), &variant, rotary, vb)
}

/// The sizes every Llama-family config has.
pub(crate) struct Shape {
    pub vocab: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub dims: Dims,
}

impl Shape {
    fn of(c: &LlamaConfig, dims: Dims) -> Shape {
        Shape { vocab: c.vocab_size, hidden: c.hidden_size, intermediate: c.intermediate_size, dims }
    }
}

/// How a Llama-family architecture departs from Llama.
pub(crate) struct Variant {
    pub layers: usize,
    pub rms_eps: f64,
    pub tie_embeddings: bool,
    pub act: Activation,
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub mlp_bias: bool,
    /// Qwen3: RMSNorm over each head of q and k before the rotary embedding.
    pub qk_norm: bool,
    /// Gemma: norms scale by `(1 + w)` and embeddings by sqrt(hidden).
    pub gemma_norms: bool,
    /// Gemma-2: norms on the attention and MLP outputs too.
    pub post_norms: bool,
    /// Phi-3: checkpoint stores `qkv_proj` and `gate_up_proj` fused.
    pub fused_checkpoint: bool,
    /// Per-layer sliding window.
    pub windows: Vec<Option<usize>>,
    /// Query scale; `None` = 1/sqrt(head_dim).
    pub query_scale: Option<f64>,
    pub attn_softcap: Option<f64>,
    pub final_softcap: Option<f64>,
}

impl Variant {
    pub fn new(layers: usize, rms_eps: f64, tie_embeddings: bool) -> Variant {
        Variant {
            layers,
            rms_eps,
            tie_embeddings,
            act: Activation::Silu,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            qk_norm: false,
            gemma_norms: false,
            post_norms: false,
            fused_checkpoint: false,
            windows: vec![None; layers],
            query_scale: None,
            attn_softcap: None,
            final_softcap: None,
        }
    }
}

pub(crate) fn build(shape: &Shape, v: &Variant, rotary: Rotary, vb: VarBuilder) -> Result<Decoder, LoadError> {
    let dims = &shape.dims;
    let norm = |size: usize, vb: VarBuilder| {
        if v.gemma_norms {
            Norm::rms_plus_one(size, v.rms_eps, vb)
        } else {
            Norm::rms(size, v.rms_eps, vb)
        }
    };
    let model = vb.pp("model");
    let embed = model.get((shape.vocab, shape.hidden), "embed_tokens.weight")?;
    let mut blocks = Vec::with_capacity(v.layers);
    for i in 0..v.layers {
        let lb = model.pp(format!("layers.{i}"));
        let ab = lb.pp("self_attn");
        let qkv = if v.fused_checkpoint {
            linear(ab.pp("qkv_proj"), shape.hidden, dims.q_rows() + 2 * dims.kv_rows(), v.qkv_bias)?
        } else {
            fused(&[
                Rows::load(ab.pp("q_proj"), shape.hidden, dims.q_rows(), v.qkv_bias)?,
                Rows::load(ab.pp("k_proj"), shape.hidden, dims.kv_rows(), v.qkv_bias)?,
                Rows::load(ab.pp("v_proj"), shape.hidden, dims.kv_rows(), v.qkv_bias)?,
            ])?
        };
        let (q_norm, k_norm) = if v.qk_norm {
            (Some(norm(dims.head_dim, ab.pp("q_norm"))?), Some(norm(dims.head_dim, ab.pp("k_norm"))?))
        } else {
            (None, None)
        };
        let attn = Attention {
            qkv,
            out: linear(ab.pp("o_proj"), dims.q_rows(), shape.hidden, v.o_bias)?,
            q_norm,
            k_norm,
            config: AttentionConfig {
                n_heads: dims.heads,
                n_kv_heads: dims.kv_heads,
                head_dim: dims.head_dim,
                scale: v.query_scale.unwrap_or(1.0 / (dims.head_dim as f64).sqrt()),
                softcap: v.attn_softcap,
                window: v.windows[i],
            },
            layer: i,
        };
        let mb = lb.pp("mlp");
        let gate_up = if v.fused_checkpoint {
            linear(mb.pp("gate_up_proj"), shape.hidden, 2 * shape.intermediate, v.mlp_bias)?
        } else {
            fused(&[
                Rows::load(mb.pp("gate_proj"), shape.hidden, shape.intermediate, v.mlp_bias)?,
                Rows::load(mb.pp("up_proj"), shape.hidden, shape.intermediate, v.mlp_bias)?,
            ])?
        };
        let mlp = Mlp::Gated {
            gate_up,
            down: linear(mb.pp("down_proj"), shape.intermediate, shape.hidden, v.mlp_bias)?,
            act: v.act,
            intermediate: shape.intermediate,
        };
        let layout = if v.post_norms {
            BlockLayout::Sequential {
                mlp_norm: norm(shape.hidden, lb.pp("pre_feedforward_layernorm"))?,
                post_attn_norm: Some(norm(shape.hidden, lb.pp("post_attention_layernorm"))?),
                post_mlp_norm: Some(norm(shape.hidden, lb.pp("post_feedforward_layernorm"))?),
            }
        } else {
            BlockLayout::Sequential {
                mlp_norm: norm(shape.hidden, lb.pp("post_attention_layernorm"))?,
                post_attn_norm: None,
                post_mlp_norm: None,
            }
        };
        blocks.push(Block { attn_norm: norm(shape.hidden, lb.pp("input_layernorm"))?, attn, mlp, layout });
    }
    let final_norm = norm(shape.hidden, model.pp("norm"))?;
    let head_weight =
        if v.tie_embeddings { embed.clone() } else { vb.get((shape.vocab, shape.hidden), "lm_head.weight")? };
    let embed_scale = v.gemma_norms.then(|| embed_scale_in(vb.dtype(), shape.hidden));
    Ok(Decoder {
        embed,
        embed_scale,
        blocks,
        final_norm,
        rotary,
        head: LmHead { weight: head_weight, bias: None, softcap: v.final_softcap },
        vocab_size: shape.vocab,
        hidden_size: shape.hidden,
    })
}
