//! The commitment string a miner writes to the chain:
//! `namespace:name:commit:secure_hash:competition_id`.
//!
//! Parsing follows taoverse `ModelId.from_compressed_str` exactly, because a commitment that one
//! validator accepts and another refuses splits consensus:
//! - split on every `:`; fewer than 4 tokens is an error;
//! - exactly 4 tokens is the legacy SN9 form: competition 0, and `hash` = `secure_hash` = token 3;
//! - 5 or more: `competition_id = int(tokens[4])` with Python's `int()` rules, tokens after the
//!   fifth are ignored;
//! - `commit` and `secure_hash` are `None` only for the literal `None`.

use crate::competition::CompetitionId;
use crate::pyint::{parse_python_int, PyIntError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Upstream's limit on the whole commitment (`MAX_METADATA_BYTES`).
pub const MAX_COMMITMENT_BYTES: usize = 128;
/// Longest `namespace/name` that fits beside a 40-hex commit, a 44-char hash and a 2-digit id.
pub const MAX_REPO_ID_LENGTH: usize = MAX_COMMITMENT_BYTES - 40 - 44 - 2 - 4;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelId {
    pub namespace: String,
    pub name: String,
    /// The Hugging Face commit the miner pinned (must be a full sha to be downloadable).
    pub commit: Option<String>,
    /// Only set by the legacy 4-token form, where it equals `secure_hash`.
    pub hash: Option<String>,
    /// `b64(sha256(directory_hash + hotkey))`.
    pub secure_hash: Option<String>,
    pub competition_id: CompetitionId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    #[error("commitment {text:?} has {tokens} ':'-separated fields, at least 4 are needed")]
    TooFewFields { text: String, tokens: usize },
    #[error("commitment competition id: {0}")]
    CompetitionId(#[from] PyIntError),
    #[error("repository id {0:?} must be `namespace/name` with 4 to {MAX_REPO_ID_LENGTH} characters")]
    BadRepoId(String),
    #[error("commitment is {0} bytes, the chain allows {MAX_COMMITMENT_BYTES}")]
    TooLong(usize),
    #[error("commitment field {field} must not contain ':' or be empty ({value:?})")]
    BadField { field: &'static str, value: String },
}

fn none_if_literal(token: &str) -> Option<String> {
    (token != "None").then(|| token.to_string())
}

impl ModelId {
    /// Parses a commitment string read from the chain (upstream `from_compressed_str`, with
    /// `default_competition_id = 0`).
    pub fn parse(text: &str) -> Result<Self, CommitmentError> {
        let tokens: Vec<&str> = text.split(':').collect();
        if tokens.len() < 4 {
            return Err(CommitmentError::TooFewFields { text: text.to_string(), tokens: tokens.len() });
        }
        let (competition_id, hash) =
            if tokens.len() < 5 { (0, none_if_literal(tokens[3])) } else { (parse_python_int(tokens[4])?, None) };
        Ok(ModelId {
            namespace: tokens[0].to_string(),
            name: tokens[1].to_string(),
            commit: none_if_literal(tokens[2]),
            hash,
            secure_hash: none_if_literal(tokens[3]),
            competition_id,
        })
    }

    /// `namespace/name`, the Hugging Face repository.
    pub fn repo_id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Builds the commitment a miner publishes, refusing what upstream's miner refuses (a repo id
    /// longer than 38 characters, a string over 128 bytes) and fields that would not parse back.
    pub fn for_commit(
        repo_id: &str,
        commit: &str,
        secure_hash: &str,
        competition_id: CompetitionId,
    ) -> Result<Self, CommitmentError> {
        let (namespace, name) = repo_id
            .split_once('/')
            .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
            .filter(|_| repo_id.len() > 3 && repo_id.len() <= MAX_REPO_ID_LENGTH)
            .ok_or_else(|| CommitmentError::BadRepoId(repo_id.to_string()))?;
        for (field, value) in
            [("namespace", namespace), ("name", name), ("commit", commit), ("secure_hash", secure_hash)]
        {
            if value.is_empty() || value.contains(':') || value == "None" {
                return Err(CommitmentError::BadField { field, value: value.to_string() });
            }
        }
        let id = ModelId {
            namespace: namespace.to_string(),
            name: name.to_string(),
            commit: Some(commit.to_string()),
            hash: None,
            secure_hash: Some(secure_hash.to_string()),
            competition_id,
        };
        let len = id.to_string().len();
        if len > MAX_COMMITMENT_BYTES {
            return Err(CommitmentError::TooLong(len));
        }
        Ok(id)
    }
}

/// Upstream `to_compressed_str`: the legacy `hash` field is not written.
impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}:{}",
            self.namespace,
            self.name,
            self.commit.as_deref().unwrap_or("None"),
            self.secure_hash.as_deref().unwrap_or("None"),
            self.competition_id
        )
    }
}

/// Whether `commit` is a full 40-hex git sha, the only revision form whose download can be
/// verified (a branch name resolves to whatever the branch holds at download time).
pub fn is_full_commit_sha(commit: &str) -> bool {
    commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        let id =
            ModelId::for_commit("alice/ft-7b", &"3f".repeat(20), "k2oYXKqiZrucvpgengXLeM1zKwsygOuURBK7b4+PB68=", 1)
                .unwrap();
        let text = id.to_string();
        assert_eq!(text, format!("alice:ft-7b:{}:k2oYXKqiZrucvpgengXLeM1zKwsygOuURBK7b4+PB68=:1", "3f".repeat(20)));
        assert_eq!(ModelId::parse(&text).unwrap(), id);
    }

    #[test]
    fn miner_side_limits() {
        let sha = "a".repeat(40);
        let hash = "h".repeat(44);
        assert!(ModelId::for_commit(&format!("a/{}", "b".repeat(36)), &sha, &hash, 1).is_ok());
        assert!(ModelId::for_commit(&format!("a/{}", "b".repeat(37)), &sha, &hash, 1).is_err());
        assert!(ModelId::for_commit("a/b", &sha, &hash, 1).is_err());
        assert!(ModelId::for_commit("ab/cd/ef", &sha, &hash, 1).is_err());
        assert!(ModelId::for_commit("ab/c:d", &sha, &hash, 1).is_err());
    }

    #[test]
    fn full_sha() {
        assert!(is_full_commit_sha(&"0123456789abcdef0123".repeat(2)));
        assert!(!is_full_commit_sha("main"));
        assert!(!is_full_commit_sha(&"A".repeat(40)));
    }
}
