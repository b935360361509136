//! The slice of wandb's HTTP API the uploader speaks: create a run (GraphQL `UpsertBucket` at
//! `{base}/graphql`), append history rows and heartbeats, and finish the run (`POST
//! {base}/files/{entity}/{project}/{run}/file_stream`). Auth is HTTP Basic `api:<key>`, as
//! wandb's own SDK sends it.

use crate::config::{RunIdentity, WandbConfig};
use crate::pyjson::{self, float};
use crate::step_log::StepLog;
use reqwest::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const UPSERT_BUCKET: &str = "mutation UpsertBucket($name: String, $project: String, $entity: String, \
$displayName: String, $config: JSONString) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, displayName: $displayName, config: $config}) {
    bucket { id name displayName project { name entity { name } } }
    inserted
  }
}";

pub const HISTORY_FILE: &str = "wandb-history.jsonl";
pub const SUMMARY_FILE: &str = "wandb-summary.json";

/// Why a request did not land; decides what the uploader does next.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Network trouble, a timeout, a 5xx, 408 or 429, or a GraphQL error: try again later.
    #[error("{0}")]
    Transient(String),
    /// 401/403: the API key is wrong or lacks access. Records wait until it is fixed.
    #[error("wandb refused the API key: {0}")]
    Unauthorized(String),
    /// 404 on the run's file stream: the run no longer exists; open a new one.
    #[error("the wandb run is gone: {0}")]
    RunGone(String),
    /// 400/409/413/422 on a row: wandb will never take this record.
    #[error("wandb rejected the record: {0}")]
    Rejected(String),
}

/// A wandb run rows are being appended to.
#[derive(Clone, Debug)]
pub struct OpenRun {
    /// wandb's run id (the `name` of the bucket), part of the run's URL.
    pub id: String,
    /// The name shown in the UI: `validator-{uid}-{YYYY-mm-dd_HH-MM-SS}`.
    pub display_name: String,
    /// Unix time the run was opened, for `_runtime`.
    pub opened_at: f64,
    /// History lines already in the run: the offset of the next row.
    pub rows: u64,
    stream_url: Url,
}

/// An HTTP client bound to one wandb server and key.
pub struct WandbApi {
    client: reqwest::Client,
    base_url: Url,
    api_key: String,
    project: String,
    entity: String,
}

