//! The subxt client against a JSON-RPC server on 127.0.0.1 that speaks the legacy substrate
//! methods with real finney metadata (spec 219) and storage, runtime-API and event values made
//! by PyPI bittensor (`fixtures/scale_vectors.json`).

use chain::subtensor::{Subtensor, SubtensorOptions};
use chain::{AccountId, Chain, ChainError, Data, Hotkey, SetWeightsError, WeightsSubmission};
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule, Server, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("scale_vectors.json")).unwrap()).unwrap()
}

fn hexed(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    Success,
    TooFast,
    PoolRejects,
}

/// What the fake node serves and what it saw.
struct Node {
    genesis: String,
    head_number: u64,
    head_hash: String,
    included_hash: String,
    storage: Mutex<BTreeMap<String, String>>,
    neurons: String,
    runtime_version: String,
    metadata: Vec<u8>,
    events_failed: String,
    events_success: String,
    events_key: String,
    hang_neurons: AtomicBool,
    verdict: Mutex<Verdict>,
    submitted: Mutex<Vec<String>>,
}

impl Node {
    fn new() -> Node {
        let v = vectors();
        let s = &v["subnet"];
        let storage =
            s["storage"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()));
        Node {
            genesis: s["genesis_hash"].as_str().unwrap().into(),
            head_number: s["head"]["number"].as_u64().unwrap(),
            head_hash: s["head"]["hash"].as_str().unwrap().into(),
            included_hash: format!("0x{}", "ab".repeat(32)),
            storage: Mutex::new(storage.collect()),
            neurons: s["neurons_lite_hex"].as_str().unwrap().into(),
            runtime_version: s["runtime_version_hex"].as_str().unwrap().into(),
            metadata: std::fs::read(fixtures().join("finney-spec219.scale")).unwrap(),
            events_failed: s["events"]["failed_too_fast"].as_str().unwrap().into(),
            events_success: s["events"]["success"].as_str().unwrap().into(),
            events_key: s["events"]["key"].as_str().unwrap().into(),
            hang_neurons: AtomicBool::new(false),
            verdict: Mutex::new(Verdict::Success),
            submitted: Mutex::new(Vec::new()),
        }
    }

    fn set_variant(&self, item: &str, variant: &str) {
        let v = vectors();
        let entry = &v["subnet"]["variants"][item];
        self.storage
            .lock()
            .unwrap()
            .insert(entry["key"].as_str().unwrap().into(), entry[variant].as_str().unwrap().into());
    }

    fn header(&self, hash: &str) -> Value {
        let number = if hash == self.head_hash {
            self.head_number
        } else if hash == self.included_hash {
            self.head_number + 1
        } else if hash == self.genesis {
            0
        } else {
            return Value::Null;
        };
        json!({
            "parentHash": format!("0x{}", "00".repeat(32)),
            "number": format!("0x{number:x}"),
            "stateRoot": format!("0x{}", "11".repeat(32)),
            "extrinsicsRoot": format!("0x{}", "22".repeat(32)),
            "digest": {"logs": []},
        })
    }

    fn state_call(&self, method: &str) -> Result<String, ErrorObjectOwned> {
        Ok(match method {
            "Core_version" => self.runtime_version.clone(),
            "Metadata_metadata_versions" => "0x040e000000".into(),
            "Metadata_metadata_at_version" => {
                let mut out = vec![1u8];
                parity_scale_codec::Encode::encode_to(&self.metadata, &mut out);
                hexed(&out)
            }
            "AccountNonceApi_account_nonce" => "0x05000000".into(),
            "NeuronInfoRuntimeApi_get_neurons_lite" => self.neurons.clone(),
            other => return Err(ErrorObjectOwned::owned(-32601, format!("no runtime API {other}"), None::<()>)),
        })
    }
}

fn param_str(params: &Params, i: usize) -> Option<String> {
    let list: Vec<Value> = params.parse().unwrap_or_default();
    list.get(i).and_then(|v| v.as_str()).map(str::to_owned)
}

