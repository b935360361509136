//! Weight submission under whatever the subnet requires, on a real node: the mode read from
//! the runtime (its metadata's weight calls and epoch storage) and the subnet's
//! hyperparameters; timelocked commits sealed for drand quicknet at the round of the chain's
//! epoch model; salted hash commits and their reveals. Every call is built with subxt's dynamic
//! API from the runtime metadata, and its argument bytes are checked against the encoding the
//! weights_commit crate has verified against Python bittensor before anything is signed.

use super::extrinsic::with_weights_payload;
use super::{classify, read_signer_state, AtBlock, Connection, Failure, SignerState, Subtensor};
use crate::account::AccountId;
use crate::error::SetWeightsError;
use crate::mode::{decide, RuntimeWeightCalls, WeightsMode, WeightsPath};
use crate::rules::{check_commit_permission, check_permission, check_vectors, WeightsSubmission};
use crate::submission::{
    epoch_of, legacy_epoch_start, reveal_status, stateful_epoch_start, RevealOutcome, Submitted, TimelockedCommitRecord,
};
use crate::WeightsIncluded;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use subxt::dynamic::storage;
use subxt::tx::Payload;
use weights_commit::calls::{netuid_storage_index, WeightsCall};
use weights_commit::pending::{random_salt, DEFAULT_SALT_LEN};
use weights_commit::reveal_round::{legacy_reveal_plan, stateful_reveal_plan, LegacyEpochInputs};
use weights_commit::{
    timelocked_commit, EpochModel, EpochScheduleState, PendingReveal, RevealPlan, WeightsTlockPayload,
};

/// The chain refuses an 11th unrevealed commit of one hotkey.
const MAX_UNREVEALED_COMMITS: usize = 10;
/// SN37 has one mechanism.
const MECID: u8 = 0;

/// The weight calls and epoch storage in the runtime's metadata at `at`.
pub(super) fn runtime_weight_calls(at: &AtBlock) -> RuntimeWeightCalls {
    let metadata = at.metadata_ref();
    let pallet = metadata.pallet_by_name("SubtensorModule");
    let call = |name: &str| pallet.as_ref().and_then(|p| p.call_variant_by_name(name)).is_some();
    let item = |name: &str| pallet.as_ref().and_then(|p| p.storage()).and_then(|s| s.entry_by_name(name)).is_some();
    RuntimeWeightCalls {
        spec_version: at.spec_version(),
        set_weights: call("set_weights"),
        commit_weights: call("commit_weights"),
        reveal_weights: call("reveal_weights"),
        commit_mechanism_weights: call("commit_mechanism_weights"),
        reveal_mechanism_weights: call("reveal_mechanism_weights"),
        commit_timelocked_weights: call("commit_timelocked_weights"),
        commit_timelocked_mechanism_weights: call("commit_timelocked_mechanism_weights"),
        subnet_epoch_index: item("SubnetEpochIndex"),
    }
}

async fn fetch_u64(at: &AtBlock, item: &'static str, netuid: u16) -> Result<u64, Failure> {
    let value = at
        .storage()
        .fetch(storage::<(u16,), u64>("SubtensorModule", item), (netuid,))
        .await
        .map_err(|e| named(item, classify(&e)))?;
    value.decode().map_err(|e| named(item, classify(&e)))
}

fn named(item: &str, failure: Failure) -> Failure {
    match failure {
        Failure::Other(reason) => Failure::Other(format!("{item}: {reason}")),
        Failure::Decode(reason) => Failure::Decode(format!("{item}: {reason}")),
        other => other,
    }
}

/// The stateful epoch model's inputs at `at` (the real netuid, as bittensor-drand reads them).
pub(super) async fn read_schedule_state(at: &AtBlock, netuid: u16, tempo: u16) -> Result<EpochScheduleState, Failure> {
    Ok(EpochScheduleState {
        last_epoch_block: fetch_u64(at, "LastEpochBlock", netuid).await?,
        pending_epoch_at: fetch_u64(at, "PendingEpochAt", netuid).await?,
        subnet_epoch_index: fetch_u64(at, "SubnetEpochIndex", netuid).await?,
        tempo,
        blocks_since_last_step: fetch_u64(at, "BlocksSinceLastStep", netuid).await?,
        current_block: at.block_number(),
    })
}