impl WandbApi {
    pub fn new(config: &WandbConfig) -> Result<WandbApi, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()?;
        Ok(WandbApi {
            client,
            base_url: config.base_url.clone(),
            api_key: config.api_key.clone(),
            project: config.project.clone(),
            entity: config.entity.clone(),
        })
    }

    /// Creates a run named as upstream names it, with upstream's config keys.
    pub async fn open_run(&self, identity: &RunIdentity) -> Result<OpenRun, ApiError> {
        let opened_at = unix_now();
        let id = new_run_id();
        let display_name = format!("validator-{}-{}", identity.uid, chrono::Local::now().format("%Y-%m-%d_%H-%M-%S"));
        // wandb stores config values wrapped as {"desc": null, "value": …}, like its SDK sends.
        let wrap = |value: Value| json!({"desc": null, "value": value});
        let config = json!({
            "uid": wrap(json!(identity.uid)),
            "hotkey": wrap(json!(identity.hotkey)),
            "run_name": wrap(json!(display_name)),
            "version": wrap(json!(identity.version)),
            "type": wrap(json!("validator")),
        });
        let body = json!({
            "query": UPSERT_BUCKET,
            "variables": {
                "name": id,
                "project": self.project,
                "entity": self.entity,
                "displayName": display_name,
                "config": config.to_string(),
            },
        });
        let url = self.base_url.join("graphql").map_err(|e| ApiError::Transient(format!("bad base URL: {e}")))?;
        let answer = self.post(url, body.to_string(), false).await?;
        let answer: Value = serde_json::from_str(&answer)
            .map_err(|e| ApiError::Transient(format!("UpsertBucket answered with something that is not JSON: {e}")))?;
        if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
            return Err(ApiError::Transient(format!("UpsertBucket failed: {errors}")));
        }
        let bucket = &answer["data"]["upsertBucket"]["bucket"];
        let name = bucket["name"].as_str().unwrap_or(&id);
        let project = bucket["project"]["name"].as_str().unwrap_or(&self.project);
        let entity = bucket["project"]["entity"]["name"].as_str().unwrap_or(&self.entity);
        if bucket.is_null() {
            return Err(ApiError::Transient(format!("UpsertBucket answered without a bucket: {answer}")));
        }
        let mut stream_url = self.base_url.clone();
        stream_url
            .path_segments_mut()
            .map_err(|()| ApiError::Transient("the base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(["files", entity, project, name, "file_stream"]);
        Ok(OpenRun { id: name.to_string(), display_name, opened_at, rows: 0, stream_url })
    }

    /// Appends `log` as the run's next history row (and as its summary). The offset makes a
    /// retry of the same row idempotent.
    pub async fn append_row(&self, run: &OpenRun, log: &StepLog) -> Result<(), ApiError> {
        let row = history_row(log, run.opened_at)
            .map_err(|e| ApiError::Rejected(format!("the record cannot be written as JSON: {e}")))?;
        let body = json!({
            "files": {
                HISTORY_FILE: {"offset": run.rows, "content": [row]},
                SUMMARY_FILE: {"offset": 0, "content": [row]},
            }
        });
        self.post(run.stream_url.clone(), body.to_string(), true).await.map(drop)
    }

    /// Tells wandb the run is alive between steps.
    pub async fn heartbeat(&self, run: &OpenRun) -> Result<(), ApiError> {
        let body = json!({"complete": false, "failed": false});
        self.post(run.stream_url.clone(), body.to_string(), true).await.map(drop)
    }

    /// Marks the run finished (exit code 0).
    pub async fn finish(&self, run: &OpenRun) -> Result<(), ApiError> {
        let body = json!({"complete": true, "exitcode": 0});
        self.post(run.stream_url.clone(), body.to_string(), true).await.map(drop)
    }

    async fn post(&self, url: Url, body: String, file_stream: bool) -> Result<String, ApiError> {
        let what = if file_stream { "file_stream" } else { "graphql" };
        let response = self
            .client
            .post(url)
            .basic_auth("api", Some(&self.api_key))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, concat!("sn37-validator-wandb/", env!("CARGO_PKG_VERSION")))
            .body(body)
            .send()
            .await
            .map_err(|e| ApiError::Transient(format!("{what} request failed: {}", error_chain(&e))))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::Transient(format!("{what} answer could not be read: {}", error_chain(&e))))?;
        if status.is_success() {
            return Ok(text);
        }
        let detail = format!("{what} answered {status}: {}", text.chars().take(300).collect::<String>());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ApiError::Unauthorized(detail),
            StatusCode::NOT_FOUND if file_stream => ApiError::RunGone(detail),
            StatusCode::BAD_REQUEST
            | StatusCode::CONFLICT
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNPROCESSABLE_ENTITY
                if file_stream =>
            {
                ApiError::Rejected(detail)
            }
            _ => ApiError::Transient(detail),
        })
    }
}

/// The history line for `log`: its fields plus wandb's `_runtime` and `_timestamp` (the step's
/// own time, so a row sent late still lands where it happened), as Python JSON.
pub fn history_row(log: &StepLog, opened_at: f64) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Row<'a> {
        #[serde(flatten)]
        log: &'a StepLog,
        #[serde(rename = "_runtime", with = "float")]
        runtime: f64,
        #[serde(rename = "_timestamp", with = "float")]
        timestamp: f64,
    }
    let runtime = (log.time - opened_at).max(0.0);
    pyjson::to_string(&Row { log, runtime, timestamp: log.time })
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Eight lowercase letters and digits, like the ids wandb's SDK generates.
fn new_run_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut hasher = Sha256::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    hasher.finalize()[..8].iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn run_ids_look_like_wandb_ids_and_differ() {
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn a_history_row_carries_wandb_bookkeeping_and_python_infinity() {
        let log =
            StepLog { step: 7, time: 1000.5, uid_data: BTreeMap::from([(3, f64::INFINITY)]), ..Default::default() };
        let row = history_row(&log, 1000.0).unwrap();
        assert!(row.starts_with(r#"{"_step": 7, "time": 1000.5, "#), "{row}");
        assert!(row.contains(r#""uid_data": {"3": Infinity}"#), "{row}");
        assert!(row.ends_with(r#""_runtime": 0.5, "_timestamp": 1000.5}"#), "{row}");
        // A record older than its run has no negative runtime.
        assert!(history_row(&log, 2000.0).unwrap().contains(r#""_runtime": 0.0"#));
    }
}
