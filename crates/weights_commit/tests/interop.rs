//! Cross-checks against the Python reference implementations, through the fixtures that
//! `tests/fixtures/make_fixtures.py` made with PyPI bittensor-drand 2.0.0 / 1.3.0 and bittensor
//! 11.3.0 / 10.2.0 (see that script for how, and for the frozen clocks).

use std::path::PathBuf;

use parity_scale_codec::Decode;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{json, Value};
use sha2::Digest as _;
use weights_commit::beacon::{BeaconPublicKey, LocalBeacon, RoundSignature};
use weights_commit::calls::{commit_hash, WeightsCall};
use weights_commit::payload::{open_commit, WeightsTlockPayload};
use weights_commit::reveal_round::{
    legacy_reveal_plan, stateful_reveal_plan, EpochScheduleState, LegacyEpochInputs, ScheduleError,
};
use weights_commit::tlock::{
    decrypt_with_signature, encrypt_for_round_with_rng, TimelockError, UserData, CIPHERTEXT_OVERHEAD,
};

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).expect("fixture file");
    serde_json::from_str(&text).expect("fixture json")
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn u16s(v: &Value) -> Vec<u16> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("number") as u16).collect()
}

fn round_1000_signature(doc: &Value) -> RoundSignature {
    RoundSignature::from_hex(doc["round_1000_signature"].as_str().unwrap()).unwrap()
}

fn hotkey(doc: &Value) -> [u8; 32] {
    hex_of(&doc["hotkey_hex"]).try_into().unwrap()
}

fn expected_payload(doc: &Value) -> WeightsTlockPayload {
    let w = &doc["weights"];
    WeightsTlockPayload::new(hotkey(doc), u16s(&w["uids"]), u16s(&w["weights"]), w["version_key"].as_u64().unwrap())
        .unwrap()
}

#[test]
fn quicknet_signature_of_round_1000_verifies_only_for_round_1000() {
    let doc = fixture("drand_v2.json");
    let sig = round_1000_signature(&doc);
    let quicknet = BeaconPublicKey::quicknet();
    assert!(quicknet.verify(1000, &sig));
    assert!(!quicknet.verify(1001, &sig));
    assert!(!LocalBeacon::from_seed([1; 32]).public_key().verify(1000, &sig));
}

#[test]
fn bittensor_drand_encrypt_at_round_ciphertexts_decrypt_here() {
    let doc = fixture("drand_v2.json");
    let sig = round_1000_signature(&doc);
    let cases = doc["encrypt_at_round"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let wrapped = UserData::decode(&mut &hex_of(&case["user_data_hex"])[..]).unwrap();
        assert_eq!(wrapped.reveal_round, 1000);
        let plaintext = hex_of(&case["plaintext_hex"]);
        assert_eq!(wrapped.encrypted_data.len(), CIPHERTEXT_OVERHEAD + plaintext.len(), "{}", case["label"]);
        let opened = decrypt_with_signature(&wrapped.encrypted_data, &sig).unwrap();
        assert_eq!(opened, plaintext, "{}", case["label"]);
        if case["label"] == "weights_payload" {
            let payload = WeightsTlockPayload::from_bytes(&opened).unwrap();
            assert_eq!(payload.hotkey, hotkey(&doc).to_vec());
            assert_eq!(payload.uids, vec![1, 2, 3, 37]);
            assert_eq!(payload.values, vec![65535, 0, 100, 40000]);
            assert_eq!(payload.version_key, 1234);
        }
    }
}

#[test]
fn a_signature_of_another_round_or_beacon_does_not_open_their_ciphertext() {
    let doc = fixture("drand_v2.json");
    let wrapped = UserData::decode(&mut &hex_of(&doc["encrypt_at_round"][0]["user_data_hex"])[..]).unwrap();
    let wrong = LocalBeacon::from_seed([9; 32]).sign_round(1000);
    assert!(matches!(decrypt_with_signature(&wrapped.encrypted_data, &wrong), Err(TimelockError::Decrypt(_))));
    let truncated = &wrapped.encrypted_data[..wrapped.encrypted_data.len() - 1];
    assert!(matches!(decrypt_with_signature(truncated, &round_1000_signature(&doc)), Err(TimelockError::Malformed(_))));
}

