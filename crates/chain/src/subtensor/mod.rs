//! [`Subtensor`]: the [`Chain`] of a real subtensor node, on subxt's dynamic API with the
//! legacy JSON-RPC methods every node serves. One connection, opened on first use and opened
//! again after a transport failure; a deadline on every call; the weights rate limit read and
//! respected before anything is sent; dispatch errors reported by their runtime names.

mod agreement;
mod classify;
mod commit_reveal;
mod extrinsic;
mod transport;

pub use extrinsic::{
    sign_set_weights_offline, weights_call_data_offline, OfflineSigning, SignedExtrinsic, MORTALITY_BLOCKS,
};

use crate::account::{AccountId, Block, BlockHash};
use crate::agreement::AgreementSnapshot;
use crate::commitment::{Commitment, Registration};
use crate::error::{ChainError, SetWeightsError};
use crate::metagraph::{decode_neurons_lite, Metagraph};
use crate::mode::WeightsMode;
use crate::rules::{check_permission, check_vectors, Hyperparameters, WeightsSubmission};
use crate::submission::{RevealOutcome, Submitted};
use crate::wallet::Hotkey;
use crate::{Chain, Commitments, PendingReveal, WeightRows, WeightsIncluded};
use classify::{classify, describe, name_pool_rejection, Failure};
use parity_scale_codec::Encode;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use subxt::backend::BlockRef;
use subxt::backend::LegacyBackend;
use subxt::client::{ClientAtBlock, OnlineClient, OnlineClientAtBlockImpl};
use subxt::config::substrate::H256;
use subxt::config::{Header, RpcConfigFor, SubstrateConfig};
use subxt::error::{BackendError, DispatchError, ExtrinsicError, RpcError, TransactionEventsError};
use subxt::tx::{Payload, TransactionStatus};
use subxt_rpcs::methods::legacy::{LegacyRpcMethods, NumberOrHex};
use subxt_rpcs::RpcClient;
use tokio::sync::Mutex;
use weights_commit::BeaconPublicKey;

/// The public finney entrypoint.
pub const FINNEY_ENDPOINT: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// The public testnet entrypoint.
pub const TEST_ENDPOINT: &str = "wss://test.finney.opentensor.ai:443";
/// A node on this machine.
pub const LOCAL_ENDPOINT: &str = "ws://127.0.0.1:9944";

/// The endpoint of a bittensor network name (`finney`, `test`, `local`).
pub fn network_endpoint(network: &str) -> Result<&'static str, String> {
    match network {
        "finney" => Ok(FINNEY_ENDPOINT),
        "test" => Ok(TEST_ENDPOINT),
        "local" => Ok(LOCAL_ENDPOINT),
        other => Err(format!("unknown network {other:?}: expected finney, test or local (or give an endpoint)")),
    }
}

/// Where to connect and how long to wait.
#[derive(Clone, Debug)]
pub struct SubtensorOptions {
    /// `ws://` or `wss://` URL.
    pub endpoint: String,
    /// Deadline of opening the connection.
    pub connect_timeout: Duration,
    /// Deadline of every read (a storage scan counts as one read).
    pub call_timeout: Duration,
    /// Deadline of a weight submission, from signing to inclusion and the verdict.
    pub inclusion_timeout: Duration,
    /// Seconds per block, for turning blocks ahead into a drand round (subtensor's 12 s).
    pub block_time_secs: f64,
    /// The drand beacon timelocked commits are sealed for. Every subtensor network (finney,
    /// testnet, local nodes) ingests drand quicknet; another key only makes sense for a test
    /// node that checks the ciphertext with its own beacon.
    pub timelock_beacon: BeaconPublicKey,
}

impl SubtensorOptions {
    pub fn new(endpoint: impl Into<String>) -> Self {
        SubtensorOptions {
            endpoint: endpoint.into(),
            connect_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
            inclusion_timeout: Duration::from_secs(120),
            block_time_secs: weights_commit::reveal_round::DEFAULT_BLOCK_TIME_SECS,
            timelock_beacon: BeaconPublicKey::quicknet(),
        }
    }
}

type Config = SubstrateConfig;
type AtBlock = ClientAtBlock<Config, OnlineClientAtBlockImpl<Config>>;

struct Connection {
    generation: u64,
    /// Set by the transport on any socket-level failure.
    broken: Arc<AtomicBool>,
    client: OnlineClient<Config>,
    rpc: LegacyRpcMethods<RpcConfigFor<Config>>,
}

