//! Which files of a repository we fetch: exactly upstream's set, so our directory hash equals
//! the one the miner computed.
//!
//! Upstream loads a model with `AutoModelForCausalLM.from_pretrained(use_safetensors=True)`,
//! which fetches `config.json`; then `model.safetensors`, or (only when that is absent)
//! `model.safetensors.index.json` and every shard its `weight_map` names; then
//! `generation_config.json` when the repository has one. Nothing else lands in the hashed
//! snapshot. Pickle weights (`*.bin`, `*.pt`, ...) are never fetched: a repository with only
//! those is refused.
//!
//! Tokenizer files are a separate set: fetched only for a competition without a fixed tokenizer,
//! into a folder beside the snapshot that is not hashed (see [`crate::store`]). This matches the
//! summer-2024 validator, whose hashed folder never holds tokenizer files. Caveat: the 2025
//! upstream loads the miner's tokenizer (`AutoTokenizer.from_pretrained`, same cache) *before*
//! hashing, so for its competitions without a fixed tokenizer the miner's hash may cover
//! tokenizer files too; which ones depends on the transformers version. Not reproduced here.

use crate::client::RepoFile;
use crate::names::safe_repo_path;
use std::collections::{BTreeMap, BTreeSet};

pub const CONFIG: &str = "config.json";
pub const SINGLE_WEIGHTS: &str = "model.safetensors";
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
pub const GENERATION_CONFIG: &str = "generation_config.json";
/// The tokenizer files a fast tokenizer and its chat template are loaded from.
pub const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
];
/// The one tokenizer file we cannot do without (the `tokenizers` crate reads it).
pub const REQUIRED_TOKENIZER_FILE: &str = "tokenizer.json";
/// Largest config, generation config, index or tokenizer file we read into memory.
pub const MAX_SMALL_FILE_BYTES: u64 = 64 << 20;
const PICKLE_SUFFIXES: &[&str] = &[".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileSetError {
    #[error("the hub listing is unusable: {0}")]
    Listing(String),
    #[error("the repository has no config.json")]
    NoConfig,
    #[error("the repository has only pickle weights ({0}); only safetensors are accepted")]
    PickleOnly(String),
    #[error("the repository has no model.safetensors or model.safetensors.index.json")]
    NoSafetensors,
    #[error("model.safetensors.index.json is invalid: {0}")]
    BadIndex(String),
    #[error("{file} is {size} bytes, more than the {MAX_SMALL_FILE_BYTES} allowed for it")]
    SmallFileTooLarge { file: String, size: u64 },
}

/// A file of the listing, after its name and size were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub size: u64,
    pub lfs_sha256: Option<String>,
}

/// Every file of the repository at the pinned revision, with checked names and sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub files: BTreeMap<String, ListedFile>,
    /// Σ sizes of every file (README and tokenizer included), the number checked against
    /// `max_bytes` as upstream does.
    pub total_bytes: u64,
}

impl Listing {
    /// Refuses unsafe or duplicate names, missing sizes and totals that overflow.
    pub fn new(files: Vec<RepoFile>) -> Result<Listing, FileSetError> {
        let mut out = BTreeMap::new();
        let mut total: u64 = 0;
        for f in files {
            safe_repo_path(&f.path).map_err(|e| FileSetError::Listing(e.to_string()))?;
            let size = f.size.ok_or_else(|| FileSetError::Listing(format!("no size for {}", f.path)))?;
            total = total
                .checked_add(size)
                .ok_or_else(|| FileSetError::Listing("file sizes overflow 64 bits".to_string()))?;
            let lfs_sha256 = f.lfs_sha256.map(|s| s.to_ascii_lowercase());
            if out.insert(f.path.clone(), ListedFile { size, lfs_sha256 }).is_some() {
                return Err(FileSetError::Listing(format!("{} is listed twice", f.path)));
            }
        }
        // A file that is also a folder ("a" and "a/b") cannot be written: refuse such a listing.
        for path in out.keys() {
            let mut prefix = String::new();
            for segment in path.split('/').collect::<Vec<_>>().split_last().map(|(_, dirs)| dirs).unwrap_or(&[]) {
                prefix.push_str(segment);
                if out.contains_key(&prefix) {
                    return Err(FileSetError::Listing(format!("{prefix} is both a file and a folder")));
                }
                prefix.push('/');
            }
        }
        Ok(Listing { files: out, total_bytes: total })
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    pub fn size_of(&self, path: &str) -> u64 {
        self.files.get(path).map_or(0, |f| f.size)
    }
}

/// How the weights are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsLayout {
    Single,
    /// Needs the index to know the shards.
    Sharded,
}

/// The files to fetch, before the index (when there is one) is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    pub weights: WeightsLayout,
    pub has_generation_config: bool,
}

