//! The drand side of timelock encryption: quicknet's constants, the round a wall-clock time
//! falls in, the beacon's public key and round signatures, and a local beacon that signs rounds
//! the way quicknet does so that a local chain can reveal commits without drand.
//!
//! Quicknet is `bls-unchained-g1-rfc9380`: the message of round `r` is `sha256(r as u64 BE)`,
//! hashed to G1 with DST `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`; the signature is that
//! point times the group secret (G1, 48 bytes compressed) and the public key is the G2
//! generator times the secret (96 bytes compressed). A round's signature is exactly the IBE
//! private key of the round's identity, which is why it decrypts what was encrypted for it.

use ark_bls12_381::{Bls12_381, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{pairing::Pairing, AffineRepr, CurveGroup, Group};
use ark_ff::UniformRand;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use timelock::{curves::drand::TinyBLS381, ibe::fullident::Identity};

/// Quicknet's group public key (G2, compressed), as in bittensor-drand and subtensor's
/// `pallet_drand`.
pub const QUICKNET_PUBLIC_KEY_HEX: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// Quicknet's chain hash (identifies the network to drand HTTP endpoints).
pub const QUICKNET_CHAIN_HASH_HEX: &str = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971";
/// Unix time of quicknet round 1.
pub const QUICKNET_GENESIS_UNIX: u64 = 1_692_803_367;
/// Seconds between quicknet rounds.
pub const QUICKNET_PERIOD_SECS: u64 = 3;

/// Compressed sizes of the two group elements.
pub const PUBLIC_KEY_LEN: usize = 96;
pub const SIGNATURE_LEN: usize = 48;

/// Why a key or signature could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BeaconError {
    #[error("{what} is not valid hex: {reason}")]
    Hex { what: &'static str, reason: String },
    #[error("{what} must be {expected} bytes (compressed), got {got}")]
    Length { what: &'static str, expected: usize, got: usize },
    #[error("{what} is not a valid compressed BLS12-381 point: {reason}")]
    Point { what: &'static str, reason: String },
}

/// The message quicknet signs for `round`: `sha256(round.to_be_bytes())`. It is also the IBE
/// identity commits for that round are encrypted to.
pub fn round_message(round: u64) -> [u8; 32] {
    Sha256::digest(round.to_be_bytes()).into()
}

pub(crate) fn round_identity(round: u64) -> Identity {
    Identity::new(b"", vec![round_message(round).to_vec()])
}

/// The round bittensor-drand targets for wall-clock time `unix_secs`: `floor((t - genesis) / 3)`,
/// at least 1. That is the round *before* the one current at `t` (round `r` is published at
/// `genesis + 3(r - 1)`), so its pulse is out, and ingested by the chain, by then.
pub fn quicknet_round_at(unix_secs: f64) -> u64 {
    let round = ((unix_secs - QUICKNET_GENESIS_UNIX as f64) / QUICKNET_PERIOD_SECS as f64).floor();
    // `as` saturates negatives and NaN to 0, which the floor of 1 then lifts, as upstream does.
    (round as u64).max(1)
}

/// Unix time at which quicknet publishes `round` (round 1 at genesis).
pub fn quicknet_round_time(round: u64) -> u64 {
    QUICKNET_GENESIS_UNIX + round.saturating_sub(1) * QUICKNET_PERIOD_SECS
}

fn decode_hex<const N: usize>(what: &'static str, text: &str) -> Result<Vec<u8>, BeaconError> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(text).map_err(|e| BeaconError::Hex { what, reason: e.to_string() })?;
    if bytes.len() != N {
        return Err(BeaconError::Length { what, expected: N, got: bytes.len() });
    }
    Ok(bytes)
}

/// The point at infinity decodes, but as a key or a signature it would make every pairing check
/// trivial: no beacon has it.
fn reject_identity(what: &'static str, is_identity: bool) -> Result<(), BeaconError> {
    if is_identity {
        Err(BeaconError::Point { what, reason: "the point at infinity".to_string() })
    } else {
        Ok(())
    }
}

/// A beacon's group public key (a G2 point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeaconPublicKey(pub(crate) G2Projective);

impl BeaconPublicKey {
    /// drand quicknet's key, the one mainnet and testnet subtensor ingest pulses from.
    pub fn quicknet() -> Self {
        Self::from_hex(QUICKNET_PUBLIC_KEY_HEX).expect("the quicknet constant is a valid key")
    }

    /// Reads a 96-byte compressed G2 point (checked to be on the curve and in the subgroup).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BeaconError> {
        const WHAT: &str = "beacon public key";
        if bytes.len() != PUBLIC_KEY_LEN {
            return Err(BeaconError::Length { what: WHAT, expected: PUBLIC_KEY_LEN, got: bytes.len() });
        }
        let point = G2Affine::deserialize_compressed(bytes)
            .map_err(|e| BeaconError::Point { what: WHAT, reason: e.to_string() })?;
        reject_identity(WHAT, point.is_zero())?;
        Ok(Self(point.into()))
    }

    pub fn from_hex(text: &str) -> Result<Self, BeaconError> {
        Self::from_bytes(&decode_hex::<PUBLIC_KEY_LEN>("beacon public key", text)?)
    }

    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        self.0.into_affine().serialize_compressed(&mut out[..]).expect("a G2 point fits its compressed size");
        out
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Whether `signature` is this beacon's signature of `round`:
    /// `e(sig, g2) == e(H(message(round)), pk)`.
    pub fn verify(&self, round: u64, signature: &RoundSignature) -> bool {
        let message_point: G1Projective = round_identity(round).public::<TinyBLS381>();
        let lhs = Bls12_381::pairing(signature.0.into_affine(), G2Affine::generator());
        let rhs = Bls12_381::pairing(message_point.into_affine(), self.0.into_affine());
        lhs == rhs
    }
}

/// A beacon's signature of one round (a G1 point); the key that opens commits for that round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundSignature(pub(crate) G1Projective);

impl RoundSignature {
    /// Reads a 48-byte compressed G1 point (checked to be on the curve and in the subgroup).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BeaconError> {
        const WHAT: &str = "round signature";
        if bytes.len() != SIGNATURE_LEN {
            return Err(BeaconError::Length { what: WHAT, expected: SIGNATURE_LEN, got: bytes.len() });
        }
        let point = G1Affine::deserialize_compressed(bytes)
            .map_err(|e| BeaconError::Point { what: WHAT, reason: e.to_string() })?;
        reject_identity(WHAT, point.is_zero())?;
        Ok(Self(point.into()))
    }

    /// Reads the hex form drand's HTTP API and `pallet_drand` carry.
    pub fn from_hex(text: &str) -> Result<Self, BeaconError> {
        Self::from_bytes(&decode_hex::<SIGNATURE_LEN>("round signature", text)?)
    }

    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        self.0.into_affine().serialize_compressed(&mut out[..]).expect("a G1 point fits its compressed size");
        out
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

/// A single-party beacon with quicknet's scheme, for a local chain: it signs any round on
/// demand, and what it signs opens commits encrypted to its [`public_key`](Self::public_key).
///
/// Built from a 32-byte seed so that a local chain can keep the seed in its state file and get
/// the same beacon back after a restart. Not a threshold network and not meant for anything
/// but local testing: whoever holds the seed can open every commit at once.
pub struct LocalBeacon {
    secret: Fr,
    public: BeaconPublicKey,
}

impl LocalBeacon {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let secret = Fr::rand(&mut ChaCha20Rng::from_seed(seed));
        let public = BeaconPublicKey(G2Projective::generator() * secret);
        Self { secret, public }
    }

    pub fn public_key(&self) -> BeaconPublicKey {
        self.public
    }

    /// The signature quicknet's scheme gives `round` under this beacon's secret.
    pub fn sign_round(&self, round: u64) -> RoundSignature {
        RoundSignature(round_identity(round).extract::<TinyBLS381>(self.secret).0)
    }
}

impl std::fmt::Debug for LocalBeacon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("LocalBeacon").field("public", &self.public.to_hex()).finish_non_exhaustive()
    }
}