#[derive(Default)]
struct Slot {
    current: Option<Arc<Connection>>,
    opened: u64,
}

/// A subtensor node client. Cheap to share behind an `Arc`; calls may run concurrently on
/// its one connection.
pub struct Subtensor {
    options: SubtensorOptions,
    hotkey: Option<Hotkey>,
    /// Shared across reconnects, so that runtime metadata is fetched once per spec version.
    config: Config,
    slot: Mutex<Slot>,
}

impl Subtensor {
    /// A client that connects on first use.
    pub fn new(options: SubtensorOptions) -> Self {
        Subtensor { options, hotkey: None, config: Config::new(), slot: Mutex::new(Slot::default()) }
    }

    /// The hotkey that signs weight submissions.
    pub fn with_hotkey(mut self, hotkey: Hotkey) -> Self {
        self.hotkey = Some(hotkey);
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.options.endpoint
    }

    /// How many connections have been opened so far (1 unless failures forced reconnects).
    pub async fn connections_opened(&self) -> u64 {
        self.slot.lock().await.opened
    }

    async fn connection(&self) -> Result<Arc<Connection>, ChainError> {
        let mut slot = self.slot.lock().await;
        if let Some(conn) = &slot.current {
            return Ok(conn.clone());
        }
        let endpoint = &self.options.endpoint;
        let open = async {
            let socket = RpcClient::from_insecure_url(endpoint).await.map_err(|e| describe(&e))?;
            let (watched, broken) = transport::WatchedRpc::new(socket);
            let rpc_client = RpcClient::new(watched);
            let backend = LegacyBackend::<Config>::builder().build(rpc_client.clone());
            let client = OnlineClient::from_backend_with_config(self.config.clone(), Arc::new(backend))
                .await
                .map_err(|e| describe(&e))?;
            Ok::<_, String>((client, LegacyRpcMethods::new(rpc_client), broken))
        };
        let (client, rpc, broken) = tokio::time::timeout(self.options.connect_timeout, open)
            .await
            .map_err(|_| ChainError::Timeout {
                what: "connecting".into(),
                endpoint: endpoint.clone(),
                after: self.options.connect_timeout,
            })?
            .map_err(|reason| ChainError::Connection { endpoint: endpoint.clone(), reason })?;
        slot.opened += 1;
        let conn = Arc::new(Connection { generation: slot.opened, broken, client, rpc });
        if slot.opened > 1 {
            tracing::info!("reconnected to {endpoint} (connection #{})", slot.opened);
        }
        slot.current = Some(conn.clone());
        Ok(conn)
    }

    /// Drops the connection a failed call used, unless it was already replaced.
    async fn forget(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.current.as_ref().is_some_and(|c| c.generation == generation) {
            slot.current = None;
        }
    }

