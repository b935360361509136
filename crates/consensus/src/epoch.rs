//! Steps 1–9 of subtensor's Yuma epoch for one mechanism: active stake, weight masking and
//! normalisation, consensus, clipping, validator trust and incentive.
//!
//! The order and the masks follow `epoch_mechanism` (subtensor v3.4.9):
//!
//! 1. stake `s` normalised to sum 1;
//! 2. inactive: `last_update + activity_cutoff < current_block`;
//! 3. active stake `S`: `s` with inactive and permit-less validators zeroed, renormalised;
//! 4. weights `W`: rows of permit-less validators emptied; self-weight dropped (the subnet
//!    owner's kept); uids ≥ n dropped; `W_ij` dropped when `last_update_i ≤ registered_j`
//!    (set before miner `j` registered); with commit-reveal on, also when validator `i`'s
//!    earliest live commit was made before `j` registered; each row normalised to sum 1;
//! 5. consensus `C_j`: stake-weighted median of column `j` with κ ([`crate::median`]);
//! 6. clipped `W̄_ij = min(W_ij, C_j)`;
//! 7. validator trust `Σ_j W̄_ij`;
//! 8. incentive: `Σ_i W̄_ij S_i`, normalised.

use serde::{Deserialize, Serialize};

use crate::median::{kappa_fraction, stake_weighted_median};

/// Why the inputs cannot describe one subnet at one block.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConsensusError {
    #[error("{field} has {got} entries but the subnet has {expected} uids (the length of `stake`)")]
    LengthMismatch { field: &'static str, expected: usize, got: usize },
    #[error("stake of uid {uid} is {value}: stakes must be finite and not negative")]
    InvalidStake { uid: usize, value: f64 },
    #[error("the weight row of uid {row} names uid {uid} twice (the chain never stores that)")]
    DuplicateUid { row: usize, uid: u16 },
    #[error("uid {uid} is outside the subnet of {n} uids")]
    UnknownUid { uid: u16, n: usize },
}

/// What the epoch reads, for a subnet of `n = stake.len()` uids, all at one block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochInputs {
    /// `Weights[(netuid_index, i)]` for every uid `i` (empty when none): `(miner uid, u16)`
    /// as stored (max-upscaled; only ratios matter).
    pub weights: Vec<Vec<(u16, u16)>>,
    /// Each uid's stake as the epoch weighs it (`get_stake_weights_for_network`'s total stake,
    /// already zeroed below `StakeThreshold`); any unit, only ratios matter.
    pub stake: Vec<f64>,
    /// `ValidatorPermit[netuid]` (the permits from the previous epoch).
    pub validator_permit: Vec<bool>,
    /// `LastUpdate[netuid_index]`.
    pub last_update: Vec<u64>,
    /// `BlockAtRegistration(netuid, uid)`.
    pub block_at_registration: Vec<u64>,
    /// Blocks of silence after which a validator is inactive.
    pub activity_cutoff: u64,
    /// `Kappa[netuid]` (κ = kappa / 65535).
    pub kappa: u16,
    /// The block the epoch runs at.
    pub current_block: u64,
    /// The subnet owner's uid, whose self-weight is kept.
    pub owner_uid: Option<u16>,
    /// With commit-reveal on: each uid's earliest live commit block (`None`: no live commit).
    /// `None` as a whole when commit-reveal is off.
    pub earliest_commit_block: Option<Vec<Option<u64>>>,
}

/// The epoch's view of consensus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochOutputs {
    /// Not inactive (step 2).
    pub active: Vec<bool>,
    /// `S` (step 3), sums to 1 unless no validator is active and permitted.
    pub active_stake: Vec<f64>,
    /// `W` after masking and row normalisation (step 4).
    pub weights: Vec<Vec<(u16, f64)>>,
    /// `C` per miner uid (step 5).
    pub consensus: Vec<f64>,
    /// `W̄` (step 6).
    pub clipped_weights: Vec<Vec<(u16, f64)>>,
    /// Per uid (step 7); what the chain stores, × 65535, as `ValidatorTrust`.
    pub validator_trust: Vec<f64>,
    /// Per uid (step 8); what the chain stores, × 65535, as `Incentive`.
    pub incentive: Vec<f64>,
}

impl EpochInputs {
    pub fn n(&self) -> usize {
        self.stake.len()
    }

    /// Checks that every per-uid vector covers the same `n` uids and that rows are well formed.
    pub fn validate(&self) -> Result<(), ConsensusError> {
        let n = self.n();
        let lengths = [
            ("weights", self.weights.len()),
            ("validator_permit", self.validator_permit.len()),
            ("last_update", self.last_update.len()),
            ("block_at_registration", self.block_at_registration.len()),
        ];
        let commit_len = self.earliest_commit_block.as_ref().map(|v| ("earliest_commit_block", v.len()));
        for (field, got) in lengths.into_iter().chain(commit_len) {
            if got != n {
                return Err(ConsensusError::LengthMismatch { field, expected: n, got });
            }
        }
        for (uid, &value) in self.stake.iter().enumerate() {
            if !value.is_finite() || value < 0.0 {
                return Err(ConsensusError::InvalidStake { uid, value });
            }
        }
        for (row, entries) in self.weights.iter().enumerate() {
            check_row(row, entries)?;
        }
        Ok(())
    }

