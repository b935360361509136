//! The Hugging Face HTTP client: repository listings with sizes, and small files, over the real
//! routes. The same client talks to huggingface.co and to our [`crate::server`], which speaks
//! the same routes, so there is one client type and no trait (see the crate docs).
//!
//! Every request has a deadline (connect, idle read and a total per request); 429 and 5xx are
//! retried per [`RetryPolicy`], honouring `Retry-After`. Large files go through
//! [`crate::transfer`], which adds resuming and a per-file budget.

use crate::retry::{is_retryable_status, parse_retry_after, RetryPolicy};
use indicatif::{MultiProgress, ProgressDrawTarget};
use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Cap on one listing page (a repository with many thousands of files is still far below it).
const MAX_LISTING_BYTES: u64 = 64 << 20;

/// How the client reaches the hub and how patient it is.
#[derive(Debug, Clone)]
pub struct HubClientConfig {
    /// `https://huggingface.co`, a mirror, or our local hub (`HF_ENDPOINT`).
    pub endpoint: String,
    /// Sent as `Authorization: Bearer` (`HF_TOKEN`, else upstream's `HF_ACCESS_TOKEN`).
    pub token: Option<String>,
    pub connect_timeout: Duration,
    /// Longest silence while reading a response before the attempt fails.
    pub read_timeout: Duration,
    /// Total deadline of one metadata request (listing, config file).
    pub api_timeout: Duration,
    /// A file download may take `file_deadline_base + size / min_bytes_per_sec`, all attempts
    /// and waits included.
    pub file_deadline_base: Duration,
    pub min_bytes_per_sec: u64,
    pub retry: RetryPolicy,
    /// Files downloaded at the same time, over all models.
    pub max_concurrent_downloads: usize,
    /// Draw progress bars (default: only when stderr is a terminal).
    pub progress: bool,
}

impl HubClientConfig {
    /// Defaults for `endpoint`, no token.
    pub fn new(endpoint: impl Into<String>) -> Self {
        HubClientConfig {
            endpoint: endpoint.into(),
            token: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            api_timeout: Duration::from_secs(30),
            file_deadline_base: Duration::from_secs(120),
            min_bytes_per_sec: 1 << 20,
            retry: RetryPolicy::default(),
            max_concurrent_downloads: 4,
            progress: std::io::stderr().is_terminal(),
        }
    }

    /// `HF_ENDPOINT` (default huggingface.co) and `HF_TOKEN` / `HF_ACCESS_TOKEN`.
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut cfg = Self::new(env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()));
        cfg.token = env("HF_TOKEN").or_else(|| env("HF_ACCESS_TOKEN"));
        cfg
    }

    /// The time one file of `size` bytes may take, attempts and waits included.
    pub fn file_budget(&self, size: u64) -> Duration {
        self.file_deadline_base + Duration::from_secs(size / self.min_bytes_per_sec.max(1))
    }
}

/// What went wrong talking to the hub. [`HubError::is_transient`] separates the hub's bad
/// minutes (try again later) from answers about the repository (the miner's doing).
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("repository {repo} was not found on the hub (or is private or gated)")]
    RepoNotFound { repo: String },
    #[error("revision {revision} of {repo} was not found on the hub")]
    RevisionNotFound { repo: String, revision: String },
    #[error("{repo}@{revision} has no file {path}")]
    FileNotFound { repo: String, revision: String, path: String },
    #[error("{url}: HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("{url}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted { url: String, attempts: u32, last: String },
    #[error("{url}: the hub asked to retry after {asked:?}, longer than we wait")]
    RetryAfterTooLong { url: String, asked: Duration },
    #[error("{url}: connection failed: {message}")]
    Transport { url: String, message: String },
    #[error("{url}: not done within its {budget:?} budget")]
    Deadline { url: String, budget: Duration },
    #[error("{url}: unexpected response: {reason}")]
    BadResponse { url: String, reason: String },
    #[error("{path}: the listing says {listed} bytes but the hub sent {actual}")]
    SizeMismatch { path: String, listed: u64, actual: String },
    #[error("{path}: larger than the {limit} bytes allowed for it")]
    TooLarge { path: String, limit: u64 },
    #[error("{path}: the downloaded bytes have sha256 {actual}, the hub announced {expected}")]
    ContentMismatch { path: String, expected: String, actual: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl HubError {
    /// A failure of the hub, the network or our disk, rather than a fact about the repository.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HubError::RetriesExhausted { .. }
                | HubError::Transport { .. }
                | HubError::RetryAfterTooLong { .. }
                | HubError::Deadline { .. }
                | HubError::Io { .. }
                | HubError::ContentMismatch { .. }
        ) || matches!(self, HubError::Status { status, .. } if is_retryable_status(*status))
    }
}

