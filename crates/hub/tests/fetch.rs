//! The download contract end to end: the real client against the local hub on 127.0.0.1, with
//! honest repositories (fixtures made by transformers) and hostile ones.

mod common;

use common::*;
use hub::client::HubError;
use hub::constraints::ConstraintError;
use hub::fileset::FileSetError;
use hub::server::{Fault, Route};
use hub::store::{KeyError, StoreOptions};
use hub::FetchFailure;
use scoring::ModelId;
use std::path::Path;
use std::time::{Duration, Instant};

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn fetches_a_fixture_into_upstream_layout() {
    let t = TestHub::start().await;
    let id = t.publish("alice/tiny-llama", &fixture("llama"), HOTKEY);
    let model = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();

    let commit = id.commit.clone().unwrap();
    let expected = t
        .model_dir
        .path()
        .canonicalize()
        .unwrap()
        .join(format!("models/{HOTKEY}/models--alice--tiny-llama/snapshots/{commit}"));
    assert_eq!(model.snapshot, expected);
    // Exactly upstream's set in the hashed folder; tokenizer files beside it, not inside.
    assert_eq!(names_in(&model.snapshot), ["config.json", "generation_config.json", "model.safetensors"]);
    let tokenizer = model.tokenizer.clone().unwrap();
    assert_eq!(tokenizer, model.snapshot.parent().unwrap().parent().unwrap().join("tokenizers").join(&commit));
    assert_eq!(names_in(&tokenizer), ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
    assert_eq!(model.dir_hash, upstream_dir_hash(&fixture("llama")));
    // Real files only (the huggingface_hub layout after upstream realises links), no leftovers.
    for path in walk(t.model_dir.path()) {
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink(), "{path:?}");
        assert!(!path.to_string_lossy().ends_with(".part"), "{path:?}");
    }
    assert!(walk(&t.model_dir.path().join(".hub-staging")).is_empty());
    assert_eq!(model.report.parameters, 410_048);
    assert_eq!(model.report.architecture, "LlamaForCausalLM");
    // The README is counted in the size but never downloaded.
    assert_eq!(t.server.stats().bytes_served("alice/tiny-llama", "README.md"), 0);
    assert_eq!(t.server.stats().bytes_served("alice/tiny-llama", "expected.json"), 0);
    assert_eq!(
        model.downloaded_bytes,
        walk(t.model_dir.path().join("models").as_path())
            .iter()
            .filter(|p| p.is_file())
            .map(|p| p.metadata().unwrap().len())
            .sum::<u64>()
    );

    // Fetching again re-verifies what is on disk and downloads nothing.
    let served = t.server.stats().bytes_served_where(|_| true);
    let again = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
    assert_eq!((again.downloaded_bytes, again.dir_hash), (0, model.dir_hash));
    assert_eq!(t.server.stats().bytes_served_where(|_| true), served);
}

#[tokio::test]
async fn fetches_a_sharded_model() {
    let t = TestHub::start().await;
    let id = t.publish("bob/qwen-shards", &fixture("qwen2"), HOTKEY);
    let model = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
    assert_eq!(
        names_in(&model.snapshot),
        [
            "config.json",
            "generation_config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json"
        ]
    );
    assert_eq!(model.report.parameters, 279_360);
}

#[tokio::test]
async fn fixed_tokenizer_competition_fetches_no_tokenizer() {
    let t = TestHub::start().await;
    let id = t.publish("alice/tiny-llama", &fixture("llama"), HOTKEY);
    let mut c = localnet_constraints();
    c.tokenizer = Some("Xenova/gpt-4".into());
    let model = t.hub.fetch(HOTKEY, &id, &c, &[]).await.unwrap();
    assert!(model.tokenizer.is_none());
    assert_eq!(t.server.stats().bytes_served("alice/tiny-llama", "tokenizer.json"), 0);
    assert!(!model.snapshot.parent().unwrap().parent().unwrap().join("tokenizers").exists());
}

