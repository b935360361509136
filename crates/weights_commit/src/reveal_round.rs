//! Which drand round to encrypt a timelocked commit for: the round published a few blocks into
//! the epoch in which the chain will reveal it, under either of the chain's epoch models.
//!
//! A round too early only makes the weights readable early; a round too late, whose pulse the
//! chain has not ingested when the reveal epoch ends, makes the chain drop the commit silently.
//! So the model must match the runtime:
//!
//! - [`EpochModel::Legacy`] (runtimes before v3.4.8, spec < 423): epochs are fixed windows of
//!   `tempo + 1` blocks offset by the netuid. Formula of bittensor-drand ≤ 1.3
//!   `get_encrypted_commit` ([`legacy_reveal_plan`]).
//! - [`EpochModel::Stateful`] (v3.4.8 on, recognisable by the `SubtensorModule.SubnetEpochIndex`
//!   storage): epochs are counted by `SubnetEpochIndex`, fire every `tempo` blocks or when the
//!   owner triggers one, and commit-reveal keys off that counter. Simulation of bittensor-drand
//!   2.0.0 `get_encrypted_commit_v2` ([`stateful_reveal_plan`]).
//!
//! Both aim at the pulse for the reveal epoch's first block + 3 blocks, converted to wall-clock
//! with the chain's block time from `now_unix`; `now` is a parameter so results are reproducible.

use crate::beacon::quicknet_round_at;

/// Blocks after the first block of the reveal epoch whose drand pulse is targeted, so the pulse
/// has been ingested by then (bittensor-drand `SECURITY_BLOCK_OFFSET`).
pub const SECURITY_BLOCK_OFFSET: u64 = 3;
/// A commit is assumed to land in the block after the head it was computed at.
pub const COMMIT_INCLUSION_BLOCK_OFFSET: u64 = 1;
/// Largest tempo a subnet owner may set; also the stateful model's forced-epoch threshold on
/// `BlocksSinceLastStep`.
pub const MAX_TEMPO: u64 = 50_400;
/// Mainnet block time, which the SDKs assume unless the chain runs fast blocks.
pub const DEFAULT_BLOCK_TIME_SECS: f64 = 12.0;

/// How the runtime counts epochs, which decides the reveal-round formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochModel {
    /// Fixed `tempo + 1` windows (before v3.4.8).
    Legacy,
    /// `SubnetEpochIndex` counter (v3.4.8 on).
    Stateful,
}

/// Why no reveal block could be predicted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("tempo is 0: the subnet runs no epochs, so a commit would never be revealed")]
    TempoIsZero,
    #[error("no reveal block within {blocks} simulated blocks (reveal period {reveal_period_epochs} epochs)")]
    BoundExceeded { blocks: u64, reveal_period_epochs: u64 },
}

/// Where and when a commit made now will be revealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevealPlan {
    /// Epoch the chain files the commit under.
    pub commit_epoch: u64,
    /// Epoch in which the chain reveals it (`commit_epoch + reveal_period`).
    pub reveal_epoch: u64,
    /// First block of the reveal epoch.
    pub reveal_block: u64,
    /// `reveal_block + 3`, whose expected wall-clock time picks the round.
    pub target_block: u64,
    /// drand round to encrypt for.
    pub reveal_round: u64,
}

/// Chain values the legacy formula needs, read at one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegacyEpochInputs {
    /// `Tempo[netuid]`.
    pub tempo: u16,
    /// The subnet's netuid. The chain's epoch uses the real netuid; bittensor 10.x passed the
    /// mechanism storage index instead, which is the same number for mechanism 0.
    pub netuid: u16,
    /// Head block the commit is computed at.
    pub current_block: u64,
    /// `RevealPeriodEpochs[netuid]`.
    pub reveal_period_epochs: u64,
}

/// Legacy epoch of `block`: `(block + netuid + 1) / (tempo + 1)`.
pub fn legacy_epoch(tempo: u16, netuid: u16, block: u64) -> u64 {
    (block + u64::from(netuid) + 1) / (u64::from(tempo) + 1)
}

/// The reveal round of bittensor-drand ≤ 1.3 `get_encrypted_commit` for runtimes before v3.4.8.
pub fn legacy_reveal_plan(inputs: &LegacyEpochInputs, block_time_secs: f64, now_unix: f64) -> RevealPlan {
    let tempo_plus_one = u64::from(inputs.tempo) + 1;
    let netuid_plus_one = u64::from(inputs.netuid) + 1;
    let commit_epoch = legacy_epoch(inputs.tempo, inputs.netuid, inputs.current_block);
    let reveal_epoch = commit_epoch + inputs.reveal_period_epochs;
    let reveal_block = reveal_epoch.saturating_mul(tempo_plus_one).saturating_sub(netuid_plus_one);
    plan(commit_epoch, reveal_epoch, reveal_block, inputs.current_block, block_time_secs, now_unix)
}

