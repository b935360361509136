//! SCALE call data of subtensor's weight-commit extrinsics, and the hash a CR v2 commit carries.
//!
//! Call data is `pallet index ‖ call index ‖ SCALE(args)` (pallet `SubtensorModule` is index 7
//! in the runtime). Argument types, in order, from subtensor's `dispatches.rs`:
//!
//! | call | index | arguments |
//! |---|---|---|
//! | `commit_weights` | 96 | `netuid: u16, commit_hash: H256` |
//! | `reveal_weights` | 97 | `netuid: u16, uids: Vec<u16>, values: Vec<u16>, salt: Vec<u16>, version_key: u64` |
//! | `commit_timelocked_weights` | 113 | `netuid: u16, commit: BoundedVec<u8, 5000>, reveal_round: u64, commit_reveal_version: u16` |
//! | `commit_mechanism_weights` | 115 | `netuid: u16, mecid: u8, commit_hash: H256` |
//! | `reveal_mechanism_weights` | 116 | `netuid: u16, mecid: u8, uids, values, salt: Vec<u16>, version_key: u64` |
//! | `commit_timelocked_mechanism_weights` | 118 | `netuid: u16, mecid: u8, commit: BoundedVec<u8, 5000>, reveal_round: u64, commit_reveal_version: u16` |
//!
//! `NetUid` and `MechId` are newtypes over `u16` and `u8` and encode as such; a `BoundedVec`
//! encodes like a `Vec` (compact length, then bytes).

use blake2::{digest::consts::U32, Blake2b, Digest};
use parity_scale_codec::Encode;

/// `SubtensorModule`'s index in the subtensor runtime.
pub const SUBTENSOR_PALLET_INDEX: u8 = 7;
/// The largest timelocked commit the chain accepts (`MAX_CRV3_COMMIT_SIZE_BYTES`).
pub const MAX_COMMIT_BYTES: usize = 5000;
/// `CommitRevealWeightsVersion` on every runtime since timelocked commits carry the hotkey.
pub const COMMIT_REVEAL_VERSION: u16 = 4;
/// Netuids per mechanism block of the storage index (`GLOBAL_MAX_SUBNET_COUNT`).
pub const GLOBAL_MAX_SUBNET_COUNT: u16 = 4096;

/// Why a call could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("timelocked commit is {len} bytes; the chain accepts at most {MAX_COMMIT_BYTES}")]
    CommitTooLarge { len: usize },
    #[error("{uids} uids but {values} values: each uid needs exactly one weight value")]
    LengthMismatch { uids: usize, values: usize },
    #[error("mechanism {mecid} can only be addressed by the *_mechanism_* calls, which this runtime lacks")]
    MechanismCallsRequired { mecid: u8 },
}

/// The key weights and commits of mechanism `mecid` of `netuid` are stored under
/// (`get_mechanism_storage_index`): `mecid * 4096 + netuid`, saturating.
pub fn netuid_storage_index(netuid: u16, mecid: u8) -> u16 {
    u16::from(mecid).saturating_mul(GLOBAL_MAX_SUBNET_COUNT).saturating_add(netuid)
}

/// The hash a CR v2 commit carries and its reveal must reproduce:
/// `BlakeTwo256(SCALE(hotkey: AccountId32, netuid_index: u16, uids: Vec<u16>, values: Vec<u16>,
/// salt: Vec<u16>, version_key: u64))`, `netuid_index` from [`netuid_storage_index`].
pub fn commit_hash(
    hotkey: &[u8; 32],
    netuid_index: u16,
    uids: &[u16],
    values: &[u16],
    salt: &[u16],
    version_key: u64,
) -> [u8; 32] {
    let encoded = (hotkey, netuid_index, uids, values, salt, version_key).encode();
    Blake2b::<U32>::digest(encoded).into()
}

