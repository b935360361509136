//! The word list of WORD_SORTING: NLTK's `words` corpus file `en-basic` (Ogden's 850 words of
//! Basic English, 1932), read the way `nltk.corpus.words.words(fileids=["en-basic"])` reads it.
//!
//! The file is not vendored: no package registry reachable when this crate was written ships it,
//! and a list rebuilt from other Ogden lists differs in spelling and entries, which would change
//! every sample. Instead the exact file is looked up where NLTK keeps it (`NLTK_DATA`,
//! `~/nltk_data`, the system paths) or at `SN37_EN_BASIC_PATH`, or downloaded from NLTK's data
//! index as upstream does ([`super::nltk_words`]), and it is used only if its sha256 is the one
//! recorded for `nltk_data/corpora/words/en-basic` (5302 bytes).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// sha256 of `nltk_data/corpora/words/en-basic`, as recorded by a public repository's git-lfs
/// pointer for that file (`oid sha256:…`, `size 5302`).
pub const NLTK_EN_BASIC_SHA256: &str = "b00de5c6438714a6abaa906ec85f063f63c0606f713cbe8728b21c42664e5fce";
pub const NLTK_EN_BASIC_BYTES: usize = 5302;

/// An explicit path to the `en-basic` file.
pub const EN_BASIC_PATH_ENV: &str = "SN37_EN_BASIC_PATH";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordListError {
    #[error(
        "NLTK's `words` corpus file `en-basic` was not found (looked at: {looked}); install it with \
         `python3 -m nltk.downloader words` or set {EN_BASIC_PATH_ENV} to the file"
    )]
    NotFound { looked: String },
    #[error("{path}: sha256 {got} is not NLTK's en-basic ({NLTK_EN_BASIC_SHA256}); refusing a different word list")]
    WrongFile { path: String, got: String },
    #[error("{path}: {error}")]
    Io { path: String, error: String },
    #[error("downloading NLTK's words package: {0}")]
    Download(crate::http::FetchError),
    #[error("{url}: {reason}")]
    Archive { url: String, reason: String },
}

/// The words of a word-list corpus file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordList {
    words: Vec<String>,
    source: String,
}

impl WordList {
    /// NLTK `WordListCorpusReader.words()`: the non-blank lines of the file, in order.
    pub fn parse(text: &str, source: impl Into<String>) -> WordList {
        let words = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| !l.trim_end().is_empty())
            .map(str::to_string)
            .collect();
        WordList { words, source: source.into() }
    }

    /// A list given directly (operators' own lists, tests).
    pub fn from_words(words: Vec<String>, source: impl Into<String>) -> WordList {
        WordList { words, source: source.into() }
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Where the list came from (a path, or a label).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Our vendored Ogden list (`data/ogden-basic-english-850.txt`; see `data/README.md`): not
    /// NLTK's `en-basic`, so never used for upstream parity, only where a schedule names it.
    pub fn ogden_850() -> WordList {
        WordList::parse(include_str!("../../data/ogden-basic-english-850.txt"), "vendored ogden-basic-english-850")
    }

    /// NLTK's `en-basic`, found on this machine and checked against its sha256.
    pub fn nltk_en_basic() -> Result<WordList, WordListError> {
        let candidates = en_basic_candidates();
        for path in &candidates {
            if path.is_file() {
                return WordList::verified_en_basic(path);
            }
        }
        let looked = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        Err(WordListError::NotFound { looked })
    }

    /// Reads `path` and accepts it only if it is byte for byte NLTK's `en-basic`.
    pub fn verified_en_basic(path: &Path) -> Result<WordList, WordListError> {
        read_checked(path, NLTK_EN_BASIC_SHA256)
    }
}

/// Reads `path` and accepts it only if its sha256 is `sha256`.
pub(crate) fn read_checked(path: &Path, sha256: &str) -> Result<WordList, WordListError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| WordListError::Io { path: shown.clone(), error: e.to_string() })?;
    parse_checked(&bytes, sha256, shown)
}

/// `bytes` as the word list `source`, accepted only if their sha256 is `sha256`.
pub(crate) fn parse_checked(bytes: &[u8], sha256: &str, source: String) -> Result<WordList, WordListError> {
    let got = hex::encode(Sha256::digest(bytes));
    if got != sha256 {
        return Err(WordListError::WrongFile { path: source, got });
    }
    let text =
        std::str::from_utf8(bytes).map_err(|e| WordListError::Io { path: source.clone(), error: e.to_string() })?;
    Ok(WordList::parse(text, source))
}

/// Where NLTK would find `corpora/words/en-basic`: `$SN37_EN_BASIC_PATH`, then each `$NLTK_DATA`
/// entry, `~/nltk_data`, and NLTK's system directories.
fn en_basic_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(EN_BASIC_PATH_ENV) {
        out.push(PathBuf::from(p));
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("NLTK_DATA") {
        roots.extend(std::env::split_paths(&v));
    }
    if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(home).join("nltk_data"));
    }
    for sys in ["/usr/share/nltk_data", "/usr/local/share/nltk_data", "/usr/lib/nltk_data", "/usr/local/lib/nltk_data"]
    {
        roots.push(PathBuf::from(sys));
    }
    out.extend(roots.into_iter().map(|r| r.join("corpora").join("words").join("en-basic")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_file_order_and_drops_blank_lines() {
        let l = WordList::parse("I\na\nable\n\n  \nabout\r\n", "t");
        assert_eq!(l.words(), ["I", "a", "able", "about"]);
    }

    #[test]
    fn the_vendored_list_has_850_distinct_words() {
        let l = WordList::ogden_850();
        let distinct: std::collections::BTreeSet<&String> = l.words().iter().collect();
        assert_eq!((l.words().len(), distinct.len()), (850, 850));
    }

    #[test]
    fn a_different_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("en-basic");
        std::fs::write(&p, "I\na\nable\n").unwrap();
        assert!(matches!(WordList::verified_en_basic(&p), Err(WordListError::WrongFile { .. })));
    }
}
