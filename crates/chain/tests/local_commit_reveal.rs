//! Commit-reveal on the local chain, the way `localnet` runs it: weights committed timelocked,
//! revealed by the chain at the reveal round with its local beacon, read back through
//! `Chain::weights` as the chain stores them (max-upscaled); nothing visible before; a restart
//! in between changes nothing; the hash path with the validator revealing; the limits; and the
//! agreement snapshot with vtrust on a hand-computed subnet.

use chain::agreement::{vtrust_estimate, StakeSource};
use chain::local::{local_round_for_block, LocalChain, LocalChainConfig};
use chain::{
    AccountId, Chain, Hyperparameters, RevealOutcome, SetWeightsError, Submitted, WeightsPath, WeightsSubmission,
};
use std::path::Path;
use std::time::Duration;
use weights_commit::reveal_round::legacy_epoch;
use weights_commit::EpochModel;

const NETUID: u16 = 37;
const TEMPO: u16 = 20;
/// Long blocks: the clock only moves when the test advances it.
const BLOCK_MS: u64 = 12_000;

fn key(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn weights(uids: &[u16], w: &[u16]) -> WeightsSubmission {
    WeightsSubmission { uids: uids.to_vec(), weights: w.to_vec(), version_key: 7 }
}

fn commit_reveal_on() -> Hyperparameters {
    Hyperparameters {
        tempo: TEMPO,
        weights_rate_limit: 5,
        weights_version_key: 7,
        commit_reveal_enabled: true,
        reveal_period_epochs: Some(1),
        ..Default::default()
    }
}

/// Subnet 37 with commit-reveal on: validator uid 0 (hotkey 1), miners 1..=3.
fn subnet(path: &Path) -> LocalChain {
    let chain = LocalChain::create(
        path,
        &LocalChainConfig { chain_id: "cr-test".into(), block_time: Duration::from_millis(BLOCK_MS) },
    )
    .unwrap();
    chain.set_hyperparameters(NETUID, commit_reveal_on()).unwrap();
    chain.register(NETUID, key(1), key(100), 1000.0, true).unwrap();
    for n in 2..=4 {
        chain.register(NETUID, key(n), key(100), 0.0, false).unwrap();
    }
    chain.advance(1).unwrap();
    chain.with_signer(key(1))
}

fn first_block_of_epoch(epoch: u64) -> u64 {
    epoch * (u64::from(TEMPO) + 1) - (u64::from(NETUID) + 1)
}

#[tokio::test]
async fn weights_committed_timelocked_are_revealed_at_their_round_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let chain = subnet(&dir.path().join("chain.json"));
    let head = chain.head().await.unwrap();
    let mode = chain.weights_mode(NETUID, &head).await.unwrap();
    assert_eq!((mode.path, mode.epoch_model), (WeightsPath::Timelocked, EpochModel::Legacy));

    let refused = chain.set_weights(NETUID, &weights(&[1], &[65535])).await.unwrap_err();
    assert!(matches!(refused, SetWeightsError::CommitRevealRequired { netuid: NETUID }), "{refused:?}");

    // Not max-normalised on purpose: the chain upscales what it reveals.
    let submitted = chain.submit_weights(NETUID, &weights(&[1, 3], &[30_000, 15_000])).await.unwrap();
    let Submitted::CommittedTimelocked { included, commit } = submitted else { panic!("{submitted:?}") };
    let commit_block = included.block.number;
    assert_eq!(commit_block, head.number);
    let commit_epoch = legacy_epoch(TEMPO, NETUID, commit_block);
    assert_eq!((commit.plan.commit_epoch, commit.plan.reveal_epoch), (commit_epoch, commit_epoch + 1));
    let reveal_block = first_block_of_epoch(commit_epoch + 1);
    assert_eq!((commit.plan.reveal_block, commit.plan.target_block), (reveal_block, reveal_block + 3));
    // 12 s blocks carry four 3 s rounds: the round aimed at block t is 4t, published at block t.
    assert_eq!(commit.plan.reveal_round, 4 * (reveal_block + 3));
    assert_eq!(commit.plan.reveal_round, local_round_for_block(reveal_block + 3, BLOCK_MS));
    assert_eq!(chain.pending_commits(NETUID).unwrap().len(), 1);

    // The commit is the validator's LastUpdate.
    let mg = chain.metagraph(NETUID, &chain.head().await.unwrap()).await.unwrap();
    assert_eq!(mg.neurons[0].last_update, commit_block);

    // Too early: up to the block before the round's, nothing is revealed.
    chain.advance(reveal_block + 2 - commit_block).unwrap();
    let before = chain.head().await.unwrap();
    assert_eq!(before.number, reveal_block + 2);
    assert!(chain.weights(NETUID, &before).await.unwrap().is_empty(), "nothing revealed before the round");
    assert_eq!(chain.pending_commits(NETUID).unwrap().len(), 1);

    chain.advance(1).unwrap();
    let at_round = chain.head().await.unwrap();
    let rows = chain.weights(NETUID, &at_round).await.unwrap();
    // 30000 is the max → 65535; 15000 × 65535 / 30000 = 32767.5 → 32768.
    assert_eq!(rows[&0], vec![(1, 65_535), (3, 32_768)]);
    assert!(chain.pending_commits(NETUID).unwrap().is_empty());
    let log = chain.reveal_log(NETUID).unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].revealed && log[0].reason.is_none());
    assert_eq!((log[0].block, log[0].reveal_round), (reveal_block + 3, Some(commit.plan.reveal_round)));
    // History: the row is there from the reveal block on, not before.
    assert!(chain.weights(NETUID, &before).await.unwrap().is_empty());
    // The reveal does not move LastUpdate: that stays the commit's block.
    let mg = chain.metagraph(NETUID, &at_round).await.unwrap();
    assert_eq!(mg.neurons[0].last_update, commit_block);
}

