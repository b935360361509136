//! The summer-2024 data source (upstream-2024 §6): prompt/response pairs logged to wandb by
//! subnet-18 (Cortex.t) validators, kept only from runs whose hotkey is a staked SN18 validator and
//! whose sr25519 signature over the run id verifies, from the last logged steps, recent enough,
//! text modality, and with no unwanted phrase in the response.
//!
//! Historical (upstream retired it); selectable per task as `DatasetId::Cortex`. Deliberate
//! differences from upstream: the run order is shuffled with the round seed (upstream used a
//! process-random seed, so validators never agreed), a run lacking its hotkey or signature is
//! skipped (upstream aborted the scan until its Oct-2024 fix), a row without `_timestamp` is
//! skipped and counted, and an empty validator set is an error (upstream then accepted every
//! unsigned run).

pub mod signature;
pub mod wandb;

use crate::kwargs::{Kwargs, KwargsError};
use crate::pyrandom::PyRandom;
use crate::pystr::py_strip;
use crate::sample::{Loaded, PairRule, PromptResponse, Sample, SampleBody};
use crate::seed::Seed;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wandb::{WandbClient, WandbError};

pub const CORTEX_PROJECT: &str = "cortex-t/multi-modality";
/// `constants.CORTEX_WANDB_TYPE`.
pub const CORTEX_RUN_TYPE: &str = "validator";
/// `constants.CORTEX_MAX_UIDS`: uids scanned per history row.
pub const CORTEX_MAX_UIDS: usize = 256;

/// Upstream's `UNWANTED_PHRASES`, verbatim (order and duplicates kept), with its provenance.
pub static UNWANTED_PHRASES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let doc: Value =
        serde_json::from_str(include_str!("../../data/cortex_unwanted_phrases.json")).expect("vendored JSON");
    doc["phrases"].as_array().expect("phrases").iter().map(|p| p.as_str().expect("string").to_string()).collect()
});

/// Whether upstream would drop this (stripped) response.
pub fn has_unwanted_phrase(response: &str) -> bool {
    UNWANTED_PHRASES.iter().any(|p| response.contains(p.as_str()))
}

