//! What a loader hands the engine: samples as plain strings (the engine tokenises them), each with
//! a stable id that step records list so a round's data can be audited.

use scoring::competition::DatasetId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a prompt/response pair becomes token ids (the engine applies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairRule {
    /// 2025 REFERENCE_LOSS (upstream-2025 §1.2/§2.1/§2.6): `context` = the chat template of
    /// `[system?, user: prompt]` with the generation prompt, `reference = tokenizer.encode(response)`
    /// (default special tokens, so BOS tokenizers prepend BOS); the loss is over the reference.
    ContextReference,
    /// 2024 cortex chat pair (upstream-2024 §7.1): `ids` = the chat template of
    /// `[user: prompt, assistant: response]` (first `S` tokens), `prompt_len` = the length of the
    /// template of `[user: prompt]` with the generation prompt; the loss is over `ids[prompt_len..]`.
    ChatPair,
}

/// One prompt and the response a model is scored on predicting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptResponse {
    /// A system message rendered before the user turn (the 2025 reasoning tasks).
    pub system: Option<String>,
    pub prompt: String,
    pub response: String,
    pub rule: PairRule,
}

/// A sample's content, by evaluation method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SampleBody {
    /// REFERENCE_LOSS.
    PromptResponse(PromptResponse),
    /// TEXT_LOSS: the document itself.
    Text { text: String },
    /// MULTIPLE_CHOICE: greedy generation checked against `answer` (one of `choices`).
    MultipleChoice { prompt: String, choices: Vec<String>, answer: String },
}

/// A sample with its stable id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Stable across validators and restarts: a content hash for generated and JSONL data, the
    /// dataset row for Hugging Face data, `{run_id}_{step}/{uid}` for cortex data.
    pub id: String,
    #[serde(flatten)]
    pub body: SampleBody,
}

impl Sample {
    /// A sample whose id is `sha256:` + the first 16 hex digits of the sha256 of its JSON body.
    pub fn content_addressed(body: SampleBody) -> Sample {
        let json = serde_json::to_vec(&body).expect("sample bodies serialise");
        let digest = Sha256::digest(&json);
        Sample { id: format!("sha256:{}", &hex::encode(digest)[..16]), body }
    }

    /// The prompt/response pair, for REFERENCE_LOSS samples.
    pub fn as_prompt_response(&self) -> Option<&PromptResponse> {
        match &self.body {
            SampleBody::PromptResponse(p) => Some(p),
            _ => None,
        }
    }
}

/// The samples of one eval task for one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSamples {
    pub task: String,
    pub dataset: DatasetId,
    pub samples: Vec<Sample>,
    /// Rows the source returned that could not be parsed (missing fields, wrong types).
    pub malformed: usize,
    /// Rows dropped by the loader's own rules (task type, length, unwanted phrases, age, ...).
    pub filtered: usize,
    /// Where the data came from, for the step record (pages, runs, file).
    pub provenance: Vec<String>,
}

/// What a loader produced, before it is named after its task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    pub samples: Vec<Sample>,
    pub malformed: usize,
    pub filtered: usize,
    pub provenance: Vec<String>,
}

impl TaskSamples {
    pub fn new(task: impl Into<String>, dataset: DatasetId, loaded: Loaded) -> TaskSamples {
        TaskSamples {
            task: task.into(),
            dataset,
            samples: loaded.samples,
            malformed: loaded.malformed,
            filtered: loaded.filtered,
            provenance: loaded.provenance,
        }
    }
}
