//! Who wrote a wandb run: SS58 hotkeys and the sr25519 signature over the run id, checked the way
//! substrate-interface's `Keypair(ss58_address=…).verify(run_id, bytes.fromhex(sig))` checks it.

use blake2::{Blake2b512, Digest};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ss58Error {
    #[error("{0:?} is not base58")]
    NotBase58(String),
    #[error("{0:?} is not a 32-byte account address")]
    WrongLength(String),
    #[error("{0:?} uses a reserved SS58 prefix")]
    ReservedPrefix(String),
    #[error("{0:?} has a bad checksum")]
    BadChecksum(String),
}

/// The SS58 format (network prefix) and public key of an account address. Like
/// `scalecodec.ss58_decode` with no required format (what `Keypair(ss58_address=…)` does), any
/// prefix but the reserved 46 and 47 is accepted; SN18 hotkeys use 42.
pub fn ss58_decode(address: &str) -> Result<(u16, [u8; 32]), Ss58Error> {
    let raw = bs58::decode(address).into_vec().map_err(|_| Ss58Error::NotBase58(address.to_string()))?;
    let first = *raw.first().ok_or_else(|| Ss58Error::WrongLength(address.to_string()))?;
    let (format, prefix_len) = if first & 0b0100_0000 != 0 {
        let second = *raw.get(1).ok_or_else(|| Ss58Error::WrongLength(address.to_string()))? as u16;
        ((((first & 0b0011_1111) as u16) << 2) | (second >> 6) | ((second & 0b0011_1111) << 8), 2)
    } else {
        (first as u16, 1)
    };
    if format == 46 || format == 47 {
        return Err(Ss58Error::ReservedPrefix(address.to_string()));
    }
    if raw.len() != prefix_len + 32 + 2 {
        return Err(Ss58Error::WrongLength(address.to_string()));
    }
    let body = &raw[..raw.len() - 2];
    let mut h = Blake2b512::new();
    h.update(b"SS58PRE");
    h.update(body);
    if h.finalize()[..2] != raw[raw.len() - 2..] {
        return Err(Ss58Error::BadChecksum(address.to_string()));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[prefix_len..]);
    Ok((format, key))
}

/// The SS58 address of a public key with a one-byte prefix (`< 64`).
pub fn ss58_encode(format: u8, public_key: &[u8; 32]) -> String {
    assert!(format < 64, "two-byte SS58 prefixes are not needed here");
    let mut body = vec![format];
    body.extend_from_slice(public_key);
    let mut h = Blake2b512::new();
    h.update(b"SS58PRE");
    h.update(&body);
    body.extend_from_slice(&h.finalize()[..2]);
    bs58::encode(body).into_string()
}

/// Whether `signature_hex` is `hotkey`'s sr25519 signature (signing context `substrate`) over
/// `message`, or over `<Bytes>message</Bytes>` as polkadot.js signs. As substrate-interface does, a
/// message starting with `0x` is read as hex. Anything unreadable is simply not a valid signature.
pub fn verify_run_signature(hotkey: &str, message: &str, signature_hex: &str) -> bool {
    let Ok((_, public)) = ss58_decode(hotkey) else { return false };
    let Ok(sig_bytes) = hex::decode(signature_hex) else { return false };
    let Ok(signature) = schnorrkel::Signature::from_bytes(&sig_bytes) else { return false };
    let Ok(public) = schnorrkel::PublicKey::from_bytes(&public) else { return false };
    let data = match message.strip_prefix("0x") {
        Some(h) => match hex::decode(h) {
            Ok(d) => d,
            Err(_) => return false,
        },
        None => message.as_bytes().to_vec(),
    };
    if public.verify_simple(b"substrate", &data, &signature).is_ok() {
        return true;
    }
    let mut wrapped = b"<Bytes>".to_vec();
    wrapped.extend_from_slice(&data);
    wrapped.extend_from_slice(b"</Bytes>");
    public.verify_simple(b"substrate", &wrapped, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alice_round_trips() {
        // //Alice's sr25519 key, as every Substrate tool prints it.
        let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        let (format, key) = ss58_decode(alice).unwrap();
        assert_eq!(format, 42);
        assert_eq!(hex::encode(key), "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d");
        assert_eq!(ss58_encode(42, &key), alice);
    }
}
