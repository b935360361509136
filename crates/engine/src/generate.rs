//! Greedy generation with a KV cache and `transformers`' repetition penalty, as upstream's
//! multiple-choice and IF-eval methods run it (`do_sample=False`).

use crate::error::{EngineError, Result};
use crate::model::Model;
use crate::nn::attention::KvCache;
use candle_core::Tensor;

#[derive(Debug, Clone)]
pub struct GreedyConfig {
    pub max_new_tokens: usize,
    /// The end-of-sequence token is forbidden until this many tokens were generated.
    pub min_new_tokens: usize,
    /// `transformers`' `repetition_penalty` (1.0 = off): every token already in the sequence
    /// (prompt included) has its logit divided by it when positive, multiplied when negative.
    pub repetition_penalty: f32,
    /// Generation stops after any of these.
    pub eos_token_ids: Vec<u32>,
}

impl Model {
    /// Greedily continues `prompt`; returns the new tokens (the end-of-sequence token
    /// included when one was produced).
    pub fn generate(&self, prompt: &[u32], cfg: &GreedyConfig) -> Result<Vec<u32>> {
        if prompt.is_empty() {
            return Err(EngineError::Invalid("cannot generate from an empty prompt".into()));
        }
        self.check_ids(prompt)?;
        let run = |e| EngineError::from_run(e);
        let decoder = self.decoder();
        let mut cache = KvCache::new();
        let mut sequence = prompt.to_vec();
        let mut generated = Vec::new();
        let mut input = prompt.to_vec();
        while generated.len() < cfg.max_new_tokens {
            let ids = Tensor::from_slice(&input, (1, input.len()), self.device()).map_err(run)?;
            let hidden = decoder.hidden_states(&ids, &[input.len()], Some(&mut cache)).map_err(run)?;
            let last =
                hidden.narrow(1, input.len() - 1, 1).and_then(|h| h.reshape((1, decoder.hidden_size))).map_err(run)?;
            let mut logits = decoder.logits(&last).and_then(|l| l.flatten_all()?.to_vec1::<f32>()).map_err(run)?;
            apply_repetition_penalty(&mut logits, &sequence, cfg.repetition_penalty);
            if generated.len() < cfg.min_new_tokens {
                for &eos in &cfg.eos_token_ids {
                    if let Some(l) = logits.get_mut(eos as usize) {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            let next = argmax(&logits).ok_or_else(|| EngineError::NonFinite { what: "generation logits".into() })?;
            generated.push(next);
            sequence.push(next);
            if cfg.eos_token_ids.contains(&next) {
                break;
            }
            input = vec![next];
        }
        Ok(generated)
    }
}

/// `RepetitionPenaltyLogitsProcessor`: each distinct token of `sequence` once.
pub fn apply_repetition_penalty(logits: &mut [f32], sequence: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    for &id in sequence {
        if seen.insert(id) {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
            }
        }
    }
}

/// The first index of the largest value (torch's `argmax`); `None` if any value is NaN.
pub fn argmax(values: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in values.iter().enumerate() {
        if v.is_nan() {
            return None;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_divides_positive_and_multiplies_negative_logits_once() {
        let mut logits = vec![2.0, -2.0, 1.0, 4.0];
        apply_repetition_penalty(&mut logits, &[0, 1, 0, 1], 2.0);
        assert_eq!(logits, vec![1.0, -4.0, 1.0, 4.0]);
    }

    #[test]
    fn argmax_takes_the_first_maximum_and_rejects_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), Some(1));
        assert_eq!(argmax(&[1.0, f32::NAN]), None);
    }
}
