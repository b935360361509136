//! From a miner's commitment to a verified model in the store: the download contract.
//!
//! 1. The commit must be a full 40-hex sha (no request is made otherwise).
//! 2. The listing at that commit (`revision?blobs=true`) must resolve to that very commit, have
//!    safe names and sizes, and total at most `max_bytes` — checked before any file is fetched.
//! 3. `config.json` (and the shard index) come first: an unsupported or disallowed architecture
//!    or an absurd config is refused before any weight byte.
//! 4. The disk budget makes room (or refuses); then the weights, the generation config and (for
//!    a competition without a fixed tokenizer) the tokenizer files are fetched into staging.
//! 5. Directory hash and secure hash are checked against the commitment; every constraint is
//!    checked; only then is the model published (one rename).
//!
//! A failure that is the miner's doing removes the staging folder; a transient one (network,
//! hub, local disk) keeps it so that the next attempt resumes.

use crate::architecture::ModelConfig;
use crate::cleanup::BudgetError;
use crate::client::{HubClient, HubError};
use crate::constraints::{check_architecture, check_snapshot, ConstraintError, ConstraintReport};
use crate::dir_hash::{directory_hash_with_files, DirHashError};
use crate::fileset::{self, FileSetError, Listing, WeightsLayout};
use crate::store::{remove_path, KeyError, ModelKey, ModelStore, StoreError};
use crate::transfer::FileRequest;
use base64::Engine as _;
use scoring::competition::ModelConstraints;
use scoring::hashing::secure_hash;
use scoring::ModelId;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whose model a failure is about: every error names the miner, the repository and the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerRef {
    pub hotkey: String,
    pub repo: String,
    pub commit: String,
}

impl std::fmt::Display for MinerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "miner {} ({}@{})", self.hotkey, self.repo, self.commit)
    }
}

/// Why a commitment did not produce a verified model.
#[derive(Debug, thiserror::Error)]
pub enum FetchFailure {
    #[error("invalid commitment: {0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Hub(#[from] HubError),
    #[error("the hub resolved commit {asked} to {got}")]
    RevisionMismatch { asked: String, got: String },
    #[error("the repository is {bytes} bytes, over the {max} byte limit (nothing was downloaded)")]
    TooLarge { bytes: u64, max: u64 },
    #[error("{0}")]
    FileSet(#[from] FileSetError),
    #[error(
        "hash mismatch: the downloaded files hash to {dir_hash} (secure hash {computed_secure_hash}), \
         the commitment says {committed}"
    )]
    HashMismatch { dir_hash: String, computed_secure_hash: String, committed: String },
    #[error("{0}")]
    Constraint(#[from] ConstraintError),
    #[error("{0}")]
    Budget(#[from] BudgetError),
    #[error("model store: {0}")]
    Store(#[from] StoreError),
    #[error("hashing the download: {0}")]
    Hash(#[from] DirHashError),
    #[error("this model is already being downloaded")]
    Busy,
}

/// A failed fetch, naming the miner.
#[derive(Debug, thiserror::Error)]
#[error("{miner}: {failure}")]
pub struct FetchError {
    pub miner: MinerRef,
    pub failure: FetchFailure,
    /// The directory hash, when the files were downloaded (upstream records it even when a
    /// later check fails).
    pub dir_hash: Option<String>,
}

impl FetchError {
    /// Not the miner's doing (network, hub, our disk or budget): try again later. Anything else
    /// stands until the miner commits something new.
    pub fn is_transient(&self) -> bool {
        is_transient_failure(&self.failure)
    }
}

/// A verified model in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub key: ModelKey,
    pub snapshot: PathBuf,
    /// The miner's tokenizer, for competitions without a fixed one.
    pub tokenizer: Option<PathBuf>,
    pub dir_hash: String,
    pub report: ConstraintReport,
    /// Bytes that came over the network in this call (0 when the store already had it).
    pub downloaded_bytes: u64,
    /// Models evicted to make room for this one.
    pub evicted: Vec<ModelKey>,
}

/// The validator's entry point: the client and the store together.
#[derive(Clone)]
pub struct Hub {
    pub client: HubClient,
    pub store: Arc<ModelStore>,
}

struct InFlight<'a> {
    store: &'a ModelStore,
    key: ModelKey,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.store.in_flight.lock().expect("not poisoned").remove(&self.key);
    }
}

