//! Drives the supervisor, as its own process, against a local bare git repository holding a tiny
//! project: `build.sh` writes the "binary", a shell script that records its version and pid,
//! and saves ("saved") on SIGTERM/SIGINT before exiting.
//!
//! The supervisor process is this test executable re-run with `--ignored --exact
//! supervisor_process`, configured through `SUPERVISE_TEST_ARGS`, so the tests exercise real
//! signals, process groups and exits.

use clap::Parser;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const ARGS_VAR: &str = "SUPERVISE_TEST_ARGS";
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: supervisor::SuperviseArgs,
}

/// The supervisor process itself; only meaningful when re-run by the other tests.
#[test]
#[ignore = "entry point of the supervisor process the other tests start"]
fn supervisor_process() {
    let args: Vec<String> = serde_json::from_str(&std::env::var(ARGS_VAR).expect("run by the other tests")).unwrap();
    tracing_subscriber::fmt().with_ansi(false).with_env_filter("info").with_writer(std::io::stderr).init();
    let config =
        Cli::try_parse_from(std::iter::once("supervise".to_string()).chain(args)).unwrap().args.into_config().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    match runtime.block_on(supervisor::supervise_until_signalled(config)) {
        Ok(supervisor::ChildStop::Killed) => std::process::exit(3),
        Ok(_) => {}
        Err(e) => {
            eprintln!("supervise failed: {e}");
            std::process::exit(2);
        }
    }
}

const BUILD_SH: &str = r#"#!/bin/sh
# The test project's "compiler": turns VERSION into out/child, or fails when BROKEN exists.
set -e
version=$(cat VERSION)
echo "compiling version $version"
if [ -f BROKEN ]; then
    echo "error[E0425]: version $version does not compile" >&2
    exit 1
fi
mkdir -p out
sed "s/@VERSION@/$version/" child.in > out/child.tmp
chmod +x out/child.tmp
mv out/child.tmp out/child
"#;

const CHILD_IN: &str = r#"#!/bin/sh
# The test project's "validator": `child run --events FILE`.
[ "$1" = run ] && [ "$2" = --events ] || { echo "usage: child run --events FILE" >&2; exit 64; }
events="$3"
if [ -f CRASH ]; then
    echo "crash @VERSION@ $$" >> "$events"
    exit 3
fi
trap 'echo "saved @VERSION@ $$" >> "$events"; exit 0' TERM INT
echo "start @VERSION@ $$ $0" >> "$events"
while :; do
    sleep 1 &
    wait $!
done
"#;

