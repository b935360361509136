//! The record a validator keeps between a CR v2 hash commit and its reveal, so that a restart
//! does not lose the reveal: the chain accepts it only in epoch `commit_epoch + reveal_period`,
//! and only with the exact uids, values, salt and version key that were hashed.
//!
//! Serialised with serde (hashes and keys as hex); writing it atomically is the caller's job.

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::calls::{commit_hash, netuid_storage_index, CallError, WeightsCall};

/// Length of the salt [`random_salt`] draws (the Python SDKs use 8 u16 as well).
pub const DEFAULT_SALT_LEN: usize = 8;

/// A fresh random salt.
pub fn random_salt(len: usize) -> Vec<u16> {
    (0..len).map(|_| (OsRng.next_u32() & 0xffff) as u16).collect()
}

/// A hash commit waiting for its reveal epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReveal {
    pub netuid: u16,
    pub mecid: u8,
    #[serde(with = "hex_32")]
    pub hotkey: [u8; 32],
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub salt: Vec<u16>,
    pub version_key: u64,
    #[serde(with = "hex_32")]
    pub commit_hash: [u8; 32],
    /// Block the commit was included in.
    pub commit_block: u64,
    /// Epoch the chain filed the commit under.
    pub commit_epoch: u64,
    /// The only epoch in which the chain accepts the reveal.
    pub reveal_epoch: u64,
}

impl PendingReveal {
    /// Records a commit of these weights; the hash is computed here so that what is committed
    /// and what is later revealed cannot drift apart.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hotkey: [u8; 32],
        netuid: u16,
        mecid: u8,
        uids: Vec<u16>,
        values: Vec<u16>,
        salt: Vec<u16>,
        version_key: u64,
        commit_block: u64,
        commit_epoch: u64,
        reveal_period_epochs: u64,
    ) -> Result<Self, CallError> {
        if uids.len() != values.len() {
            return Err(CallError::LengthMismatch { uids: uids.len(), values: values.len() });
        }
        let hash = commit_hash(&hotkey, netuid_storage_index(netuid, mecid), &uids, &values, &salt, version_key);
        Ok(Self {
            netuid,
            mecid,
            hotkey,
            uids,
            values,
            salt,
            version_key,
            commit_hash: hash,
            commit_block,
            commit_epoch,
            reveal_epoch: commit_epoch + reveal_period_epochs,
        })
    }

    /// Whether the stored hash still matches the stored weights (a record edited or corrupted
    /// on disk would otherwise only fail at the chain).
    pub fn is_consistent(&self) -> bool {
        self.commit_hash
            == commit_hash(
                &self.hotkey,
                netuid_storage_index(self.netuid, self.mecid),
                &self.uids,
                &self.values,
                &self.salt,
                self.version_key,
            )
    }

    /// True in the one epoch the reveal is accepted.
    pub fn is_due(&self, current_epoch: u64) -> bool {
        current_epoch == self.reveal_epoch
    }

    /// True once the reveal epoch has passed: the commit can no longer be revealed.
    pub fn is_expired(&self, current_epoch: u64) -> bool {
        current_epoch > self.reveal_epoch
    }

    /// The commit extrinsic. `mechanism_calls` picks `commit_mechanism_weights` (runtimes with
    /// mechanisms) over `commit_weights`, which can only address mechanism 0.
    pub fn commit_call(&self, mechanism_calls: bool) -> Result<WeightsCall, CallError> {
        if mechanism_calls {
            Ok(WeightsCall::CommitMechanismWeights {
                netuid: self.netuid,
                mecid: self.mecid,
                commit_hash: self.commit_hash,
            })
        } else {
            self.require_mechanism_zero()?;
            Ok(WeightsCall::CommitWeights { netuid: self.netuid, commit_hash: self.commit_hash })
        }
    }

    /// The reveal extrinsic, with the same choice as [`commit_call`](Self::commit_call).
    pub fn reveal_call(&self, mechanism_calls: bool) -> Result<WeightsCall, CallError> {
        if mechanism_calls {
            Ok(WeightsCall::RevealMechanismWeights {
                netuid: self.netuid,
                mecid: self.mecid,
                uids: self.uids.clone(),
                values: self.values.clone(),
                salt: self.salt.clone(),
                version_key: self.version_key,
            })
        } else {
            self.require_mechanism_zero()?;
            Ok(WeightsCall::RevealWeights {
                netuid: self.netuid,
                uids: self.uids.clone(),
                values: self.values.clone(),
                salt: self.salt.clone(),
                version_key: self.version_key,
            })
        }
    }

    fn require_mechanism_zero(&self) -> Result<(), CallError> {
        if self.mecid == 0 {
            Ok(())
        } else {
            Err(CallError::MechanismCallsRequired { mecid: self.mecid })
        }
    }
}

mod hex_32 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text.trim_start_matches("0x")).map_err(D::Error::custom)?;
        bytes.try_into().map_err(|b: Vec<u8>| D::Error::custom(format!("expected 32 bytes, got {}", b.len())))
    }
}
