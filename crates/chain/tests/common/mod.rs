//! The JSON-RPC test node: a jsonrpsee server on 127.0.0.1 speaking the legacy substrate
//! methods with real finney metadata (spec 219, or spec 219 with today's weight-commit calls
//! spliced in) and storage, runtime-API and event values made by PyPI bittensor.

#![allow(dead_code)]

use chain::subtensor::{Subtensor, SubtensorOptions};
use chain::{Hotkey, WeightsSubmission};
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule, Server, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("scale_vectors.json")).unwrap()).unwrap()
}

pub fn hexed(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

#[derive(Clone, Copy, PartialEq)]
pub enum Verdict {
    Success,
    TooFast,
    PoolRejects,
}

/// What the fake node serves and what it saw.
pub struct Node {
    pub genesis: String,
    pub head_number: u64,
    pub head_hash: String,
    pub included_hash: String,
    pub storage: Mutex<BTreeMap<String, String>>,
    pub neurons: String,
    pub runtime_version: String,
    pub metadata: Vec<u8>,
    pub events_failed: String,
    pub events_success: String,
    pub events_key: String,
    pub hang_neurons: AtomicBool,
    pub verdict: Mutex<Verdict>,
    pub submitted: Mutex<Vec<String>>,
}

impl Node {
    pub fn new() -> Node {
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

    pub fn set_variant(&self, item: &str, variant: &str) {
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

pub fn module(node: Arc<Node>) -> RpcModule<Arc<Node>> {
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

pub async fn serve(node: Arc<Node>, addr: &str) -> (SocketAddr, ServerHandle) {
    let server = Server::builder().build(addr).await.unwrap();
    let local = server.local_addr().unwrap();
    (local, server.start(module(node)))
}

pub fn client(addr: SocketAddr, call_timeout: Duration) -> Subtensor {
    let mut options = SubtensorOptions::new(format!("ws://{addr}"));
    options.call_timeout = call_timeout;
    options.connect_timeout = Duration::from_secs(10);
    options.inclusion_timeout = Duration::from_secs(20);
    Subtensor::new(options)
}

pub fn validator_hotkey() -> Hotkey {
    Hotkey::from_keyfile(&fixtures().join("wallets/fixture/hotkeys/phrase")).unwrap()
}

pub fn submission() -> WeightsSubmission {
    WeightsSubmission { uids: vec![0, 1, 3], weights: vec![65535, 1000, 1], version_key: 1020 }
}

pub fn timelocked_vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("timelocked_vectors.json")).unwrap()).unwrap()
}

fn merge(node: &Node, storage: &Value) {
    let mut map = node.storage.lock().unwrap();
    for (k, v) in storage.as_object().unwrap() {
        map.insert(k.clone(), v.as_str().unwrap().to_owned());
    }
}

impl Node {
    /// The spec-219 subnet plus what the agreement monitor reads.
    pub fn with_agreement() -> Node {
        let node = Node::new();
        merge(&node, &timelocked_vectors()["agreement"]["storage"]);
        node
    }

    /// Today's runtime (spec 424, timelocked and mechanism calls, stateful epochs) with
    /// commit-reveal on for subnet 37.
    pub fn timelocked() -> Node {
        let v = timelocked_vectors();
        let t = &v["timelocked"];
        let mut node = Node::new();
        node.metadata = std::fs::read(fixtures().join("finney-spec219-timelocked.scale")).unwrap();
        node.runtime_version = t["runtime_version_hex"].as_str().unwrap().into();
        merge(&node, &t["storage"]);
        node
    }

    /// Puts a variant of `timelocked_vectors.json` in storage.
    pub fn set_timelocked_variant(&self, item: &str, variant: &str) {
        let v = timelocked_vectors();
        let entry = &v["timelocked"]["variants"][item];
        self.storage
            .lock()
            .unwrap()
            .insert(entry["key"].as_str().unwrap().into(), entry[variant].as_str().unwrap().into());
    }
}