    /// Runs a read under the call deadline. A transport failure drops the connection and the
    /// read is tried once more on a fresh one; a timeout drops it too but is not retried (the
    /// deadline is spent).
    async fn read<T, F, Fut>(&self, what: &str, op: F) -> Result<T, ChainError>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let endpoint = self.options.endpoint.clone();
        for attempt in 1..=2 {
            let conn = self.connection().await?;
            let generation = conn.generation;
            let broken = conn.broken.clone();
            let outcome = tokio::time::timeout(self.options.call_timeout, op(conn)).await;
            // subxt wraps transport errors in types that do not always expose them; the
            // transport's own flag is the reliable signal.
            let outcome = match outcome {
                Ok(Err(
                    Failure::Other(reason) | Failure::Refused { message: reason, .. } | Failure::Decode(reason),
                )) if broken.load(Ordering::SeqCst) => Ok(Err(Failure::Transport(reason))),
                other => other,
            };
            match outcome {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(Failure::Transport(reason))) => {
                    self.forget(generation).await;
                    tracing::warn!("{what}: connection to {endpoint} failed ({reason}); attempt {attempt} of 2");
                    if attempt == 2 {
                        return Err(ChainError::Rpc { what: what.into(), endpoint, reason });
                    }
                }
                Ok(Err(Failure::Refused { code, message, data })) => {
                    let reason = match data {
                        Some(data) => format!("{message} (code {code}): {data}"),
                        None => format!("{message} (code {code})"),
                    };
                    return Err(ChainError::Rpc { what: what.into(), endpoint, reason });
                }
                Ok(Err(Failure::Other(reason))) => return Err(ChainError::Rpc { what: what.into(), endpoint, reason }),
                Ok(Err(Failure::Decode(reason))) => return Err(ChainError::Decode { what: what.into(), reason }),
                Err(_) => {
                    self.forget(generation).await;
                    return Err(ChainError::Timeout { what: what.into(), endpoint, after: self.options.call_timeout });
                }
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn at(conn: &Connection, block: &Block) -> Result<AtBlock, Failure> {
        conn.client
            .at_block_hash_and_number(BlockRef::from_hash(H256(block.hash.0)), block.number)
            .await
            .map_err(|e| classify(&e))
    }
}

fn other(reason: impl Into<String>) -> Failure {
    Failure::Decode(reason.into())
}

pub(crate) async fn read_hyperparameters(at: &AtBlock, netuid: u16) -> Result<Hyperparameters, Failure> {
    use subxt::dynamic::storage;
    let store = at.storage();
    let tempo = store.fetch(storage::<(u16,), u16>("SubtensorModule", "Tempo"), (netuid,));
    let rate = store.fetch(storage::<(u16,), u64>("SubtensorModule", "WeightsSetRateLimit"), (netuid,));
    let version = store.fetch(storage::<(u16,), u64>("SubtensorModule", "WeightsVersionKey"), (netuid,));
    let cr = store.fetch(storage::<(u16,), bool>("SubtensorModule", "CommitRevealWeightsEnabled"), (netuid,));
    let min = store.fetch(storage::<(u16,), u16>("SubtensorModule", "MinAllowedWeights"), (netuid,));
    let max = store.fetch(storage::<(u16,), u16>("SubtensorModule", "MaxWeightsLimit"), (netuid,));
    let decode = |what: &str, e: &(dyn std::error::Error + 'static)| match classify(e) {
        Failure::Other(reason) => Failure::Other(format!("{what}: {reason}")),
        failure => failure,
    };
    macro_rules! value {
        ($fut:expr, $name:literal) => {
            $fut.await.map_err(|e| decode($name, &e))?.decode().map_err(|e| decode($name, &e))?
        };
    }
    // Items older runtimes lack are optional: absent from the metadata means "not there".
    let reveal_period_epochs = match store.entry(storage::<(u16,), u64>("SubtensorModule", "RevealPeriodEpochs")) {
        Ok(entry) => Some(entry.fetch((netuid,)).await.map_err(|e| classify(&e))?.decode().map_err(|e| classify(&e))?),
        Err(_) => None,
    };
    let commit_reveal_version = match store.entry(storage::<(), u16>("SubtensorModule", "CommitRevealWeightsVersion")) {
        Ok(entry) => Some(entry.fetch(()).await.map_err(|e| classify(&e))?.decode().map_err(|e| classify(&e))?),
        Err(_) => None,
    };
    let kappa = store.fetch(storage::<(u16,), u16>("SubtensorModule", "Kappa"), (netuid,));
    let tempo: u16 = value!(tempo, "Tempo");
    // v3.4.8 derives the cutoff from the tempo; older runtimes store it.
    let activity_cutoff = match store.entry(storage::<(u16,), u32>("SubtensorModule", "ActivityCutoffFactorMilli")) {
        Ok(entry) => {
            let milli: u32 =
                entry.fetch((netuid,)).await.map_err(|e| classify(&e))?.decode().map_err(|e| classify(&e))?;
            (u64::from(milli) * u64::from(tempo) / 1000).max(1)
        }
        Err(_) => {
            let cutoff = store.fetch(storage::<(u16,), u16>("SubtensorModule", "ActivityCutoff"), (netuid,));
            u64::from(value!(cutoff, "ActivityCutoff"))
        }
    };
    Ok(Hyperparameters {
        tempo,
        weights_rate_limit: value!(rate, "WeightsSetRateLimit"),
        weights_version_key: value!(version, "WeightsVersionKey"),
        commit_reveal_enabled: value!(cr, "CommitRevealWeightsEnabled"),
        min_allowed_weights: value!(min, "MinAllowedWeights"),
        max_weights_limit: value!(max, "MaxWeightsLimit"),
        reveal_period_epochs,
        commit_reveal_version,
        kappa: value!(kappa, "Kappa"),
        activity_cutoff,
    })
}

async fn read_commitments(at: &AtBlock, netuid: u16) -> Result<Commitments, Failure> {
    let address = subxt::dynamic::storage::<(u16, [u8; 32]), subxt::dynamic::Value>("Commitments", "CommitmentOf");
    let mut entries = at.storage().iter(address, (netuid,)).await.map_err(|e| classify(&e))?;
    let mut commitments = Commitments::new();
    while let Some(entry) = entries.next().await {
        let entry = entry.map_err(|e| classify(&e))?;
        let hotkey = entry
            .key()
            .ok()
            .and_then(|key| key.part(1))
            .and_then(|part| part.decode_as::<[u8; 32]>().ok().flatten())
            .ok_or_else(|| other(format!("CommitmentOf key 0x{} has no hotkey", hex::encode(entry.key_bytes()))))?;
        let hotkey = AccountId(hotkey);
        let registration = Registration::decode_exact(entry.value().bytes())
            .map_err(|e| other(format!("the commitment of {hotkey} does not decode ({e})")))?;
        commitments
            .insert(hotkey, Commitment { hotkey, block: u64::from(registration.block), fields: registration.fields });
    }
    Ok(commitments)
}

pub(crate) async fn read_weights(at: &AtBlock, netuid: u16) -> Result<WeightRows, Failure> {
    let address = subxt::dynamic::storage::<(u16, u16), Vec<(u16, u16)>>("SubtensorModule", "Weights");
    let mut entries = at.storage().iter(address, (netuid,)).await.map_err(|e| classify(&e))?;
    let mut rows = WeightRows::new();
    while let Some(entry) = entries.next().await {
        let entry = entry.map_err(|e| classify(&e))?;
        let uid = entry
            .key()
            .ok()
            .and_then(|key| key.part(1))
            .and_then(|part| part.decode_as::<u16>().ok().flatten())
            .ok_or_else(|| other(format!("Weights key 0x{} has no uid", hex::encode(entry.key_bytes()))))?;
        let row = entry.value().decode().map_err(|e| other(format!("the weights of uid {uid}: {}", describe(&e))))?;
        if !row.is_empty() {
            rows.insert(uid, row);
        }
    }
    Ok(rows)
}

/// What the chain knows about the signer, read at one block before submitting.
pub(crate) struct SignerState {
    hyper: Hyperparameters,
    uid: Option<u16>,
    n: usize,
    last_update: u64,
}

pub(crate) async fn read_signer_state(at: &AtBlock, netuid: u16, hotkey: &AccountId) -> Result<SignerState, Failure> {
    use subxt::dynamic::storage;
    let hyper = read_hyperparameters(at, netuid).await?;
    let uid = at
        .storage()
        .try_fetch(storage::<(u16, [u8; 32]), u16>("SubtensorModule", "Uids"), (netuid, hotkey.0))
        .await
        .map_err(|e| classify(&e))?
        .map(|v| v.decode())
        .transpose()
        .map_err(|e| classify(&e))?;
    let last_updates: Vec<u64> = at
        .storage()
        .fetch(storage::<(u16,), Vec<u64>>("SubtensorModule", "LastUpdate"), (netuid,))
        .await
        .map_err(|e| classify(&e))?
        .decode()
        .map_err(|e| classify(&e))?;
    let last_update = uid.and_then(|u| last_updates.get(usize::from(u)).copied()).unwrap_or(0);
    // LastUpdate holds one entry per uid: its length is the subnet's size.
    Ok(SignerState { hyper, uid, n: last_updates.len(), last_update })
}

/// The transaction pool's refusal (JSON-RPC error, e.g. 1010 "Invalid Transaction"), named.
fn pool_rejection(err: &ExtrinsicError) -> Option<String> {
    match err {
        ExtrinsicError::ErrorSubmittingTransaction(BackendError::Rpc(RpcError::ClientError(
            subxt_rpcs::Error::User(user),
        ))) => {
            let data = user.data.as_ref().map(|d| d.get().trim_matches('"').to_owned());
            Some(name_pool_rejection(user.code, &user.message, data.as_deref()))
        }
        _ => None,
    }
}

fn dispatch_error(err: &DispatchError) -> SetWeightsError {
    if let DispatchError::Module(module) = err {
        if let Ok(details) = module.details() {
            return SetWeightsError::Dispatch {
                pallet: details.pallet.name().to_owned(),
                error: details.variant.name.clone(),
                docs: details.variant.docs.join(" "),
            };
        }
    }
    SetWeightsError::Dispatch { pallet: "System".into(), error: format!("{err:?}"), docs: err.to_string() }
}

impl Subtensor {
    async fn submit(&self, netuid: u16, submission: &WeightsSubmission) -> Result<WeightsIncluded, SetWeightsError> {
        let hotkey = self.hotkey.as_ref().ok_or(SetWeightsError::NoHotkey)?;
        let account = hotkey.account();
        let what = format!("set weights on subnet {netuid}");
        let (conn, at, state) = self
            .read(&what, |conn| async move {
                let at = conn.client.at_current_block().await.map_err(|e| classify(&e))?;
                let state = read_signer_state(&at, netuid, &account).await?;
                Ok((conn, at, state))
            })
            .await?;
        let uid = state.uid.ok_or(SetWeightsError::NotRegistered { hotkey: account, netuid })?;
        check_vectors(submission, state.n)?;
        check_permission(netuid, submission, &state.hyper, state.last_update, at.block_number())?;
        tracing::info!(
            "setting weights on subnet {netuid} as uid {uid} ({account}): {} uids, version key {}",
            submission.uids.len(),
            submission.version_key
        );
        let call = extrinsic::set_weights_call(netuid, submission);
        self.send_signed(conn, at, &call, &what).await
    }

