//! Validation of every name that becomes part of a path on our disk: hotkeys, repository ids and
//! the file paths a hub listing hands us.
//!
//! A listing comes from a server we do not control (and a repository from a miner we trust even
//! less), so a name is accepted only if it cannot leave the folder it is written into: relative,
//! `/`-separated, no `.`/`..`/empty segments, no backslashes, no control characters.

use std::path::PathBuf;

/// Longest file path inside a repository that we accept (bytes).
const MAX_REPO_PATH_BYTES: usize = 1024;
/// Longest single path segment (the usual file-system limit).
const MAX_SEGMENT_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("file path {0:?} is not a safe relative path (absolute, `..`, `.`, empty segment, backslash or control character)")]
    UnsafePath(String),
    #[error("hotkey {0:?} is not an SS58 address (1 to 64 ASCII letters and digits)")]
    BadHotkey(String),
    #[error("repository {0:?} is not `namespace/name` with letters, digits, `-`, `_`, `.` (no `--`, `..`, or leading `.`/`-`)")]
    BadRepoId(String),
}

/// Checks a path from a hub listing and turns it into a relative [`PathBuf`].
pub fn safe_repo_path(path: &str) -> Result<PathBuf, NameError> {
    let bad = || NameError::UnsafePath(path.to_string());
    if path.is_empty() || path.len() > MAX_REPO_PATH_BYTES || path.contains('\\') {
        return Err(bad());
    }
    if path.chars().any(char::is_control) {
        return Err(bad());
    }
    let mut out = PathBuf::new();
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.len() > MAX_SEGMENT_BYTES {
            return Err(bad());
        }
        out.push(segment);
    }
    Ok(out)
}

/// A hotkey becomes a folder name: accept only what an SS58 address can contain.
pub fn check_hotkey(hotkey: &str) -> Result<(), NameError> {
    let ok = !hotkey.is_empty() && hotkey.len() <= 64 && hotkey.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(()).ok_or_else(|| NameError::BadHotkey(hotkey.to_string()))
}

fn repo_part_ok(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 96
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !part.starts_with(['.', '-'])
        && !part.contains("--")
        && !part.contains("..")
}

/// `namespace/name` as the Hub allows it; the pair becomes the folder `models--{ns}--{name}`,
/// which is only unambiguous because neither part may contain `--`.
pub fn check_repo_id(namespace: &str, name: &str) -> Result<(), NameError> {
    (repo_part_ok(namespace) && repo_part_ok(name))
        .then_some(())
        .ok_or_else(|| NameError::BadRepoId(format!("{namespace}/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(safe_repo_path("config.json").unwrap(), PathBuf::from("config.json"));
        assert_eq!(safe_repo_path("sub/model.safetensors").unwrap(), PathBuf::from("sub/model.safetensors"));
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/", "a\\b", "a\nb", "a\0b", "..", "."] {
            assert!(safe_repo_path(bad).is_err(), "{bad:?}");
        }
        assert!(safe_repo_path(&"a".repeat(256)).is_err());
    }

    #[test]
    fn ids() {
        assert!(check_hotkey("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY").is_ok());
        assert!(check_hotkey("../x").is_err());
        assert!(check_hotkey("").is_err());
        assert!(check_repo_id("alice", "ft-7b.v2").is_ok());
        for (ns, name) in [("a--b", "c"), ("..", "c"), ("a", ".hidden"), ("a/b", "c"), ("a", ""), ("a", "b c")] {
            assert!(check_repo_id(ns, name).is_err(), "{ns}/{name}");
        }
    }
}
