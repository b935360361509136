//! The per-step record upstream logs to wandb, field for field (`reference/upstream-2024.md`
//! §10.2, `upstream-2025.md` §5): the validator fills a [`StepLog`] after every step.
//!
//! Maps keyed by uid serialise with the uid as a string key (`{"12": 0.5}`), as upstream's
//! `str(uid)` keys. Fields only one upstream generation logs are `Option`s, left out when `None`.

use crate::pyjson::{self, float, float_map, float_map_map, float_map_option, float_option};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One step's wandb row. `step` becomes wandb's `_step` (upstream logs with
/// `step=global_step`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    #[serde(rename = "_step")]
    pub step: u64,
    /// Unix time of the step, in seconds.
    #[serde(with = "float")]
    pub time: f64,
    pub step_competition_id: u16,
    /// The metagraph block of the step.
    pub block: u64,
    /// Per uid: average loss (2024) or score (2025).
    #[serde(with = "float_map")]
    pub uid_data: BTreeMap<u16, f64>,
    /// Per uid: `exp(mean loss)` (2024 only).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_map_option")]
    pub perplexity_data: Option<BTreeMap<u16, f64>>,
    /// Per uid: the epsilon advantage of its earlier commit (2025).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_map_option")]
    pub uid_epsilon_adv: Option<BTreeMap<u16, f64>>,
    #[serde(with = "float_map")]
    pub win_rate_data: BTreeMap<u16, f64>,
    pub win_total_data: BTreeMap<u16, u32>,
    /// Per uid: the subnet weight.
    #[serde(with = "float_map")]
    pub weight_data: BTreeMap<u16, f64>,
    /// Per uid: the competition's EMA weight.
    #[serde(with = "float_map")]
    pub competition_weight_data: BTreeMap<u16, f64>,
    /// Per uid: the competition its model was evaluated in.
    pub competition_id: BTreeMap<u16, u16>,
    pub load_model_perf: PerfStats,
    pub compute_model_perf: PerfStats,
    pub load_data_perf: PerfStats,
    /// [`OriginalFormat::to_json`] of the step: what the leaderboard pipeline parses.
    pub original_format_json: String,
    /// 2025 per-task columns, `"{task}.raw_score"`, `"{task}.norm_score"`,
    /// `"{task}.weighted_norm_score"` → per-uid values; see [`StepLog::set_task_scores`].
    #[serde(flatten, with = "float_map_map")]
    pub task_scores: BTreeMap<String, BTreeMap<u16, f64>>,
}

impl StepLog {
    /// Fills the three 2025 columns of one evaluation task (`task` as upstream names it, e.g.
    /// `SYNTHETIC_MMLU`).
    pub fn set_task_scores(
        &mut self,
        task: &str,
        raw_score: BTreeMap<u16, f64>,
        norm_score: BTreeMap<u16, f64>,
        weighted_norm_score: BTreeMap<u16, f64>,
    ) {
        self.task_scores.insert(format!("{task}.raw_score"), raw_score);
        self.task_scores.insert(format!("{task}.norm_score"), norm_score);
        self.task_scores.insert(format!("{task}.weighted_norm_score"), weighted_norm_score);
    }
}

/// Upstream's PerfMonitor summary, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerfStats {
    #[serde(with = "float")]
    pub min: f64,
    #[serde(with = "float")]
    pub median: f64,
    #[serde(with = "float")]
    pub max: f64,
    #[serde(rename = "P90", with = "float")]
    pub p90: f64,
}

impl PerfStats {
    /// min, median, max and 90th percentile (numpy's linear interpolation) of the samples; all
    /// zero when there are none (taoverse ≥ 1.3.6 — the 2024 code raised instead).
    pub fn from_samples(samples: &[Duration]) -> PerfStats {
        let mut seconds: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        if seconds.is_empty() {
            return PerfStats::default();
        }
        seconds.sort_by(f64::total_cmp);
        PerfStats {
            min: seconds[0],
            median: percentile(&seconds, 50.0),
            max: seconds[seconds.len() - 1],
            p90: percentile(&seconds, 90.0),
        }
    }
}

/// numpy's default (`linear`) percentile of sorted, non-empty values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = q / 100.0 * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
}

/// The JSON object upstream stores, as a string, in `original_format_json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OriginalFormat {
    /// Unix time, seconds.
    #[serde(with = "float")]
    pub timestamp: f64,
    pub competition_id: u16,
    /// The step's data seed (2025).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The block the seed comes from (2025).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_block: Option<u64>,
    /// `"{run}_{step}"` ids of the evaluation samples (2024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_ids: Option<Vec<String>>,
    pub uids: Vec<u16>,
    pub uid_data: BTreeMap<u16, OriginalUidEntry>,
}

impl OriginalFormat {
    /// The text for [`StepLog::original_format_json`], as Python's `json.dumps` writes it
    /// (`inf` as `Infinity`).
    pub fn to_json(&self) -> String {
        pyjson::to_string(self).expect("an OriginalFormat always serialises")
    }
}