#[tokio::test]
async fn oversized_repo_is_refused_before_any_byte() {
    let t = TestHub::start().await;
    let id = t.publish("carol/big", &fixture("llama"), HOTKEY);
    let mut c = localnet_constraints();
    c.max_bytes = 1_000_000;
    let err = t.hub.fetch(HOTKEY, &id, &c, &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::TooLarge { max: 1_000_000, .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(HOTKEY) && text.contains("carol/big") && text.contains(id.commit.as_deref().unwrap()),
        "{text}"
    );
    assert!(!err.is_transient());
    assert_eq!(t.weight_bytes_served(), 0);
    assert!(t.server.stats().requests().iter().all(|r| !r.path.contains("/resolve/")), "no file was requested");
    t.assert_nothing_stored(&id, HOTKEY);
}

#[tokio::test]
async fn hash_mismatch_and_copied_commitments_are_rejected() {
    let t = TestHub::start().await;
    let honest = t.publish("dave/model", &fixture("llama"), HOTKEY);
    // Someone else's commitment copied verbatim does not verify under another hotkey.
    let err = t.hub.fetch(OTHER_HOTKEY, &honest, &localnet_constraints(), &[]).await.unwrap_err();
    let FetchFailure::HashMismatch { dir_hash, computed_secure_hash, committed } = &err.failure else {
        panic!("{err}")
    };
    assert_eq!(dir_hash, &upstream_dir_hash(&fixture("llama")));
    assert_eq!(committed, honest.secure_hash.as_ref().unwrap());
    let text = err.to_string();
    assert!(
        text.contains(OTHER_HOTKEY)
            && text.contains(dir_hash)
            && text.contains(computed_secure_hash)
            && text.contains(committed)
    );
    assert_eq!(err.dir_hash.as_deref(), Some(dir_hash.as_str()));
    t.assert_nothing_stored(&honest, OTHER_HOTKEY);

    // A commitment whose hash is of other content.
    let sha = honest.commit.clone().unwrap();
    let lie = ModelId::for_commit("dave/model", &sha, &scoring::hashing::secure_hash("nope", HOTKEY), 1).unwrap();
    let err = t.hub.fetch(HOTKEY, &lie, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::HashMismatch { .. }), "{err}");
    t.assert_nothing_stored(&lie, HOTKEY);

    // Upstream's legacy 4-field form carries the plain directory hash: accepted.
    let legacy = ModelId::parse(&format!("dave:model:{sha}:{}", upstream_dir_hash(&fixture("llama")))).unwrap();
    t.hub.fetch(HOTKEY, &legacy, &localnet_constraints(), &[]).await.unwrap();
}

#[tokio::test]
async fn branch_names_and_bad_ids_make_no_request() {
    let t = TestHub::start().await;
    let honest = t.publish("erin/model", &fixture("llama"), HOTKEY);
    for commit in ["main", "abc123", &honest.commit.clone().unwrap().to_uppercase()] {
        let mut id = honest.clone();
        id.commit = Some(commit.to_string());
        let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
        assert!(matches!(err.failure, FetchFailure::Key(KeyError::NotFullCommit(_))), "{err}");
        assert!(err.to_string().contains("not a full 40-hex sha"), "{err}");
    }
    let mut id = honest.clone();
    id.commit = None;
    assert!(matches!(
        t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err().failure,
        FetchFailure::Key(KeyError::NoCommit)
    ));
    let mut id = honest.clone();
    id.namespace = "..".into();
    assert!(matches!(
        t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err().failure,
        FetchFailure::Key(KeyError::Name(_))
    ));
    let err = t.hub.fetch("../../etc", &honest, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Key(KeyError::Name(_))));
    assert!(t.server.stats().requests().is_empty());
}