    /// Signs `call` with the hotkey at `at`, submits it, waits for inclusion and returns the
    /// chain's verdict, all under the inclusion deadline.
    async fn send_signed<P: Payload + Sync>(
        &self,
        conn: Arc<Connection>,
        at: AtBlock,
        call: &P,
        what: &str,
    ) -> Result<WeightsIncluded, SetWeightsError> {
        let hotkey = self.hotkey.as_ref().ok_or(SetWeightsError::NoHotkey)?;
        let endpoint = self.options.endpoint.clone();
        let transport = |reason: String| ChainError::Rpc { what: what.to_owned(), endpoint: endpoint.clone(), reason };
        let generation = conn.generation;
        let outcome = tokio::time::timeout(self.options.inclusion_timeout, async {
            let mut transactions = at.transactions();
            let signed = transactions
                .create_signed(call, hotkey, extrinsic::live_params())
                .await
                .map_err(|e| SetWeightsError::from(transport(describe(&e))))?;
            let mut progress = signed.submit_and_watch().await.map_err(|e| match pool_rejection(&e) {
                Some(reason) => SetWeightsError::PoolRejected(reason),
                None => transport(describe(&e)).into(),
            })?;
            while let Some(status) = progress.next().await {
                let status = status.map_err(|e| transport(describe(&e)))?;
                let in_block = match status {
                    TransactionStatus::InBestBlock(b) | TransactionStatus::InFinalizedBlock(b) => b,
                    TransactionStatus::Invalid { message }
                    | TransactionStatus::Dropped { message }
                    | TransactionStatus::Error { message } => return Err(SetWeightsError::NotIncluded(message)),
                    _ => continue,
                };
                let block_hash = BlockHash(in_block.block_hash().0);
                let number = conn
                    .rpc
                    .chain_get_header(Some(in_block.block_hash()))
                    .await
                    .map_err(|e| transport(describe(&e)))?
                    .map(|h| h.number())
                    .ok_or_else(|| transport(format!("block {block_hash} has no header")))?;
                return match in_block.wait_for_success().await {
                    Ok(_) => Ok(WeightsIncluded {
                        block: Block { number, hash: block_hash },
                        extrinsic_hash: Some(format!("0x{}", hex::encode(in_block.extrinsic_hash().0))),
                    }),
                    Err(TransactionEventsError::ExtrinsicFailed(err)) => Err(dispatch_error(&err)),
                    Err(e) => Err(transport(describe(&e)).into()),
                };
            }
            Err(SetWeightsError::NotIncluded("the node closed the transaction status stream".into()))
        })
        .await;
        if conn.broken.load(Ordering::SeqCst) {
            self.forget(generation).await;
        }
        let result = match outcome {
            Ok(result) => result,
            Err(_) => {
                self.forget(generation).await;
                Err(ChainError::Timeout {
                    what: what.to_owned(),
                    endpoint: endpoint.clone(),
                    after: self.options.inclusion_timeout,
                }
                .into())
            }
        };
        match &result {
            Ok(included) => {
                tracing::info!("{what}: included in block {} ({})", included.block.number, included.block.hash)
            }
            Err(SetWeightsError::Dispatch { pallet, error, docs }) => {
                tracing::warn!("{what}: the chain refused it: {pallet}.{error}: {docs}")
            }
            Err(e) => tracing::warn!("{what} failed: {e}"),
        }
        result
    }
}

#[async_trait::async_trait]
impl Chain for Subtensor {
    async fn head(&self) -> Result<Block, ChainError> {
        self.read("read the finalized head", |conn| async move {
            let hash = conn.rpc.chain_get_finalized_head().await.map_err(|e| classify(&e))?;
            let header = conn.rpc.chain_get_header(Some(hash)).await.map_err(|e| classify(&e))?;
            let header = header.ok_or_else(|| other(format!("no header for the finalized head {hash:?}")))?;
            Ok(Block { number: header.number(), hash: BlockHash(hash.0) })
        })
        .await
    }

