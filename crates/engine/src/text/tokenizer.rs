//! A model's tokenizer with its special tokens and chat template, and the rules that turn the
//! evaluation data into token ids with a scored span:
//!
//! - **prompt/response** (upstream 2024, `reference/upstream-2024.md` §7.1): prompt ids =
//!   template of `[user]` with the generation prompt, full ids = template of `[user,
//!   assistant]`, both tokenised without extra special tokens and cut to the first `max_len`;
//!   the response is scored from `len(prompt ids)` on, even when the prompt ids are not a
//!   prefix of the full ids (upstream does exactly this).
//! - **context/reference** (upstream 2025, `reference/upstream-2025.md` §1.2, §2.1, §2.6):
//!   context = template with the generation prompt (optionally after a system message),
//!   left-truncated; reference = `encode(reference, add_special_tokens=True)`; the last
//!   `len(reference)` tokens are scored.
//! - **text** (fixtures' text loss): `[bos]` (when the tokenizer has one) + the text's tokens,
//!   cut to `max_len`, every next-token prediction scored.

use super::template::{ChatTemplate, Message, TemplateTokens};
use crate::error::{EngineError, Result};
use crate::snapshot::read_json;
use serde_json::Value;
use std::path::Path;

/// Who supplied the tokenizer files: it decides whose fault a broken file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerOrigin {
    /// The miner's model folder.
    Model,
    /// The validator (a competition's fixed evaluation tokenizer).
    Validator,
}

/// Token ids with the span to score: targets `ids[score_from..]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub ids: Vec<u32>,
    pub score_from: usize,
}

/// A tokenised prompt/response pair, with what was rendered (for checks and reports).
#[derive(Debug, Clone)]
pub struct PairTokens {
    pub sequence: Sequence,
    pub prompt_text: String,
    pub full_text: String,
    /// Length of the full ids before truncation.
    pub untruncated_len: usize,
    /// Whether the separately tokenised prompt is a prefix of the full ids.
    pub prompt_is_prefix: bool,
}

/// How the 2025 context is built and cut.
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    /// A system message before the user's (the reasoning tasks' system prompt).
    pub system: Option<String>,
    /// Encode the rendered context with the tokenizer's special tokens (`tok.encode(text)`,
    /// which re-adds BOS for BOS tokenizers: SYNTHETIC_1_SFT, CODEFORCES_COTS); otherwise as
    /// `apply_chat_template(tokenize=True)` does, without them.
    pub add_special_tokens: bool,
    /// Keep only the last this many context tokens (left truncation).
    pub max_context: Option<usize>,
}

#[derive(Debug)]
pub struct ChatTokenizer {
    tokenizer: tokenizers::Tokenizer,
    template: Option<ChatTemplate>,
    template_tokens: TemplateTokens,
    bos_token: Option<String>,
    eos_token: Option<String>,
    clean_up_spaces: bool,
    origin: TokenizerOrigin,
}

impl ChatTokenizer {
    /// Loads `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json` and the chat
    /// template (`chat_template.jinja`, else `tokenizer_config.json`'s `chat_template`) of `dir`.
    pub fn load(dir: &Path, origin: TokenizerOrigin) -> Result<ChatTokenizer> {
        let fail = |msg: String| tokenizer_error(origin, msg);
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(fail(format!("{} is missing (only fast tokenizers are supported)", path.display())));
        }
        let mut tokenizer =
            tokenizers::Tokenizer::from_file(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        // transformers resets both on every call unless asked for them.
        tokenizer.with_truncation(None).map_err(|e| fail(e.to_string()))?;
        tokenizer.with_padding(None);

        let config = optional_json(&dir.join("tokenizer_config.json"), origin)?;
        let map = optional_json(&dir.join("special_tokens_map.json"), origin)?;
        let mut template_tokens = TemplateTokens::default();
        for name in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] {
            // special_tokens_map.json overrides tokenizer_config.json, as in transformers.
            let value = map.get(name).or_else(|| config.get(name));
            if let Some(token) = value.and_then(token_text) {
                template_tokens.named.push((name.to_string(), token));
            }
        }
        if let Some(list) = map.get("additional_special_tokens").or_else(|| config.get("additional_special_tokens")) {
            template_tokens.additional =
                list.as_array().map(|a| a.iter().filter_map(token_text).collect()).unwrap_or_default();
        }
        let named = |n: &str| template_tokens.named.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let (bos_token, eos_token) = (named("bos_token"), named("eos_token"));