#[tokio::test]
async fn missing_repo_revision_and_weights() {
    let t = TestHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("llama/config.json"), dir.path().join("config.json")).unwrap();
    std::fs::copy(fixture("llama/tokenizer.json"), dir.path().join("tokenizer.json")).unwrap();
    let id = t.publish("frank/no-weights", dir.path(), HOTKEY);
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::FileSet(FileSetError::NoSafetensors)), "{err}");
    t.assert_nothing_stored(&id, HOTKEY);

    std::fs::write(dir.path().join("pytorch_model.bin"), b"\x80\x02pickle").unwrap();
    let id = t.publish("frank/pickle", dir.path(), HOTKEY);
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(
        matches!(&err.failure, FetchFailure::FileSet(FileSetError::PickleOnly(f)) if f == "pytorch_model.bin"),
        "{err}"
    );
    assert!(err.to_string().contains("only pickle weights"));
    assert_eq!(t.server.stats().bytes_served("frank/pickle", "pytorch_model.bin"), 0);
    t.assert_nothing_stored(&id, HOTKEY);

    let mut ghost = id.clone();
    ghost.name = "ghost".into();
    let err = t.hub.fetch(HOTKEY, &ghost, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Hub(HubError::RepoNotFound { .. })), "{err}");
    let mut unknown = id.clone();
    unknown.commit = Some("0".repeat(40));
    let err = t.hub.fetch(HOTKEY, &unknown, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Hub(HubError::RevisionNotFound { .. })), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn unsafe_names_in_the_listing_or_index_are_refused() {
    for evil in ["../escape.json", "/etc/passwd", "a/../../b", "dir\\..\\x"] {
        let t = TestHub::start().await;
        let id = t.publish("gina/model", &fixture("llama"), HOTKEY);
        t.server.faults().add(Fault::list_extra(evil, 10));
        let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
        assert!(matches!(err.failure, FetchFailure::FileSet(FileSetError::Listing(_))), "{evil}: {err}");
        assert!(err.to_string().contains("not a safe relative path"), "{err}");
        assert!(t.server.stats().requests().iter().all(|r| !r.path.contains("/resolve/")));
        t.assert_nothing_stored(&id, HOTKEY);
    }

    // A shard index pointing outside the repository.
    let t = TestHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "model-00001-of-00002.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture("qwen2").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        br#"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"../../outside.safetensors"}}"#,
    )
    .unwrap();
    let id = t.publish("gina/index", dir.path(), HOTKEY);
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::FileSet(FileSetError::BadIndex(_))), "{err}");
    assert_eq!(t.weight_bytes_served(), 0);
    t.assert_nothing_stored(&id, HOTKEY);
}

#[tokio::test]
async fn symlinks_are_never_committed_nor_written_through() {
    let t = TestHub::start().await;
    // A repository folder with a link cannot be committed to the local hub.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("llama/config.json"), dir.path().join("config.json")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("model.safetensors")).unwrap();
    let err = t.local.commit_folder("henry/linked", dir.path()).unwrap_err();
    assert!(err.to_string().contains("symbolic links"), "{err}");

    // A link planted in the store is not followed: the fetch fails, the target stays empty.
    let id = t.publish("henry/model", &fixture("llama"), HOTKEY);
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), t.model_dir.path().join("models").join(HOTKEY)).unwrap();
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(err.to_string().contains("symbolic link or not a folder"), "{err}");
    assert!(walk(elsewhere.path()).is_empty(), "nothing written through the link");
    assert!(walk(&t.model_dir.path().join(".hub-staging")).iter().all(|p| !p.is_file()));
}

fn write_raw(path: &Path, header: &[u8], header_len: u64, data: &[u8]) {
    let mut bytes = header_len.to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn hostile_safetensors_headers_are_refused() {
    let header = br#"{"model.embed_tokens.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"model.norm.weight":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#;
    type WriteWeights = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, WriteWeights)> = vec![
        ("huge header length", Box::new(|p: &Path| write_raw(p, b"{}", 1 << 40, &[]))),
        ("header longer than the file", Box::new(|p: &Path| write_raw(p, b"{}", 1000, &[]))),
        ("overlapping offsets", Box::new(move |p: &Path| write_raw(p, header, header.len() as u64, &[0u8; 16]))),
        (
            "size claim beyond the data",
            Box::new(|p: &Path| {
                let h = br#"{"model.norm.weight":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#;
                write_raw(p, h, h.len() as u64, &[0u8; 64])
            }),
        ),
    ];
    for (what, write) in cases {
        let t = TestHub::start().await;
        let dir = tempfile::tempdir().unwrap();
        llama_model(dir.path(), 1, true, small);
        write(&dir.path().join("model.safetensors"));
        let id = t.publish("ivan/bad-header", dir.path(), HOTKEY);
        let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
        assert!(matches!(err.failure, FetchFailure::Constraint(ConstraintError::Weights(_))), "{what}: {err}");
        assert!(err.to_string().contains("invalid safetensors header"), "{what}: {err}");
        assert!(!err.is_transient());
        t.assert_nothing_stored(&id, HOTKEY);
    }
}