    async fn block(&self, number: u64) -> Result<Block, ChainError> {
        let hash = self
            .read(&format!("read the hash of block {number}"), |conn| async move {
                conn.rpc.chain_get_block_hash(Some(NumberOrHex::Number(number))).await.map_err(|e| classify(&e))
            })
            .await?;
        let hash = hash.ok_or(ChainError::BlockNotFound(number))?;
        Ok(Block { number, hash: BlockHash(hash.0) })
    }

    async fn metagraph(&self, netuid: u16, at: &Block) -> Result<Metagraph, ChainError> {
        let what = format!("read the metagraph of subnet {netuid} at block {}", at.number);
        let bytes = self
            .read(&what, |conn| async move {
                let at_block = Subtensor::at(&conn, at).await?;
                at_block
                    .runtime_apis()
                    .call_raw("NeuronInfoRuntimeApi_get_neurons_lite", Some(&netuid.encode()))
                    .await
                    .map_err(|e| classify(&e))
            })
            .await?;
        let neurons = decode_neurons_lite(netuid, &bytes).map_err(|reason| ChainError::Decode { what, reason })?;
        Ok(Metagraph { netuid, block: *at, neurons })
    }

    async fn commitments(&self, netuid: u16, at: &Block) -> Result<Commitments, ChainError> {
        let what = format!("read the commitments of subnet {netuid} at block {}", at.number);
        self.read(&what, |conn| async move { read_commitments(&Subtensor::at(&conn, at).await?, netuid).await }).await
    }

