//! The model store on disk, in upstream's layout, written so that a crash at any moment leaves
//! either a whole verified model or nothing.
//!
//! ```text
//! <model_dir>/
//!   models/<hotkey>/models--<ns>--<name>/
//!     snapshots/<commit>/      the hashed model files (real files, never links): config.json,
//!                              model.safetensors | index + shards, generation_config.json
//!     tokenizers/<commit>/     the miner's tokenizer files, only for competitions without a
//!                              fixed tokenizer; NOT part of the hash (upstream's folder has none)
//!   .hub-staging/<hotkey>/models--<ns>--<name>--<commit>/{snapshot,tokenizer}/
//!                              downloads in progress (`*.part` files resume after a crash)
//!   .hub-store.lock            held (flock) by the one process that owns the store
//! ```
//!
//! `snapshots/<commit>/` is what Python's `huggingface_hub` and transformers read for a pinned
//! commit (`from_pretrained(snapshot_dir)`, `hf_hub_download(revision=<sha>)` with
//! `local_files_only`), so the store stays readable by upstream tools. We write no `blobs/` and
//! no links: upstream realises links before hashing anyway.
//!
//! A model becomes visible by one `rename` of its complete, verified staging folder onto
//! `snapshots/<commit>` (same file system), after every file and folder was synced. The tokenizer
//! folder is renamed first; a tokenizer folder without its snapshot is an orphan that cleanup
//! removes. Staging folders untouched for longer than `partial_ttl` are swept at startup; younger
//! ones are kept so the next fetch of the same commit resumes them.

use crate::names::{check_hotkey, check_repo_id, NameError};
use scoring::commitment::is_full_commit_sha;
use scoring::ModelId;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub const MODELS_DIR: &str = "models";
pub const STAGING_DIR: &str = ".hub-staging";
pub const LOCK_FILE: &str = ".hub-store.lock";
pub const SNAPSHOTS: &str = "snapshots";
pub const TOKENIZERS: &str = "tokenizers";

/// One model of one miner at one commit: the unit the store keeps, pins and evicts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelKey {
    pub hotkey: String,
    pub namespace: String,
    pub name: String,
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Name(#[from] NameError),
    #[error("the commitment has no commit")]
    NoCommit,
    #[error("commit {0:?} is not a full 40-hex sha (a branch or short sha cannot be verified)")]
    NotFullCommit(String),
}

impl ModelKey {
    /// The key of a commitment; refuses names that are unsafe as paths and commits that are not
    /// full shas.
    pub fn new(hotkey: &str, id: &ModelId) -> Result<ModelKey, KeyError> {
        check_hotkey(hotkey)?;
        check_repo_id(&id.namespace, &id.name)?;
        let commit = id.commit.as_deref().ok_or(KeyError::NoCommit)?;
        if !is_full_commit_sha(commit) {
            return Err(KeyError::NotFullCommit(commit.to_string()));
        }
        Ok(ModelKey {
            hotkey: hotkey.to_string(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            commit: commit.to_string(),
        })
    }

    pub fn repo_id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// `models--{ns}--{name}`, the Hugging Face cache folder name.
    pub fn repo_folder(&self) -> String {
        format!("models--{}--{}", self.namespace, self.name)
    }
}

impl std::fmt::Display for ModelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "miner {} ({}/{}@{})", self.hotkey, self.namespace, self.name, self.commit)
    }
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Disk budget for models and downloads in progress (`--max-disk-gb`); `None` = no budget.
    pub max_disk_bytes: Option<u64>,
    /// Staging folders older than this are swept at startup.
    pub partial_ttl: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { max_disk_bytes: None, partial_ttl: Duration::from_secs(24 * 3600) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the model store {0} is in use by another process")]
    Locked(PathBuf),
    #[error("{0} is a symbolic link or not a folder; the store writes only through real folders")]
    NotARealDir(PathBuf),
    #[error("{0} is pinned (being evaluated) and cannot be removed")]
    Pinned(String),
    #[error("{0} already exists in the store")]
    Exists(PathBuf),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// The store. One per model dir per process (a file lock enforces one process).
pub struct ModelStore {
    root: PathBuf,
    options: StoreOptions,
    pins: Arc<Mutex<HashMap<ModelKey, usize>>>,
    pub(crate) in_flight: Mutex<HashSet<ModelKey>>,
    /// Bytes promised to downloads in progress, for the disk budget.
    pub(crate) reserved: Mutex<HashMap<ModelKey, u64>>,
    /// Held while folders under `models/` are created, renamed or pruned, so that cleanup never
    /// prunes a folder a publish has just created.
    pub(crate) layout: Mutex<()>,
    _lock: File,
}

/// A model the validator is using: cleanup and eviction leave it alone while the lease lives.
pub struct ModelLease {
    key: ModelKey,
    snapshot: PathBuf,
    pins: Arc<Mutex<HashMap<ModelKey, usize>>>,
}

impl ModelLease {
    pub fn key(&self) -> &ModelKey {
        &self.key
    }
    pub fn snapshot(&self) -> &Path {
        &self.snapshot
    }
}

impl Drop for ModelLease {
    fn drop(&mut self) {
        let mut pins = self.pins.lock().expect("not poisoned");
        if let Some(count) = pins.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                pins.remove(&self.key);
            }
        }
    }
}

