//! The SN18 cortex loader against a loopback wandb GraphQL server, with sr25519 signatures made
//! by substrate-interface (`cortex_signatures.py`) and the samples upstream's scan keeps
//! (`cortex_upstream.py`).

mod common;

use common::{fast_policy, wandb_server, Faults, Loopback};
use datasets::cortex::signature::{ss58_decode, verify_run_signature};
use datasets::cortex::wandb::{WandbClient, WandbError};
use datasets::cortex::{has_unwanted_phrase, load_cortex, CortexError, CortexParams, UNWANTED_PHRASES};
use datasets::http::FetchError;
use datasets::sample::Loaded;
use datasets::{PairRule, Seed};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn signatures() -> Value {
    serde_json::from_str(include_str!("fixtures/cortex_signatures.json")).unwrap()
}

fn upstream() -> Value {
    serde_json::from_str(include_str!("fixtures/cortex_upstream.json")).unwrap()
}

#[test]
fn signatures_verify_exactly_when_substrate_interface_says_so() {
    let f = signatures();
    for (name, ss58) in f["keys"].as_object().unwrap() {
        let (format, key) = ss58_decode(ss58.as_str().unwrap()).unwrap();
        assert_eq!(format, 42);
        assert_eq!(hex::encode(key), f["public_keys"][name].as_str().unwrap());
    }
    let checks = f["checks"].as_array().unwrap();
    assert!(checks.len() >= 10);
    for c in checks {
        let got = verify_run_signature(
            c["hotkey"].as_str().unwrap(),
            c["run_id"].as_str().unwrap(),
            c["signature"].as_str().unwrap(),
        );
        // `None`: substrate-interface raised, which no loader counts as a valid signature.
        assert_eq!(got, c["python_verify"] == json!(true), "{}", c["label"]);
    }
}

#[test]
fn unwanted_phrases_are_upstreams_list() {
    assert_eq!(UNWANTED_PHRASES.len(), 183);
    assert!(has_unwanted_phrase("Sure. As an AI language model, I cannot"));
    assert!(has_unwanted_phrase("Built on GPT-4"));
    assert!(has_unwanted_phrase("Я разработчик"));
    assert!(!has_unwanted_phrase("please note the date"), "matching is case-sensitive");
}

/// The fixture's runs in wandb's GraphQL shape: `config` as a JSON string of `{"value": …}`
/// wrappers, `historyKeys.lastStep`.
fn wandb_data(f: &Value) -> Value {
    let mut runs = Vec::new();
    let mut history = serde_json::Map::new();
    for (i, r) in f["runs"].as_array().unwrap().iter().enumerate() {
        let config: serde_json::Map<String, Value> = r["config"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), json!({"value": v, "desc": null})))
            .collect();
        let keys = json!({"lastStep": r["lastStep"], "keys": {}});
        runs.push(json!({
            "id": format!("UnVuOnYxOm{i}"),
            "name": r["name"],
            "state": "running",
            "config": Value::String(Value::Object(config).to_string()),
            "createdAt": "2024-07-03T09:00:00",
            // wandb sends historyKeys as an object; one run sends it as a string to cover both.
            "historyKeys": if i == 0 { Value::String(keys.to_string()) } else { keys },
        }));
        history.insert(r["name"].as_str().unwrap().to_string(), r["history"].clone());
    }
    json!({"runs": runs, "history": history})
}

fn hotkeys(f: &Value) -> BTreeSet<String> {
    f["validator_hotkeys"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect()
}

fn now(f: &Value) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(f["now"].as_f64().unwrap())
}

fn params(max_samples: u64) -> CortexParams {
    CortexParams::from_kwargs(
        json!({"max_samples": max_samples, "steps": 5, "page_size": 5, "max_run_age_seconds": 14400,
               "min_stake": 100000, "project": "cortex-t/multi-modality"})
        .as_object()
        .unwrap(),
    )
    .unwrap()
}

async fn server_and_client(f: &Value, attempts: u32) -> (Loopback, WandbClient) {
    let server = wandb_server(wandb_data(f)).await;
    let client = WandbClient::new(&server.base, "test-key-123", fast_policy(attempts)).unwrap();
    (server, client)
}

fn triples(loaded: &Loaded) -> Vec<Value> {
    loaded
        .samples
        .iter()
        .map(|s| {
            let p = s.as_prompt_response().unwrap();
            assert_eq!(p.rule, PairRule::ChatPair);
            json!({"prompt": p.prompt, "response": p.response, "id": s.id})
        })
        .collect()
}

