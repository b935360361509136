//! The uploader: `submit` puts a record on a bounded in-memory queue and returns at once; one
//! task writes queued records to the disk spool, another sends spooled records to wandb in
//! order, opening a new run every `max_steps_per_run` rows and waiting (with growing delays)
//! while wandb is slow or down. Nothing here can block or fail the caller.

use crate::api::{ApiError, OpenRun, WandbApi};
use crate::config::{RetryPolicy, RunIdentity, WandbConfig};
use crate::spool::Spool;
use crate::step_log::StepLog;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

/// Counts since the uploader started (for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploaderStats {
    /// Records handed to `submit`.
    pub submitted: u64,
    /// Records `submit` had to drop because the in-memory queue was full (the disk spool
    /// stalled); logged as errors.
    pub dropped: u64,
    /// Records written to the spool.
    pub spooled: u64,
    /// Records wandb accepted.
    pub delivered: u64,
    /// Records wandb refused for good, kept in the spool's `rejected/`.
    pub rejected: u64,
    /// wandb runs opened.
    pub runs_opened: u64,
}

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    dropped: AtomicU64,
    spooled: AtomicU64,
    delivered: AtomicU64,
    rejected: AtomicU64,
    runs_opened: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Why the uploader could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the wandb spool in {dir}: {source}")]
    Spool { dir: String, source: std::io::Error },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the wandb uploader must be started inside a tokio runtime")]
    NoRuntime,
}

/// A running uploader. Dropping it stops it too (queued records still reach the spool while the
/// runtime runs); [`Uploader::shutdown`] also waits for that and closes the wandb run.
pub struct Uploader {
    queue: mpsc::Sender<StepLog>,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    writer: JoinHandle<()>,
    sender: JoinHandle<()>,
}

impl Uploader {
    /// Opens the spool and starts the two tasks on the current tokio runtime. Records left in
    /// the spool by an earlier run are sent first, in order.
    pub fn start(config: WandbConfig, identity: RunIdentity) -> Result<Uploader, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let (spool, next_seq) = Spool::open(&config.spool_dir)
            .map_err(|source| StartError::Spool { dir: config.spool_dir.display().to_string(), source })?;
        let api = WandbApi::new(&config)?;
        let spool = Arc::new(spool);
        let counters = Arc::new(Counters::default());
        let wake = Arc::new(Notify::new());
        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let (stop, stop_receiver) = watch::channel(false);
        info!(project = %config.project, entity = %config.entity, spool = %config.spool_dir.display(), "wandb uploader started");
        let writer = runtime.spawn(write_to_spool(receiver, spool.clone(), next_seq, wake.clone(), counters.clone()));
        let sender = runtime.spawn(
            Sender { api, spool, identity, config, wake, stop: stop_receiver, counters: counters.clone(), run: None }
                .run(),
        );
        Ok(Uploader { queue, counters, stop, writer, sender })
    }

    /// Hands a step record to the uploader. Never blocks and never fails: if the in-memory
    /// queue is full (the disk is not keeping up) the record is dropped, logged and counted.
    pub fn submit(&self, log: StepLog) {
        bump(&self.counters.submitted);
        match self.queue.try_send(log) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(log)) => {
                bump(&self.counters.dropped);
                error!(step = log.step, "the wandb queue is full (the spool is not keeping up); record dropped");
            }
            Err(mpsc::error::TrySendError::Closed(log)) => {
                bump(&self.counters.dropped);
                error!(step = log.step, "the wandb uploader has stopped; record dropped");
            }
        }
    }

    pub fn stats(&self) -> UploaderStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let c = &self.counters;
        UploaderStats {
            submitted: read(&c.submitted),
            dropped: read(&c.dropped),
            spooled: read(&c.spooled),
            delivered: read(&c.delivered),
            rejected: read(&c.rejected),
            runs_opened: read(&c.runs_opened),
        }
    }

    /// Writes every queued record to the spool, stops sending (what wandb does not have yet
    /// stays spooled for the next start) and marks the open run finished — all within `grace`.
    pub async fn shutdown(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let Uploader { queue, stop, mut writer, mut sender, .. } = self;
        drop(queue);
        if tokio::time::timeout_at(deadline, &mut writer).await.is_err() {
            error!("the wandb spool did not take every queued record in time");
            writer.abort();
        }
        let _ = stop.send(true);
        if tokio::time::timeout_at(deadline, &mut sender).await.is_err() {
            warn!("the wandb sender did not stop in time; spooled records will be sent at the next start");
            sender.abort();
        }
    }
}

async fn write_to_spool(
    mut queue: mpsc::Receiver<StepLog>,
    spool: Arc<Spool>,
    mut next_seq: u64,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
) {
    let log_retry = Duration::from_secs(5);
    while let Some(log) = queue.recv().await {
        let log = Arc::new(log);
        loop {
            let (spool, record, seq) = (spool.clone(), log.clone(), next_seq);
            match tokio::task::spawn_blocking(move || spool.write(seq, &record)).await {
                Ok(Ok(())) => break,
                Ok(Err(e)) => error!(step = log.step, error = %e, "cannot write a wandb record to the spool; retrying"),
                Err(e) => error!(step = log.step, error = %e, "the spool write task failed; retrying"),
            }
            tokio::time::sleep(log_retry).await;
        }
        next_seq += 1;
        bump(&counters.spooled);
        wake.notify_one();
    }
}

/// The sending side: owns the open run.
struct Sender {
    api: WandbApi,
    spool: Arc<Spool>,
    identity: RunIdentity,
    config: WandbConfig,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
    counters: Arc<Counters>,
    run: Option<OpenRun>,
}

