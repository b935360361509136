//! What each supported architecture looks like on disk, and its `config.json` read and checked.
//!
//! transformers picks the model class from `config.model_type` (`AutoModelForCausalLM`), so we
//! do too; `architectures[0]` must agree with it. For each class the table below names its
//! parameters (so a parameter count from safetensors headers equals `sum(p.numel() for p in
//! model.parameters())`: unknown tensors and buffers such as `rotary_emb.inv_freq` or GPT-NeoX's
//! `attention.bias` are not parameters) and the six projections of the weight-norm check
//! (upstream's `q,k,v,o` attention and `up,down` MLP projections, located in each class's own
//! module names, fused matrices split by rows).

use serde_json::Value;

/// Where the rows of one logical projection sit in its tensor (`[out, in]`, rows = outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    All,
    /// Query, key or value rows of a fused QKV matrix; the layout comes from the config.
    Fused(QkvPart),
    /// The up half of a fused `[gate; up]` matrix (Phi-3's `gate_up_proj`).
    SecondHalf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkvPart {
    Q,
    K,
    V,
}

/// One of the six projections the norm check measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projection {
    /// Upstream's name for it: `q_proj`, `k_proj`, `v_proj`, `o_proj`, `up_proj`, `down_proj`.
    pub kind: &'static str,
    /// The tensor inside a layer, e.g. `self_attn.q_proj.weight`.
    pub tensor: &'static str,
    pub rows: Rows,
}

/// How the rows of a fused QKV matrix are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkvLayout {
    /// `[q (heads) ; k (kv heads) ; v (kv heads)]`: Phi-3, Falcon-7B multi-query.
    Concat,
    /// Per key-value group: `[q (heads/kv heads) ; k ; v]`: GPT-NeoX (a group per head),
    /// Falcon new_decoder_architecture and Falcon-RW.
    Grouped,
}

/// The on-disk shape of one `*ForCausalLM` class.
#[derive(Debug)]
pub struct ArchSpec {
    pub class: &'static str,
    pub model_types: &'static [&'static str],
    /// Prefix of layer `i`'s tensors is `{layer_prefix}{i}.`.
    pub layer_prefix: &'static str,
    pub embed: &'static str,
    pub head: &'static str,
    /// transformers' default for `tie_word_embeddings` in this class's config.
    pub tie_default: bool,
    /// Other top-level parameters (norms, biases, position tables).
    pub top_level: &'static [&'static str],
    /// Every parameter a layer may have (a superset: biases depend on the config).
    pub layer_params: &'static [&'static str],
    pub projections: [Projection; 6],
    pub qkv_layout: Option<QkvLayout>,
}

const fn p(kind: &'static str, tensor: &'static str) -> Projection {
    Projection { kind, tensor, rows: Rows::All }
}
const fn fused(kind: &'static str, tensor: &'static str, part: QkvPart) -> Projection {
    Projection { kind, tensor, rows: Rows::Fused(part) }
}

const LLAMA_PROJECTIONS: [Projection; 6] = [
    p("q_proj", "self_attn.q_proj.weight"),
    p("k_proj", "self_attn.k_proj.weight"),
    p("v_proj", "self_attn.v_proj.weight"),
    p("o_proj", "self_attn.o_proj.weight"),
    p("up_proj", "mlp.up_proj.weight"),
    p("down_proj", "mlp.down_proj.weight"),
];
const LLAMA_LAYER: &[&str] = &[
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.q_proj.bias",
    "self_attn.k_proj.weight",
    "self_attn.k_proj.bias",
    "self_attn.v_proj.weight",
    "self_attn.v_proj.bias",
    "self_attn.o_proj.weight",
    "self_attn.o_proj.bias",
    "mlp.gate_proj.weight",
    "mlp.gate_proj.bias",
    "mlp.up_proj.weight",
    "mlp.up_proj.bias",
    "mlp.down_proj.weight",
    "mlp.down_proj.bias",
    // Qwen3's per-head norms.
    "self_attn.q_norm.weight",
    "self_attn.k_norm.weight",
    // Gemma-2's extra norms.
    "pre_feedforward_layernorm.weight",
    "post_feedforward_layernorm.weight",
];
const LLAMA_TOP: &[&str] = &["model.norm.weight"];

