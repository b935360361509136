//! The round seed: upstream's `int(sha256(block_hash.encode()).hexdigest(), 16)` for the hash of a
//! sync block, kept as the 32 big-endian bytes of that 256-bit integer.
//!
//! Upstream falls back to `seed = None` (unseeded, so every validator draws different data) when
//! the hash cannot be fetched. Here there is no fallback: without a hash there is no seed, and the
//! caller skips the round.

use sha2::{Digest, Sha256};
use std::fmt;

/// A 256-bit round seed (big-endian bytes of upstream's Python int).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seed([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("no block hash for the sync block, so no seed: the round is skipped")]
    NoBlockHash,
    #[error("block hash {0:?} is not `0x` followed by 64 hex digits")]
    BadBlockHash(String),
}

impl Seed {
    /// The seed of a sync block from its hash as the chain prints it (`0x` + 64 hex digits).
    /// Upstream hashes the lowercase string bittensor returns; uppercase input is lowered first
    /// so that an operator pasting a hash in capitals gets the same seed.
    pub fn from_block_hash(block_hash: &str) -> Result<Seed, SeedError> {
        let lower = block_hash.trim().to_ascii_lowercase();
        let digits = lower.strip_prefix("0x").ok_or_else(|| SeedError::BadBlockHash(block_hash.to_string()))?;
        if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SeedError::BadBlockHash(block_hash.to_string()));
        }
        Ok(Seed(Sha256::digest(lower.as_bytes()).into()))
    }

    /// The seed of a round whose block hash may be missing (an RPC that failed after its retries).
    pub fn for_round(block_hash: Option<&str>) -> Result<Seed, SeedError> {
        Seed::from_block_hash(block_hash.ok_or(SeedError::NoBlockHash)?)
    }

    /// A seed given directly as the big-endian bytes of a non-negative integer.
    pub fn from_be_bytes(bytes: [u8; 32]) -> Seed {
        Seed(bytes)
    }

    pub fn to_be_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Lowercase hex of the 256-bit integer, 64 digits (what step records store).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The seed as a decimal integer, as Python prints it.
    pub fn to_decimal(&self) -> String {
        big_endian_to_decimal(&self.0)
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed(0x{})", self.to_hex())
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", self.to_hex())
    }
}

/// Decimal digits of a big-endian unsigned integer (schoolbook division by 10^9).
fn big_endian_to_decimal(bytes: &[u8]) -> String {
    let mut limbs: Vec<u32> = bytes.rchunks(4).map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | b as u32)).collect(); // little-endian limbs
    let mut groups = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | *limb as u64;
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        groups.push(rem as u32);
    }
    match groups.split_last() {
        None => "0".to_string(),
        Some((first, rest)) => {
            let mut s = first.to_string();
            for g in rest.iter().rev() {
                s.push_str(&format!("{g:09}"));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_of_small_values() {
        let mut b = [0u8; 32];
        assert_eq!(big_endian_to_decimal(&b), "0");
        b[31] = 7;
        assert_eq!(big_endian_to_decimal(&b), "7");
        b[27] = 1; // 2^32 + 7
        assert_eq!(big_endian_to_decimal(&b), "4294967303");
    }

    #[test]
    fn rejects_malformed_hashes() {
        assert!(matches!(Seed::from_block_hash("f0c1"), Err(SeedError::BadBlockHash(_))));
        assert!(matches!(Seed::from_block_hash(&format!("0x{}", "g".repeat(64))), Err(SeedError::BadBlockHash(_))));
        assert!(matches!(Seed::from_block_hash(&format!("0x{}", "a".repeat(63))), Err(SeedError::BadBlockHash(_))));
        assert_eq!(Seed::for_round(None), Err(SeedError::NoBlockHash));
    }

    #[test]
    fn uppercase_hash_gives_the_lowercase_seed() {
        let h = "0xF0C1D88FFFB58F2DE2798ABB2236460F426B02A9C84CAD7463188EFF75140BD2";
        assert_eq!(Seed::from_block_hash(h).unwrap(), Seed::from_block_hash(&h.to_lowercase()).unwrap());
    }
}