#[tokio::test]
async fn absurd_or_disallowed_configs_are_refused_before_weights() {
    let cases = [
        (r#""hidden_size": 1000000000000"#, "outside"),
        (r#""num_hidden_layers": 0"#, "outside"),
        (r#""vocab_size": 99999999999"#, "outside"),
        (r#""max_position_embeddings": 1e300"#, "outside"),
        (r#""model_type": "gpt2""#, "not a supported causal LM"),
    ];
    for (patch, expect) in cases {
        let t = TestHub::start().await;
        let dir = tempfile::tempdir().unwrap();
        llama_model(dir.path(), 1, true, small);
        let mut cfg: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
        let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&format!("{{{patch}}}")).unwrap();
        cfg.extend(fields);
        cfg.remove("architectures");
        std::fs::write(dir.path().join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
        let id = t.publish("judy/absurd", dir.path(), HOTKEY);
        let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{patch}: {err}");
        assert_eq!(t.weight_bytes_served(), 0, "{patch}");
        t.assert_nothing_stored(&id, HOTKEY);
    }

    let t = TestHub::start().await;
    let id = t.publish("judy/phi", &fixture("phi"), HOTKEY);
    let mut c = localnet_constraints();
    c.allowed_architectures.retain(|a| a != "PhiForCausalLM");
    let err = t.hub.fetch(HOTKEY, &id, &c, &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Constraint(ConstraintError::ArchitectureNotAllowed { .. })), "{err}");
    assert_eq!(t.weight_bytes_served(), 0);
}

#[tokio::test]
async fn constraint_failures_after_download_leave_nothing() {
    let t = TestHub::start().await;
    let id = t.publish("kim/llama", &fixture("llama"), HOTKEY);
    let mut c = localnet_constraints();
    c.max_model_parameter_size = 410_047;
    let err = t.hub.fetch(HOTKEY, &id, &c, &[]).await.unwrap_err();
    assert!(
        matches!(err.failure, FetchFailure::Constraint(ConstraintError::TooManyParameters { count: 410_048, .. })),
        "{err}"
    );
    assert_eq!(err.dir_hash.as_deref(), Some(upstream_dir_hash(&fixture("llama")).as_str()));
    t.assert_nothing_stored(&id, HOTKEY);
    c.max_model_parameter_size = 1_000_000;
    c.min_model_parameter_size = 410_049;
    let err = t.hub.fetch(HOTKEY, &id, &c, &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Constraint(ConstraintError::TooFewParameters { .. })), "{err}");

    // Weights far above upstream's hard norm limit.
    let dir = tempfile::tempdir().unwrap();
    llama_model(dir.path(), 2, false, |name, i| if name.contains("v_proj") { 100.0 } else { small(name, i) });
    let id = t.publish("kim/loud", dir.path(), HOTKEY);
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    let FetchFailure::Constraint(ConstraintError::Norms(report)) = &err.failure else { panic!("{err}") };
    assert_eq!(report.hard_violation.as_ref().unwrap().0, "layer 0 v_proj");
    assert!(err.to_string().contains("above the hard limit"), "{err}");
    t.assert_nothing_stored(&id, HOTKEY);

    // The miner's tokenizer is needed and missing: refused before any weight byte.
    let dir = tempfile::tempdir().unwrap();
    llama_model(dir.path(), 1, true, small);
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let before = t.weight_bytes_served();
    let id = t.publish("kim/no-tokenizer", dir.path(), HOTKEY);
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Constraint(ConstraintError::NoTokenizer(_))), "{err}");
    assert_eq!(t.weight_bytes_served(), before);
}

#[tokio::test]
async fn server_dying_mid_file_then_resume() {
    let t = TestHub::start().await;
    let id = t.publish("leo/model", &fixture("llama"), HOTKEY);
    let size = std::fs::metadata(fixture("llama/model.safetensors")).unwrap().len();
    // The server sends 300 kB of the weights, drops the connection, then answers only 503s.
    t.server.faults().add(Fault::cut_after("model.safetensors", 300_000).times(1));
    t.server.faults().add(Fault::status(Route::Resolve, 503).for_path("model.safetensors").after(1));
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(matches!(err.failure, FetchFailure::Hub(HubError::RetriesExhausted { .. })), "{err}");
    assert!(err.to_string().contains(HOTKEY), "{err}");
    assert!(!t.hub.store.contains(&hub::ModelKey::new(HOTKEY, &id).unwrap()), "no model is visible");
    let parts: Vec<_> = walk(&t.model_dir.path().join(".hub-staging"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with("model.safetensors.part"))
        .collect();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].metadata().unwrap().len(), 300_000);

    // The server is back: the next fetch resumes where the bytes stop.
    t.server.faults().clear();
    let model = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
    assert_eq!(model.dir_hash, upstream_dir_hash(&fixture("llama")));
    let ranged: Vec<_> = t.server.stats().requests().into_iter().filter(|r| r.range.is_some()).collect();
    assert!(ranged.iter().any(|r| r.range.as_deref() == Some("bytes=300000-") && r.status == 206), "{ranged:?}");
    assert_eq!(t.server.stats().bytes_served("leo/model", "model.safetensors"), size, "each byte sent once");
}

