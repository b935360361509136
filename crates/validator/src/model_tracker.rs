//! What each miner committed, what came of it, and when its model deserves another look
//! (taoverse `ModelTracker` and `should_retry_model`).
//!
//! Upstream records a miner's metadata as soon as its download completes, *before* the hash and
//! constraint checks, so a model that fails them is not downloaded again until the miner commits
//! something new; failures inside the download (repo missing, oversized, network) leave nothing
//! recorded and are retried on the next pass. We keep those semantics and add the outcome of the
//! last attempt, so operators (and `localnet`) can see why a miner is not evaluated.

use scoring::float_json;
use scoring::{Block, CompetitionId, Epsilon, ModelId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::state::StatePart;

/// A commitment and the block it was made at (upstream `ModelMetadata`; equality covers both, so
/// re-committing the same string is a new model that loses its earlier-block advantage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub id: ModelId,
    pub block: Block,
}

/// One evaluation of a model, with the round's winner for the retry rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub block: Block,
    #[serde(with = "float_json")]
    pub score: f64,
    pub winning_model_block: Block,
    #[serde(with = "float_json")]
    pub winning_model_score: f64,
}

/// Why a miner's model is or is not in the running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ModelStatus {
    /// Downloaded, verified and within the competition's constraints.
    Ready { competition_id: CompetitionId },
    /// Refused; `retry` says whether the same commitment is tried again on a later pass.
    Rejected { reason: String, retry: bool, block: Block },
    /// Committed too recently; eligible from `eligible_at`.
    Waiting { eligible_at: Block },
}

/// At most this many results are kept per hotkey and competition (upstream `_MAX_EVAL_HISTORY_LEN`).
const MAX_EVAL_HISTORY: usize = 3;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelTracker {
    metadata: BTreeMap<String, ModelMetadata>,
    eval_history: BTreeMap<String, BTreeMap<CompetitionId, Vec<EvalResult>>>,
    status: BTreeMap<String, ModelStatus>,
}

impl StatePart for ModelTracker {
    const FILE: &'static str = "model_tracker.json";
    const VERSION: u32 = 1;
}

impl ModelTracker {
    pub fn metadata(&self, hotkey: &str) -> Option<&ModelMetadata> {
        self.metadata.get(hotkey)
    }

    pub fn status(&self, hotkey: &str) -> Option<&ModelStatus> {
        self.status.get(hotkey)
    }

    pub fn statuses(&self) -> impl Iterator<Item = (&str, &ModelStatus)> {
        self.status.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn set_status(&mut self, hotkey: &str, status: ModelStatus) {
        self.status.insert(hotkey.to_string(), status);
    }

    /// `on_miner_model_updated`: a changed commitment forgets the old model's evaluations.
    pub fn on_model_updated(&mut self, hotkey: &str, metadata: ModelMetadata) {
        if self.metadata.get(hotkey) != Some(&metadata) {
            self.eval_history.remove(hotkey);
        }
        self.metadata.insert(hotkey.to_string(), metadata);
    }

    /// `on_hotkeys_updated`: forget hotkeys that left the metagraph.
    pub fn retain_hotkeys(&mut self, hotkeys: &BTreeSet<String>) {
        self.metadata.retain(|h, _| hotkeys.contains(h));
        self.eval_history.retain(|h, _| hotkeys.contains(h));
        self.status.retain(|h, _| hotkeys.contains(h));
    }

    /// `on_model_evaluated`: keep the newest results, ordered by block.
    pub fn on_model_evaluated(&mut self, hotkey: &str, competition_id: CompetitionId, result: EvalResult) {
        let history = self.eval_history.entry(hotkey.to_string()).or_default().entry(competition_id).or_default();
        history.push(result);
        history.sort_by_key(|r| r.block);
        if history.len() > MAX_EVAL_HISTORY {
            history.drain(..history.len() - MAX_EVAL_HISTORY);
        }
    }

    pub fn eval_history(&self, hotkey: &str, competition_id: CompetitionId) -> &[EvalResult] {
        self.eval_history.get(hotkey).and_then(|h| h.get(&competition_id)).map(Vec::as_slice).unwrap_or_default()
    }

    /// `should_retry_model` (upstream 2025 §4.5): a model not in the eval set is evaluated again
    /// when it never was, when the winner's epsilon has decayed enough that its last score would
    /// now win, or once after a first error.
    pub fn should_retry(
        &self,
        hotkey: &str,
        competition_id: CompetitionId,
        epsilon: &Epsilon,
        current_block: Block,
    ) -> bool {
        let history = self.eval_history(hotkey, competition_id);
        if history.is_empty() {
            return true;
        }
        match history.iter().rev().find(|r| r.score != f64::INFINITY) {
            Some(last_ok) => {
                if last_ok.score > last_ok.winning_model_score {
                    return false;
                }
                let eps = epsilon.compute(current_block, last_ok.winning_model_block);
                last_ok.score < last_ok.winning_model_score * (1.0 - eps)
            }
            None => history.len() < 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(commit: &str, block: Block) -> ModelMetadata {
        ModelMetadata { id: ModelId::parse(&format!("ns:m:{commit}:h:1")).unwrap(), block }
    }

    fn result(block: Block, score: f64, win_block: Block, win_score: f64) -> EvalResult {
        EvalResult { block, score, winning_model_block: win_block, winning_model_score: win_score }
    }

    #[test]
    fn a_new_commitment_clears_history() {
        let mut t = ModelTracker::default();
        t.on_model_updated("hk", md("a", 1));
        t.on_model_evaluated("hk", 1, result(10, 1.0, 5, 0.9));
        t.on_model_updated("hk", md("a", 1));
        assert_eq!(t.eval_history("hk", 1).len(), 1);
        t.on_model_updated("hk", md("a", 2)); // same string, new block: a new model
        assert!(t.eval_history("hk", 1).is_empty());
    }

    #[test]
    fn history_keeps_the_three_newest() {
        let mut t = ModelTracker::default();
        for b in [5, 1, 4, 2, 3] {
            t.on_model_evaluated("hk", 1, result(b, 1.0, 0, 1.0));
        }
        let blocks: Vec<Block> = t.eval_history("hk", 1).iter().map(|r| r.block).collect();
        assert_eq!(blocks, vec![3, 4, 5]);
    }

    #[test]
    fn retry_rule() {
        let eps = Epsilon::LinearDecay { start: 0.05, end: 0.01, decay_blocks: 100 };
        let mut t = ModelTracker::default();
        assert!(t.should_retry("hk", 1, &eps, 0), "never evaluated");
        // Lost to a winner at block 0 with a score 2% better than the winner's discounted score.
        t.on_model_evaluated("hk", 1, result(10, 0.98, 0, 1.0));
        assert!(!t.should_retry("hk", 1, &eps, 10), "epsilon 0.045 still protects the winner");
        assert!(t.should_retry("hk", 1, &eps, 100), "after decay to 0.01 it would win");
        let mut worse = ModelTracker::default();
        worse.on_model_evaluated("hk", 1, result(10, 1.5, 0, 1.0));
        assert!(!worse.should_retry("hk", 1, &eps, 1000), "worse than the winner: never");
        let mut failed = ModelTracker::default();
        failed.on_model_evaluated("hk", 1, result(10, f64::INFINITY, 0, 1.0));
        assert!(failed.should_retry("hk", 1, &eps, 20), "one retry after a first error");
        failed.on_model_evaluated("hk", 1, result(20, f64::INFINITY, 0, 1.0));
        assert!(!failed.should_retry("hk", 1, &eps, 30));
    }
}
