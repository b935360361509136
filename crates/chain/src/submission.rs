//! What a weight submission did ([`Submitted`]), what a reveal did ([`RevealOutcome`]), and the
//! epoch arithmetic both chains share to plan commits and reveals.
//!
//! # What the validator does each weight interval
//!
//! 1. `chain.submit_weights(netuid, &submission)`; on `Ok`, keep the [`Submitted`] in the step
//!    record (it serialises). The chain is told what the subnet requires: weights set directly,
//!    a timelocked commit the chain reveals itself, or a hash commit.
//! 2. For [`Submitted::CommittedHash`] only: persist its [`PendingReveal`] (atomically, before
//!    anything else), then on every later tick call `chain.reveal_pending(&pending)` until it
//!    answers [`RevealOutcome::Revealed`] or [`RevealOutcome::Expired`] (drop the record on
//!    either); [`RevealOutcome::NotYet`] says from which block to try again.

use crate::WeightsIncluded;
use serde::{Deserialize, Serialize};
use weights_commit::reveal_round::{legacy_epoch, EpochScheduleState, MAX_TEMPO};
use weights_commit::{EpochModel, PendingReveal, RevealPlan};

/// What happened to a weight submission that the chain accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Submitted {
    /// `set_weights`: the weights are on chain from `included.block`.
    Set { included: WeightsIncluded },
    /// A drand-timelocked commit: the chain decrypts and applies it by itself at
    /// `commit.plan.reveal_round`, in epoch `commit.plan.reveal_epoch`. Nothing to persist.
    CommittedTimelocked { included: WeightsIncluded, commit: TimelockedCommitRecord },
    /// A hash commit: the caller must persist `pending` and call `reveal_pending` in its reveal
    /// epoch, or the weights are never applied.
    CommittedHash { included: WeightsIncluded, pending: PendingReveal },
}

impl Submitted {
    pub fn included(&self) -> &WeightsIncluded {
        match self {
            Submitted::Set { included }
            | Submitted::CommittedTimelocked { included, .. }
            | Submitted::CommittedHash { included, .. } => included,
        }
    }

    /// `set`, `committed_timelocked` or `committed_hash` (for logs and metrics labels).
    pub fn kind(&self) -> &'static str {
        match self {
            Submitted::Set { .. } => "set",
            Submitted::CommittedTimelocked { .. } => "committed_timelocked",
            Submitted::CommittedHash { .. } => "committed_hash",
        }
    }
}

/// What a step record keeps about a timelocked commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelockedCommitRecord {
    /// The extrinsic (`commit_timelocked_mechanism_weights` or `commit_timelocked_weights`).
    pub call: String,
    pub netuid: u16,
    pub mecid: u8,
    /// The block the commit was included in (the chain's `LastUpdate` for us from then on).
    pub commit_block: u64,
    /// Epochs, reveal block and the drand round the payload was sealed for.
    pub plan: RevealPlan,
    pub epoch_model: EpochModel,
    /// sha256 of the SCALE plaintext, hex: identifies what was committed without revealing it.
    pub payload_sha256: String,
    pub ciphertext_bytes: usize,
}

/// What `reveal_pending` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RevealOutcome {
    /// Too early; nothing sent. Keep the record and try again from `due_at_block`.
    NotYet { reveal_epoch: u64, current_epoch: u64, due_at_block: Option<u64> },
    /// Revealed: the weights are on chain from `included.block`. Drop the record.
    Revealed { included: WeightsIncluded },
    /// The reveal epoch is over and the chain no longer accepts it; nothing sent. Drop the record.
    Expired { reveal_epoch: u64, current_epoch: u64 },
}

/// First block of legacy epoch `epoch`: `epoch × (tempo + 1) − (netuid + 1)`.
pub fn legacy_epoch_start(tempo: u16, netuid: u16, epoch: u64) -> u64 {
    epoch.saturating_mul(u64::from(tempo) + 1).saturating_sub(u64::from(netuid) + 1)
}