#[derive(Debug, thiserror::Error)]
pub enum CortexError {
    #[error(transparent)]
    Wandb(#[from] WandbError),
    #[error(transparent)]
    Kwargs(#[from] KwargsError),
    #[error("no SN18 validator hotkeys were given; refusing unsigned cortex data")]
    NoValidators,
    #[error("run shuffle failed: {0}")]
    Random(#[from] crate::pyrandom::RandomError),
    #[error("no usable cortex sample in {runs} runs ({rows} rows; {malformed} malformed, {filtered} filtered)")]
    NoSamples { runs: usize, rows: usize, malformed: usize, filtered: usize },
}

/// The loader's options (`dataset_kwargs`), with the values the 2024 validator passed as defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CortexParams {
    pub project: String,
    pub max_samples: usize,
    /// The last `steps` logged steps of each run are scanned.
    pub steps: i64,
    /// Steps per history request.
    pub page_size: i64,
    pub max_run_age: Option<Duration>,
    /// Keep only uids whose `scores.{uid}` is a float `>= min_score` (unset upstream in 2024).
    pub min_score: Option<f64>,
    /// Stake an SN18 hotkey needs to count as a validator; the caller builds the hotkey set.
    pub min_stake: f64,
}

impl CortexParams {
    pub fn from_kwargs(map: &Map<String, Value>) -> Result<CortexParams, KwargsError> {
        let mut k = Kwargs::new(map);
        let project = k.string("project", CORTEX_PROJECT)?;
        let max_samples = k.count("max_samples", 400)?;
        let steps = k.int("steps", 5)?;
        let page_size = k.int("page_size", 5)?;
        let max_run_age = k.opt_count("max_run_age_seconds")?.map(|s| Duration::from_secs(s as u64));
        let min_score = k.opt_float("min_score")?;
        let min_stake = k.opt_float("min_stake")?.unwrap_or(100_000.0);
        k.finish()?;
        if page_size < 1 || steps < 0 {
            return Err(KwargsError::Invalid("page_size must be >= 1 and steps >= 0".into()));
        }
        Ok(CortexParams { project, max_samples, steps, page_size, max_run_age, min_score, min_stake })
    }
}

/// Upstream's `_get_filters(use_latest_data=True, …)`.
pub fn run_filters(validator_hotkeys: &BTreeSet<String>) -> Value {
    let mut filters = json!({ "$and": [{"config.type": CORTEX_RUN_TYPE}, {"state": "running"}] });
    if !validator_hotkeys.is_empty() {
        filters["$or"] = validator_hotkeys.iter().map(|h| json!({"config.hotkey": h})).collect();
    }
    filters
}

/// Python's `str()` of a row's `_step` (`"Unknown"` when absent).
fn step_label(row: &Value) -> String {
    match row.get("_step") {
        None => "Unknown".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_f64() => format!("{:?}", n.as_f64().unwrap()),
        Some(other) => other.to_string(),
    }
}

/// Loads up to `max_samples` pairs. `now` is the clock the age filter uses (the caller's wall
/// clock in production; fixed in tests).
pub async fn load_cortex(
    client: &WandbClient,
    seed: &Seed,
    params: &CortexParams,
    validator_hotkeys: &BTreeSet<String>,
    now: SystemTime,
    sync_block: u64,
) -> Result<Loaded, CortexError> {
    if validator_hotkeys.is_empty() {
        return Err(CortexError::NoValidators);
    }
    let runs = client.runs(&params.project, &run_filters(validator_hotkeys), "+created_at", sync_block).await?;
    let mut rng = PyRandom::from_seed(seed);
    let mut order: Vec<usize> = (0..runs.len()).collect();
    rng.shuffle(&mut order);

    let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let mut loaded = Loaded::default();
    let mut rows_seen = 0;
    for &i in &order {
        let run = &runs[i];
        let hotkey = run.config.get("hotkey").and_then(Value::as_str);
        let signature = run.config.get("signature").and_then(Value::as_str);
        let (Some(hotkey), Some(signature)) = (hotkey, signature) else {
            loaded.malformed += 1;
            continue;
        };
        if !validator_hotkeys.contains(hotkey) || !signature::verify_run_signature(hotkey, &run.id, signature) {
            loaded.filtered += 1;
            tracing::debug!(run = %run.id, hotkey, "cortex run is not from a verified SN18 validator");
            continue;
        }
        let max_step = run.last_history_step + 1;
        let min_step = (max_step - params.steps).max(0);
        let rows = client.history(&params.project, &run.id, min_step, max_step, params.page_size, sync_block).await?;
        loaded.provenance.push(format!("{}/{}@{min_step}..{max_step}", params.project, run.id));
        for row in &rows {
            rows_seen += 1;
            let Some(timestamp) = row.get("_timestamp").and_then(Value::as_f64) else {
                loaded.malformed += 1;
                continue;
            };
            if params.max_run_age.is_some_and(|age| now_secs - timestamp > age.as_secs_f64()) {
                loaded.filtered += 1;
                continue;
            }
            if row.get("modality").and_then(Value::as_str) != Some("text") {
                loaded.filtered += 1;
                continue;
            }
            let step = step_label(row);
            for uid in 0..CORTEX_MAX_UIDS {
                let (Some(prompt), Some(response)) =
                    (row.get(format!("prompts.{uid}")), row.get(format!("responses.{uid}")))
                else {
                    continue;
                };
                if let Some(min_score) = params.min_score {
                    // Python: `not isinstance(score, float) or score < min_score` skips; a JSON
                    // integer is an int there, not a float.
                    let score = row.get(format!("scores.{uid}"));
                    let ok = score.and_then(|s| s.as_number()).filter(|n| n.is_f64()).and_then(|n| n.as_f64());
                    if ok.is_none_or(|s| s < min_score) {
                        continue;
                    }
                }
                let (Value::String(prompt), Value::String(response)) = (prompt, response) else { continue };
                let (prompt, response) = (py_strip(prompt), py_strip(response));
                if prompt.is_empty() || response.is_empty() {
                    continue;
                }
                if has_unwanted_phrase(response) {
                    loaded.filtered += 1;
                    continue;
                }
                loaded.samples.push(Sample {
                    id: format!("{}_{step}/{uid}", run.id),
                    body: SampleBody::PromptResponse(PromptResponse {
                        system: None,
                        prompt: prompt.to_string(),
                        response: response.to_string(),
                        rule: PairRule::ChatPair,
                    }),
                });
                if loaded.samples.len() == params.max_samples {
                    return Ok(loaded);
                }
            }
        }
    }
    if loaded.samples.is_empty() {
        return Err(CortexError::NoSamples {
            runs: runs.len(),
            rows: rows_seen,
            malformed: loaded.malformed,
            filtered: loaded.filtered,
        });
    }
    tracing::warn!(
        wanted = params.max_samples,
        got = loaded.samples.len(),
        "did not collect max_samples cortex samples"
    );
    Ok(loaded)
}
