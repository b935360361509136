//! Building weight commits for subtensor, with no network: everything a validator (and the
//! local chain standing in for subtensor) needs to commit weights while commit-reveal is on.
//!
//! Since subtensor v3.2.6 every subnet runs commit-reveal, and a plain `set_weights` is refused.
//! A validator either sends a drand-timelocked commit that the chain decrypts itself at a drand
//! round (`commit_timelocked_*`), or, on runtimes that still want it, a salted hash that it must
//! reveal itself one reveal period later (`commit_weights` / `reveal_weights`). This crate
//! builds both, as pure functions over values read from the chain:
//!
//! | module | job | upstream counterpart |
//! |---|---|---|
//! | [`beacon`] | drand quicknet constants, round ↔ time, round signatures, a local beacon | drand quicknet (`bls-unchained-g1-rfc9380`) |
//! | [`tlock`] | encrypt for a round, decrypt with the round's signature | bittensor-drand `encrypt_and_compress` / `decrypt_and_decompress` |
//! | [`payload`] | the SCALE plaintext, sealing it, and opening it as the chain does | subtensor `WeightsTlockPayload`, `reveal_crv3_commits_for_subnet` |
//! | [`reveal_round`] | which drand round to encrypt for, under both epoch models | bittensor-drand `get_encrypted_commit` (1.x) and `get_encrypted_commit_v2` (2.0.0) |
//! | [`calls`] | SCALE call data of the weight extrinsics, the CR v2 commit hash | subtensor `SubtensorModule` calls 96, 97, 113, 115, 116, 118 |
//! | [`commit`] | one timelocked commit: sealed payload, extrinsic, record | bittensor 11 `_build_timelocked` |
//! | [`pending`] | what must survive a restart between a hash commit and its reveal | — |
//!
//! # Which `timelock` and why
//!
//! The chain decodes commits with ideal-lab5's `tle` at git rev `5416406c` (pinned by subtensor
//! and by bittensor-drand alike): `TLECiphertext<TinyBLS381>` serialized with ark-serialize 0.4,
//! whose `v`/`w` fields are `Vec<u8>` (a u64 length word before each). crates.io `timelock`
//! **0.0.1** is that code (per shared/reference §A2 its `src/` differs from the rev only in
//! comments and visibility), on arkworks 0.4 and `w3f-bls` =0.1.4, so this crate pins it. `timelock` 0.3.0 moved to
//! arkworks 0.5 and made `v`/`w` fixed arrays: different bytes, which the chain would not
//! deserialize. The interop tests prove the choice: ciphertexts made by PyPI
//! `bittensor-drand` 2.0.0 decrypt here, and ours decrypt there (see `tests/fixtures/`).
//!
//! Nothing here talks to a node: reading the chain values and submitting the calls is the
//! `chain` crate's job.

pub mod beacon;
pub mod calls;
pub mod commit;
pub mod payload;
pub mod pending;
pub mod reveal_round;
pub mod tlock;

pub use beacon::{BeaconError, BeaconPublicKey, LocalBeacon, RoundSignature};
pub use calls::{CallError, WeightsCall};
pub use commit::{timelocked_commit, CommitError, TimelockedCommit};
pub use payload::{PayloadError, RevealedWeights, WeightsTlockPayload};
pub use pending::PendingReveal;
pub use reveal_round::{EpochModel, EpochScheduleState, LegacyEpochInputs, RevealPlan, ScheduleError};
pub use tlock::TimelockError;