/// How many unrevealed timelocked commits `who` has filed under `epoch`; `None` where the
/// runtime has no `TimelockedWeightCommits`.
async fn timelocked_commits_of(
    at: &AtBlock,
    netuid: u16,
    epoch: u64,
    who: &AccountId,
) -> Result<Option<usize>, Failure> {
    type Queue = Vec<([u8; 32], u64, Vec<u8>, u64)>;
    let address = storage::<(u16, u64), Queue>("SubtensorModule", "TimelockedWeightCommits");
    let Ok(entry) = at.storage().entry(address) else { return Ok(None) };
    let index = netuid_storage_index(netuid, MECID);
    let queue = match entry.try_fetch((index, epoch)).await.map_err(|e| classify(&e))? {
        Some(value) => value.decode().map_err(|e| named("TimelockedWeightCommits", classify(&e)))?,
        None => Queue::new(),
    };
    Ok(Some(queue.iter().filter(|(account, ..)| account == &who.0).count()))
}

/// How many live hash commits `who` has, on runtimes whose `WeightCommits` entries are
/// `(hash, commit_block, first_reveal_block, last_reveal_block)` (fixed epochs; the stateful
/// runtime's layout is not known here, so the chain's own `TooManyUnrevealedCommits` decides).
async fn live_hash_commits_of(at: &AtBlock, netuid: u16, who: &AccountId, next_block: u64) -> Result<usize, Failure> {
    type Queue = Vec<([u8; 32], u64, u64, u64)>;
    let address = storage::<(u16, [u8; 32]), Queue>("SubtensorModule", "WeightCommits");
    let queue = match at.storage().try_fetch(address, (netuid, who.0)).await.map_err(|e| classify(&e))? {
        Some(value) => value.decode().map_err(|e| named("WeightCommits", classify(&e)))?,
        None => Queue::new(),
    };
    Ok(queue.iter().filter(|(.., last_reveal_block)| *last_reveal_block >= next_block).count())
}

/// Everything read at one block before a submission or a reveal.
struct Snapshot {
    conn: Arc<Connection>,
    at: AtBlock,
    signer: SignerState,
    mode: WeightsMode,
    schedule: Option<EpochScheduleState>,
    /// Our unrevealed commits in the epoch the next block belongs to, where it can be read.
    unrevealed: Option<usize>,
}

fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The epoch and reveal plan of a timelocked commit made at `head`.
fn plan_commit(
    mode: &WeightsMode,
    netuid: u16,
    head: u64,
    schedule: Option<&EpochScheduleState>,
    block_time_secs: f64,
) -> Result<RevealPlan, SetWeightsError> {
    match (mode.epoch_model, schedule) {
        (EpochModel::Stateful, Some(state)) => {
            stateful_reveal_plan(state, mode.reveal_period_epochs, block_time_secs, now_unix())
                .map_err(|e| SetWeightsError::Commit(e.to_string()))
        }
        _ => {
            let inputs = LegacyEpochInputs {
                tempo: mode.tempo,
                netuid,
                current_block: head,
                reveal_period_epochs: mode.reveal_period_epochs,
            };
            if mode.tempo == 0 {
                return Err(SetWeightsError::Commit("tempo is 0: the subnet runs no epochs".into()));
            }
            Ok(legacy_reveal_plan(&inputs, block_time_secs, now_unix()))
        }
    }
}

impl Subtensor {
    /// Reads the signer's state, the mode and (under commit-reveal) the epoch schedule and our
    /// unrevealed commits, all at the finalized head.
    async fn snapshot(&self, netuid: u16, what: &str) -> Result<Snapshot, SetWeightsError> {
        let account = self.hotkey.as_ref().ok_or(SetWeightsError::NoHotkey)?.account();
        let (conn, at, signer, calls, schedule, unrevealed) = self
            .read(what, |conn| async move {
                let at = conn.client.at_current_block().await.map_err(|e| classify(&e))?;
                let signer = read_signer_state(&at, netuid, &account).await?;
                let calls = runtime_weight_calls(&at);
                let hyper = &signer.hyper;
                let stateful = calls.epoch_model() == EpochModel::Stateful;
                let schedule = match hyper.commit_reveal_enabled && stateful {
                    true => Some(read_schedule_state(&at, netuid, hyper.tempo).await?),
                    false => None,
                };
                let next = at.block_number() + 1;
                let mut unrevealed = None;
                if hyper.commit_reveal_enabled {
                    let timelocked = calls.commit_timelocked_weights || calls.commit_timelocked_mechanism_weights;
                    if timelocked {
                        let epoch = epoch_of(calls.epoch_model(), hyper.tempo, netuid, schedule.as_ref(), next);
                        unrevealed = timelocked_commits_of(&at, netuid, epoch, &account).await?;
                    } else if !stateful {
                        unrevealed = Some(live_hash_commits_of(&at, netuid, &account, next).await?);
                    }
                }
                Ok((conn, at, signer, calls, schedule, unrevealed))
            })
            .await?;
        let mode = decide(netuid, &signer.hyper, &calls)?;
        Ok(Snapshot { conn, at, signer, mode, schedule, unrevealed })
    }