    /// Whether validator `uid` has been silent past the activity cutoff.
    pub fn is_inactive(&self, uid: usize) -> bool {
        self.last_update[uid].saturating_add(self.activity_cutoff) < self.current_block
    }

    /// Row `row` as the epoch keeps it, before normalisation, had validator `row` last updated
    /// its weights at `last_update` (and, under commit-reveal, committed at `commit_block`).
    pub(crate) fn masked_row(
        &self,
        row: usize,
        entries: &[(u16, u16)],
        last_update: u64,
        commit_block: Option<u64>,
    ) -> Vec<(u16, f64)> {
        if !self.validator_permit[row] {
            return Vec::new();
        }
        let n = self.n();
        entries
            .iter()
            .filter(|&&(j, _)| (j as usize) < n)
            .filter(|&&(j, _)| j as usize != row || self.owner_uid == Some(j))
            .filter(|&&(j, _)| last_update > self.block_at_registration[j as usize])
            .filter(|&&(j, _)| commit_block.is_none_or(|cb| cb >= self.block_at_registration[j as usize]))
            .map(|&(j, w)| (j, f64::from(w)))
            .collect()
    }

    fn commit_block(&self, uid: usize) -> Option<u64> {
        self.earliest_commit_block.as_ref().and_then(|v| v[uid])
    }
}

pub(crate) fn check_row(row: usize, entries: &[(u16, u16)]) -> Result<(), ConsensusError> {
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    for &(uid, _) in entries {
        if !seen.insert(uid) {
            return Err(ConsensusError::DuplicateUid { row, uid });
        }
    }
    Ok(())
}

/// Sum-to-one normalisation that leaves an all-zero vector alone, like the chain's.
pub(crate) fn normalize(values: &mut [f64]) {
    let sum: f64 = values.iter().sum();
    if sum != 0.0 {
        values.iter_mut().for_each(|v| *v /= sum);
    }
}

pub(crate) fn normalize_row(row: &mut [(u16, f64)]) {
    let sum: f64 = row.iter().map(|(_, w)| w).sum();
    if sum != 0.0 {
        row.iter_mut().for_each(|(_, w)| *w /= sum);
    }
}

/// Consensus per miner from masked, normalised rows and active stake.
pub(crate) fn consensus_of(weights: &[Vec<(u16, f64)>], active_stake: &[f64], kappa: f64) -> Vec<f64> {
    let n = active_stake.len();
    let mut columns = vec![vec![0.0; n]; n];
    for (i, row) in weights.iter().enumerate() {
        for &(j, w) in row {
            columns[j as usize][i] = w;
        }
    }
    columns.iter().map(|column| stake_weighted_median(active_stake, column, kappa)).collect()
}

/// `min(W_ij, C_j)`; an entry above a consensus of 0 disappears, as on chain.
pub(crate) fn clip_row(row: &[(u16, f64)], consensus: &[f64]) -> Vec<(u16, f64)> {
    row.iter()
        .filter_map(|&(j, w)| {
            let c = consensus[j as usize];
            if c < w {
                (c > 0.0).then_some((j, c))
            } else {
                Some((j, w))
            }
        })
        .collect()
}

/// Runs steps 1–9 of the epoch on `inputs`.
pub fn run_epoch(inputs: &EpochInputs) -> Result<EpochOutputs, ConsensusError> {
    inputs.validate()?;
    let n = inputs.n();

    let mut stake = inputs.stake.clone();
    normalize(&mut stake);
    let active: Vec<bool> = (0..n).map(|i| !inputs.is_inactive(i)).collect();
    let mut active_stake: Vec<f64> =
        (0..n).map(|i| if active[i] && inputs.validator_permit[i] { stake[i] } else { 0.0 }).collect();
    normalize(&mut active_stake);

    let weights: Vec<Vec<(u16, f64)>> = (0..n)
        .map(|i| {
            let mut row = inputs.masked_row(i, &inputs.weights[i], inputs.last_update[i], inputs.commit_block(i));
            normalize_row(&mut row);
            row
        })
        .collect();

    let consensus = consensus_of(&weights, &active_stake, kappa_fraction(inputs.kappa));
    let clipped_weights: Vec<Vec<(u16, f64)>> = weights.iter().map(|row| clip_row(row, &consensus)).collect();
    let validator_trust = clipped_weights.iter().map(|row| row.iter().map(|(_, w)| w).sum()).collect();
    let mut incentive = vec![0.0; n];
    for (i, row) in clipped_weights.iter().enumerate() {
        for &(j, w) in row {
            incentive[j as usize] += w * active_stake[i];
        }
    }
    normalize(&mut incentive);

    Ok(EpochOutputs { active, active_stake, weights, consensus, clipped_weights, validator_trust, incentive })
}
