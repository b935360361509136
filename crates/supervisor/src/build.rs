//! Building a checked-out commit and installing its binary under a versioned name, so that a
//! later build never rewrites the file a running child was started from.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

/// How many lines of build output a failure report keeps.
pub const TAIL_LINES: usize = 40;

/// Why a build did not produce a binary, with the last lines it printed.
#[derive(Debug)]
pub struct BuildFailure {
    pub reason: String,
    pub output_tail: Vec<String>,
}

impl BuildFailure {
    fn new(reason: String) -> Self {
        BuildFailure { reason, output_tail: Vec::new() }
    }
}

/// Runs `command` with `sh -c` in `repo` and waits for it, at most `timeout`. Its whole process
/// group is killed on timeout or when this future is dropped, so no stray compiler outlives it.
pub async fn run_build(repo: &Path, command: &str, timeout: Duration) -> Result<(), BuildFailure> {
    // One pipe for both streams keeps their lines in the order they were written, so the tail
    // ends with the compiler's last error.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(repo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BuildFailure::new(format!("cannot start `sh -c {command}`: {e}")))?;
    let mut group = ProcessGroupGuard::new(child.id());
    let tail = Mutex::new(VecDeque::with_capacity(TAIL_LINES));
    let output = child.stdout.take();
    let finished = async {
        let (_, status) = tokio::join!(keep_tail(output, &tail), child.wait());
        status
    };
    let outcome = tokio::time::timeout(timeout, finished).await;
    let reason = match outcome {
        Ok(Ok(status)) if status.success() => {
            group.disarm();
            return Ok(());
        }
        Ok(Ok(status)) => {
            group.disarm();
            format!("`{command}` failed ({status})")
        }
        Ok(Err(e)) => format!("cannot wait for `{command}`: {e}"),
        Err(_) => format!("`{command}` did not finish within {}", humantime::format_duration(timeout)),
    };
    drop(group);
    let output_tail = tail.into_inner().unwrap_or_else(|p| p.into_inner()).into();
    Err(BuildFailure { reason, output_tail })
}

async fn keep_tail(stream: Option<impl AsyncRead + Unpin>, tail: &Mutex<VecDeque<String>>) {
    let Some(stream) = stream else { return };
    let mut lines = BufReader::new(stream).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        tracing::debug!(target: "supervisor::build", "{line}");
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// Kills a process group when dropped, unless disarmed after the group's leader exited.
struct ProcessGroupGuard(Option<i32>);

impl ProcessGroupGuard {
    fn new(leader: Option<u32>) -> Self {
        ProcessGroupGuard(leader.and_then(|pid| i32::try_from(pid).ok()))
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // ESRCH only means the group is already gone.
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Copies the freshly built `binary` to `bin_dir/<file name>-<version>` (temp file, fsync,
/// rename), so the running child's file is never rewritten, and returns the installed path.
pub fn install(binary: &Path, bin_dir: &Path, version: &str) -> io::Result<PathBuf> {
    let name = binary
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", binary.display())))?;
    let mut installed_name = name.to_os_string();
    installed_name.push(format!("-{version}"));
    let target = bin_dir.join(installed_name);
    fs::create_dir_all(bin_dir)?;
    let mut temp = tempfile::Builder::new().prefix(".installing-").tempfile_in(bin_dir)?;
    let mut source = fs::File::open(binary)?;
    io::copy(&mut source, temp.as_file_mut())?;
    temp.as_file_mut().flush()?;
    temp.as_file().set_permissions(fs::Permissions::from_mode(0o755))?;
    temp.as_file().sync_all()?;
    temp.persist(&target).map_err(|e| e.error)?;
    fs::File::open(bin_dir)?.sync_all()?;
    Ok(target)
}

/// Deletes installed binaries beyond the `keep` most recent ones, never one in `protect`.
pub fn prune(bin_dir: &Path, keep: usize, protect: &[&Path]) -> io::Result<Vec<PathBuf>> {
    let mut installed = Vec::new();
    for entry in fs::read_dir(bin_dir)? {
        let entry = entry?;
        let path = entry.path();
        let is_temp = entry.file_name().to_string_lossy().starts_with('.');
        if !is_temp && entry.file_type()?.is_file() {
            installed.push((entry.metadata()?.modified()?, path));
        }
    }
    installed.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    let mut removed = Vec::new();
    for (_, path) in installed.into_iter().skip(keep) {
        if !protect.contains(&path.as_path()) {
            fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_build_reports_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let script = "for i in $(seq 1 100); do echo line $i; done; echo 'error: boom' >&2; exit 3";
        let failure = run_build(dir.path(), script, Duration::from_secs(30)).await.unwrap_err();
        assert!(failure.reason.contains("exit status: 3"), "{}", failure.reason);
        assert_eq!(failure.output_tail.len(), TAIL_LINES);
        assert!(failure.output_tail.contains(&"error: boom".to_string()));
        assert!(failure.output_tail.contains(&"line 100".to_string()));
        assert!(!failure.output_tail.contains(&"line 1".to_string()));
    }

    #[tokio::test]
    async fn a_build_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let failure = run_build(dir.path(), &script, Duration::from_millis(300)).await.unwrap_err();
        assert!(failure.reason.contains("did not finish"), "{}", failure.reason);
        std::thread::sleep(Duration::from_secs(3));
        assert!(!marker.exists(), "a process of the timed-out build kept running");
    }

    #[test]
    fn install_copies_under_a_versioned_name_and_prune_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let built = dir.path().join("app");
        let bin_dir = dir.path().join("bin");
        let mut paths = Vec::new();
        for version in ["aaa", "bbb", "ccc", "ddd"] {
            fs::write(&built, format!("#!/bin/sh\necho {version}\n")).unwrap();
            let path = install(&built, &bin_dir, version).unwrap();
            assert_eq!(path, bin_dir.join(format!("app-{version}")));
            assert_eq!(fs::read_to_string(&path).unwrap(), format!("#!/bin/sh\necho {version}\n"));
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o755);
            // Distinct modification times order the installs.
            std::thread::sleep(Duration::from_millis(20));
            paths.push(path);
        }
        let removed = prune(&bin_dir, 2, &[paths[0].as_path()]).unwrap();
        assert_eq!(removed, vec![paths[1].clone()]);
        assert!(paths[0].exists() && paths[2].exists() && paths[3].exists());
    }
}
