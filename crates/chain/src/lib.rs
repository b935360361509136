//! The subnet as the validator sees it. One trait, [`Chain`], says what the validator reads
//! (blocks, the metagraph, miners' commitments, other validators' weights, hyperparameters,
//! the inputs of Yuma consensus) and writes (its weights: set directly, committed timelocked,
//! or hash-committed and revealed, whichever the subnet requires). Two implementations:
//! [`Subtensor`], a subxt client of a real node with a deadline on every call, one connection
//! re-established after failures, and the rate limit respected; and [`LocalChain`], a
//! file-backed chain for `localnet` and tests, which runs commit-reveal with a local stand-in
//! for drand.
//!
//! | module | job |
//! |---|---|
//! | [`mode`] | which submission path a subnet needs, from its hyperparameters and the runtime |
//! | [`submission`] | what a submission or a reveal did; the epoch arithmetic of commits |
//! | [`agreement`] | the consensus inputs at one block and our validator-trust estimate |
//! | [`subtensor`], [`local`] | the two chains |

pub mod account;
pub mod agreement;
pub mod cli;
pub mod commitment;
mod error;
pub mod local;
pub mod metagraph;
pub mod mode;
pub mod rules;
pub mod submission;
pub mod subtensor;
pub mod wallet;

pub use account::{AccountId, Block, BlockHash};
pub use agreement::{AgreementSnapshot, VtrustEstimate};
pub use commitment::{Commitment, Data, NotText};
pub use error::{ChainError, SetWeightsError};
pub use local::LocalChain;
pub use metagraph::{Metagraph, Neuron};
pub use mode::{WeightsMode, WeightsPath};
pub use rules::{Hyperparameters, WeightsSubmission};
pub use submission::{RevealOutcome, Submitted, TimelockedCommitRecord};
pub use subtensor::{Subtensor, SubtensorOptions};
pub use wallet::{Hotkey, WalletError};
pub use weights_commit::PendingReveal;

use std::collections::BTreeMap;

/// Every miner's commitment on a subnet, by hotkey.
pub type Commitments = BTreeMap<AccountId, Commitment>;

/// The weights each validator uid has set: `(miner uid, raw u16 weight)` rows.
pub type WeightRows = BTreeMap<u16, Vec<(u16, u16)>>;

/// Where a weight submission landed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WeightsIncluded {
    /// The block the extrinsic was included in.
    pub block: Block,
    /// The extrinsic hash (`0x` hex), where the chain has one.
    pub extrinsic_hash: Option<String>,
}

/// What the validator needs from a chain. Reads are pinned to one [`Block`] (from
/// [`Chain::head`] or [`Chain::block`]) so that a snapshot is consistent.
///
/// Weights: call [`Chain::submit_weights`] each interval (it does what the subnet requires and
/// says what it did); for a hash commit, persist the returned [`PendingReveal`] and call
/// [`Chain::reveal_pending`] until it is revealed or expired (see [`submission`]).
#[async_trait::async_trait]
pub trait Chain: Send + Sync {
    /// The latest finalized block.
    async fn head(&self) -> Result<Block, ChainError>;

    /// The block with this number (its hash seeds the evaluation data).
    async fn block(&self, number: u64) -> Result<Block, ChainError>;

    /// The metagraph of `netuid` at `at`.
    async fn metagraph(&self, netuid: u16, at: &Block) -> Result<Metagraph, ChainError>;

    /// Every commitment on `netuid` at `at`, each with the block it was made at.
    async fn commitments(&self, netuid: u16, at: &Block) -> Result<Commitments, ChainError>;

    /// The weight rows every uid of `netuid` has set, at `at` (uids without weights absent).
    /// Under commit-reveal these are the revealed rows, max-upscaled by the chain.
    async fn weights(&self, netuid: u16, at: &Block) -> Result<WeightRows, ChainError>;

    /// The hyperparameters of `netuid` at `at`.
    async fn hyperparameters(&self, netuid: u16, at: &Block) -> Result<Hyperparameters, ChainError>;

    /// Sets this validator's weights on `netuid` with `set_weights`, waits for inclusion and
    /// returns the chain's verdict. Submissions the chain would refuse (too soon, commit-reveal
    /// required, version key too low, malformed vectors) are refused here without sending
    /// anything. [`Chain::submit_weights`] is the call that works under commit-reveal too.
    async fn set_weights(
        &self,
        netuid: u16,
        submission: &WeightsSubmission,
    ) -> Result<WeightsIncluded, SetWeightsError>;

    /// How weights must be submitted on `netuid` at `at` (direct, timelocked or hash commit).
    async fn weights_mode(&self, netuid: u16, at: &Block) -> Result<WeightsMode, SetWeightsError>;

    /// Submits this validator's weights the way `netuid` requires at the head: `set_weights`,
    /// a drand-timelocked commit, or a salted hash commit. The same refusals as
    /// [`Chain::set_weights`] apply (the rate limit counts commits too), plus at most 10
    /// unrevealed commits.
    async fn submit_weights(&self, netuid: u16, submission: &WeightsSubmission) -> Result<Submitted, SetWeightsError>;

    /// Reveals a hash commit made by [`Chain::submit_weights`], if its reveal epoch is now.
    async fn reveal_pending(&self, pending: &PendingReveal) -> Result<RevealOutcome, SetWeightsError>;

    /// What Yuma consensus reads for `netuid` at `at` (weights, stakes, permits, activity,
    /// registrations, kappa) and, where the chain stores them, its own trust and consensus.
    async fn agreement_snapshot(&self, netuid: u16, at: &Block) -> Result<AgreementSnapshot, ChainError>;
}