#[tokio::test]
async fn loader_keeps_the_samples_upstreams_scan_keeps() {
    let f = upstream();
    let (server, client) = server_and_client(&f, 3).await;
    for case in f["cases"].as_array().unwrap() {
        let seed = Seed::from_block_hash(case["block_hash"].as_str().unwrap()).unwrap();
        let loaded =
            load_cortex(&client, &seed, &params(case["max_samples"].as_u64().unwrap()), &hotkeys(&f), now(&f), 1)
                .await
                .unwrap();
        assert_eq!(Value::from(triples(&loaded)), case["samples"], "case {}", case["block_hash"]);
    }
    // The runs query filters on running validator runs of the given hotkeys, oldest first.
    let q = &server.requests("runs")[0].params;
    let filters: Value = serde_json::from_str(q["filters"].as_str().unwrap()).unwrap();
    assert_eq!(filters["$and"], json!([{"config.type": "validator"}, {"state": "running"}]));
    assert_eq!(filters["$or"].as_array().unwrap().len(), 3);
    assert_eq!(
        (q["entity"].as_str(), q["project"].as_str(), q["order"].as_str()),
        (Some("cortex-t"), Some("multi-modality"), Some("+created_at"))
    );
    // HTTP basic auth with user `api`, as wandb's client sends it.
    let auth = server.shared.auth.lock().unwrap()[0].clone();
    assert_eq!(auth, "Basic YXBpOnRlc3Qta2V5LTEyMw==");
}

#[tokio::test]
async fn rate_limited_then_success() {
    let f = upstream();
    let (server, client) = server_and_client(&f, 4).await;
    let case = &f["cases"][0];
    let seed = Seed::from_block_hash(case["block_hash"].as_str().unwrap()).unwrap();
    server.set_faults(Faults { rate_limit_first: 3, retry_after: Some("0".into()), ..Faults::default() });
    let loaded = load_cortex(&client, &seed, &params(400), &hotkeys(&f), now(&f), 1).await.unwrap();
    assert_eq!(Value::from(triples(&loaded)), case["samples"]);
    assert_eq!(server.log().iter().filter(|l| l.status == 429).count(), 3);
}

#[tokio::test]
async fn a_hanging_wandb_hits_the_deadline() {
    let f = upstream();
    let server = wandb_server(wandb_data(&f)).await;
    let client = WandbClient::new(&server.base, "k", common::hang_policy(2)).unwrap();
    server.set_faults(Faults { hang: true, ..Faults::default() });
    let seed = Seed::from_block_hash(f["cases"][0]["block_hash"].as_str().unwrap()).unwrap();
    let err = load_cortex(&client, &seed, &params(400), &hotkeys(&f), now(&f), 1).await.unwrap_err();
    assert!(matches!(err, CortexError::Wandb(WandbError::Fetch(FetchError::Timeout { .. }))), "{err}");
    assert_eq!(server.log().len(), 2);
}

#[tokio::test]
async fn malformed_rows_and_runs_are_skipped_and_counted() {
    let f = upstream();
    let mut data = wandb_data(&f);
    // A row without `_timestamp` in alice's scanned steps.
    let alice_run = f["runs"][0]["name"].as_str().unwrap().to_string();
    let rows = data["history"][&alice_run].as_array_mut().unwrap();
    rows[8].as_object_mut().unwrap().remove("_timestamp");
    let server = wandb_server(data).await;
    let client = WandbClient::new(&server.base, "k", fast_policy(2)).unwrap();
    let seed = Seed::from_block_hash(f["cases"][0]["block_hash"].as_str().unwrap()).unwrap();
    let loaded = load_cortex(&client, &seed, &params(400), &hotkeys(&f), now(&f), 1).await.unwrap();
    // The unsigned run and the row without a timestamp.
    assert_eq!(loaded.malformed, 2);
    let expected: Vec<Value> = f["cases"][0]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["id"].as_str().unwrap().starts_with(&format!("{alice_run}_8/")))
        .cloned()
        .collect();
    assert!(expected.len() < f["cases"][0]["samples"].as_array().unwrap().len());
    assert_eq!(Value::from(triples(&loaded)), Value::from(expected));
}

#[tokio::test]
async fn an_empty_validator_set_is_refused() {
    let f = upstream();
    let (server, client) = server_and_client(&f, 2).await;
    let seed = Seed::from_block_hash(f["cases"][0]["block_hash"].as_str().unwrap()).unwrap();
    let err = load_cortex(&client, &seed, &params(400), &BTreeSet::new(), now(&f), 1).await.unwrap_err();
    assert!(matches!(err, CortexError::NoValidators));
    assert!(server.log().is_empty());
}

#[tokio::test]
async fn unknown_validators_give_no_samples_and_an_error() {
    let f = upstream();
    let (_server, client) = server_and_client(&f, 2).await;
    let seed = Seed::from_block_hash(f["cases"][0]["block_hash"].as_str().unwrap()).unwrap();
    let stranger: BTreeSet<String> = ["5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy".to_string()].into();
    let err = load_cortex(&client, &seed, &params(400), &stranger, now(&f), 1).await.unwrap_err();
    assert!(matches!(err, CortexError::NoSamples { .. }), "{err}");
}
