//! The model hyperparameters of a llama GGUF, and the `config.json` / `generation_config.json`
//! transformers would write for the same model (`LlamaForCausalLM`).

use super::metadata::Metadata;
use super::tokenizer::Vocabulary;
use super::ImportError;
use serde_json::{json, Value};

/// What `config.json` needs, read from `llama.*` keys.
#[derive(Debug, Clone)]
pub(crate) struct Hyper {
    pub architecture: String,
    pub layers: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub context_length: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Value,
    pub vocab_size: usize,
}

impl Hyper {
    pub fn read(meta: &Metadata) -> Result<Hyper, ImportError> {
        let architecture = meta.string("general.architecture")?;
        if architecture != "llama" {
            return Err(
                meta.unsupported(format!("architecture `{architecture}` (only `llama` GGUF files can be imported)"))
            );
        }
        let key = |k: &str| format!("llama.{k}");
        let hidden = meta.usize(&key("embedding_length"))?;
        let heads = meta.usize(&key("attention.head_count"))?;
        let kv_heads = meta.opt_usize(&key("attention.head_count_kv"))?.unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
            return Err(meta.invalid(format!("{heads} attention heads cannot share {kv_heads} key/value heads")));
        }
        let head_dim = match meta.opt_usize(&key("attention.key_length"))? {
            Some(d) => d,
            None if hidden % heads == 0 => hidden / heads,
            None => return Err(meta.invalid(format!("hidden size {hidden} is not a multiple of {heads} heads"))),
        };
        if let Some(v) = meta.opt_usize(&key("attention.value_length"))? {
            if v != head_dim {
                return Err(meta.unsupported(format!("value length {v} differs from key length {head_dim}")));
            }
        }
        if head_dim % 2 != 0 {
            return Err(meta.invalid(format!("head dimension {head_dim} is odd")));
        }
        // HF Llama rotates the whole head; a partial rotary Llama has no HF equivalent.
        if let Some(rot) = meta.opt_usize(&key("rope.dimension_count"))? {
            if rot != head_dim {
                return Err(meta.unsupported(format!("rope over {rot} of {head_dim} head dimensions")));
            }
        }
        let rope_scaling = match meta.opt_string(&key("rope.scaling.type"))?.as_deref() {
            None | Some("none") => Value::Null,
            Some("linear") => {
                let factor = meta
                    .opt_f64(&key("rope.scaling.factor"))?
                    .ok_or_else(|| meta.invalid("linear rope scaling without rope.scaling.factor".into()))?;
                json!({"type": "linear", "factor": factor})
            }
            Some(other) => return Err(meta.unsupported(format!("rope scaling `{other}`"))),
        };
        let vocab_size = match meta.opt_usize(&key("vocab_size"))? {
            Some(v) => v,
            None => meta.string_array("tokenizer.ggml.tokens")?.len(),
        };
        Ok(Hyper {
            architecture,
            layers: meta.usize(&key("block_count"))?,
            hidden,
            intermediate: meta.usize(&key("feed_forward_length"))?,
            heads,
            kv_heads,
            head_dim,
            context_length: meta.usize(&key("context_length"))?,
            rms_norm_eps: meta
                .opt_f64(&key("attention.layer_norm_rms_epsilon"))?
                .ok_or_else(|| meta.invalid("llama.attention.layer_norm_rms_epsilon is missing".into()))?,
            // llama.cpp's default when the key is absent.
            rope_theta: meta.opt_f64(&key("rope.freq_base"))?.unwrap_or(10000.0),
            rope_scaling,
            vocab_size,
        })
    }
}

/// `config.json` as transformers writes it for `LlamaForCausalLM` (float32 weights).
pub(crate) fn config_json(h: &Hyper, vocab: &Vocabulary, tied: bool) -> Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "attention_bias": false,
        "attention_dropout": 0.0,
        "bos_token_id": vocab.bos_id,
        "eos_token_id": vocab.eos_id,
        "pad_token_id": vocab.pad_id,
        "head_dim": h.head_dim,
        "hidden_act": "silu",
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.intermediate,
        "max_position_embeddings": h.context_length,
        "mlp_bias": false,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "num_key_value_heads": h.kv_heads,
        "pretraining_tp": 1,
        "rms_norm_eps": h.rms_norm_eps,
        "rope_scaling": h.rope_scaling,
        "rope_theta": h.rope_theta,
        "tie_word_embeddings": tied,
        "torch_dtype": "float32",
        "use_cache": true,
        "vocab_size": h.vocab_size,
    })
}

pub(crate) fn generation_config_json(vocab: &Vocabulary) -> Value {
    json!({
        "bos_token_id": vocab.bos_id,
        "eos_token_id": vocab.eos_id,
        "pad_token_id": vocab.pad_id,
    })
}