/// Whether the files hash to what the commitment says: upstream accepts the legacy form's plain
/// hash, else requires `secure_hash(dir_hash, hotkey)`.
pub fn verify_hash(id: &ModelId, hotkey: &str, dir_hash: &str) -> Result<(), FetchFailure> {
    let computed = secure_hash(dir_hash, hotkey);
    if id.hash.as_deref() == Some(dir_hash) || id.secure_hash.as_deref() == Some(computed.as_str()) {
        return Ok(());
    }
    Err(FetchFailure::HashMismatch {
        dir_hash: dir_hash.to_string(),
        computed_secure_hash: computed,
        committed: id.secure_hash.clone().unwrap_or_else(|| "None".into()),
    })
}

fn hex_of_b64(b64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Hub {
    pub fn new(client: HubClient, store: Arc<ModelStore>) -> Hub {
        Hub { client, store }
    }

    /// Downloads, verifies and stores the model a miner committed, or says why not.
    /// `eviction_order` lists stored models from least to most valuable (see
    /// [`ModelStore::make_room`]). A model already in the store is re-hashed and re-checked
    /// instead of downloaded again.
    pub async fn fetch(
        &self,
        hotkey: &str,
        id: &ModelId,
        constraints: &ModelConstraints,
        eviction_order: &[ModelKey],
    ) -> Result<StoredModel, FetchError> {
        let miner = MinerRef {
            hotkey: hotkey.to_string(),
            repo: id.repo_id(),
            commit: id.commit.clone().unwrap_or_else(|| "None".into()),
        };
        let mut dir_hash = None;
        let result = async {
            let key = ModelKey::new(hotkey, id)?;
            let _guard = self.claim(&key)?;
            if self.store.contains(&key) {
                return self.recheck_stored(&key, id, constraints, &mut dir_hash).await;
            }
            self.store.check_target(&key)?;
            let staging = self.store.create_staging(&key)?;
            let outcome =
                self.download_and_verify(&key, id, constraints, eviction_order, &staging, &mut dir_hash).await;
            // Keep the partial files of a transient failure so that the next attempt resumes.
            // (A lying listing or a corrupted file is transient but must not be resumed from.)
            if let Err(failure) = &outcome {
                let resumable = is_transient_failure(failure)
                    && !matches!(
                        failure,
                        FetchFailure::Hub(HubError::SizeMismatch { .. } | HubError::ContentMismatch { .. })
                    );
                if !resumable {
                    crate::store::remove_staging(&staging)?;
                }
            }
            outcome
        }
        .await;
        result.map_err(|failure| {
            let err = FetchError { miner, failure, dir_hash };
            if err.is_transient() {
                tracing::warn!(error = %err, "model download failed, will retry later");
            } else {
                tracing::warn!(
                    hotkey = %err.miner.hotkey, repo = %err.miner.repo, commit = %err.miner.commit,
                    error = %err, "model rejected"
                );
            }
            err
        })
    }

    fn claim(&self, key: &ModelKey) -> Result<InFlight<'_>, FetchFailure> {
        if !self.store.in_flight.lock().expect("not poisoned").insert(key.clone()) {
            return Err(FetchFailure::Busy);
        }
        Ok(InFlight { store: &self.store, key: key.clone() })
    }

    /// A model already in the store: hash and constraints again (the listing total is not kept,
    /// so `max_bytes` is checked against the bytes on disk, a lower bound of it).
    async fn recheck_stored(
        &self,
        key: &ModelKey,
        id: &ModelId,
        constraints: &ModelConstraints,
        dir_hash_out: &mut Option<String>,
    ) -> Result<StoredModel, FetchFailure> {
        let snapshot = self.store.snapshot_dir(key);
        let tokenizer = self.store.tokenizer_dir(key);
        let (dir_hash, report) = {
            let (snapshot, tokenizer, constraints) = (snapshot.clone(), tokenizer.clone(), constraints.clone());
            let (id, hotkey) = (id.clone(), key.hotkey.clone());
            tokio::task::spawn_blocking(move || -> Result<_, FetchFailure> {
                let (dir_hash, _) = directory_hash_with_files(&snapshot)?;
                verify_hash(&id, &hotkey, &dir_hash)?;
                let bytes = crate::store::disk_bytes(&snapshot).unwrap_or(0)
                    + crate::store::disk_bytes(&tokenizer).unwrap_or(0);
                let tok = tokenizer.is_dir().then_some(tokenizer.as_path());
                let report = check_snapshot(&snapshot, tok, bytes, &constraints)?;
                Ok((dir_hash, report))
            })
            .await
            .expect("hashing task does not panic")?
        };
        *dir_hash_out = Some(dir_hash.clone());
        Ok(StoredModel {
            key: key.clone(),
            tokenizer: tokenizer.is_dir().then_some(tokenizer),
            snapshot,
            dir_hash,
            report,
            downloaded_bytes: 0,
            evicted: Vec::new(),
        })
    }

    async fn download_and_verify(
        &self,
        key: &ModelKey,
        id: &ModelId,
        constraints: &ModelConstraints,
        eviction_order: &[ModelKey],
        staging: &Path,
        dir_hash_out: &mut Option<String>,
    ) -> Result<StoredModel, FetchFailure> {
        let repo = key.repo_id();
        let commit = key.commit.as_str();
        let info = self.client.model_info(&repo, commit).await?;
        if info.sha != commit {
            return Err(FetchFailure::RevisionMismatch { asked: commit.to_string(), got: info.sha });
        }
        let mut files = info.files;
        if files.iter().any(|f| f.size.is_none()) {
            // Older hub answers lack sizes in the info: the tree listing has them.
            files = self.client.list_tree(&repo, commit).await?;
        }
        let listing = Listing::new(files)?;
        if listing.total_bytes > constraints.max_bytes {
            return Err(FetchFailure::TooLarge { bytes: listing.total_bytes, max: constraints.max_bytes });
        }
        let plan = fileset::plan(&listing)?;
        let tokenizer_files = match constraints.tokenizer {
            Some(_) => Vec::new(),
            None => {
                let files = fileset::tokenizer_files(&listing);
                if !files.iter().any(|f| f == fileset::REQUIRED_TOKENIZER_FILE) {
                    return Err(ConstraintError::NoTokenizer("the repository has no tokenizer.json".into()).into());
                }
                files
            }
        };
        let snapshot_stage = staging.join("snapshot");
        let tokenizer_stage = staging.join("tokenizer");
        crate::store::ensure_real_dir(staging, Path::new("snapshot"))?;
        let mut downloaded = 0;

        // Small files first: a bad config or index is refused before any weight byte.
        downloaded +=
            self.fetch_files(&repo, commit, &listing, &snapshot_stage, &[fileset::CONFIG.to_string()]).await?;
        let config = std::fs::read(snapshot_stage.join(fileset::CONFIG))
            .map_err(|e| StoreError::Io { path: snapshot_stage.join(fileset::CONFIG), source: e })?;
        let cfg = ModelConfig::parse(&config).map_err(ConstraintError::from)?;
        check_architecture(&cfg, constraints)?;
        let weights = match plan.weights {
            WeightsLayout::Single => vec![fileset::SINGLE_WEIGHTS.to_string()],
            WeightsLayout::Sharded => {
                let index = [fileset::WEIGHTS_INDEX.to_string()];
                downloaded += self.fetch_files(&repo, commit, &listing, &snapshot_stage, &index).await?;
                let bytes = std::fs::read(snapshot_stage.join(fileset::WEIGHTS_INDEX))
                    .map_err(|e| StoreError::Io { path: snapshot_stage.join(fileset::WEIGHTS_INDEX), source: e })?;
                fileset::shards_from_index(&bytes, &listing)?
            }
        };
        let mut rest = weights.clone();
        if plan.has_generation_config {
            rest.push(fileset::GENERATION_CONFIG.to_string());
        }
        let mut wanted: Vec<String> = vec![fileset::CONFIG.to_string()];
        if plan.weights == WeightsLayout::Sharded {
            wanted.push(fileset::WEIGHTS_INDEX.to_string());
        }
        wanted.extend(rest.iter().cloned());
        let needed: u64 = wanted.iter().chain(&tokenizer_files).map(|f| listing.size_of(f)).sum();
        let (_reservation, evicted) = self.store.make_room(key, needed, eviction_order)?;
        remove_unplanned(&snapshot_stage, &wanted)?;

        downloaded += self.fetch_files(&repo, commit, &listing, &snapshot_stage, &rest).await?;
        if !tokenizer_files.is_empty() {
            crate::store::ensure_real_dir(staging, Path::new("tokenizer"))?;
            remove_unplanned(&tokenizer_stage, &tokenizer_files)?;
            downloaded += self.fetch_files(&repo, commit, &listing, &tokenizer_stage, &tokenizer_files).await?;
        }

        let (dir_hash, report) = {
            let (snap, tok, constraints) = (snapshot_stage.clone(), tokenizer_stage.clone(), constraints.clone());
            let (listing, id, hotkey) = (listing.clone(), id.clone(), key.hotkey.clone());
            type Failed = Box<(FetchFailure, Option<String>)>;
            let hashed = tokio::task::spawn_blocking(move || -> Result<_, Failed> {
                let (dir_hash, files) = directory_hash_with_files(&snap).map_err(|e| Box::new((e.into(), None)))?;
                let with_hash = |e: FetchFailure| Box::new((e, Some(dir_hash.clone())));
                for (path, hash) in &files {
                    let path = path.to_string_lossy().replace('\\', "/");
                    let expected = listing.files.get(&path).and_then(|f| f.lfs_sha256.clone());
                    if let (Some(expected), Some(actual)) = (expected, hex_of_b64(hash)) {
                        if expected != actual {
                            return Err(with_hash(HubError::ContentMismatch { path, expected, actual }.into()));
                        }
                    }
                }
                verify_hash(&id, &hotkey, &dir_hash).map_err(with_hash)?;
                let tok = tok.is_dir().then_some(tok.as_path());
                let report =
                    check_snapshot(&snap, tok, listing.total_bytes, &constraints).map_err(|e| with_hash(e.into()))?;
                Ok((dir_hash, report))
            })
            .await
            .expect("hashing task does not panic");
            match hashed {
                Ok(ok) => ok,
                Err(failed) => {
                    let (failure, hash) = *failed;
                    *dir_hash_out = hash;
                    return Err(failure);
                }
            }
        };
        *dir_hash_out = Some(dir_hash.clone());
        let snapshot = self.store.publish(key, staging)?;
        let tokenizer = self.store.tokenizer_dir(key);
        tracing::info!(model = %key, bytes = listing.total_bytes, params = report.parameters, "model verified and stored");
        Ok(StoredModel {
            key: key.clone(),
            snapshot,
            tokenizer: (!tokenizer_files.is_empty()).then_some(tokenizer),
            dir_hash,
            report,
            downloaded_bytes: downloaded,
            evicted,
        })
    }

    /// Fetches `files` into `dir` concurrently (the client bounds the concurrency).
    async fn fetch_files(
        &self,
        repo: &str,
        commit: &str,
        listing: &Listing,
        dir: &Path,
        files: &[String],
    ) -> Result<u64, FetchFailure> {
        let mut dests = Vec::with_capacity(files.len());
        for file in files {
            let rel = crate::names::safe_repo_path(file).map_err(|e| FileSetError::Listing(e.to_string()))?;
            if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::store::ensure_real_dir(dir, parent)?;
            }
            dests.push(dir.join(rel));
        }
        let jobs = files.iter().zip(&dests).map(|(file, dest)| async move {
            let req = FileRequest { repo, revision: commit, path: file, dest, size: listing.size_of(file) };
            self.client.download_file(&req).await
        });
        let fetched = futures_util::future::try_join_all(jobs).await?;
        Ok(fetched.iter().sum())
    }
}