#[tokio::test]
async fn a_restart_between_commit_and_reveal_still_reveals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.json");
    let commit = {
        let chain = subnet(&path);
        match chain.submit_weights(NETUID, &weights(&[2], &[65_535])).await.unwrap() {
            Submitted::CommittedTimelocked { commit, .. } => commit,
            other => panic!("{other:?}"),
        }
    };
    // A new process: nothing but the file.
    let reopened = LocalChain::open(&path).unwrap();
    reopened.advance(commit.plan.target_block + 1 - reopened.head().await.unwrap().number).unwrap();
    let head = reopened.head().await.unwrap();
    assert_eq!(reopened.weights(NETUID, &head).await.unwrap()[&0], vec![(2, 65_535)]);
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(state["beacon_seed"].as_str().unwrap().len(), 64, "the beacon seed is kept in the state file");
}

#[tokio::test]
async fn commits_respect_the_rate_limit_and_the_unrevealed_limit() {
    let dir = tempfile::tempdir().unwrap();
    let chain = subnet(&dir.path().join("chain.json"));
    chain.submit_weights(NETUID, &weights(&[1], &[65_535])).await.unwrap();
    match chain.submit_weights(NETUID, &weights(&[1], &[65_535])).await {
        Err(SetWeightsError::TooSoon { blocks_left: 5, rate_limit: 5, .. }) => {}
        other => panic!("expected TooSoon, got {other:?}"),
    }
    let low = WeightsSubmission { version_key: 6, ..weights(&[1], &[1]) };
    assert!(matches!(chain.submit_weights(NETUID, &low).await, Err(SetWeightsError::VersionKeyTooLow { .. })));

    // Without a rate limit, ten commits fit in one epoch and the eleventh does not.
    let dir = tempfile::tempdir().unwrap();
    let chain = subnet(&dir.path().join("chain.json"));
    chain.set_hyperparameters(NETUID, Hyperparameters { weights_rate_limit: 0, ..commit_reveal_on() }).unwrap();
    let head = chain.head().await.unwrap().number;
    // Start at an epoch's first block so that all eleven land in one epoch.
    let epoch_start = first_block_of_epoch(legacy_epoch(TEMPO, NETUID, head) + 1);
    chain.advance(epoch_start - head).unwrap();
    for _ in 0..10 {
        chain.submit_weights(NETUID, &weights(&[1], &[65_535])).await.unwrap();
        chain.advance(1).unwrap();
    }
    match chain.submit_weights(NETUID, &weights(&[1], &[65_535])).await {
        Err(SetWeightsError::TooManyUnrevealedCommits { count: 10, .. }) => {}
        other => panic!("expected TooManyUnrevealedCommits, got {other:?}"),
    }
}

