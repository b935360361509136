//! The whole subnet on one machine, end to end, through the real binary: `localnet` with a
//! trained fixture model and noisier copies of it as honest miners (best first), a later clone of
//! the best, and the four bad uploads. It checks what the validator must get right: the best model
//! wins, the clone does not beat it, every bad miner is refused with its reason, the step records
//! replay through `score` to the same weights, and a validator killed with SIGKILL in the middle
//! of a round resumes with its state intact and no half-written model on disk.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sn37-validator"))
}

fn fixtures() -> PathBuf {
    let dir = match std::env::var_os("SN37_SHARED_DIR") {
        Some(d) => PathBuf::from(d).join("fixtures"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    assert!(dir.is_dir(), "model fixtures not found at {} (set SN37_SHARED_DIR)", dir.display());
    dir
}

/// The honest miners are a trained fixture model and two noisier copies of it (best first).
fn localnet(dir: &Path, steps: u64) -> Command {
    localnet_with(dir, steps, 16)
}

fn localnet_with(dir: &Path, steps: u64, samples: usize) -> Command {
    let mut cmd = bin();
    cmd.arg("localnet")
        .arg("--dir")
        .arg(dir)
        .arg("--model")
        .arg(fixtures().join("llama-trained-100"))
        .args(["--miners", "3", "--block-time", "0.5", "--threads", "1", "--timeout", "600"])
        .arg("--samples")
        .arg(samples.to_string())
        .arg("--steps")
        .arg(steps.to_string());
    cmd
}

fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "command failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn miners_by_kind<'a>(summary: &'a Value, kind: &str) -> Vec<&'a Value> {
    summary["miners"].as_array().unwrap().iter().filter(|m| m["role"]["kind"] == kind).collect()
}

fn steps_file(dir: &Path) -> PathBuf {
    dir.join("validator/vali-state/steps.jsonl")
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
fn localnet_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    run_ok(localnet(&dir, 2));
    let summary = read_json(&dir.join("summary.json"));
    assert!(summary["rounds_recorded"].as_u64().unwrap() >= 2, "{summary:#}");

    // The best model gets the largest weight, and the later clone does not beat it.
    let weight = |m: &Value| m["weight"].as_f64().unwrap();
    let best = miners_by_kind(&summary, "honest").into_iter().find(|m| m["role"]["rank"] == 0).unwrap().clone();
    for m in summary["miners"].as_array().unwrap() {
        if m["uid"] != best["uid"] {
            assert!(weight(m) < weight(&best), "uid {} outweighs the best model:\n{summary:#}", m["uid"]);
        }
    }
    assert!(weight(&best) > 0.0);
    assert!(best["chain_weight"].as_f64().unwrap() > 0.0, "weights were not written to the chain:\n{summary:#}");
    let clone = miners_by_kind(&summary, "clone")[0];
    assert_eq!(clone["status"], "evaluated", "{summary:#}");
    assert_eq!(weight(clone), 0.0, "{summary:#}");

    // Each bad miner is refused, with its reason.
    for (kind, reason) in [
        ("hash_mismatch", "hash mismatch"),
        ("oversized", "byte limit"),
        ("pickle_only", "pickle"),
        ("unknown_competition", "no competition 99"),
    ] {
        let m = miners_by_kind(&summary, kind)[0];
        assert_eq!(m["status"], "rejected", "{kind}: {m:#}");
        let why = m["reason"].as_str().unwrap_or_default();
        assert!(why.contains(reason), "{kind}: reason {why:?} should mention {reason:?}");
    }

    // Every step record replays through `score` to the same weights.
    let steps = steps_file(&dir);
    let replay = run_ok({
        let mut c = bin();
        c.arg("score").arg(&steps);
        c
    });
    let records: Vec<Value> =
        std::fs::read_to_string(&steps).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let outputs: Vec<Value> = replay.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), outputs.len());
    for (record, out) in records.iter().zip(&outputs) {
        let recorded: Vec<(u64, f64)> = record["outcome"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["uid"].as_u64().unwrap(), o["weight"].as_f64().unwrap()))
            .collect();
        let replayed: Vec<(u64, f64)> = out["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["uid"].as_u64().unwrap(), o["weight"].as_f64().unwrap()))
            .collect();
        assert_eq!(recorded, replayed, "step {}", record["step"]);
    }

    // A second invocation reuses what the first built.
    let again = Instant::now();
    run_ok(localnet(&dir, 1));
    assert!(line_count(&steps) > records.len());
    eprintln!("second invocation: {:.1} s", again.elapsed().as_secs_f64());
}

