//! The agreement monitor's data: what Yuma consensus reads for a subnet at one block
//! ([`AgreementSnapshot`], filled by [`Chain::agreement_snapshot`]), and our validator trust
//! estimated from it ([`vtrust_estimate`]) for the weights we have set and for the weights we
//! are about to set, next to the trust the chain stored at its last epoch.
//!
//! The rebuild runs steps 1–8 of the epoch in the `consensus` crate (f64; the chain uses
//! `I32F32`, so values can differ in the last u16 step). Under commit-reveal, the consensus a
//! row we commit now will meet is computed later, from rows revealed then: the estimate for the
//! row about to be set is a forecast against the present consensus.

use crate::account::{AccountId, Block};
use crate::error::ChainError;
use crate::Chain;
use consensus::{estimate_row, row_agreement, run_epoch, ConsensusError, EpochInputs, RowAgreement};
use serde::{Deserialize, Serialize};

/// Where the stake vector of a snapshot comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakeSource {
    /// `StakeWeight[netuid]`: the normalised stake the chain's last epoch used (alpha plus
    /// TAO × `TaoWeight`, child-adjusted, thresholded): the epoch's own numbers.
    StakeWeight,
    /// The neurons' stake as the metagraph reports it, where the chain has no `StakeWeight`
    /// (or the local chain): close, but not the epoch's child/TAO-weighted stake.
    NeuronStake,
}

/// What the epoch reads for one subnet at one block, plus what the chain stored from its
/// last epoch where it has it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgreementSnapshot {
    pub netuid: u16,
    pub block: Block,
    /// By uid.
    pub hotkeys: Vec<AccountId>,
    pub inputs: EpochInputs,
    pub stake_source: StakeSource,
    pub commit_reveal_enabled: bool,
    /// `ValidatorTrust[netuid]` (u16 proportions of 65535), by uid; `None` where the chain does
    /// not store it (the local chain runs no epochs).
    pub chain_validator_trust: Option<Vec<u16>>,
    /// `Consensus[netuid]`, by uid, likewise.
    pub chain_consensus: Option<Vec<u16>>,
}

impl AgreementSnapshot {
    pub fn uid_of(&self, hotkey: &AccountId) -> Option<u16> {
        self.hotkeys.iter().position(|h| h == hotkey).map(|uid| uid as u16)
    }
}

/// Our validator trust, estimated at one block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VtrustEstimate {
    pub netuid: u16,
    pub block: u64,
    pub uid: u16,
    /// Without a validator permit the chain drops our row: every estimate is 0.
    pub validator_permit: bool,
    /// The trust of the row the chain holds for us (revealed, under commit-reveal) against the
    /// consensus the chain's state at `block` produces.
    pub set: f64,
    /// The row we are about to set, against that same consensus (a forecast).
    pub about_to_set: Option<f64>,
    /// The row we are about to set, with the epoch rerun as if it were already in place (our
    /// own stake then moves consensus too).
    pub about_to_set_in_place: Option<f64>,
    /// `ValidatorTrust[uid] / 65535` as the chain stored it at its last epoch.
    pub chain_stored: Option<f64>,
    /// Per miner, the row the chain holds against consensus.
    pub set_row: RowAgreement,
    /// Per miner, the row about to be set against consensus.
    pub about_to_set_row: Option<RowAgreement>,
}

/// Why no estimate could be made.
#[derive(Debug, thiserror::Error)]
pub enum AgreementError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("the consensus inputs of subnet {netuid} at block {block} are inconsistent: {source}")]
    Inputs { netuid: u16, block: u64, source: ConsensusError },
    #[error("hotkey {hotkey} is not registered on subnet {netuid} at block {block}")]
    NotRegistered { hotkey: AccountId, netuid: u16, block: u64 },
    #[error("uid {uid} does not exist on subnet {netuid} ({n} uids) at block {block}")]
    NoSuchUid { uid: u16, netuid: u16, n: usize, block: u64 },
}

fn check_hotkeys(snapshot: &AgreementSnapshot) -> Result<(), AgreementError> {
    let (n, got) = (snapshot.inputs.n(), snapshot.hotkeys.len());
    if got != n {
        let source = ConsensusError::LengthMismatch { field: "hotkeys", expected: n, got };
        return Err(AgreementError::Inputs { netuid: snapshot.netuid, block: snapshot.block.number, source });
    }
    Ok(())
}

/// Our trust as validator `uid` of `snapshot`, for the row the chain holds and, if given, for
/// `about_to_set` (u16 weights as they will be submitted: `(miner uid, weight)`).
pub fn vtrust_estimate(
    snapshot: &AgreementSnapshot,
    uid: u16,
    about_to_set: Option<&[(u16, u16)]>,
) -> Result<VtrustEstimate, AgreementError> {
    let inputs_error =
        |source| AgreementError::Inputs { netuid: snapshot.netuid, block: snapshot.block.number, source };
    check_hotkeys(snapshot)?;
    let n = snapshot.inputs.n();
    if usize::from(uid) >= n {
        return Err(AgreementError::NoSuchUid { uid, netuid: snapshot.netuid, n, block: snapshot.block.number });
    }
    let epoch = run_epoch(&snapshot.inputs).map_err(inputs_error)?;
    let me = usize::from(uid);
    let set_row = row_agreement(&epoch.weights[me], &epoch.consensus);
    let (about_to_set, about_to_set_in_place, about_to_set_row) = match about_to_set {
        Some(row) => {
            let estimate = estimate_row(&snapshot.inputs, uid, row).map_err(inputs_error)?;
            (
                Some(estimate.against_current.vtrust),
                Some(estimate.with_row_substituted.vtrust),
                Some(estimate.against_current),
            )
        }
        None => (None, None, None),
    };
    let chain_stored = snapshot
        .chain_validator_trust
        .as_ref()
        .and_then(|trust| trust.get(me))
        .map(|&t| f64::from(t) / f64::from(u16::MAX));
    Ok(VtrustEstimate {
        netuid: snapshot.netuid,
        block: snapshot.block.number,
        uid,
        validator_permit: snapshot.inputs.validator_permit[me],
        set: epoch.validator_trust[me],
        about_to_set,
        about_to_set_in_place,
        chain_stored,
        set_row,
        about_to_set_row,
    })
}

