//! DYCK_LANGUAGE (finetuning `DyckLoader`): complete a balanced bracket sequence.
//!
//! Per sample: `ref_len = randint(min_answer, max_answer)`,
//! `pairs = randint(max(ref_len, min_pairs), max_pairs)`, then `generate_dyck(pairs, ref_len)`.
//! The draws inside `generate_dyck` follow Python's short-circuit `or`: the coin
//! `choice([True, False])` is drawn only when fewer than `pairs` brackets are open, the stack is
//! non-empty and the remaining closes differ from `ref_len`.

use super::GenerateError;
use crate::kwargs::{Kwargs, KwargsError};
use crate::pyrandom::PyRandom;
use crate::sample::{PairRule, PromptResponse, Sample, SampleBody};
use crate::seed::Seed;
use serde_json::{Map, Value};

pub const CHALLENGE_PROMPT: &str =
    "Complete the rest of the sequence, making sure that the parentheses are closed properly. Input: ";

/// Upstream's `DYCK_CHARACTER_PAIRS`, in its order (the order is part of the draws).
pub const CHARACTER_PAIRS: [(char, char); 4] = [('<', '>'), ('[', ']'), ('{', '}'), ('(', ')')];

/// Upstream's constructor arguments and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dyck {
    pub samples: usize,
    pub min_length_pairs: i64,
    pub max_length_pairs: i64,
    pub min_length_answer: i64,
    pub max_length_answer: i64,
}

impl Default for Dyck {
    fn default() -> Self {
        Dyck { samples: 100, min_length_pairs: 2, max_length_pairs: 20, min_length_answer: 1, max_length_answer: 3 }
    }
}

impl Dyck {
    pub fn from_kwargs(map: &Map<String, Value>) -> Result<Dyck, KwargsError> {
        let d = Dyck::default();
        let mut k = Kwargs::new(map);
        let dyck = Dyck {
            samples: k.count("samples", d.samples)?,
            min_length_pairs: k.int("min_length_pairs", d.min_length_pairs)?,
            max_length_pairs: k.int("max_length_pairs", d.max_length_pairs)?,
            min_length_answer: k.int("min_length_answer", d.min_length_answer)?,
            max_length_answer: k.int("max_length_answer", d.max_length_answer)?,
        };
        k.finish()?;
        dyck.validate()?;
        Ok(dyck)
    }

    /// Upstream's three checks, plus non-negative lengths (a negative answer length would make
    /// Python's slices wrap around; no schedule asks for one).
    fn validate(&self) -> Result<(), KwargsError> {
        let bad = |m: String| Err(KwargsError::Invalid(m));
        if self.min_length_answer > self.max_length_answer {
            return bad(format!(
                "min_length_answer {} is greater than max_length_answer {}",
                self.min_length_answer, self.max_length_answer
            ));
        }
        if self.min_length_pairs > self.max_length_pairs {
            return bad(format!(
                "min_length_pairs {} is greater than max_length_pairs {}",
                self.min_length_pairs, self.max_length_pairs
            ));
        }
        if self.max_length_answer > self.max_length_pairs {
            return bad(format!(
                "max_length_answer {} is greater than max_length_pairs {}",
                self.max_length_answer, self.max_length_pairs
            ));
        }
        if self.min_length_answer < 0 || self.min_length_pairs < 0 {
            return bad("lengths must not be negative".into());
        }
        Ok(())
    }

    /// The task's samples, in upstream's order, from a freshly seeded generator.
    pub fn generate(&self, seed: &Seed) -> Result<Vec<Sample>, GenerateError> {
        let mut rng = PyRandom::from_seed(seed);
        let mut out = Vec::with_capacity(self.samples);
        for _ in 0..self.samples {
            let reference_length = rng.randint(self.min_length_answer, self.max_length_answer)?;
            let pair_count = rng.randint(reference_length.max(self.min_length_pairs), self.max_length_pairs)?;
            let word = generate_dyck(&mut rng, &CHARACTER_PAIRS, pair_count, reference_length)?;
            // Python's word[:-r] / word[-r:], including r == 0 (empty challenge, whole word).
            let split = if reference_length == 0 { 0 } else { word.len() - reference_length as usize };
            let (challenge, reference) =
                if reference_length == 0 { (&word[..0], &word[..]) } else { word.split_at(split) };
            out.push(Sample::content_addressed(SampleBody::PromptResponse(PromptResponse {
                system: None,
                prompt: format!("{CHALLENGE_PROMPT}{}", spaced(challenge)),
                response: spaced(reference),
                rule: PairRule::ContextReference,
            })));
        }
        Ok(out)
    }
}

/// `" ".join(chars)`.
fn spaced(chars: &[char]) -> String {
    chars.iter().map(char::to_string).collect::<Vec<_>>().join(" ")
}

/// Upstream's `generate_dyck`: a balanced word of `pair_count` pairs whose last
/// `ending_close_count` characters are all closes.
pub fn generate_dyck(
    rng: &mut PyRandom,
    pairs: &[(char, char)],
    pair_count: i64,
    ending_close_count: i64,
) -> Result<Vec<char>, GenerateError> {
    let mut open_count = 0i64;
    let mut remaining_closes = pair_count;
    let mut unused_closes: Vec<char> = Vec::new();
    let mut word = Vec::with_capacity(2 * pair_count.max(0) as usize);
    for _ in 0..pair_count * 2 {
        // Evaluated left to right with short-circuit, exactly like Python's `and` / `or`.
        let open_next = open_count < pair_count
            && (unused_closes.is_empty() || remaining_closes == ending_close_count || *rng.choice(&[true, false])?);
        if open_next {
            let (open, close) = *rng.choice(pairs)?;
            word.push(open);
            open_count += 1;
            unused_closes.push(close);
        } else {
            word.push(unused_closes.pop().expect("a close is pending whenever every pair is opened"));
            remaining_closes -= 1;
        }
    }
    Ok(word)
}
