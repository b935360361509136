//! The uploader against a wandb stand-in on 127.0.0.1 that speaks the two routes it uses
//! (`POST /graphql` UpsertBucket, `POST /files/{entity}/{project}/{run}/file_stream`), checks
//! every request's path, Basic auth and body, and can fail, hang or refuse on demand.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wandb::{OriginalFormat, OriginalUidEntry, PerfStats, RetryPolicy, RunIdentity, StepLog, Uploader, WandbConfig};

const KEY: &str = "test-key-0123456789";
const PROJECT: &str = "finetuning";
const ENTITY: &str = "team";
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Healthy,
    Fail(u16),
    Hang,
}

#[derive(Debug)]
struct CreatedRun {
    id: String,
    display_name: String,
    config: Value,
}

/// What the stand-in saw and how it behaves.
#[derive(Debug)]
struct Wandb {
    mode: Mode,
    runs: Vec<CreatedRun>,
    /// run id → offset → history line.
    rows: BTreeMap<String, BTreeMap<u64, String>>,
    summaries: BTreeMap<String, String>,
    finished: Vec<String>,
    heartbeats: usize,
    failed_requests: usize,
    hanging_requests: usize,
    /// Rows with these `_step`s are answered 400.
    refuse_steps: HashSet<u64>,
    /// Runs answered 404 (deleted).
    gone_runs: HashSet<String>,
    /// Anything that does not match wandb's protocol.
    violations: Vec<String>,
}

type Shared = Arc<Mutex<Wandb>>;

impl Wandb {
    fn new() -> Shared {
        Arc::new(Mutex::new(Wandb {
            mode: Mode::Healthy,
            runs: Vec::new(),
            rows: BTreeMap::new(),
            summaries: BTreeMap::new(),
            finished: Vec::new(),
            heartbeats: 0,
            failed_requests: 0,
            hanging_requests: 0,
            refuse_steps: HashSet::new(),
            gone_runs: HashSet::new(),
            violations: Vec::new(),
        }))
    }
}

/// Checks auth and applies the failure mode; `Ok` means "answer normally".
async fn gate(state: &Shared, headers: &HeaderMap) -> Result<(), StatusCode> {
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("api:{KEY}")));
    let mode = {
        let mut s = state.lock().unwrap();
        if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
            s.violations.push(format!("content-type {:?}", headers.get("content-type")));
        }
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return Err(StatusCode::UNAUTHORIZED);
        }
        s.mode
    };
    match mode {
        Mode::Healthy => Ok(()),
        Mode::Fail(code) => {
            state.lock().unwrap().failed_requests += 1;
            Err(StatusCode::from_u16(code).unwrap())
        }
        Mode::Hang => {
            state.lock().unwrap().hanging_requests += 1;
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}

async fn graphql(State(state): State<Shared>, headers: HeaderMap, body: String) -> Result<Json<Value>, StatusCode> {
    gate(&state, &headers).await?;
    let mut s = state.lock().unwrap();
    let body: Value = serde_json::from_str(&body).map_err(|_| StatusCode::BAD_REQUEST)?;
    let query = body["query"].as_str().unwrap_or_default();
    let vars = &body["variables"];
    let mut problems = Vec::new();
    if !query.contains("mutation UpsertBucket") || !query.contains("upsertBucket(input: {") {
        problems.push(format!("not an UpsertBucket mutation: {query}"));
    }
    for (variable, input) in [
        ("name", "name"),
        ("project", "modelName"),
        ("entity", "entityName"),
        ("displayName", "displayName"),
        ("config", "config"),
    ] {
        if !query.contains(&format!("{input}: ${variable}")) {
            problems.push(format!("${variable} is not passed as {input}"));
        }
    }
    if vars["project"] != PROJECT || vars["entity"] != ENTITY {
        problems.push(format!("project/entity: {vars}"));
    }
    let id = vars["name"].as_str().unwrap_or_default().to_string();
    if id.len() != 8 || !id.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        problems.push(format!("run id {id:?}"));
    }
    let display_name = vars["displayName"].as_str().unwrap_or_default().to_string();
    if !is_upstream_run_name(&display_name) {
        problems.push(format!("display name {display_name:?}"));
    }
    let config: Value = vars["config"].as_str().and_then(|c| serde_json::from_str(c).ok()).unwrap_or(Value::Null);
    s.violations.extend(problems);
    s.runs.push(CreatedRun { id: id.clone(), display_name: display_name.clone(), config });
    Ok(Json(json!({"data": {"upsertBucket": {
        "bucket": {"id": format!("bucket-{id}"), "name": id, "displayName": display_name,
                   "project": {"name": PROJECT, "entity": {"name": ENTITY}}},
        "inserted": true}}})))
}