/// Creates `root/rel` folder by folder, refusing to pass through a link or a file.
pub(crate) fn ensure_real_dir(root: &Path, rel: &Path) -> Result<PathBuf, StoreError> {
    let mut path = root.to_path_buf();
    for part in rel.components() {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(StoreError::NotARealDir(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
                Err(e) => return Err(StoreError::Io { path, source: e }),
            },
            Err(e) => return Err(StoreError::Io { path, source: e }),
        }
    }
    Ok(path)
}

/// fsync of a folder, so that a rename into it or a file created in it survives a power cut.
pub(crate) fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path).and_then(|f| f.sync_all()).map_err(io_err(path))
}

/// Removes a path (file, link or folder tree; links are not followed).
pub(crate) fn remove_path(path: &Path) -> Result<(), StoreError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::Io { path: path.to_path_buf(), source: e }),
    };
    let result = if meta.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Io { path: path.to_path_buf(), source: e }),
        _ => Ok(()),
    }
}

/// Removes a staging folder, and its hotkey folder when that is left empty.
pub(crate) fn remove_staging(staging: &Path) -> Result<(), StoreError> {
    remove_path(staging)?;
    if let Some(hotkey) = staging.parent() {
        // Fails harmlessly when another download of this hotkey is staged there.
        let _ = fs::remove_dir(hotkey);
    }
    Ok(())
}

/// Newest modification time of anything under `path` (itself included), links not followed.
pub fn newest_mtime(path: &Path) -> io::Result<SystemTime> {
    let meta = fs::symlink_metadata(path)?;
    let mut newest = meta.modified()?;
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            newest = newest.max(newest_mtime(&entry?.path())?);
        }
    }
    Ok(newest)
}

/// Bytes of the regular files under `path`, links not followed.
pub fn disk_bytes(path: &Path) -> io::Result<u64> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if meta.is_file() {
        return Ok(meta.len());
    }
    let mut total = 0;
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            total += disk_bytes(&entry?.path())?;
        }
    }
    Ok(total)
}

