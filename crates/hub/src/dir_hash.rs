//! The directory hash of a model folder, walking it the way upstream's `os.walk` does.
//!
//! In each folder: its files by name, then each sub-folder by name, depth first (names compare
//! by code point, i.e. UTF-8 byte order). File contents are streamed, so multi-gigabyte shards
//! are hashed in constant memory.
//!
//! A symbolic link is refused: upstream realises the links of a Hugging Face cache before
//! hashing, and our store never writes one, so a link in a model folder means something is
//! wrong with the folder.

use scoring::hashing::{DirectoryHasher, FileHasher};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DirHashError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: symbolic links are not allowed in a model folder")]
    Symlink(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DirHashError + '_ {
    move |source| DirHashError::Io { path: path.to_path_buf(), source }
}

/// The hash of one file's content (`get_hash_of_file`).
pub fn file_hash(path: &Path) -> Result<String, DirHashError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = FileHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

/// The files under `root` in upstream's walk order, as paths.
pub fn files_in_walk_order(root: &Path) -> Result<Vec<PathBuf>, DirHashError> {
    let meta = fs::symlink_metadata(root).map_err(io_err(root))?;
    if !meta.is_dir() {
        return Err(DirHashError::NotADirectory(root.to_path_buf()));
    }
    let mut out = Vec::new();
    walk(root, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DirHashError> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err(&path))?;
        if kind.is_symlink() {
            return Err(DirHashError::Symlink(path));
        } else if kind.is_dir() {
            dirs.push(path);
        } else {
            files.push(path);
        }
    }
    // Sort by the raw name bytes: for UTF-8 names this is code-point order, as Python sorts.
    let by_name = |a: &PathBuf, b: &PathBuf| a.file_name().cmp(&b.file_name());
    files.sort_by(by_name);
    dirs.sort_by(by_name);
    out.extend(files);
    for d in dirs {
        walk(&d, out)?;
    }
    Ok(())
}

/// `get_hash_of_directory(root)`.
pub fn directory_hash(root: &Path) -> Result<String, DirHashError> {
    Ok(directory_hash_with_files(root)?.0)
}

/// `get_hash_of_directory(root)` and each file's hash on the way (paths relative to `root`),
/// so a caller can also check single files without reading them twice.
pub fn directory_hash_with_files(root: &Path) -> Result<(String, Vec<(PathBuf, String)>), DirHashError> {
    let mut hasher = DirectoryHasher::new();
    let mut files = Vec::new();
    for file in files_in_walk_order(root)? {
        let hash = file_hash(&file)?;
        hasher.add_file_hash(&hash);
        files.push((file.strip_prefix(root).unwrap_or(&file).to_path_buf(), hash));
    }
    Ok((hasher.finish(), files))
}