    async fn weights(&self, netuid: u16, at: &Block) -> Result<WeightRows, ChainError> {
        let what = format!("read the weights of subnet {netuid} at block {}", at.number);
        self.read(&what, |conn| async move { read_weights(&Subtensor::at(&conn, at).await?, netuid).await }).await
    }

    async fn hyperparameters(&self, netuid: u16, at: &Block) -> Result<Hyperparameters, ChainError> {
        let what = format!("read the hyperparameters of subnet {netuid} at block {}", at.number);
        self.read(&what, |conn| async move { read_hyperparameters(&Subtensor::at(&conn, at).await?, netuid).await })
            .await
    }

    async fn set_weights(
        &self,
        netuid: u16,
        submission: &WeightsSubmission,
    ) -> Result<WeightsIncluded, SetWeightsError> {
        self.submit(netuid, submission).await
    }

    async fn weights_mode(&self, netuid: u16, at: &Block) -> Result<WeightsMode, SetWeightsError> {
        self.mode_at(netuid, at).await
    }

    async fn submit_weights(&self, netuid: u16, submission: &WeightsSubmission) -> Result<Submitted, SetWeightsError> {
        self.submit_any(netuid, submission).await
    }

    async fn reveal_pending(&self, pending: &PendingReveal) -> Result<RevealOutcome, SetWeightsError> {
        self.reveal(pending).await
    }

    async fn agreement_snapshot(&self, netuid: u16, at: &Block) -> Result<AgreementSnapshot, ChainError> {
        let metagraph = self.metagraph(netuid, at).await?;
        let what = format!("read the consensus inputs of subnet {netuid} at block {}", at.number);
        let metagraph = &metagraph;
        self.read(&what, |conn| async move {
            agreement::read_agreement(&Subtensor::at(&conn, at).await?, netuid, metagraph).await
        })
        .await
    }
}