/// `validator-7-YYYY-mm-dd_HH-MM-SS`.
fn is_upstream_run_name(name: &str) -> bool {
    let Some(stamp) = name.strip_prefix("validator-7-") else { return false };
    let shape: String = stamp.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
    shape == "9999-99-99_99-99-99"
}

async fn file_stream(
    State(state): State<Shared>,
    Path((entity, project, run)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, StatusCode> {
    gate(&state, &headers).await?;
    let mut guard = state.lock().unwrap();
    let s = &mut *guard;
    if entity != ENTITY || project != PROJECT {
        s.violations.push(format!("stream path /files/{entity}/{project}/{run}"));
    }
    if !s.runs.iter().any(|r| r.id == run) {
        s.violations.push(format!("rows for a run never created: {run}"));
        return Err(StatusCode::NOT_FOUND);
    }
    if s.gone_runs.contains(&run) {
        return Err(StatusCode::NOT_FOUND);
    }
    let body: Value = serde_json::from_str(&body).map_err(|_| StatusCode::BAD_REQUEST)?;
    if body.get("complete") == Some(&json!(true)) {
        if body["exitcode"] != 0 {
            s.violations.push(format!("finish body {body}"));
        }
        s.finished.push(run);
        return Ok(Json(json!({})));
    }
    if body.get("complete") == Some(&json!(false)) {
        s.heartbeats += 1;
        return Ok(Json(json!({})));
    }
    let history = &body["files"]["wandb-history.jsonl"];
    let summary = &body["files"]["wandb-summary.json"];
    let (Some(offset), Some([line])) = (history["offset"].as_u64(), history["content"].as_array().map(Vec::as_slice))
    else {
        s.violations.push(format!("history chunk {body}"));
        return Err(StatusCode::BAD_REQUEST);
    };
    let line = line.as_str().unwrap_or_default().to_string();
    let step = parse_python_json(&line)["_step"].as_u64().unwrap_or(u64::MAX);
    if s.refuse_steps.contains(&step) {
        return Err(StatusCode::BAD_REQUEST);
    }
    if summary["offset"] != 0 || summary["content"][0].as_str() != Some(line.as_str()) {
        s.violations.push(format!("summary chunk {summary}"));
    }
    let rows = s.rows.entry(run.clone()).or_default();
    // Offsets are line numbers: a resend may repeat one, never skip ahead.
    if offset > rows.len() as u64 {
        s.violations.push(format!("run {run}: offset {offset} after {} rows", rows.len()));
    }
    rows.insert(offset, line.clone());
    s.summaries.insert(run, line);
    Ok(Json(json!({})))
}

struct Server {
    state: Shared,
    addr: SocketAddr,
}

impl Server {
    async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Server::serve(listener, Wandb::new()).await
    }

    async fn start_on(addr: SocketAddr, state: Shared) -> Server {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Server::serve(listener, state).await
    }

    async fn serve(listener: tokio::net::TcpListener, state: Shared) -> Server {
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/graphql", post(graphql))
            .route("/files/{entity}/{project}/{run}/file_stream", post(file_stream))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { state, addr }
    }

    fn set(&self, change: impl FnOnce(&mut Wandb)) {
        change(&mut self.state.lock().unwrap());
    }

    fn read<T>(&self, read: impl FnOnce(&Wandb) -> T) -> T {
        read(&self.state.lock().unwrap())
    }

    /// Every delivered row, run by run in creation order, each run's rows by offset.
    fn delivered(&self) -> Vec<(String, StepLog)> {
        self.read(|s| {
            s.runs
                .iter()
                .flat_map(|run| {
                    s.rows.get(&run.id).into_iter().flatten().map(|(_, line)| (run.id.clone(), step_log_of(line)))
                })
                .collect()
        })
    }

    fn delivered_steps(&self) -> Vec<u64> {
        self.delivered().into_iter().map(|(_, log)| log.step).collect()
    }

    fn assert_no_violations(&self) {
        self.read(|s| assert!(s.violations.is_empty(), "protocol violations: {:#?}", s.violations));
    }
}

/// Python's JSON (bare `Infinity`/`NaN` outside strings) made standard: those tokens become
/// strings, which is also our serde form of non-finite floats.
fn parse_python_json(text: &str) -> Value {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if let Some(word) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|w| rest.starts_with(w)) {
            out.push_str(&format!("\"{word}\""));
            rest = &rest[word.len()..];
            continue;
        }
        in_string = c == '"';
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn step_log_of(line: &str) -> StepLog {
    let mut row = parse_python_json(line);
    let fields = row.as_object_mut().unwrap();
    assert!(fields.remove("_runtime").is_some_and(|v| v.as_f64().is_some_and(|r| r >= 0.0)), "{line}");
    let timestamp = fields.remove("_timestamp").unwrap();
    assert_eq!(timestamp, fields["time"], "{line}");
    serde_json::from_value(row).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// A step record with every field set, an `inf` loss included.
fn step(step: u64) -> StepLog {
    let uids = [3u16, 7, 12];
    let per_uid = |f: fn(u16) -> f64| uids.iter().map(|&u| (u, f(u))).collect::<BTreeMap<u16, f64>>();
    let mut entry = OriginalUidEntry {
        uid: 12,
        block: 3_100_000,
        hf: "miner/model-12".into(),
        competition_id: 2,
        average_loss: f64::INFINITY,
        epsilon_adv: Some(0.005),
        win_rate: 0.0,
        win_total: 0,
        weight: 0.0,
        norm_weight: Some(0.0),
        ..Default::default()
    };
    entry.task_scores.insert("SYNTHETIC_MMLU.raw_score".into(), 0.25);
    let original = OriginalFormat {
        timestamp: 1_750_000_000.0 + step as f64,
        competition_id: 2,
        seed: Some(1234 + step),
        sync_block: Some(3_200_000),
        uids: uids.to_vec(),
        uid_data: BTreeMap::from([(12, entry)]),
        ..Default::default()
    };
    let mut log = StepLog {
        step,
        time: 1_750_000_000.0 + step as f64,
        step_competition_id: 2,
        block: 3_200_000 + step,
        uid_data: per_uid(|u| if u == 12 { f64::INFINITY } else { 1.0 / f64::from(u) }),
        uid_epsilon_adv: Some(per_uid(|_| 0.005)),
        win_rate_data: per_uid(|u| f64::from(u) / 20.0),
        win_total_data: uids.iter().map(|&u| (u, u32::from(u))).collect(),
        weight_data: per_uid(|u| if u == 3 { 1.0 } else { 0.0 }),
        competition_weight_data: per_uid(|u| if u == 3 { 0.9 } else { 0.05 }),
        competition_id: uids.iter().map(|&u| (u, 2)).collect(),
        load_model_perf: PerfStats { min: 1.0, median: 2.0, max: 4.0, p90: 3.5 },
        compute_model_perf: PerfStats { min: 10.0, median: 12.5, max: 30.0, p90: 25.0 },
        load_data_perf: PerfStats { min: 0.5, median: 0.5, max: 0.5, p90: 0.5 },
        original_format_json: original.to_json(),
        ..Default::default()
    };
    log.set_task_scores("SYNTHETIC_MMLU", per_uid(|_| 0.25), per_uid(|_| 0.5), per_uid(|_| 0.4));
    log
}

fn config(base: SocketAddr, spool: &std::path::Path) -> WandbConfig {
    WandbConfig {
        project: PROJECT.into(),
        entity: ENTITY.into(),
        api_key: KEY.into(),
        base_url: format!("http://{base}").parse().unwrap(),
        max_steps_per_run: 50,
        spool_dir: spool.to_path_buf(),
        queue_capacity: 1024,
        request_timeout: Duration::from_secs(1),
        retry: RetryPolicy { initial: Duration::from_millis(50), max: Duration::from_millis(400) },
        heartbeat_interval: Duration::from_secs(3600),
    }
}

fn identity() -> RunIdentity {
    RunIdentity { uid: 7, hotkey: "5HotkeyOfTheValidator".into(), version: "0.1.0".into() }
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pending_files(spool: &std::path::Path) -> usize {
    std::fs::read_dir(spool.join("pending"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".json"))
        .count()
}

/// Submits `steps`, asserting that all the submits together return well within a generous
/// bound even though wandb is not answering.
fn submit_all(uploader: &Uploader, steps: std::ops::Range<u64>) {
    let started = Instant::now();
    for n in steps {
        uploader.submit(step(n));
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "submits took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_reach_wandb_with_upstream_names_auth_and_run_config() {
    let server = Server::start().await;
    let spool = tempfile::tempdir().unwrap();
    let uploader = Uploader::start(config(server.addr, spool.path()), identity()).unwrap();
    submit_all(&uploader, 0..3);
    wait_until("3 rows", || server.delivered().len() == 3).await;

    let delivered = server.delivered();
    assert_eq!(delivered.iter().map(|(_, log)| log.clone()).collect::<Vec<_>>(), vec![step(0), step(1), step(2)]);
    server.read(|s| {
        assert_eq!(s.runs.len(), 1);
        let run = &s.runs[0];
        let value = |key: &str| run.config[key]["value"].clone();
        assert_eq!(value("uid"), 7);
        assert_eq!(value("hotkey"), "5HotkeyOfTheValidator");
        assert_eq!(value("run_name"), run.display_name.as_str());
        assert_eq!(value("version"), "0.1.0");
        assert_eq!(value("type"), "validator");
        // The last row is also the run's summary.
        assert_eq!(step_log_of(&s.summaries[&run.id]), step(2));
        // The raw line keeps Python's Infinity, inside original_format_json as well.
        let line = &s.rows[&run.id][&0];
        assert!(
            line.contains(r#""uid_data": {"3": 0.3333333333333333, "7": 0.14285714285714285, "12": Infinity}"#),
            "{line}"
        );
        assert!(line.contains(r#"\"average_loss\": Infinity"#), "{line}");
        assert!(line.contains(r#""load_model_perf": {"min": 1.0, "median": 2.0, "max": 4.0, "P90": 3.5}"#), "{line}");
    });
    server.assert_no_violations();
    assert_eq!(pending_files(spool.path()), 0, "delivered records leave the spool");
    let stats = uploader.stats();
    assert_eq!((stats.submitted, stats.spooled, stats.delivered, stats.dropped), (3, 3, 3, 0));
    uploader.shutdown(Duration::from_secs(5)).await;
    server.read(|s| assert_eq!(s.finished, vec![s.runs[0].id.clone()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_rotate_every_max_steps_like_upstream() {
    let server = Server::start().await;
    let spool = tempfile::tempdir().unwrap();
    let uploader =
        Uploader::start(WandbConfig { max_steps_per_run: 2, ..config(server.addr, spool.path()) }, identity()).unwrap();
    submit_all(&uploader, 0..5);
    wait_until("5 rows", || server.delivered().len() == 5).await;

    let delivered = server.delivered();
    assert_eq!(delivered.iter().map(|(_, log)| log.step).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    server.read(|s| {
        assert_eq!(s.runs.len(), 3);
        let per_run: Vec<Vec<u64>> = s.runs.iter().map(|r| s.rows[&r.id].keys().copied().collect()).collect();
        assert_eq!(per_run, [vec![0, 1], vec![0, 1], vec![0]], "offsets restart in each run");
        // A full run is finished before the next one opens.
        assert_eq!(s.finished, vec![s.runs[0].id.clone(), s.runs[1].id.clone()]);
        let ids: HashSet<_> = s.runs.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), 3);
    });
    server.assert_no_violations();
    uploader.shutdown(Duration::from_secs(5)).await;
}

/// Fails (or hangs) wandb, submits while it is down, and checks every record arrives, in
/// order and once, after it recovers.
async fn outage_loses_nothing(mode: Mode) {
    let server = Server::start().await;
    let spool = tempfile::tempdir().unwrap();
    let uploader = Uploader::start(config(server.addr, spool.path()), identity()).unwrap();
    submit_all(&uploader, 0..2);
    wait_until("the first rows", || server.delivered().len() == 2).await;

    server.set(|s| s.mode = mode);
    submit_all(&uploader, 2..30);
    wait_until("failed attempts", || server.read(|s| s.failed_requests + s.hanging_requests >= 2)).await;
    wait_until("every record on disk", || uploader.stats().spooled == 30).await;
    assert_eq!(server.delivered().len(), 2);
    assert!(pending_files(spool.path()) >= 28);

    server.set(|s| s.mode = Mode::Healthy);
    wait_until("all 30 rows", || server.delivered().len() == 30).await;
    assert_eq!(server.delivered_steps(), (0..30).collect::<Vec<_>>());
    assert_eq!(pending_files(spool.path()), 0);
    server.assert_no_violations();
    assert_eq!(uploader.stats().dropped, 0);
    uploader.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_with_500s_loses_no_record() {
    outage_loses_nothing(Mode::Fail(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_with_429s_loses_no_record() {
    outage_loses_nothing(Mode::Fail(429)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_delays_no_submit_and_loses_no_record() {
    outage_loses_nothing(Mode::Hang).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_server_loses_no_record() {
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let spool = tempfile::tempdir().unwrap();
    let uploader = Uploader::start(config(addr, spool.path()), identity()).unwrap();
    submit_all(&uploader, 0..10);
    wait_until("every record on disk", || uploader.stats().spooled == 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(uploader.stats().delivered, 0);

    let server = Server::start_on(addr, Wandb::new()).await;
    wait_until("all 10 rows", || server.delivered().len() == 10).await;
    assert_eq!(server.delivered_steps(), (0..10).collect::<Vec<_>>());
    server.assert_no_violations();
    uploader.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_records_survive_an_uploader_restart() {
    let server = Server::start().await;
    server.set(|s| s.mode = Mode::Fail(503));
    let spool = tempfile::tempdir().unwrap();
    let first = Uploader::start(config(server.addr, spool.path()), identity()).unwrap();
    submit_all(&first, 0..5);
    wait_until("every record on disk", || first.stats().spooled == 5).await;
    first.shutdown(Duration::from_secs(5)).await;
    assert_eq!(pending_files(spool.path()), 5);
    assert!(server.delivered().is_empty());

    server.set(|s| s.mode = Mode::Healthy);
    let second = Uploader::start(config(server.addr, spool.path()), identity()).unwrap();
    submit_all(&second, 5..7);
    wait_until("all 7 rows", || server.delivered().len() == 7).await;
    assert_eq!(server.delivered_steps(), (0..7).collect::<Vec<_>>());
    assert_eq!(pending_files(spool.path()), 0);
    server.assert_no_violations();
    second.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_loses_no_record() {
    let server = Server::start().await;
    let spool = tempfile::tempdir().unwrap();
    let wrong = WandbConfig { api_key: "not-the-key".into(), ..config(server.addr, spool.path()) };
    let uploader = Uploader::start(wrong, identity()).unwrap();
    submit_all(&uploader, 0..3);
    wait_until("every record on disk", || uploader.stats().spooled == 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.read(|s| s.runs.is_empty()));
    uploader.shutdown(Duration::from_secs(5)).await;

    let uploader = Uploader::start(config(server.addr, spool.path()), identity()).unwrap();
    wait_until("all 3 rows", || server.delivered().len() == 3).await;
    assert_eq!(server.delivered_steps(), [0, 1, 2]);
    uploader.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_wandb_refuses_is_set_aside_and_the_rest_flow() {
    let server = Server::start().await;
    server.set(|s| {
        s.refuse_steps.insert(1);
    });
    let spool = tempfile::tempdir().unwrap();
    let uploader = Uploader::start(config(server.addr, spool.path()), identity()).unwrap();
    submit_all(&uploader, 0..3);
    wait_until("rows 0 and 2", || server.delivered().len() == 2).await;
    assert_eq!(server.delivered_steps(), [0, 2]);
    assert_eq!(uploader.stats().rejected, 1);
    let kept = spool.path().join("rejected/00000000000000000001.json");
    let kept_log: StepLog = serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(kept_log, step(1));
    let reason = std::fs::read_to_string(kept.with_extension("reason")).unwrap();
    assert!(reason.contains("400"), "{reason}");
    server.assert_no_violations();
    uploader.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_run_is_replaced_and_its_record_resent() {
    let server = Server::start().await;
    let spool = tempfile::tempdir().unwrap();
    let uploader = Uploader::start(config(server.addr, spool.path()), identity()).unwrap();
    submit_all(&uploader, 0..2);
    wait_until("2 rows", || server.delivered().len() == 2).await;
    server.set(|s| {
        let first = s.runs[0].id.clone();
        s.gone_runs.insert(first);
    });
    submit_all(&uploader, 2..4);
    wait_until("4 rows", || server.delivered().len() == 4).await;
    server.read(|s| {
        assert_eq!(s.runs.len(), 2);
        assert_eq!(s.rows[&s.runs[1].id].keys().copied().collect::<Vec<_>>(), [0, 1]);
    });
    assert_eq!(server.delivered_steps(), [0, 1, 2, 3]);
    uploader.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_run_sends_heartbeats() {
    let server = Server::start().await;
    let spool = tempfile::tempdir().unwrap();
    let with_heartbeats =
        WandbConfig { heartbeat_interval: Duration::from_millis(100), ..config(server.addr, spool.path()) };
    let uploader = Uploader::start(with_heartbeats, identity()).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.read(|s| s.heartbeats), 0, "no run, no heartbeat");
    uploader.submit(step(0));
    wait_until("heartbeats", || server.read(|s| s.heartbeats >= 2)).await;
    server.assert_no_violations();
    uploader.shutdown(Duration::from_secs(5)).await;
}