const fn llama_like(class: &'static str, model_types: &'static [&'static str], tie_default: bool) -> ArchSpec {
    ArchSpec {
        class,
        model_types,
        layer_prefix: "model.layers.",
        embed: "model.embed_tokens.weight",
        head: "lm_head.weight",
        tie_default,
        top_level: LLAMA_TOP,
        layer_params: LLAMA_LAYER,
        projections: LLAMA_PROJECTIONS,
        qkv_layout: None,
    }
}

pub static ARCHITECTURES: &[ArchSpec] = &[
    llama_like("LlamaForCausalLM", &["llama"], false),
    llama_like("MistralForCausalLM", &["mistral"], false),
    llama_like("Qwen2ForCausalLM", &["qwen2"], false),
    llama_like("Qwen3ForCausalLM", &["qwen3"], false),
    llama_like("GemmaForCausalLM", &["gemma"], true),
    llama_like("Gemma2ForCausalLM", &["gemma2"], true),
    ArchSpec {
        class: "Phi3ForCausalLM",
        model_types: &["phi3"],
        layer_prefix: "model.layers.",
        embed: "model.embed_tokens.weight",
        head: "lm_head.weight",
        tie_default: false,
        top_level: LLAMA_TOP,
        layer_params: &[
            "input_layernorm.weight",
            "post_attention_layernorm.weight",
            "self_attn.qkv_proj.weight",
            "self_attn.o_proj.weight",
            "mlp.gate_up_proj.weight",
            "mlp.down_proj.weight",
        ],
        projections: [
            fused("q_proj", "self_attn.qkv_proj.weight", QkvPart::Q),
            fused("k_proj", "self_attn.qkv_proj.weight", QkvPart::K),
            fused("v_proj", "self_attn.qkv_proj.weight", QkvPart::V),
            p("o_proj", "self_attn.o_proj.weight"),
            Projection { kind: "up_proj", tensor: "mlp.gate_up_proj.weight", rows: Rows::SecondHalf },
            p("down_proj", "mlp.down_proj.weight"),
        ],
        qkv_layout: Some(QkvLayout::Concat),
    },
    ArchSpec {
        class: "PhiForCausalLM",
        model_types: &["phi"],
        layer_prefix: "model.layers.",
        embed: "model.embed_tokens.weight",
        head: "lm_head.weight",
        tie_default: false,
        top_level: &["model.final_layernorm.weight", "model.final_layernorm.bias", "lm_head.bias"],
        layer_params: &[
            "input_layernorm.weight",
            "input_layernorm.bias",
            "self_attn.q_proj.weight",
            "self_attn.q_proj.bias",
            "self_attn.k_proj.weight",
            "self_attn.k_proj.bias",
            "self_attn.v_proj.weight",
            "self_attn.v_proj.bias",
            "self_attn.dense.weight",
            "self_attn.dense.bias",
            "self_attn.q_layernorm.weight",
            "self_attn.q_layernorm.bias",
            "self_attn.k_layernorm.weight",
            "self_attn.k_layernorm.bias",
            "mlp.fc1.weight",
            "mlp.fc1.bias",
            "mlp.fc2.weight",
            "mlp.fc2.bias",
        ],
        projections: [
            p("q_proj", "self_attn.q_proj.weight"),
            p("k_proj", "self_attn.k_proj.weight"),
            p("v_proj", "self_attn.v_proj.weight"),
            p("o_proj", "self_attn.dense.weight"),
            p("up_proj", "mlp.fc1.weight"),
            p("down_proj", "mlp.fc2.weight"),
        ],
        qkv_layout: None,
    },
    ArchSpec {
        class: "GPTNeoXForCausalLM",
        model_types: &["gpt_neox"],
        layer_prefix: "gpt_neox.layers.",
        embed: "gpt_neox.embed_in.weight",
        head: "embed_out.weight",
        tie_default: false,
        top_level: &["gpt_neox.final_layer_norm.weight", "gpt_neox.final_layer_norm.bias"],
        layer_params: &[
            "input_layernorm.weight",
            "input_layernorm.bias",
            "post_attention_layernorm.weight",
            "post_attention_layernorm.bias",
            "attention.query_key_value.weight",
            "attention.query_key_value.bias",
            "attention.dense.weight",
            "attention.dense.bias",
            "mlp.dense_h_to_4h.weight",
            "mlp.dense_h_to_4h.bias",
            "mlp.dense_4h_to_h.weight",
            "mlp.dense_4h_to_h.bias",
        ],
        projections: [
            fused("q_proj", "attention.query_key_value.weight", QkvPart::Q),
            fused("k_proj", "attention.query_key_value.weight", QkvPart::K),
            fused("v_proj", "attention.query_key_value.weight", QkvPart::V),
            p("o_proj", "attention.dense.weight"),
            p("up_proj", "mlp.dense_h_to_4h.weight"),
            p("down_proj", "mlp.dense_4h_to_h.weight"),
        ],
        qkv_layout: Some(QkvLayout::Grouped),
    },
    ArchSpec {
        class: "FalconForCausalLM",
        model_types: &["falcon", "RefinedWeb", "RefinedWebModel"],
        layer_prefix: "transformer.h.",
        embed: "transformer.word_embeddings.weight",
        head: "lm_head.weight",
        tie_default: true,
        top_level: &["transformer.ln_f.weight", "transformer.ln_f.bias"],
        layer_params: FALCON_LAYER,
        projections: [
            fused("q_proj", "self_attention.query_key_value.weight", QkvPart::Q),
            fused("k_proj", "self_attention.query_key_value.weight", QkvPart::K),
            fused("v_proj", "self_attention.query_key_value.weight", QkvPart::V),
            p("o_proj", "self_attention.dense.weight"),
            p("up_proj", "mlp.dense_h_to_4h.weight"),
            p("down_proj", "mlp.dense_4h_to_h.weight"),
        ],
        // Concat for multi-query Falcon-7B; see `qkv_layout`.
        qkv_layout: Some(QkvLayout::Grouped),
    },
    ArchSpec {
        class: "BartForCausalLM",
        model_types: &["bart"],
        layer_prefix: "model.decoder.layers.",
        embed: "model.decoder.embed_tokens.weight",
        head: "lm_head.weight",
        tie_default: true,
        top_level: &[
            "model.decoder.embed_positions.weight",
            "model.decoder.layernorm_embedding.weight",
            "model.decoder.layernorm_embedding.bias",
            "model.decoder.layer_norm.weight",
            "model.decoder.layer_norm.bias",
        ],
        layer_params: BART_LAYER,
        projections: [
            p("q_proj", "self_attn.q_proj.weight"),
            p("k_proj", "self_attn.k_proj.weight"),
            p("v_proj", "self_attn.v_proj.weight"),
            p("o_proj", "self_attn.out_proj.weight"),
            p("up_proj", "fc1.weight"),
            p("down_proj", "fc2.weight"),
        ],
        qkv_layout: None,
    },
];

const FALCON_LAYER: &[&str] = &[
    "input_layernorm.weight",
    "input_layernorm.bias",
    "post_attention_layernorm.weight",
    "post_attention_layernorm.bias",
    "ln_attn.weight",
    "ln_attn.bias",
    "ln_mlp.weight",
    "ln_mlp.bias",
    "self_attention.query_key_value.weight",
    "self_attention.query_key_value.bias",
    "self_attention.dense.weight",
    "self_attention.dense.bias",
    "mlp.dense_h_to_4h.weight",
    "mlp.dense_h_to_4h.bias",
    "mlp.dense_4h_to_h.weight",
    "mlp.dense_4h_to_h.bias",
];

const BART_LAYER: &[&str] = &[
    "self_attn.k_proj.weight",
    "self_attn.k_proj.bias",
    "self_attn.v_proj.weight",
    "self_attn.v_proj.bias",
    "self_attn.q_proj.weight",
    "self_attn.q_proj.bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "self_attn_layer_norm.weight",
    "self_attn_layer_norm.bias",
    "encoder_attn.k_proj.weight",
    "encoder_attn.k_proj.bias",
    "encoder_attn.v_proj.weight",
    "encoder_attn.v_proj.bias",
    "encoder_attn.q_proj.weight",
    "encoder_attn.q_proj.bias",
    "encoder_attn.out_proj.weight",
    "encoder_attn.out_proj.bias",
    "encoder_attn_layer_norm.weight",
    "encoder_attn_layer_norm.bias",
    "fc1.weight",
    "fc1.bias",
    "fc2.weight",
    "fc2.bias",
    "final_layer_norm.weight",
    "final_layer_norm.bias",
];

// Generous bounds: the largest open models are far inside them, and anything outside would make
// the engine allocate absurd tables (RoPE caches, embeddings) from the config alone.
const MAX_HIDDEN: u64 = 1 << 16;
const MAX_LAYERS: u64 = 1024;
const MAX_HEADS: u64 = 1024;
const MAX_HEAD_DIM: u64 = 1024;
const MAX_VOCAB: u64 = 1 << 22;
const MAX_INTERMEDIATE: u64 = 1 << 20;
const MAX_POSITIONS: u64 = 1 << 27;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json is not a JSON object: {0}")]
    NotJson(String),
    #[error("config.json has no model_type")]
    NoModelType,
    #[error("model_type {0:?} is not a supported causal LM")]
    UnknownModelType(String),
    #[error("config.json says architectures[0] = {declared:?}, but model_type loads {loads}")]
    ArchitectureDisagrees { declared: String, loads: &'static str },
    #[error("config.json has no usable {0}")]
    Missing(&'static str),
    #[error("config.json {field} = {value} is outside [{min}, {max}]")]
    Absurd { field: &'static str, value: String, min: u64, max: u64 },
    #[error("config.json: {0}")]
    Inconsistent(String),
}

/// The dimensions of a model, from its `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub arch: &'static ArchSpec,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub max_position_embeddings: Option<u64>,
    pub tie_word_embeddings: bool,
    /// The QKV layout of the fused matrix, for classes that fuse it.
    pub qkv_layout: Option<QkvLayout>,
}

impl PartialEq for ArchSpec {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class
    }
}

/// The spec for a model class name, if supported.
pub fn spec_for_class(class: &str) -> Option<&'static ArchSpec> {
    ARCHITECTURES.iter().find(|a| a.class == class)
}

