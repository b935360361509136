//! Operators' own data: a JSONL file of `{"prompt", "response"}` rows (optionally `"system"`) for
//! REFERENCE_LOSS tasks, or `{"text"}` rows for TEXT_LOSS tasks.
//!
//! Kwargs: `path` (required), `max_samples` (optional: above it, the round seed picks
//! `random.sample(range(rows), max_samples)`, in that order; otherwise every row in file order).

use crate::kwargs::{Kwargs, KwargsError};
use crate::pyrandom::{PyRandom, RandomError};
use crate::sample::{Loaded, PairRule, PromptResponse, Sample, SampleBody};
use crate::seed::Seed;
use scoring::competition::EvalMethod;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error(transparent)]
    Kwargs(#[from] KwargsError),
    #[error("{path}: {error}")]
    Io { path: String, error: String },
    #[error("{path}: no usable row ({malformed} malformed lines; first: {first})")]
    NoSamples { path: String, malformed: usize, first: String },
    #[error("JSONL data serves reference_loss and text_loss tasks, not {0:?}")]
    UnsupportedMethod(EvalMethod),
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// One line as a sample body, or why not.
fn parse_line(line: &str, method: EvalMethod) -> Result<SampleBody, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = value.as_object().ok_or("not a JSON object")?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str);
    match method {
        EvalMethod::ReferenceLoss => {
            let (Some(prompt), Some(response)) = (text("prompt"), text("response")) else {
                return Err("needs string fields \"prompt\" and \"response\"".into());
            };
            let system = match obj.get("system") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err("\"system\" is not a string".into()),
            };
            Ok(SampleBody::PromptResponse(PromptResponse {
                system,
                prompt: prompt.to_string(),
                response: response.to_string(),
                rule: PairRule::ContextReference,
            }))
        }
        EvalMethod::TextLoss => match text("text") {
            Some(t) => Ok(SampleBody::Text { text: t.to_string() }),
            None => Err("needs a string field \"text\"".into()),
        },
        _ => Err("unsupported method".into()),
    }
}

pub async fn load_jsonl(seed: &Seed, kwargs: &Map<String, Value>, method: EvalMethod) -> Result<Loaded, JsonlError> {
    if !matches!(method, EvalMethod::ReferenceLoss | EvalMethod::TextLoss) {
        return Err(JsonlError::UnsupportedMethod(method));
    }
    let mut k = Kwargs::new(kwargs);
    let path = k.required_string("path")?;
    let max_samples = k.opt_count("max_samples")?;
    k.finish()?;

    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| JsonlError::Io { path: path.clone(), error: e.to_string() })?;
    let mut loaded = Loaded::default();
    let mut first_error = String::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, method) {
            Ok(body) => loaded.samples.push(Sample::content_addressed(body)),
            Err(e) => {
                if first_error.is_empty() {
                    first_error = format!("line {}: {e}", n + 1);
                }
                loaded.malformed += 1;
            }
        }
    }
    if loaded.samples.is_empty() {
        return Err(JsonlError::NoSamples { path, malformed: loaded.malformed, first: first_error });
    }
    if loaded.malformed > 0 {
        tracing::warn!(path = %path, malformed = loaded.malformed, first = %first_error, "skipped malformed JSONL rows");
    }
    if let Some(max) = max_samples.filter(|&m| m < loaded.samples.len()) {
        let keep = PyRandom::from_seed(seed).sample_indices(loaded.samples.len(), max)?;
        loaded.samples = keep.into_iter().map(|i| loaded.samples[i].clone()).collect();
    }
    loaded.provenance.push(path);
    Ok(loaded)
}
