//! Per-sample losses: the mean negative log-likelihood of a sequence's scored tokens given
//! everything before them, as `transformers`' causal-LM loss computes it.
//!
//! Sequences are batched right-padded with a padding mask; only the hidden states of scored
//! positions go through the LM head, a block of positions at a time, so no `tokens x vocab`
//! matrix is ever formed for a whole sample.

use crate::error::{EngineError, Result};
use crate::model::Model;
use crate::text::tokenizer::Sequence;
use candle_core::{DType, Device, Tensor, D};
use rayon::prelude::*;

/// Logit elements one block of scored positions may hold.
const LOGIT_BUDGET: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Sequences per forward pass (right-padded to the longest of the batch).
    pub batch_size: usize,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions { batch_size: 1 }
    }
}

/// The loss of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleLoss {
    /// Mean NLL over the scored tokens; NaN when nothing is scored (the response was
    /// truncated away), as upstream reports it.
    pub loss: f64,
    /// Tokens in the sequence.
    pub tokens: usize,
    /// Tokens scored.
    pub scored: usize,
    /// NLL of each scored token, in order.
    pub token_nll: Vec<f32>,
}

impl SampleLoss {
    /// The score a sample gets: its loss, or `inf` when the model is to blame for an error.
    /// Errors that are not the miner's fault are returned: they must be retried, not scored.
    pub fn loss_or_inf(result: &Result<SampleLoss>) -> std::result::Result<f64, &EngineError> {
        match result {
            Ok(s) => Ok(s.loss),
            Err(e) if e.is_miner_fault() => Ok(f64::INFINITY),
            Err(e) => Err(e),
        }
    }
}

impl Model {
    /// Scores each sequence's tokens `ids[score_from..]`.
    ///
    /// The outer error is a whole-call failure (out of memory, device error: retry; or a bad
    /// request). The inner results are per sample: `Err(NonFinite)` when the model produced
    /// NaN/inf there (the miner's fault: score `inf`), `Err(Weights)` for ids outside the
    /// model's vocabulary.
    pub fn score(&self, sequences: &[Sequence], opts: &ScoreOptions) -> Result<Vec<Result<SampleLoss>>> {
        if opts.batch_size == 0 {
            return Err(EngineError::Invalid("batch size must be at least 1".into()));
        }
        let mut results: Vec<Option<Result<SampleLoss>>> = (0..sequences.len()).map(|_| None).collect();
        let mut to_run = Vec::new();
        for (i, s) in sequences.iter().enumerate() {
            let scored = s.ids.len().saturating_sub(s.score_from.max(1));
            if scored == 0 {
                results[i] = Some(Ok(SampleLoss { loss: f64::NAN, tokens: s.ids.len(), scored: 0, token_nll: vec![] }));
            } else if let Err(e) = self.check_ids(&s.ids) {
                results[i] = Some(Err(e));
            } else {
                to_run.push(i);
            }
        }
        // Longest first, so each batch pads little.
        to_run.sort_by_key(|&i| std::cmp::Reverse(sequences[i].ids.len()));
        for batch in to_run.chunks(opts.batch_size) {
            let seqs: Vec<&Sequence> = batch.iter().map(|&i| &sequences[i]).collect();
            let losses = self.score_batch(&seqs)?;
            for (&i, loss) in batch.iter().zip(losses) {
                results[i] = Some(loss);
            }
        }
        Ok(results.into_iter().map(|r| r.expect("every sample scored")).collect())
    }

