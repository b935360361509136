//! The `supervise` command line, kept here so the validator binary and the tests parse it alike.

use crate::{BackoffPolicy, SuperviseError, SupervisorConfig};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// `supervise [options] -- <arguments for run>`.
#[derive(clap::Args, Clone, Debug)]
pub struct SuperviseArgs {
    /// The git work tree of the validator: followed, built, and the child's working directory.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The git remote to fetch new commits from.
    #[arg(long, default_value = "origin")]
    pub remote: String,
    /// The branch to follow (default: the checked-out one; it must be checked out).
    #[arg(long)]
    pub branch: Option<String>,
    /// How often to fetch the branch and look for a new commit (SIGHUP checks at once).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub update_interval: Duration,
    /// The build, run with `sh -c` in the repository; it must leave the binary at --binary.
    #[arg(long, default_value = "cargo build --release --locked")]
    pub build_command: String,
    /// A build still running after this long is killed and counts as failed.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub build_timeout: Duration,
    /// Each git command (a fetch included) is abandoned after this long.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub git_timeout: Duration,
    /// The built binary, relative to --repo; the child runs a versioned copy of it.
    #[arg(long, default_value = "target/release/sn37-validator")]
    pub binary: PathBuf,
    /// Where installed binaries and the record of the last good one live
    /// (default: <repo>/target/supervise).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// How long the child may take to save its state and exit after SIGINT/SIGTERM before it
    /// is killed.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub stop_timeout: Duration,
    /// Delay before restarting a crashed child; doubles at each crash in a row.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub restart_delay: Duration,
    /// The restart delay never grows beyond this.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub restart_delay_max: Duration,
    /// A child that ran this long before exiting counts as healthy: the delay starts over.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub healthy_after: Duration,
    /// How many installed binaries to keep.
    #[arg(long, default_value_t = 3)]
    pub keep_binaries: usize,
    /// Arguments for `run`, after `--`.
    #[arg(last = true)]
    pub run_args: Vec<OsString>,
}

impl SuperviseArgs {
    /// The configuration these arguments describe; the child is `<binary> run <run_args…>`.
    pub fn into_config(self) -> Result<SupervisorConfig, SuperviseError> {
        let repo = self
            .repo
            .canonicalize()
            .map_err(|e| SuperviseError::Config(format!("--repo {}: {e}", self.repo.display())))?;
        if self.update_interval.is_zero() {
            return Err(SuperviseError::Config("--update-interval must be more than zero".into()));
        }
        let state_dir = match self.state_dir {
            Some(dir) if dir.is_absolute() => dir,
            Some(dir) => {
                std::env::current_dir().map_err(SuperviseError::io("cannot read the current directory"))?.join(dir)
            }
            None => repo.join("target").join("supervise"),
        };
        let mut child_args = vec![OsString::from("run")];
        child_args.extend(self.run_args);
        Ok(SupervisorConfig {
            repo,
            remote: self.remote,
            branch: self.branch,
            update_interval: self.update_interval,
            build_command: self.build_command,
            build_timeout: self.build_timeout,
            git_timeout: self.git_timeout,
            binary: self.binary,
            child_args,
            state_dir,
            stop_timeout: self.stop_timeout,
            restart_backoff: BackoffPolicy {
                initial: self.restart_delay,
                max: self.restart_delay_max,
                healthy_after: self.healthy_after,
            },
            keep_binaries: self.keep_binaries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SuperviseArgs,
    }

    #[test]
    fn defaults_and_forwarded_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().to_str().unwrap();
        let cli = Cli::try_parse_from(["supervise", "--repo", repo, "--", "--netuid", "37", "--offline"]).unwrap();
        assert_eq!(cli.args.update_interval, Duration::from_secs(900));
        let config = cli.args.into_config().unwrap();
        let args: Vec<_> = config.child_args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(args, ["run", "--netuid", "37", "--offline"]);
        let repo = dir.path().canonicalize().unwrap();
        assert_eq!(config.state_dir, repo.join("target/supervise"));
        assert_eq!(config.built_binary(), repo.join("target/release/sn37-validator"));
        assert_eq!(config.build_command, "cargo build --release --locked");
        assert_eq!(config.remote, "origin");
    }

    #[test]
    fn durations_are_human_readable_and_a_missing_repo_is_named() {
        let cli = Cli::try_parse_from(["supervise", "--update-interval", "90s", "--repo", "/no/such/repo"]).unwrap();
        assert_eq!(cli.args.update_interval, Duration::from_secs(90));
        let error = cli.args.into_config().unwrap_err().to_string();
        assert!(error.contains("--repo /no/such/repo"), "{error}");
        assert!(Cli::try_parse_from(["supervise", "--update-interval", "soon"]).is_err());
    }
}
