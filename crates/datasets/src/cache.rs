//! On-disk cache of fetched JSON answers, one directory per sync block, so a validator restarted
//! within an evaluation window scores the rows it already fetched instead of asking again.
//!
//! Layout: `{root}/{sync_block}/{namespace}-{sha256(request)[..24]}.json`. Files are written to a
//! temporary name in the same directory, fsynced and renamed, so a crash leaves either the whole
//! answer or nothing. An unreadable entry is treated as a miss and fetched again.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone)]
pub struct ResponseCache {
    root: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cache {path}: {error}")]
pub struct CacheError {
    pub path: String,
    pub error: String,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl ResponseCache {
    pub fn new(root: impl Into<PathBuf>) -> ResponseCache {
        ResponseCache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, sync_block: u64, namespace: &str, request: &str) -> PathBuf {
        let digest = hex::encode(Sha256::digest(request.as_bytes()));
        self.root.join(sync_block.to_string()).join(format!("{namespace}-{}.json", &digest[..24]))
    }

    /// The cached answer to `request` in this window, if any.
    pub async fn get(&self, sync_block: u64, namespace: &str, request: &str) -> Option<Value> {
        let path = self.path(sync_block, namespace, request);
        let bytes = tokio::fs::read(&path).await.ok()?;
        match serde_json::from_slice::<Value>(&bytes) {
            // The request is stored beside the answer so a hash collision can never serve the
            // wrong page.
            Ok(v) if v.get("request").and_then(Value::as_str) == Some(request) => v.get("answer").cloned(),
            _ => {
                tracing::warn!(path = %path.display(), "ignoring an unreadable cache entry");
                None
            }
        }
    }

    /// Stores `answer` atomically.
    pub async fn put(&self, sync_block: u64, namespace: &str, request: &str, answer: &Value) -> Result<(), CacheError> {
        let path = self.path(sync_block, namespace, request);
        let doc = serde_json::json!({ "request": request, "answer": answer });
        let bytes = serde_json::to_vec(&doc).expect("JSON values serialise");
        tokio::task::spawn_blocking(move || {
            write_atomically(&path, &bytes)
                .map_err(|e| CacheError { path: path.display().to_string(), error: e.to_string() })
        })
        .await
        .map_err(|e| CacheError { path: String::new(), error: e.to_string() })?
    }

    /// Deletes the windows before `sync_block` (their seeds will not come back).
    pub fn prune_before(&self, sync_block: u64) -> Result<usize, CacheError> {
        let err = |e: std::io::Error| CacheError { path: self.root.display().to_string(), error: e.to_string() };
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(err(e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(err)?;
            let old = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()).is_some_and(|b| b < sync_block);
            if old && entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path()).map_err(err)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Writes `bytes` to `path` under a temporary name in the same folder, then renames it, so a
/// reader sees the old file or the whole new one; the data and the rename are synced.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_miss_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let c = ResponseCache::new(dir.path());
        assert_eq!(c.get(100, "rows", "q").await, None);
        c.put(100, "rows", "q", &serde_json::json!({"rows": [1]})).await.unwrap();
        assert_eq!(c.get(100, "rows", "q").await, Some(serde_json::json!({"rows": [1]})));
        assert_eq!(c.get(460, "rows", "q").await, None, "another window is another cache");
        c.put(460, "rows", "q", &serde_json::json!(2)).await.unwrap();
        assert_eq!(c.prune_before(460).unwrap(), 1);
        assert_eq!(c.get(100, "rows", "q").await, None);
        assert_eq!(c.get(460, "rows", "q").await, Some(serde_json::json!(2)));
    }

    #[tokio::test]
    async fn a_torn_entry_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let c = ResponseCache::new(dir.path());
        c.put(1, "rows", "q", &serde_json::json!(1)).await.unwrap();
        let file = std::fs::read_dir(dir.path().join("1")).unwrap().next().unwrap().unwrap().path();
        std::fs::write(&file, b"{\"request\": \"q\", \"ans").unwrap();
        assert_eq!(c.get(1, "rows", "q").await, None);
    }
}