#[tokio::test]
async fn cut_connections_resume_within_one_fetch() {
    let t = TestHub::start().await;
    let id = t.publish("leo/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::cut_after("model.safetensors", 500_000).times(3));
    let model = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
    assert_eq!(model.dir_hash, upstream_dir_hash(&fixture("llama")));
    let size = std::fs::metadata(fixture("llama/model.safetensors")).unwrap().len();
    assert_eq!(t.server.stats().bytes_served("leo/model", "model.safetensors"), size);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let t = TestHub::start().await;
    let id = t.publish("mia/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::status(Route::Info, 429).retry_after("1").times(1));
    t.server.faults().add(Fault::status(Route::Resolve, 503).times(2));
    t.server.faults().add(Fault::status(Route::Resolve, 429).for_path("model.safetensors").retry_after("1").times(1));
    let start = Instant::now();
    let model = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
    // Two `Retry-After: 1` were honoured (the policy's own backoff is 10-50 ms).
    assert!(start.elapsed() >= Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(model.dir_hash, upstream_dir_hash(&fixture("llama")));
    let statuses: Vec<u16> = t.server.stats().requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 2);
    assert_eq!(statuses.iter().filter(|&&s| s == 503).count(), 2);

    // A hub asking for a longer pause than we accept: a transient, named failure.
    let t = TestHub::start().await;
    let id = t.publish("mia/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::status(Route::Info, 429).retry_after("3600"));
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Hub(HubError::RetryAfterTooLong { .. })), "{err}");
    assert!(err.is_transient());

    // Endless 500s end after the bounded attempts.
    t.server.faults().clear();
    t.server.faults().add(Fault::status(Route::Info, 500));
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Hub(HubError::RetriesExhausted { attempts: 4, .. })), "{err}");
}