fn module(node: Arc<Node>) -> RpcModule<Arc<Node>> {
    let mut m = RpcModule::new(node);
    m.register_method("chain_getBlockHash", |p, n, _| {
        let list: Vec<Value> = p.parse().unwrap_or_default();
        let hash = match list.first().and_then(|v| v.as_u64()) {
            None => Some(n.head_hash.clone()),
            Some(0) => Some(n.genesis.clone()),
            Some(x) if x == n.head_number => Some(n.head_hash.clone()),
            Some(x) if x == n.head_number + 1 => Some(n.included_hash.clone()),
            Some(_) => None,
        };
        Ok::<_, ErrorObjectOwned>(hash)
    })
    .unwrap();
    m.register_method("chain_getFinalizedHead", |_, n, _| Ok::<_, ErrorObjectOwned>(n.head_hash.clone())).unwrap();
    m.register_method("chain_getHeader", |p, n, _| {
        Ok::<_, ErrorObjectOwned>(n.header(&param_str(&p, 0).unwrap_or_else(|| n.head_hash.clone())))
    })
    .unwrap();
    m.register_method("chain_getBlock", |p, n, _| {
        let hash = param_str(&p, 0).unwrap_or_default();
        let mut extrinsics = vec!["0x280403000b00000000000000".to_owned()];
        if hash == n.included_hash {
            extrinsics.extend(n.submitted.lock().unwrap().last().cloned());
        }
        Ok::<_, ErrorObjectOwned>(
            json!({"block": {"header": n.header(&hash), "extrinsics": extrinsics}, "justifications": null}),
        )
    })
    .unwrap();
    m.register_async_method("state_call", |p, n, _| async move {
        let method = param_str(&p, 0).unwrap_or_default();
        if method == "NeuronInfoRuntimeApi_get_neurons_lite" && n.hang_neurons.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        n.state_call(&method)
    })
    .unwrap();
    m.register_method("state_getStorage", |p, n, _| {
        let key = param_str(&p, 0).unwrap_or_default();
        if key == n.events_key {
            let events = match *n.verdict.lock().unwrap() {
                Verdict::TooFast => n.events_failed.clone(),
                _ => n.events_success.clone(),
            };
            return Ok::<_, ErrorObjectOwned>(Some(events));
        }
        Ok(n.storage.lock().unwrap().get(&key).cloned())
    })
    .unwrap();
    m.register_method("state_getKeysPaged", |p, n, _| {
        let list: Vec<Value> = p.parse().unwrap_or_default();
        let prefix = list[0].as_str().unwrap_or_default().to_owned();
        let count = list[1].as_u64().unwrap_or(100) as usize;
        let start = list.get(2).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let keys: Vec<String> = n
            .storage
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(&prefix) && **k > start)
            .take(count)
            .cloned()
            .collect();
        Ok::<_, ErrorObjectOwned>(keys)
    })
    .unwrap();
    m.register_method("state_queryStorageAt", |p, n, _| {
        let list: Vec<Value> = p.parse().unwrap_or_default();
        let storage = n.storage.lock().unwrap();
        let changes: Vec<Value> =
            list[0].as_array().unwrap().iter().map(|k| json!([k, storage.get(k.as_str().unwrap())])).collect();
        Ok::<_, ErrorObjectOwned>(json!([{"block": list.get(1).cloned().unwrap_or(Value::Null), "changes": changes}]))
    })
    .unwrap();
    m.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |p, pending: PendingSubscriptionSink, n, _| async move {
            let ext = param_str(&p, 0).unwrap_or_default();
            if *n.verdict.lock().unwrap() == Verdict::PoolRejects {
                pending.reject(ErrorObjectOwned::owned(1010, "Invalid Transaction", Some("Custom error: 6"))).await;
                return Ok(());
            }
            n.submitted.lock().unwrap().push(ext);
            let sink = pending.accept().await?;
            for status in [json!("ready"), json!({"inBlock": n.included_hash}), json!({"finalized": n.included_hash})] {
                sink.send(serde_json::value::to_raw_value(&status).unwrap()).await?;
            }
            Ok::<_, jsonrpsee::core::SubscriptionError>(())
        },
    )
    .unwrap();
    m
}

async fn serve(node: Arc<Node>, addr: &str) -> (SocketAddr, ServerHandle) {
    let server = Server::builder().build(addr).await.unwrap();
    let local = server.local_addr().unwrap();
    (local, server.start(module(node)))
}

fn client(addr: SocketAddr, call_timeout: Duration) -> Subtensor {
    let mut options = SubtensorOptions::new(format!("ws://{addr}"));
    options.call_timeout = call_timeout;
    options.connect_timeout = Duration::from_secs(10);
    options.inclusion_timeout = Duration::from_secs(20);
    Subtensor::new(options)
}

