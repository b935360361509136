//! The subxt client's weight paths against the JSON-RPC test node: mode detection from the
//! runtime's metadata and the subnet's storage; on real spec-219 finney metadata (no timelocked
//! calls) the hash commit and its reveal; on spec-219 metadata with today's calls spliced in
//! (`fixtures/make_timelocked_fixtures.py`) the timelocked commit, its schedule under the
//! stateful epoch model, and the refusals; call data from subxt's dynamic encoder equal to
//! Python bittensor's; and the agreement snapshot.

mod common;

use chain::agreement::{vtrust_estimate, StakeSource};
use chain::subtensor::{weights_call_data_offline, SubtensorOptions};
use chain::{Chain, RevealOutcome, SetWeightsError, Submitted, WeightsMode, WeightsPath, WeightsSubmission};
use common::*;
use parity_scale_codec::DecodeAll;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use weights_commit::beacon::quicknet_round_at;
use weights_commit::calls::commit_hash;
use weights_commit::payload::open_commit;
use weights_commit::reveal_round::legacy_epoch;
use weights_commit::{BeaconPublicKey, EpochModel, LocalBeacon, PendingReveal, WeightsCall, WeightsTlockPayload};

const NETUID: u16 = 37;
const TEMPO: u16 = 360;

fn phase1_vectors() -> Vec<Value> {
    let path = fixtures().join("../../../weights_commit/tests/fixtures/call_data.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

fn phase1(call: &str) -> (Value, Vec<u8>) {
    let v = phase1_vectors().into_iter().find(|v| v["call"] == call && v["params"]["netuid"] == 37).unwrap();
    let data = hex::decode(v["call_data_hex"].as_str().unwrap()).unwrap();
    (v["params"].clone(), data)
}

fn u16s(v: &Value) -> Vec<u16> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u16).collect()
}

fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The call at the end of a submitted extrinsic, found by its two index bytes and `netuid`.
fn call_tail(extrinsic_hex: &str, pallet: u8, call: u8) -> Vec<u8> {
    let bytes = hex::decode(extrinsic_hex.trim_start_matches("0x")).unwrap();
    let marker = [pallet, call, (NETUID & 0xff) as u8, (NETUID >> 8) as u8];
    let at = bytes.windows(4).rposition(|w| w == marker).expect("the call is in the extrinsic");
    bytes[at..].to_vec()
}

#[test]
fn dynamic_call_data_equals_what_python_bittensor_composes() {
    // Today's calls, through the spliced metadata (NetUid/MechId newtypes, BoundedVec).
    let spliced = std::fs::read(fixtures().join("finney-spec219-timelocked.scale")).unwrap();
    let (p, expected) = phase1("commit_timelocked_mechanism_weights");
    let call = WeightsCall::CommitTimelockedMechanismWeights {
        netuid: 37,
        mecid: p["mecid"].as_u64().unwrap() as u8,
        commit: hex::decode(p["commit"].as_str().unwrap()).unwrap(),
        reveal_round: p["reveal_round"].as_u64().unwrap(),
        commit_reveal_version: p["commit_reveal_version"].as_u64().unwrap() as u16,
    };
    assert_eq!(weights_call_data_offline(&spliced, 424, &call).unwrap(), expected);
    let (p, expected) = phase1("commit_timelocked_weights");
    let call = WeightsCall::CommitTimelockedWeights {
        netuid: 37,
        commit: hex::decode(p["commit"].as_str().unwrap()).unwrap(),
        reveal_round: p["reveal_round"].as_u64().unwrap(),
        commit_reveal_version: 4,
    };
    assert_eq!(weights_call_data_offline(&spliced, 424, &call).unwrap(), expected);

    // The hash path through real spec-219 finney metadata.
    let finney = std::fs::read(fixtures().join("finney-spec219.scale")).unwrap();
    let (p, expected) = phase1("commit_weights");
    let hash: [u8; 32] = hex::decode(p["commit_hash"].as_str().unwrap()).unwrap().try_into().unwrap();
    let call = WeightsCall::CommitWeights { netuid: 37, commit_hash: hash };
    assert_eq!(weights_call_data_offline(&finney, 219, &call).unwrap(), expected);
    let (p, expected) = phase1("reveal_weights");
    let call = WeightsCall::RevealWeights {
        netuid: 37,
        uids: u16s(&p["uids"]),
        values: u16s(&p["values"]),
        salt: u16s(&p["salt"]),
        version_key: p["version_key"].as_u64().unwrap(),
    };
    assert_eq!(weights_call_data_offline(&finney, 219, &call).unwrap(), expected);

    // Spec 219 has no timelocked call: the encoder says so rather than inventing bytes.
    let missing =
        WeightsCall::CommitTimelockedWeights { netuid: 37, commit: vec![1], reveal_round: 1, commit_reveal_version: 4 };
    assert!(weights_call_data_offline(&finney, 219, &missing).is_err());
}

