//! Miner commitments: the `Commitments.CommitmentOf` value (`Registration`) and its `Data`
//! fields, decoded by the pallet's hand-written byte table, and the commitment text a miner
//! publishes (`namespace:name:commit:secure_hash:competition_id`).

use crate::account::AccountId;
use parity_scale_codec::{Compact, Decode, Encode, Input, Output};
use serde::Serialize;

/// Largest `Raw` payload (`Raw0`..`Raw128`).
pub const MAX_RAW: usize = 128;
/// Largest `BigRaw` payload.
pub const MAX_BIG_RAW: usize = 512;
/// Largest `TimelockEncrypted` payload.
pub const MAX_TIMELOCK: usize = 1024;

/// One field of a commitment, as `pallets/commitments/src/types.rs` encodes it: byte 0 =
/// `None`; `1..=129` = `Raw` with `n - 1` bytes (shown in metadata as `Raw0`..`Raw128`);
/// `130..=133` = a 32-byte hash; `134` = timelock-encrypted bytes + reveal round; `135` =
/// reset-bonds flag; `136` = `BigRaw` (compact length + up to 512 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Data {
    None,
    Raw(#[serde(serialize_with = "hex_bytes")] Vec<u8>),
    BlakeTwo256(#[serde(serialize_with = "hex_bytes")] [u8; 32]),
    Sha256(#[serde(serialize_with = "hex_bytes")] [u8; 32]),
    Keccak256(#[serde(serialize_with = "hex_bytes")] [u8; 32]),
    ShaThree256(#[serde(serialize_with = "hex_bytes")] [u8; 32]),
    TimelockEncrypted {
        #[serde(serialize_with = "hex_bytes")]
        encrypted: Vec<u8>,
        reveal_round: u64,
    },
    ResetBondsFlag,
    BigRaw(#[serde(serialize_with = "hex_bytes")] Vec<u8>),
}

fn hex_bytes<S: serde::Serializer, B: AsRef<[u8]>>(bytes: B, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("0x{}", hex::encode(bytes.as_ref())))
}

impl Data {
    /// The variant name as the runtime metadata spells it (`Raw57`, `BigRaw`, `Sha256`, ...).
    pub fn variant_name(&self) -> String {
        match self {
            Data::None => "None".into(),
            Data::Raw(bytes) => format!("Raw{}", bytes.len()),
            Data::BlakeTwo256(_) => "BlakeTwo256".into(),
            Data::Sha256(_) => "Sha256".into(),
            Data::Keccak256(_) => "Keccak256".into(),
            Data::ShaThree256(_) => "ShaThree256".into(),
            Data::TimelockEncrypted { .. } => "TimelockEncrypted".into(),
            Data::ResetBondsFlag => "ResetBondsFlag".into(),
            Data::BigRaw(_) => "BigRaw".into(),
        }
    }
}

impl Decode for Data {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let tag = input.read_byte()?;
        Ok(match tag {
            0 => Data::None,
            1..=129 => {
                let mut bytes = vec![0u8; usize::from(tag - 1)];
                input.read(&mut bytes)?;
                Data::Raw(bytes)
            }
            130 => Data::BlakeTwo256(<[u8; 32]>::decode(input)?),
            131 => Data::Sha256(<[u8; 32]>::decode(input)?),
            132 => Data::Keccak256(<[u8; 32]>::decode(input)?),
            133 => Data::ShaThree256(<[u8; 32]>::decode(input)?),
            134 => {
                let encrypted = bounded_bytes(
                    input,
                    MAX_TIMELOCK,
                    "commitment Data: TimelockEncrypted longer than its bound (1024)",
                )?;
                let reveal_round = u64::decode(input)?;
                Data::TimelockEncrypted { encrypted, reveal_round }
            }
            135 => Data::ResetBondsFlag,
            136 => {
                Data::BigRaw(bounded_bytes(input, MAX_BIG_RAW, "commitment Data: BigRaw longer than its bound (512)")?)
            }
            _ => return Err("commitment Data: unknown leading byte (newer runtime?)".into()),
        })
    }
}

fn bounded_bytes<I: Input>(
    input: &mut I,
    max: usize,
    too_long: &'static str,
) -> Result<Vec<u8>, parity_scale_codec::Error> {
    let len = Compact::<u32>::decode(input)?.0 as usize;
    if len > max {
        return Err(too_long.into());
    }
    let mut bytes = vec![0u8; len];
    input.read(&mut bytes)?;
    Ok(bytes)
}

impl Encode for Data {
    fn encode_to<O: Output + ?Sized>(&self, out: &mut O) {
        match self {
            Data::None => out.push_byte(0),
            Data::Raw(bytes) => {
                // The pallet caps Raw at 128 bytes; longer text belongs in BigRaw.
                let len = bytes.len().min(MAX_RAW);
                out.push_byte(len as u8 + 1);
                out.write(&bytes[..len]);
            }
            Data::BlakeTwo256(h) => tagged(out, 130, h),
            Data::Sha256(h) => tagged(out, 131, h),
            Data::Keccak256(h) => tagged(out, 132, h),
            Data::ShaThree256(h) => tagged(out, 133, h),
            Data::TimelockEncrypted { encrypted, reveal_round } => {
                out.push_byte(134);
                encrypted.encode_to(out);
                reveal_round.encode_to(out);
            }
            Data::ResetBondsFlag => out.push_byte(135),
            Data::BigRaw(bytes) => {
                out.push_byte(136);
                bytes.encode_to(out);
            }
        }
    }
}

fn tagged<O: Output + ?Sized>(out: &mut O, tag: u8, hash: &[u8; 32]) {
    out.push_byte(tag);
    out.write(hash);
}

/// The value of `Commitments.CommitmentOf[(netuid, hotkey)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub deposit: u64,
    /// The block the commitment was made at (a re-commit overwrites it).
    pub block: u32,
    pub fields: Vec<Data>,
}

impl Registration {
    /// Decodes the storage value. Unlike the pallet (which pads short input with zeros), a
    /// truncated or over-long value is an error here: it means the runtime type changed.
    pub fn decode_exact(mut bytes: &[u8]) -> Result<Self, parity_scale_codec::Error> {
        let deposit = u64::decode(&mut bytes)?;
        let block = u32::decode(&mut bytes)?;
        let fields = Vec::<Data>::decode(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(parity_scale_codec::Error::from("Registration: trailing bytes after the fields"));
        }
        Ok(Registration { deposit, block, fields })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.deposit.encode_to(&mut out);
        self.block.encode_to(&mut out);
        self.fields.encode_to(&mut out);
        out
    }
}

/// A miner's commitment as the validator reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Commitment {
    pub hotkey: AccountId,
    /// The block the commitment was made at.
    pub block: u64,
    pub fields: Vec<Data>,
}

/// Why a commitment carries no text the validator can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotText {
    #[error("the commitment has no fields")]
    NoFields,
    #[error("the first field is {variant}, which holds no text")]
    NotRaw { variant: String },
    #[error("the first field ({variant}) is not UTF-8: {reason}")]
    NotUtf8 { variant: String, reason: String },
}

