//! Shared helpers of the engine's integration tests: where the fixtures are, and reading them.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// `$SN37_SHARED_DIR`, else `<workspace>/../shared`. Missing fixtures fail the test: a run
/// without them proves nothing.
pub fn shared_dir() -> PathBuf {
    let dir = match std::env::var_os("SN37_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    assert!(
        dir.join("fixtures/README.md").is_file(),
        "fixtures not found under {} (set SN37_SHARED_DIR to the shared folder)",
        dir.display()
    );
    dir
}

pub fn fixtures_dir() -> PathBuf {
    shared_dir().join("fixtures")
}

/// Every model folder of the fixtures (those with an `expected.json`), sorted by name.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 19, "expected at least 19 model fixtures, found {}", dirs.len());
    dirs
}

pub fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

pub fn expected(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

pub fn jsonl(file: &str) -> Vec<Value> {
    std::fs::read_to_string(fixtures_dir().join(file))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Whether a difference is inside a tolerance; false for NaN too, so a NaN is a mismatch.
pub fn within(diff: f64, tolerance: f64) -> bool {
    diff <= tolerance
}

/// A recorded loss: a number, or the string "nan".
pub fn loss_value(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        v => v.as_f64().expect("loss is a number or \"nan\""),
    }
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Copies a fixture model folder into a fresh temporary folder.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures_dir().join(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}