/// Waits until `stderr` shows a round starting after `after` records exist.
fn wait_for_round_in_flight(child: &mut Child, steps: &Path, after: usize) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("round starts") && line_count(steps) >= after {
                // Let the round get into its models before the kill.
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
        }
    }
    panic!("no round started within the deadline");
}

#[test]
fn sigkill_mid_round_resumes_with_state_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    // More samples per task make a round long enough to be caught in flight.
    run_ok(localnet_with(&dir, 1, 96));
    let steps = steps_file(&dir);
    let before = line_count(&steps);
    let progress_before = read_json(&dir.join("validator/vali-state/progress.json"));

    let mut child = localnet_with(&dir, 5, 96).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_round_in_flight(&mut child, &steps, before);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(line_count(&steps), before, "the kill was meant to land in the middle of a round");

    // Every state part is whole and parses; the record log holds whole lines only.
    for part in ["progress.json", "eval_sets.json", "model_tracker.json", "competition_tracker.json"] {
        read_json(&dir.join("validator/vali-state").join(part));
    }
    for line in std::fs::read_to_string(&steps).unwrap().lines() {
        serde_json::from_str::<Value>(line).expect("a whole record per line");
    }

    // Restarted, the validator carries on from its state and finishes its rounds.
    run_ok(localnet_with(&dir, 1, 96));
    let progress_after = read_json(&dir.join("validator/vali-state/progress.json"));
    assert!(
        progress_after["data"]["rounds_scored"].as_u64() > progress_before["data"]["rounds_scored"].as_u64(),
        "{progress_before} -> {progress_after}"
    );
    // No half-written model is visible: every stored snapshot is complete.
    let models = dir.join("validator/models");
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p).into_iter().flatten().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect()
    };
    for hotkey in dirs(&models) {
        for repo in dirs(&hotkey) {
            let snapshots = repo.join("snapshots");
            for snap in std::fs::read_dir(&snapshots).into_iter().flatten() {
                let snap = snap.unwrap().path();
                assert!(
                    snap.join("config.json").is_file() && snap.join("model.safetensors").is_file(),
                    "{}",
                    snap.display()
                );
            }
        }
    }
}

/// Weights under commit-reveal: the validator commits them timelocked, the local chain reveals
/// them at their round, and the revealed row equals the weights the validator computed.
#[test]
fn commit_reveal_weights_are_revealed_as_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let mut cmd = localnet(&dir, 1);
    cmd.arg("--commit-reveal");
    run_ok(cmd);
    let records: Vec<Value> =
        std::fs::read_to_string(steps_file(&dir)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let committed = records
        .iter()
        .rev()
        .find(|r| r["weights_submissions"].as_array().unwrap().iter().any(|s| s["kind"] == "committed_timelocked"))
        .unwrap_or_else(|| panic!("no timelocked commit recorded: {records:#?}"));
    // What the validator meant to set, as the chain stores it (max-upscaled u16).
    let subnet: Vec<(u64, f64)> = committed["subnet_weights"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(uid, w)| (uid.parse().unwrap(), w.as_f64().unwrap()))
        .collect();
    let max = subnet.iter().map(|(_, w)| *w).fold(0.0, f64::max);
    let expected: Vec<(u16, u16)> = subnet
        .iter()
        .map(|(uid, w)| (*uid as u16, (w / max * 65535.0).round_ties_even() as u16))
        .filter(|(_, w)| *w > 0)
        .collect();

    let chain = chain::LocalChain::open(&dir.join("chain.json")).unwrap();
    let manifest = read_json(&dir.join("localnet.json"));
    let validator_uid = manifest["validator_uid"].as_u64().unwrap() as u16;
    let deadline = Instant::now() + Duration::from_secs(120);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    loop {
        let row = runtime.block_on(async {
            use chain::Chain;
            let head = chain.head().await.unwrap();
            chain.weights(37, &head).await.unwrap().get(&validator_uid).cloned()
        });
        if let Some(row) = row {
            assert_eq!(row, expected, "revealed weights differ from the committed ones");
            return;
        }
        assert!(Instant::now() < deadline, "the commit was not revealed within 120 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}
