//! One timelocked weight commit, ready to submit: the payload sealed for the planned round, the
//! extrinsic that carries it, and what a step record keeps about it.

use sha2::{Digest, Sha256};

use crate::beacon::BeaconPublicKey;
use crate::calls::{CallError, WeightsCall, COMMIT_REVEAL_VERSION};
use crate::payload::{PayloadError, WeightsTlockPayload};
use crate::reveal_round::RevealPlan;

/// Why a commit could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommitError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Call(#[from] CallError),
}

/// A sealed commit and its extrinsic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelockedCommit {
    /// `commit_timelocked_mechanism_weights`, or `commit_timelocked_weights` on runtimes
    /// without mechanisms.
    pub call: WeightsCall,
    pub plan: RevealPlan,
    /// sha256 of the SCALE plaintext: identifies what was committed without revealing it.
    pub payload_sha256: [u8; 32],
}

/// Seals `payload` for `plan.reveal_round` under `beacon` and wraps it in the extrinsic for
/// mechanism `mecid` of `netuid`, with commit-reveal version 4.
pub fn timelocked_commit(
    beacon: &BeaconPublicKey,
    payload: &WeightsTlockPayload,
    netuid: u16,
    mecid: u8,
    plan: RevealPlan,
    mechanism_calls: bool,
) -> Result<TimelockedCommit, CommitError> {
    let commit = payload.seal(beacon, plan.reveal_round)?;
    let call = if mechanism_calls {
        WeightsCall::CommitTimelockedMechanismWeights {
            netuid,
            mecid,
            commit,
            reveal_round: plan.reveal_round,
            commit_reveal_version: COMMIT_REVEAL_VERSION,
        }
    } else if mecid == 0 {
        WeightsCall::CommitTimelockedWeights {
            netuid,
            commit,
            reveal_round: plan.reveal_round,
            commit_reveal_version: COMMIT_REVEAL_VERSION,
        }
    } else {
        return Err(CallError::MechanismCallsRequired { mecid }.into());
    };
    call.validate()?;
    Ok(TimelockedCommit { call, plan, payload_sha256: Sha256::digest(payload.to_bytes()).into() })
}
