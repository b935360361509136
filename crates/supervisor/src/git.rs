//! The few git operations the supervisor needs, through the `git` command: which commit is
//! checked out, what the remote branch holds, and a fast-forward that never touches local work.

use crate::SuperviseError;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::process::Command;

/// One work tree, every command bounded by a timeout (a fetch can hang on a dead network).
#[derive(Clone, Debug)]
pub struct Git {
    repo: PathBuf,
    timeout: Duration,
}

impl Git {
    pub fn new(repo: &Path, timeout: Duration) -> Self {
        Git { repo: repo.to_path_buf(), timeout }
    }

    /// The checked-out branch, or `None` when HEAD is detached.
    pub async fn current_branch(&self) -> Result<Option<String>, SuperviseError> {
        let out = self.output(&["symbolic-ref", "--quiet", "--short", "HEAD"]).await?;
        match out.status.code() {
            Some(0) => Ok(Some(stdout_line(&out))),
            Some(1) => Ok(None),
            _ => Err(self.failure(&["symbolic-ref", "--quiet", "--short", "HEAD"], &out)),
        }
    }

    /// The full sha of the checked-out commit.
    pub async fn head(&self) -> Result<String, SuperviseError> {
        self.checked(&["rev-parse", "--verify", "HEAD^{commit}"]).await
    }

    /// Fetches `branch` from `remote` and returns the sha it points at.
    pub async fn fetch(&self, remote: &str, branch: &str) -> Result<String, SuperviseError> {
        let refspec = format!("refs/heads/{branch}");
        self.checked(&["fetch", "--quiet", "--no-tags", remote, &refspec]).await?;
        self.checked(&["rev-parse", "--verify", "FETCH_HEAD^{commit}"]).await
    }

    /// Whether `ancestor` is reachable from `descendant` (equal commits count).
    pub async fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, SuperviseError> {
        let args = ["merge-base", "--is-ancestor", ancestor, descendant];
        let out = self.output(&args).await?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.failure(&args, &out)),
        }
    }

    /// Tracked files with uncommitted changes (staged or not), as `git status --porcelain`
    /// lines. Untracked files are left out: a fast-forward refuses by itself to overwrite them.
    pub async fn local_changes(&self) -> Result<Vec<String>, SuperviseError> {
        let out = self.checked(&["status", "--porcelain", "--untracked-files=no"]).await?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Moves the checked-out branch to `sha` only if that is a fast-forward; git itself refuses
    /// (and changes nothing) when the move would overwrite local files.
    pub async fn fast_forward(&self, sha: &str) -> Result<(), SuperviseError> {
        self.checked(&["merge", "--ff-only", "--quiet", sha]).await.map(drop)
    }

    async fn checked(&self, args: &[&str]) -> Result<String, SuperviseError> {
        let out = self.output(args).await?;
        if out.status.success() {
            Ok(stdout_line(&out))
        } else {
            Err(self.failure(args, &out))
        }
    }

    async fn output(&self, args: &[&str]) -> Result<Output, SuperviseError> {
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(&self.repo)
            .args(args)
            // Never wait for a password prompt nobody will answer.
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(self.timeout, command.output()).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(SuperviseError::Git { args: args.join(" "), reason: format!("cannot run git: {e}") }),
            Err(_) => Err(SuperviseError::Git {
                args: args.join(" "),
                reason: format!("no answer within {}", humantime::format_duration(self.timeout)),
            }),
        }
    }

    fn failure(&self, args: &[&str], out: &Output) -> SuperviseError {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        SuperviseError::Git {
            args: args.join(" "),
            reason: format!("{} in {}: {stderr}", out.status, self.repo.display()),
        }
    }
}

fn stdout_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