fn validator_hotkey() -> Hotkey {
    Hotkey::from_keyfile(&fixtures().join("wallets/fixture/hotkeys/phrase")).unwrap()
}

fn submission() -> WeightsSubmission {
    WeightsSubmission { uids: vec![0, 1, 3], weights: vec![65535, 1000, 1], version_key: 1020 }
}

#[tokio::test]
async fn metagraph_commitments_weights_and_hyperparameters_decode() {
    let node = Arc::new(Node::new());
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20));
    let v = vectors();
    let s = &v["subnet"];

    let head = chain.head().await.unwrap();
    assert_eq!(head.number, node.head_number);
    assert_eq!(head.hash.to_string(), node.head_hash);
    assert_eq!(chain.block(node.head_number).await.unwrap(), head);
    assert_eq!(chain.block(0).await.unwrap().hash.to_string(), node.genesis);
    assert!(matches!(chain.block(12).await, Err(ChainError::BlockNotFound(12))));

    let mg = chain.metagraph(37, &head).await.unwrap();
    assert_eq!(mg.n(), 4);
    let hotkeys: Vec<AccountId> =
        s["hotkeys"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(mg.neurons.iter().map(|n| n.hotkey).collect::<Vec<_>>(), hotkeys);
    assert_eq!(mg.neurons[0].stake_rao, 150_000 * 1_000_000_000 + 123);
    assert!(mg.neurons[0].validator_permit);

    let commitments = chain.commitments(37, &head).await.unwrap();
    assert_eq!(commitments.len(), 2, "netuid 38's commitment must not appear: {commitments:?}");
    let miner = &commitments[&hotkeys[1]];
    assert_eq!(miner.block, 4_898_100);
    assert_eq!(miner.text(), Ok(s["commitment_text"].as_str().unwrap()));
    let hashed = &commitments[&hotkeys[2]];
    assert!(matches!(hashed.fields[0], Data::Sha256(_)));
    assert!(hashed.text().unwrap_err().to_string().contains("Sha256"));

    let weights = chain.weights(37, &head).await.unwrap();
    assert_eq!(weights.len(), 2);
    assert_eq!(weights[&0], vec![(1, 65535), (2, 1000)]);
    assert_eq!(weights[&3], vec![(1, 5)]);

    let hyper = chain.hyperparameters(37, &head).await.unwrap();
    assert_eq!((hyper.weights_rate_limit, hyper.weights_version_key, hyper.tempo), (100, 1020, 360));
    assert!(!hyper.commit_reveal_enabled);
    assert_eq!((hyper.min_allowed_weights, hyper.max_weights_limit), (1, 65535));
    assert_eq!(chain.connections_opened().await, 1, "one connection for everything");
}

#[tokio::test]
async fn a_dropped_connection_is_reestablished() {
    let node = Arc::new(Node::new());
    let (addr, server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20));
    let before = chain.head().await.unwrap();
    server.stop().unwrap();
    server.stopped().await;
    let (_, server) = serve(node.clone(), &addr.to_string()).await;
    // The first call after the drop goes through subxt's storage layer, which wraps the
    // transport error; the client must still see the connection died and open a new one.
    assert_eq!(chain.commitments(37, &before).await.unwrap().len(), 2);
    assert_eq!(chain.connections_opened().await, 2);
    assert_eq!(chain.head().await.unwrap(), before);
    // And again, through the runtime-API path.
    server.stop().unwrap();
    server.stopped().await;
    let (_, _server) = serve(node.clone(), &addr.to_string()).await;
    assert_eq!(chain.metagraph(37, &before).await.unwrap().n(), 4);
    assert_eq!(chain.connections_opened().await, 3);
}

#[tokio::test]
async fn a_call_that_never_answers_times_out() {
    let node = Arc::new(Node::new());
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(2));
    let head = chain.head().await.unwrap();
    node.hang_neurons.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let err = chain.metagraph(37, &head).await.unwrap_err();
    assert!(matches!(err, ChainError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
    node.hang_neurons.store(false, Ordering::SeqCst);
    assert_eq!(chain.metagraph(37, &head).await.unwrap().n(), 4, "usable again after the timeout");
}

#[tokio::test]
async fn connection_refused_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(addr, Duration::from_secs(5)).head().await.unwrap_err();
    assert!(matches!(err, ChainError::Connection { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn weights_are_signed_submitted_and_included() {
    let node = Arc::new(Node::new());
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20)).with_hotkey(validator_hotkey());
    let included = chain.set_weights(37, &submission()).await.unwrap();
    assert_eq!(included.block.number, node.head_number + 1);
    assert_eq!(included.block.hash.to_string(), node.included_hash);
    let submitted = node.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    let fx: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("set_weights_extrinsic.json")).unwrap()).unwrap();
    let call = fx["call_data"].as_str().unwrap().trim_start_matches("0x");
    assert!(submitted[0].ends_with(call), "the submitted extrinsic carries Python's set_weights call bytes");
    let signer = hex::encode(validator_hotkey().account().0);
    assert!(submitted[0].contains(&signer));
}

