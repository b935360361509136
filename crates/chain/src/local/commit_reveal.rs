//! Commit-reveal on the local chain, as subtensor runs it, with a local beacon standing in for
//! drand quicknet.
//!
//! - **Epochs**: subtensor's fixed windows before v3.4.8 ([`EpochModel::Legacy`]): block `b` is
//!   in epoch `(b + netuid + 1) / (tempo + 1)`.
//! - **Rounds**: the beacon publishes round 1 at genesis and one round every
//!   [`LOCAL_ROUND_PERIOD_MS`] of chain time (`block × block_time`), so the newest round at
//!   block `b` is `b × block_time / 3 s + 1` ([`local_round_published_at`]), and like
//!   quicknet's the mapping moves with the chain's clock (also when tests `advance` it).
//!   A commit aimed at block `t` is sealed for round `t × block_time / 3 s`
//!   ([`local_round_for_block`]), the analogue of bittensor-drand's round for a wall-clock time.
//! - **Commit**: `submit_weights` builds the same `commit_timelocked_mechanism_weights` call
//!   data a validator sends to subtensor (the weights_commit crate, sealed for the local
//!   beacon's key), then decodes and checks it as the runtime would: commit-reveal version,
//!   round not already published, rate limit (the commit sets `LastUpdate`), at most 10
//!   unrevealed commits per epoch.
//! - **Reveal**: in epoch `commit_epoch + RevealPeriodEpochs`, at the first block whose
//!   published round reaches the commit's round, the chain signs that round, decrypts, checks
//!   the payload's hotkey, the vectors and the version key, and stores the max-upscaled row at
//!   that block. A round not published before the reveal epoch ends drops the commit, as on
//!   subtensor. Reveals are applied lazily, by the first operation that sees their block has
//!   come, at the block they belong to; the beacon seed lives in the state file, so a restart
//!   in between changes nothing.
//! - **Hash commits** ([`LocalChain::set_hash_commits_only`]): the runtime then offers only
//!   `commit_weights`/`reveal_weights`, accepted in the one reveal epoch with the exact salt.

use super::{LocalChain, State, Subnet};
use crate::account::{AccountId, Block};
use crate::agreement::{AgreementSnapshot, StakeSource};
use crate::error::{ChainError, SetWeightsError};
use crate::mode::{decide, RuntimeWeightCalls, WeightsMode, WeightsPath};
use crate::rules::{check_commit_permission, check_permission, check_vectors, WeightsSubmission};
use crate::submission::{legacy_epoch_start, reveal_status, RevealOutcome, Submitted, TimelockedCommitRecord};
use crate::{PendingReveal, WeightsIncluded};
use consensus::EpochInputs;
use parity_scale_codec::DecodeAll;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use weights_commit::calls::{WeightsCall, SUBTENSOR_PALLET_INDEX};
use weights_commit::payload::open_commit;
use weights_commit::pending::{random_salt, DEFAULT_SALT_LEN};
use weights_commit::reveal_round::{legacy_epoch, legacy_reveal_plan, LegacyEpochInputs};
use weights_commit::{timelocked_commit, EpochModel, LocalBeacon, RevealPlan, WeightsTlockPayload};

/// Chain time between two local beacon rounds, as quicknet's period.
pub const LOCAL_ROUND_PERIOD_MS: u64 = 3_000;
const MAX_UNREVEALED_COMMITS: usize = 10;

/// The newest round the local beacon has published by block `block`.
pub fn local_round_published_at(block: u64, block_time_ms: u64) -> u64 {
    block.saturating_mul(block_time_ms) / LOCAL_ROUND_PERIOD_MS + 1
}

/// The round a commit aimed at block `block` is sealed for.
pub fn local_round_for_block(block: u64, block_time_ms: u64) -> u64 {
    (block.saturating_mul(block_time_ms) / LOCAL_ROUND_PERIOD_MS).max(1)
}

/// The first block by which `round` is published.
fn first_block_with_round(round: u64, block_time_ms: u64) -> u64 {
    round.saturating_sub(1).saturating_mul(LOCAL_ROUND_PERIOD_MS).div_ceil(block_time_ms.max(1))
}