#[test]
fn stateful_reveal_rounds_match_get_encrypted_commit_v2() {
    let doc = fixture("drand_v2.json");
    let sig = round_1000_signature(&doc);
    let payload = expected_payload(&doc);
    let mut compared = 0;
    let mut opened = 0;
    for case in doc["commit_v2"].as_array().unwrap() {
        let s = &case["state"];
        let state = EpochScheduleState {
            last_epoch_block: s["last_epoch_block"].as_u64().unwrap(),
            pending_epoch_at: s["pending_epoch_at"].as_u64().unwrap(),
            subnet_epoch_index: s["subnet_epoch_index"].as_u64().unwrap(),
            tempo: s["tempo"].as_u64().unwrap() as u16,
            blocks_since_last_step: s["blocks_since_last_step"].as_u64().unwrap(),
            current_block: s["current_block"].as_u64().unwrap(),
        };
        let period = case["reveal_period_epochs"].as_u64().unwrap();
        let block_time = case["block_time"].as_f64().unwrap();
        for run in case["runs"].as_array().unwrap() {
            let now = run["now_unix"].as_f64().unwrap();
            let ours = stateful_reveal_plan(&state, period, block_time, now);
            if run.get("error").is_some() {
                assert_eq!(ours, Err(ScheduleError::TempoIsZero), "{}", case["name"]);
                continue;
            }
            let plan = ours.unwrap();
            assert_eq!(plan.reveal_round, run["reveal_round"].as_u64().unwrap(), "{} at {now}", case["name"]);
            assert_eq!(plan.reveal_epoch, plan.commit_epoch + period);
            compared += 1;
            if plan.reveal_round == 1000 {
                let commit = hex_of(&run["commit_hex"]);
                let revealed = open_commit(&commit, &sig, &hotkey(&doc)).unwrap();
                assert!(revealed.hotkey_checked);
                assert_eq!(revealed.uids, payload.uids);
                assert_eq!(revealed.values, payload.values);
                assert_eq!(revealed.version_key, payload.version_key);
                let plaintext = decrypt_with_signature(&commit, &sig).unwrap();
                assert_eq!(plaintext, payload.to_bytes());
                assert_eq!(plaintext, hex_of(&run["decrypted_payload_hex"]));
                opened += 1;
            }
        }
    }
    assert_eq!((compared, opened), (20, 10));
}

