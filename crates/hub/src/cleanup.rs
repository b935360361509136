//! Keeping the store small: removal of models the validator no longer needs, and the disk
//! budget that evicts the least valuable models to make room for a download (or refuses it).
//!
//! Differences from upstream's `delete_unreferenced_models`, on purpose: paths are compared
//! canonicalised (upstream compared strings, so `./x` made valid models look stale); the grace
//! period runs from the *newest* modification under a folder (taoverse 1.0.5 used the oldest);
//! a pinned model (being evaluated) and a download in progress are never removed; an empty folder
//! is judged by its own mtime instead of living forever.

use crate::store::{
    newest_mtime, read_dirs, remove_path, remove_snapshot_atomically, ModelKey, ModelStore, StoreError, MODELS_DIR,
    SNAPSHOTS, STAGING_DIR, TOKENIZERS,
};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a cleanup pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    pub removed: Vec<PathBuf>,
    /// Unreferenced, but modified within the grace period.
    pub kept_in_grace: Vec<PathBuf>,
    /// Problems with single entries (the pass goes on, like upstream's per-hotkey `except`).
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error(
        "cannot fit: the download needs {needed} bytes, the disk budget is {budget} bytes with {used} in use, \
         and evicting every unpinned model would free only {evictable}"
    )]
    OverBudget { needed: u64, budget: u64, used: u64, evictable: u64 },
    #[error("cannot fit: the download needs {needed} more bytes and the file system has {available} available")]
    DiskFull { needed: u64, available: u64 },
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for BudgetError {
    fn from(e: StoreError) -> Self {
        BudgetError::Store(e.to_string())
    }
}

/// Bytes promised to a download; released when dropped.
pub struct Reservation<'a> {
    store: &'a ModelStore,
    key: ModelKey,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.store.reserved.lock().expect("not poisoned").remove(&self.key);
    }
}

fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl ModelStore {
    /// Removes every model not in `keep` whose newest modification is older than `grace`,
    /// except pinned ones and downloads in progress; then prunes emptied folders.
    pub fn cleanup(&self, keep: &[ModelKey], grace: Duration) -> CleanupReport {
        let mut protected: HashSet<ModelKey> = keep.iter().cloned().collect();
        protected.extend(self.pinned_keys());
        protected.extend(self.in_flight.lock().expect("not poisoned").iter().cloned());
        let keep_paths: HashSet<PathBuf> = protected
            .iter()
            .flat_map(|k| [canonical(&self.snapshot_dir(k)), canonical(&self.tokenizer_dir(k))])
            .collect();
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = CleanupReport::default();
        let models = self.root().join(MODELS_DIR);
        let hotkeys = match fs::read_dir(&models) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>(),
            Err(e) => {
                report.errors.push(format!("{}: {e}", models.display()));
                return report;
            }
        };
        let _layout = self.layout.lock().expect("not poisoned");
        for hotkey in hotkeys {
            if let Err(e) = self.clean_hotkey(&hotkey, &keep_paths, cutoff, &mut report) {
                tracing::warn!(path = %hotkey.display(), error = %e, "cleanup skipped a folder");
                report.errors.push(e.to_string());
            }
        }
        report
    }

    fn clean_hotkey(
        &self,
        hotkey: &Path,
        keep: &HashSet<PathBuf>,
        cutoff: SystemTime,
        report: &mut CleanupReport,
    ) -> Result<(), StoreError> {
        let mut candidates = Vec::new();
        if !fs::symlink_metadata(hotkey).is_ok_and(|m| m.is_dir()) {
            candidates.push(hotkey.to_path_buf());
        } else {
            for entry in fs::read_dir(hotkey).map_err(crate::store::io_err(hotkey))? {
                let repo = entry.map_err(crate::store::io_err(hotkey))?.path();
                let is_repo = fs::symlink_metadata(&repo).is_ok_and(|m| m.is_dir())
                    && repo.file_name().is_some_and(|n| n.to_string_lossy().starts_with("models--"));
                if !is_repo {
                    candidates.push(repo);
                    continue;
                }
                for entry in fs::read_dir(&repo).map_err(crate::store::io_err(&repo))? {
                    let sub = entry.map_err(crate::store::io_err(&repo))?.path();
                    let kind = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let is_dir = fs::symlink_metadata(&sub).is_ok_and(|m| m.is_dir());
                    if is_dir && (kind == SNAPSHOTS || kind == TOKENIZERS) {
                        for unit in fs::read_dir(&sub).map_err(crate::store::io_err(&sub))? {
                            let unit = unit.map_err(crate::store::io_err(&sub))?.path();
                            if !keep.contains(&canonical(&unit)) {
                                candidates.push(unit);
                            }
                        }
                    } else {
                        // blobs/, refs/, .no_exist/ from Python tools, `.deleting-*` leftovers.
                        candidates.push(sub);
                    }
                }
            }
        }
        for candidate in candidates {
            let modified = newest_mtime(&candidate).map_err(crate::store::io_err(&candidate))?;
            if modified > cutoff {
                report.kept_in_grace.push(candidate);
                continue;
            }
            let in_snapshots = candidate.parent().and_then(Path::file_name).is_some_and(|n| n == SNAPSHOTS);
            if in_snapshots {
                remove_snapshot_atomically(&candidate)?;
            } else {
                remove_path(&candidate)?;
            }
            tracing::info!(path = %candidate.display(), "removed unreferenced model files");
            report.removed.push(candidate);
        }
        prune_empty(hotkey);
        Ok(())
    }

    /// Makes room under the disk budget for a download of `needed` bytes for `key` (bytes
    /// already in its staging folder included), evicting unpinned models in `eviction_order`
    /// (least valuable first; stored models absent from it go before any listed one, oldest
    /// first). Refuses, evicting nothing, when even evicting all of them would not be enough.
    pub fn make_room(
        &self,
        key: &ModelKey,
        needed: u64,
        eviction_order: &[ModelKey],
    ) -> Result<(Reservation<'_>, Vec<ModelKey>), BudgetError> {
        let already = crate::store::disk_bytes(&self.staging_dir(key)).unwrap_or(0);
        let available = fs4::available_space(self.root()).map_err(|e| BudgetError::Store(e.to_string()))?;
        let to_write = needed.saturating_sub(already);
        let mut evicted = Vec::new();
        if let Some(budget) = self.options().max_disk_bytes {
            let in_flight = self.in_flight.lock().expect("not poisoned").clone();
            let reserved: u64 =
                self.reserved.lock().expect("not poisoned").iter().filter(|(k, _)| *k != key).map(|(_, b)| *b).sum();
            let models = crate::store::disk_bytes(&self.root().join(MODELS_DIR))
                .map_err(|e| BudgetError::Store(e.to_string()))?;
            // Staging folders of other downloads in progress are counted by their reservation.
            let staging_idle: u64 = read_dirs(&self.root().join(STAGING_DIR))?
                .iter()
                .flat_map(|h| read_dirs(h).unwrap_or_default())
                .filter(|d| *d != self.staging_dir(key) && !in_flight.iter().any(|k| self.staging_dir(k) == *d))
                .map(|d| crate::store::disk_bytes(&d).unwrap_or(0))
                .sum();
            let mut used = models + staging_idle + reserved;
            if used + needed > budget {
                let pinned = self.pinned_keys();
                let mut candidates: Vec<_> = self
                    .stored_models()?
                    .into_iter()
                    .filter(|m| m.key != *key && !pinned.contains(&m.key) && !in_flight.contains(&m.key))
                    .collect();
                let rank = |k: &ModelKey| eviction_order.iter().position(|o| o == k);
                candidates.sort_by(|a, b| match (rank(&a.key), rank(&b.key)) {
                    (None, None) => a.modified.cmp(&b.modified),
                    (None, Some(_)) => std::cmp::Ordering::Less,
                    (Some(_), None) => std::cmp::Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(&y),
                });
                let evictable: u64 = candidates.iter().map(|m| m.bytes).sum();
                if used.saturating_sub(evictable) + needed > budget {
                    return Err(BudgetError::OverBudget { needed, budget, used, evictable });
                }
                for model in candidates {
                    if used + needed <= budget {
                        break;
                    }
                    self.remove(&model.key)?;
                    tracing::info!(model = %model.key, bytes = model.bytes, "evicted to stay under the disk budget");
                    used -= model.bytes;
                    evicted.push(model.key);
                }
            }
        }
        // Eviction frees space on the same file system; re-read only when it is needed.
        let available =
            if evicted.is_empty() { available } else { fs4::available_space(self.root()).unwrap_or(available) };
        if to_write > available {
            return Err(BudgetError::DiskFull { needed: to_write, available });
        }
        self.reserved.lock().expect("not poisoned").insert(key.clone(), needed);
        Ok((Reservation { store: self, key: key.clone() }, evicted))
    }
}

/// Removes emptied folders under a hotkey folder, bottom-up (non-empty ones stay).
fn prune_empty(hotkey: &Path) {
    for repo in read_dirs(hotkey).unwrap_or_default() {
        for sub in read_dirs(&repo).unwrap_or_default() {
            let _ = fs::remove_dir(&sub);
        }
        let _ = fs::remove_dir(&repo);
    }
    let _ = fs::remove_dir(hotkey);
}