/// A weight commit waiting for its reveal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCommit {
    pub hotkey: AccountId,
    pub uid: u16,
    pub commit_block: u64,
    pub commit_epoch: u64,
    pub reveal_epoch: u64,
    pub kind: LocalCommitKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LocalCommitKind {
    /// Sealed for the local beacon's `reveal_round`; `ciphertext` is hex.
    Timelocked { reveal_round: u64, ciphertext: String },
    /// A CR v2 commit hash, hex.
    Hash { hash: String },
}

/// What became of a commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealRecord {
    pub hotkey: AccountId,
    pub commit_block: u64,
    pub reveal_epoch: u64,
    pub reveal_round: Option<u64>,
    /// The block the weights were applied at, or the commit dropped at.
    pub block: u64,
    pub revealed: bool,
    /// Why it was dropped.
    pub reason: Option<String>,
}

/// The weight calls of the local runtime.
fn runtime(subnet: &Subnet) -> RuntimeWeightCalls {
    let timelocked = !subnet.hash_commits_only;
    RuntimeWeightCalls {
        spec_version: 0,
        set_weights: true,
        commit_weights: true,
        reveal_weights: true,
        commit_mechanism_weights: true,
        reveal_mechanism_weights: true,
        commit_timelocked_weights: timelocked,
        commit_timelocked_mechanism_weights: timelocked,
        subnet_epoch_index: false,
    }
}

pub(super) fn mode(netuid: u16, subnet: &Subnet) -> Result<WeightsMode, SetWeightsError> {
    Ok(decide(netuid, &subnet.hyperparameters, &runtime(subnet))?)
}

fn beacon_seed(state: &mut State) -> Result<[u8; 32], String> {
    if let Some(text) = &state.beacon_seed {
        let bytes = hex::decode(text).map_err(|e| format!("beacon seed is not hex: {e}"))?;
        return bytes.try_into().map_err(|b: Vec<u8>| format!("beacon seed is {} bytes, not 32", b.len()));
    }
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    state.beacon_seed = Some(hex::encode(seed));
    Ok(seed)
}

fn dispatch(error: &str, docs: impl Into<String>) -> SetWeightsError {
    SetWeightsError::Dispatch { pallet: "SubtensorModule".into(), error: error.into(), docs: docs.into() }
}

fn commit_error(e: impl std::fmt::Display) -> SetWeightsError {
    SetWeightsError::Commit(e.to_string())
}

