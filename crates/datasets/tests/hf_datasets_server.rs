//! The datasets-server loaders against a loopback datasets-server, checked against what upstream's
//! loaders requested and produced on the same data (`tests/fixtures/hf_upstream.py`).

mod common;

use common::{datasets_server, fast_policy, Faults};
use datasets::cache::ResponseCache;
use datasets::hf::loaders::{load_codeforces_cots, load_synthetic_1_sft, load_text_rows};
use datasets::hf::{reasoning, DatasetsServer, HfError};
use datasets::http::FetchError;
use datasets::sample::{Loaded, SampleBody};
use datasets::Seed;
use serde_json::{json, Value};
use std::time::Duration;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/hf_upstream.json")).unwrap()
}

async fn load(task: &str, server: &DatasetsServer, seed: &Seed, kwargs: &Value, block: u64) -> Result<Loaded, HfError> {
    let kw = kwargs.as_object().unwrap();
    match task {
        "fineweb" => load_text_rows(server, seed, kw, block).await,
        "synthetic1_sft" => load_synthetic_1_sft(server, seed, kw, block).await,
        "codeforces_cots" => load_codeforces_cots(server, seed, kw, block).await,
        other => panic!("unknown task {other}"),
    }
}

/// Samples in the fixture's shape.
fn as_fixture(loaded: &Loaded) -> Vec<Value> {
    loaded
        .samples
        .iter()
        .map(|s| match &s.body {
            SampleBody::Text { text } => json!({"text": text}),
            SampleBody::PromptResponse(p) => json!({"system": p.system, "prompt": p.prompt, "response": p.response}),
            other => panic!("unexpected sample {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn loaders_request_the_pages_and_build_the_samples_upstream_does() {
    let f = fixture();
    let server = datasets_server(f["datasets"].clone()).await;
    let client = DatasetsServer::new(&server.base, fast_policy(3)).unwrap();
    for (n, sc) in f["scenarios"].as_array().unwrap().iter().enumerate() {
        let before = server.requests("rows").len();
        let seed = Seed::from_block_hash(sc["block_hash"].as_str().unwrap()).unwrap();
        let task = sc["task"].as_str().unwrap();
        let loaded = load(task, &client, &seed, &sc["kwargs"], n as u64).await.unwrap();
        let requested: Vec<Value> = server.requests("rows")[before..]
            .iter()
            .map(|l| {
                let p = &l.params;
                let int = |k: &str| p[k].as_str().unwrap().parse::<i64>().unwrap();
                json!([p["config"], p["split"], int("offset"), int("limit")])
            })
            .collect();
        assert_eq!(Value::from(requested), sc["requests"], "scenario {n} ({task}) pages");
        assert_eq!(Value::from(as_fixture(&loaded)), sc["samples"], "scenario {n} ({task}) samples");
        assert_eq!(loaded.provenance.len(), sc["requests"].as_array().unwrap().len());
    }
}

#[test]
fn reasoning_parsers_match_python_re() {
    let f = fixture();
    for case in f["parse_cases"].as_array().unwrap() {
        let tt = case["task_type"].as_str().unwrap();
        let p = reasoning::parse_synthetic(tt, &case["messages"]).unwrap();
        assert_eq!(p.question, case["question"].as_str().unwrap());
        assert_eq!(p.trace, case["trace"].as_str().unwrap(), "trace of {case}");
        assert_eq!(p.answer, case["answer"].as_str().unwrap(), "answer of {case}");
        assert_eq!(reasoning::synthetic_reference(tt, &p.trace, &p.answer), case["reference"].as_str().unwrap());
    }
}

fn tiny_fineweb(rows: Vec<Value>) -> Value {
    json!({"test/fineweb": {
        "splits": [{"config": "default", "split": "train", "num_rows": rows.len()}],
        "rows": {"default": rows},
    }})
}

fn seed() -> Seed {
    Seed::from_block_hash(&format!("0x{}", "5a".repeat(32))).unwrap()
}

fn fineweb_kwargs() -> Value {
    json!({"name": "test/fineweb", "num_pages": 1, "num_rows_per_page": 10})
}

#[tokio::test]
async fn rate_limited_then_success_waits_for_retry_after() {
    let rows: Vec<Value> = (0..30).map(|i| json!({"text": format!("doc {i}")})).collect();
    let server = datasets_server(tiny_fineweb(rows)).await;
    let client = DatasetsServer::new(&server.base, fast_policy(5)).unwrap();
    let expected = load("fineweb", &client, &seed(), &fineweb_kwargs(), 1).await.unwrap();

    server.set_faults(Faults { rate_limit_first: 2, retry_after: Some("1".into()), ..Faults::default() });
    let got = load("fineweb", &client, &seed(), &fineweb_kwargs(), 2).await.unwrap();
    assert_eq!(got, expected, "the same page after the 429s, not a new draw");
    let log = server.log();
    let tail = &log[log.len() - 4..];
    assert_eq!(
        tail.iter().map(|l| (l.route.as_str(), l.status)).collect::<Vec<_>>(),
        [("size", 429), ("size", 429), ("size", 200), ("rows", 200)]
    );
    // The client slept for Retry-After (1 s), not its 10 ms back-off.
    assert!(tail[1].at - tail[0].at >= Duration::from_millis(950));
    assert!(tail[2].at - tail[1].at >= Duration::from_millis(950));
}

#[tokio::test]
async fn endless_rate_limits_give_up_after_the_bounded_tries() {
    let server = datasets_server(tiny_fineweb(vec![json!({"text": "x"})])).await;
    let client = DatasetsServer::new(&server.base, fast_policy(4)).unwrap();
    server.set_faults(Faults { rate_limit_first: 1000, retry_after: Some("0".into()), ..Faults::default() });
    let err = load("fineweb", &client, &seed(), &fineweb_kwargs(), 1).await.unwrap_err();
    assert!(matches!(err, HfError::Fetch(FetchError::RateLimited { attempts: 4, .. })), "{err}");
    assert_eq!(server.log().len(), 4);
}

#[tokio::test]
async fn a_hanging_server_hits_the_deadline() {
    let server = datasets_server(tiny_fineweb(vec![json!({"text": "x"})])).await;
    let client = DatasetsServer::new(&server.base, common::hang_policy(2)).unwrap();
    server.set_faults(Faults { hang: true, ..Faults::default() });
    let started = std::time::Instant::now();
    let err = load("fineweb", &client, &seed(), &fineweb_kwargs(), 1).await.unwrap_err();
    assert!(matches!(err, HfError::Fetch(FetchError::Timeout { attempts: 2, .. })), "{err}");
    assert_eq!(server.log().len(), 2, "one retry, then the error");
    assert!(started.elapsed() < Duration::from_secs(30), "the deadline fired; the hang did not");
}

/// Offsets of the `/rows` requests the server saw.
fn fetched_offsets(server: &common::Loopback) -> Vec<usize> {
    server.requests("rows").iter().map(|l| l.params["offset"].as_str().unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn malformed_rows_are_skipped_and_counted() {
    let bad_field = |i: usize| i % 5 == 2;
    let bad_type = |i: usize| i % 7 == 3;
    let rows: Vec<Value> = (0..100)
        .map(|i| match i {
            i if bad_field(i) => json!({"txt": "wrong field"}),
            i if bad_type(i) => json!({"text": 42}),
            i => json!({"text": format!("doc {i}")}),
        })
        .collect();
    let server = datasets_server(tiny_fineweb(rows)).await;
    let client = DatasetsServer::new(&server.base, fast_policy(2)).unwrap();
    let kw = json!({"name": "test/fineweb", "num_pages": 3, "num_rows_per_page": 10});
    let got = load("fineweb", &client, &seed(), &kw, 1).await.unwrap();
    let fetched: Vec<usize> = fetched_offsets(&server).into_iter().flat_map(|o| o..(o + 10).min(100)).collect();
    let malformed = fetched.iter().filter(|&&i| bad_field(i) || bad_type(i)).count();
    assert!(malformed > 0);
    assert_eq!(got.malformed, malformed);
    assert_eq!(got.samples.len(), fetched.len() - malformed);
    assert!(got.samples.iter().all(|s| s.id.starts_with("test/fineweb:default/train@")));

    // Reasoning rows: no messages, wrong message count, non-string content, then a good one.
    let shapes = [
        json!({"id": "a"}),
        json!({"messages": [{"content": "q"}]}),
        json!({"messages": [{"content": "q"}, {"content": 3}]}),
        json!({"messages": [{"content": "q"}, {"content": " t "}]}),
    ];
    let rows: Vec<Value> = (0..40).map(|i| shapes[i % 4].clone()).collect();
    let cf = json!({"test/cf": {"splits": [{"config": "solutions", "split": "train", "num_rows": 40}],
        "rows": {"solutions": rows}}});
    let server = datasets_server(cf).await;
    let client = DatasetsServer::new(&server.base, fast_policy(2)).unwrap();
    let kw = json!({"name": "test/cf", "num_pages": 1, "num_rows_per_page": 10});
    let got = load("codeforces_cots", &client, &seed(), &kw, 1).await.unwrap();
    let fetched: Vec<usize> = fetched_offsets(&server).into_iter().flat_map(|o| o..(o + 10).min(40)).collect();
    let good = fetched.iter().filter(|&&i| i % 4 == 3).count();
    assert_eq!((got.malformed, got.samples.len()), (fetched.len() - good, good));
    assert_eq!(got.samples[0].as_prompt_response().unwrap().response, "t");
    assert_eq!(
        got.samples[0].as_prompt_response().unwrap().system.as_deref(),
        Some(reasoning::REASONING_SYSTEM_PROMPT)
    );
}

#[tokio::test]
async fn all_rows_malformed_is_an_error_not_an_empty_task() {
    let server = datasets_server(tiny_fineweb(vec![json!({"nope": 1}); 30])).await;
    let client = DatasetsServer::new(&server.base, fast_policy(2)).unwrap();
    let err = load("fineweb", &client, &seed(), &fineweb_kwargs(), 1).await.unwrap_err();
    assert!(matches!(err, HfError::NoSamples { malformed: 10, .. }), "{err}");
}

#[tokio::test]
async fn a_config_too_small_for_a_page_fails_like_upstream() {
    // (num_rows - offset + 1) // rows_per_page == 0 makes upstream's randint(0, -1) raise.
    let server = datasets_server(tiny_fineweb(vec![json!({"text": "x"}); 3])).await;
    let client = DatasetsServer::new(&server.base, fast_policy(2)).unwrap();
    let err = load("fineweb", &client, &seed(), &fineweb_kwargs(), 1).await.unwrap_err();
    assert!(matches!(err, HfError::Draw(_)), "{err}");
}

#[tokio::test]
async fn a_restart_in_the_same_window_reads_the_cache() {
    let rows: Vec<Value> = (0..30).map(|i| json!({"text": format!("doc {i}")})).collect();
    let server = datasets_server(tiny_fineweb(rows)).await;
    let dir = tempfile::tempdir().unwrap();
    let cached =
        || DatasetsServer::new(&server.base, fast_policy(2)).unwrap().with_cache(ResponseCache::new(dir.path()));
    let first = load("fineweb", &cached(), &seed(), &fineweb_kwargs(), 7).await.unwrap();
    let fetched = server.log().len();
    assert_eq!(fetched, 2, "/size and one page");

    // The server goes down; a fresh client (a restarted validator) still loads the round.
    server.set_faults(Faults { outage: Some(503), ..Faults::default() });
    let again = load("fineweb", &cached(), &seed(), &fineweb_kwargs(), 7).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(server.log().len(), fetched, "nothing was fetched again");

    // The next window is not served from the old one.
    let err = load("fineweb", &cached(), &seed(), &fineweb_kwargs(), 8).await.unwrap_err();
    assert!(matches!(err, HfError::Fetch(FetchError::Status { status: 503, .. })), "{err}");
}

#[tokio::test]
async fn unknown_kwargs_are_refused() {
    let server = datasets_server(tiny_fineweb(vec![json!({"text": "x"})])).await;
    let client = DatasetsServer::new(&server.base, fast_policy(2)).unwrap();
    let err = load("fineweb", &client, &seed(), &json!({"num_page": 2}), 1).await.unwrap_err();
    assert!(matches!(err, HfError::Kwargs(_)), "{err}");
    assert!(server.log().is_empty());
}
