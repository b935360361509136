//! The supervision loop: one child, one update at a time, and stop requests handled before
//! anything else.

use crate::backoff::Backoff;
use crate::build::{install, prune, run_build, BuildFailure};
use crate::child::{ChildStop, RunningChild, StopSignal};
use crate::git::Git;
use crate::{SuperviseError, SupervisorConfig};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

/// What the supervisor can be asked from outside (signals, or a test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Forward this signal to the child, wait for it (grace period, then SIGKILL) and return.
    Stop(StopSignal),
    /// Look for a new commit now; also retries a commit whose build failed before.
    CheckNow,
}

/// Runs [`supervise`] with SIGINT and SIGTERM as stop requests (forwarded to the child as
/// received) and SIGHUP as "check for an update now".
pub async fn supervise_until_signalled(config: SupervisorConfig) -> Result<ChildStop, SuperviseError> {
    let listen =
        |kind: SignalKind, name: &str| signal(kind).map_err(SuperviseError::io(format!("cannot listen for {name}")));
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut hangup = listen(SignalKind::hangup(), "SIGHUP")?;
    let (sender, receiver) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                _ = interrupt.recv() => Control::Stop(StopSignal::Interrupt),
                _ = terminate.recv() => Control::Stop(StopSignal::Terminate),
                _ = hangup.recv() => Control::CheckNow,
            };
            if sender.send(message).is_err() {
                break;
            }
        }
    });
    let result = supervise(config, receiver).await;
    forwarder.abort();
    result
}

/// A built binary installed under its version.
#[derive(Clone, Debug)]
struct Installed {
    sha: String,
    label: String,
    path: PathBuf,
}

enum UpdateResult {
    NoChange,
    Built(Installed),
    BuildFailed(String),
}

type UpdateFuture = Pin<Box<dyn Future<Output = UpdateResult> + Send>>;