/// One file of a repository at a revision, as the hub lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub path: String,
    /// `None` when the hub did not say (upstream fails on it, and so do we).
    pub size: Option<u64>,
    /// The sha256 (hex) of an LFS file's content, which the hub announces for weights.
    pub lfs_sha256: Option<String>,
}

/// A repository at a revision: the commit it resolves to and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    pub sha: String,
    pub files: Vec<RepoFile>,
}

#[derive(Deserialize)]
struct InfoJson {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<SiblingJson>,
}

#[derive(Deserialize)]
struct SiblingJson {
    rfilename: String,
    size: Option<u64>,
    lfs: Option<LfsJson>,
}

#[derive(Deserialize)]
struct LfsJson {
    #[serde(alias = "oid")]
    sha256: Option<String>,
}

#[derive(Deserialize)]
struct TreeEntryJson {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    size: Option<u64>,
    lfs: Option<LfsJson>,
}

/// The HTTP client (cheap to clone; clones share connections, the download limit and the
/// progress display).
#[derive(Clone)]
pub struct HubClient {
    pub(crate) http: reqwest::Client,
    pub(crate) cfg: Arc<HubClientConfig>,
    endpoint: Url,
    pub(crate) downloads: Arc<Semaphore>,
    pub(crate) progress: MultiProgress,
}

