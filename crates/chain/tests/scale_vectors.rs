//! Our decoders and encoder against bytes made by the reference implementations
//! (`fixtures/make_fixtures.py`: PyPI bittensor's runtime codec with real finney metadata, and
//! scalecodec with the current runtime's type definitions).

use chain::commitment::{Data, Registration};
use chain::metagraph::decode_neurons_lite;
use chain::subtensor::{sign_set_weights_offline, OfflineSigning};
use chain::wallet::{verify, Hotkey};
use chain::{AccountId, Block, BlockHash, WeightsSubmission};
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

fn expected_field(v: &Value) -> Data {
    let b = || bytes(&v["hex"]);
    let h = || <[u8; 32]>::try_from(b()).unwrap();
    match v["kind"].as_str().unwrap() {
        "none" => Data::None,
        "raw" => Data::Raw(b()),
        "big_raw" => Data::BigRaw(b()),
        "sha256" => Data::Sha256(h()),
        "blake_two256" => Data::BlakeTwo256(h()),
        "keccak256" => Data::Keccak256(h()),
        "sha_three256" => Data::ShaThree256(h()),
        "timelock_encrypted" => {
            Data::TimelockEncrypted { encrypted: b(), reveal_round: v["reveal_round"].as_u64().unwrap() }
        }
        "reset_bonds_flag" => Data::ResetBondsFlag,
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn registrations_decode_and_encode_like_the_reference() {
    let vectors = json("scale_vectors.json");
    let cases = vectors["registrations"].as_array().unwrap();
    assert!(cases.len() >= 6);
    let mut kinds = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let encoded = bytes(&case["hex"]);
        let reg = Registration::decode_exact(&encoded).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reg.deposit, case["deposit"].as_u64().unwrap(), "{name}");
        assert_eq!(u64::from(reg.block), case["block"].as_u64().unwrap(), "{name}");
        let expected: Vec<Data> = case["fields"].as_array().unwrap().iter().map(expected_field).collect();
        assert_eq!(reg.fields, expected, "{name}");
        assert_eq!(reg.encode(), encoded, "{name}: our encoding differs from the reference bytes");
        for f in &reg.fields {
            kinds.insert(match f {
                Data::Raw(b) => format!("Raw{}", b.len()),
                other => other.variant_name(),
            });
        }
    }
    for kind in ["Raw0", "Raw57", "Raw128", "BigRaw", "None", "Sha256", "TimelockEncrypted", "ResetBondsFlag"] {
        assert!(kinds.contains(kind), "no fixture covers {kind}: {kinds:?}");
    }
}

#[test]
fn truncated_or_padded_registration_is_an_error() {
    let vectors = json("scale_vectors.json");
    let encoded = bytes(&vectors["registrations"][1]["hex"]);
    assert!(Registration::decode_exact(&encoded[..encoded.len() - 1]).is_err());
    let mut padded = encoded.clone();
    padded.push(0);
    let err = Registration::decode_exact(&padded).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
}

#[test]
fn neurons_lite_decode_like_the_reference() {
    let subnet = &json("scale_vectors.json")["subnet"];
    let netuid = subnet["netuid"].as_u64().unwrap() as u16;
    let neurons = decode_neurons_lite(netuid, &bytes(&subnet["neurons_lite_hex"])).unwrap();
    let expected = subnet["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), expected.len());
    for (n, e) in neurons.iter().zip(expected) {
        assert_eq!(u64::from(n.uid), e["uid"].as_u64().unwrap());
        assert_eq!(n.hotkey.to_string(), e["hotkey"].as_str().unwrap());
        assert_eq!(n.coldkey.to_string(), e["coldkey"].as_str().unwrap());
        assert_eq!(n.stake_rao, e["stake"].as_u64().unwrap());
        assert_eq!(n.stake_tao, n.stake_rao as f64 / 1e9);
        assert_eq!(n.last_update, e["last_update"].as_u64().unwrap());
        assert_eq!(n.validator_permit, e["validator_permit"].as_bool().unwrap());
        assert_eq!(n.active, e["active"].as_bool().unwrap());
    }
    let err = decode_neurons_lite(netuid + 1, &bytes(&subnet["neurons_lite_hex"])).unwrap_err();
    assert!(err.contains("subnet"), "{err}");
    let mut longer = bytes(&subnet["neurons_lite_hex"]);
    longer.push(1);
    assert!(decode_neurons_lite(netuid, &longer).unwrap_err().contains("trailing"));
}

#[test]
fn signed_set_weights_matches_python_bittensor() {
    let fx = json("set_weights_extrinsic.json");
    let metadata = std::fs::read(fixtures().join("finney-spec219.scale")).unwrap();
    let hotkey = Hotkey::from_keyfile(&fixtures().join("wallets/fixture/hotkeys/phrase")).unwrap();
    assert_eq!(hotkey.account().to_string(), fx["signer_ss58"].as_str().unwrap());
    let hash = |v: &Value| BlockHash(<[u8; 32]>::try_from(bytes(v)).unwrap());
    let inputs = OfflineSigning {
        metadata: &metadata,
        genesis_hash: hash(&fx["genesis_hash"]).0,
        spec_version: fx["spec_version"].as_u64().unwrap() as u32,
        transaction_version: fx["transaction_version"].as_u64().unwrap() as u32,
        nonce: fx["nonce"].as_u64().unwrap(),
        era_block: Block { number: fx["era_block_number"].as_u64().unwrap(), hash: hash(&fx["era_block_hash"]) },
        era_period: fx["era_period"].as_u64().unwrap(),
    };
    let u16s = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u16).collect::<Vec<_>>();
    let submission = WeightsSubmission {
        uids: u16s(&fx["dests"]),
        weights: u16s(&fx["weights"]),
        version_key: fx["version_key"].as_u64().unwrap(),
    };
    let netuid = fx["netuid"].as_u64().unwrap() as u16;
    let ours = sign_set_weights_offline(&inputs, netuid, &submission, &hotkey).unwrap();

    assert_eq!(hex::encode(&ours.call_data), hex::encode(bytes(&fx["call_data"])), "call data");
    assert_eq!(hex::encode(&ours.signer_payload), hex::encode(bytes(&fx["signer_payload"])), "signed payload");

    // Signed v4 layout: compact length ‖ 0x84 ‖ 0x00 + signer ‖ 0x01 + 64-byte signature ‖
    // extra ‖ call. Only the (randomised) signature may differ.
    let theirs = bytes(&fx["signed_extrinsic"]);
    assert_eq!(ours.encoded.len(), theirs.len());
    let sig_at = ours.encoded.len() - bytes(&fx["extra"]).len() - ours.call_data.len() - 64;
    assert_eq!(ours.encoded[..sig_at], theirs[..sig_at], "prefix, signer and signature type");
    assert_eq!(ours.encoded[sig_at + 64..], theirs[sig_at + 64..], "extensions and call");
    let sig = |b: &[u8]| <[u8; 64]>::try_from(&b[sig_at..sig_at + 64]).unwrap();
    let payload = bytes(&fx["signer_payload"]);
    assert!(verify(&hotkey.account(), &payload, &sig(&theirs)), "Python's signature verifies with our key");
    assert!(verify(&hotkey.account(), &payload, &sig(&ours.encoded)), "our signature verifies");
    assert!(!verify(&AccountId([1; 32]), &payload, &sig(&ours.encoded)));
}