/// One uid's entry in [`OriginalFormat::uid_data`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OriginalUidEntry {
    pub uid: u16,
    /// The block of the model's commitment.
    pub block: u64,
    /// `namespace/name` of the model on Hugging Face.
    pub hf: String,
    pub competition_id: u16,
    /// The average loss (2024) or score (2025); the name is kept for the leaderboard.
    #[serde(with = "float")]
    pub average_loss: f64,
    /// 2024 only.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_option")]
    pub perplexity: Option<f64>,
    /// 2025 only.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_option")]
    pub epsilon_adv: Option<f64>,
    #[serde(with = "float")]
    pub win_rate: f64,
    pub win_total: u32,
    #[serde(with = "float")]
    pub weight: f64,
    /// The competition weight (2025); the name is kept for the leaderboard.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_option")]
    pub norm_weight: Option<f64>,
    /// 2025 per-task scores, e.g. `"SYNTHETIC_MMLU.raw_score"` → value.
    #[serde(flatten, with = "float_map")]
    pub task_scores: BTreeMap<String, f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_stats_follow_numpy() {
        let samples: Vec<Duration> = [4.0, 1.0, 3.0, 2.0].iter().map(|s| Duration::from_secs_f64(*s)).collect();
        let stats = PerfStats::from_samples(&samples);
        assert_eq!((stats.min, stats.median, stats.max), (1.0, 2.5, 4.0));
        // numpy.percentile([1, 2, 3, 4], 90) == 3.7
        assert!((stats.p90 - 3.7).abs() < 1e-12, "{}", stats.p90);
        assert_eq!(PerfStats::from_samples(&[]), PerfStats::default());
        let one = PerfStats::from_samples(&[Duration::from_millis(1500)]);
        assert_eq!((one.min, one.median, one.max, one.p90), (1.5, 1.5, 1.5, 1.5));
    }

    #[test]
    fn original_format_is_python_json_with_upstream_names() {
        let mut entry = OriginalUidEntry {
            uid: 5,
            block: 3_000_000,
            hf: "miner/model".into(),
            competition_id: 1,
            average_loss: f64::INFINITY,
            epsilon_adv: Some(0.005),
            win_rate: 0.0,
            win_total: 0,
            weight: 0.0,
            norm_weight: Some(0.0),
            ..Default::default()
        };
        entry.task_scores.insert("SYNTHETIC_MMLU.raw_score".into(), 0.5);
        let original = OriginalFormat {
            timestamp: 1_700_000_000.5,
            competition_id: 1,
            seed: Some(42),
            sync_block: Some(2_999_990),
            uids: vec![5],
            uid_data: BTreeMap::from([(5, entry)]),
            ..Default::default()
        };
        assert_eq!(
            original.to_json(),
            concat!(
                r#"{"timestamp": 1700000000.5, "competition_id": 1, "seed": 42, "sync_block": 2999990, "uids": [5], "#,
                r#""uid_data": {"5": {"uid": 5, "block": 3000000, "hf": "miner/model", "competition_id": 1, "#,
                r#""average_loss": Infinity, "epsilon_adv": 0.005, "win_rate": 0.0, "win_total": 0, "weight": 0.0, "#,
                r#""norm_weight": 0.0, "SYNTHETIC_MMLU.raw_score": 0.5}}}"#
            )
        );
    }

    #[test]
    fn a_step_log_round_trips_through_our_serde_form() {
        let mut log = StepLog {
            step: 12,
            time: 1_700_000_000.25,
            step_competition_id: 2,
            block: 4_000_000,
            uid_data: BTreeMap::from([(1, 0.5), (9, f64::INFINITY)]),
            perplexity_data: Some(BTreeMap::from([(1, 1.65)])),
            win_total_data: BTreeMap::from([(1, 3)]),
            competition_id: BTreeMap::from([(1, 2), (9, 2)]),
            load_model_perf: PerfStats { min: 1.0, median: 2.0, max: 3.0, p90: 2.8 },
            original_format_json: "{}".into(),
            ..Default::default()
        };
        log.set_task_scores(
            "IF_EVAL",
            BTreeMap::from([(1, 0.1)]),
            BTreeMap::from([(1, 0.2)]),
            BTreeMap::from([(1, 0.3)]),
        );
        let text = serde_json::to_string(&log).unwrap();
        let back: StepLog = serde_json::from_str(&text).unwrap();
        assert_eq!(back, log);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["_step"], 12);
        assert_eq!(value["uid_data"]["9"], "Infinity");
        assert_eq!(value["load_model_perf"]["P90"], 2.8);
        assert_eq!(value["IF_EVAL.weighted_norm_score"]["1"], 0.3);
        assert!(value.get("uid_epsilon_adv").is_none());
    }
}