/// Reads the snapshot of `netuid` at the head and estimates the trust of `hotkey` there: the
/// call for the validator's round table and metrics.
pub async fn estimate_at_head(
    chain: &dyn Chain,
    netuid: u16,
    hotkey: &AccountId,
    about_to_set: Option<&[(u16, u16)]>,
) -> Result<VtrustEstimate, AgreementError> {
    let head = chain.head().await?;
    let snapshot = chain.agreement_snapshot(netuid, &head).await?;
    let uid =
        snapshot.uid_of(hotkey).ok_or(AgreementError::NotRegistered { hotkey: *hotkey, netuid, block: head.number })?;
    vtrust_estimate(&snapshot, uid, about_to_set)
}

/// One miner in [`ConsensusReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinerLine {
    pub uid: u16,
    pub hotkey: AccountId,
    /// Consensus rebuilt from the snapshot.
    pub consensus: f64,
    /// `Consensus[uid] / 65535` as the chain stored it at its last epoch.
    pub chain_consensus: Option<f64>,
    pub incentive: f64,
    /// Our weight after the epoch's masks and row normalisation (with `--uid`/`--hotkey`).
    pub our_weight: Option<f64>,
    /// `max(0, our_weight − consensus)`: the part of our weight clipped away.
    pub clipped: Option<f64>,
}

/// One validator in [`ConsensusReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidatorLine {
    pub uid: u16,
    pub hotkey: AccountId,
    /// Share of the active stake (0 when inactive or without permit).
    pub active_stake: f64,
    pub vtrust: f64,
    pub chain_vtrust: Option<f64>,
}

/// Consensus per miner, trust per validator, and ours: what the `consensus` command prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsensusReport {
    pub netuid: u16,
    pub block: Block,
    pub stake_source: StakeSource,
    pub commit_reveal_enabled: bool,
    /// Miners with consensus, incentive or our weight above 0, by uid.
    pub miners: Vec<MinerLine>,
    /// Validators with active stake or a weight row, by uid.
    pub validators: Vec<ValidatorLine>,
    pub ours: Option<VtrustEstimate>,
}

/// Rebuilds the epoch of `snapshot` and lays it out per miner and per validator, with our row
/// (validator `uid`) next to consensus.
pub fn consensus_report(snapshot: &AgreementSnapshot, uid: Option<u16>) -> Result<ConsensusReport, AgreementError> {
    let inputs_error =
        |source| AgreementError::Inputs { netuid: snapshot.netuid, block: snapshot.block.number, source };
    check_hotkeys(snapshot)?;
    let epoch = run_epoch(&snapshot.inputs).map_err(inputs_error)?;
    let ours = uid.map(|uid| vtrust_estimate(snapshot, uid, None)).transpose()?;
    let stored = |v: &Option<Vec<u16>>, i: usize| v.as_ref().and_then(|v| v.get(i)).map(|&x| f64::from(x) / 65_535.0);
    let our_row = uid.map(|u| &epoch.weights[usize::from(u)]);
    let miners = (0..snapshot.inputs.n())
        .filter_map(|j| {
            let weight = our_row.map(|row| row.iter().find(|(m, _)| usize::from(*m) == j).map_or(0.0, |(_, w)| *w));
            let (consensus, incentive) = (epoch.consensus[j], epoch.incentive[j]);
            let shown = consensus > 0.0 || incentive > 0.0 || weight.is_some_and(|w| w > 0.0);
            shown.then(|| MinerLine {
                uid: j as u16,
                hotkey: snapshot.hotkeys[j],
                consensus,
                chain_consensus: stored(&snapshot.chain_consensus, j),
                incentive,
                our_weight: weight,
                clipped: weight.map(|w| (w - consensus).max(0.0)),
            })
        })
        .collect();
    let validators = (0..snapshot.inputs.n())
        .filter(|&i| epoch.active_stake[i] > 0.0 || !epoch.weights[i].is_empty())
        .map(|i| ValidatorLine {
            uid: i as u16,
            hotkey: snapshot.hotkeys[i],
            active_stake: epoch.active_stake[i],
            vtrust: epoch.validator_trust[i],
            chain_vtrust: stored(&snapshot.chain_validator_trust, i),
        })
        .collect();
    Ok(ConsensusReport {
        netuid: snapshot.netuid,
        block: snapshot.block,
        stake_source: snapshot.stake_source,
        commit_reveal_enabled: snapshot.commit_reveal_enabled,
        miners,
        validators,
        ours,
    })
}