impl ModelStore {
    /// Opens (creating) the store under `model_dir`, takes its lock and sweeps stale staging.
    pub fn open(model_dir: &Path, options: StoreOptions) -> Result<ModelStore, StoreError> {
        fs::create_dir_all(model_dir).map_err(io_err(model_dir))?;
        // Canonical once: every path we compare later is built from this root.
        let root = fs::canonicalize(model_dir).map_err(io_err(model_dir))?;
        let lock_path = root.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        fs4::FileExt::try_lock(&lock).map_err(|_| StoreError::Locked(root.clone()))?;
        ensure_real_dir(&root, Path::new(MODELS_DIR))?;
        ensure_real_dir(&root, Path::new(STAGING_DIR))?;
        let store = ModelStore {
            root,
            options,
            pins: Arc::default(),
            in_flight: Mutex::default(),
            reserved: Mutex::default(),
            layout: Mutex::default(),
            _lock: lock,
        };
        store.sweep_staging()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// `<model_dir>/models/<hotkey>/models--<ns>--<name>`.
    pub fn repo_dir(&self, key: &ModelKey) -> PathBuf {
        self.root.join(MODELS_DIR).join(&key.hotkey).join(key.repo_folder())
    }

    /// Where the verified model lives (it exists only once verified).
    pub fn snapshot_dir(&self, key: &ModelKey) -> PathBuf {
        self.repo_dir(key).join(SNAPSHOTS).join(&key.commit)
    }

    /// Where the miner's tokenizer lives, for competitions without a fixed tokenizer.
    pub fn tokenizer_dir(&self, key: &ModelKey) -> PathBuf {
        self.repo_dir(key).join(TOKENIZERS).join(&key.commit)
    }

    /// The staging folder of a download (created on demand, through real folders only).
    pub fn staging_dir(&self, key: &ModelKey) -> PathBuf {
        self.root.join(STAGING_DIR).join(&key.hotkey).join(format!("{}--{}", key.repo_folder(), key.commit))
    }

    /// Checks that the existing part of the model's path in `models/` passes through real
    /// folders only (a planted link would make us write outside the store).
    pub(crate) fn check_target(&self, key: &ModelKey) -> Result<(), StoreError> {
        let mut path = self.root.join(MODELS_DIR);
        for part in [key.hotkey.as_str(), &key.repo_folder(), SNAPSHOTS] {
            path.push(part);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(StoreError::NotARealDir(path)),
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    pub(crate) fn create_staging(&self, key: &ModelKey) -> Result<PathBuf, StoreError> {
        let rel = self.staging_dir(key).strip_prefix(&self.root).expect("under root").to_path_buf();
        ensure_real_dir(&self.root, &rel)
    }

    /// Whether the verified snapshot of `key` is in the store.
    pub fn contains(&self, key: &ModelKey) -> bool {
        fs::symlink_metadata(self.snapshot_dir(key)).is_ok_and(|m| m.is_dir())
    }

    /// Pins a model for as long as the lease lives (e.g. during its evaluation).
    pub fn pin(&self, key: &ModelKey) -> ModelLease {
        *self.pins.lock().expect("not poisoned").entry(key.clone()).or_insert(0) += 1;
        ModelLease { key: key.clone(), snapshot: self.snapshot_dir(key), pins: self.pins.clone() }
    }

    pub fn is_pinned(&self, key: &ModelKey) -> bool {
        self.pins.lock().expect("not poisoned").contains_key(key)
    }

    pub(crate) fn pinned_keys(&self) -> HashSet<ModelKey> {
        self.pins.lock().expect("not poisoned").keys().cloned().collect()
    }

    /// Removes stale staging folders (older than `partial_ttl`) and anything else there that is
    /// not a staging folder. Returns what was removed.
    pub fn sweep_staging(&self) -> Result<Vec<PathBuf>, StoreError> {
        let staging = self.root.join(STAGING_DIR);
        let now = SystemTime::now();
        let mut removed = Vec::new();
        let in_flight = self.in_flight.lock().expect("not poisoned").clone();
        let busy: HashSet<PathBuf> = in_flight.iter().map(|k| self.staging_dir(k)).collect();
        for hotkey in fs::read_dir(&staging).map_err(io_err(&staging))? {
            let hotkey = hotkey.map_err(io_err(&staging))?.path();
            if !fs::symlink_metadata(&hotkey).is_ok_and(|m| m.is_dir()) {
                remove_path(&hotkey)?;
                removed.push(hotkey);
                continue;
            }
            for entry in fs::read_dir(&hotkey).map_err(io_err(&hotkey))? {
                let path = entry.map_err(io_err(&hotkey))?.path();
                if busy.contains(&path) {
                    continue;
                }
                let age = newest_mtime(&path).ok().and_then(|t| now.duration_since(t).ok());
                let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
                if !is_dir || age.is_none_or(|age| age >= self.options.partial_ttl) {
                    remove_path(&path)?;
                    tracing::info!(path = %path.display(), "removed stale download folder");
                    removed.push(path);
                }
            }
            // An emptied hotkey folder goes too (fails harmlessly when not empty).
            let _ = fs::remove_dir(&hotkey);
        }
        Ok(removed)
    }

    /// Makes a complete, verified staging folder visible: syncs it, renames the tokenizer
    /// folder (if any) then the snapshot into place, syncs the parents, drops the staging folder.
    pub(crate) fn publish(&self, key: &ModelKey, staging: &Path) -> Result<PathBuf, StoreError> {
        let snapshot_stage = staging.join("snapshot");
        let tokenizer_stage = staging.join("tokenizer");
        sync_tree(&snapshot_stage)?;
        let _layout = self.layout.lock().expect("not poisoned");
        let repo_rel = self.repo_dir(key).strip_prefix(&self.root).expect("under root").to_path_buf();
        let snapshots = ensure_real_dir(&self.root, &repo_rel.join(SNAPSHOTS))?;
        let target = snapshots.join(&key.commit);
        if fs::symlink_metadata(&target).is_ok() {
            return Err(StoreError::Exists(target));
        }
        if tokenizer_stage.is_dir() {
            sync_tree(&tokenizer_stage)?;
            let tokenizers = ensure_real_dir(&self.root, &repo_rel.join(TOKENIZERS))?;
            let tok_target = tokenizers.join(&key.commit);
            remove_path(&tok_target)?;
            fs::rename(&tokenizer_stage, &tok_target).map_err(io_err(&tok_target))?;
            sync_dir(&tokenizers)?;
        }
        fs::rename(&snapshot_stage, &target).map_err(io_err(&target))?;
        sync_dir(&snapshots)?;
        remove_staging(staging)?;
        Ok(target)
    }

    /// Removes a model (snapshot first, so it disappears atomically, then its tokenizer),
    /// refusing a pinned one.
    pub fn remove(&self, key: &ModelKey) -> Result<(), StoreError> {
        if self.is_pinned(key) {
            return Err(StoreError::Pinned(key.to_string()));
        }
        let _layout = self.layout.lock().expect("not poisoned");
        remove_snapshot_atomically(&self.snapshot_dir(key))?;
        remove_path(&self.tokenizer_dir(key))
    }

    /// Every verified model on disk.
    pub fn stored_models(&self) -> Result<Vec<StoredEntry>, StoreError> {
        let models = self.root.join(MODELS_DIR);
        let mut out = Vec::new();
        for hotkey in read_dirs(&models)? {
            let Some(hotkey_name) = file_name(&hotkey) else { continue };
            for repo in read_dirs(&hotkey)? {
                let Some((namespace, name)) = file_name(&repo)
                    .and_then(|r| r.strip_prefix("models--").map(str::to_string))
                    .and_then(|r| r.split_once("--").map(|(a, b)| (a.to_string(), b.to_string())))
                else {
                    continue;
                };
                for snapshot in read_dirs(&repo.join(SNAPSHOTS))? {
                    let Some(commit) = file_name(&snapshot) else { continue };
                    let key = ModelKey {
                        hotkey: hotkey_name.clone(),
                        namespace: namespace.clone(),
                        name: name.clone(),
                        commit,
                    };
                    let bytes = disk_bytes(&snapshot).map_err(io_err(&snapshot))?
                        + disk_bytes(&self.tokenizer_dir(&key)).map_err(io_err(&snapshot))?;
                    let modified = newest_mtime(&snapshot).map_err(io_err(&snapshot))?;
                    out.push(StoredEntry { key, bytes, modified });
                }
            }
        }
        Ok(out)
    }

    /// Bytes used by models and downloads in progress (what the disk budget counts).
    pub fn usage_bytes(&self) -> Result<u64, StoreError> {
        let models = self.root.join(MODELS_DIR);
        let staging = self.root.join(STAGING_DIR);
        Ok(disk_bytes(&models).map_err(io_err(&models))? + disk_bytes(&staging).map_err(io_err(&staging))?)
    }
}

/// A verified model on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub key: ModelKey,
    /// Snapshot plus tokenizer bytes.
    pub bytes: u64,
    pub modified: SystemTime,
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_string)
}

/// The real sub-folders of `dir` (none when it does not exist).
pub(crate) fn read_dirs(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Io { path: dir.to_path_buf(), source: e }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Moves a snapshot out of `snapshots/` in one rename, then deletes it: a crash mid-delete leaves
/// a `.deleting-*` folder (swept by cleanup), never a half-deleted model that looks whole.
pub(crate) fn remove_snapshot_atomically(snapshot: &Path) -> Result<(), StoreError> {
    if fs::symlink_metadata(snapshot).is_err() {
        return Ok(());
    }
    let parent = snapshot.parent().and_then(Path::parent).expect("snapshot is under a repo folder");
    let name = snapshot.file_name().expect("snapshot has a name").to_string_lossy();
    let doomed = parent.join(format!(".deleting-{name}-{}", std::process::id()));
    remove_path(&doomed)?;
    fs::rename(snapshot, &doomed).map_err(io_err(snapshot))?;
    remove_path(&doomed)
}

/// fsync of every file and folder under `path`.
fn sync_tree(path: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err(path))? {
            sync_tree(&entry.map_err(io_err(path))?.path())?;
        }
        sync_dir(path)
    } else {
        File::open(path).and_then(|f| f.sync_all()).map_err(io_err(path))
    }
}
