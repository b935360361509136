//! How a row of our weights agrees with consensus: per miner, our normalised weight, the
//! consensus and how far above it we are; overall, the validator trust the chain would give
//! the row (`Σ_j min(w_j, C_j)`).
//!
//! [`estimate_row`] answers it two ways for a row we are about to set: against the consensus
//! the inputs already produce (a forecast: with commit-reveal, the consensus our row meets is
//! computed later, from rows revealed then), and with our row in place of our current one,
//! which also moves consensus by our own stake.

use serde::{Deserialize, Serialize};

use crate::epoch::{check_row, clip_row, normalize_row, run_epoch, ConsensusError, EpochInputs, EpochOutputs};

/// One miner in a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinerAgreement {
    pub uid: u16,
    /// Our weight after the chain's masks and row normalisation.
    pub weight: f64,
    pub consensus: f64,
    /// `min(weight, consensus)`: the part of our weight that counts.
    pub clipped: f64,
    /// `weight − consensus` when positive: the part that is clipped away.
    pub overshoot: f64,
}

/// A row against a consensus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowAgreement {
    /// `Σ clipped`, in [0, 1].
    pub vtrust: f64,
    /// Miners the row weights, in the row's order.
    pub miners: Vec<MinerAgreement>,
}

/// Our trust for a row we are about to set, two ways.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowEstimate {
    /// Against the consensus of the inputs as they are.
    pub against_current: RowAgreement,
    /// After replacing our row with this one (our `last_update` and commit at the current
    /// block) and rerunning the epoch. 0 if we hold no validator permit.
    pub with_row_substituted: RowAgreement,
    /// The epoch rerun with our row in place.
    pub substituted_epoch: EpochOutputs,
}

/// A masked, normalised row against `consensus`.
pub fn row_agreement(row: &[(u16, f64)], consensus: &[f64]) -> RowAgreement {
    let clipped = clip_row(row, consensus);
    let miners: Vec<MinerAgreement> = row
        .iter()
        .map(|&(uid, weight)| {
            let c = consensus[uid as usize];
            let kept = clipped.iter().find(|(j, _)| *j == uid).map_or(0.0, |(_, w)| *w);
            MinerAgreement { uid, weight, consensus: c, clipped: kept, overshoot: (weight - c).max(0.0) }
        })
        .collect();
    RowAgreement { vtrust: clipped.iter().map(|(_, w)| w).sum(), miners }
}

/// Our trust for `row` (u16 weights as we would submit them) as validator `uid` of `inputs`.
pub fn estimate_row(inputs: &EpochInputs, uid: u16, row: &[(u16, u16)]) -> Result<RowEstimate, ConsensusError> {
    let n = inputs.n();
    let me = uid as usize;
    if me >= n {
        return Err(ConsensusError::UnknownUid { uid, n });
    }
    check_row(me, row)?;
    let current = run_epoch(inputs)?;

    // Setting weights now makes our last update now; under commit-reveal the mask uses our
    // earliest live commit, which is now unless an older one is still live.
    let now = inputs.current_block;
    let commit_now =
        inputs.earliest_commit_block.as_ref().map(|commits| commits[me].map_or(now, |earliest| earliest.min(now)));
    let mut ours = inputs.masked_row(me, row, now, commit_now);
    normalize_row(&mut ours);
    let against_current = row_agreement(&ours, &current.consensus);

    let mut substituted = inputs.clone();
    substituted.weights[me] = row.to_vec();
    substituted.last_update[me] = now;
    if let Some(commits) = substituted.earliest_commit_block.as_mut() {
        commits[me] = commit_now;
    }
    let substituted_epoch = run_epoch(&substituted)?;
    let with_row_substituted = row_agreement(&substituted_epoch.weights[me], &substituted_epoch.consensus);
    Ok(RowEstimate { against_current, with_row_substituted, substituted_epoch })
}
