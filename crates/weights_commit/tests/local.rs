//! The local pieces that have no Python counterpart: the local beacon standing in for drand,
//! opening commits as the chain does, pending CR v2 reveals, and call validation.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::Digest as _;
use weights_commit::beacon::{quicknet_round_at, quicknet_round_time, BeaconPublicKey, LocalBeacon};
use weights_commit::calls::{netuid_storage_index, CallError, WeightsCall, MAX_COMMIT_BYTES};
use weights_commit::payload::{
    decode_revealed, open_commit, LegacyWeightsTlockPayload, PayloadError, WeightsTlockPayload,
};
use weights_commit::pending::{random_salt, PendingReveal};
use weights_commit::reveal_round::{predict_first_reveal_block, EpochScheduleState, ScheduleError};
use weights_commit::tlock::{decrypt_with_signature, encrypt_for_round_with_rng, TimelockError};

use parity_scale_codec::{Decode, Encode};
use weights_commit::commit::{timelocked_commit, CommitError};
use weights_commit::reveal_round::RevealPlan;

const HOTKEY: [u8; 32] = [0xd4; 32];

#[test]
fn a_local_beacon_reveals_what_was_sealed_for_its_round_and_nothing_else() {
    let beacon = LocalBeacon::from_seed([3; 32]);
    let payload = WeightsTlockPayload::new(HOTKEY, vec![1, 2], vec![65535, 7], 5).unwrap();
    let commit = payload.seal(&beacon.public_key(), 500).unwrap();

    let revealed = open_commit(&commit, &beacon.sign_round(500), &HOTKEY).unwrap();
    assert_eq!((revealed.uids, revealed.values, revealed.version_key), (vec![1, 2], vec![65535, 7], 5));
    assert!(beacon.public_key().verify(500, &beacon.sign_round(500)));

    // Another round, another beacon, or quicknet's key: no.
    assert!(matches!(
        open_commit(&commit, &beacon.sign_round(501), &HOTKEY),
        Err(PayloadError::Timelock(TimelockError::Decrypt(_)))
    ));
    let other = LocalBeacon::from_seed([4; 32]);
    assert!(open_commit(&commit, &other.sign_round(500), &HOTKEY).is_err());
    assert!(!BeaconPublicKey::quicknet().verify(500, &beacon.sign_round(500)));
}

#[test]
fn the_same_seed_gives_the_same_beacon_after_a_restart() {
    let a = LocalBeacon::from_seed([5; 32]);
    let b = LocalBeacon::from_seed([5; 32]);
    assert_eq!(a.public_key(), b.public_key());
    assert_eq!(a.sign_round(77), b.sign_round(77));
    assert_ne!(a.public_key(), LocalBeacon::from_seed([6; 32]).public_key());
    assert!(!format!("{a:?}").contains("secret"));
    let key = BeaconPublicKey::from_hex(&a.public_key().to_hex()).unwrap();
    assert_eq!(key, a.public_key());
}

#[test]
fn keys_and_signatures_with_bad_bytes_are_refused() {
    assert!(BeaconPublicKey::from_hex("00").unwrap_err().to_string().contains("96 bytes"));
    let infinity = BeaconPublicKey::from_bytes(&[0xc0; 96]).unwrap_err().to_string();
    assert!(infinity.contains("point at infinity"), "{infinity}");
    let mut off_curve = [0u8; 96];
    off_curve[0] = 0x80;
    off_curve[95] = 5;
    assert!(BeaconPublicKey::from_bytes(&off_curve).unwrap_err().to_string().contains("not a valid"));
    let mut sig_infinity = [0u8; 48];
    sig_infinity[0] = 0xc0;
    assert!(weights_commit::RoundSignature::from_bytes(&sig_infinity).is_err());
    assert!(weights_commit::RoundSignature::from_hex("zz").unwrap_err().to_string().contains("not valid hex"));
}

#[test]
fn the_chain_drops_a_payload_naming_another_hotkey_and_accepts_the_legacy_form() {
    let beacon = LocalBeacon::from_seed([8; 32]);
    let sig = beacon.sign_round(9);
    let theirs = WeightsTlockPayload::new([1; 32], vec![3], vec![9], 1).unwrap();
    let commit = theirs.seal(&beacon.public_key(), 9).unwrap();
    assert!(matches!(open_commit(&commit, &sig, &HOTKEY), Err(PayloadError::HotkeyMismatch { .. })));

    let legacy = LegacyWeightsTlockPayload { uids: vec![4, 5], values: vec![1, 2], version_key: 3 }.encode();
    let revealed = decode_revealed(&legacy, &HOTKEY).unwrap();
    assert!(!revealed.hotkey_checked);
    assert_eq!(revealed.uids, vec![4, 5]);

    assert!(matches!(decode_revealed(&[1, 2], &HOTKEY), Err(PayloadError::Unreadable(_))));
}

#[test]
fn ciphertexts_are_random_but_all_open() {
    let beacon = LocalBeacon::from_seed([2; 32]);
    let key = beacon.public_key();
    let a = encrypt_for_round_with_rng(&key, 3, b"x", &mut ChaCha20Rng::from_seed([1; 32])).unwrap();
    let b = encrypt_for_round_with_rng(&key, 3, b"x", &mut ChaCha20Rng::from_seed([2; 32])).unwrap();
    assert_ne!(a, b);
    for ct in [a, b] {
        assert_eq!(decrypt_with_signature(&ct, &beacon.sign_round(3)).unwrap(), b"x");
    }
}

