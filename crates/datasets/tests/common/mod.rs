//! Loopback servers speaking the real routes: a datasets-server (`/size`, `/rows`) and wandb's
//! GraphQL endpoint, with switchable failure modes (429s, hangs, outages) and a request log.
#![allow(dead_code)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the server misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer this many data requests with 429 first.
    pub rate_limit_first: usize,
    /// The `Retry-After` header of those 429s.
    pub retry_after: Option<String>,
    /// Never answer data requests.
    pub hang: bool,
    /// Answer every request with this status.
    pub outage: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub route: String,
    pub params: Value,
    pub at: Instant,
    pub status: u16,
}

#[derive(Clone)]
pub struct Shared {
    pub data: Arc<Value>,
    pub faults: Arc<Mutex<Faults>>,
    pub log: Arc<Mutex<Vec<Logged>>>,
    pub auth: Arc<Mutex<Vec<String>>>,
}

pub struct Loopback {
    pub base: String,
    pub shared: Shared,
}

impl Loopback {
    pub fn set_faults(&self, f: Faults) {
        *self.shared.faults.lock().unwrap() = f;
    }
    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }
    pub fn requests(&self, route: &str) -> Vec<Logged> {
        self.log().into_iter().filter(|l| l.route == route).collect()
    }
}

/// Applies the faults; `Some` is the answer to send instead of the real one.
async fn fault(shared: &Shared, route: &str, params: &Value) -> Option<Response> {
    let f = shared.faults.lock().unwrap().clone();
    let record = |status: u16| {
        shared.log.lock().unwrap().push(Logged {
            route: route.to_string(),
            params: params.clone(),
            at: Instant::now(),
            status,
        })
    };
    if let Some(code) = f.outage {
        record(code);
        return Some((StatusCode::from_u16(code).unwrap(), "unavailable").into_response());
    }
    if f.hang {
        record(0);
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if f.rate_limit_first > 0 {
        shared.faults.lock().unwrap().rate_limit_first -= 1;
        record(429);
        let mut headers = HeaderMap::new();
        if let Some(ra) = &f.retry_after {
            headers.insert("retry-after", HeaderValue::from_str(ra).unwrap());
        }
        return Some((StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response());
    }
    record(200);
    None
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn shared(data: Value) -> Shared {
    Shared { data: Arc::new(data), faults: Arc::default(), log: Arc::default(), auth: Arc::default() }
}

// ---- datasets-server ---------------------------------------------------------------------

/// Serves `{"<dataset>": {"splits": [...], "rows": {"<config>": [row, ...]}}}`.
pub async fn datasets_server(datasets: Value) -> Loopback {
    let shared = shared(datasets);
    let router = Router::new().route("/size", get(size)).route("/rows", get(rows)).with_state(shared.clone());
    Loopback { base: serve(router).await, shared }
}

async fn size(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let params = json!(q);
    if let Some(r) = fault(&s, "size", &params).await {
        return r;
    }
    let Some(ds) = s.data.get(q.get("dataset").map(String::as_str).unwrap_or("")) else {
        return (StatusCode::NOT_FOUND, "no such dataset").into_response();
    };
    Json(json!({"size": {"splits": ds["splits"]}, "pending": [], "failed": [], "partial": false})).into_response()
}

async fn rows(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let params = json!(q);
    if let Some(r) = fault(&s, "rows", &params).await {
        return r;
    }
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let Some(all) = s.data.pointer(&format!("/{}/rows/{}", get("dataset").replace('/', "~1"), get("config"))) else {
        return (StatusCode::NOT_FOUND, "no such config").into_response();
    };
    let all = all.as_array().unwrap();
    let offset: usize = get("offset").parse().unwrap();
    let limit: usize = get("limit").parse().unwrap();
    let page: Vec<Value> = all
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(i, r)| json!({"row_idx": i, "row": r, "truncated_cells": []}))
        .collect();
    Json(json!({"features": [], "rows": page, "num_rows_total": all.len(), "num_rows_per_page": 100, "partial": false}))
        .into_response()
}

// ---- wandb GraphQL -------------------------------------------------------------------------

/// Serves `{"runs": [node, ...], "history": {"<run name>": [row, ...]}}` in wandb's answer
/// format: runs paged by cursor, history rows as JSON strings for `minStep <= _step < maxStep`.
pub async fn wandb_server(data: Value) -> Loopback {
    let shared = shared(data);
    let router = Router::new().route("/graphql", post(graphql)).with_state(shared.clone());
    Loopback { base: serve(router).await, shared }
}

async fn graphql(State(s): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(a) = headers.get("authorization") {
        s.auth.lock().unwrap().push(a.to_str().unwrap().to_string());
    }
    let query = body["query"].as_str().unwrap_or("");
    let vars = body["variables"].clone();
    let route = if query.contains("HistoryPage") { "history" } else { "runs" };
    if let Some(r) = fault(&s, route, &vars).await {
        return r;
    }
    if route == "runs" {
        let runs = s.data["runs"].as_array().unwrap();
        let per_page = vars["perPage"].as_u64().unwrap_or(50) as usize;
        let start: usize = vars["cursor"].as_str().map_or(0, |c| c.parse().unwrap());
        let end = (start + per_page).min(runs.len());
        let edges: Vec<Value> = (start..end).map(|i| json!({"node": runs[i], "cursor": i.to_string()})).collect();
        return Json(json!({"data": {"project": {"runCount": runs.len(), "runs": {
            "edges": edges,
            "pageInfo": {"endCursor": if end > start { Value::from(end.to_string()) } else { Value::Null },
                         "hasNextPage": end < runs.len()}
        }}}}))
        .into_response();
    }
    let run = vars["run"].as_str().unwrap();
    let (min, max) = (vars["minStep"].as_i64().unwrap(), vars["maxStep"].as_i64().unwrap());
    let rows: Vec<Value> = s.data["history"][run]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["_step"].as_i64().is_none_or(|st| st >= min && st < max))
                .map(|r| Value::String(r.to_string()))
                .collect()
        })
        .unwrap_or_default();
    Json(json!({"data": {"project": {"run": {"history": rows}}}})).into_response()
}

/// A policy fit for tests: short back-offs, deadlines loose enough for a loaded CI machine.
pub fn fast_policy(max_attempts: u32) -> datasets::http::HttpPolicy {
    datasets::http::HttpPolicy {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        max_attempts,
        initial_retry_delay: Duration::from_millis(10),
        max_retry_delay: Duration::from_secs(2),
    }
}

/// [`fast_policy`] with a short deadline, for the tests where the server hangs.
pub fn hang_policy(max_attempts: u32) -> datasets::http::HttpPolicy {
    datasets::http::HttpPolicy { request_timeout: Duration::from_millis(300), ..fast_policy(max_attempts) }
}