/// The epoch commit-reveal sees at `block` (> `state.current_block`) under the stateful model,
/// by simulating the chain's epoch triggers block by block from the state read at its head.
pub fn stateful_epoch_at(state: &EpochScheduleState, block: u64) -> u64 {
    let mut s = *state;
    for b in state.current_block + 1..block {
        s = s.after_block(b);
    }
    s.epoch_seen_at(block)
}

/// The first block after `state.current_block` at which the stateful epoch reaches `epoch`,
/// or `None` if it does not within the longest possible wait.
pub fn stateful_epoch_start(state: &EpochScheduleState, epoch: u64) -> Option<u64> {
    if state.tempo == 0 {
        return None;
    }
    let epochs_ahead = epoch.saturating_sub(state.subnet_epoch_index).max(1);
    let bound = state.current_block + 1 + epochs_ahead.saturating_mul(MAX_TEMPO) + MAX_TEMPO;
    let mut s = *state;
    for b in state.current_block + 1..=bound {
        if s.epoch_seen_at(b) >= epoch {
            return Some(b);
        }
        s = s.after_block(b);
    }
    None
}

/// The epoch commit-reveal assigns to an extrinsic included at `block`, under either model.
pub(crate) fn epoch_of(
    model: EpochModel,
    tempo: u16,
    netuid: u16,
    schedule: Option<&EpochScheduleState>,
    block: u64,
) -> u64 {
    match (model, schedule) {
        (EpochModel::Stateful, Some(state)) if block > state.current_block => stateful_epoch_at(state, block),
        (EpochModel::Stateful, Some(state)) => state.subnet_epoch_index,
        _ => legacy_epoch(tempo, netuid, block),
    }
}

/// Where a pending hash reveal stands when a reveal now would land in `current_epoch`: `None`
/// when it is due.
pub(crate) fn reveal_status(
    pending: &PendingReveal,
    current_epoch: u64,
    due_at_block: impl FnOnce() -> Option<u64>,
) -> Option<RevealOutcome> {
    if current_epoch < pending.reveal_epoch {
        return Some(RevealOutcome::NotYet {
            reveal_epoch: pending.reveal_epoch,
            current_epoch,
            due_at_block: due_at_block(),
        });
    }
    if current_epoch > pending.reveal_epoch {
        return Some(RevealOutcome::Expired { reveal_epoch: pending.reveal_epoch, current_epoch });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_epochs_start_where_the_formula_says() {
        // Epoch e covers blocks whose (b + netuid + 1) / (tempo + 1) == e.
        let start = legacy_epoch_start(360, 37, 16_667);
        assert_eq!(legacy_epoch(360, 37, start), 16_667);
        assert_eq!(legacy_epoch(360, 37, start - 1), 16_666);
        assert_eq!(legacy_epoch(360, 37, start + 360), 16_667);
    }

    #[test]
    fn stateful_epochs_are_simulated_from_the_head() {
        let state = EpochScheduleState {
            last_epoch_block: 1000,
            pending_epoch_at: 0,
            subnet_epoch_index: 7,
            tempo: 100,
            blocks_since_last_step: 50,
            current_block: 1050,
        };
        assert_eq!(stateful_epoch_at(&state, 1099), 7);
        assert_eq!(stateful_epoch_at(&state, 1100), 8);
        assert_eq!(stateful_epoch_at(&state, 1200), 9);
        assert_eq!(stateful_epoch_start(&state, 8), Some(1100));
        assert_eq!(stateful_epoch_start(&state, 9), Some(1200));
        let owner_triggered = EpochScheduleState { pending_epoch_at: 1060, ..state };
        assert_eq!(stateful_epoch_start(&owner_triggered, 8), Some(1060));
        assert_eq!(stateful_epoch_start(&EpochScheduleState { tempo: 0, ..state }, 8), None);
    }
}
