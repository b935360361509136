//! Account ids and block hashes as the chain writes them: SS58 (prefix 42) and `0x` hex.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use subxt::utils::AccountId32;

/// A 32-byte account (a hotkey or a coldkey). Displays and serialises as SS58 with the generic
/// substrate prefix 42, the form bittensor prints and keyfiles store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SS58 address (prefix 42).
    pub fn to_ss58(&self) -> String {
        AccountId32(self.0).to_string()
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.to_ss58())
    }
}

/// Why a string is not an SS58 address.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not an SS58 address: {reason}")]
pub struct BadAddress {
    pub text: String,
    pub reason: String,
}

impl FromStr for AccountId {
    type Err = BadAddress;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        AccountId32::from_str(text)
            .map(|a| AccountId(a.0))
            .map_err(|e| BadAddress { text: text.to_owned(), reason: e.to_string() })
    }
}

impl Serialize for AccountId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_ss58())
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A block hash. Displays and serialises as `0x` followed by 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub [u8; 32]);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({self})")
    }
}

impl FromStr for BlockHash {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        let bytes = hex::decode(digits).map_err(|e| format!("{text:?} is not a block hash: {e}"))?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("{text:?} is not a block hash: {} bytes, not 32", b.len()))?;
        Ok(BlockHash(array))
    }
}

impl Serialize for BlockHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for BlockHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A block: its number and hash. Reads are pinned to one, so that every value in a snapshot
/// comes from the same chain state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub number: u64,
    pub hash: BlockHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alice_round_trips_through_ss58() {
        let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        let id: AccountId = alice.parse().unwrap();
        assert_eq!(hex::encode(id.0), "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d");
        assert_eq!(id.to_string(), alice);
        let err = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQX".parse::<AccountId>().unwrap_err();
        assert!(err.to_string().contains("not an SS58 address"), "{err}");
    }

    #[test]
    fn block_hash_text_form() {
        let hash = BlockHash([0xab; 32]);
        let text = hash.to_string();
        assert_eq!(text.len(), 66);
        assert_eq!(text.parse::<BlockHash>().unwrap(), hash);
        assert!("0x1234".parse::<BlockHash>().unwrap_err().contains("2 bytes"));
    }
}