    pub(super) async fn mode_at(&self, netuid: u16, block: &crate::Block) -> Result<WeightsMode, SetWeightsError> {
        let what = format!("read the weights mode of subnet {netuid} at block {}", block.number);
        let (hyper, calls) = self
            .read(&what, |conn| async move {
                let at = Subtensor::at(&conn, block).await?;
                Ok((super::read_hyperparameters(&at, netuid).await?, runtime_weight_calls(&at)))
            })
            .await?;
        Ok(decide(netuid, &hyper, &calls)?)
    }

    pub(super) async fn submit_any(
        &self,
        netuid: u16,
        submission: &WeightsSubmission,
    ) -> Result<Submitted, SetWeightsError> {
        let hotkey = self.hotkey.as_ref().ok_or(SetWeightsError::NoHotkey)?;
        let account = hotkey.account();
        let what = format!("submit weights on subnet {netuid}");
        let snap = self.snapshot(netuid, &what).await?;
        tracing::info!("{}", snap.mode);
        let uid = snap.signer.uid.ok_or(SetWeightsError::NotRegistered { hotkey: account, netuid })?;
        check_vectors(submission, snap.signer.n)?;
        let head = snap.at.block_number();
        let hyper = &snap.signer.hyper;
        if snap.mode.path == WeightsPath::Direct {
            check_permission(netuid, submission, hyper, snap.signer.last_update, head)?;
            let call = super::extrinsic::set_weights_call(netuid, submission);
            let included =
                self.send_signed(snap.conn, snap.at, &call, &format!("set weights on subnet {netuid}")).await?;
            return Ok(Submitted::Set { included });
        }
        check_commit_permission(netuid, submission, hyper, snap.signer.last_update, head)?;
        if let Some(count) = snap.unrevealed.filter(|&c| c >= MAX_UNREVEALED_COMMITS) {
            let epoch = epoch_of(snap.mode.epoch_model, hyper.tempo, netuid, snap.schedule.as_ref(), head + 1);
            return Err(SetWeightsError::TooManyUnrevealedCommits { hotkey: account, netuid, epoch, count });
        }
        match snap.mode.path {
            WeightsPath::Timelocked => {
                let plan = plan_commit(&snap.mode, netuid, head, snap.schedule.as_ref(), self.options.block_time_secs)?;
                let payload = WeightsTlockPayload::new(
                    account.0,
                    submission.uids.clone(),
                    submission.weights.clone(),
                    submission.version_key,
                )
                .map_err(|e| SetWeightsError::Commit(e.to_string()))?;
                let commit = timelocked_commit(
                    &self.options.timelock_beacon,
                    &payload,
                    netuid,
                    MECID,
                    plan,
                    snap.mode.mechanism_calls,
                )
                .map_err(|e| SetWeightsError::Commit(e.to_string()))?;
                let ciphertext_bytes = match &commit.call {
                    WeightsCall::CommitTimelockedMechanismWeights { commit, .. }
                    | WeightsCall::CommitTimelockedWeights { commit, .. } => commit.len(),
                    _ => 0,
                };
                tracing::info!(
                    "committing weights on subnet {netuid} as uid {uid}: {} uids sealed for drand round {} \
                     (commit epoch {}, reveal epoch {} from block ~{})",
                    submission.uids.len(),
                    plan.reveal_round,
                    plan.commit_epoch,
                    plan.reveal_epoch,
                    plan.reveal_block
                );
                let included = self.send_weights_call(snap.conn, snap.at, &commit.call, &what).await?;
                Ok(Submitted::CommittedTimelocked {
                    commit: TimelockedCommitRecord {
                        call: commit.call.name().to_owned(),
                        netuid,
                        mecid: MECID,
                        commit_block: included.block.number,
                        plan,
                        epoch_model: snap.mode.epoch_model,
                        payload_sha256: hex::encode(commit.payload_sha256),
                        ciphertext_bytes,
                    },
                    included,
                })
            }
            WeightsPath::HashCommit => {
                let draft = PendingReveal::new(
                    account.0,
                    netuid,
                    MECID,
                    submission.uids.clone(),
                    submission.weights.clone(),
                    random_salt(DEFAULT_SALT_LEN),
                    submission.version_key,
                    0,
                    0,
                    snap.mode.reveal_period_epochs,
                )
                .map_err(|e| SetWeightsError::Commit(e.to_string()))?;
                let call =
                    draft.commit_call(snap.mode.mechanism_calls).map_err(|e| SetWeightsError::Commit(e.to_string()))?;
                tracing::info!(
                    "committing the hash of weights on subnet {netuid} as uid {uid}: {} uids, to be revealed \
                     {} epoch(s) later by this validator",
                    submission.uids.len(),
                    snap.mode.reveal_period_epochs
                );
                let (mode, schedule) = (snap.mode.clone(), snap.schedule);
                let included = self.send_weights_call(snap.conn, snap.at, &call, &what).await?;
                let commit_block = included.block.number;
                let commit_epoch = epoch_of(mode.epoch_model, mode.tempo, netuid, schedule.as_ref(), commit_block);
                let pending = PendingReveal {
                    commit_block,
                    commit_epoch,
                    reveal_epoch: commit_epoch + mode.reveal_period_epochs,
                    ..draft
                };
                tracing::info!(
                    "hash commit included in block {commit_block} (epoch {commit_epoch}); reveal due in epoch {}",
                    pending.reveal_epoch
                );
                Ok(Submitted::CommittedHash { included, pending })
            }
            WeightsPath::Direct => unreachable!("handled above"),
        }
    }

