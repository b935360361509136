//! What can go wrong talking to a chain, and why a weight submission was not accepted.

use crate::account::AccountId;
use std::path::PathBuf;
use std::time::Duration;

/// A read or connection failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("{what}: no answer from {endpoint} within {after:?}")]
    Timeout { what: String, endpoint: String, after: Duration },
    #[error("cannot connect to {endpoint}: {reason}")]
    Connection { endpoint: String, reason: String },
    #[error("{what} failed at {endpoint}: {reason}")]
    Rpc { what: String, endpoint: String, reason: String },
    #[error("{what}: cannot decode the chain's answer: {reason}")]
    Decode { what: String, reason: String },
    #[error("block {0} does not exist (yet)")]
    BlockNotFound(u64),
    #[error("block {number} has hash {actual}, not {expected}: not a block of this chain")]
    WrongBlock { number: u64, expected: String, actual: String },
    #[error("local chain {path}: {reason}")]
    Local { path: PathBuf, reason: String },
}

/// Why weights were not set. Every variant says whether anything was sent to the chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetWeightsError {
    #[error("no hotkey loaded: setting weights needs --wallet.name/--wallet.hotkey")]
    NoHotkey,
    #[error("hotkey {hotkey} is not registered on subnet {netuid}; nothing sent")]
    NotRegistered { hotkey: AccountId, netuid: u16 },
    #[error("invalid weights, nothing sent: {0}")]
    Invalid(String),
    #[error(
        "too soon to set weights on subnet {netuid}: last set at block {last_update}, the rate limit is \
         {rate_limit} blocks, {blocks_left} blocks left at block {current_block}; nothing sent"
    )]
    TooSoon { netuid: u16, last_update: u64, rate_limit: u64, current_block: u64, blocks_left: u64 },
    #[error(
        "subnet {netuid} requires commit-reveal weights (CommitRevealWeightsEnabled): set_weights would be \
         refused with CommitRevealEnabled; submit_weights commits instead; nothing sent"
    )]
    CommitRevealRequired { netuid: u16 },
    #[error("cannot submit weights: {0}; nothing sent")]
    Mode(#[from] crate::mode::ModeError),
    #[error(
        "hotkey {hotkey} already has {count} unrevealed commits on subnet {netuid} in epoch {epoch}; the chain \
         allows at most 10 (TooManyUnrevealedCommits); nothing sent"
    )]
    TooManyUnrevealedCommits { hotkey: AccountId, netuid: u16, epoch: u64, count: usize },
    #[error("cannot build the weight commit, nothing sent: {0}")]
    Commit(String),
    #[error("the pending reveal was committed by {committer}, but this chain handle signs as {signer}; nothing sent")]
    WrongHotkey { committer: AccountId, signer: AccountId },
    #[error(
        "{call}: the runtime metadata encodes the arguments as {metadata} but the encoding checked against Python \
         bittensor is {ours}; the runtime changed the call, nothing sent"
    )]
    EncodingMismatch { call: String, ours: String, metadata: String },
    #[error("version key {given} is below the subnet's weights version key {required}; nothing sent")]
    VersionKeyTooLow { given: u64, required: u64 },
    #[error("the chain refused the weights: {pallet}.{error} ({docs})")]
    Dispatch { pallet: String, error: String, docs: String },
    #[error("the transaction pool refused the weights: {0}")]
    PoolRejected(String),
    #[error("the weights transaction was dropped or went invalid before inclusion: {0}")]
    NotIncluded(String),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl SetWeightsError {
    /// The runtime's error name when the chain decided (`SettingWeightsTooFast`, ...).
    pub fn dispatch_error_name(&self) -> Option<&str> {
        match self {
            SetWeightsError::Dispatch { error, .. } => Some(error),
            _ => None,
        }
    }
}
