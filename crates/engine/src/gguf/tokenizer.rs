//! The GGUF vocabulary (`tokenizer.ggml.*`) as a Hugging Face fast tokenizer: a byte-level BPE
//! `tokenizer.json` and a `tokenizer_config.json` with the special tokens and chat template.
//!
//! llama.cpp names the text splitting it applies before BPE in `tokenizer.ggml.pre`; the same
//! splitting is written here as `tokenizers` pre-tokenizers. `smollm` is llama.cpp's
//! `\p{N}` split (every digit alone) followed by the GPT-2 regex, i.e. `Digits(individual)` then
//! `ByteLevel(use_regex)` (`shared/fixtures/real-model.md`; transformers' own GGUF converter
//! drops the digit split and so tokenises multi-digit numbers differently from llama.cpp).

use super::config::Hyper;
use super::metadata::Metadata;
use super::ImportError;
use serde_json::{json, Map, Value};

/// llama.cpp's token types.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

#[derive(Debug, Clone)]
pub(crate) struct Vocabulary {
    pub tokens: Vec<String>,
    pub token_types: Vec<i64>,
    pub merges: Vec<String>,
    pub pre: Option<String>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub unk_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub chat_template: Option<String>,
}

impl Vocabulary {
    pub fn read(meta: &Metadata) -> Result<Vocabulary, ImportError> {
        let model = meta.string("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(meta.unsupported(format!(
                "tokenizer model `{model}` (only byte-level BPE vocabularies, `gpt2`, can be imported)"
            )));
        }
        let tokens = meta.string_array("tokenizer.ggml.tokens")?;
        let token_types = meta.opt_int_array("tokenizer.ggml.token_type")?.unwrap_or_else(|| vec![1; tokens.len()]);
        if token_types.len() != tokens.len() {
            return Err(meta.invalid(format!("{} token types for {} tokens", token_types.len(), tokens.len())));
        }
        let mut seen = std::collections::HashSet::with_capacity(tokens.len());
        if let Some(dup) = tokens.iter().find(|t| !seen.insert(t.as_str())) {
            return Err(meta.unsupported(format!("token {dup:?} occurs twice in the vocabulary")));
        }
        let merges = meta.opt_string_array("tokenizer.ggml.merges")?.unwrap_or_default();
        if let Some(bad) = merges.iter().find(|m| m.split(' ').count() != 2) {
            return Err(meta.invalid(format!("merge {bad:?} is not two tokens separated by one space")));
        }
        let id = |key: &str| -> Result<Option<u32>, ImportError> {
            match meta.opt_usize(key)? {
                Some(i) if i >= tokens.len() => {
                    Err(meta.invalid(format!("`{key}` = {i} is outside the vocabulary of {}", tokens.len())))
                }
                Some(i) => Ok(Some(i as u32)),
                None => Ok(None),
            }
        };
        Ok(Vocabulary {
            pre: meta.opt_string("tokenizer.ggml.pre")?,
            bos_id: id("tokenizer.ggml.bos_token_id")?,
            eos_id: id("tokenizer.ggml.eos_token_id")?,
            unk_id: id("tokenizer.ggml.unknown_token_id")?,
            pad_id: id("tokenizer.ggml.padding_token_id")?,
            add_bos: meta.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false),
            add_eos: meta.opt_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false),
            chat_template: meta.opt_string("tokenizer.chat_template")?,
            tokens,
            token_types,
            merges,
        })
    }

    fn token(&self, id: Option<u32>) -> Value {
        id.map_or(Value::Null, |i| Value::String(self.tokens[i as usize].clone()))
    }

    fn control_tokens(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().zip(&self.token_types).filter(|(_, &t)| t == CONTROL).map(|(s, _)| s.as_str())
    }
}

/// The pre-tokenizer for llama.cpp's `tokenizer.ggml.pre` name.
fn pre_tokenizer(meta: &Metadata, pre: Option<&str>) -> Result<Value, ImportError> {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    match pre {
        None | Some("default") | Some("gpt2") => Ok(byte_level),
        Some("smollm") => Ok(json!({
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level],
        })),
        Some(other) => {
            Err(meta
                .unsupported(format!("pre-tokenizer `{other}` (tokenizer.ggml.pre; supported: default, gpt2, smollm)")))
        }
    }
}

/// `tokenizer.json`: byte-level BPE over the GGUF tokens (ids = positions) and merges (rank =
/// order); control tokens become special added tokens, user-defined ones plain added tokens,
/// both matched whole in text as llama.cpp does.
pub(crate) fn tokenizer_json(meta: &Metadata, vocab: &Vocabulary) -> Result<Value, ImportError> {
    let added: Vec<Value> = vocab
        .tokens
        .iter()
        .zip(&vocab.token_types)
        .enumerate()
        .filter(|(_, (_, &t))| t == CONTROL || t == USER_DEFINED)
        .map(|(id, (content, &t))| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": t == CONTROL})
        })
        .collect();
    let post_processor = match (vocab.add_bos, vocab.bos_id) {
        (true, Some(bos)) => {
            let bos_text = &vocab.tokens[bos as usize];
            json!({
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos_text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos_text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos_text: {"id": bos_text, "ids": [bos], "tokens": [bos_text]}},
            })
        }
        (true, None) => {
            return Err(meta.invalid("tokenizer.ggml.add_bos_token is set but there is no bos token".into()))
        }
        (false, _) => json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}),
    };
    let vocab_map: Map<String, Value> =
        vocab.tokens.iter().enumerate().map(|(id, t)| (t.clone(), Value::from(id))).collect();
    let value = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer(meta, vocab.pre.as_deref())?,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab_map,
            "merges": vocab.merges,
        },
    });
    // What we write must load: check with the same library the engine reads it with.
    let text = serde_json::to_string(&value).expect("JSON values always serialise");
    text.parse::<tokenizers::Tokenizer>()
        .map_err(|e| meta.invalid(format!("the vocabulary does not make a valid tokenizer: {e}")))?;
    Ok(value)
}

/// `tokenizer_config.json`: special tokens by text, BOS/EOS flags and the chat template.
pub(crate) fn tokenizer_config_json(hyper: &Hyper, vocab: &Vocabulary) -> Value {
    let mut config = json!({
        "add_bos_token": vocab.add_bos,
        "add_eos_token": vocab.add_eos,
        "bos_token": vocab.token(vocab.bos_id),
        "eos_token": vocab.token(vocab.eos_id),
        "unk_token": vocab.token(vocab.unk_id),
        "pad_token": vocab.token(vocab.pad_id),
        "additional_special_tokens": vocab.control_tokens().collect::<Vec<_>>(),
        "clean_up_tokenization_spaces": false,
        "model_max_length": hyper.context_length,
        "tokenizer_class": "PreTrainedTokenizerFast",
    });
    if let Some(template) = &vocab.chat_template {
        config["chat_template"] = Value::String(template.clone());
    }
    config
}