fn is_pickle(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    PICKLE_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// transformers' choice with `use_safetensors=True`.
pub fn plan(listing: &Listing) -> Result<FilePlan, FileSetError> {
    if !listing.contains(CONFIG) {
        return Err(FileSetError::NoConfig);
    }
    let weights = if listing.contains(SINGLE_WEIGHTS) {
        WeightsLayout::Single
    } else if listing.contains(WEIGHTS_INDEX) {
        WeightsLayout::Sharded
    } else {
        let pickles: Vec<&str> = listing.files.keys().map(String::as_str).filter(|p| is_pickle(p)).collect();
        return Err(if pickles.is_empty() {
            FileSetError::NoSafetensors
        } else {
            FileSetError::PickleOnly(pickles.join(", "))
        });
    };
    for small in [CONFIG, WEIGHTS_INDEX, GENERATION_CONFIG] {
        let size = listing.size_of(small);
        if size > MAX_SMALL_FILE_BYTES {
            return Err(FileSetError::SmallFileTooLarge { file: small.to_string(), size });
        }
    }
    Ok(FilePlan { weights, has_generation_config: listing.contains(GENERATION_CONFIG) })
}

/// The shard files of `model.safetensors.index.json`, each a listed `.safetensors` file.
pub fn shards_from_index(index: &[u8], listing: &Listing) -> Result<Vec<String>, FileSetError> {
    let bad = |why: String| FileSetError::BadIndex(why);
    let value: serde_json::Value = serde_json::from_slice(index).map_err(|e| bad(e.to_string()))?;
    let map = value.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| bad("no weight_map object".into()))?;
    let mut shards = BTreeSet::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| bad(format!("weight_map[{tensor:?}] is not a string")))?;
        safe_repo_path(file).map_err(|e| bad(e.to_string()))?;
        if !file.ends_with(".safetensors") {
            return Err(bad(format!("shard {file} is not a .safetensors file")));
        }
        if !listing.contains(file) {
            return Err(bad(format!("shard {file} is not in the repository")));
        }
        shards.insert(file.to_string());
    }
    if shards.is_empty() {
        return Err(bad("weight_map is empty".into()));
    }
    Ok(shards.into_iter().collect())
}

/// The tokenizer files the repository has, in [`TOKENIZER_FILES`] order.
pub fn tokenizer_files(listing: &Listing) -> Vec<String> {
    TOKENIZER_FILES.iter().filter(|f| listing.contains(f)).map(|f| f.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(names: &[(&str, u64)]) -> Listing {
        Listing::new(
            names.iter().map(|(p, s)| RepoFile { path: p.to_string(), size: Some(*s), lfs_sha256: None }).collect(),
        )
        .unwrap()
    }

    #[test]
    fn single_file_wins_over_index() {
        let l = listing(&[("config.json", 1), ("model.safetensors", 2), (WEIGHTS_INDEX, 3), ("README.md", 4)]);
        assert_eq!(plan(&l).unwrap(), FilePlan { weights: WeightsLayout::Single, has_generation_config: false });
        assert_eq!(l.total_bytes, 10);
    }

    #[test]
    fn pickle_only_and_missing() {
        let l = listing(&[("config.json", 1), ("pytorch_model.bin", 2)]);
        assert_eq!(plan(&l), Err(FileSetError::PickleOnly("pytorch_model.bin".into())));
        assert_eq!(plan(&listing(&[("config.json", 1)])), Err(FileSetError::NoSafetensors));
        assert_eq!(plan(&listing(&[("model.safetensors", 1)])), Err(FileSetError::NoConfig));
    }

    #[test]
    fn index_shards() {
        let l = listing(&[("config.json", 1), (WEIGHTS_INDEX, 1), ("a.safetensors", 1), ("b.safetensors", 1)]);
        let idx = br#"{"metadata":{},"weight_map":{"x":"b.safetensors","y":"a.safetensors","z":"b.safetensors"}}"#;
        assert_eq!(shards_from_index(idx, &l).unwrap(), vec!["a.safetensors", "b.safetensors"]);
        for bad in [
            &br#"{"weight_map":{"x":"../a.safetensors"}}"#[..],
            br#"{"weight_map":{"x":"c.safetensors"}}"#,
            br#"{"weight_map":{"x":"config.json"}}"#,
            br#"{"weight_map":{}}"#,
            b"[]",
        ] {
            assert!(shards_from_index(bad, &l).is_err());
        }
    }

    #[test]
    fn bad_listings() {
        let file = |p: &str, s: Option<u64>| RepoFile { path: p.into(), size: s, lfs_sha256: None };
        assert!(Listing::new(vec![file("../x", Some(1))]).is_err());
        assert!(Listing::new(vec![file("/etc/passwd", Some(1))]).is_err());
        assert!(Listing::new(vec![file("a", None)]).is_err());
        assert!(Listing::new(vec![file("a", Some(u64::MAX)), file("b", Some(1))]).is_err());
        assert!(Listing::new(vec![file("a", Some(1)), file("a", Some(1))]).is_err());
        assert!(Listing::new(vec![file("a", Some(1)), file("a/b", Some(1))]).is_err());
    }
}