#[tokio::test]
async fn lying_listing_sizes_never_write_more_than_listed() {
    // Listed smaller than the file: the size check passes on the lie, the download stops at
    // the listed size.
    let t = TestHub::start().await;
    let id = t.publish("ned/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::list_size("model.safetensors", 1000));
    let mut c = localnet_constraints();
    c.max_bytes = 300_000;
    let err = t.hub.fetch(HOTKEY, &id, &c, &[]).await.unwrap_err();
    let size = std::fs::metadata(fixture("llama/model.safetensors")).unwrap().len();
    // Refused on the announced length, before a body byte was written.
    assert!(
        matches!(&err.failure, FetchFailure::Hub(HubError::SizeMismatch { listed: 1000, actual, .. }) if *actual == size.to_string()),
        "{err}"
    );
    t.assert_nothing_stored(&id, HOTKEY);

    // Listed larger than the file.
    let t = TestHub::start().await;
    let id = t.publish("ned/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::list_size("model.safetensors", 5_000_000));
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(&err.failure, FetchFailure::Hub(HubError::SizeMismatch { listed: 5_000_000, .. })), "{err}");
    t.assert_nothing_stored(&id, HOTKEY);

    // A listed file that is not there.
    let t = TestHub::start().await;
    let id = t.publish("ned/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::list_extra("generation_config.json.bak", 10));
    t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
}

#[tokio::test]
async fn slow_downloads_hit_their_budget_and_resume_later() {
    let t = TestHub::start_with(Default::default(), StoreOptions::default(), |cfg| {
        cfg.file_deadline_base = Duration::from_millis(700);
        cfg.min_bytes_per_sec = u64::MAX;
    })
    .await;
    let id = t.publish("olga/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::throttle("model.safetensors", 200_000));
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Hub(HubError::Deadline { .. })), "{err}");
    assert!(err.is_transient());
    let partial = t.server.stats().bytes_served("olga/model", "model.safetensors");
    assert!(partial > 0);
    t.server.faults().clear();
    t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
    assert!(t.server.stats().requests().iter().any(|r| r.range.is_some()), "the second fetch resumed");
}

#[tokio::test]
async fn token_is_sent_when_configured() {
    let opts = hub::server::ServerOptions { require_token: Some("s3cret".into()), page_size: 1000 };
    let t = TestHub::start_with(opts.clone(), StoreOptions::default(), |_| {}).await;
    let id = t.publish("pat/private", &fixture("llama"), HOTKEY);
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Hub(HubError::RepoNotFound { .. })), "{err}");
    let t = TestHub::start_with(opts, StoreOptions::default(), |cfg| cfg.token = Some("s3cret".into())).await;
    let id = t.publish("pat/private", &fixture("llama"), HOTKEY);
    t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
    assert!(t.server.stats().requests().iter().all(|r| r.authorized && r.status < 300));
}

#[tokio::test]
async fn one_fetch_per_model_at_a_time() {
    let t = TestHub::start().await;
    let id = t.publish("quin/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::delay(Route::Info, Duration::from_millis(300)).times(1));
    let c = localnet_constraints();
    let (a, b) = tokio::join!(t.hub.fetch(HOTKEY, &id, &c, &[]), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        t.hub.fetch(HOTKEY, &id, &c, &[]).await
    });
    a.unwrap();
    let err = b.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Busy) && err.is_transient(), "{err}");
}

#[tokio::test]
async fn sizes_from_the_tree_when_the_info_has_none() {
    let t = TestHub::start().await;
    let id = t.publish("rita/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::new(Route::Info, hub::server::FaultAction::InfoWithoutSizes));
    let model = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap();
    assert_eq!(model.dir_hash, upstream_dir_hash(&fixture("llama")));
    assert!(t.server.stats().requests().iter().any(|r| r.path.contains("/tree/")));
    // And the tree's sizes are checked against max_bytes just the same.
    let t = TestHub::start().await;
    let id = t.publish("rita/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::new(Route::Info, hub::server::FaultAction::InfoWithoutSizes));
    let mut c = localnet_constraints();
    c.max_bytes = 1000;
    let err = t.hub.fetch(HOTKEY, &id, &c, &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn content_not_matching_the_announced_sha256_is_discarded() {
    let t = TestHub::start().await;
    let id = t.publish("sam/model", &fixture("llama"), HOTKEY);
    t.server.faults().add(Fault::new(
        Route::Any,
        hub::server::FaultAction::ListSha256 { path: "model.safetensors".into(), sha256: "ab".repeat(32) },
    ));
    let err = t.hub.fetch(HOTKEY, &id, &localnet_constraints(), &[]).await.unwrap_err();
    assert!(matches!(err.failure, FetchFailure::Hub(HubError::ContentMismatch { .. })), "{err}");
    assert!(err.is_transient(), "the hub's fault, not the miner's");
    t.assert_nothing_stored(&id, HOTKEY);
}
