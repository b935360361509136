//! WORD_SORTING (finetuning `WordSortingLoader`): sort a random sample of Basic English words.
//!
//! Per sample: `n = randint(min, max)`, `ws = sample(words, n)`; prompt
//! `"Sort the following words alphabetically: " + " ".join(ws) + ". "` (trailing `". "` kept),
//! response `" ".join(sorted(ws))`.

use super::word_list::WordList;
use super::GenerateError;
use crate::kwargs::{Kwargs, KwargsError};
use crate::pyrandom::PyRandom;
use crate::sample::{PairRule, PromptResponse, Sample, SampleBody};
use crate::seed::Seed;
use serde_json::{Map, Value};

pub const CHALLENGE_PROMPT: &str = "Sort the following words alphabetically: ";

/// Which word list a task draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordListChoice {
    /// NLTK's `en-basic`, as upstream (kwarg `"word_list": "nltk-en-basic"`, the default).
    NltkEnBasic,
    /// Our vendored Ogden list (`"word_list": "ogden-850"`): for local schedules only.
    Ogden850,
}

/// Upstream's constructor arguments (its defaults; the schedules pass `samples=400`), plus which
/// word list to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordSorting {
    pub samples: usize,
    pub min_word_count: i64,
    pub max_word_count: i64,
    pub min_word_length: usize,
    pub word_list: WordListChoice,
}

impl Default for WordSorting {
    fn default() -> Self {
        WordSorting {
            samples: 100,
            min_word_count: 2,
            max_word_count: 20,
            min_word_length: 3,
            word_list: WordListChoice::NltkEnBasic,
        }
    }
}

impl WordSorting {
    pub fn from_kwargs(map: &Map<String, Value>) -> Result<WordSorting, KwargsError> {
        let d = WordSorting::default();
        let mut k = Kwargs::new(map);
        let w = WordSorting {
            samples: k.count("samples", d.samples)?,
            min_word_count: k.int("min_word_count", d.min_word_count)?,
            max_word_count: k.int("max_word_count", d.max_word_count)?,
            min_word_length: k.count("min_word_length", d.min_word_length)?,
            word_list: match k.string("word_list", "nltk-en-basic")?.as_str() {
                "nltk-en-basic" => WordListChoice::NltkEnBasic,
                "ogden-850" => WordListChoice::Ogden850,
                other => {
                    return Err(KwargsError::Invalid(format!(
                        "word_list {other:?} is not one of \"nltk-en-basic\", \"ogden-850\""
                    )))
                }
            },
        };
        k.finish()?;
        if w.min_word_count > w.max_word_count {
            return Err(KwargsError::Invalid(format!(
                "min_word_count {} is greater than max_word_count {}",
                w.min_word_count, w.max_word_count
            )));
        }
        Ok(w)
    }

    /// The words a sample draws from: entries of at least `min_word_length` characters,
    /// lowercased, in file order.
    pub fn vocabulary(&self, list: &WordList) -> Vec<String> {
        list.words().iter().filter(|w| w.chars().count() >= self.min_word_length).map(|w| w.to_lowercase()).collect()
    }

    /// The task's samples, in upstream's order, from a freshly seeded generator.
    pub fn generate(&self, seed: &Seed, list: &WordList) -> Result<Vec<Sample>, GenerateError> {
        let words = self.vocabulary(list);
        let mut rng = PyRandom::from_seed(seed);
        let mut out = Vec::with_capacity(self.samples);
        for _ in 0..self.samples {
            let count = rng.randint(self.min_word_count, self.max_word_count)?;
            let k = usize::try_from(count)
                .map_err(|_| crate::pyrandom::RandomError::SampleTooLarge { k: 0, n: words.len() })?;
            let unsorted = rng.sample(&words, k)?;
            let prompt = format!("{CHALLENGE_PROMPT}{}. ", unsorted.join(" "));
            let mut sorted = unsorted;
            sorted.sort();
            out.push(Sample::content_addressed(SampleBody::PromptResponse(PromptResponse {
                system: None,
                prompt,
                response: sorted.join(" "),
                rule: PairRule::ContextReference,
            })));
        }
        Ok(out)
    }
}
