//! The plaintext of a timelocked weight commit: its SCALE encoding, sealing it for a round, and
//! opening a revealed plaintext the way subtensor's `reveal_crv3_commits_for_subnet` does.

use parity_scale_codec::{Decode, DecodeAll, Encode};

use crate::beacon::{BeaconPublicKey, RoundSignature};
use crate::tlock::{decrypt_with_signature, encrypt_for_round, TimelockError};

/// Why a payload could not be built or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("{uids} uids but {values} values: each uid needs exactly one weight value")]
    LengthMismatch { uids: usize, values: usize },
    #[error("payload is not a SCALE WeightsTlockPayload: {0}")]
    Decode(String),
    #[error("the revealed payload names hotkey {found} but the commit was signed by {committer}; the chain drops it")]
    HotkeyMismatch { committer: String, found: String },
    #[error("revealed plaintext is neither the current nor the legacy payload format: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Timelock(#[from] TimelockError),
}

/// What bittensor-drand encrypts and subtensor decodes:
/// `SCALE(hotkey: Vec<u8>, uids: Vec<u16>, values: Vec<u16>, version_key: u64)`.
///
/// `hotkey` is the committer's 32-byte public key; the chain decodes it as an `AccountId32` and
/// drops the commit if it is not the account that signed the commit. `values` are u16 weights,
/// which the chain max-upscales when it sets them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WeightsTlockPayload {
    pub hotkey: Vec<u8>,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// The payload before the hotkey was added (commit-reveal v3); the chain still accepts it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LegacyWeightsTlockPayload {
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

impl WeightsTlockPayload {
    pub fn new(hotkey: [u8; 32], uids: Vec<u16>, values: Vec<u16>, version_key: u64) -> Result<Self, PayloadError> {
        if uids.len() != values.len() {
            return Err(PayloadError::LengthMismatch { uids: uids.len(), values: values.len() });
        }
        Ok(Self { hotkey: hotkey.to_vec(), uids, values, version_key })
    }

    /// The SCALE bytes that get encrypted.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Reads SCALE bytes that must hold exactly one payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        Self::decode_all(&mut &bytes[..]).map_err(|e| PayloadError::Decode(e.to_string()))
    }

    /// The ciphertext to put in `commit_timelocked_*`'s `commit` argument.
    pub fn seal(&self, beacon: &BeaconPublicKey, round: u64) -> Result<Vec<u8>, PayloadError> {
        Ok(encrypt_for_round(beacon, round, &self.to_bytes())?)
    }
}

/// Weights as the chain applies them after a successful reveal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevealedWeights {
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
    /// False when the plaintext was the legacy form, which names no hotkey.
    pub hotkey_checked: bool,
}

/// Decrypts a commit with its round's signature and decodes it as subtensor does, for a chain
/// revealing a commit made by `committer`.
///
/// Same order and leniency as the chain: the current form first (trailing bytes ignored), its
/// hotkey read as an `AccountId32` and compared with the committer; if the hotkey is unreadable
/// or the current form does not decode, the legacy form.
pub fn open_commit(
    ciphertext: &[u8],
    signature: &RoundSignature,
    committer: &[u8; 32],
) -> Result<RevealedWeights, PayloadError> {
    let plaintext = decrypt_with_signature(ciphertext, signature)?;
    decode_revealed(&plaintext, committer)
}

/// The decoding half of [`open_commit`].
pub fn decode_revealed(plaintext: &[u8], committer: &[u8; 32]) -> Result<RevealedWeights, PayloadError> {
    if let Ok(payload) = WeightsTlockPayload::decode(&mut &plaintext[..]) {
        if let Ok(hotkey) = <[u8; 32]>::decode(&mut &payload.hotkey[..]) {
            if &hotkey != committer {
                return Err(PayloadError::HotkeyMismatch {
                    committer: hex::encode(committer),
                    found: hex::encode(hotkey),
                });
            }
            return Ok(RevealedWeights {
                uids: payload.uids,
                values: payload.values,
                version_key: payload.version_key,
                hotkey_checked: true,
            });
        }
    }
    let legacy =
        LegacyWeightsTlockPayload::decode(&mut &plaintext[..]).map_err(|e| PayloadError::Unreadable(e.to_string()))?;
    Ok(RevealedWeights {
        uids: legacy.uids,
        values: legacy.values,
        version_key: legacy.version_key,
        hotkey_checked: false,
    })
}
