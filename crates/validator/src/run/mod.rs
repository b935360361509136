//! The validator daemon (`run`): the loops that keep a validator in step with its subnet.
//!
//! | task | cadence | job |
//! |---|---|---|
//! | sync ([`updater`]) | `--sync.interval` | metagraph + commitments at one block, then the model update pass and the top-miner scan |
//! | evaluation ([`round`]) | back to back, one round per competition per sync window | samples from the shared seed, every model scored in a worker process, wins, weights, tracker |
//! | weights ([`weights`]) | `--weights.interval` blocks | the subnet weights as u16, within the chain's rate limit, with a deadline |
//! | cleanup | every sync | models no eval set references leave the disk after a grace period |
//!
//! State ([`crate::state`]) is saved after every change that matters; SIGINT/SIGTERM stop the
//! loops between steps, a round in flight is abandoned (its uids go back to pending) and the
//! state is saved before the process exits.

pub mod config;
pub mod logging;
pub mod metrics;
pub mod report;
pub mod round;
pub mod updater;
pub mod wandb_log;
pub mod weights;
pub mod worker;

use crate::eval_sets::EvalSets;
use crate::model_tracker::{ModelMetadata, ModelTracker};
use crate::state::{Loaded, StateDir, StatePart};
use crate::step_record::RecordLog;
use anyhow::{bail, Context, Result};
use chain::{Chain, Commitments, Metagraph};
use config::RunArgs;
use hub::client::{HubClient, HubClientConfig};
use hub::{Hub, ModelStore, StoreOptions};
use scoring::tracker::CompetitionTracker;
use scoring::{Block, CompetitionId, Schedule};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where the validator is in its rounds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Rounds begun (upstream `global_step`): picks the competition round-robin.
    pub global_step: u64,
    /// The sync block each competition last ran at: one round per competition per window.
    pub last_run_by_competition: BTreeMap<CompetitionId, Block>,
    /// The block of the last accepted weight submission.
    pub last_weights_block: Option<Block>,
    /// Rounds scored since the state was created.
    pub rounds_scored: u64,
}

impl StatePart for Progress {
    const FILE: &'static str = "progress.json";
    const VERSION: u32 = 1;
}

/// The competition tracker as a state part.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrackerState(pub CompetitionTracker);

impl StatePart for TrackerState {
    const FILE: &'static str = "competition_tracker.json";
    const VERSION: u32 = 1;
}

/// The subnet at one block, as the loops read it.
pub struct SubnetView {
    pub block: chain::Block,
    pub metagraph: Metagraph,
    pub commitments: Commitments,
}

impl SubnetView {
    /// The SS58 hotkey of `uid`.
    pub fn hotkey(&self, uid: u16) -> Option<String> {
        self.metagraph.neuron(uid).map(|n| n.hotkey.to_ss58())
    }
}

/// Everything the loops share that changes.
#[derive(Default)]
pub struct Inner {
    pub sets: EvalSets,
    pub models: ModelTracker,
    pub tracker: CompetitionTracker,
    pub progress: Progress,
    /// Hotkey at each uid when last seen: a change means a new miner holds the slot.
    pub hotkey_at_uid: HashMap<u16, String>,
    /// When each top miner was last force-synced (in memory, as upstream).
    pub top_retry_block: HashMap<u16, Block>,
    /// Hash commits of our weights waiting for their reveal epoch.
    pub pending_reveals: weights::PendingReveals,
    /// Weight submissions not yet written into a step record.
    pub unrecorded_submissions: Vec<chain::Submitted>,
    /// The last failed fetch of each uid: its commitment and when (in memory).
    pub failed_attempt: HashMap<u16, (ModelMetadata, std::time::Instant)>,
}

