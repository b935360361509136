//! Command-line access to a chain, with bittensor's flag names and environment twins:
//! `--subtensor.network`, `--subtensor.chain_endpoint`, `--local-chain`, and the wallet flags
//! `--wallet.path`, `--wallet.name`, `--wallet.hotkey`.

use crate::account::Block;
use crate::error::ChainError;
use crate::local::LocalChain;
use crate::metagraph::Metagraph;
use crate::rules::Hyperparameters;
use crate::subtensor::{network_endpoint, Subtensor, SubtensorOptions};
use crate::wallet::{Hotkey, WalletError};
use crate::{Chain, Commitments};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Which chain to talk to.
#[derive(clap::Args, Clone, Debug)]
pub struct ChainArgs {
    /// Bittensor network: finney, test or local (a node on ws://127.0.0.1:9944).
    #[arg(long = "subtensor.network", env = "BT_SUBTENSOR_NETWORK", default_value = "finney")]
    pub network: String,
    /// A node's ws:// or wss:// URL; overrides --subtensor.network.
    #[arg(long = "subtensor.chain_endpoint", env = "BT_SUBTENSOR_CHAIN_ENDPOINT")]
    pub chain_endpoint: Option<String>,
    /// Use the file-backed local chain at this path (localnet) instead of a node.
    #[arg(long = "local-chain", env = "SN37_LOCAL_CHAIN", value_name = "PATH", conflicts_with = "chain_endpoint")]
    pub local_chain: Option<PathBuf>,
    /// Deadline of every chain call, in seconds.
    #[arg(long = "subtensor.timeout", env = "SN37_SUBTENSOR_TIMEOUT", default_value_t = 60, value_name = "SECONDS")]
    pub timeout_secs: u64,
}

/// Which hotkey signs (only the hotkey is ever read).
#[derive(clap::Args, Clone, Debug)]
pub struct WalletArgs {
    /// Folder holding the wallets.
    #[arg(long = "wallet.path", env = "BT_WALLET_PATH", default_value = "~/.bittensor/wallets")]
    pub path: PathBuf,
    /// Wallet name (a folder under --wallet.path).
    #[arg(long = "wallet.name", env = "BT_WALLET_NAME", default_value = "default")]
    pub name: String,
    /// Hotkey name (a file under <wallet>/hotkeys/).
    #[arg(long = "wallet.hotkey", env = "BT_WALLET_HOTKEY", default_value = "default")]
    pub hotkey: String,
}

impl WalletArgs {
    pub fn load_hotkey(&self) -> Result<Hotkey, WalletError> {
        Hotkey::load(&self.path, &self.name, &self.hotkey)
    }
}

impl ChainArgs {
    /// The node URL these flags name (meaningless with --local-chain).
    pub fn endpoint(&self) -> Result<String, String> {
        match &self.chain_endpoint {
            Some(url) => Ok(url.clone()),
            None => network_endpoint(&self.network).map(str::to_owned),
        }
    }

    /// Opens the chain; the hotkey, if given, signs weight submissions.
    pub fn open(&self, hotkey: Option<Hotkey>) -> Result<Box<dyn Chain>, ChainError> {
        if let Some(path) = &self.local_chain {
            let chain = LocalChain::open(path)?;
            return Ok(Box::new(match hotkey {
                Some(h) => chain.with_signer(h.account()),
                None => chain,
            }));
        }
        let endpoint =
            self.endpoint().map_err(|reason| ChainError::Connection { endpoint: self.network.clone(), reason })?;
        let mut options = SubtensorOptions::new(endpoint);
        options.call_timeout = Duration::from_secs(self.timeout_secs.max(1));
        options.connect_timeout = options.call_timeout;
        let client = Subtensor::new(options);
        Ok(Box::new(match hotkey {
            Some(h) => client.with_hotkey(h),
            None => client,
        }))
    }
}

/// Runs a chain future to completion for a synchronous caller (the CLI commands).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
        .block_on(future)
}

/// Everything `chain-info` shows, read at one block.
#[derive(Debug, serde::Serialize)]
pub struct SubnetSnapshot {
    pub netuid: u16,
    pub block: Block,
    pub hyperparameters: Hyperparameters,
    pub metagraph: Metagraph,
    pub commitments: Commitments,
}

/// Reads the metagraph, commitments and hyperparameters of `netuid` at the head.
pub async fn snapshot(chain: &dyn Chain, netuid: u16) -> Result<SubnetSnapshot, ChainError> {
    let block = chain.head().await?;
    let metagraph = chain.metagraph(netuid, &block).await?;
    let commitments = chain.commitments(netuid, &block).await?;
    let hyperparameters = chain.hyperparameters(netuid, &block).await?;
    Ok(SubnetSnapshot { netuid, block, hyperparameters, metagraph, commitments })
}
