//! The content hashes that bind a downloaded model to a miner's commitment.
//!
//! - file hash: `base64(sha256(bytes))`, standard alphabet with padding (44 characters);
//! - directory hash: `base64(sha256(concatenation of the file hashes))`, files visited the way
//!   Python's `os.walk` with sorted names visits them (see [`DirectoryHasher`]);
//! - secure hash: `base64(sha256(utf8(directory_hash + hotkey)))`, so a commitment copied from
//!   another miner does not verify under the copier's hotkey.
//!
//! Walking a real directory is I/O and lives in the `hub` crate; this module hashes what it is
//! given, in the order it is given.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

fn b64(digest: impl AsRef<[u8]>) -> String {
    STANDARD.encode(digest)
}

/// `get_hash_of_file` on bytes already in memory.
pub fn file_hash(bytes: &[u8]) -> String {
    b64(Sha256::digest(bytes))
}

/// `get_hash_of_file` for content read in pieces (model shards are many gigabytes).
#[derive(Default, Clone)]
pub struct FileHasher(Sha256);

impl FileHasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }
    pub fn finish(self) -> String {
        b64(self.0.finalize())
    }
}

/// `get_hash_of_directory`: feed it the file hashes in walk order.
///
/// The walk order is upstream's `os.walk(root)` with `dirs.sort()` and `sorted(files)`: in each
/// folder its files first, by name, then each sub-folder depth first, by name. Names compare by
/// code point (the same as UTF-8 byte order). Names themselves are not hashed, and a tree without
/// files hashes to the hash of nothing.
#[derive(Default, Clone)]
pub struct DirectoryHasher(Sha256);

impl DirectoryHasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add_file_hash(&mut self, file_hash: &str) {
        self.0.update(file_hash.as_bytes());
    }
    pub fn finish(self) -> String {
        b64(self.0.finalize())
    }
}

/// `get_hash_of_two_strings(a, b)`: `base64(sha256(utf8(a + b)))`.
pub fn hash_of_two_strings(a: &str, b: &str) -> String {
    let mut h = Sha256::new();
    h.update(a.as_bytes());
    h.update(b.as_bytes());
    b64(h.finalize())
}

/// The hash a miner commits: the directory hash salted with the miner's hotkey (SS58).
pub fn secure_hash(directory_hash: &str, hotkey: &str) -> String {
    hash_of_two_strings(directory_hash, hotkey)
}

/// The directory hash of a tree with no files (`sha256` of nothing).
pub const EMPTY_DIRECTORY_HASH: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_vectors() {
        assert_eq!(hash_of_two_strings("hello", "world"), "k2oYXKqiZrucvpgengXLeM1zKwsygOuURBK7b4+PB68=");
        let f = file_hash(b"test text.");
        assert_eq!(f, "tXNDvHVzqYIRiUx0rvK+M5+Lu4OLzhfPJH+gf7HvCeA=");
        let mut d = DirectoryHasher::new();
        d.add_file_hash(&f);
        d.add_file_hash(&f);
        assert_eq!(d.finish(), "rzfrK2kpRaaPUO/FRaNL5l7J8FrjMSlpkixOIftUk+M=");
        assert_eq!(DirectoryHasher::new().finish(), EMPTY_DIRECTORY_HASH);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let mut h = FileHasher::new();
        for chunk in data.chunks(999) {
            h.update(chunk);
        }
        assert_eq!(h.finish(), file_hash(&data));
    }
}
