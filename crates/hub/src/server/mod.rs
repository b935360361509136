//! A small Hugging Face-compatible file server: the local hub of `localnet` and of the tests.
//!
//! Serves a [`LocalHub`] folder over the routes our client (and `huggingface_hub`) use:
//!
//! - `GET /api/models/{ns}/{name}/revision/{rev}[?blobs=true]`: `sha` and `siblings` (sizes and
//!   LFS info with `blobs=true`);
//! - `GET /api/models/{ns}/{name}/tree/{rev}[/{path}][?recursive=true]`: entries with `oid`,
//!   `size`, `lfs`, paginated with `Link: <…>; rel="next"`;
//! - `GET|HEAD /{ns}/{name}/resolve/{rev}/{path}`: the file, with `ETag`, `X-Repo-Commit`,
//!   `Content-Length`, `Accept-Ranges`, and `Range` → 206 / 416;
//!
//! with HF's `X-Error-Code` on 404s, an optional required token, injected [`Fault`]s and
//! [`ServeStats`] (bytes served per file, every request). Start it in-process with
//! [`HubServer::start`] (ephemeral port, a tokio task) or run it for good with
//! [`HubServer::serve`].

// Handlers return a ready `Response` as their error: boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod faults;
mod repos;

pub use faults::{Fault, FaultAction, Faults, RequestRecord, Route, ServeStats};
pub use repos::{Commit, CommitFile, LocalHub, RepoError};

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Files at least this large, and every safetensors file, are presented as LFS files.
const LFS_THRESHOLD: u64 = 10 << 20;
const CHUNK: usize = 64 << 10;

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Every request must carry `Authorization: Bearer <token>` (answers 401 otherwise).
    pub require_token: Option<String>,
    /// Tree listing page size.
    pub page_size: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { require_token: None, page_size: 1000 }
    }
}

struct Inner {
    hub: LocalHub,
    options: ServerOptions,
    faults: Faults,
    stats: ServeStats,
}

/// The server, before it runs.
pub struct HubServer {
    inner: Arc<Inner>,
}

/// A server running in a tokio task.
pub struct RunningHub {
    pub addr: SocketAddr,
    faults: Faults,
    stats: ServeStats,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningHub {
    /// `http://127.0.0.1:<port>`, for `HF_ENDPOINT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
    pub fn stats(&self) -> &ServeStats {
        &self.stats
    }
    /// Stops accepting, lets open responses finish, waits for the task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl HubServer {
    pub fn new(hub: LocalHub, options: ServerOptions) -> HubServer {
        HubServer { inner: Arc::new(Inner { hub, options, faults: Faults::default(), stats: ServeStats::default() }) }
    }

    pub fn faults(&self) -> Faults {
        self.inner.faults.clone()
    }

    pub fn stats(&self) -> ServeStats {
        self.inner.stats.clone()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/models/{ns}/{name}/revision/{rev}", get(info))
            .route("/api/models/{ns}/{name}/tree/{rev}", get(tree_root))
            .route("/api/models/{ns}/{name}/tree/{rev}/{*path}", get(tree_sub))
            .route("/{ns}/{name}/resolve/{rev}/{*path}", get(resolve).head(resolve))
            .with_state(self.inner.clone())
    }

    /// Binds `addr` (port 0: an ephemeral port) and serves in a tokio task.
    pub async fn start(self, addr: SocketAddr) -> std::io::Result<RunningHub> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (faults, stats) = (self.faults(), self.stats());
        let task = tokio::spawn(self.serve(listener, async {
            let _ = rx.await;
        }));
        Ok(RunningHub { addr, faults, stats, shutdown: Some(tx), task })
    }

    /// Serves until `shutdown` completes (the long-running form, for `localnet`).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await
    }
}

fn error(status: StatusCode, code: Option<&str>, message: &str) -> Response {
    let mut resp = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    if let Some(code) = code {
        resp.headers_mut().insert("x-error-code", HeaderValue::from_str(code).expect("ascii"));
    }
    resp
}