/// One of the weight-commit extrinsics with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WeightsCall {
    CommitWeights {
        netuid: u16,
        commit_hash: [u8; 32],
    },
    RevealWeights {
        netuid: u16,
        uids: Vec<u16>,
        values: Vec<u16>,
        salt: Vec<u16>,
        version_key: u64,
    },
    CommitTimelockedWeights {
        netuid: u16,
        commit: Vec<u8>,
        reveal_round: u64,
        commit_reveal_version: u16,
    },
    CommitMechanismWeights {
        netuid: u16,
        mecid: u8,
        commit_hash: [u8; 32],
    },
    RevealMechanismWeights {
        netuid: u16,
        mecid: u8,
        uids: Vec<u16>,
        values: Vec<u16>,
        salt: Vec<u16>,
        version_key: u64,
    },
    CommitTimelockedMechanismWeights {
        netuid: u16,
        mecid: u8,
        commit: Vec<u8>,
        reveal_round: u64,
        commit_reveal_version: u16,
    },
}

impl WeightsCall {
    /// The call's name in the runtime metadata (for dynamic submission and logs).
    pub fn name(&self) -> &'static str {
        match self {
            Self::CommitWeights { .. } => "commit_weights",
            Self::RevealWeights { .. } => "reveal_weights",
            Self::CommitTimelockedWeights { .. } => "commit_timelocked_weights",
            Self::CommitMechanismWeights { .. } => "commit_mechanism_weights",
            Self::RevealMechanismWeights { .. } => "reveal_mechanism_weights",
            Self::CommitTimelockedMechanismWeights { .. } => "commit_timelocked_mechanism_weights",
        }
    }

    /// The call's index within `SubtensorModule`.
    pub fn call_index(&self) -> u8 {
        match self {
            Self::CommitWeights { .. } => 96,
            Self::RevealWeights { .. } => 97,
            Self::CommitTimelockedWeights { .. } => 113,
            Self::CommitMechanismWeights { .. } => 115,
            Self::RevealMechanismWeights { .. } => 116,
            Self::CommitTimelockedMechanismWeights { .. } => 118,
        }
    }

    /// Checks what the chain would reject before any bytes are sent.
    pub fn validate(&self) -> Result<(), CallError> {
        match self {
            Self::CommitTimelockedWeights { commit, .. } | Self::CommitTimelockedMechanismWeights { commit, .. }
                if commit.len() > MAX_COMMIT_BYTES =>
            {
                Err(CallError::CommitTooLarge { len: commit.len() })
            }
            Self::RevealWeights { uids, values, .. } | Self::RevealMechanismWeights { uids, values, .. }
                if uids.len() != values.len() =>
            {
                Err(CallError::LengthMismatch { uids: uids.len(), values: values.len() })
            }
            _ => Ok(()),
        }
    }

    /// SCALE of the arguments alone, in declaration order.
    pub fn encode_args(&self) -> Result<Vec<u8>, CallError> {
        self.validate()?;
        let mut out = Vec::new();
        match self {
            Self::CommitWeights { netuid, commit_hash } => (netuid, commit_hash).encode_to(&mut out),
            Self::RevealWeights { netuid, uids, values, salt, version_key } => {
                (netuid, uids, values, salt, version_key).encode_to(&mut out)
            }
            Self::CommitTimelockedWeights { netuid, commit, reveal_round, commit_reveal_version } => {
                (netuid, commit, reveal_round, commit_reveal_version).encode_to(&mut out)
            }
            Self::CommitMechanismWeights { netuid, mecid, commit_hash } => {
                (netuid, mecid, commit_hash).encode_to(&mut out)
            }
            Self::RevealMechanismWeights { netuid, mecid, uids, values, salt, version_key } => {
                (netuid, mecid, uids, values, salt, version_key).encode_to(&mut out)
            }
            Self::CommitTimelockedMechanismWeights { netuid, mecid, commit, reveal_round, commit_reveal_version } => {
                (netuid, mecid, commit, reveal_round, commit_reveal_version).encode_to(&mut out)
            }
        }
        Ok(out)
    }

    /// The full call data: pallet index, call index, arguments.
    pub fn call_data(&self) -> Result<Vec<u8>, CallError> {
        let args = self.encode_args()?;
        let mut out = Vec::with_capacity(2 + args.len());
        out.push(SUBTENSOR_PALLET_INDEX);
        out.push(self.call_index());
        out.extend_from_slice(&args);
        Ok(out)
    }
}
