//! From evaluation text to token ids: chat templates and the tokenizer rules.

pub mod template;
pub mod tokenizer;