/// A bare "origin", a developer clone that pushes to it, and the validator's clone.
struct Project {
    _dir: tempfile::TempDir,
    origin: PathBuf,
    dev: PathBuf,
    deploy: PathBuf,
    events: PathBuf,
    log: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).envs(git_env()).output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn git_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_NAME", "test"),
        ("GIT_AUTHOR_EMAIL", "test@example.invalid"),
        ("GIT_COMMITTER_NAME", "test"),
        ("GIT_COMMITTER_EMAIL", "test@example.invalid"),
    ]
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let (origin, dev, deploy) = (root.join("origin.git"), root.join("dev"), root.join("deploy"));
        git(&root, &["init", "--quiet", "--bare", "--initial-branch=main", origin.to_str().unwrap()]);
        git(&root, &["clone", "--quiet", origin.to_str().unwrap(), dev.to_str().unwrap()]);
        git(&dev, &["checkout", "--quiet", "-b", "main"]);
        fs::write(dev.join("build.sh"), BUILD_SH).unwrap();
        fs::write(dev.join("child.in"), CHILD_IN).unwrap();
        fs::write(dev.join(".gitignore"), "/out\n/target\n/CRASH\n").unwrap();
        let project = Project {
            origin,
            dev,
            deploy,
            events: root.join("events.log"),
            log: root.join("supervisor.log"),
            _dir: dir,
        };
        project.push_version("v1", false);
        git(&root, &["clone", "--quiet", project.origin.to_str().unwrap(), project.deploy.to_str().unwrap()]);
        project
    }

    /// Commits VERSION (and BROKEN when the version must not build) and pushes; returns the sha.
    fn push_version(&self, version: &str, broken: bool) -> String {
        fs::write(self.dev.join("VERSION"), format!("{version}\n")).unwrap();
        let broken_file = self.dev.join("BROKEN");
        if broken {
            fs::write(&broken_file, "").unwrap();
        } else if broken_file.exists() {
            fs::remove_file(&broken_file).unwrap();
        }
        git(&self.dev, &["add", "--all"]);
        git(&self.dev, &["commit", "--quiet", "-m", version]);
        git(&self.dev, &["push", "--quiet", "origin", "main"]);
        git(&self.dev, &["rev-parse", "HEAD"])
    }

    /// Starts the supervisor with short test timings; `extra` options replace the defaults.
    fn start_supervisor(&self, extra: &[&str]) -> Supervisor {
        let defaults = [
            ("--repo", self.deploy.to_str().unwrap()),
            ("--update-interval", "300ms"),
            ("--build-command", "sh build.sh"),
            ("--binary", "out/child"),
            ("--stop-timeout", "10s"),
            ("--restart-delay", "200ms"),
            ("--restart-delay-max", "800ms"),
        ];
        let mut args: Vec<String> = Vec::new();
        for (option, value) in defaults {
            if !extra.contains(&option) {
                args.extend([option.to_string(), value.to_string()]);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--".to_string(), "--events".to_string(), self.events.to_str().unwrap().to_string()]);
        let log = fs::File::create(&self.log).unwrap();
        let process = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "supervisor_process", "--nocapture", "--test-threads=1"])
            .env(ARGS_VAR, serde_json::to_string(&args).unwrap())
            .envs(git_env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Supervisor { process: Some(process) }
    }

    fn events(&self) -> Vec<Event> {
        fs::read_to_string(&self.events).unwrap_or_default().lines().map(Event::parse).collect()
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls until `condition` holds; panics with the events and the supervisor's log if it
    /// never does.
    fn wait_until(&self, what: &str, condition: impl Fn(&Project) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !condition(self) {
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}\nevents: {:#?}\nsupervisor log:\n{}", self.events(), self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn started(&self, version: &str) -> Vec<Event> {
        self.events().into_iter().filter(|e| e.kind == "start" && e.version == version).collect()
    }

    fn has(&self, kind: &str, version: &str) -> bool {
        self.events().iter().any(|e| e.kind == kind && e.version == version)
    }
}

#[derive(Debug, Clone)]
struct Event {
    kind: String,
    version: String,
    pid: i32,
    binary: Option<String>,
}

impl Event {
    fn parse(line: &str) -> Event {
        let fields: Vec<&str> = line.split(' ').collect();
        Event {
            kind: fields[0].to_string(),
            version: fields[1].to_string(),
            pid: fields[2].parse().unwrap(),
            binary: fields.get(3).map(|s| s.to_string()),
        }
    }
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

/// The supervisor process; killed if a test fails half-way (its child then gets SIGTERM
/// through the parent-death signal).
struct Supervisor {
    process: Option<Child>,
}

impl Supervisor {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.process.as_ref().unwrap().id() as i32)
    }

    fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).unwrap();
    }

    fn wait(mut self, project: &Project) -> ExitStatus {
        let mut process = self.process.take().unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = process.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = process.kill();
                panic!("the supervisor did not exit\nlog:\n{}", project.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

#[test]
fn a_new_commit_that_builds_restarts_the_child_on_the_new_binary() {
    let project = Project::new();
    let supervisor = project.start_supervisor(&[]);
    project.wait_until("v1 to start", |p| !p.started("v1").is_empty());
    let v1 = project.started("v1")[0].clone();

    let v2_sha = project.push_version("v2", false);
    project.wait_until("v2 to start", |p| !p.started("v2").is_empty());
    let v2 = project.started("v2")[0].clone();

    // The old child was asked to stop and saved before the new one started.
    let events = project.events();
    let saved_v1 = events.iter().position(|e| e.kind == "saved" && e.pid == v1.pid).expect("v1 saved");
    let started_v2 = events.iter().position(|e| e.kind == "start" && e.version == "v2").unwrap();
    assert!(saved_v1 < started_v2, "{events:#?}");
    assert!(!alive(v1.pid));
    assert!(alive(v2.pid));
    // The new child runs a versioned copy, not the build output a later build rewrites.
    let expected = project.deploy.join("target/supervise/bin").join(format!("child-{}", &v2_sha[..12]));
    assert_eq!(v2.binary.as_deref(), Some(expected.to_str().unwrap()));
    assert_eq!(git(&project.deploy, &["rev-parse", "HEAD"]), v2_sha);

    supervisor.signal(Signal::SIGTERM);
    assert!(supervisor.wait(&project).success());
}

#[test]
fn a_commit_that_fails_to_build_leaves_the_old_child_running() {
    let project = Project::new();
    let supervisor = project.start_supervisor(&[]);
    project.wait_until("v1 to start", |p| !p.started("v1").is_empty());
    let v1 = project.started("v1")[0].clone();

    project.push_version("v2", true);
    project.wait_until("the failed build to be logged", |p| p.log().contains("build failed"));
    let log = project.log();
    assert!(log.contains("error[E0425]: version v2 does not compile"), "the build output tail is logged:\n{log}");
    // A few more update intervals pass; the failed commit is not rebuilt and v1 keeps running.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(alive(v1.pid));
    assert!(!project.has("saved", "v1"), "{:#?}", project.events());
    assert_eq!(project.started("v1").len(), 1);
    assert_eq!(project.log().matches("build failed").count(), 1, "{}", project.log());

    // The next good commit is picked up as usual.
    project.push_version("v3", false);
    project.wait_until("v3 to start", |p| !p.started("v3").is_empty());
    assert!(project.has("saved", "v1"));
    assert!(!alive(v1.pid));

    supervisor.signal(Signal::SIGTERM);
    assert!(supervisor.wait(&project).success());
}

#[test]
fn sigterm_stops_the_supervisor_and_the_child_cleanly() {
    let project = Project::new();
    let supervisor = project.start_supervisor(&[]);
    project.wait_until("v1 to start", |p| !p.started("v1").is_empty());
    let v1 = project.started("v1")[0].clone();

    supervisor.signal(Signal::SIGTERM);
    let status = supervisor.wait(&project);
    assert!(status.success(), "{status}\n{}", project.log());
    assert!(project.has("saved", "v1"), "the child saved its state: {:#?}", project.events());
    assert!(!alive(v1.pid));
    assert!(project.log().contains("signal=SIGTERM"), "{}", project.log());
}

#[test]
fn sigint_is_forwarded_as_sigint() {
    let project = Project::new();
    let supervisor = project.start_supervisor(&[]);
    project.wait_until("v1 to start", |p| !p.started("v1").is_empty());

    supervisor.signal(Signal::SIGINT);
    assert!(supervisor.wait(&project).success());
    assert!(project.has("saved", "v1"));
    assert!(project.log().contains("stopping the child pid=") && project.log().contains("signal=SIGINT"));
}

#[test]
fn a_crashing_child_is_restarted_with_growing_delays() {
    let project = Project::new();
    fs::write(project.deploy.join("CRASH"), "").unwrap();
    let supervisor = project.start_supervisor(&[]);
    project.wait_until("four crashes", |p| p.events().iter().filter(|e| e.kind == "crash").count() >= 4);
    let log = project.log();
    for delay in ["restart_in=200ms", "restart_in=400ms", "restart_in=800ms"] {
        assert!(log.contains(delay), "missing {delay}:\n{log}");
    }
    assert!(!log.contains("restart_in=1s"), "the delay is capped at 800ms:\n{log}");

    // Once the cause is gone the next restart runs normally.
    fs::remove_file(project.deploy.join("CRASH")).unwrap();
    project.wait_until("v1 to start", |p| !p.started("v1").is_empty());
    supervisor.signal(Signal::SIGTERM);
    assert!(supervisor.wait(&project).success());
    assert!(project.has("saved", "v1"));
}

#[test]
fn local_changes_and_diverged_history_block_the_update_and_are_kept() {
    let project = Project::new();
    let supervisor = project.start_supervisor(&[]);
    project.wait_until("v1 to start", |p| !p.started("v1").is_empty());

    // An uncommitted edit of a tracked file blocks the fast-forward and survives it.
    fs::write(project.deploy.join("child.in"), "# local edit\n").unwrap();
    project.push_version("v2", false);
    project.wait_until("the refusal", |p| p.log().contains("the work tree has local changes"));
    assert_eq!(fs::read_to_string(project.deploy.join("child.in")).unwrap(), "# local edit\n");
    git(&project.deploy, &["checkout", "--quiet", "--", "child.in"]);

    // A local commit next to a new remote commit: diverged, the local commit stays.
    let local = {
        fs::write(project.deploy.join("NOTES"), "local\n").unwrap();
        git(&project.deploy, &["add", "NOTES"]);
        git(&project.deploy, &["commit", "--quiet", "-m", "local"]);
        git(&project.deploy, &["rev-parse", "HEAD"])
    };
    project.wait_until("the divergence warning", |p| p.log().contains("have diverged"));
    assert_eq!(git(&project.deploy, &["rev-parse", "HEAD"]), local);
    assert!(project.started("v2").is_empty(), "{:#?}", project.events());

    supervisor.signal(Signal::SIGTERM);
    assert!(supervisor.wait(&project).success());
}

#[test]
fn a_supervisor_restarted_on_a_commit_that_does_not_build_falls_back_to_the_last_good_binary() {
    let project = Project::new();
    let first = project.start_supervisor(&[]);
    project.wait_until("v1 to start", |p| !p.started("v1").is_empty());
    project.push_version("v2", true);
    project.wait_until("the failed build", |p| p.log().contains("build failed"));
    first.signal(Signal::SIGTERM);
    assert!(first.wait(&project).success());

    // The work tree now holds the broken commit; the new supervisor cannot build it.
    let second = project.start_supervisor(&[]);
    project.wait_until("v1 to start again", |p| p.started("v1").len() == 2);
    assert!(project.log().contains("falling back to the last good binary"), "{}", project.log());
    second.signal(Signal::SIGTERM);
    assert!(second.wait(&project).success());
}

#[test]
fn a_first_build_that_fails_with_no_good_binary_is_an_error() {
    let project = Project::new();
    project.push_version("v2", true);
    git(&project.deploy, &["pull", "--quiet", "--ff-only"]);
    let supervisor = project.start_supervisor(&[]);
    let status = supervisor.wait(&project);
    assert_eq!(status.code(), Some(2), "{}", project.log());
    let log = project.log();
    assert!(log.contains("the first build failed and no earlier good binary"), "{log}");
    assert!(log.contains("error[E0425]: version v2 does not compile"), "{log}");
    assert!(project.events().is_empty());
}

#[test]
fn sigterm_during_the_first_build_stops_the_build() {
    let project = Project::new();
    // A first build that would take a minute and leave a marker when done.
    let marker = project.deploy.join("build-finished");
    // The marker is in a grandchild's command line, so the check below sees the whole group.
    let slow_build = format!("sh -c 'sleep 60; touch {}'; sh build.sh", marker.display());
    let supervisor = project.start_supervisor(&["--build-command", &slow_build]);
    project.wait_until("the first build to start", |_| !processes_mentioning(marker.to_str().unwrap()).is_empty());
    supervisor.signal(Signal::SIGTERM);
    let status = supervisor.wait(&project);
    assert!(status.success(), "{status}\n{}", project.log());
    assert!(project.log().contains("stopped before the child started"), "{}", project.log());
    assert!(project.events().is_empty());
    // The build's grandchild (whose command line names the marker) was killed with its group.
    let build_shells = processes_mentioning(marker.to_str().unwrap());
    assert!(build_shells.is_empty(), "build processes still running: {build_shells:?}");
}

/// Pids of the processes whose command line contains `text`.
fn processes_mentioning(text: &str) -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(text))
        })
        .collect()
}