/// Supervises until a [`Control::Stop`] arrives (or every sender is gone, which counts as
/// SIGTERM), and reports how the child stopped. Fails only before the first child starts:
/// git unusable, or the first build failed with no earlier good binary to fall back on.
pub async fn supervise(
    config: SupervisorConfig,
    mut control: mpsc::UnboundedReceiver<Control>,
) -> Result<ChildStop, SuperviseError> {
    let config = Arc::new(config);
    let git = Git::new(&config.repo, config.git_timeout);
    let branch = followed_branch(&git, &config).await?;
    // A stop request during the first build (minutes, for cargo) ends it at once.
    let (mut current, mut failed_sha) = tokio::select! {
        prepared = initial_binary(&config, &git) => prepared?,
        Some(Control::Stop(signal)) = control.recv() => {
            info!(%signal, "stopped before the child started");
            return Ok(ChildStop::NotRunning);
        }
    };
    info!(branch = %branch, remote = %config.remote, version = %current.label, "supervising");

    let mut backoff = Backoff::new(config.restart_backoff.clone());
    let mut child: Option<RunningChild> = None;
    let mut restart_at = Some(Instant::now());
    let mut update: Option<UpdateFuture> = None;
    let mut ticker = tokio::time::interval_at(Instant::now() + config.update_interval, config.update_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let start_update = |current: &Installed, skip: Option<String>| -> UpdateFuture {
        Box::pin(check_for_update(config.clone(), git.clone(), branch.clone(), current.sha.clone(), skip))
    };

    loop {
        tokio::select! {
            biased;
            message = control.recv() => match message {
                Some(Control::CheckNow) if update.is_none() => {
                    info!("update check requested");
                    update = Some(start_update(&current, None));
                }
                Some(Control::CheckNow) => info!("update check requested; one is already running"),
                stop => {
                    let signal = match stop {
                        Some(Control::Stop(signal)) => signal,
                        _ => StopSignal::Terminate,
                    };
                    info!(%signal, "stopping");
                    drop(update.take());
                    return Ok(stop_child(child.take(), signal, &config).await);
                }
            },
            exit = wait_for(&mut child) => {
                let exited = child.take().expect("wait_for only returns with a child");
                let delay = backoff.after_exit(exited.started.elapsed());
                log_crash(&exited, exit, delay);
                restart_at = Some(Instant::now() + delay);
            }
            result = poll_update(&mut update) => {
                update = None;
                match result {
                    UpdateResult::NoChange => {}
                    UpdateResult::BuildFailed(sha) => failed_sha = Some(sha),
                    UpdateResult::Built(installed) => {
                        failed_sha = None;
                        info!(from = %current.label, to = %installed.label, "restarting the child on the new build");
                        if let ChildStop::Killed = stop_child(child.take(), StopSignal::Terminate, &config).await {
                            error!("the old child had to be killed; it may not have saved its state");
                        }
                        record_current(&config.state_dir, &installed);
                        current = installed;
                        prune_binaries(&config, &current.path);
                        backoff.reset();
                        restart_at = Some(Instant::now());
                    }
                }
            }
            () = sleep_until(restart_at), if child.is_none() => {
                restart_at = None;
                match RunningChild::spawn(&current.path, &config.child_args, &config.repo, &current.label) {
                    Ok(started) => {
                        info!(pid = started.pid(), version = %started.version, binary = %started.binary.display(), "child started");
                        child = Some(started);
                    }
                    Err(e) => {
                        let delay = backoff.after_exit(Duration::ZERO);
                        error!(binary = %current.path.display(), error = %e, restart_in = %fmt(delay), "cannot start the child");
                        restart_at = Some(Instant::now() + delay);
                    }
                }
            }
            _ = ticker.tick() => {
                if update.is_none() {
                    update = Some(start_update(&current, failed_sha.clone()));
                }
            }
        }
    }
}

async fn wait_for(child: &mut Option<RunningChild>) -> io::Result<ExitStatus> {
    match child {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

async fn poll_update(update: &mut Option<UpdateFuture>) -> UpdateResult {
    match update {
        Some(update) => update.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn fmt(duration: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(duration)
}

fn log_crash(exited: &RunningChild, exit: io::Result<ExitStatus>, delay: Duration) {
    let uptime = fmt(Duration::from_secs(exited.started.elapsed().as_secs()));
    let status = match exit {
        Ok(status) => status.to_string(),
        Err(e) => format!("unknown ({e})"),
    };
    warn!(
        pid = exited.pid(),
        version = %exited.version,
        %status,
        %uptime,
        restart_in = %fmt(delay),
        "the child exited on its own; restarting it after a delay",
    );
}

async fn stop_child(child: Option<RunningChild>, signal: StopSignal, config: &SupervisorConfig) -> ChildStop {
    let Some(child) = child else { return ChildStop::NotRunning };
    let pid = child.pid();
    info!(pid, %signal, "stopping the child");
    let stopped = child.stop(signal, config.stop_timeout).await;
    match &stopped {
        ChildStop::Exited(status) => info!(pid, %status, "the child stopped"),
        ChildStop::Killed => error!(pid, "the child was killed after the grace period"),
        ChildStop::NotRunning => {}
    }
    stopped
}

async fn followed_branch(git: &Git, config: &SupervisorConfig) -> Result<String, SuperviseError> {
    let checked_out = git.current_branch().await?;
    match (checked_out, &config.branch) {
        (Some(current), Some(wanted)) if &current != wanted => Err(SuperviseError::Config(format!(
            "{} has branch `{current}` checked out but --branch is `{wanted}`; check out `{wanted}` first",
            config.repo.display()
        ))),
        (Some(current), _) => Ok(current),
        (None, _) => Err(SuperviseError::Config(format!(
            "{} has a detached HEAD; check out the branch to follow",
            config.repo.display()
        ))),
    }
}

fn version_label(sha: &str, dirty: bool) -> String {
    let short = &sha[..sha.len().min(12)];
    if dirty {
        format!("{short}-dirty")
    } else {
        short.to_string()
    }
}

fn bin_dir(config: &SupervisorConfig) -> PathBuf {
    config.state_dir.join("bin")
}

/// The binary for the checked-out commit: already installed, or built now. If that build fails,
/// the last good binary recorded in the state directory keeps the validator running.
async fn initial_binary(config: &SupervisorConfig, git: &Git) -> Result<(Installed, Option<String>), SuperviseError> {
    let sha = git.head().await?;
    let dirty = !git.local_changes().await?.is_empty();
    let label = version_label(&sha, dirty);
    let installed_name = installed_name(config, &label)?;
    let path = bin_dir(config).join(installed_name);
    if !dirty && path.is_file() {
        info!(version = %label, "using the binary installed earlier for this commit");
        let installed = Installed { sha, label, path };
        record_current(&config.state_dir, &installed);
        return Ok((installed, None));
    }
    info!(version = %label, command = %config.build_command, "building the checked-out commit");
    match build_and_install(config, &sha, &label).await {
        Ok(installed) => {
            record_current(&config.state_dir, &installed);
            Ok((installed, None))
        }
        Err(failure) => match recorded_current(&config.state_dir) {
            Some(previous) => {
                log_build_failure(&label, &failure);
                warn!(version = %previous.label, "falling back to the last good binary");
                Ok((previous, Some(sha)))
            }
            None => Err(SuperviseError::InitialBuild {
                state_dir: config.state_dir.clone(),
                reason: failure.reason,
                tail: failure.output_tail.join("\n"),
            }),
        },
    }
}

fn installed_name(config: &SupervisorConfig, label: &str) -> Result<String, SuperviseError> {
    let name = config
        .binary
        .file_name()
        .ok_or_else(|| SuperviseError::Config(format!("--binary {} does not name a file", config.binary.display())))?;
    Ok(format!("{}-{label}", name.to_string_lossy()))
}

async fn build_and_install(config: &SupervisorConfig, sha: &str, label: &str) -> Result<Installed, BuildFailure> {
    run_build(&config.repo, &config.build_command, config.build_timeout).await?;
    let built = config.built_binary();
    let bin_dir = bin_dir(config);
    let label_owned = label.to_string();
    let installed =
        tokio::task::spawn_blocking(move || install(&built, &bin_dir, &label_owned).map_err(|e| (built, e)))
            .await
            .map_err(|e| BuildFailure { reason: format!("the install task failed: {e}"), output_tail: Vec::new() })?;
    match installed {
        Ok(path) => Ok(Installed { sha: sha.to_string(), label: label.to_string(), path }),
        Err((built, e)) => Err(BuildFailure {
            reason: format!("the build succeeded but {} cannot be installed: {e}", built.display()),
            output_tail: Vec::new(),
        }),
    }
}

fn log_build_failure(label: &str, failure: &BuildFailure) {
    error!(
        version = %label,
        reason = %failure.reason,
        output_tail = %format_args!("\n{}", failure.output_tail.join("\n")),
        "build failed; the running child is kept",
    );
}

/// One update check: fetch, fast-forward when safe, and build the checked-out commit if it is
/// not the one running (unless it is `skip`, a commit whose build already failed).
async fn check_for_update(
    config: Arc<SupervisorConfig>,
    git: Git,
    branch: String,
    running_sha: String,
    skip: Option<String>,
) -> UpdateResult {
    match try_fast_forward(&config, &git, &branch).await {
        Ok(()) => {}
        Err(e) => warn!(error = %e, "update check failed; will try again at the next interval"),
    }
    let head = match git.head().await {
        Ok(head) => head,
        Err(e) => {
            warn!(error = %e, "cannot read HEAD");
            return UpdateResult::NoChange;
        }
    };
    if head == running_sha {
        return UpdateResult::NoChange;
    }
    if skip.as_deref() == Some(head.as_str()) {
        debug!(commit = %head, "this commit failed to build before; waiting for a new one (SIGHUP retries)");
        return UpdateResult::NoChange;
    }
    let dirty = git.local_changes().await.map(|changes| !changes.is_empty()).unwrap_or(true);
    let label = version_label(&head, dirty);
    info!(version = %label, command = %config.build_command, "building the new commit");
    match build_and_install(&config, &head, &label).await {
        Ok(installed) => {
            info!(version = %label, binary = %installed.path.display(), "build succeeded");
            UpdateResult::Built(installed)
        }
        Err(failure) => {
            log_build_failure(&label, &failure);
            UpdateResult::BuildFailed(head)
        }
    }
}

/// Fetches the followed branch and fast-forwards to it, refusing (with a warning) when the
/// work tree has local changes or the histories diverged.
async fn try_fast_forward(config: &SupervisorConfig, git: &Git, branch: &str) -> Result<(), SuperviseError> {
    let remote_sha = git.fetch(&config.remote, branch).await?;
    let head = git.head().await?;
    if remote_sha == head {
        debug!(commit = %head, "up to date");
        return Ok(());
    }
    if git.is_ancestor(&remote_sha, &head).await? {
        debug!(local = %head, remote = %remote_sha, "the local branch is ahead of the remote; nothing to pull");
        return Ok(());
    }
    if !git.is_ancestor(&head, &remote_sha).await? {
        warn!(
            local = %head,
            remote = %remote_sha,
            "the local branch and {}/{branch} have diverged; not updating (local commits are kept)",
            config.remote,
        );
        return Ok(());
    }
    let changes = git.local_changes().await?;
    if !changes.is_empty() {
        warn!(
            remote = %remote_sha,
            "the work tree has local changes; not updating until they are committed or reverted: {}",
            changes.iter().take(10).cloned().collect::<Vec<_>>().join(", "),
        );
        return Ok(());
    }
    git.fast_forward(&remote_sha).await?;
    info!(from = %head, to = %remote_sha, "fast-forwarded to the new commit");
    Ok(())
}

const CURRENT_RECORD: &str = "current";

/// Remembers the binary last started, so that a supervisor restart after a failed build still
/// has a good binary to run.
fn record_current(state_dir: &Path, installed: &Installed) {
    let Some(name) = installed.path.file_name() else { return };
    let line = format!("{} {} {}\n", installed.sha, installed.label, name.to_string_lossy());
    let written = (|| -> io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(state_dir)?;
        io::Write::write_all(&mut temp, line.as_bytes())?;
        temp.as_file().sync_all()?;
        temp.persist(state_dir.join(CURRENT_RECORD)).map_err(|e| e.error)?;
        std::fs::File::open(state_dir)?.sync_all()
    })();
    if let Err(e) = written {
        warn!(error = %e, dir = %state_dir.display(), "cannot record the current binary");
    }
}

fn recorded_current(state_dir: &Path) -> Option<Installed> {
    let text = std::fs::read_to_string(state_dir.join(CURRENT_RECORD)).ok()?;
    let mut fields = text.split_whitespace();
    let (sha, label, name) = (fields.next()?, fields.next()?, fields.next()?);
    let path = state_dir.join("bin").join(name);
    path.is_file().then(|| Installed { sha: sha.to_string(), label: label.to_string(), path })
}

fn prune_binaries(config: &SupervisorConfig, running: &Path) {
    match prune(&bin_dir(config), config.keep_binaries.max(1), &[running]) {
        Ok(removed) if !removed.is_empty() => debug!(?removed, "removed old binaries"),
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot remove old binaries"),
    }
}
