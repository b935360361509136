//! The store's housekeeping: keep-set cleanup with grace and leases, the disk budget, stale
//! staging, the process lock.

mod common;

use common::*;
use hub::cleanup::BudgetError;
use hub::store::{ModelStore, StoreError, StoreOptions};
use hub::{FetchFailure, ModelKey};
use scoring::ModelId;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Sets the mtime of every file and folder under `path`.
fn age(path: &Path, by: Duration) {
    let when = SystemTime::now() - by;
    for p in std::iter::once(path.to_path_buf()).chain(walk(path)) {
        File::open(&p).unwrap().set_modified(when).unwrap();
    }
}

async fn stored(t: &TestHub, repo: &str, hotkey: &str, seed: f32) -> (ModelId, ModelKey) {
    let dir = tempfile::tempdir().unwrap();
    llama_model(dir.path(), 1, true, |n, i| small(n, i) * seed);
    let id = t.publish(repo, dir.path(), hotkey);
    let model = t.hub.fetch(hotkey, &id, &localnet_constraints(), &[]).await.unwrap();
    (id, model.key)
}

#[tokio::test]
async fn cleanup_keeps_the_keep_set_pins_and_fresh_models() {
    let t = TestHub::start().await;
    let (_, keep) = stored(&t, "a/kept", HOTKEY, 1.0).await;
    let (_, old) = stored(&t, "a/old", HOTKEY, 0.5).await;
    let (_, pinned) = stored(&t, "b/pinned", OTHER_HOTKEY, 0.7).await;
    let (_, fresh) = stored(&t, "b/fresh", OTHER_HOTKEY, 0.9).await;
    let store = &t.hub.store;
    for key in [&keep, &old, &pinned] {
        age(&store.snapshot_dir(key), Duration::from_secs(3600));
        age(&store.tokenizer_dir(key), Duration::from_secs(3600));
    }
    // Upstream's bug was to judge by the oldest file: one ancient file in an otherwise fresh
    // model must not make it look stale.
    File::open(store.snapshot_dir(&fresh).join("config.json"))
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(86_400))
        .unwrap();
    let lease = store.pin(&pinned);

    let report = store.cleanup(std::slice::from_ref(&keep), Duration::from_secs(300));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(store.contains(&keep));
    assert!(!store.contains(&old) && !store.tokenizer_dir(&old).exists());
    assert!(store.contains(&pinned), "a pinned model is never removed");
    assert!(store.contains(&fresh), "within grace by its newest file");
    assert_eq!(report.kept_in_grace.len(), 2, "{:?}", report.kept_in_grace);
    // The old model's folders were pruned once empty.
    assert!(!store.repo_dir(&old).exists());

    drop(lease);
    let report = store.cleanup(std::slice::from_ref(&keep), Duration::ZERO);
    assert!(!store.contains(&pinned) && !store.contains(&fresh));
    assert!(!t.model_dir.path().join("models").join(OTHER_HOTKEY).exists());
    assert_eq!(report.removed.len(), 4, "{:?}", report.removed);
    assert!(store.contains(&keep));
}

#[tokio::test]
async fn cleanup_compares_canonical_paths_and_removes_foreign_files() {
    let t = TestHub::start().await;
    let (_, keep) = stored(&t, "a/kept", HOTKEY, 1.0).await;
    let TestHub { hub, model_dir, .. } = t;
    drop(hub);
    // Reopen the store through a non-normalised path (upstream compared path strings, so
    // `./x`-style model dirs made every valid model look stale).
    let odd = model_dir.path().join(".").join("models").join("..");
    let store = ModelStore::open(&odd, StoreOptions::default()).unwrap();
    // Leftovers of Python tools (blobs/, refs/) and a stale earlier commit of the same repo.
    let repo = store.repo_dir(&keep);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::write(repo.join("blobs/abc"), b"x").unwrap();
    let stale = repo.join("snapshots").join("f".repeat(40));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("config.json"), b"{}").unwrap();
    age(&repo, Duration::from_secs(3600));
    let report = store.cleanup(std::slice::from_ref(&keep), Duration::from_secs(60));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(store.contains(&keep));
    assert_eq!(
        store.snapshot_dir(&keep),
        model_dir
            .path()
            .canonicalize()
            .unwrap()
            .join(format!("models/{HOTKEY}/models--a--kept/snapshots/{}", keep.commit))
    );
    assert!(!stale.exists() && !repo.join("blobs").exists());
    assert_eq!(report.removed.len(), 2, "{:?}", report.removed);
}

