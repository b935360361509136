//! The subnet as the validator sees it. One trait, [`Chain`], says what the validator reads
//! (blocks, the metagraph, miners' commitments, other validators' weights, hyperparameters)
//! and writes (its weights). Two implementations: [`Subtensor`], a subxt client of a real node
//! with a deadline on every call, one connection re-established after failures, and the rate
//! limit respected; and [`LocalChain`], a file-backed chain for `localnet` and tests.

pub mod account;
pub mod cli;
pub mod commitment;
mod error;
pub mod local;
pub mod metagraph;
pub mod rules;
pub mod subtensor;
pub mod wallet;

pub use account::{AccountId, Block, BlockHash};
pub use commitment::{Commitment, Data, NotText};
pub use error::{ChainError, SetWeightsError};
pub use local::LocalChain;
pub use metagraph::{Metagraph, Neuron};
pub use rules::{Hyperparameters, WeightsSubmission};
pub use subtensor::{Subtensor, SubtensorOptions};
pub use wallet::{Hotkey, WalletError};

use std::collections::BTreeMap;

/// Every miner's commitment on a subnet, by hotkey.
pub type Commitments = BTreeMap<AccountId, Commitment>;

/// The weights each validator uid has set: `(miner uid, raw u16 weight)` rows.
pub type WeightRows = BTreeMap<u16, Vec<(u16, u16)>>;

/// Where a weight submission landed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WeightsIncluded {
    /// The block the extrinsic was included in.
    pub block: Block,
    /// The extrinsic hash (`0x` hex), where the chain has one.
    pub extrinsic_hash: Option<String>,
}

/// What the validator needs from a chain. Reads are pinned to one [`Block`] (from
/// [`Chain::head`] or [`Chain::block`]) so that a snapshot is consistent.
///
/// New submission kinds (the timelocked commit-reveal path) will be added as methods with a
/// default body that reports them unsupported, so existing implementations keep compiling.
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
    async fn weights(&self, netuid: u16, at: &Block) -> Result<WeightRows, ChainError>;

    /// The hyperparameters of `netuid` at `at`.
    async fn hyperparameters(&self, netuid: u16, at: &Block) -> Result<Hyperparameters, ChainError>;

    /// Sets this validator's weights on `netuid`, waits for inclusion and returns the chain's
    /// verdict. Submissions the chain would refuse (too soon, commit-reveal required, version
    /// key too low, malformed vectors) are refused here without sending anything.
    async fn set_weights(
        &self,
        netuid: u16,
        submission: &WeightsSubmission,
    ) -> Result<WeightsIncluded, SetWeightsError>;
}