/// `submit_weights` on the local chain: direct, timelocked or hash, as the subnet requires.
pub(super) fn submit(
    chain: &LocalChain,
    state: &mut State,
    netuid: u16,
    hotkey: AccountId,
    submission: &WeightsSubmission,
) -> Result<Submitted, SetWeightsError> {
    let head = state.head_number();
    let block = state.block(head);
    let block_time_ms = state.block_time_ms;
    let included = WeightsIncluded { block, extrinsic_hash: None };
    let seed = beacon_seed(state).map_err(|reason| chain.err(reason))?;
    let subnet = state.subnets.get_mut(&netuid).ok_or_else(|| chain.err(format!("subnet {netuid} does not exist")))?;
    let mode = mode(netuid, subnet)?;
    tracing::info!("{mode}");
    let uid = subnet.uid_of(&hotkey).ok_or(SetWeightsError::NotRegistered { hotkey, netuid })?;
    check_vectors(submission, subnet.neurons.len())?;
    let hyper = subnet.hyperparameters.clone();
    let last_update = subnet.last_update(uid, head);
    if mode.path == WeightsPath::Direct {
        check_permission(netuid, submission, &hyper, last_update, head)?;
        subnet.apply_weights(uid, submission, head, false)?;
        return Ok(Submitted::Set { included });
    }
    check_commit_permission(netuid, submission, &hyper, last_update, head)?;
    if hyper.tempo == 0 {
        return Err(commit_error("tempo is 0: the subnet runs no epochs, a commit would never be revealed"));
    }
    let commit_epoch = legacy_epoch(hyper.tempo, netuid, head);
    let unrevealed =
        subnet.pending_commits.iter().filter(|c| c.hotkey == hotkey && c.commit_epoch == commit_epoch).count();
    if unrevealed >= MAX_UNREVEALED_COMMITS {
        return Err(SetWeightsError::TooManyUnrevealedCommits {
            hotkey,
            netuid,
            epoch: commit_epoch,
            count: unrevealed,
        });
    }
    let reveal_epoch = commit_epoch + mode.reveal_period_epochs;
    if mode.path == WeightsPath::HashCommit {
        let draft = PendingReveal::new(
            hotkey.0,
            netuid,
            0,
            submission.uids.clone(),
            submission.weights.clone(),
            random_salt(DEFAULT_SALT_LEN),
            submission.version_key,
            head,
            commit_epoch,
            mode.reveal_period_epochs,
        )
        .map_err(commit_error)?;
        let data = draft.commit_call(mode.mechanism_calls).and_then(|c| c.call_data()).map_err(commit_error)?;
        let hash = decode_hash_commit(&data).map_err(|e| dispatch("CallDecode", e))?;
        subnet.commit_blocks.push((uid, head));
        subnet.pending_commits.push(LocalCommit {
            hotkey,
            uid,
            commit_block: head,
            commit_epoch,
            reveal_epoch,
            kind: LocalCommitKind::Hash { hash: hex::encode(hash) },
        });
        return Ok(Submitted::CommittedHash { included, pending: draft });
    }

    let inputs = LegacyEpochInputs {
        tempo: hyper.tempo,
        netuid,
        current_block: head,
        reveal_period_epochs: mode.reveal_period_epochs,
    };
    let legacy = legacy_reveal_plan(&inputs, block_time_ms as f64 / 1000.0, 0.0);
    let plan = RevealPlan { reveal_round: local_round_for_block(legacy.target_block, block_time_ms), ..legacy };
    let beacon = LocalBeacon::from_seed(seed);
    let payload =
        WeightsTlockPayload::new(hotkey.0, submission.uids.clone(), submission.weights.clone(), submission.version_key)
            .map_err(commit_error)?;
    let made = timelocked_commit(&beacon.public_key(), &payload, netuid, 0, plan, mode.mechanism_calls)
        .map_err(commit_error)?;
    // From here on the chain's side: it sees only the call data.
    let data = made.call.call_data().map_err(commit_error)?;
    let call = decode_timelocked_commit(&data).map_err(|e| dispatch("CallDecode", e))?;
    if call.netuid != netuid || call.mecid != 0 {
        return Err(dispatch("MechanismDoesNotExist", format!("netuid {} mecid {}", call.netuid, call.mecid)));
    }
    if call.version != mode.commit_reveal_version {
        return Err(dispatch(
            "IncorrectCommitRevealVersion",
            format!("version {}, the chain wants {}", call.version, mode.commit_reveal_version),
        ));
    }
    let published = local_round_published_at(head, block_time_ms);
    if call.reveal_round < published {
        return Err(SetWeightsError::PoolRejected(format!(
            "InvalidRevealRound: round {} is older than the last published round {published}",
            call.reveal_round
        )));
    }
    subnet.commit_blocks.push((uid, head));
    let ciphertext_bytes = call.commit.len();
    subnet.pending_commits.push(LocalCommit {
        hotkey,
        uid,
        commit_block: head,
        commit_epoch,
        reveal_epoch,
        kind: LocalCommitKind::Timelocked { reveal_round: call.reveal_round, ciphertext: hex::encode(&call.commit) },
    });
    Ok(Submitted::CommittedTimelocked {
        included,
        commit: TimelockedCommitRecord {
            call: made.call.name().to_owned(),
            netuid,
            mecid: 0,
            commit_block: head,
            plan,
            epoch_model: EpochModel::Legacy,
            payload_sha256: hex::encode(made.payload_sha256),
            ciphertext_bytes,
        },
    })
}

struct TimelockedCall {
    netuid: u16,
    mecid: u8,
    commit: Vec<u8>,
    reveal_round: u64,
    version: u16,
}

/// Decodes `commit_timelocked_mechanism_weights` (118) or `commit_timelocked_weights` (113).
fn decode_timelocked_commit(data: &[u8]) -> Result<TimelockedCall, String> {
    let (&[pallet, index], mut args) = data.split_first_chunk::<2>().ok_or("call data shorter than 2 bytes")?;
    if pallet != SUBTENSOR_PALLET_INDEX {
        return Err(format!("pallet {pallet} is not SubtensorModule"));
    }
    let bad = |e: parity_scale_codec::Error| format!("call {index}: {e}");
    match index {
        118 => {
            let (netuid, mecid, commit, reveal_round, version) =
                <(u16, u8, Vec<u8>, u64, u16)>::decode_all(&mut args).map_err(bad)?;
            Ok(TimelockedCall { netuid, mecid, commit, reveal_round, version })
        }
        113 => {
            let (netuid, commit, reveal_round, version) =
                <(u16, Vec<u8>, u64, u16)>::decode_all(&mut args).map_err(bad)?;
            Ok(TimelockedCall { netuid, mecid: 0, commit, reveal_round, version })
        }
        other => Err(format!("call {other} is not a timelocked commit")),
    }
}

