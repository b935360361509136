//! The evaluation methods on text: losses of samples given as strings (tokenised by the
//! rule that applies, then scored), and multiple choice as upstream 2025 runs it
//! (`reference/upstream-2025.md` §1.3): greedy generation of at most 20 tokens with
//! repetition penalty 1.1, then the first whole word among A/B/C/D is the model's answer.

use crate::error::{EngineError, Result};
use crate::generate::GreedyConfig;
use crate::loss::{SampleLoss, ScoreOptions};
use crate::model::Model;
use crate::text::tokenizer::{ContextOptions, Sequence};

/// A sample as the datasets give it, and the tokenisation rule it is scored by (see
/// [`crate::text::tokenizer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSample<'a> {
    /// 2024: template of `[user]` / `[user, assistant]`, right truncation, response scored.
    PromptResponse { prompt: &'a str, response: &'a str },
    /// 2025: templated context (see [`LossOptions::context`]) + encoded reference, the
    /// reference scored.
    ContextReference { prompt: &'a str, reference: &'a str },
    /// `[bos] + text`, every next-token prediction scored.
    Text(&'a str),
}

#[derive(Debug, Clone, Default)]
pub struct LossOptions {
    /// Right truncation of prompt/response pairs and texts (the competition's sequence length).
    pub max_len: Option<usize>,
    /// How contexts of [`TextSample::ContextReference`] are built and cut.
    pub context: ContextOptions,
    pub score: ScoreOptions,
}

/// The choice letters upstream accepts.
pub const CHOICES: [&str; 4] = ["A", "B", "C", "D"];

/// What the model answered to one multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOutcome {
    /// The decoded continuation (special tokens skipped, not stripped).
    pub response: String,
    /// The first whole word of the response that is one of A/B/C/D.
    pub chosen: Option<String>,
    pub correct: bool,
    /// Prompt tokens after truncation.
    pub prompt_tokens: usize,
}

impl Model {
    /// Tokenises and scores text samples. As with [`Model::score`], the outer error is a
    /// whole-call failure (the validator's, or a bad request); per sample, a template that
    /// raises or a non-finite result is the miner's fault (score `inf`).
    pub fn losses(&self, samples: &[TextSample], opts: &LossOptions) -> Result<Vec<Result<SampleLoss>>> {
        let tokenizer = self.tokenizer();
        let mut results: Vec<Option<Result<SampleLoss>>> = (0..samples.len()).map(|_| None).collect();
        let mut sequences: Vec<(usize, Sequence)> = Vec::with_capacity(samples.len());
        for (i, sample) in samples.iter().enumerate() {
            let seq = match *sample {
                TextSample::PromptResponse { prompt, response } => {
                    tokenizer.prompt_response(prompt, response, opts.max_len).map(|p| p.sequence)
                }
                TextSample::ContextReference { prompt, reference } => {
                    tokenizer.context_reference(prompt, reference, &opts.context)
                }
                TextSample::Text(text) => tokenizer.text(text, opts.max_len),
            };
            match seq {
                Ok(seq) => sequences.push((i, seq)),
                Err(e) if e.is_miner_fault() => results[i] = Some(Err(e)),
                Err(e) => return Err(e),
            }
        }
        let (index, seqs): (Vec<usize>, Vec<Sequence>) = sequences.into_iter().unzip();
        for (i, r) in index.into_iter().zip(self.score(&seqs, &opts.score)?) {
            results[i] = Some(r);
        }
        Ok(results.into_iter().map(|r| r.expect("every sample has a result")).collect())
    }

    /// Asks `prompt` (the question with its lettered choices, as one user message) and checks
    /// the answer against `answer`. The prompt is left-truncated to `max_len` tokens.
    pub fn multiple_choice(&self, prompt: &str, answer: &str, max_len: Option<usize>) -> Result<ChoiceOutcome> {
        let tokenizer = self.tokenizer();
        let ids = tokenizer.context(prompt, &ContextOptions { max_context: max_len, ..Default::default() })?;
        let eos = tokenizer
            .eos_id()
            .ok_or_else(|| EngineError::Tokenizer("multiple choice needs an eos token to stop generation".into()))?;
        let cfg =
            GreedyConfig { max_new_tokens: 20, min_new_tokens: 0, repetition_penalty: 1.1, eos_token_ids: vec![eos] };
        let new_tokens = self.generate(&ids, &cfg)?;
        let response = tokenizer.decode(&new_tokens, true)?;
        let chosen = first_choice(&response).map(str::to_string);
        let correct = chosen.as_deref() == Some(answer);
        Ok(ChoiceOutcome { response, chosen, correct, prompt_tokens: ids.len() })
    }
}

/// Python's `[w for w in re.sub(r"\W", " ", text).split() if w in CHOICES][0]`.
pub fn first_choice(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_')).find(|w| CHOICES.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_whole_word_choice() {
        assert_eq!(first_choice("The answer is (B)."), Some("B"));
        assert_eq!(first_choice("Answer: C, not D"), Some("C"));
        assert_eq!(first_choice("ABCD is no answer"), None);
        assert_eq!(first_choice("a b c d"), None);
        assert_eq!(first_choice("B_ is a word, then A"), Some("A"));
    }
}
