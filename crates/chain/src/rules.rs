//! The checks subtensor applies to `set_weights`, shared by both chains: the local chain
//! enforces them, the subtensor client uses them to refuse what the chain would refuse.

use crate::error::SetWeightsError;
use serde::{Deserialize, Serialize};

/// The subnet parameters a weight setter needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hyperparameters {
    /// Blocks per epoch.
    pub tempo: u16,
    /// Minimum blocks between two weight submissions of one uid (`WeightsSetRateLimit`).
    pub weights_rate_limit: u64,
    /// Submissions must carry a version key at least this high (`WeightsVersionKey`).
    pub weights_version_key: u64,
    /// When true, `set_weights` is refused with `CommitRevealEnabled`.
    pub commit_reveal_enabled: bool,
    /// A submission must name at least this many uids (`MinAllowedWeights`).
    pub min_allowed_weights: u16,
    /// `MaxWeightsLimit` (u16 scale).
    pub max_weights_limit: u16,
    /// `RevealPeriodEpochs`, when the runtime has it (commit-reveal schedules).
    pub reveal_period_epochs: Option<u64>,
    /// `CommitRevealWeightsVersion`, when the runtime has it.
    pub commit_reveal_version: Option<u16>,
    /// `Kappa` (consensus majority, κ = kappa / 65535).
    #[serde(default = "default_kappa")]
    pub kappa: u16,
    /// Blocks without a weight update after which a validator is inactive: `ActivityCutoff`,
    /// or `max(1, ActivityCutoffFactorMilli × tempo / 1000)` on runtimes that have the factor.
    #[serde(default = "default_activity_cutoff")]
    pub activity_cutoff: u64,
}

/// Subtensor's default `Kappa` (≈ ½: the stake-weighted median).
pub const DEFAULT_KAPPA: u16 = 32_767;
/// Subtensor's default `ActivityCutoff`.
pub const DEFAULT_ACTIVITY_CUTOFF: u64 = 5_000;

fn default_kappa() -> u16 {
    DEFAULT_KAPPA
}

fn default_activity_cutoff() -> u64 {
    DEFAULT_ACTIVITY_CUTOFF
}

impl Default for Hyperparameters {
    /// The local chain's defaults: subtensor's defaults for a new subnet, commit-reveal off.
    fn default() -> Self {
        Hyperparameters {
            tempo: 360,
            weights_rate_limit: 100,
            weights_version_key: 0,
            commit_reveal_enabled: false,
            min_allowed_weights: 1,
            max_weights_limit: u16::MAX,
            reveal_period_epochs: None,
            commit_reveal_version: None,
            kappa: DEFAULT_KAPPA,
            activity_cutoff: DEFAULT_ACTIVITY_CUTOFF,
        }
    }
}

/// A weight vector to set: uids and their u16 weights (already max-normalised), and the
/// version key of the validator's code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsSubmission {
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    pub version_key: u64,
}