    fn score_batch(&self, seqs: &[&Sequence]) -> Result<Vec<Result<SampleLoss>>> {
        let decoder = self.decoder();
        let (b, t) = (seqs.len(), seqs.iter().map(|s| s.ids.len()).max().unwrap_or(0));
        let mut flat = vec![0u32; b * t];
        for (row, s) in seqs.iter().enumerate() {
            flat[row * t..row * t + s.ids.len()].copy_from_slice(&s.ids);
        }
        let lens: Vec<usize> = seqs.iter().map(|s| s.ids.len()).collect();
        let run = |e| EngineError::from_run(e);
        let ids = Tensor::from_vec(flat, (b, t), self.device()).map_err(run)?;
        let hidden = decoder.hidden_states(&ids, &lens, None).map_err(run)?;
        let hidden = hidden.reshape((b * t, decoder.hidden_size)).map_err(run)?;

        // Row p of sample s predicts ids[p + 1]; the scored targets are ids[score_from..].
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (row, s) in seqs.iter().enumerate() {
            for p in s.score_from.max(1) - 1..s.ids.len() - 1 {
                rows.push((row * t + p) as u32);
                targets.push(s.ids[p + 1]);
            }
        }
        let nll = self.nll_of_rows(&hidden, &rows, &targets).map_err(run)?;

        let mut out = Vec::with_capacity(b);
        let mut at = 0;
        for s in seqs {
            let n = s.ids.len() - s.score_from.max(1);
            let token_nll: Vec<f32> = nll[at..at + n].iter().map(|&x| x as f32).collect();
            let sum: f64 = nll[at..at + n].iter().sum();
            at += n;
            out.push(if sum.is_finite() {
                Ok(SampleLoss { loss: sum / n as f64, tokens: s.ids.len(), scored: n, token_nll })
            } else {
                Err(EngineError::NonFinite { what: format!("token losses of a {}-token sample", s.ids.len()) })
            });
        }
        Ok(out)
    }

    /// `-log softmax(logits(hidden[row]))[target]` for each row, in blocks of rows.
    fn nll_of_rows(&self, hidden: &Tensor, rows: &[u32], targets: &[u32]) -> candle_core::Result<Vec<f64>> {
        let decoder = self.decoder();
        let block = (LOGIT_BUDGET / decoder.vocab_size.max(1)).max(1);
        let mut out = Vec::with_capacity(rows.len());
        for (rows, targets) in rows.chunks(block).zip(targets.chunks(block)) {
            let index = Tensor::from_slice(rows, rows.len(), hidden.device())?;
            let logits = decoder.logits(&hidden.index_select(&index, 0)?)?;
            match hidden.device() {
                Device::Cpu => nll_on_host(&logits, targets, &mut out)?,
                _ => nll_on_device(&logits, targets, &mut out)?,
            }
        }
        Ok(out)
    }
}

/// CPU: log-sum-exp in f64 over the f32 logits (more exact than a long f32 sum). Rows are
/// independent, so they are spread over rayon's pool (the one matrix products use); each row's
/// arithmetic, and so its result, is the same on any number of threads.
fn nll_on_host(logits: &Tensor, targets: &[u32], out: &mut Vec<f64>) -> candle_core::Result<()> {
    let vocab = logits.dim(1)?;
    let data = logits.flatten_all()?.to_vec1::<f32>()?;
    let nll: Vec<f64> = data.par_chunks(vocab).zip(targets.par_iter()).map(|(row, &t)| row_nll(row, t)).collect();
    out.extend(nll);
    Ok(())
}

fn row_nll(row: &[f32], target: u32) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    if !max.is_finite() {
        return f64::NAN;
    }
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    sum.ln() + max - row[target as usize] as f64
}

/// Accelerators: the same in f32 on the device; only one value per row comes back.
fn nll_on_device(logits: &Tensor, targets: &[u32], out: &mut Vec<f64>) -> candle_core::Result<()> {
    let logits = logits.to_dtype(DType::F32)?;
    let max = logits.max_keepdim(D::Minus1)?;
    let lse = (logits.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?.log()? + &max)?;
    let index = Tensor::from_slice(targets, (targets.len(), 1), logits.device())?;
    let picked = logits.gather(&index, D::Minus1)?;
    let nll = (lse - picked)?.flatten_all()?.to_vec1::<f32>()?;
    out.extend(nll.into_iter().map(f64::from));
    Ok(())
}