#[tokio::test]
async fn store_is_locked_to_one_process_and_sweeps_stale_staging() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join(".hub-staging").join(HOTKEY);
    std::fs::create_dir_all(staging.join("models--a--old--0000")).unwrap();
    std::fs::write(staging.join("models--a--old--0000/config.json.part"), b"{").unwrap();
    std::fs::create_dir_all(staging.join("models--a--young--1111")).unwrap();
    std::fs::write(staging.join("models--a--young--1111/model.safetensors.part"), b"...").unwrap();
    std::fs::write(dir.path().join(".hub-staging").join("stray-file"), b"?").unwrap();
    age(&staging.join("models--a--old--0000"), Duration::from_secs(7200));

    let options = StoreOptions { partial_ttl: Duration::from_secs(3600), ..StoreOptions::default() };
    let store = ModelStore::open(dir.path(), options.clone()).unwrap();
    assert!(!staging.join("models--a--old--0000").exists(), "stale partial swept at startup");
    assert!(staging.join("models--a--young--1111/model.safetensors.part").exists(), "young partial kept to resume");
    assert!(!dir.path().join(".hub-staging/stray-file").exists());
    let second = ModelStore::open(dir.path(), options);
    assert!(matches!(second, Err(StoreError::Locked(_))), "one process per store");
    drop(store);
    let zero = StoreOptions { partial_ttl: Duration::ZERO, ..StoreOptions::default() };
    let _store = ModelStore::open(dir.path(), zero).unwrap();
    assert!(!staging.exists());
}

#[tokio::test]
async fn disk_budget_evicts_least_valuable_first_and_refuses_what_cannot_fit() {
    // Four tiny models fill the budget; a fifth needs room.
    let probe = TestHub::start().await;
    let (_, k) = stored(&probe, "p/probe", HOTKEY, 1.0).await;
    let model_bytes = probe.hub.store.stored_models().unwrap()[0].bytes;
    assert_eq!(k.hotkey, HOTKEY);
    let options = StoreOptions { max_disk_bytes: Some(model_bytes * 4 + model_bytes / 2), ..StoreOptions::default() };
    let t = TestHub::start_with(Default::default(), options, |_| {}).await;
    let (_, a) = stored(&t, "mm/a", HOTKEY, 0.1).await;
    let (_, b) = stored(&t, "mm/b", HOTKEY, 0.2).await;
    let (_, c) = stored(&t, "mm/c", HOTKEY, 0.3).await;
    let (_, d) = stored(&t, "mm/d", HOTKEY, 0.4).await;
    let store = t.hub.store.clone();

    let dir = tempfile::tempdir().unwrap();
    llama_model(dir.path(), 1, true, |n, i| small(n, i) * 0.5);
    let e_id = t.publish("mm/e", dir.path(), HOTKEY);
    // Least valuable first: c, then a; b and d more valuable.
    let order = [c.clone(), a.clone(), b.clone(), d.clone()];
    let e = t.hub.fetch(HOTKEY, &e_id, &localnet_constraints(), &order).await.unwrap();
    assert_eq!(e.evicted, vec![c.clone()]);
    assert!(!store.contains(&c) && store.contains(&a) && store.contains(&b) && store.contains(&d));
    assert!(store.usage_bytes().unwrap() <= model_bytes * 4 + model_bytes / 2);

    // Everything but one model pinned, and a model far larger than the budget: refused, and
    // nothing is evicted for a download that cannot fit anyway.
    let _leases: Vec<_> = [&a, &b, &d].iter().map(|k| store.pin(k)).collect();
    let big = tempfile::tempdir().unwrap();
    llama_model(big.path(), 6, false, small);
    let big_id = t.publish("mm/big", big.path(), HOTKEY);
    let err = t.hub.fetch(HOTKEY, &big_id, &localnet_constraints(), &order).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Budget(BudgetError::OverBudget { .. })), "{err}");
    let text = err.to_string();
    assert!(text.contains("cannot fit") && text.contains(HOTKEY) && text.contains("mm/big"), "{text}");
    assert!(err.is_transient(), "a full disk is ours, not the miner's");
    assert!(store.contains(&e.key), "nothing evicted for a hopeless download");
    assert_eq!(t.server.stats().bytes_served("mm/big", "model.safetensors"), 0, "refused before the weights");
}