/// The hash of `commit_mechanism_weights` (115) or `commit_weights` (96).
fn decode_hash_commit(data: &[u8]) -> Result<[u8; 32], String> {
    let bad = |e: parity_scale_codec::Error| format!("commit call: {e}");
    match data {
        [SUBTENSOR_PALLET_INDEX, 115, args @ ..] => {
            Ok(<(u16, u8, [u8; 32])>::decode_all(&mut &args[..]).map_err(bad)?.2)
        }
        [SUBTENSOR_PALLET_INDEX, 96, args @ ..] => Ok(<(u16, [u8; 32])>::decode_all(&mut &args[..]).map_err(bad)?.1),
        _ => Err("not a hash commit call".into()),
    }
}

/// `reveal_pending` on the local chain (hash commits).
pub(super) fn reveal_hash(
    chain: &LocalChain,
    state: &mut State,
    hotkey: AccountId,
    pending: &PendingReveal,
) -> Result<RevealOutcome, SetWeightsError> {
    let committer = AccountId(pending.hotkey);
    if committer != hotkey {
        return Err(SetWeightsError::WrongHotkey { committer, signer: hotkey });
    }
    if !pending.is_consistent() {
        return Err(SetWeightsError::Invalid("the pending reveal's hash does not match its weights and salt".into()));
    }
    let netuid = pending.netuid;
    let head = state.head_number();
    let block = state.block(head);
    let subnet = state.subnets.get_mut(&netuid).ok_or_else(|| chain.err(format!("subnet {netuid} does not exist")))?;
    let tempo = subnet.hyperparameters.tempo;
    let current_epoch = legacy_epoch(tempo, netuid, head);
    let due = || Some(legacy_epoch_start(tempo, netuid, pending.reveal_epoch));
    if let Some(outcome) = reveal_status(pending, current_epoch, due) {
        return Ok(outcome);
    }
    // The reveal call as a validator sends it, read back by the chain.
    let call = pending.reveal_call(true).map_err(commit_error)?;
    let WeightsCall::RevealMechanismWeights { uids, values, salt, version_key, .. } = call else {
        unreachable!("reveal_call(true) builds reveal_mechanism_weights")
    };
    let hash = hex::encode(weights_commit::calls::commit_hash(&hotkey.0, netuid, &uids, &values, &salt, version_key));
    let position = subnet
        .pending_commits
        .iter()
        .position(|c| c.hotkey == hotkey && matches!(&c.kind, LocalCommitKind::Hash { hash: h } if *h == hash))
        .ok_or_else(|| dispatch("InvalidRevealCommitHashNotMatch", "no live commit of this hotkey has this hash"))?;
    let period = subnet.pending_commits[position].reveal_epoch - subnet.pending_commits[position].commit_epoch;
    if legacy_epoch(tempo, netuid, subnet.pending_commits[position].commit_block) + period != current_epoch {
        return Err(dispatch("RevealTooEarly", "not the commit's reveal epoch"));
    }
    let uid = subnet.uid_of(&hotkey).ok_or(SetWeightsError::NotRegistered { hotkey, netuid })?;
    let submission = WeightsSubmission { uids, weights: values, version_key };
    check_vectors(&submission, subnet.neurons.len())?;
    if version_key < subnet.hyperparameters.weights_version_key {
        return Err(dispatch("IncorrectWeightVersionKey", "below the subnet's weights version key"));
    }
    subnet.apply_weights(uid, &submission, head, true)?;
    let commit = subnet.pending_commits.remove(position);
    subnet.reveals.push(RevealRecord {
        hotkey,
        commit_block: commit.commit_block,
        reveal_epoch: commit.reveal_epoch,
        reveal_round: None,
        block: head,
        revealed: true,
        reason: None,
    });
    Ok(RevealOutcome::Revealed { included: WeightsIncluded { block, extrinsic_hash: None } })
}