/// Checks the token, applies request-level faults; `Err` is the response to send instead.
async fn admit(
    inner: &Inner,
    headers: &HeaderMap,
    route: Route,
    path: Option<&str>,
) -> Result<Vec<FaultAction>, Response> {
    if let Some(token) = &inner.options.require_token {
        let expected = format!("Bearer {token}");
        if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                Some("RepoNotFound"),
                "Invalid credentials in Authorization header",
            ));
        }
    }
    let actions = inner.faults.fire(route, path);
    for action in &actions {
        match action {
            FaultAction::Delay(d) => tokio::time::sleep(*d).await,
            FaultAction::Status { status, retry_after } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut resp = error(status, None, "injected fault");
                if let Some(after) = retry_after {
                    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_str(after).expect("ascii"));
                }
                return Err(resp);
            }
            _ => {}
        }
    }
    Ok(actions)
}

fn record(inner: &Inner, method: &Method, path: String, headers: &HeaderMap, resp: &Response) {
    inner.stats.record(RequestRecord {
        method: method.to_string(),
        path,
        range: headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string),
        status: resp.status().as_u16(),
        authorized: headers.contains_key(header::AUTHORIZATION),
    });
}

/// The commit for a request, or the HF-style 404.
fn lookup(inner: &Inner, repo: &str, rev: &str) -> Result<Commit, Response> {
    if !inner.hub.has_repo(repo) {
        return Err(error(StatusCode::NOT_FOUND, Some("RepoNotFound"), &format!("Repository {repo} not found")));
    }
    match inner.hub.resolve(repo, rev) {
        Ok(Some(commit)) => Ok(commit),
        Ok(None) => Err(error(StatusCode::NOT_FOUND, Some("RevisionNotFound"), &format!("Invalid rev id: {rev}"))),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string())),
    }
}

/// The listing as served: real files, with the listing faults applied.
fn listed_files(commit: &Commit, actions: &[FaultAction]) -> Vec<CommitFile> {
    let mut files = commit.files.clone();
    for action in actions {
        match action {
            FaultAction::ListSize { path, size } => {
                files.iter_mut().filter(|f| f.path == *path).for_each(|f| f.size = *size);
            }
            FaultAction::ListExtra { path, size } => {
                files.push(CommitFile { path: path.clone(), size: *size, sha256: "0".repeat(64) })
            }
            FaultAction::ListSha256 { path, sha256 } => {
                files.iter_mut().filter(|f| f.path == *path).for_each(|f| f.sha256 = sha256.clone());
            }
            _ => {}
        }
    }
    files
}

fn is_lfs(file: &CommitFile) -> bool {
    file.size >= LFS_THRESHOLD || file.path.ends_with(".safetensors")
}

fn lfs_json(file: &CommitFile, key: &str) -> serde_json::Value {
    serde_json::json!({ key: file.sha256, "size": file.size, "pointerSize": 134 })
}

async fn info(
    State(inner): State<Arc<Inner>>,
    UrlPath((ns, name, rev)): UrlPath<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let repo = format!("{ns}/{name}");
    let resp = async {
        let actions = admit(&inner, &headers, Route::Info, None).await?;
        let commit = lookup(&inner, &repo, &rev)?;
        let blobs = query.get("blobs").is_some_and(|v| v == "true" || v == "1")
            && !actions.contains(&FaultAction::InfoWithoutSizes);
        let siblings: Vec<_> = listed_files(&commit, &actions)
            .iter()
            .map(|f| {
                let mut s = serde_json::json!({ "rfilename": f.path });
                if blobs {
                    s["size"] = f.size.into();
                    s["blobId"] = f.sha256[..40].into();
                    if is_lfs(f) {
                        s["lfs"] = lfs_json(f, "sha256");
                    }
                }
                s
            })
            .collect();
        Ok::<_, Response>(
            axum::Json(serde_json::json!({
                "_id": commit.sha, "id": repo, "modelId": repo, "sha": commit.sha,
                "private": false, "disabled": false, "gated": false, "siblings": siblings,
            }))
            .into_response(),
        )
    }
    .await
    .unwrap_or_else(|r| r);
    record(&inner, &Method::GET, format!("/api/models/{repo}/revision/{rev}"), &headers, &resp);
    resp
}