#[tokio::test]
async fn modes_are_read_from_the_runtime_and_the_subnet() {
    let plain = Arc::new(Node::new());
    let (addr, _s1) = serve(plain.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20));
    let head = chain.head().await.unwrap();
    let mode = chain.weights_mode(NETUID, &head).await.unwrap();
    assert_eq!((mode.path, mode.spec_version, mode.epoch_model), (WeightsPath::Direct, 219, EpochModel::Legacy));

    plain.set_variant("CommitRevealWeightsEnabled", "true");
    let mode = chain.weights_mode(NETUID, &head).await.unwrap();
    assert_eq!(mode.path, WeightsPath::HashCommit, "spec 219 offers no timelocked call");
    assert_eq!((mode.submit_call(), mode.reveal_period_epochs, mode.tempo), ("commit_weights", 1, TEMPO));

    let today = Arc::new(Node::timelocked());
    let (addr, _s2) = serve(today.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20));
    let mode: WeightsMode = chain.weights_mode(NETUID, &head).await.unwrap();
    assert_eq!(mode.path, WeightsPath::Timelocked);
    assert_eq!(mode.submit_call(), "commit_timelocked_mechanism_weights");
    assert_eq!((mode.epoch_model, mode.spec_version, mode.commit_reveal_version), (EpochModel::Stateful, 424, 4));
}

