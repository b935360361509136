//! The scoring core of the SN37 (finetuning subnet) validator.
//!
//! Everything that decides *which model earns weight* lives here, as pure functions over plain
//! data: no I/O, no async, no tensors. Each module reproduces one piece of the upstream Python
//! validator exactly (the golden vectors in `../shared/golden/` are the proof), so that our
//! weights agree with the other validators' to the bit where upstream is deterministic.
//!
//! | module | upstream counterpart |
//! |---|---|
//! | [`commitment`] | taoverse `ModelId.from_compressed_str` / `to_compressed_str` |
//! | [`hashing`] | taoverse `get_hash_of_file`, `get_hash_of_directory`, `get_hash_of_two_strings` |
//! | [`epsilon`] | taoverse `FixedEpsilon`, `LinearDecay` |
//! | [`wins`] | finetuning `iswin` / `_is_win`, `compute_wins` (per sample and per score) |
//! | [`weights`] | softmax with temperature (float64 and torch-like float32), winner-takes-all |
//! | [`anti_clone`] | SN9 `compute_competitive_uids` |
//! | [`tracker`] | taoverse `CompetitionTracker` (1.0.5 and latest semantics) |
//! | [`emit`] | bittensor `convert_weights_and_uids_for_emit` (u16 weights for the chain) |
//! | [`competition`] | competitions, constraints, eval tasks, schedules by block |
//! | [`record`] | the scoring record that `score` replays and every validator step writes |

pub mod anti_clone;
pub mod commitment;
pub mod competition;
pub mod emit;
pub mod epsilon;
pub mod float_json;
pub mod hashing;
mod pyint;
pub mod record;
pub mod tracker;
pub mod weights;
pub mod wins;

pub use commitment::{CommitmentError, ModelId};
pub use competition::{Competition, CompetitionId, ModelConstraints, Schedule};
pub use epsilon::Epsilon;
pub use record::{ScoringOutcome, ScoringRecord};
pub use tracker::CompetitionTracker;

/// A block number on the chain. `None` where upstream uses `math.inf` (a uid without metadata).
pub type Block = u64;