/// The stateful model's per-subnet state, read at one pinned block (`current_block`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochScheduleState {
    /// `LastEpochBlock[netuid]`.
    pub last_epoch_block: u64,
    /// `PendingEpochAt[netuid]` (0: no owner-triggered epoch pending).
    pub pending_epoch_at: u64,
    /// `SubnetEpochIndex[netuid]`.
    pub subnet_epoch_index: u64,
    /// `Tempo[netuid]`.
    pub tempo: u16,
    /// `BlocksSinceLastStep[netuid]`.
    pub blocks_since_last_step: u64,
    /// The head block all the above were read at.
    pub current_block: u64,
}

impl EpochScheduleState {
    /// Whether the chain's coinbase runs an epoch at `block` (`should_run_epoch`).
    pub fn epoch_runs_at(&self, block: u64) -> bool {
        if self.tempo == 0 {
            return false;
        }
        if self.pending_epoch_at > 0 && block >= self.pending_epoch_at {
            return true;
        }
        if self.blocks_since_last_step > MAX_TEMPO {
            return true;
        }
        block.saturating_sub(self.last_epoch_block) >= u64::from(self.tempo)
    }

    /// The epoch index commit-reveal sees in `block`: reveals run before the coinbase, so an
    /// epoch firing in `block` already counts.
    pub fn epoch_seen_at(&self, block: u64) -> u64 {
        if self.epoch_runs_at(block) {
            self.subnet_epoch_index.saturating_add(1)
        } else {
            self.subnet_epoch_index
        }
    }

    /// The state after the coinbase of `block`.
    pub fn after_block(&self, block: u64) -> Self {
        let mut next = *self;
        next.blocks_since_last_step = next.blocks_since_last_step.saturating_add(1);
        next.current_block = block;
        if next.epoch_runs_at(block) {
            next.last_epoch_block = block;
            next.pending_epoch_at = 0;
            next.subnet_epoch_index = next.subnet_epoch_index.saturating_add(1);
            next.blocks_since_last_step = 0;
        }
        next
    }
}

/// `(commit_epoch, first reveal block)` for a commit computed at `state.current_block` and
/// included in the next block. Like bittensor-drand 2.0.0 it does not model `MaxEpochsPerBlock`
/// deferral.
pub fn predict_first_reveal_block(
    state: &EpochScheduleState,
    reveal_period_epochs: u64,
) -> Result<(u64, u64), ScheduleError> {
    if state.tempo == 0 {
        return Err(ScheduleError::TempoIsZero);
    }
    let inclusion_block = state.current_block + COMMIT_INCLUSION_BLOCK_OFFSET;
    let mut before = *state;
    for block in state.current_block + 1..inclusion_block {
        before = before.after_block(block);
    }
    let commit_epoch = before.epoch_seen_at(inclusion_block);
    let reveal_epoch = commit_epoch + reveal_period_epochs;
    let budget = reveal_period_epochs.saturating_mul(MAX_TEMPO).saturating_add(MAX_TEMPO);
    for block in inclusion_block..=inclusion_block.saturating_add(budget) {
        if before.epoch_seen_at(block) == reveal_epoch {
            return Ok((commit_epoch, block));
        }
        before = before.after_block(block);
    }
    Err(ScheduleError::BoundExceeded { blocks: budget, reveal_period_epochs })
}

/// The reveal round of bittensor-drand 2.0.0 `get_encrypted_commit_v2` for runtimes with
/// `SubnetEpochIndex`.
pub fn stateful_reveal_plan(
    state: &EpochScheduleState,
    reveal_period_epochs: u64,
    block_time_secs: f64,
    now_unix: f64,
) -> Result<RevealPlan, ScheduleError> {
    let (commit_epoch, reveal_block) = predict_first_reveal_block(state, reveal_period_epochs)?;
    Ok(plan(
        commit_epoch,
        commit_epoch + reveal_period_epochs,
        reveal_block,
        state.current_block,
        block_time_secs,
        now_unix,
    ))
}

fn plan(
    commit_epoch: u64,
    reveal_epoch: u64,
    reveal_block: u64,
    current_block: u64,
    block_time_secs: f64,
    now_unix: f64,
) -> RevealPlan {
    let target_block = reveal_block.saturating_add(SECURITY_BLOCK_OFFSET);
    let seconds_ahead = target_block.saturating_sub(current_block) as f64 * block_time_secs;
    RevealPlan {
        commit_epoch,
        reveal_epoch,
        reveal_block,
        target_block,
        reveal_round: quicknet_round_at(now_unix + seconds_ahead),
    }
}
