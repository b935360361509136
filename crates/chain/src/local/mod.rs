//! [`LocalChain`]: a [`Chain`] kept in one JSON file, for `localnet` and tests. Blocks advance
//! with wall time (`genesis + number × block_time`), block hashes are deterministic
//! (`sha256("<chain id>:<number>")`), and miners register and commit, validators set weights
//! under the same u16 and rate-limit rules as subtensor, through an admin API beside the trait.
//!
//! Every operation takes a file lock (`<file>.lock`), reads the file, and writes it back
//! atomically (temp file in the same folder, fsync, rename), so several processes can share one
//! chain and a crash never leaves half a file. History is kept (registrations, commitments and
//! weights carry their block), so reads at an older block see that block's state; stake,
//! permits and hyperparameters are current values.
//!
//! With `commit_reveal_enabled` in a subnet's hyperparameters the chain behaves like subtensor
//! under commit-reveal ([`commit_reveal`]): `set_weights` is refused, `submit_weights` commits,
//! and the chain reveals commits itself with a local drand stand-in whose seed it keeps.

mod commit_reveal;

pub use commit_reveal::{
    local_round_for_block, local_round_published_at, LocalCommit, RevealRecord, LOCAL_ROUND_PERIOD_MS,
};

use crate::account::{AccountId, Block, BlockHash};
use crate::agreement::AgreementSnapshot;
use crate::commitment::{Commitment, Data, MAX_BIG_RAW, MAX_RAW};
use crate::error::{ChainError, SetWeightsError};
use crate::metagraph::{Metagraph, Neuron, RAO_PER_TAO};
use crate::mode::WeightsMode;
use crate::rules::{check_permission, check_vectors, max_upscale_u16, Hyperparameters, WeightsSubmission};
use crate::submission::{RevealOutcome, Submitted};
use crate::PendingReveal;
use crate::{Chain, Commitments, WeightRows, WeightsIncluded};
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Fields added since (commit-reveal) have serde defaults, so version-1 files still read.
const STATE_VERSION: u32 = 1;

/// How a new local chain is set up.
#[derive(Clone, Debug)]
pub struct LocalChainConfig {
    /// Mixed into every block hash, so that two local chains never share hashes.
    pub chain_id: String,
    pub block_time: Duration,
}

impl Default for LocalChainConfig {
    fn default() -> Self {
        LocalChainConfig { chain_id: "localnet".into(), block_time: Duration::from_secs(12) }
    }
}