#[tokio::test]
async fn spec_219_under_commit_reveal_commits_a_hash_and_reveals_it_in_its_epoch() {
    let node = Arc::new(Node::new());
    node.set_variant("CommitRevealWeightsEnabled", "true");
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20)).with_hotkey(validator_hotkey());
    let hotkey = validator_hotkey().account();

    let plain = chain.set_weights(NETUID, &submission()).await.unwrap_err();
    assert!(matches!(plain, SetWeightsError::CommitRevealRequired { .. }), "{plain:?}");

    let submitted = chain.submit_weights(NETUID, &submission()).await.unwrap();
    let Submitted::CommittedHash { included, pending } = submitted.clone() else { panic!("{submitted:?}") };
    let inclusion = node.head_number + 1;
    assert_eq!(included.block.number, inclusion);
    assert_eq!(pending.commit_block, inclusion);
    assert_eq!(pending.commit_epoch, legacy_epoch(TEMPO, NETUID, inclusion));
    assert_eq!(pending.reveal_epoch, pending.commit_epoch + 1);
    let s = submission();
    assert_eq!((pending.uids.clone(), pending.values.clone(), pending.version_key), (s.uids, s.weights, s.version_key));
    assert_eq!(pending.salt.len(), 8);
    // The hash the chain will recompute at the reveal, with Python-checked hashing.
    let expected_hash = commit_hash(&hotkey.0, NETUID, &pending.uids, &pending.values, &pending.salt, 1020);
    assert_eq!(pending.commit_hash, expected_hash);
    let sent = node.submitted.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let mut expected_call = vec![7u8, 96];
    expected_call.extend(parity_scale_codec::Encode::encode(&(NETUID, expected_hash)));
    assert_eq!(call_tail(&sent[0], 7, 96), expected_call, "commit_weights(netuid, hash) ends the extrinsic");
    // What the validator persists round-trips.
    let json = serde_json::to_string(&submitted).unwrap();
    assert_eq!(serde_json::from_str::<Submitted>(&json).unwrap(), submitted);

    // The reveal: the head (4,898,328) is in the epoch of its next block, so a commit whose
    // reveal epoch is that one is due, one epoch later is not yet, one earlier has expired.
    let now_epoch = legacy_epoch(TEMPO, NETUID, node.head_number + 1);
    let at_epoch =
        |reveal_epoch: u64| PendingReveal { reveal_epoch, commit_epoch: reveal_epoch - 1, ..pending.clone() };
    match chain.reveal_pending(&at_epoch(now_epoch + 1)).await.unwrap() {
        RevealOutcome::NotYet { due_at_block, current_epoch, .. } => {
            assert_eq!(current_epoch, now_epoch);
            let due = due_at_block.unwrap();
            assert_eq!(
                (legacy_epoch(TEMPO, NETUID, due), legacy_epoch(TEMPO, NETUID, due - 1)),
                (now_epoch + 1, now_epoch)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(chain.reveal_pending(&at_epoch(now_epoch - 1)).await.unwrap(), RevealOutcome::Expired { .. }));
    assert_eq!(node.submitted.lock().unwrap().len(), 1, "nothing sent when not due");
    let revealed = chain.reveal_pending(&at_epoch(now_epoch)).await.unwrap();
    assert!(matches!(revealed, RevealOutcome::Revealed { .. }), "{revealed:?}");
    let sent = node.submitted.lock().unwrap().clone();
    let reveal = pending.reveal_call(false).unwrap().call_data().unwrap();
    assert_eq!(call_tail(&sent[1], 7, 97), reveal, "reveal_weights with the committed uids, values, salt");

    // A tampered record or another hotkey's record is refused before anything is sent.
    let mut tampered = at_epoch(now_epoch);
    tampered.values[0] = 1;
    assert!(chain.reveal_pending(&tampered).await.unwrap_err().to_string().contains("corrupted"));
    let stranger = client(addr, Duration::from_secs(20)).with_hotkey(chain::Hotkey::from_seed_bytes([9; 32]));
    assert!(matches!(stranger.reveal_pending(&at_epoch(now_epoch)).await, Err(SetWeightsError::WrongHotkey { .. })));
    assert_eq!(node.submitted.lock().unwrap().len(), 2);
}

fn timelocked_client(addr: std::net::SocketAddr, beacon: Option<BeaconPublicKey>) -> chain::Subtensor {
    let mut options = SubtensorOptions::new(format!("ws://{addr}"));
    options.call_timeout = Duration::from_secs(20);
    options.inclusion_timeout = Duration::from_secs(20);
    if let Some(key) = beacon {
        options.timelock_beacon = key;
    }
    chain::Subtensor::new(options).with_hotkey(validator_hotkey())
}

#[tokio::test]
async fn a_timelocked_commit_is_sealed_for_the_stateful_schedule_and_sent_as_call_118() {
    assert_eq!(SubtensorOptions::new("ws://x").timelock_beacon, BeaconPublicKey::quicknet());
    let node = Arc::new(Node::timelocked());
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    // A beacon whose rounds this test can sign, so that it can open what was sent.
    let beacon = LocalBeacon::from_seed([21; 32]);
    let chain = timelocked_client(addr, Some(beacon.public_key()));
    let v = timelocked_vectors();
    let schedule = &v["timelocked"]["schedule"];
    let last_epoch_block = schedule["last_epoch_block"].as_u64().unwrap();
    let index = schedule["subnet_epoch_index"].as_u64().unwrap();

    let before = now_unix();
    let submitted = chain.submit_weights(NETUID, &submission()).await.unwrap();
    let after = now_unix();
    let Submitted::CommittedTimelocked { included, commit } = submitted else { panic!("{submitted:?}") };
    assert_eq!(included.block.number, node.head_number + 1);
    assert_eq!((commit.call.as_str(), commit.netuid, commit.mecid), ("commit_timelocked_mechanism_weights", 37, 0));
    assert_eq!(commit.epoch_model, EpochModel::Stateful);
    // Next epoch fires `tempo` blocks after the last one; the reveal epoch is the next one.
    assert_eq!((commit.plan.commit_epoch, commit.plan.reveal_epoch), (index, index + 1));
    assert_eq!(commit.plan.reveal_block, last_epoch_block + u64::from(TEMPO));
    assert_eq!(commit.plan.target_block, commit.plan.reveal_block + 3);
    let ahead = (commit.plan.target_block - node.head_number) as f64 * 12.0;
    let round = commit.plan.reveal_round;
    assert!((quicknet_round_at(before + ahead)..=quicknet_round_at(after + ahead)).contains(&round), "round {round}");

    let sent = node.submitted.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let call = call_tail(&sent[0], 7, 118);
    let (netuid, mecid, ciphertext, sent_round, version) =
        <(u16, u8, Vec<u8>, u64, u16)>::decode_all(&mut &call[2..]).unwrap();
    assert_eq!((netuid, mecid, sent_round, version), (37, 0, round, 4));
    assert_eq!(ciphertext.len(), commit.ciphertext_bytes);
    let hotkey = validator_hotkey().account();
    let s = submission();
    let payload = WeightsTlockPayload::new(hotkey.0, s.uids.clone(), s.weights.clone(), s.version_key).unwrap();
    assert_eq!(ciphertext.len(), 244 + payload.to_bytes().len());
    // The chain's side: the round's signature opens it, and it names our hotkey.
    let opened = open_commit(&ciphertext, &beacon.sign_round(round), &hotkey.0).unwrap();
    assert!(opened.hotkey_checked);
    assert_eq!((opened.uids, opened.values, opened.version_key), (s.uids, s.weights, s.version_key));
    assert_eq!(commit.payload_sha256, hex::encode(Sha256::digest(payload.to_bytes())));
    assert!(open_commit(&ciphertext, &beacon.sign_round(round - 1), &hotkey.0).is_err());
}

#[tokio::test]
async fn a_commit_the_chain_would_refuse_is_not_sent() {
    let node = Arc::new(Node::timelocked());
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = timelocked_client(addr, None);

    node.set_timelocked_variant("TimelockedWeightCommits", "ten_of_ours");
    match chain.submit_weights(NETUID, &submission()).await {
        Err(SetWeightsError::TooManyUnrevealedCommits { count: 10, epoch, .. }) => assert_eq!(epoch, 12_345),
        other => panic!("expected TooManyUnrevealedCommits, got {other:?}"),
    }

    let node = Arc::new(Node::timelocked());
    let (addr, _server2) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = timelocked_client(addr, None);
    node.set_timelocked_variant("CommitRevealWeightsVersion", "five");
    let err = chain.submit_weights(NETUID, &submission()).await.unwrap_err();
    assert!(err.to_string().contains("IncorrectCommitRevealVersion"), "{err}");

    let node = Arc::new(Node::timelocked());
    let (addr, _server3) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = timelocked_client(addr, None);
    node.set_variant("LastUpdate", "recent");
    assert!(matches!(
        chain.submit_weights(NETUID, &submission()).await,
        Err(SetWeightsError::TooSoon { blocks_left: 90, .. })
    ));
    let low = WeightsSubmission { version_key: 1, ..submission() };
    assert!(matches!(chain.submit_weights(NETUID, &low).await, Err(SetWeightsError::VersionKeyTooLow { .. })));
    assert!(node.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_agreement_snapshot_reads_what_the_epoch_reads() {
    let node = Arc::new(Node::with_agreement());
    let (addr, _server) = serve(node.clone(), "127.0.0.1:0").await;
    let chain = client(addr, Duration::from_secs(20));
    let head = chain.head().await.unwrap();
    let snap = chain.agreement_snapshot(NETUID, &head).await.unwrap();
    let v = timelocked_vectors();
    let registered: Vec<u64> =
        v["agreement"]["block_at_registration"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).collect();
    let inputs = &snap.inputs;
    assert_eq!(snap.block, head);
    assert_eq!(snap.hotkeys.len(), 4);
    assert_eq!(inputs.weights, vec![vec![(1, 65535), (2, 1000)], vec![], vec![], vec![(1, 5)]]);
    assert_eq!(inputs.block_at_registration, registered);
    assert_eq!(inputs.validator_permit, vec![true, false, false, true]);
    assert_eq!(inputs.last_update, vec![head.number - 150, 0, 0, 17]);
    assert_eq!((snap.stake_source, inputs.stake.clone()), (StakeSource::StakeWeight, vec![65535.0, 0.0, 0.0, 481.0]));
    assert_eq!((inputs.kappa, inputs.activity_cutoff, inputs.current_block), (32_767, 5_000, head.number));
    assert_eq!(inputs.owner_uid, None, "spec 219 has no SubnetOwnerHotkey");
    assert_eq!(inputs.earliest_commit_block, None, "commit-reveal is off");
    assert_eq!(snap.chain_validator_trust, Some(vec![60_000, 0, 0, 0]));
    assert_eq!(snap.chain_consensus, Some(vec![0, 60_000, 0, 0]));

    // uid 3 is inactive (last update 17), so uid 0 alone decides consensus; its weight on miner 2
    // (registered at 4,898,200, after uid 0's last update at head − 150) is masked out: its
    // row is miner 1 alone, which it fully agrees with.
    let estimate = vtrust_estimate(&snap, 0, Some(&[(1, 65535), (2, 65535)])).unwrap();
    assert_eq!(estimate.set, 1.0);
    assert_eq!(estimate.chain_stored, Some(60_000.0 / 65_535.0));
    // Setting now (after miner 2 registered) keeps miner 2: half the row, consensus 0 there.
    assert_eq!(estimate.about_to_set, Some(0.5));
    assert_eq!(estimate.about_to_set_in_place, Some(1.0), "in place, our own row is the consensus");
}