#[tokio::test]
async fn hash_commits_are_revealed_by_the_validator_in_their_epoch_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.json");
    let chain = subnet(&path);
    chain.set_hash_commits_only(NETUID, true).unwrap();
    let head = chain.head().await.unwrap();
    assert_eq!(chain.weights_mode(NETUID, &head).await.unwrap().path, WeightsPath::HashCommit);

    let submitted = chain.submit_weights(NETUID, &weights(&[1, 2], &[65_535, 100])).await.unwrap();
    let Submitted::CommittedHash { pending, .. } = submitted else { panic!("{submitted:?}") };
    // What the validator persists, and reads back after its own restart.
    let record = dir.path().join("pending.json");
    std::fs::write(&record, serde_json::to_vec(&pending).unwrap()).unwrap();
    let pending: chain::PendingReveal = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();

    let due = match chain.reveal_pending(&pending).await.unwrap() {
        RevealOutcome::NotYet { due_at_block: Some(due), reveal_epoch, .. } => {
            assert_eq!(reveal_epoch, pending.commit_epoch + 1);
            due
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(due, first_block_of_epoch(pending.reveal_epoch));
    let reopened = LocalChain::open(&path).unwrap().with_signer(key(1));
    reopened.advance(due - reopened.head().await.unwrap().number).unwrap();
    let outcome = reopened.reveal_pending(&pending).await.unwrap();
    let RevealOutcome::Revealed { included } = outcome else { panic!("{outcome:?}") };
    assert_eq!(reopened.weights(NETUID, &included.block).await.unwrap()[&0], vec![(1, 65_535), (2, 100)]);
    // Revealing twice finds no commit.
    let again = reopened.reveal_pending(&pending).await.unwrap_err();
    assert_eq!(again.dispatch_error_name(), Some("InvalidRevealCommitHashNotMatch"));

    // A commit left unrevealed past its epoch expires.
    reopened.advance(5).unwrap();
    let Submitted::CommittedHash { pending: late, .. } =
        reopened.submit_weights(NETUID, &weights(&[3], &[65_535])).await.unwrap()
    else {
        panic!()
    };
    let head = reopened.head().await.unwrap().number;
    reopened.advance(first_block_of_epoch(late.reveal_epoch + 1) - head).unwrap();
    assert!(matches!(reopened.reveal_pending(&late).await.unwrap(), RevealOutcome::Expired { .. }));
    let log = reopened.reveal_log(NETUID).unwrap();
    assert!(log.iter().any(|r| !r.revealed && r.reason.as_deref().is_some_and(|why| why.contains("expired"))));
}

#[tokio::test]
async fn commit_reveal_off_submits_directly() {
    let dir = tempfile::tempdir().unwrap();
    let chain = subnet(&dir.path().join("chain.json"));
    chain.set_hyperparameters(NETUID, Hyperparameters { commit_reveal_enabled: false, ..commit_reveal_on() }).unwrap();
    let submitted = chain.submit_weights(NETUID, &weights(&[1, 2], &[2, 1])).await.unwrap();
    let Submitted::Set { included } = submitted else { panic!("{submitted:?}") };
    assert_eq!(chain.weights(NETUID, &included.block).await.unwrap()[&0], vec![(1, 65_535), (2, 32_768)]);
}

#[tokio::test]
async fn vtrust_is_estimated_from_the_local_chains_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let chain = LocalChain::create(
        &dir.path().join("chain.json"),
        &LocalChainConfig { chain_id: "agree".into(), block_time: Duration::from_millis(BLOCK_MS) },
    )
    .unwrap();
    chain.set_hyperparameters(NETUID, Hyperparameters { weights_rate_limit: 0, ..Default::default() }).unwrap();
    chain.register(NETUID, key(1), key(100), 3000.0, true).unwrap(); // A, uid 0
    chain.register(NETUID, key(2), key(100), 1000.0, true).unwrap(); // B, uid 1
    chain.register(NETUID, key(3), key(100), 0.0, false).unwrap(); // miner, uid 2
    chain.register(NETUID, key(4), key(100), 0.0, false).unwrap(); // miner, uid 3
    chain.advance(1).unwrap();
    let a = chain.clone().with_signer(key(1));
    let b = chain.clone().with_signer(key(2));
    a.submit_weights(NETUID, &weights(&[2, 3], &[65_535, 65_535])).await.unwrap();
    b.submit_weights(NETUID, &weights(&[2], &[65_535])).await.unwrap();

    let head = chain.head().await.unwrap();
    let snap = chain.agreement_snapshot(NETUID, &head).await.unwrap();
    assert_eq!(snap.stake_source, StakeSource::NeuronStake);
    assert_eq!((snap.chain_validator_trust.clone(), snap.inputs.kappa), (None, 32_767));
    assert_eq!(snap.uid_of(&key(2)), Some(1));
    // Stakes 3:1. Miner 2: A gives ½ (¾ of the stake), B gives 1 → consensus ½. Miner 3: A ½,
    // B 0 → consensus ½. A keeps all of its row, B half of it.
    let a_trust = vtrust_estimate(&snap, 0, Some(&[(2, 65_535)])).unwrap();
    assert!((a_trust.set - 1.0).abs() < 1e-12, "{a_trust:?}");
    let b_trust = vtrust_estimate(&snap, 1, None).unwrap();
    assert!((b_trust.set - 0.5).abs() < 1e-12, "{b_trust:?}");
    // A moving all its weight to miner 2: ½ of it is above the present consensus there.
    assert!((a_trust.about_to_set.unwrap() - 0.5).abs() < 1e-12);
    // With A's new row in place both validators give miner 2 everything: consensus 1.
    assert!((a_trust.about_to_set_in_place.unwrap() - 1.0).abs() < 1e-12);
    let row = a_trust.about_to_set_row.unwrap();
    assert_eq!(row.miners.len(), 1);
    assert!((row.miners[0].overshoot - 0.5).abs() < 1e-12);
    assert_eq!(a_trust.chain_stored, None);
}