/// A neuron as the local chain stores it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LocalNeuron {
    uid: u16,
    hotkey: AccountId,
    coldkey: AccountId,
    stake_rao: u64,
    validator_permit: bool,
    registered_at: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CommitEvent {
    hotkey: AccountId,
    block: u64,
    text: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct WeightsEvent {
    uid: u16,
    block: u64,
    row: Vec<(u16, u16)>,
    /// Applied by a reveal: under commit-reveal the chain's `LastUpdate` is the commit's block.
    #[serde(default)]
    revealed: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Subnet {
    hyperparameters: Hyperparameters,
    neurons: Vec<LocalNeuron>,
    commitments: Vec<CommitEvent>,
    weights: Vec<WeightsEvent>,
    /// Offer only the hash commit-reveal calls (a runtime without timelocked commits).
    #[serde(default)]
    hash_commits_only: bool,
    /// Every weight commit ever made `(uid, block)`: `LastUpdate` counts them.
    #[serde(default)]
    commit_blocks: Vec<(u16, u64)>,
    /// Commits not revealed (or dropped) yet.
    #[serde(default)]
    pending_commits: Vec<LocalCommit>,
    /// What became of each commit.
    #[serde(default)]
    reveals: Vec<RevealRecord>,
}

impl Subnet {
    /// `LastUpdate` of `uid` as of `block`: its last direct `set_weights` or commit (0: never).
    fn last_update(&self, uid: u16, block: u64) -> u64 {
        let set = self.weights.iter().filter(|w| w.uid == uid && !w.revealed).map(|w| w.block);
        let committed = self.commit_blocks.iter().filter(|(u, _)| *u == uid).map(|(_, b)| *b);
        set.chain(committed).filter(|&b| b <= block).max().unwrap_or(0)
    }

    /// The weight rows as of `block`.
    fn rows_at(&self, block: u64) -> WeightRows {
        let mut rows = WeightRows::new();
        // Events are in block order: a later row replaces an earlier one.
        for event in self.weights.iter().filter(|w| w.block <= block) {
            if event.row.is_empty() {
                rows.remove(&event.uid);
            } else {
                rows.insert(event.uid, event.row.clone());
            }
        }
        rows
    }

    /// Appends a weights event, keeping events in block order (reveals are applied lazily and
    /// may land before events already recorded).
    fn push_weights(&mut self, event: WeightsEvent) {
        let at = self.weights.partition_point(|w| w.block <= event.block);
        self.weights.insert(at, event);
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    version: u32,
    chain_id: String,
    genesis_unix_ms: u64,
    block_time_ms: u64,
    subnets: BTreeMap<u16, Subnet>,
    /// Seed of the local beacon standing in for drand (hex), made on first use.
    #[serde(default)]
    beacon_seed: Option<String>,
}

impl State {
    fn head_number(&self) -> u64 {
        let now = now_ms();
        now.saturating_sub(self.genesis_unix_ms) / self.block_time_ms.max(1)
    }

    fn block(&self, number: u64) -> Block {
        Block { number, hash: block_hash(&self.chain_id, number) }
    }
}

/// `sha256("<chain id>:<number>")`.
pub fn block_hash(chain_id: &str, number: u64) -> BlockHash {
    BlockHash(Sha256::digest(format!("{chain_id}:{number}").as_bytes()).into())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A handle on a local chain file. Handles are cheap; any number, in any process, may use the
/// same file.
#[derive(Clone, Debug)]
pub struct LocalChain {
    path: PathBuf,
    signer: Option<AccountId>,
}

enum Access {
    Read,
    Write,
}

impl LocalChain {
    /// Creates a new chain file; refuses to overwrite one.
    pub fn create(path: &Path, config: &LocalChainConfig) -> Result<LocalChain, ChainError> {
        let chain = LocalChain { path: path.to_path_buf(), signer: None };
        let _lock = chain.lock(Access::Write)?;
        if path.exists() {
            return Err(chain.err("already exists; open it instead of creating it"));
        }
        let block_time_ms = config.block_time.as_millis() as u64;
        if block_time_ms == 0 {
            return Err(chain.err("the block time must be at least 1 ms"));
        }
        // Genesis one block in the past: block 0 carries no extrinsics (a last update of 0
        // means "never" to the rate limit), so the first usable block is 1.
        let state = State {
            version: STATE_VERSION,
            chain_id: config.chain_id.clone(),
            genesis_unix_ms: now_ms().saturating_sub(block_time_ms),
            block_time_ms,
            subnets: BTreeMap::new(),
            beacon_seed: None,
        };
        chain.store(&state)?;
        Ok(chain)
    }

    /// Opens an existing chain file.
    pub fn open(path: &Path) -> Result<LocalChain, ChainError> {
        let chain = LocalChain { path: path.to_path_buf(), signer: None };
        chain.read(|_| Ok(()))?;
        Ok(chain)
    }

    /// Opens the file, creating it with `config` if it does not exist.
    pub fn open_or_create(path: &Path, config: &LocalChainConfig) -> Result<LocalChain, ChainError> {
        if path.exists() {
            LocalChain::open(path)
        } else {
            LocalChain::create(path, config)
        }
    }

    /// This handle sets weights as `hotkey`.
    pub fn with_signer(mut self, hotkey: AccountId) -> LocalChain {
        self.signer = Some(hotkey);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, reason: impl Into<String>) -> ChainError {
        ChainError::Local { path: self.path.clone(), reason: reason.into() }
    }

    fn lock(&self, access: Access) -> Result<File, ChainError> {
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(&lock_path)
            .map_err(|e| self.err(format!("cannot open the lock file: {e}")))?;
        match access {
            Access::Read => FileExt::lock_shared(&file),
            Access::Write => FileExt::lock_exclusive(&file),
        }
        .map_err(|e| self.err(format!("cannot lock: {e}")))?;
        Ok(file)
    }

    fn load(&self) -> Result<State, ChainError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| self.err(format!("cannot read: {e}")))?;
        let state: State =
            serde_json::from_str(&text).map_err(|e| self.err(format!("not a local chain state file: {e}")))?;
        if state.version != STATE_VERSION {
            return Err(self.err(format!("state version {} (this build reads {STATE_VERSION})", state.version)));
        }
        Ok(state)
    }

    fn store(&self, state: &State) -> Result<(), ChainError> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let write = || -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
            serde_json::to_writer_pretty(&mut tmp, state)?;
            tmp.write_all(b"\n")?;
            tmp.as_file().sync_all()?;
            tmp.persist(&self.path).map_err(|e| e.error)?;
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| self.err(format!("cannot write: {e}")))
    }

    /// Runs `f` on the state. Commits whose reveal block has come are revealed first (which
    /// writes the file), so that every read sees what the chain would hold at its head.
    fn read<T>(&self, f: impl FnOnce(&State) -> Result<T, ChainError>) -> Result<T, ChainError> {
        {
            let _lock = self.lock(Access::Read)?;
            let state = self.load()?;
            if !commit_reveal::reveals_due(&state) {
                return f(&state);
            }
        }
        let _lock = self.lock(Access::Write)?;
        let mut state = self.load()?;
        if commit_reveal::settle(&mut state) {
            self.store(&state)?;
        }
        f(&state)
    }

    /// Runs `f` on the state and stores the result; due reveals happen before `f`.
    fn update<T, E: From<ChainError>>(&self, f: impl FnOnce(&mut State) -> Result<T, E>) -> Result<T, E> {
        let _lock = self.lock(Access::Write)?;
        let mut state = self.load()?;
        let settled = commit_reveal::settle(&mut state);
        match f(&mut state) {
            Ok(out) => {
                self.store(&state)?;
                Ok(out)
            }
            Err(e) => {
                if settled {
                    // The refusal changes nothing, but the reveals it saw happen stay.
                    let mut settled_only = self.load()?;
                    commit_reveal::settle(&mut settled_only);
                    self.store(&settled_only)?;
                }
                Err(e)
            }
        }
    }

    fn subnet<'a>(&self, state: &'a State, netuid: u16) -> Result<&'a Subnet, ChainError> {
        state.subnets.get(&netuid).ok_or_else(|| self.err(format!("subnet {netuid} does not exist (create it first)")))
    }

    fn checked_block(&self, state: &State, at: &Block) -> Result<(), ChainError> {
        if at.number > state.head_number() {
            return Err(ChainError::BlockNotFound(at.number));
        }
        let actual = block_hash(&state.chain_id, at.number);
        if actual != at.hash {
            return Err(ChainError::WrongBlock {
                number: at.number,
                expected: at.hash.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }

    // ---- admin API (localnet and tests) ----

    /// Creates `netuid` with these hyperparameters, or replaces its hyperparameters.
    pub fn set_hyperparameters(&self, netuid: u16, hyper: Hyperparameters) -> Result<(), ChainError> {
        self.update(|state| {
            state.subnets.entry(netuid).or_default().hyperparameters = hyper;
            Ok::<_, ChainError>(())
        })
    }

    /// Registers `hotkey` on `netuid` at the current block and returns its uid. Registering
    /// a hotkey that is already there updates its coldkey, stake and permit instead.
    pub fn register(
        &self,
        netuid: u16,
        hotkey: AccountId,
        coldkey: AccountId,
        stake_tao: f64,
        validator_permit: bool,
    ) -> Result<u16, ChainError> {
        if !(stake_tao.is_finite() && stake_tao >= 0.0) {
            return Err(self.err(format!("stake {stake_tao} TAO is not a non-negative number")));
        }
        let stake_rao = (stake_tao * RAO_PER_TAO as f64).round() as u64;
        self.update(|state| {
            let head = state.head_number();
            let subnet = state.subnets.entry(netuid).or_default();
            if let Some(n) = subnet.neurons.iter_mut().find(|n| n.hotkey == hotkey) {
                n.coldkey = coldkey;
                n.stake_rao = stake_rao;
                n.validator_permit = validator_permit;
                return Ok(n.uid);
            }
            let uid = u16::try_from(subnet.neurons.len()).map_err(|_| self.err("the subnet is full"))?;
            subnet.neurons.push(LocalNeuron { uid, hotkey, coldkey, stake_rao, validator_permit, registered_at: head });
            Ok::<_, ChainError>(uid)
        })
    }

    /// Records `hotkey`'s commitment at the current block (as `Raw` up to 128 bytes, `BigRaw`
    /// up to 512) and returns that block.
    pub fn commit(&self, netuid: u16, hotkey: AccountId, text: &str) -> Result<Block, ChainError> {
        if text.len() > MAX_BIG_RAW {
            return Err(self.err(format!("a commitment holds at most {MAX_BIG_RAW} bytes, not {}", text.len())));
        }
        self.update(|state| {
            let head = state.head_number();
            let subnet =
                state.subnets.get_mut(&netuid).ok_or_else(|| self.err(format!("subnet {netuid} does not exist")))?;
            if !subnet.neurons.iter().any(|n| n.hotkey == hotkey) {
                return Err(self.err(format!("{hotkey} is not registered on subnet {netuid}")));
            }
            subnet.commitments.push(CommitEvent { hotkey, block: head, text: text.to_owned() });
            Ok(state.block(head))
        })
    }

    /// Moves the clock forward by `blocks` (shifts genesis back), for tests and demos.
    pub fn advance(&self, blocks: u64) -> Result<Block, ChainError> {
        self.update(|state| {
            state.genesis_unix_ms = state.genesis_unix_ms.saturating_sub(blocks * state.block_time_ms);
            Ok::<_, ChainError>(state.block(state.head_number()))
        })
    }
}

fn data_of(text: &str) -> Data {
    if text.len() <= MAX_RAW {
        Data::Raw(text.as_bytes().to_vec())
    } else {
        Data::BigRaw(text.as_bytes().to_vec())
    }
}

#[async_trait::async_trait]
impl Chain for LocalChain {
    async fn head(&self) -> Result<Block, ChainError> {
        self.read(|state| Ok(state.block(state.head_number())))
    }

    async fn block(&self, number: u64) -> Result<Block, ChainError> {
        self.read(|state| {
            if number > state.head_number() {
                return Err(ChainError::BlockNotFound(number));
            }
            Ok(state.block(number))
        })
    }

    async fn metagraph(&self, netuid: u16, at: &Block) -> Result<Metagraph, ChainError> {
        self.read(|state| {
            self.checked_block(state, at)?;
            let subnet = self.subnet(state, netuid)?;
            let neurons = subnet
                .neurons
                .iter()
                .filter(|n| n.registered_at <= at.number)
                .map(|n| Neuron {
                    uid: n.uid,
                    hotkey: n.hotkey,
                    coldkey: n.coldkey,
                    stake_rao: n.stake_rao,
                    stake_tao: n.stake_rao as f64 / RAO_PER_TAO as f64,
                    validator_permit: n.validator_permit,
                    last_update: subnet.last_update(n.uid, at.number),
                    active: true,
                })
                .collect();
            Ok(Metagraph { netuid, block: *at, neurons })
        })
    }

    async fn commitments(&self, netuid: u16, at: &Block) -> Result<Commitments, ChainError> {
        self.read(|state| {
            self.checked_block(state, at)?;
            let subnet = self.subnet(state, netuid)?;
            let mut out = Commitments::new();
            // Events are in block order: a later commit overwrites an earlier one.
            for event in subnet.commitments.iter().filter(|c| c.block <= at.number) {
                out.insert(
                    event.hotkey,
                    Commitment { hotkey: event.hotkey, block: event.block, fields: vec![data_of(&event.text)] },
                );
            }
            Ok(out)
        })
    }

    async fn weights(&self, netuid: u16, at: &Block) -> Result<WeightRows, ChainError> {
        self.read(|state| {
            self.checked_block(state, at)?;
            Ok(self.subnet(state, netuid)?.rows_at(at.number))
        })
    }

    async fn hyperparameters(&self, netuid: u16, at: &Block) -> Result<Hyperparameters, ChainError> {
        self.read(|state| {
            self.checked_block(state, at)?;
            Ok(self.subnet(state, netuid)?.hyperparameters.clone())
        })
    }

    async fn set_weights(
        &self,
        netuid: u16,
        submission: &WeightsSubmission,
    ) -> Result<WeightsIncluded, SetWeightsError> {
        let hotkey = self.signer.ok_or(SetWeightsError::NoHotkey)?;
        self.update(|state| {
            let head = state.head_number();
            let block = state.block(head);
            let subnet =
                state.subnets.get_mut(&netuid).ok_or_else(|| self.err(format!("subnet {netuid} does not exist")))?;
            let uid = subnet.uid_of(&hotkey).ok_or(SetWeightsError::NotRegistered { hotkey, netuid })?;
            check_vectors(submission, subnet.neurons.len())?;
            check_permission(netuid, submission, &subnet.hyperparameters, subnet.last_update(uid, head), head)?;
            subnet.apply_weights(uid, submission, head, false)?;
            Ok(WeightsIncluded { block, extrinsic_hash: None })
        })
    }

    async fn weights_mode(&self, netuid: u16, at: &Block) -> Result<WeightsMode, SetWeightsError> {
        Ok(self.read(|state| {
            self.checked_block(state, at)?;
            let subnet = self.subnet(state, netuid)?;
            Ok(commit_reveal::mode(netuid, subnet))
        })??)
    }

    async fn submit_weights(&self, netuid: u16, submission: &WeightsSubmission) -> Result<Submitted, SetWeightsError> {
        let hotkey = self.signer.ok_or(SetWeightsError::NoHotkey)?;
        self.update(|state| commit_reveal::submit(self, state, netuid, hotkey, submission))
    }

    async fn reveal_pending(&self, pending: &PendingReveal) -> Result<RevealOutcome, SetWeightsError> {
        let hotkey = self.signer.ok_or(SetWeightsError::NoHotkey)?;
        self.update(|state| commit_reveal::reveal_hash(self, state, hotkey, pending))
    }

    async fn agreement_snapshot(&self, netuid: u16, at: &Block) -> Result<AgreementSnapshot, ChainError> {
        self.read(|state| {
            self.checked_block(state, at)?;
            Ok(commit_reveal::agreement_snapshot(netuid, self.subnet(state, netuid)?, *at))
        })
    }
}

impl Subnet {
    fn uid_of(&self, hotkey: &AccountId) -> Option<u16> {
        self.neurons.iter().find(|n| &n.hotkey == hotkey).map(|n| n.uid)
    }

    /// What subtensor's `do_set_weights` does once permission is settled: the minimum number of
    /// weights (a lone self-weight excepted), max-upscaling, storing the row at `block`.
    fn apply_weights(
        &mut self,
        uid: u16,
        submission: &WeightsSubmission,
        block: u64,
        revealed: bool,
    ) -> Result<(), SetWeightsError> {
        let min = usize::from(self.hyperparameters.min_allowed_weights).min(self.neurons.len());
        let only_self = submission.uids == [uid];
        if submission.uids.len() < min && !only_self {
            return Err(SetWeightsError::Dispatch {
                pallet: "SubtensorModule".into(),
                error: "WeightVecLengthIsLow".into(),
                docs: format!("{} weights, the subnet requires at least {min}", submission.uids.len()),
            });
        }
        let upscaled = max_upscale_u16(&submission.weights);
        let row = submission.uids.iter().copied().zip(upscaled).filter(|&(_, w)| w > 0).collect();
        self.push_weights(WeightsEvent { uid, block, row, revealed });
        Ok(())
    }
}
