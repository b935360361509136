//! The repositories our local hub serves: content-addressed blobs and immutable commits on disk,
//! with a `main` branch per repository.
//!
//! ```text
//! <root>/blobs/<sha256 hex>                    file contents
//! <root>/repos/<ns>/<name>/commits/<sha>.json  one commit: its files (path, size, sha256), parent
//! <root>/repos/<ns>/<name>/refs/<branch>       the commit a branch points to
//! ```
//!
//! [`LocalHub::commit_folder`] is how a localnet miner "uploads": it returns the new commit's
//! 40-hex sha, to be put in the miner's commitment. Everything is read from disk per request, so
//! another process may commit while a server runs.

use crate::names::{check_repo_id, safe_repo_path};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Name(#[from] crate::names::NameError),
    #[error("{0}: symbolic links and special files cannot be committed")]
    NotARegularFile(PathBuf),
    #[error("repository id {0:?} must be `namespace/name`")]
    BadRepoId(String),
    #[error("commit {0}: {1}")]
    Corrupt(String, String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RepoError + '_ {
    move |source| RepoError::Io { path: path.to_path_buf(), source }
}

/// One file of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitFile {
    pub path: String,
    pub size: u64,
    /// Hex sha256 of the content (the blob's name, the ETag, the LFS oid).
    pub sha256: String,
}

/// An immutable commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub parent: Option<String>,
    /// Sorted by path.
    pub files: Vec<CommitFile>,
}

/// A folder of repositories with commits.
#[derive(Debug, Clone)]
pub struct LocalHub {
    root: PathBuf,
}

fn split_repo(repo_id: &str) -> Result<(&str, &str), RepoError> {
    let (ns, name) = repo_id.split_once('/').ok_or_else(|| RepoError::BadRepoId(repo_id.to_string()))?;
    check_repo_id(ns, name)?;
    Ok((ns, name))
}

/// Writes `bytes` to `path` atomically (temp file in the same folder, fsync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    let dir = path.parent().expect("has a parent");
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes).and_then(|_| tmp.1.sync_all()).map_err(io_err(&tmp.0))?;
    fs::rename(&tmp.0, path).map_err(io_err(path))
}

fn tempfile_in(dir: &Path) -> Result<(PathBuf, fs::File), RepoError> {
    for attempt in 0..1000u32 {
        let path = dir.join(format!(".tmp-{}-{attempt}", std::process::id()));
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(RepoError::Io { path, source: e }),
        }
    }
    Err(RepoError::Io { path: dir.to_path_buf(), source: io::Error::other("no free temporary name") })
}

impl LocalHub {
    /// Opens (creating) a hub folder.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalHub, RepoError> {
        let root = root.into();
        for sub in ["blobs", "repos"] {
            fs::create_dir_all(root.join(sub)).map_err(io_err(&root))?;
        }
        Ok(LocalHub { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn repo_dir(&self, repo_id: &str) -> Result<PathBuf, RepoError> {
        let (ns, name) = split_repo(repo_id)?;
        Ok(self.root.join("repos").join(ns).join(name))
    }

    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root.join("blobs").join(sha256)
    }

    /// Stores content as a blob, returning its sha256 and size.
    fn put_blob(&self, mut content: impl Read) -> Result<(String, u64), RepoError> {
        let blobs = self.root.join("blobs");
        let (tmp_path, mut tmp) = tempfile_in(&blobs)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = content.read(&mut buf).map_err(io_err(&tmp_path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io_err(&tmp_path))?;
            size += n as u64;
        }
        tmp.sync_all().map_err(io_err(&tmp_path))?;
        let sha = format!("{:x}", hasher.finalize());
        fs::rename(&tmp_path, self.blob_path(&sha)).map_err(io_err(&tmp_path))?;
        Ok((sha, size))
    }

    /// Commits every regular file under `folder` (links and special files refused) as the new
    /// head of `main`. Returns the commit sha.
    pub fn commit_folder(&self, repo_id: &str, folder: &Path) -> Result<String, RepoError> {
        let mut files = Vec::new();
        self.collect(folder, folder, &mut files)?;
        self.commit(repo_id, files)
    }

    fn collect(&self, root: &Path, dir: &Path, out: &mut Vec<CommitFile>) -> Result<(), RepoError> {
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let path = entry.map_err(io_err(dir))?.path();
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            if meta.is_dir() {
                self.collect(root, &path, out)?;
            } else if meta.is_file() {
                let rel = path.strip_prefix(root).expect("under root");
                let rel = rel.to_str().ok_or_else(|| RepoError::NotARegularFile(path.clone()))?.replace('\\', "/");
                safe_repo_path(&rel)?;
                let (sha256, size) = self.put_blob(fs::File::open(&path).map_err(io_err(&path))?)?;
                out.push(CommitFile { path: rel, size, sha256 });
            } else {
                return Err(RepoError::NotARegularFile(path));
            }
        }
        Ok(())
    }

    /// Commits files given in memory (names checked as the Hub would).
    pub fn commit_files(&self, repo_id: &str, files: &[(&str, &[u8])]) -> Result<String, RepoError> {
        let mut out = Vec::with_capacity(files.len());
        for (path, bytes) in files {
            safe_repo_path(path)?;
            let (sha256, size) = self.put_blob(*bytes)?;
            out.push(CommitFile { path: path.to_string(), size, sha256 });
        }
        self.commit(repo_id, out)
    }

    fn commit(&self, repo_id: &str, mut files: Vec<CommitFile>) -> Result<String, RepoError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        let repo = self.repo_dir(repo_id)?;
        for sub in ["commits", "refs"] {
            fs::create_dir_all(repo.join(sub)).map_err(io_err(&repo))?;
        }
        let parent = self.branch_head(repo_id, "main")?;
        let mut hasher = Sha256::new();
        hasher.update(parent.as_deref().unwrap_or("").as_bytes());
        hasher.update(serde_json::to_vec(&files).expect("serialisable"));
        // Unique even for identical content committed twice, as git commits are.
        hasher.update(format!("{:?}", std::time::SystemTime::now()).as_bytes());
        let sha = format!("{:x}", hasher.finalize())[..40].to_string();
        let commit = Commit { sha: sha.clone(), parent, files };
        write_atomic(
            &repo.join("commits").join(format!("{sha}.json")),
            &serde_json::to_vec_pretty(&commit).expect("serialisable"),
        )?;
        write_atomic(&repo.join("refs").join("main"), sha.as_bytes())?;
        Ok(sha)
    }

    fn branch_head(&self, repo_id: &str, branch: &str) -> Result<Option<String>, RepoError> {
        let path = self.repo_dir(repo_id)?.join("refs").join(branch);
        match fs::read_to_string(&path) {
            Ok(sha) => Ok(Some(sha.trim().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RepoError::Io { path, source: e }),
        }
    }

    /// Whether the repository exists.
    pub fn has_repo(&self, repo_id: &str) -> bool {
        self.repo_dir(repo_id).is_ok_and(|d| d.join("commits").is_dir())
    }

    /// The commit a revision (full sha or branch name) points to.
    pub fn resolve(&self, repo_id: &str, revision: &str) -> Result<Option<Commit>, RepoError> {
        let repo = self.repo_dir(repo_id)?;
        let is_sha = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
        let sha = if is_sha {
            revision.to_string()
        } else if revision.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            match self.branch_head(repo_id, revision)? {
                Some(sha) => sha,
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        let path = repo.join("commits").join(format!("{sha}.json"));
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RepoError::Io { path, source: e }),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| RepoError::Corrupt(sha, e.to_string()))
    }
}