pub struct Validator {
    pub args: RunArgs,
    pub schedule: Schedule,
    pub chain: Arc<dyn Chain>,
    pub hub: Hub,
    pub sources: datasets::Sources,
    pub state_dir: StateDir,
    pub records: RecordLog,
    pub inner: Mutex<Inner>,
    pub view: RwLock<Option<Arc<SubnetView>>>,
    /// The binary that runs eval workers (this one).
    pub worker_exe: PathBuf,
    pub cancel: CancellationToken,
    /// Our own hotkey (SS58), when a wallet is loaded.
    pub own_hotkey: Option<String>,
    /// Held while submitting weights: the weights task and the round never submit at once.
    pub weights_lock: tokio::sync::Mutex<()>,
}

/// Loads a built-in schedule by name, or a schedule file.
pub fn load_schedule(spec: &str) -> Result<Schedule> {
    match Schedule::builtin(spec) {
        Ok(s) => Ok(s),
        Err(_) if Path::new(spec).is_file() => {
            let text = std::fs::read_to_string(spec).with_context(|| format!("cannot read schedule {spec}"))?;
            Schedule::from_json(&text).with_context(|| format!("schedule {spec}"))
        }
        Err(e) => bail!("{e}, and no file {spec:?} exists"),
    }
}

fn log_loaded(part: &str, loaded: &Loaded) {
    match loaded {
        Loaded::Fresh => tracing::info!(part, "state: starting fresh"),
        Loaded::Restored => tracing::info!(part, "state: restored"),
        Loaded::SetAside(p) => {
            tracing::warn!(part, aside = %p.display(), "state: unusable file set aside, starting fresh")
        }
    }
}

impl Validator {
    /// Opens everything `run` needs; fails with a clear message when the validator cannot start.
    pub async fn open(
        args: RunArgs,
        hub_endpoint: Option<String>,
        cancel: CancellationToken,
    ) -> Result<Arc<Validator>> {
        let schedule = load_schedule(&args.schedule)?;
        tracing::info!(schedule = %schedule.name, "competition schedule");
        let hotkey = if args.offline {
            args.wallet.load_hotkey().ok()
        } else {
            Some(
                args.wallet
                    .load_hotkey()
                    .context("loading the validator's hotkey (use --offline to run without one)")?,
            )
        };
        let own_hotkey = hotkey.as_ref().map(|h| h.account().to_ss58());
        let chain: Arc<dyn Chain> = Arc::from(args.chain.open(hotkey).context("opening the chain")?);

        let state_dir = StateDir::new(args.state_dir())?;
        let mut inner = Inner::default();
        let (sets, l) = state_dir.load::<EvalSets>();
        log_loaded(EvalSets::FILE, &l);
        let (models, l) = state_dir.load::<ModelTracker>();
        log_loaded(ModelTracker::FILE, &l);
        let (tracker, l) = state_dir.load::<TrackerState>();
        log_loaded(TrackerState::FILE, &l);
        let (progress, l) = state_dir.load::<Progress>();
        log_loaded(Progress::FILE, &l);
        let (pending_reveals, l) = state_dir.load::<weights::PendingReveals>();
        log_loaded(weights::PendingReveals::FILE, &l);
        inner.pending_reveals = pending_reveals;
        inner.sets = sets;
        inner.models = models;
        inner.tracker = tracker.0;
        inner.progress = progress;
        let records = RecordLog::open(state_dir.root().join("steps.jsonl"))?;

        let store = Arc::new(
            ModelStore::open(
                &args.model_dir,
                StoreOptions { max_disk_bytes: args.max_disk_bytes(), ..StoreOptions::default() },
            )
            .context("opening the model store")?,
        );
        let swept = store.sweep_staging().context("sweeping unfinished downloads")?;
        if !swept.is_empty() {
            tracing::info!(count = swept.len(), "removed unfinished downloads from an earlier run");
        }
        let mut client_config = HubClientConfig::from_env();
        if let Some(endpoint) = hub_endpoint {
            client_config.endpoint = endpoint;
        }
        let hub = Hub::new(HubClient::new(client_config).context("creating the Hugging Face client")?, store);

        let sources = datasets::Sources {
            datasets_server: Some(
                datasets::hf::DatasetsServer::new(&args.datasets_endpoint, datasets::http::HttpPolicy::default())?
                    .with_token(std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()))
                    .with_cache(datasets::cache::ResponseCache::new(args.model_dir.join("datasets-cache"))),
            ),
            en_basic_download: Some(datasets::generated::nltk_words::EnBasicDownload::kept_under(&args.model_dir)),
            ..datasets::Sources::default()
        };