impl HubClient {
    pub fn new(cfg: HubClientConfig) -> Result<Self, HubError> {
        let bad = |reason: String| HubError::BadResponse { url: cfg.endpoint.clone(), reason };
        let endpoint =
            Url::parse(cfg.endpoint.trim_end_matches('/')).map_err(|e| bad(format!("endpoint is not a URL: {e}")))?;
        if endpoint.cannot_be_a_base() {
            return Err(bad("endpoint cannot be a base URL".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .user_agent(concat!("sn37-validator-hub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(format!("cannot build the HTTP client: {e}")))?;
        let progress = MultiProgress::with_draw_target(if cfg.progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Ok(HubClient {
            http,
            downloads: Arc::new(Semaphore::new(cfg.max_concurrent_downloads.max(1))),
            cfg: Arc::new(cfg),
            endpoint,
            progress,
        })
    }

    pub fn config(&self) -> &HubClientConfig {
        &self.cfg
    }

    /// `{endpoint}/{segments...}`, each segment percent-encoded (file paths keep their `/`).
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.endpoint.clone();
        {
            let mut path = url.path_segments_mut().expect("checked in new()");
            path.pop_if_empty();
            for segment in segments {
                path.extend(segment.split('/'));
            }
        }
        url
    }

    pub(crate) fn resolve_url(&self, repo: &str, revision: &str, path: &str) -> Url {
        self.url(&[repo, "resolve", revision, path])
    }

    pub(crate) fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        let req = self.http.request(method, url);
        match &self.cfg.token {
            Some(token) => req.header(AUTHORIZATION, format!("Bearer {token}")),
            None => req,
        }
    }

    /// Sends a request built by `build` until it gets a non-retryable answer, waiting between
    /// attempts as the policy and the server's `Retry-After` say.
    pub(crate) async fn send_retrying(
        &self,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Response, HubError> {
        let policy = &self.cfg.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (last, retry_after) = match build().send().await {
                Ok(resp) if !is_retryable_status(resp.status().as_u16()) => return Ok(resp),
                Ok(resp) => {
                    let hint = retry_after_of(resp.headers());
                    (format!("HTTP {}", resp.status()), hint)
                }
                Err(e) => (describe(&e), None),
            };
            if attempt >= policy.max_attempts.max(1) {
                return Err(HubError::RetriesExhausted { url: url.to_string(), attempts: attempt, last });
            }
            let wait = policy
                .wait_before_retry(attempt, retry_after)
                .map_err(|asked| HubError::RetryAfterTooLong { url: url.to_string(), asked })?;
            tracing::debug!(%url, attempt, ?wait, %last, "hub request failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Reads a metadata response, bounded in size, mapping HF's error codes.
    async fn get_json_bytes(&self, url: Url, repo: &str, revision: &str) -> Result<(Vec<u8>, HeaderMap), HubError> {
        let timeout = self.cfg.api_timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp =
                self.send_retrying(&url, || self.request(reqwest::Method::GET, url.clone()).timeout(timeout)).await?;
            let resp = check_status(resp, repo, revision, None).await?;
            let headers = resp.headers().clone();
            match read_limited(resp, &url, MAX_LISTING_BYTES).await {
                Ok(body) => return Ok((body, headers)),
                // A body cut short is as transient as a failed connect: same bounded retries.
                Err(HubError::Transport { .. }) if attempt < self.cfg.retry.max_attempts => {
                    tokio::time::sleep(self.cfg.retry.backoff(attempt)).await
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `GET /api/models/{repo}/revision/{rev}?blobs=true`: the commit a revision resolves to and
    /// every file with its size (upstream's `model_info(files_metadata=True)`).
    pub async fn model_info(&self, repo: &str, revision: &str) -> Result<RepoInfo, HubError> {
        let mut url = self.url(&["api", "models", repo, "revision", revision]);
        url.query_pairs_mut().append_pair("blobs", "true");
        let (body, _) = self.get_json_bytes(url.clone(), repo, revision).await?;
        let info: InfoJson = serde_json::from_slice(&body)
            .map_err(|e| HubError::BadResponse { url: url.to_string(), reason: format!("model info: {e}") })?;
        let sha = info
            .sha
            .ok_or_else(|| HubError::BadResponse { url: url.to_string(), reason: "model info has no sha".into() })?;
        let files = info
            .siblings
            .into_iter()
            .map(|s| RepoFile { path: s.rfilename, size: s.size, lfs_sha256: s.lfs.and_then(|l| l.sha256) })
            .collect();
        Ok(RepoInfo { sha, files })
    }

    /// `GET /api/models/{repo}/tree/{rev}?recursive=true`, following `Link: rel="next"` pages:
    /// every file (directories left out) with its size.
    pub async fn list_tree(&self, repo: &str, revision: &str) -> Result<Vec<RepoFile>, HubError> {
        let mut url = self.url(&["api", "models", repo, "tree", revision]);
        url.query_pairs_mut().append_pair("recursive", "true");
        let mut files = Vec::new();
        for _page in 0..10_000 {
            let (body, headers) = self.get_json_bytes(url.clone(), repo, revision).await?;
            let entries: Vec<TreeEntryJson> = serde_json::from_slice(&body)
                .map_err(|e| HubError::BadResponse { url: url.to_string(), reason: format!("tree listing: {e}") })?;
            files.extend(entries.into_iter().filter(|e| e.kind != "directory").map(|e| RepoFile {
                path: e.path,
                size: e.size,
                lfs_sha256: e.lfs.and_then(|l| l.sha256),
            }));
            match next_link(&headers, &url) {
                Some(next) => url = next,
                None => return Ok(files),
            }
        }
        Err(HubError::BadResponse { url: url.to_string(), reason: "tree listing has more than 10000 pages".into() })
    }

    /// A small file (config, index) read into memory; refused when larger than `limit`.
    pub async fn fetch_small(&self, repo: &str, revision: &str, path: &str, limit: u64) -> Result<Vec<u8>, HubError> {
        let url = self.resolve_url(repo, revision, path);
        let timeout = self.cfg.api_timeout;
        let resp =
            self.send_retrying(&url, || self.request(reqwest::Method::GET, url.clone()).timeout(timeout)).await?;
        let resp = check_status(resp, repo, revision, Some(path)).await?;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(HubError::TooLarge { path: path.to_string(), limit });
        }
        read_limited(resp, &url, limit).await.map_err(|e| match e {
            HubError::TooLarge { limit, .. } => HubError::TooLarge { path: path.to_string(), limit },
            other => other,
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    describe(e)
}

pub(crate) fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    headers.get(RETRY_AFTER)?.to_str().ok().and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Maps a non-success answer to a [`HubError`] (HF's `X-Error-Code` first, then the status).
pub(crate) async fn check_status(
    resp: Response,
    repo: &str,
    revision: &str,
    path: Option<&str>,
) -> Result<Response, HubError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let code = resp.headers().get("x-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let url = resp.url().to_string();
    let (repo, revision) = (repo.to_string(), revision.to_string());
    let err = match (code.as_deref(), status, path) {
        (Some("RepoNotFound" | "GatedRepo"), ..) => HubError::RepoNotFound { repo },
        (Some("RevisionNotFound"), ..) => HubError::RevisionNotFound { repo, revision },
        (Some("EntryNotFound"), _, Some(p)) | (None, StatusCode::NOT_FOUND, Some(p)) => {
            HubError::FileNotFound { repo, revision, path: p.to_string() }
        }
        (_, StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED, None) => HubError::RepoNotFound { repo },
        _ => {
            let body = resp.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            HubError::Status { url, status: status.as_u16(), body }
        }
    };
    Err(err)
}

async fn read_limited(mut resp: Response, url: &Url, limit: u64) -> Result<Vec<u8>, HubError> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > limit {
                    return Err(HubError::TooLarge { path: url.path().to_string(), limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(HubError::Transport { url: url.to_string(), message: describe(&e) }),
        }
    }
}

/// The `rel="next"` target of a `Link` header, resolved against the current URL.
fn next_link(headers: &HeaderMap, current: &Url) -> Option<Url> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| current.join(target).ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_segments() {
        let c = HubClient::new(HubClientConfig::new("http://127.0.0.1:9/base/")).unwrap();
        let u = c.resolve_url("a/b", &"0".repeat(40), "dir/my file#1.json");
        assert_eq!(
            u.as_str(),
            format!("http://127.0.0.1:9/base/a/b/resolve/{}/dir/my%20file%231.json", "0".repeat(40))
        );
    }

    #[test]
    fn link_header() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::LINK, "</api/models/a/b/tree/main?cursor=2>; rel=\"next\"".parse().unwrap());
        let cur = Url::parse("http://h:1/api/models/a/b/tree/main?recursive=true").unwrap();
        assert_eq!(next_link(&h, &cur).unwrap().as_str(), "http://h:1/api/models/a/b/tree/main?cursor=2");
        assert!(next_link(&HeaderMap::new(), &cur).is_none());
    }

    #[test]
    fn environment_sets_endpoint_and_token() {
        // The only test of this binary that touches these variables.
        std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:7");
        std::env::set_var("HF_ACCESS_TOKEN", "upstream-name");
        std::env::remove_var("HF_TOKEN");
        let cfg = HubClientConfig::from_env();
        assert_eq!((cfg.endpoint.as_str(), cfg.token.as_deref()), ("http://127.0.0.1:7", Some("upstream-name")));
        std::env::set_var("HF_TOKEN", "hf_new");
        assert_eq!(HubClientConfig::from_env().token.as_deref(), Some("hf_new"));
        for k in ["HF_ENDPOINT", "HF_ACCESS_TOKEN", "HF_TOKEN"] {
            std::env::remove_var(k);
        }
        assert_eq!(HubClientConfig::from_env().endpoint, DEFAULT_ENDPOINT);
    }

    #[test]
    fn file_budget_scales_with_size() {
        let c = HubClientConfig::new(DEFAULT_ENDPOINT);
        assert_eq!(c.file_budget(0), c.file_deadline_base);
        assert_eq!(c.file_budget(10 << 30), c.file_deadline_base + Duration::from_secs(10 * 1024));
    }
}
