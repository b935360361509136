//! Offline generators (upstream-2025 §2.1–2.2): samples made from the seed alone, so they cannot
//! fail for lack of network and every validator with the same seed makes the same ones.

pub mod dyck;
pub mod nltk_words;
pub mod word_list;
pub mod word_sorting;

use crate::kwargs::KwargsError;
use crate::pyrandom::RandomError;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Kwargs(#[from] KwargsError),
    /// Upstream raises the same Python error for the same parameters.
    #[error("random draw failed: {0}")]
    Random(#[from] RandomError),
    #[error(transparent)]
    WordList(#[from] word_list::WordListError),
}