/// Checks the vectors against a subnet of `n` uids: equal lengths, no duplicate uid, every
/// uid below `n`.
pub fn check_vectors(submission: &WeightsSubmission, n: usize) -> Result<(), SetWeightsError> {
    let WeightsSubmission { uids, weights, .. } = submission;
    if uids.len() != weights.len() {
        return Err(SetWeightsError::Invalid(format!(
            "{} uids but {} weights (WeightVecNotEqualSize)",
            uids.len(),
            weights.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for &uid in uids {
        if !seen.insert(uid) {
            return Err(SetWeightsError::Invalid(format!("uid {uid} appears twice (DuplicateUids)")));
        }
        if usize::from(uid) >= n {
            return Err(SetWeightsError::Invalid(format!(
                "uid {uid} does not exist on a subnet of {n} uids (UidVecContainInvalidOne)"
            )));
        }
    }
    Ok(())
}

/// Checks everything the chain decides from its hyperparameters and the uid's last update:
/// commit-reveal, the version key and the rate limit (`current - last_update >= limit`, or
/// never set before).
pub fn check_permission(
    netuid: u16,
    submission: &WeightsSubmission,
    hyper: &Hyperparameters,
    last_update: u64,
    current_block: u64,
) -> Result<(), SetWeightsError> {
    if hyper.commit_reveal_enabled {
        return Err(SetWeightsError::CommitRevealRequired { netuid });
    }
    check_commit_permission(netuid, submission, hyper, last_update, current_block)
}

/// The checks a weight *commit* must pass (timelocked or hash): the version key and the rate
/// limit, which subtensor applies to commits because it sets `LastUpdate` at commit time.
pub fn check_commit_permission(
    netuid: u16,
    submission: &WeightsSubmission,
    hyper: &Hyperparameters,
    last_update: u64,
    current_block: u64,
) -> Result<(), SetWeightsError> {
    if submission.version_key < hyper.weights_version_key {
        return Err(SetWeightsError::VersionKeyTooLow {
            given: submission.version_key,
            required: hyper.weights_version_key,
        });
    }
    let since = current_block.saturating_sub(last_update);
    if last_update != 0 && since < hyper.weights_rate_limit {
        return Err(SetWeightsError::TooSoon {
            netuid,
            last_update,
            rate_limit: hyper.weights_rate_limit,
            current_block,
            blocks_left: hyper.weights_rate_limit - since,
        });
    }
    Ok(())
}

/// Subtensor's `vec_u16_max_upscale_to_u16`, which every weight row goes through before it is
/// stored: scaled so that the largest value becomes 65535, in `I32F32` fixed point (32
/// fractional bits, truncating multiplication and division, rounding half away from zero at the
/// end). Emulated exactly with integers.
pub fn max_upscale_u16(values: &[u16]) -> Vec<u16> {
    const ONE: u128 = 1 << 32;
    let Some(&max) = values.iter().max() else { return Vec::new() };
    if max == 0 {
        return values.to_vec();
    }
    let round = |fixed: u128| -> u16 { ((fixed + ONE / 2) >> 32).min(u128::from(u16::MAX)) as u16 };
    let max = u128::from(max);
    if max > 32_768 {
        // e × (65535 / max): the quotient is truncated to 32 fractional bits first.
        let factor = (u128::from(u16::MAX) << 32) / max;
        values.iter().map(|&e| round(u128::from(e) * factor)).collect()
    } else {
        // (e × 65535) / max.
        values.iter().map(|&e| round(((u128::from(e) * u128::from(u16::MAX)) << 32) / max)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(uids: &[u16], weights: &[u16]) -> WeightsSubmission {
        WeightsSubmission { uids: uids.to_vec(), weights: weights.to_vec(), version_key: 10 }
    }

    #[test]
    fn vectors_are_checked() {
        assert!(check_vectors(&sub(&[0, 2], &[1, 2]), 3).is_ok());
        assert!(check_vectors(&sub(&[0], &[1, 2]), 3).unwrap_err().to_string().contains("WeightVecNotEqualSize"));
        assert!(check_vectors(&sub(&[1, 1], &[1, 2]), 3).unwrap_err().to_string().contains("DuplicateUids"));
        assert!(check_vectors(&sub(&[3], &[1]), 3).unwrap_err().to_string().contains("UidVecContainInvalidOne"));
    }

    #[test]
    fn rate_limit_counts_blocks_left() {
        let hyper = Hyperparameters { weights_rate_limit: 100, ..Default::default() };
        let s = sub(&[0], &[1]);
        assert!(check_permission(1, &s, &hyper, 0, 5).is_ok(), "never set: allowed");
        assert!(check_permission(1, &s, &hyper, 900, 1000).is_ok(), "exactly the limit: allowed");
        match check_permission(1, &s, &hyper, 950, 1000) {
            Err(SetWeightsError::TooSoon { blocks_left, .. }) => assert_eq!(blocks_left, 50),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn max_upscaling_follows_subtensor() {
        assert_eq!(max_upscale_u16(&[65535, 10, 0]), vec![65535, 10, 0]);
        // Small maxima take the (e × 65535) / max branch: 1/2 of 65535 rounds half up.
        assert_eq!(max_upscale_u16(&[1, 2]), vec![32768, 65535]);
        assert_eq!(max_upscale_u16(&[1, 3]), vec![21845, 65535]);
        // Large maxima take the e × (65535 / max) branch, whose truncated factor can lose one.
        assert_eq!(max_upscale_u16(&[40000, 50000]), vec![52428, 65535]);
        assert_eq!(max_upscale_u16(&[0, 0]), vec![0, 0]);
        assert_eq!(max_upscale_u16(&[]), Vec::<u16>::new());
    }

    #[test]
    fn commits_skip_the_commit_reveal_refusal_but_keep_the_rate_limit() {
        let cr = Hyperparameters { commit_reveal_enabled: true, weights_rate_limit: 10, ..Default::default() };
        let s = sub(&[0], &[1]);
        assert!(check_commit_permission(7, &s, &cr, 0, 1).is_ok());
        assert!(matches!(
            check_commit_permission(7, &s, &cr, 95, 100),
            Err(SetWeightsError::TooSoon { blocks_left: 5, .. })
        ));
    }

    #[test]
    fn commit_reveal_and_version_key_refuse() {
        let s = sub(&[0], &[1]);
        let cr = Hyperparameters { commit_reveal_enabled: true, ..Default::default() };
        assert!(matches!(check_permission(7, &s, &cr, 0, 1), Err(SetWeightsError::CommitRevealRequired { netuid: 7 })));
        let vk = Hyperparameters { weights_version_key: 11, ..Default::default() };
        assert!(matches!(
            check_permission(7, &s, &vk, 0, 1),
            Err(SetWeightsError::VersionKeyTooLow { given: 10, required: 11 })
        ));
    }
}