#[test]
fn legacy_reveal_rounds_match_get_encrypted_commit() {
    let doc = fixture("drand_v1.json");
    let sig = round_1000_signature(&doc);
    let payload = expected_payload(&doc);
    let mut compared = 0;
    for case in doc["commit_v1"].as_array().unwrap() {
        let inputs = LegacyEpochInputs {
            tempo: case["tempo"].as_u64().unwrap() as u16,
            netuid: case["netuid"].as_u64().unwrap() as u16,
            current_block: case["current_block"].as_u64().unwrap(),
            reveal_period_epochs: case["reveal_period_epochs"].as_u64().unwrap(),
        };
        let block_time = case["block_time"].as_f64().unwrap();
        for run in case["runs"].as_array().unwrap() {
            let now = run["now_unix"].as_f64().unwrap();
            let plan = legacy_reveal_plan(&inputs, block_time, now);
            assert_eq!(plan.reveal_round, run["reveal_round"].as_u64().unwrap(), "{} at {now}", case["name"]);
            if plan.reveal_round == 1000 {
                let plaintext = decrypt_with_signature(&hex_of(&run["commit_hex"]), &sig).unwrap();
                assert_eq!(plaintext, payload.to_bytes());
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 14);
}

#[test]
fn commit_hashes_match_bittensor_generate_weight_hash() {
    let doc = fixture("drand_v1.json");
    let key = hotkey(&doc);
    let cases = doc["commit_hashes"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let ours = commit_hash(
            &key,
            case["netuid_index"].as_u64().unwrap() as u16,
            &u16s(&case["uids"]),
            &u16s(&case["values"]),
            &u16s(&case["salt"]),
            case["version_key"].as_u64().unwrap(),
        );
        assert_eq!(hex::encode(ours), case["hash_hex"].as_str().unwrap());
    }
}

fn call_from_fixture(name: &str, p: &Value) -> WeightsCall {
    let netuid = p["netuid"].as_u64().unwrap() as u16;
    let mecid = || p["mecid"].as_u64().unwrap() as u8;
    let hash = || -> [u8; 32] { hex_of(&p["commit_hash"]).try_into().unwrap() };
    match name {
        "commit_weights" => WeightsCall::CommitWeights { netuid, commit_hash: hash() },
        "commit_mechanism_weights" => {
            WeightsCall::CommitMechanismWeights { netuid, mecid: mecid(), commit_hash: hash() }
        }
        "reveal_weights" => WeightsCall::RevealWeights {
            netuid,
            uids: u16s(&p["uids"]),
            values: u16s(&p["values"]),
            salt: u16s(&p["salt"]),
            version_key: p["version_key"].as_u64().unwrap(),
        },
        "reveal_mechanism_weights" => WeightsCall::RevealMechanismWeights {
            netuid,
            mecid: mecid(),
            uids: u16s(&p["uids"]),
            values: u16s(&p["values"]),
            salt: u16s(&p["salt"]),
            version_key: p["version_key"].as_u64().unwrap(),
        },
        "commit_timelocked_weights" => WeightsCall::CommitTimelockedWeights {
            netuid,
            commit: hex_of(&p["commit"]),
            reveal_round: p["reveal_round"].as_u64().unwrap(),
            commit_reveal_version: p["commit_reveal_version"].as_u64().unwrap() as u16,
        },
        "commit_timelocked_mechanism_weights" => WeightsCall::CommitTimelockedMechanismWeights {
            netuid,
            mecid: mecid(),
            commit: hex_of(&p["commit"]),
            reveal_round: p["reveal_round"].as_u64().unwrap(),
            commit_reveal_version: p["commit_reveal_version"].as_u64().unwrap() as u16,
        },
        other => panic!("fixture names an unknown call {other}"),
    }
}

#[test]
fn call_data_matches_what_bittensor_composes() {
    let doc = fixture("call_data.json");
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 7);
    for v in vectors {
        let name = v["call"].as_str().unwrap();
        let call = call_from_fixture(name, &v["params"]);
        assert_eq!(call.name(), name);
        assert_eq!(hex::encode(call.call_data().unwrap()), v["call_data_hex"].as_str().unwrap(), "{name}");
    }
}

/// The ciphertexts of ours that `make_fixtures.py verify` decrypted with bittensor-drand: made
/// from fixed seeds, so this test proves the current code still produces exactly those bytes.
fn our_ciphertexts() -> Value {
    let payload =
        WeightsTlockPayload::new([0xd4; 32], vec![0, 5, 37, 255], vec![65535, 1, 2, 3], 8_052).unwrap().to_bytes();
    let quicknet = BeaconPublicKey::quicknet();
    let local = LocalBeacon::from_seed([7; 32]);
    let items = [
        ("payload_quicknet_round_1000", payload.clone(), quicknet, 1000u64, None),
        ("hello_quicknet_round_1000", b"hello sn37".to_vec(), quicknet, 1000, None),
        ("payload_local_beacon_round_1234", payload, local.public_key(), 1234, Some(local.sign_round(1234))),
    ];
    let quicknet_sig =
        "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";
    let ciphertexts: Vec<Value> = items
        .into_iter()
        .enumerate()
        .map(|(i, (label, plaintext, key, round, local_sig))| {
            let mut rng = ChaCha20Rng::from_seed([i as u8 + 1; 32]);
            let ct = encrypt_for_round_with_rng(&key, round, &plaintext, &mut rng).unwrap();
            let sig_hex = local_sig.map_or(quicknet_sig.to_string(), |s| s.to_hex());
            json!({
                "label": label,
                "round": round,
                "plaintext_hex": hex::encode(&plaintext),
                "ciphertext_hex": hex::encode(&ct),
                "signature_hex": sig_hex,
                "beacon_public_key_hex": key.to_hex(),
            })
        })
        .collect();
    json!({ "made_by": "weights_commit tests/interop.rs our_ciphertexts (seeded ChaCha20)", "ciphertexts": ciphertexts })
}

#[test]
fn our_ciphertexts_are_the_ones_bittensor_drand_opened() {
    let ours = our_ciphertexts();
    let path = fixture_path("rust_ciphertexts.json");
    if std::env::var_os("WEIGHTS_COMMIT_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&ours).unwrap() + "\n").unwrap();
    }
    assert_eq!(fixture("rust_ciphertexts.json"), ours, "regenerate and re-verify the fixtures");

    // We open them too, including the local beacon's.
    for item in ours["ciphertexts"].as_array().unwrap() {
        let sig = RoundSignature::from_hex(item["signature_hex"].as_str().unwrap()).unwrap();
        let key = BeaconPublicKey::from_hex(item["beacon_public_key_hex"].as_str().unwrap()).unwrap();
        assert!(key.verify(item["round"].as_u64().unwrap(), &sig));
        let opened = decrypt_with_signature(&hex_of(&item["ciphertext_hex"]), &sig).unwrap();
        assert_eq!(opened, hex_of(&item["plaintext_hex"]));
    }

    // And bittensor-drand did (make_fixtures.py verify), on exactly these bytes.
    let verified = fixture("rust_verified_by_python.json");
    let results = verified["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for (item, result) in ours["ciphertexts"].as_array().unwrap().iter().zip(results) {
        assert_eq!(result["label"], item["label"]);
        assert_eq!(result["decrypted"], true, "{result}");
        assert_eq!(result["plaintext_equal"], true, "{result}");
        let digest = sha2::Sha256::digest(hex_of(&item["ciphertext_hex"]));
        assert_eq!(result["ciphertext_sha256"].as_str().unwrap(), hex::encode(digest));
    }
}