        let validator = Arc::new(Validator {
            worker_exe: std::env::current_exe().context("locating this executable for the eval workers")?,
            args,
            schedule,
            chain,
            hub,
            sources,
            state_dir,
            records,
            inner: Mutex::new(inner),
            view: RwLock::new(None),
            cancel,
            own_hotkey,
            weights_lock: tokio::sync::Mutex::new(()),
        });
        validator.refresh_view().await.context("first metagraph sync")?;
        validator.check_registration()?;
        Ok(validator)
    }

    fn check_registration(&self) -> Result<()> {
        if self.args.offline {
            return Ok(());
        }
        let view = self.current_view().context("no metagraph")?;
        let hotkey = self.own_hotkey.as_deref().context("no hotkey")?;
        match view.metagraph.neurons.iter().find(|n| n.hotkey.to_ss58() == hotkey) {
            Some(n) => {
                tracing::info!(uid = n.uid, hotkey, "validator registered");
                Ok(())
            }
            None => bail!(
                "hotkey {hotkey} is not registered on subnet {}; register it, or run with --offline",
                self.args.netuid
            ),
        }
    }

    pub fn current_view(&self) -> Option<Arc<SubnetView>> {
        self.view.read().expect("view lock").clone()
    }

    /// Reads the metagraph and every commitment at the chain's head.
    pub async fn refresh_view(&self) -> Result<Arc<SubnetView>> {
        let netuid = self.args.netuid;
        let started = std::time::Instant::now();
        let block = self.chain.head().await?;
        metrics::chain_call("head", started.elapsed().as_secs_f64());
        let started = std::time::Instant::now();
        let metagraph = self.chain.metagraph(netuid, &block).await?;
        metrics::chain_call("metagraph", started.elapsed().as_secs_f64());
        let started = std::time::Instant::now();
        let commitments = self.chain.commitments(netuid, &block).await?;
        metrics::chain_call("commitments", started.elapsed().as_secs_f64());
        metrics::set_block(block.number);
        let view = Arc::new(SubnetView { block, metagraph, commitments });
        *self.view.write().expect("view lock") = Some(view.clone());
        Ok(view)
    }

    /// Saves every state part.
    pub fn save_state(&self) -> Result<()> {
        let inner = self.inner.lock().expect("state lock");
        self.state_dir.save(&inner.sets)?;
        self.state_dir.save(&inner.models)?;
        self.state_dir.save(&TrackerState(inner.tracker.clone()))?;
        self.state_dir.save(&inner.progress)?;
        self.state_dir.save(&inner.pending_reveals)?;
        Ok(())
    }

    /// Sleeps unless cancelled first; returns false when cancelled.
    pub async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// Runs the loops until `--steps` rounds are scored or the token is cancelled.
    pub async fn run(self: Arc<Self>) -> Result<()> {
        let sync = tokio::spawn(self.clone().sync_loop());
        let weights = tokio::spawn(self.clone().weights_loop());
        let result = self.clone().eval_loop().await;
        self.cancel.cancel();
        let _ = sync.await;
        let _ = weights.await;
        self.save_state()?;
        if self.args.steps.is_some() && !self.args.offline {
            self.set_weights(true).await;
        }
        tracing::info!("validator stopped, state saved");
        result
    }

    /// Sets weights on its own cadence, so that a long round never delays them.
    async fn weights_loop(self: Arc<Self>) {
        let tick = self.args.block_time().clamp(Duration::from_millis(200), Duration::from_secs(12));
        while self.pause(tick).await {
            self.set_weights(false).await;
        }
    }

    async fn sync_loop(self: Arc<Self>) {
        let mut first = true;
        while !self.cancel.is_cancelled() {
            if !first {
                match self.refresh_view().await {
                    Ok(_) => {}
                    Err(e) => {
                        metrics::error("chain");
                        tracing::warn!("metagraph sync failed, retrying in 60 s: {e:#}");
                        if !self.pause(Duration::from_secs(60).min(self.args.sync_interval())).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            first = false;
            if let Some(view) = self.current_view() {
                self.update_models(&view).await;
                self.cleanup();
            }
            if !self.pause(self.args.sync_interval()).await {
                break;
            }
        }
    }

    /// Our uid on the subnet, when our hotkey is registered.
    fn own_uid(&self) -> Option<u16> {
        let view = self.current_view()?;
        let hotkey = self.own_hotkey.as_deref()?;
        view.metagraph.neurons.iter().find(|n| n.hotkey.to_ss58() == hotkey).map(|n| n.uid)
    }

    async fn eval_loop(self: Arc<Self>) -> Result<()> {
        let uploader = wandb_log::start(
            &self.args.wandb,
            self.args.offline,
            self.state_dir.root(),
            self.own_uid(),
            self.own_hotkey.as_deref(),
        );
        let result = self.clone().eval_rounds(uploader.as_ref()).await;
        if let Some(u) = uploader {
            u.shutdown(Duration::from_secs(10)).await;
        }
        result
    }

    async fn eval_rounds(self: Arc<Self>, uploader: Option<&wandb::Uploader>) -> Result<()> {
        let idle = Duration::from_secs(300).min(self.args.sync_interval());
        let mut scored = 0u64;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            if self.args.steps.is_some_and(|n| scored >= n) {
                return Ok(());
            }
            let outcome = tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                outcome = self.run_round() => outcome,
            };
            let wait = match outcome {
                Ok(round::RoundOutcome::Scored(mut record)) => {
                    scored += 1;
                    self.set_weights(false).await;
                    record.weights_submissions =
                        std::mem::take(&mut self.inner.lock().expect("state lock").unrecorded_submissions);
                    record.vtrust = self.vtrust().await;
                    if let Err(e) = self.records.append(&record) {
                        tracing::error!("cannot append the step record: {e:#}");
                    }
                    metrics::round(&record);
                    report::print_round(&record);
                    if let Some(u) = uploader {
                        u.submit(wandb_log::step_log(&record));
                    }
                    Duration::ZERO
                }
                Ok(round::RoundOutcome::Wait(d)) => d,
                Ok(round::RoundOutcome::Idle) => idle,
                Ok(round::RoundOutcome::Skipped(reason)) => {
                    tracing::warn!("round skipped: {reason}");
                    idle.min(Duration::from_secs(60))
                }
                Err(e) => {
                    metrics::error("round");
                    tracing::error!("round failed, retrying: {e:#}");
                    Duration::from_secs(30).min(idle)
                }
            };
            if !wait.is_zero() && !self.pause(wait).await {
                return Ok(());
            }
        }
    }

    /// Removes models that no eval set references, after the grace period.
    fn cleanup(&self) {
        let keep = {
            let inner = self.inner.lock().expect("state lock");
            let Some(view) = self.current_view() else { return };
            inner
                .sets
                .all_uids()
                .into_iter()
                .filter_map(|uid| view.hotkey(uid))
                .filter_map(|hk| inner.models.metadata(&hk).and_then(|md| hub::ModelKey::new(&hk, &md.id).ok()))
                .collect::<Vec<_>>()
        };
        let report = self.hub.store.cleanup(&keep, Duration::from_secs(self.args.cleanup_grace_secs));
        for path in &report.removed {
            tracing::info!(path = %path.display(), "removed an unreferenced model");
        }
        for e in &report.errors {
            tracing::warn!("cleanup: {e}");
        }
    }
}