impl Commitment {
    /// The text of the first field (`Raw*` or `BigRaw`), as upstream reads it, but strict:
    /// bytes that are not UTF-8 are reported, never dropped.
    pub fn text(&self) -> Result<&str, NotText> {
        let first = self.fields.first().ok_or(NotText::NoFields)?;
        let bytes = match first {
            Data::Raw(bytes) | Data::BigRaw(bytes) => bytes,
            other => return Err(NotText::NotRaw { variant: other.variant_name() }),
        };
        std::str::from_utf8(bytes)
            .map_err(|e| NotText::NotUtf8 { variant: first.variant_name(), reason: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lengths_follow_the_byte_table() {
        for len in [0usize, 1, 57, 128] {
            let data = Data::Raw(vec![b'x'; len]);
            let bytes = data.encode();
            assert_eq!(bytes[0] as usize, len + 1);
            assert_eq!(Data::decode(&mut &bytes[..]).unwrap(), data);
        }
    }

    #[test]
    fn oversized_big_raw_is_refused() {
        let mut bytes = vec![136u8];
        Compact(513u32).encode_to(&mut bytes);
        bytes.extend(vec![0u8; 513]);
        let err = Data::decode(&mut &bytes[..]).unwrap_err();
        assert!(err.to_string().contains("longer than its bound"), "{err}");
    }

    #[test]
    fn every_variant_serialises_to_json() {
        let all = vec![
            Data::None,
            Data::Raw(b"ab".to_vec()),
            Data::BlakeTwo256([1; 32]),
            Data::Sha256([2; 32]),
            Data::Keccak256([3; 32]),
            Data::ShaThree256([4; 32]),
            Data::TimelockEncrypted { encrypted: vec![5], reveal_round: 9 },
            Data::ResetBondsFlag,
            Data::BigRaw(vec![6]),
        ];
        let json = serde_json::to_value(&all).unwrap();
        assert_eq!(json[0], serde_json::json!({"kind": "none"}));
        assert_eq!(json[1], serde_json::json!({"kind": "raw", "value": "0x6162"}));
        assert_eq!(json[6]["value"], serde_json::json!({"encrypted": "0x05", "reveal_round": 9}));
        assert_eq!(json[8], serde_json::json!({"kind": "big_raw", "value": "0x06"}));
    }

    #[test]
    fn unknown_tag_is_refused() {
        assert!(Data::decode(&mut &[137u8][..]).is_err());
    }

    #[test]
    fn text_says_why_a_field_is_not_text() {
        let c = |fields| Commitment { hotkey: AccountId([0; 32]), block: 1, fields };
        assert_eq!(c(vec![]).text(), Err(NotText::NoFields));
        assert_eq!(c(vec![Data::Raw(b"a:b".to_vec())]).text(), Ok("a:b"));
        assert_eq!(c(vec![Data::BigRaw(b"long".to_vec())]).text(), Ok("long"));
        assert!(
            matches!(c(vec![Data::Sha256([0; 32])]).text(), Err(NotText::NotRaw { variant }) if variant == "Sha256")
        );
        assert!(matches!(c(vec![Data::Raw(vec![0xff])]).text(), Err(NotText::NotUtf8 { .. })));
    }
}
