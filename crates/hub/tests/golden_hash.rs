//! The golden `hash-*.json` vectors (upstream taoverse `get_hash_of_directory` and
//! `get_hash_of_two_strings`): each tree is built in a temporary folder and hashed by our walk.

use base64::Engine;
use hub::dir_hash::directory_hash;
use scoring::hashing::secure_hash;
use serde_json::Value;
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    let dir = match std::env::var_os("SN37_SHARED_DIR") {
        Some(d) => PathBuf::from(d).join("golden"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"),
    };
    assert!(dir.is_dir(), "golden vectors not found at {} (set SN37_SHARED_DIR to the shared folder)", dir.display());
    dir
}

#[test]
fn hash_files() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("hash-"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 7, "the golden README lists 7 hash files");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let root = tempfile::tempdir().unwrap();
        for (rel, content) in case["files"].as_object().unwrap() {
            let target = root.path().join(rel);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let bytes = base64::engine::general_purpose::STANDARD.decode(content.as_str().unwrap()).unwrap();
            std::fs::write(target, bytes).unwrap();
        }
        for dir in case["empty_dirs"].as_array().map(Vec::as_slice).unwrap_or_default() {
            std::fs::create_dir_all(root.path().join(dir.as_str().unwrap())).unwrap();
        }
        let dir_hash = directory_hash(root.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(dir_hash, case["expected"]["directory_hash"].as_str().unwrap(), "{name}: directory hash");
        let secure = secure_hash(&dir_hash, case["hotkey"].as_str().unwrap());
        assert_eq!(secure, case["expected"]["secure_hash"].as_str().unwrap(), "{name}: secure hash");
    }
}

#[test]
fn a_symlink_is_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), b"x").unwrap();
    std::os::unix::fs::symlink(root.path().join("a.txt"), root.path().join("b.txt")).unwrap();
    let err = directory_hash(root.path()).unwrap_err().to_string();
    assert!(err.contains("symbolic link"), "{err}");
}