        let template_source = match dir.join("chat_template.jinja") {
            p if p.is_file() => Some(std::fs::read_to_string(&p).map_err(|e| EngineError::io(&p, e))?),
            _ => match config.get("chat_template") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(list)) => Some(named_template(list).map_err(&fail)?),
                Some(_) => {
                    return Err(fail("tokenizer_config.json: chat_template is neither a string nor a list".into()))
                }
            },
        };
        let template = template_source
            .map(|s| ChatTemplate::new(&s).map_err(|e| template_error(origin, format!("cannot compile: {e}"))))
            .transpose()?;
        let clean_up_spaces = config.get("clean_up_tokenization_spaces").and_then(Value::as_bool).unwrap_or(false);
        Ok(ChatTokenizer { tokenizer, template, template_tokens, bos_token, eos_token, clean_up_spaces, origin })
    }

    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos_token.as_deref().and_then(|t| self.tokenizer.token_to_id(t))
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos_token.as_deref().and_then(|t| self.tokenizer.token_to_id(t))
    }

    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// The largest token id this tokenizer can produce, plus one.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Renders a conversation with the chat template.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .template
            .as_ref()
            .ok_or_else(|| template_error(self.origin, "the tokenizer has no chat template".into()))?;
        template
            .render(messages, add_generation_prompt, &self.template_tokens)
            .map_err(|e| template_error(self.origin, e))
    }

    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, add_special_tokens)
            .map_err(|e| self.tokenizer_error(format!("cannot encode: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Decodes as `tokenizer.decode(ids, skip_special_tokens=...)` does.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let text = self
            .tokenizer
            .decode(ids, skip_special_tokens)
            .map_err(|e| self.tokenizer_error(format!("cannot decode: {e}")))?;
        Ok(if self.clean_up_spaces { clean_up_tokenization(&text) } else { text })
    }

    /// The 2024 prompt/response rule (see the module documentation).
    pub fn prompt_response(&self, prompt: &str, response: &str, max_len: Option<usize>) -> Result<PairTokens> {
        let user = Message::new("user", prompt);
        let prompt_text = self.render(std::slice::from_ref(&user), true)?;
        let full_text = self.render(&[user, Message::new("assistant", response)], false)?;
        let mut prompt_ids = self.encode(&prompt_text, false)?;
        let mut ids = self.encode(&full_text, false)?;
        let untruncated_len = ids.len();
        if let Some(max) = max_len {
            prompt_ids.truncate(max);
            ids.truncate(max);
        }
        let prompt_is_prefix = ids.starts_with(&prompt_ids);
        Ok(PairTokens {
            sequence: Sequence { score_from: prompt_ids.len(), ids },
            prompt_text,
            full_text,
            untruncated_len,
            prompt_is_prefix,
        })
    }

    /// The context the model answers from: `[system?, user]` with the generation prompt,
    /// left-truncated to `max_context`.
    pub fn context(&self, prompt: &str, opts: &ContextOptions) -> Result<Vec<u32>> {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = &opts.system {
            messages.push(Message::new("system", system));
        }
        messages.push(Message::new("user", prompt));
        let text = self.render(&messages, true)?;
        let mut ids = self.encode(&text, opts.add_special_tokens)?;
        if let Some(max) = opts.max_context {
            if ids.len() > max {
                ids.drain(..ids.len() - max);
            }
        }
        Ok(ids)
    }

    /// The 2025 context/reference rule (see the module documentation).
    pub fn context_reference(&self, prompt: &str, reference: &str, opts: &ContextOptions) -> Result<Sequence> {
        let mut ids = self.context(prompt, opts)?;
        let reference = self.encode(reference, true)?;
        // Upstream scores `shift_logits[..., -R:]`; with R = 0 Python's `-0:` selects every
        // position, so an empty reference scores the whole sequence there too.
        let score_from = if reference.is_empty() { 1 } else { ids.len() };
        ids.extend_from_slice(&reference);
        Ok(Sequence { ids, score_from })
    }

    /// The text-loss rule: `[bos]` when the tokenizer has one, the text, cut to `max_len`.
    pub fn text(&self, text: &str, max_len: Option<usize>) -> Result<Sequence> {
        let mut ids: Vec<u32> = self.bos_id().into_iter().collect();
        ids.extend(self.encode(text, false)?);
        if let Some(max) = max_len {
            ids.truncate(max);
        }
        Ok(Sequence { ids, score_from: 1 })
    }

    fn tokenizer_error(&self, msg: String) -> EngineError {
        tokenizer_error(self.origin, msg)
    }
}

fn tokenizer_error(origin: TokenizerOrigin, msg: String) -> EngineError {
    match origin {
        TokenizerOrigin::Model => EngineError::Tokenizer(msg),
        TokenizerOrigin::Validator => EngineError::Setup(msg),
    }
}

fn template_error(origin: TokenizerOrigin, msg: String) -> EngineError {
    match origin {
        TokenizerOrigin::Model => EngineError::Template(msg),
        TokenizerOrigin::Validator => EngineError::Setup(format!("chat template: {msg}")),
    }
}

fn optional_json(path: &Path, origin: TokenizerOrigin) -> Result<Value> {
    if !path.is_file() {
        return Ok(Value::Object(Default::default()));
    }
    read_json(path).map_err(|e| match (origin, e) {
        (TokenizerOrigin::Validator, e) => EngineError::Setup(e.to_string()),
        (_, EngineError::Config { path, reason }) => EngineError::Tokenizer(format!("{}: {reason}", path.display())),
        (_, e) => e,
    })
}

/// A special token given as a string or as an `AddedToken` object `{"content": ...}`.
fn token_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// From a list of `{name, template}`: the one named `default`.
fn named_template(list: &[Value]) -> std::result::Result<String, String> {
    let mut names = Vec::new();
    for entry in list {
        let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
        if name == "default" {
            return entry
                .get("template")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| "chat template `default` has no template string".into());
        }
        names.push(name.to_string());
    }
    Err(format!("the tokenizer has several chat templates ({}) and none named `default`", names.join(", ")))
}

/// `transformers`' `clean_up_tokenization`: drops the space before punctuation and
/// contractions.
fn clean_up_tokenization(text: &str) -> String {
    [
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ]
    .iter()
    .fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn special_tokens_may_be_added_token_objects() {
        assert_eq!(token_text(&json!("<s>")), Some("<s>".into()));
        assert_eq!(token_text(&json!({"content": "<s>", "lstrip": false})), Some("<s>".into()));
        assert_eq!(token_text(&json!(null)), None);
    }

    #[test]
    fn named_templates_pick_default() {
        let list = [json!({"name": "tool_use", "template": "T"}), json!({"name": "default", "template": "D"})];
        assert_eq!(named_template(&list).unwrap(), "D");
        assert!(named_template(&list[..1]).unwrap_err().contains("tool_use"));
    }

    #[test]
    fn clean_up_matches_transformers() {
        assert_eq!(clean_up_tokenization("Hello , world . I 'm"), "Hello, world. I'm");
    }
}
