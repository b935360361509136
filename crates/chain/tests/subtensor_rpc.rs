//! The subxt client against a JSON-RPC server on 127.0.0.1 that speaks the legacy substrate
//! methods with real finney metadata (spec 219) and storage, runtime-API and event values made
//! by PyPI bittensor (`fixtures/scale_vectors.json`).

mod common;

use chain::{AccountId, Chain, ChainError, Data, Hotkey, SetWeightsError, WeightsSubmission};
use common::*;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

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