    pub(super) async fn reveal(&self, pending: &PendingReveal) -> Result<RevealOutcome, SetWeightsError> {
        let hotkey = self.hotkey.as_ref().ok_or(SetWeightsError::NoHotkey)?;
        let signer = hotkey.account();
        let committer = AccountId(pending.hotkey);
        if committer != signer {
            return Err(SetWeightsError::WrongHotkey { committer, signer });
        }
        if !pending.is_consistent() {
            return Err(SetWeightsError::Invalid(
                "the pending reveal's hash does not match its weights and salt (record edited or corrupted)".into(),
            ));
        }
        let netuid = pending.netuid;
        let what = format!("reveal weights on subnet {netuid}");
        let snap = self.snapshot(netuid, &what).await?;
        let head = snap.at.block_number();
        let (model, tempo) = (snap.mode.epoch_model, snap.signer.hyper.tempo);
        let current_epoch = epoch_of(model, tempo, netuid, snap.schedule.as_ref(), head + 1);
        let due = || match (model, snap.schedule.as_ref()) {
            (EpochModel::Stateful, Some(state)) => stateful_epoch_start(state, pending.reveal_epoch),
            _ => Some(legacy_epoch_start(tempo, netuid, pending.reveal_epoch)),
        };
        if let Some(outcome) = reveal_status(pending, current_epoch, due) {
            tracing::info!("reveal of the commit from block {} on subnet {netuid}: {outcome:?}", pending.commit_block);
            return Ok(outcome);
        }
        let calls = runtime_weight_calls(&snap.at);
        let call =
            pending.reveal_call(calls.reveal_mechanism_weights).map_err(|e| SetWeightsError::Commit(e.to_string()))?;
        let included = self.send_weights_call(snap.conn, snap.at, &call, &what).await?;
        Ok(RevealOutcome::Revealed { included })
    }

    /// Sends one of the weight-commit calls as a dynamic transaction, after checking that the
    /// runtime metadata encodes its arguments exactly as the Python-checked encoder does.
    async fn send_weights_call(
        &self,
        conn: Arc<Connection>,
        at: AtBlock,
        call: &WeightsCall,
        what: &str,
    ) -> Result<WeightsIncluded, SetWeightsError> {
        with_weights_payload!(call, |payload| self.send_checked(conn, at, call, &payload, what).await)
    }

    async fn send_checked<Pl: Payload + Sync>(
        &self,
        conn: Arc<Connection>,
        at: AtBlock,
        call: &WeightsCall,
        payload: &Pl,
        what: &str,
    ) -> Result<WeightsIncluded, SetWeightsError> {
        check_encoding(&at, call, payload)?;
        self.send_signed(conn, at, payload, what).await
    }
}

/// The metadata's call data must carry the same argument bytes as `call.call_data()`; the
/// pallet and call indices come from the metadata.
fn check_encoding<Pl: Payload>(at: &AtBlock, call: &WeightsCall, payload: &Pl) -> Result<(), SetWeightsError> {
    let ours = call.call_data().map_err(|e| SetWeightsError::Commit(e.to_string()))?;
    let theirs = at
        .transactions()
        .call_data(payload)
        .map_err(|e| SetWeightsError::Commit(format!("{}: the runtime metadata cannot encode it: {e}", call.name())))?;
    if theirs.get(2..) != ours.get(2..) {
        return Err(SetWeightsError::EncodingMismatch {
            call: call.name().to_owned(),
            ours: hex::encode(&ours),
            metadata: hex::encode(&theirs),
        });
    }
    if theirs.get(..2) != ours.get(..2) {
        tracing::warn!(
            "{}: the runtime places the call at {:?}, not {:?} as subtensor's sources say; using the runtime's",
            call.name(),
            theirs.get(..2),
            ours.get(..2)
        );
    }
    Ok(())
}