/// See [`FetchError::is_transient`].
fn is_transient_failure(failure: &FetchFailure) -> bool {
    match failure {
        FetchFailure::Hub(e) => {
            e.is_transient() || matches!(e, HubError::SizeMismatch { .. } | HubError::BadResponse { .. })
        }
        FetchFailure::Budget(_) | FetchFailure::Store(_) | FetchFailure::Busy => true,
        FetchFailure::Hash(DirHashError::Io { .. }) => true,
        _ => false,
    }
}

/// Removes from a staging folder every file that is not planned (or the `.part` of one):
/// leftovers must not end up in the hashed snapshot.
fn remove_unplanned(dir: &Path, wanted: &[String]) -> Result<(), StoreError> {
    if !dir.is_dir() {
        return Ok(());
    }
    let files = crate::dir_hash::files_in_walk_order(dir)
        .map_err(|e| StoreError::Io { path: dir.to_path_buf(), source: std::io::Error::other(e.to_string()) })?;
    for file in files {
        let rel = file.strip_prefix(dir).unwrap_or(&file).to_string_lossy().replace('\\', "/");
        let base = rel.strip_suffix(".part").unwrap_or(&rel);
        if !wanted.iter().any(|w| w == base) {
            remove_path(&file)?;
        }
    }
    Ok(())
}