/// When a commit is revealed or given up on.
enum Fate {
    /// Applied at this block.
    RevealAt(u64),
    /// Dropped at this block (the last of its reveal epoch) with this reason.
    DropAt(u64, &'static str),
}

fn fate(commit: &LocalCommit, tempo: u16, netuid: u16, block_time_ms: u64) -> Fate {
    let first = legacy_epoch_start(tempo, netuid, commit.reveal_epoch);
    let last = legacy_epoch_start(tempo, netuid, commit.reveal_epoch + 1).saturating_sub(1);
    match &commit.kind {
        LocalCommitKind::Timelocked { reveal_round, .. } => {
            let at = first.max(first_block_with_round(*reveal_round, block_time_ms));
            if at <= last {
                Fate::RevealAt(at)
            } else {
                Fate::DropAt(last, "its round was not published before the reveal epoch ended")
            }
        }
        LocalCommitKind::Hash { .. } => Fate::DropAt(last, "not revealed in its reveal epoch (expired)"),
    }
}

/// Whether any commit's reveal (or drop) block has come.
pub(super) fn reveals_due(state: &State) -> bool {
    let head = state.head_number();
    state.subnets.iter().any(|(&netuid, subnet)| {
        subnet.pending_commits.iter().any(|c| {
            match fate(c, subnet.hyperparameters.tempo, netuid, state.block_time_ms) {
                Fate::RevealAt(b) => b <= head,
                Fate::DropAt(b, _) => b < head,
            }
        })
    })
}

/// Applies every reveal (and drop) whose block has come, in block order. True if anything
/// changed.
pub(super) fn settle(state: &mut State) -> bool {
    if !reveals_due(state) {
        return false;
    }
    let head = state.head_number();
    let block_time_ms = state.block_time_ms;
    let beacon = match beacon_seed(state) {
        Ok(seed) => LocalBeacon::from_seed(seed),
        Err(reason) => {
            tracing::error!("local chain: cannot reveal commits: {reason}");
            return false;
        }
    };
    for (&netuid, subnet) in state.subnets.iter_mut() {
        let tempo = subnet.hyperparameters.tempo;
        let mut due = Vec::new();
        let mut keep = Vec::new();
        for commit in std::mem::take(&mut subnet.pending_commits) {
            match fate(&commit, tempo, netuid, block_time_ms) {
                Fate::RevealAt(b) if b <= head => due.push((b, commit)),
                Fate::DropAt(b, reason) if b < head => subnet.reveals.push(record(&commit, b, Err(reason.to_owned()))),
                _ => keep.push(commit),
            }
        }
        subnet.pending_commits = keep;
        due.sort_by_key(|(b, _)| *b);
        for (block, commit) in due {
            let outcome = reveal_timelocked(subnet, &commit, block, &beacon);
            if let Err(reason) = &outcome {
                tracing::warn!(
                    "local chain: commit of {} from block {} dropped: {reason}",
                    commit.hotkey,
                    commit.commit_block
                );
            }
            subnet.reveals.push(record(&commit, block, outcome));
        }
    }
    true
}

fn record(commit: &LocalCommit, block: u64, outcome: Result<(), String>) -> RevealRecord {
    let reveal_round = match &commit.kind {
        LocalCommitKind::Timelocked { reveal_round, .. } => Some(*reveal_round),
        LocalCommitKind::Hash { .. } => None,
    };
    RevealRecord {
        hotkey: commit.hotkey,
        commit_block: commit.commit_block,
        reveal_epoch: commit.reveal_epoch,
        reveal_round,
        block,
        revealed: outcome.is_ok(),
        reason: outcome.err(),
    }
}

/// Decrypts with the round's signature and applies the weights with the normal checks.
fn reveal_timelocked(
    subnet: &mut Subnet,
    commit: &LocalCommit,
    block: u64,
    beacon: &LocalBeacon,
) -> Result<(), String> {
    let LocalCommitKind::Timelocked { reveal_round, ciphertext } = &commit.kind else {
        return Err("not a timelocked commit".into());
    };
    let ciphertext = hex::decode(ciphertext).map_err(|e| format!("stored ciphertext is not hex: {e}"))?;
    let opened =
        open_commit(&ciphertext, &beacon.sign_round(*reveal_round), &commit.hotkey.0).map_err(|e| e.to_string())?;
    let uid = subnet.uid_of(&commit.hotkey).ok_or("the hotkey is no longer registered")?;
    let submission = WeightsSubmission { uids: opened.uids, weights: opened.values, version_key: opened.version_key };
    check_vectors(&submission, subnet.neurons.len()).map_err(|e| e.to_string())?;
    if submission.version_key < subnet.hyperparameters.weights_version_key {
        return Err(format!(
            "version key {} is below the subnet's {}",
            submission.version_key, subnet.hyperparameters.weights_version_key
        ));
    }
    subnet.apply_weights(uid, &submission, block, true).map_err(|e| e.to_string())
}

/// The consensus inputs of the local chain at `at`: stake is the neurons' stake, the chain runs
/// no epochs so it stores no trust or consensus of its own.
pub(super) fn agreement_snapshot(netuid: u16, subnet: &Subnet, at: Block) -> AgreementSnapshot {
    let neurons: Vec<_> = subnet.neurons.iter().filter(|n| n.registered_at <= at.number).collect();
    let rows = subnet.rows_at(at.number);
    let hyper = &subnet.hyperparameters;
    let earliest_commit_block = hyper.commit_reveal_enabled.then(|| {
        neurons
            .iter()
            .map(|n| {
                subnet
                    .pending_commits
                    .iter()
                    .filter(|c| c.hotkey == n.hotkey && c.commit_block <= at.number)
                    .map(|c| c.commit_block)
                    .min()
            })
            .collect()
    });
    let inputs = EpochInputs {
        weights: neurons.iter().map(|n| rows.get(&n.uid).cloned().unwrap_or_default()).collect(),
        stake: neurons.iter().map(|n| n.stake_rao as f64).collect(),
        validator_permit: neurons.iter().map(|n| n.validator_permit).collect(),
        last_update: neurons.iter().map(|n| subnet.last_update(n.uid, at.number)).collect(),
        block_at_registration: neurons.iter().map(|n| n.registered_at).collect(),
        activity_cutoff: hyper.activity_cutoff,
        kappa: hyper.kappa,
        current_block: at.number,
        owner_uid: None,
        earliest_commit_block,
    };
    AgreementSnapshot {
        netuid,
        block: at,
        hotkeys: neurons.iter().map(|n| n.hotkey).collect(),
        inputs,
        stake_source: StakeSource::NeuronStake,
        commit_reveal_enabled: hyper.commit_reveal_enabled,
        chain_validator_trust: None,
        chain_consensus: None,
    }
}

impl LocalChain {
    /// Makes `netuid`'s runtime offer only the hash commit-reveal calls (as runtimes without
    /// timelocked commits did), or timelocked commits again.
    pub fn set_hash_commits_only(&self, netuid: u16, hash_only: bool) -> Result<(), ChainError> {
        self.update(|state| {
            let subnet =
                state.subnets.get_mut(&netuid).ok_or_else(|| self.err(format!("subnet {netuid} does not exist")))?;
            subnet.hash_commits_only = hash_only;
            Ok::<_, ChainError>(())
        })
    }