#[test]
fn quicknet_rounds_follow_genesis_and_period() {
    assert_eq!(quicknet_round_at(1_692_803_367.0 + 2997.0), 999);
    assert_eq!(quicknet_round_at(1_692_803_367.0 + 3000.0), 1000);
    assert_eq!(quicknet_round_at(0.0), 1);
    assert_eq!(quicknet_round_time(1), 1_692_803_367);
    assert_eq!(quicknet_round_time(1000), 1_692_803_367 + 2997);
}

#[test]
fn the_schedule_refuses_tempo_zero_and_sees_an_epoch_fire_at_inclusion() {
    let state = EpochScheduleState {
        last_epoch_block: 1000,
        pending_epoch_at: 0,
        subnet_epoch_index: 7,
        tempo: 100,
        blocks_since_last_step: 99,
        current_block: 1099,
    };
    // The epoch at block 1100 fires before the commit lands in it: filed under epoch 8,
    // revealed in epoch 9, whose first block is 1200.
    assert_eq!(predict_first_reveal_block(&state, 1), Ok((8, 1200)));
    let idle = EpochScheduleState { tempo: 0, ..state };
    assert_eq!(predict_first_reveal_block(&idle, 1), Err(ScheduleError::TempoIsZero));
}

#[test]
fn calls_the_chain_would_reject_are_refused_before_sending() {
    let too_big = WeightsCall::CommitTimelockedMechanismWeights {
        netuid: 37,
        mecid: 0,
        commit: vec![0; MAX_COMMIT_BYTES + 1],
        reveal_round: 1,
        commit_reveal_version: 4,
    };
    assert_eq!(too_big.call_data(), Err(CallError::CommitTooLarge { len: MAX_COMMIT_BYTES + 1 }));
    let uneven =
        WeightsCall::RevealWeights { netuid: 37, uids: vec![1, 2], values: vec![1], salt: vec![], version_key: 0 };
    assert_eq!(uneven.call_data(), Err(CallError::LengthMismatch { uids: 2, values: 1 }));
    assert_eq!(netuid_storage_index(37, 1), 4096 + 37);
    assert_eq!(netuid_storage_index(37, 200), u16::MAX);
}

#[test]
fn a_pending_reveal_survives_serialisation_and_reveals_what_it_committed() {
    let salt = random_salt(8);
    assert_eq!(salt.len(), 8);
    let pending = PendingReveal::new(HOTKEY, 37, 0, vec![0, 9], vec![65535, 3], salt, 8_052, 1234, 40, 2).unwrap();
    assert_eq!(pending.reveal_epoch, 42);
    assert!(pending.is_due(42) && !pending.is_due(41) && pending.is_expired(43));

    let json = serde_json::to_string(&pending).unwrap();
    assert!(json.contains(&hex::encode(HOTKEY)));
    let back: PendingReveal = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pending);
    assert!(back.is_consistent());

    // The commit carries the hash of exactly what the reveal sends.
    let WeightsCall::CommitWeights { commit_hash, .. } = back.commit_call(false).unwrap() else {
        panic!("commit_weights expected")
    };
    let WeightsCall::RevealWeights { uids, values, salt, version_key, .. } = back.reveal_call(false).unwrap() else {
        panic!("reveal_weights expected")
    };
    assert_eq!(commit_hash, weights_commit::calls::commit_hash(&HOTKEY, 37, &uids, &values, &salt, version_key));

    let mut tampered = back.clone();
    tampered.values[0] = 1;
    assert!(!tampered.is_consistent());

    let mechanism = PendingReveal { mecid: 1, ..pending };
    assert_eq!(mechanism.commit_call(false), Err(CallError::MechanismCallsRequired { mecid: 1 }));
    assert!(matches!(mechanism.reveal_call(true), Ok(WeightsCall::RevealMechanismWeights { mecid: 1, .. })));
}

#[test]
fn a_timelocked_commit_carries_a_payload_the_local_chain_can_open_at_its_round() {
    let beacon = LocalBeacon::from_seed([11; 32]);
    let payload = WeightsTlockPayload::new(HOTKEY, vec![0, 4, 9], vec![65535, 20, 3], 8_052).unwrap();
    let plan =
        RevealPlan { commit_epoch: 5, reveal_epoch: 6, reveal_block: 720, target_block: 723, reveal_round: 4242 };
    let made = timelocked_commit(&beacon.public_key(), &payload, 37, 0, plan, true).unwrap();
    assert_eq!(made.plan, plan);

    // Take the call data apart the way the chain's decoder would.
    let data = made.call.call_data().unwrap();
    assert_eq!(&data[..2], &[7, 118]);
    let (netuid, mecid, commit, round, version) = <(u16, u8, Vec<u8>, u64, u16)>::decode(&mut &data[2..]).unwrap();
    assert_eq!((netuid, mecid, round, version), (37, 0, 4242, 4));
    let revealed = open_commit(&commit, &beacon.sign_round(4242), &HOTKEY).unwrap();
    assert_eq!((revealed.uids, revealed.values), (payload.uids.clone(), payload.values.clone()));
    assert_eq!(made.payload_sha256.to_vec(), sha2::Sha256::digest(payload.to_bytes()).to_vec());

    let plain = timelocked_commit(&beacon.public_key(), &payload, 37, 0, plan, false).unwrap();
    assert_eq!(&plain.call.call_data().unwrap()[..2], &[7, 113]);
    assert_eq!(
        timelocked_commit(&beacon.public_key(), &payload, 37, 1, plan, false),
        Err(CommitError::Call(CallError::MechanismCallsRequired { mecid: 1 }))
    );
}