/// Whether the sender should go on after a wait.
#[derive(PartialEq)]
enum Flow {
    Continue,
    Stop,
}

impl Sender {
    async fn run(mut self) {
        let mut retry = Retry::new(self.config.retry.clone());
        while self.send_pending(&mut retry).await == Flow::Continue && self.idle().await == Flow::Continue {}
        if let Some(run) = self.run.take() {
            self.finish(&run).await;
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sends every spooled record, oldest first.
    async fn send_pending(&mut self, retry: &mut Retry) -> Flow {
        loop {
            let pending = match self.spool.pending() {
                Ok(pending) => pending,
                Err(e) => {
                    error!(error = %e, "cannot list the wandb spool");
                    return self.pause(retry.next()).await;
                }
            };
            if pending.is_empty() {
                return Flow::Continue;
            }
            for (_, path) in pending {
                if self.stopping() {
                    return Flow::Stop;
                }
                if self.deliver(&path, retry).await == Flow::Stop {
                    return Flow::Stop;
                }
            }
        }
    }

    /// Delivers one record, retrying until wandb takes it, refuses it for good, or we stop.
    async fn deliver(&mut self, path: &Path, retry: &mut Retry) -> Flow {
        let log = match self.spool.read(path) {
            Ok(log) => log,
            Err(reason) => {
                self.set_aside(path, &reason);
                return Flow::Continue;
            }
        };
        loop {
            if self.run.as_ref().is_some_and(|run| run.rows >= self.config.max_steps_per_run) {
                let full = self.run.take().expect("checked above");
                info!(run = %full.id, rows = full.rows, "wandb run reached its step limit; starting a new one");
                self.finish(&full).await;
            }
            if self.run.is_none() {
                match self.api.open_run(&self.identity).await {
                    Ok(run) => {
                        info!(run = %run.id, name = %run.display_name, "opened a wandb run");
                        bump(&self.counters.runs_opened);
                        self.run = Some(run);
                    }
                    Err(e) => {
                        let delay = retry.next();
                        warn!(error = %e, retry_in = ?delay, "cannot open a wandb run; records wait on disk");
                        if self.pause(delay).await == Flow::Stop {
                            return Flow::Stop;
                        }
                        continue;
                    }
                }
            }
            let run = self.run.as_mut().expect("opened above");
            match self.api.append_row(run, &log).await {
                Ok(()) => {
                    run.rows += 1;
                    retry.reset();
                    bump(&self.counters.delivered);
                    debug!(run = %run.id, step = log.step, "step sent to wandb");
                    if let Err(e) = self.spool.remove(path) {
                        // It would be sent again after a restart; say so, nothing is lost.
                        warn!(error = %e, path = %path.display(), "cannot delete a delivered record");
                    }
                    return Flow::Continue;
                }
                Err(ApiError::Rejected(reason)) => {
                    self.set_aside(path, &reason);
                    return Flow::Continue;
                }
                Err(ApiError::RunGone(reason)) => {
                    warn!(reason = %reason, "the wandb run disappeared; opening a new one");
                    self.run = None;
                }
                Err(e) => {
                    let delay = retry.next();
                    if matches!(e, ApiError::Unauthorized(_)) {
                        error!(error = %e, retry_in = ?delay, "check WANDB_API_KEY; records wait on disk");
                    } else {
                        warn!(error = %e, step = log.step, retry_in = ?delay, "wandb is unavailable; records wait on disk");
                    }
                    if self.pause(delay).await == Flow::Stop {
                        return Flow::Stop;
                    }
                }
            }
        }
    }

    fn set_aside(&self, path: &Path, reason: &str) {
        bump(&self.counters.rejected);
        match self.spool.set_aside(path, reason) {
            Ok(kept) => error!(reason, kept = %kept.display(), "wandb will not take this record; set aside"),
            Err(e) => error!(reason, error = %e, "wandb will not take this record, and it cannot be set aside"),
        }
    }

    /// Waits for a new record (heartbeating the open run meanwhile) or for the stop request.
    async fn idle(&mut self) -> Flow {
        loop {
            if self.stopping() {
                return Flow::Stop;
            }
            let heartbeat = tokio::time::sleep(self.config.heartbeat_interval);
            tokio::select! {
                _ = self.wake.notified() => return Flow::Continue,
                changed = self.stop.changed() => if changed.is_err() { return Flow::Stop },
                _ = heartbeat, if self.run.is_some() => {
                    let run = self.run.as_ref().expect("guarded by the branch condition");
                    if let Err(e) = self.api.heartbeat(run).await {
                        debug!(error = %e, "wandb heartbeat failed");
                    }
                }
            }
        }
    }

    /// Sleeps `delay` unless a stop request comes first.
    async fn pause(&mut self, delay: Duration) -> Flow {
        tokio::select! {
            _ = tokio::time::sleep(delay) => Flow::Continue,
            changed = self.stop.changed() => match changed {
                Ok(()) if !*self.stop.borrow() => Flow::Continue,
                _ => Flow::Stop,
            },
        }
    }

    async fn finish(&self, run: &OpenRun) {
        match self.api.finish(run).await {
            Ok(()) => info!(run = %run.id, rows = run.rows, "finished the wandb run"),
            Err(e) => warn!(run = %run.id, error = %e, "cannot mark the wandb run finished"),
        }
    }
}

/// Growing delays between attempts while wandb is failing.
struct Retry {
    policy: RetryPolicy,
    next: Duration,
}

impl Retry {
    fn new(policy: RetryPolicy) -> Retry {
        let next = policy.initial;
        Retry { policy, next }
    }

    fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(self.policy.max);
        delay
    }

    fn reset(&mut self) {
        self.next = self.policy.initial;
    }
}