async fn tree_root(
    state: State<Arc<Inner>>,
    UrlPath((ns, name, rev)): UrlPath<(String, String, String)>,
    query: Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    tree(state, ns, name, rev, String::new(), query, headers).await
}

async fn tree_sub(
    state: State<Arc<Inner>>,
    UrlPath((ns, name, rev, path)): UrlPath<(String, String, String, String)>,
    query: Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    tree(state, ns, name, rev, path, query, headers).await
}

async fn tree(
    State(inner): State<Arc<Inner>>,
    ns: String,
    name: String,
    rev: String,
    dir: String,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let repo = format!("{ns}/{name}");
    let resp = async {
        let actions = admit(&inner, &headers, Route::Tree, None).await?;
        let commit = lookup(&inner, &repo, &rev)?;
        let recursive = query.get("recursive").is_some_and(|v| v == "true" || v == "1");
        let prefix = if dir.is_empty() { String::new() } else { format!("{}/", dir.trim_end_matches('/')) };
        let mut entries: Vec<serde_json::Value> = Vec::new();
        let mut dirs = std::collections::BTreeSet::new();
        for f in listed_files(&commit, &actions) {
            let Some(rest) = f.path.strip_prefix(&prefix) else { continue };
            // Every folder on the way is an entry of its own, as on the Hub.
            let parts: Vec<&str> = rest.split('/').collect();
            let depth = if recursive { parts.len() - 1 } else { parts.len().min(2) - 1 };
            for i in 0..depth {
                dirs.insert(format!("{prefix}{}", parts[..=i].join("/")));
            }
            if recursive || parts.len() == 1 {
                let mut e =
                    serde_json::json!({ "type": "file", "oid": f.sha256[..40], "size": f.size, "path": f.path });
                if is_lfs(&f) {
                    e["lfs"] = lfs_json(&f, "oid");
                }
                entries.push(e);
            }
        }
        entries.extend(
            dirs.into_iter()
                .map(|d| serde_json::json!({ "type": "directory", "oid": "0".repeat(40), "size": 0, "path": d })),
        );
        entries.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        let start: usize = query.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
        let page = inner.options.page_size.max(1);
        let end = (start + page).min(entries.len());
        let mut resp = axum::Json(entries.get(start..end).unwrap_or(&[]).to_vec()).into_response();
        if end < entries.len() {
            let sub = if dir.is_empty() { String::new() } else { format!("/{dir}") };
            let next = format!("</api/models/{repo}/tree/{rev}{sub}?recursive={recursive}&cursor={end}>; rel=\"next\"");
            resp.headers_mut().insert(header::LINK, HeaderValue::from_str(&next).expect("ascii"));
        }
        Ok::<_, Response>(resp)
    }
    .await
    .unwrap_or_else(|r| r);
    record(&inner, &Method::GET, format!("/api/models/{repo}/tree/{rev}/{dir}"), &headers, &resp);
    resp
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`: `Ok(None)` = whole file (no or
/// unsupported header), `Err(())` = not satisfiable.
fn parse_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (a, b) => (a.parse().map_err(|_| ())?, b.parse::<u64>().map_err(|_| ())?.min(size.saturating_sub(1))),
    };
    if start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn resolve(
    State(inner): State<Arc<Inner>>,
    method: Method,
    UrlPath((ns, name, rev, path)): UrlPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let repo = format!("{ns}/{name}");
    let resp = async {
        let actions = admit(&inner, &headers, Route::Resolve, Some(&path)).await?;
        let commit = lookup(&inner, &repo, &rev)?;
        let file = commit.files.iter().find(|f| f.path == path).cloned().ok_or_else(|| {
            error(StatusCode::NOT_FOUND, Some("EntryNotFound"), &format!("{path} does not exist at {rev}"))
        })?;
        let range = parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), file.size);
        let mut builder = Response::builder()
            .header(header::ETAG, format!("\"{}\"", file.sha256))
            .header("x-repo-commit", &commit.sha)
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CONTENT_TYPE, "application/octet-stream");
        if is_lfs(&file) {
            builder = builder
                .header("x-linked-etag", format!("\"{}\"", file.sha256))
                .header("x-linked-size", file.size.to_string());
        }
        let (status, start, len) = match range {
            Err(()) => {
                let resp = builder
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{}", file.size))
                    .body(Body::empty())
                    .expect("valid response");
                return Err(resp);
            }
            Ok(None) => (StatusCode::OK, 0, file.size),
            Ok(Some((start, end))) => {
                builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{}", file.size));
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
        };
        builder = builder.status(status).header(header::CONTENT_LENGTH, len.to_string());
        if method == Method::HEAD {
            return Ok(builder.body(Body::empty()).expect("valid response"));
        }
        let mut cut = None;
        let mut rate = None;
        for action in &actions {
            match action {
                FaultAction::CutAfter(n) => cut = Some(*n),
                FaultAction::Throttle { bytes_per_sec } => rate = Some((*bytes_per_sec).max(1)),
                _ => {}
            }
        }
        let body = stream_blob(inner.clone(), format!("{repo}/{path}"), file.sha256.clone(), start, len, cut, rate);
        Ok::<_, Response>(builder.body(body).expect("valid response"))
    }
    .await
    .unwrap_or_else(|r| r);
    record(&inner, &method, format!("/{repo}/resolve/{rev}/{path}"), &headers, &resp);
    resp
}

struct BodyState {
    file: Option<tokio::fs::File>,
    inner: Arc<Inner>,
    key: String,
    sha256: String,
    start: u64,
    left: u64,
    sent: u64,
    cut: Option<u64>,
    rate: Option<u64>,
}

/// The body of a file from `start`, `len` bytes, counting what is sent; cut and throttled as
/// the faults say.
fn stream_blob(
    inner: Arc<Inner>,
    key: String,
    sha256: String,
    start: u64,
    len: u64,
    cut: Option<u64>,
    rate: Option<u64>,
) -> Body {
    let state = BodyState { file: None, inner, key, sha256, start, left: len, sent: 0, cut, rate };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.left == 0 {
            return None;
        }
        if s.cut.is_some_and(|c| s.sent >= c) {
            // Give the client time to read what was sent: a dropped connection may discard
            // bytes still unread in its socket, and the tests count on the cut being at `c`.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let err = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected cut");
            s.left = 0;
            return Some((Err(err), s));
        }
        if s.file.is_none() {
            let opened = async {
                let mut f = tokio::fs::File::open(s.inner.hub.blob_path(&s.sha256)).await?;
                tokio::io::AsyncSeekExt::seek(&mut f, std::io::SeekFrom::Start(s.start)).await?;
                Ok::<_, std::io::Error>(f)
            }
            .await;
            match opened {
                Ok(f) => s.file = Some(f),
                Err(e) => {
                    s.left = 0;
                    return Some((Err(e), s));
                }
            }
        }
        let mut want = (s.left as usize).min(CHUNK);
        if let Some(c) = s.cut {
            want = want.min((c - s.sent) as usize).max(1);
        }
        if let Some(rate) = s.rate {
            want = want.min((rate / 10).max(1) as usize);
            tokio::time::sleep(Duration::from_secs_f64(want as f64 / rate as f64)).await;
        }
        let mut buf = vec![0u8; want];
        let file = s.file.as_mut().expect("opened above");
        match file.read(&mut buf).await {
            Ok(0) => {
                s.left = 0;
                Some((Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "blob shorter than listed")), s))
            }
            Ok(n) => {
                buf.truncate(n);
                s.left -= n as u64;
                s.sent += n as u64;
                s.inner.stats.add_bytes(&s.key, n as u64);
                Some((Ok(Bytes::from(buf)), s))
            }
            Err(e) => {
                s.left = 0;
                Some((Err(e), s))
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=2-"), 10), Ok(Some((2, 9))));
        assert_eq!(parse_range(Some("bytes=2-4"), 10), Ok(Some((2, 4))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=2-100"), 10), Ok(Some((2, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=0-0,2-3"), 10), Ok(None));
    }
}