#[tokio::test]
async fn setting_weights_too_fast_is_reported_by_name() {
    let node = Arc::new(Node::new());
    *node.verdict.lock().unwrap() = Verdict::TooFast;
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20)).with_hotkey(validator_hotkey());
    let err = chain.set_weights(37, &submission()).await.unwrap_err();
    match &err {
        SetWeightsError::Dispatch { pallet, error, docs } => {
            assert_eq!((pallet.as_str(), error.as_str()), ("SubtensorModule", "SettingWeightsTooFast"));
            assert!(docs.contains("rate limit"), "{docs}");
        }
        other => panic!("expected a dispatch error, got {other:?}"),
    }
    assert_eq!(err.dispatch_error_name(), Some("SettingWeightsTooFast"));
}

#[tokio::test]
async fn pool_rejection_is_named() {
    let node = Arc::new(Node::new());
    *node.verdict.lock().unwrap() = Verdict::PoolRejects;
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20)).with_hotkey(validator_hotkey());
    let err = chain.set_weights(37, &submission()).await.unwrap_err();
    assert!(matches!(err, SetWeightsError::PoolRejected(_)), "{err:?}");
    assert!(err.to_string().contains("RateLimitExceeded"), "{err}");
}

#[tokio::test]
async fn nothing_is_sent_when_the_chain_would_refuse() {
    let node = Arc::new(Node::new());
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20)).with_hotkey(validator_hotkey());

    node.set_variant("LastUpdate", "recent");
    match chain.set_weights(37, &submission()).await {
        Err(SetWeightsError::TooSoon { blocks_left, rate_limit, .. }) => {
            assert_eq!((blocks_left, rate_limit), (90, 100))
        }
        other => panic!("expected TooSoon, got {other:?}"),
    }
    node.set_variant("CommitRevealWeightsEnabled", "true");
    let err = chain.set_weights(37, &submission()).await.unwrap_err();
    assert!(matches!(err, SetWeightsError::CommitRevealRequired { netuid: 37 }), "{err:?}");
    assert!(err.to_string().contains("commit-reveal"), "{err}");

    let low = WeightsSubmission { version_key: 1019, ..submission() };
    let fresh = Arc::new(Node::new());
    let (addr2, _server2) = serve(fresh.clone(), "127.0.0.1:0").await;
    let chain2 = client(addr2, Duration::from_secs(20)).with_hotkey(validator_hotkey());
    assert!(matches!(
        chain2.set_weights(37, &low).await,
        Err(SetWeightsError::VersionKeyTooLow { given: 1019, required: 1020 })
    ));
    let bad = WeightsSubmission { uids: vec![0, 9], weights: vec![1, 2], version_key: 1020 };
    assert!(chain2.set_weights(37, &bad).await.unwrap_err().to_string().contains("UidVecContainInvalidOne"));
    let stranger = client(addr2, Duration::from_secs(20)).with_hotkey(Hotkey::from_seed_bytes([77; 32]));
    assert!(matches!(stranger.set_weights(37, &submission()).await, Err(SetWeightsError::NotRegistered { .. })));
    let nobody = client(addr2, Duration::from_secs(20));
    assert!(matches!(nobody.set_weights(37, &submission()).await, Err(SetWeightsError::NoHotkey)));

    assert!(node.submitted.lock().unwrap().is_empty() && fresh.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn chain_info_snapshot_reads_one_block() {
    let node = Arc::new(Node::new());
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20));
    let snap = chain::cli::snapshot(&chain, 37).await.unwrap();
    assert_eq!(snap.block.number, node.head_number);
    assert_eq!(snap.metagraph.block, snap.block);
    assert_eq!((snap.metagraph.n(), snap.commitments.len()), (4, 2));
    assert_eq!(snap.hyperparameters.weights_version_key, 1020);
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["block"]["hash"], node.head_hash.as_str());
}
