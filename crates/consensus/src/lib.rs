//! Yuma consensus as a validator sees it: from the weights, stakes and permits a subnet holds
//! at one block, the per-miner consensus, each validator's trust and the miners' incentive, as
//! subtensor's epoch computes them (`epoch/run_epoch.rs::epoch_mechanism`, `epoch/math.rs`), and
//! what a validator's trust would be for a row of weights it has not set yet.
//!
//! A validator earns dividends only on the part of its weights that agrees with consensus; this
//! crate lets it see that agreement before and after it sets weights.
//!
//! | module | job |
//! |---|---|
//! | [`epoch`] | inputs, masks and normalisations, consensus, clipping, validator trust, incentive (steps 1–9 of the epoch) |
//! | [`median`] | the stake-weighted median with kappa (`weighted_median_col_sparse`) |
//! | [`agreement`] | a row of ours against consensus: per-miner overshoot and the vtrust estimate |
//!
//! # Floating point, where the chain is fixed point
//!
//! The chain computes in `I32F32` (32 fractional bits, resolution 2⁻³² ≈ 2.3·10⁻¹⁰, divisions
//! truncated) and stores proportions as `u16` (× 65535). This crate uses `f64`. Values agree to
//! far better than one `u16` step, with two places where they can part:
//!
//! - the median's boundary: when a stake share lands *exactly* on `1 − κ`, the chain's answer
//!   depends on how its own truncations fall. We resolve such ties as exact arithmetic does
//!   (comparisons within 10⁻¹² count as equal, below the chain's resolution), so a share that
//!   is within 2⁻³² of the boundary may go the other way on chain;
//! - normalisation of large stakes: the chain normalises in `I64F64` then truncates to `I32F32`,
//!   so tiny stakes can become exactly 0 there (and so lose their vote) while `f64` keeps them.
//!
//! Bonds, dividends and emission (steps 10–11) are not modelled: they do not change consensus
//! or validator trust.

pub mod agreement;
pub mod epoch;
pub mod median;

pub use agreement::{estimate_row, row_agreement, MinerAgreement, RowAgreement, RowEstimate};
pub use epoch::{run_epoch, ConsensusError, EpochInputs, EpochOutputs};
pub use median::{kappa_fraction, stake_weighted_median};
