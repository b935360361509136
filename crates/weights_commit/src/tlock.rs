//! Timelock encryption to a drand round and decryption with the round's signature, producing
//! and reading the exact bytes subtensor stores as a timelocked commit.
//!
//! The format is ideal-lab5 `tle`'s `TLECiphertext<TinyBLS381>`, ark-serialized compressed:
//! the BF-IBE header `u` (G2, 96 B) ‖ `v` (u64-LE 32 ‖ 32 B) ‖ `w` (u64-LE 32 ‖ 32 B), then the
//! AES-256-GCM body (u64-LE length ‖ ark `AESOutput { ciphertext, nonce }`) and the cipher
//! suite (u64-LE 8 ‖ `AES_GCM_`): 244 bytes plus the plaintext length.

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use parity_scale_codec::{Decode, Encode};
use rand_core::{CryptoRng, OsRng, RngCore};
use timelock::{
    curves::drand::TinyBLS381,
    stream_ciphers::AESGCMStreamCipherProvider,
    tlock::{tld, tle, TLECiphertext},
};

use crate::beacon::{round_identity, BeaconPublicKey, RoundSignature};

/// Bytes a ciphertext adds to its plaintext.
pub const CIPHERTEXT_OVERHEAD: usize = 244;

/// Why encryption or decryption failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimelockError {
    #[error("timelock encryption failed: {0}")]
    Encrypt(String),
    #[error("not a timelock ciphertext (TLECiphertext<TinyBLS381>): {0}")]
    Malformed(String),
    #[error("the signature does not open this ciphertext (wrong round, wrong beacon, or corrupted): {0}")]
    Decrypt(String),
}

/// Encrypts `plaintext` so that only the signature of `round` by the beacon holding `public`
/// opens it, with the operating system's randomness.
pub fn encrypt_for_round(public: &BeaconPublicKey, round: u64, plaintext: &[u8]) -> Result<Vec<u8>, TimelockError> {
    encrypt_for_round_with_rng(public, round, plaintext, &mut OsRng)
}

/// [`encrypt_for_round`] with a caller-chosen randomness source (a seeded one makes ciphertexts
/// reproducible in tests). The AES key is drawn from it as well as the IBE and AES randomness.
pub fn encrypt_for_round_with_rng<R: RngCore + CryptoRng>(
    public: &BeaconPublicKey,
    round: u64,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, TimelockError> {
    let mut symmetric_key = [0u8; 32];
    rng.fill_bytes(&mut symmetric_key);
    let ciphertext = tle::<TinyBLS381, AESGCMStreamCipherProvider, _>(
        public.0,
        symmetric_key,
        plaintext,
        round_identity(round),
        rng,
    )
    .map_err(|e| TimelockError::Encrypt(format!("{e:?}")))?;
    let mut bytes = Vec::with_capacity(CIPHERTEXT_OVERHEAD + plaintext.len());
    ciphertext.serialize_compressed(&mut bytes).map_err(|e| TimelockError::Encrypt(e.to_string()))?;
    Ok(bytes)
}

/// Opens a ciphertext with a round signature, as subtensor does when it reveals commits.
pub fn decrypt_with_signature(ciphertext: &[u8], signature: &RoundSignature) -> Result<Vec<u8>, TimelockError> {
    let parsed = TLECiphertext::<TinyBLS381>::deserialize_compressed(ciphertext)
        .map_err(|e| TimelockError::Malformed(e.to_string()))?;
    tld::<TinyBLS381, AESGCMStreamCipherProvider>(parsed, signature.0)
        .map_err(|e| TimelockError::Decrypt(format!("{e:?}")))
}

/// bittensor-drand's wrapper around a ciphertext for its generic `encrypt` / `encrypt_at_round`
/// / `decrypt_with_signature` functions (not used by weight commits, which carry the bare
/// ciphertext). Here so that tests can exchange ciphertexts with those functions.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct UserData {
    pub encrypted_data: Vec<u8>,
    pub reveal_round: u64,
}
