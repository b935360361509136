//! The supervised child process: starting it from an installed binary and stopping it the way
//! that lets it save its state (a signal, a grace period, and only then SIGKILL).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How the supervisor asks the child to stop; the child sees the same signal the supervisor got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    fn as_signal(self) -> Signal {
        match self {
            StopSignal::Interrupt => Signal::SIGINT,
            StopSignal::Terminate => Signal::SIGTERM,
        }
    }
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_signal().as_str())
    }
}

/// How a stop request ended.
#[derive(Debug)]
pub enum ChildStop {
    /// There was no child running.
    NotRunning,
    /// The child exited within the grace period.
    Exited(ExitStatus),
    /// The child ignored the signal for the whole grace period and was killed.
    Killed,
}

/// A running child and what it was started from.
#[derive(Debug)]
pub struct RunningChild {
    child: Child,
    pid: Pid,
    pub binary: PathBuf,
    pub version: String,
    pub started: Instant,
}

impl RunningChild {
    /// Starts `binary args…` in `cwd`, in its own process group (a Ctrl-C in a terminal reaches
    /// only the supervisor, which forwards it once) and, on Linux, with SIGTERM as its
    /// parent-death signal so that it still saves its state if the supervisor is killed.
    pub fn spawn(binary: &Path, args: &[OsString], cwd: &Path, version: &str) -> io::Result<RunningChild> {
        let mut command = Command::new(binary);
        command.args(args).current_dir(cwd).stdin(Stdio::null()).process_group(0).kill_on_drop(false);
        #[cfg(target_os = "linux")]
        // SAFETY: the closure runs between fork and exec and only makes the prctl system call,
        // which is async-signal-safe; it allocates nothing and takes no lock.
        unsafe {
            command.pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(io::Error::from));
        }
        let child = command.spawn()?;
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw)
            .ok_or_else(|| io::Error::other("the child exited before its pid was read"))?;
        Ok(RunningChild {
            child,
            pid,
            binary: binary.to_path_buf(),
            version: version.to_string(),
            started: Instant::now(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }

    /// Waits for the child to exit; safe to cancel and call again.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Sends `signal`, waits up to `grace` for the child to exit, then kills it.
    pub async fn stop(mut self, signal: StopSignal, grace: Duration) -> ChildStop {
        if let Ok(Some(status)) = self.child.try_wait() {
            return ChildStop::Exited(status);
        }
        if let Err(e) = kill(self.pid, signal.as_signal()) {
            tracing::warn!(pid = self.pid.as_raw(), error = %e, "cannot signal the child");
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => ChildStop::Exited(status),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot wait for the child; killing it");
                self.kill().await
            }
            Err(_) => {
                tracing::error!(
                    pid = self.pid.as_raw(),
                    grace = %humantime::format_duration(grace),
                    "the child did not exit within the grace period after {signal}; killing it",
                );
                self.kill().await
            }
        }
    }

    async fn kill(mut self) -> ChildStop {
        if let Err(e) = self.child.kill().await {
            tracing::error!(error = %e, "cannot kill the child");
        }
        ChildStop::Killed
    }
}
