//! The store survives a kill during a download: a child process (this same binary, in child
//! mode) fetches a model from the local hub while the parent SIGKILLs it mid-file, several
//! times; no partial model may ever be visible, and a last run completes by resuming.
//!
//! A plain `main` (harness = false) because the test must own a child process and a server that
//! outlives it.

#[path = "common/mod.rs"]
mod common;

use common::*;
use hub::server::{Fault, HubServer, LocalHub, ServerOptions};
use hub::store::{ModelStore, StoreOptions};
use hub::Hub;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "HUB_KILL_TEST_CHILD";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if std::env::var_os(CHILD_ENV).is_some() {
        std::process::exit(runtime.block_on(child()));
    }
    runtime.block_on(parent());
    println!("kill_during_download: 1 passed, 0 failed");
}

/// Child mode: one fetch, as the validator would do it, then exit.
async fn child() -> i32 {
    let env = |k: &str| std::env::var(k).unwrap();
    let store = Arc::new(ModelStore::open(Path::new(&env("HUB_MODEL_DIR")), StoreOptions::default()).unwrap());
    let hub = Hub::new(hub::client::HubClient::new(fast_config(&env("HUB_ENDPOINT"))).unwrap(), store);
    let id = scoring::ModelId::parse(&env("HUB_COMMITMENT")).unwrap();
    match hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await {
        Ok(model) => {
            println!("FETCHED {}", model.downloaded_bytes);
            0
        }
        Err(e) => {
            println!("FAILED {e}");
            1
        }
    }
}

fn spawn_child(endpoint: &str, model_dir: &Path, commitment: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, "1")
        .env("HUB_ENDPOINT", endpoint)
        .env("HUB_MODEL_DIR", model_dir)
        .env("HUB_COMMITMENT", commitment)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn part_bytes(model_dir: &Path) -> u64 {
    walk(&model_dir.join(".hub-staging"))
        .iter()
        .filter(|p| p.to_string_lossy().ends_with("model.safetensors.part"))
        .map(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn assert_no_model_visible(model_dir: &Path) {
    let files: Vec<_> = walk(&model_dir.join("models")).into_iter().filter(|p| p.is_file()).collect();
    assert!(files.is_empty(), "a killed download left files in the store: {files:?}");
}

async fn parent() {
    let hub_dir = tempfile::tempdir().unwrap();
    let model_dir = tempfile::tempdir().unwrap();
    let local = LocalHub::open(hub_dir.path()).unwrap();
    let server =
        HubServer::new(local.clone(), ServerOptions::default()).start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let sha = local.commit_folder("kim/killme", &fixture("llama")).unwrap();
    let id = commitment("kim/killme", &sha, &fixture("llama"), HOTKEY);
    let size = std::fs::metadata(fixture("llama/model.safetensors")).unwrap().len();
    // Slow enough that every kill lands mid-file.
    server.faults().add(Fault::throttle("model.safetensors", 200_000));

    let mut last = 0;
    for (round, kill_at) in [300_000u64, 600_000, 900_000].into_iter().enumerate() {
        let mut child = spawn_child(&server.url(), model_dir.path(), &id.to_string());
        let started = Instant::now();
        while part_bytes(model_dir.path()) < kill_at {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "round {round}: the child never got to {kill_at} bytes"
            );
            assert!(child.try_wait().unwrap().is_none(), "round {round}: the child ended before the kill");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_no_model_visible(model_dir.path());
        let kept = part_bytes(model_dir.path());
        assert!(kept >= last && kept < size, "round {round}: partial download of {kept} bytes kept for resuming");
        last = kept;
    }

    // The hub is fast again: a fresh process resumes and completes.
    server.faults().clear();
    // Let the server notice the dead connection before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let served_before = server.stats().bytes_served("kim/killme", "model.safetensors");
    let child = spawn_child(&server.url(), model_dir.path(), &id.to_string());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "final run failed: {stdout}");
    let resumed = server.stats().bytes_served("kim/killme", "model.safetensors") - served_before;
    assert!(resumed <= size - last, "the final run fetched {resumed} weight bytes, {last} were already on disk");
    assert!(server.stats().requests().iter().any(|r| r.range.as_deref() == Some(&format!("bytes={last}-")[..])));

    // The verified model is whole, in place, with nothing else left behind.
    let store = Arc::new(ModelStore::open(model_dir.path(), StoreOptions::default()).unwrap());
    let key = hub::ModelKey::new(HOTKEY, &id).unwrap();
    assert!(store.contains(&key));
    assert_eq!(hub::dir_hash::directory_hash(&store.snapshot_dir(&key)).unwrap(), upstream_dir_hash(&fixture("llama")));
    assert!(walk(&model_dir.path().join(".hub-staging")).is_empty());
    server.stop().await;
}
