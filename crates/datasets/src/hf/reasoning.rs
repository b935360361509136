//! SYNTHETIC-1-SFT and codeforces-cots rows (upstream-2025 §2.6): the question, the reasoning
//! trace and the answer, parsed with upstream's regular expressions and Python string rules.

use crate::pystr::{py_len, py_strip};
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// The system message both reasoning tasks render before the question (since 3.0.3).
pub const REASONING_SYSTEM_PROMPT: &str = "You are a reflective AI capable of using extended chains of thought to consider the problem thoroughly and deliberate through systematic reasoning to arrive at a correct solution before answering. Enclose your internal monologue in <think> ... </think> tags, then provide your final answer in the format that the user requests.";

/// SYNTHETIC-1-SFT task types upstream keeps.
pub const SUPPORTED_TASK_TYPES: [&str; 2] = ["verifiable_math", "code_output_prediction"];

// Python `re`: `.` stops at `\n` only, as in Rust's `regex` without the `s` flag.
static BOXED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\\boxed\{(.*?)\}").unwrap());
static OUTPUT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"\{"output": "(.*?)"\}"#).unwrap());

/// A parsed reasoning row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub question: String,
    pub trace: String,
    pub answer: String,
}

/// Why a row could not be parsed (upstream logs these and skips the row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unparseable(pub String);

fn message_content(messages: &Value, i: usize) -> Result<&str, Unparseable> {
    messages
        .get(i)
        .ok_or_else(|| Unparseable(format!("no message {i}")))?
        .get("content")
        .ok_or_else(|| Unparseable(format!("message {i} has no content")))?
        .as_str()
        .ok_or_else(|| Unparseable(format!("message {i} content is not a string")))
}

/// `re.findall(pattern, text)[-1]` for a one-group pattern, or `""`.
fn last_group(re: &Regex, text: &str) -> (bool, String) {
    match re.captures_iter(text).last() {
        Some(c) => (true, c.get(1).map_or("", |m| m.as_str()).to_string()),
        None => (false, String::new()),
    }
}

/// `Synthetic1SFTLoader._parse_verifiable_math`: the answer is the last `\boxed{…}` (first `}`
/// ends it); the trace is everything before the last `\boxed{answer}`, stripped.
pub fn parse_verifiable_math(messages: &Value) -> Result<Parsed, Unparseable> {
    let question = message_content(messages, 0)?;
    let assistant = message_content(messages, 1)?;
    let (found, answer) = last_group(&BOXED, assistant);
    let trace = if found && !answer.is_empty() {
        match assistant.rfind(&format!("\\boxed{{{answer}}}")) {
            Some(i) => py_strip(&assistant[..i]).to_string(),
            None => assistant.to_string(),
        }
    } else {
        assistant.to_string()
    };
    Ok(Parsed { question: question.to_string(), trace, answer })
}

/// `Synthetic1SFTLoader._parse_code_output_prediction`: the answer is the last
/// `{"output": "…"}`; the trace is the message with the *first* occurrence of that exact
/// `{"output": "answer"}` removed (Python's `replace(…, 1)`), not stripped.
pub fn parse_code_output_prediction(messages: &Value) -> Result<Parsed, Unparseable> {
    let question = message_content(messages, 0)?;
    let assistant = message_content(messages, 1)?;
    let (found, answer) = last_group(&OUTPUT, assistant);
    let trace = if found && !answer.is_empty() {
        assistant.replacen(&format!("{{\"output\": \"{answer}\"}}"), "", 1)
    } else {
        assistant.to_string()
    };
    Ok(Parsed { question: question.to_string(), trace, answer })
}

/// `Synthetic1SFTLoader._extract_messages` by task type.
pub fn parse_synthetic(task_type: &str, messages: &Value) -> Result<Parsed, Unparseable> {
    match task_type {
        "verifiable_math" => parse_verifiable_math(messages),
        "code_output_prediction" => parse_code_output_prediction(messages),
        other => Err(Unparseable(format!("unsupported task type {other:?}"))),
    }
}

/// `CodeforcesCOTSLoader._extract_messages`: exactly two messages, question and trace.
pub fn parse_codeforces(messages: &Value) -> Result<Parsed, Unparseable> {
    let n = messages.as_array().map(Vec::len);
    if n != Some(2) {
        return Err(Unparseable("invalid message format (not exactly 2 messages)".into()));
    }
    Ok(Parsed {
        question: message_content(messages, 0)?.to_string(),
        trace: message_content(messages, 1)?.to_string(),
        answer: String::new(),
    })
}

/// The reference a REFERENCE_LOSS sample scores, per upstream-2025 §2.6: math
/// `trace.strip() + " \boxed{a}"`, code `trace.strip() + ' {"output": "a"}'`.
pub fn synthetic_reference(task_type: &str, trace: &str, answer: &str) -> String {
    let trace = py_strip(trace);
    match task_type {
        "code_output_prediction" => format!("{trace} {{\"output\": \"{answer}\"}}"),
        _ => format!("{trace} \\boxed{{{answer}}}"),
    }
}

/// `_estimate_token_length`: `len(text) // chars_per_token` (code points), 0 for empty text.
pub fn estimate_tokens(text: &str, chars_per_token: usize) -> usize {
    if text.is_empty() {
        0
    } else {
        py_len(text) / chars_per_token
    }
}

/// `_fits_sequence_length`: `q + trace + 10 <= max` in estimated tokens; no cap when `None`.
pub fn fits(question: &str, trace: &str, max_sequence_length: Option<usize>, chars_per_token: usize) -> bool {
    match max_sequence_length {
        None => true,
        Some(max) => estimate_tokens(question, chars_per_token) + estimate_tokens(trace, chars_per_token) + 10 <= max,
    }
}