    /// The commits on `netuid` not revealed (or dropped) yet.
    pub fn pending_commits(&self, netuid: u16) -> Result<Vec<LocalCommit>, ChainError> {
        self.read(|state| Ok(self.subnet(state, netuid)?.pending_commits.clone()))
    }

    /// What became of every commit on `netuid`, oldest first.
    pub fn reveal_log(&self, netuid: u16) -> Result<Vec<RevealRecord>, ChainError> {
        self.read(|state| Ok(self.subnet(state, netuid)?.reveals.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_follow_chain_time() {
        // 12 s blocks: four rounds a block; a round aimed at block t is out at block t.
        assert_eq!(local_round_published_at(0, 12_000), 1);
        assert_eq!(local_round_published_at(10, 12_000), 41);
        assert_eq!(local_round_for_block(10, 12_000), 40);
        assert_eq!(first_block_with_round(40, 12_000), 10);
        assert_eq!(first_block_with_round(41, 12_000), 10);
        assert_eq!(first_block_with_round(42, 12_000), 11);
        // 100 ms blocks: a round every 30 blocks.
        assert_eq!(local_round_published_at(29, 100), 1);
        assert_eq!(local_round_published_at(30, 100), 2);
        assert_eq!(first_block_with_round(2, 100), 30);
        assert_eq!(local_round_for_block(5, 100), 1);
    }
}
