//! Keeps the validator daemon running and up to date. The supervisor runs `<binary> run …` as a
//! child; every update interval it fetches the followed git branch, fast-forwards the work tree
//! (never over local changes or diverged history), builds, and restarts the child only when the
//! build succeeded. The child is always started from a versioned copy of the built binary, gets
//! SIGINT/SIGTERM forwarded with a grace period to save its state, and is restarted with
//! exponential backoff when it crashes.

mod backoff;
mod build;
mod child;
pub mod cli;
mod git;
mod supervisor;

pub use backoff::BackoffPolicy;
pub use child::{ChildStop, StopSignal};
pub use cli::SuperviseArgs;
pub use supervisor::{supervise, supervise_until_signalled, Control};

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the supervisor needs; [`SuperviseArgs::into_config`] builds it from the command
/// line.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    /// The git work tree the validator is built from; the child runs with it as working
    /// directory.
    pub repo: PathBuf,
    /// The remote to fetch from.
    pub remote: String,
    /// The branch to follow; `None` follows the checked-out branch.
    pub branch: Option<String>,
    /// How often to look for a new commit.
    pub update_interval: Duration,
    /// Run with `sh -c` in `repo`; it must leave the built binary at `binary`.
    pub build_command: String,
    /// A build still running after this long is killed and counts as failed.
    pub build_timeout: Duration,
    /// Every git command (a fetch included) is abandoned after this long.
    pub git_timeout: Duration,
    /// The build output, relative to `repo` unless absolute.
    pub binary: PathBuf,
    /// The child's arguments (the `run` subcommand included).
    pub child_args: Vec<OsString>,
    /// Holds the installed binaries (`bin/<name>-<commit>`) and the record of the last good one.
    pub state_dir: PathBuf,
    /// How long the child may take to exit after SIGINT/SIGTERM before it is killed.
    pub stop_timeout: Duration,
    /// Restart delays after the child exits on its own.
    pub restart_backoff: BackoffPolicy,
    /// How many installed binaries to keep (the running one is always kept).
    pub keep_binaries: usize,
}

impl SupervisorConfig {
    /// The build output as an absolute path.
    pub fn built_binary(&self) -> PathBuf {
        self.repo.join(&self.binary)
    }
}

/// Why the supervisor could not start or keep going.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("git {args}: {reason}")]
    Git { args: String, reason: String },
    #[error("{0}")]
    Config(String),
    #[error(
        "the first build failed and no earlier good binary is recorded in {state_dir}: {reason}\n\
         last lines of the build output:\n{tail}"
    )]
    InitialBuild { state_dir: PathBuf, reason: String, tail: String },
    #[error("the child did not exit within --stop-timeout and was killed; it may not have saved its state")]
    ChildKilled,
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// The `supervise` command: logs to stderr (`RUST_LOG` filters, `info` by default) unless the
/// binary installed a subscriber already, supervises until SIGINT/SIGTERM, and fails if the
/// child had to be killed after the grace period.
pub fn run_command(args: SuperviseArgs) -> Result<(), SuperviseError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Err only means a subscriber is already installed, which is what we want then.
    // No colour codes in pm2 log files or the journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
    let config = args.into_config()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SuperviseError::io("cannot start the async runtime"))?;
    match runtime.block_on(supervise_until_signalled(config))? {
        ChildStop::Killed => Err(SuperviseError::ChildKilled),
        ChildStop::Exited(_) | ChildStop::NotRunning => Ok(()),
    }
}

impl SuperviseError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SuperviseError {
        let context = context.into();
        move |source| SuperviseError::Io { context, source }
    }
}