fn first_field<'a>(cfg: &'a serde_json::Map<String, Value>, names: &[&str]) -> Option<(&'a Value, usize)> {
    names.iter().enumerate().find_map(|(i, n)| cfg.get(*n).filter(|v| !v.is_null()).map(|v| (v, i)))
}

fn dim(
    cfg: &serde_json::Map<String, Value>,
    field: &'static str,
    aliases: &[&str],
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    let Some((value, _)) = first_field(cfg, aliases) else { return Ok(None) };
    match value.as_u64() {
        Some(v) if (1..=max).contains(&v) => Ok(Some(v)),
        _ => Err(ConfigError::Absurd { field, value: value.to_string(), min: 1, max }),
    }
}

fn required(
    cfg: &serde_json::Map<String, Value>,
    field: &'static str,
    aliases: &[&str],
    max: u64,
) -> Result<u64, ConfigError> {
    dim(cfg, field, aliases, max)?.ok_or(ConfigError::Missing(field))
}

impl ModelConfig {
    /// Reads and sanity-checks `config.json`.
    pub fn parse(bytes: &[u8]) -> Result<ModelConfig, ConfigError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ConfigError::NotJson(e.to_string()))?;
        let cfg = value.as_object().ok_or_else(|| ConfigError::NotJson("not an object".into()))?;
        let model_type = cfg.get("model_type").and_then(Value::as_str).ok_or(ConfigError::NoModelType)?;
        let arch = ARCHITECTURES
            .iter()
            .find(|a| a.model_types.contains(&model_type))
            .ok_or_else(|| ConfigError::UnknownModelType(model_type.to_string()))?;
        if let Some(declared) = cfg.get("architectures").and_then(|a| a.get(0)).and_then(Value::as_str) {
            if declared != arch.class {
                return Err(ConfigError::ArchitectureDisagrees { declared: declared.to_string(), loads: arch.class });
            }
        }
        let hidden = required(cfg, "hidden_size", &["hidden_size", "d_model", "n_embd"], MAX_HIDDEN)?;
        let layers = required(
            cfg,
            "num_hidden_layers",
            &["num_hidden_layers", "decoder_layers", "n_layer", "num_layers"],
            MAX_LAYERS,
        )?;
        let heads = required(
            cfg,
            "num_attention_heads",
            &["num_attention_heads", "decoder_attention_heads", "n_head"],
            MAX_HEADS,
        )?;
        let vocab = required(cfg, "vocab_size", &["vocab_size"], MAX_VOCAB)?;
        dim(
            cfg,
            "intermediate_size",
            &["intermediate_size", "ffn_dim", "decoder_ffn_dim", "ffn_hidden_size"],
            MAX_INTERMEDIATE,
        )?;
        let positions = dim(
            cfg,
            "max_position_embeddings",
            &["max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"],
            MAX_POSITIONS,
        )?;
        let flag = |name: &str| cfg.get(name).and_then(Value::as_bool);
        let mut qkv_layout = arch.qkv_layout;
        let kv_heads = if arch.class == "FalconForCausalLM" {
            if flag("new_decoder_architecture").unwrap_or(false) {
                required(cfg, "num_kv_heads", &["num_kv_heads", "n_head_kv"], MAX_HEADS)?
            } else if flag("multi_query").unwrap_or(true) {
                qkv_layout = Some(QkvLayout::Concat);
                1
            } else {
                heads
            }
        } else {
            dim(cfg, "num_key_value_heads", &["num_key_value_heads"], MAX_HEADS)?.unwrap_or(heads)
        };
        if kv_heads > heads || heads % kv_heads != 0 {
            return Err(ConfigError::Inconsistent(format!(
                "{heads} attention heads cannot be shared by {kv_heads} key-value heads"
            )));
        }
        let head_dim = match dim(cfg, "head_dim", &["head_dim"], MAX_HEAD_DIM)? {
            Some(d) => d,
            None if hidden % heads == 0 => hidden / heads,
            None => {
                return Err(ConfigError::Inconsistent(format!(
                    "hidden_size {hidden} is not divisible by {heads} heads"
                )))
            }
        };
        if head_dim > MAX_HEAD_DIM {
            return Err(ConfigError::Absurd {
                field: "head_dim",
                value: head_dim.to_string(),
                min: 1,
                max: MAX_HEAD_DIM,
            });
        }
        Ok(ModelConfig {
            arch,
            hidden_size: hidden as usize,
            num_layers: layers as usize,
            num_heads: heads as usize,
            num_kv_heads: kv_heads as usize,
            head_dim: head_dim as usize,
            vocab_size: vocab as usize,
            max_position_embeddings: positions,
            tie_word_embeddings: flag("tie_word_embeddings").unwrap_or(arch.tie_default),
            qkv_layout,
        })
    }

    /// The row ranges of `part` in this model's fused QKV matrix, and the matrix's total rows.
    pub fn qkv_rows(&self, part: QkvPart) -> (Vec<std::ops::Range<usize>>, usize) {
        let (h, kv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        match self.qkv_layout.unwrap_or(QkvLayout::Concat) {
            QkvLayout::Concat => {
                let (q, k) = (h * d, kv * d);
                let range = match part {
                    QkvPart::Q => 0..q,
                    QkvPart::K => q..q + k,
                    QkvPart::V => q + k..q + 2 * k,
                };
                (vec![range], q + 2 * k)
            }
            QkvLayout::Grouped => {
                let per_group = h / kv;
                let group_rows = (per_group + 2) * d;
                let ranges = (0..kv)
                    .map(|g| {
                        let base = g * group_rows;
                        match part {
                            QkvPart::Q => base..base + per_group * d,
                            QkvPart::K => base + per_group * d..base + (per_group + 1) * d,
                            QkvPart::V => base + (per_group + 1) * d..base + group_rows,
                        }
                    })
                    .collect();
                (ranges, kv * group_rows)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_type_decides_the_class() {
        let c = ModelConfig::parse(
            br#"{"model_type":"llama","architectures":["LlamaForCausalLM"],"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100}"#,
        )
        .unwrap();
        assert_eq!(c.arch.class, "LlamaForCausalLM");
        assert_eq!((c.head_dim, c.num_kv_heads, c.tie_word_embeddings), (16, 2, false));
        let bad = br#"{"model_type":"llama","architectures":["MistralForCausalLM"],"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}"#;
        assert!(matches!(ModelConfig::parse(bad), Err(ConfigError::ArchitectureDisagrees { .. })));
        assert!(matches!(ModelConfig::parse(br#"{"model_type":"gpt2"}"#), Err(ConfigError::UnknownModelType(_))));
    }

    #[test]
    fn absurd_dimensions() {
        for (field, value) in [
            ("hidden_size", "1e12"),
            ("hidden_size", "0"),
            ("num_hidden_layers", "100000"),
            ("vocab_size", "-1"),
            ("max_position_embeddings", "1000000000000"),
        ] {
            let mut cfg: serde_json::Map<String, Value> = serde_json::from_str(
                r#"{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}"#,
            )
            .unwrap();
            cfg.insert(field.into(), serde_json::from_str(value).unwrap());
            let err = ModelConfig::parse(&serde_json::to_vec(&cfg).unwrap()).unwrap_err();
            assert!(matches!(err, ConfigError::Absurd { .. }), "{field}={value}: {err}");
        }
    }

    #[test]
    fn grouped_qkv_rows() {
        let c = ModelConfig::parse(
            br#"{"model_type":"falcon","new_decoder_architecture":true,"hidden_size":96,"num_hidden_layers":1,"num_attention_heads":6,"num_kv_heads":2,"vocab_size":10}"#,
        )
        .unwrap();
        assert_eq!(c.qkv_rows(QkvPart::Q), (vec![0..48, 80..128], 160));
        assert_eq!(c.qkv_rows(QkvPart::K), (vec![48..64, 128..144], 160));
        assert_eq!(c.qkv_rows(QkvPart::V), (vec![64..80, 144..160], 160));
    }
}
