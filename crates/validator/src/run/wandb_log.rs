//! Publishing each round to wandb (optional): the step record as upstream's wandb row.
//!
//! Off unless `--wandb.project` and `--wandb.entity` are set and neither `--wandb.off` nor
//! `--offline` is; then `WANDB_API_KEY` is read, and nothing else ever needs it. Uploads run on
//! their own task and spool to disk when wandb is slow or down: a round never waits for them.

use crate::step_record::StepRecord;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use wandb::{OriginalFormat, OriginalUidEntry, PerfStats, RunIdentity, StepLog, Uploader, WandbConfig, WandbFlags};

#[derive(clap::Args, Clone, Debug)]
pub struct WandbArgs {
    /// Publish every round to this wandb project (with --wandb.entity; needs WANDB_API_KEY).
    #[arg(long = "wandb.project", env = "SN37_WANDB_PROJECT")]
    pub project: Option<String>,
    /// The wandb entity (team or user) of the project.
    #[arg(long = "wandb.entity", env = "SN37_WANDB_ENTITY")]
    pub entity: Option<String>,
    /// Never publish to wandb.
    #[arg(long = "wandb.off", env = "SN37_WANDB_OFF")]
    pub off: bool,
    /// Start a new wandb run every this many rounds (upstream: 50).
    #[arg(long = "wandb.max_steps_per_run", env = "SN37_WANDB_MAX_STEPS_PER_RUN", default_value_t = 50)]
    pub max_steps_per_run: u64,
}

/// Starts the uploader when enabled; says why not otherwise. Never fails the validator.
pub fn start(
    args: &WandbArgs,
    offline: bool,
    state_dir: &Path,
    uid: Option<u16>,
    hotkey: Option<&str>,
) -> Option<Uploader> {
    let flags = WandbFlags {
        project: args.project.clone(),
        entity: args.entity.clone(),
        off: args.off,
        offline,
        max_steps_per_run: args.max_steps_per_run,
    };
    if let Some(why) = flags.disabled_reason() {
        tracing::debug!("wandb off: {why}");
        return None;
    }
    let config = match WandbConfig::from_flags(&flags, state_dir.join("wandb-spool")) {
        Ok(Some(c)) => c,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!("wandb off: {e}");
            return None;
        }
    };
    let identity = RunIdentity {
        uid: uid.unwrap_or(0),
        hotkey: hotkey.unwrap_or_default().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    match Uploader::start(config, identity) {
        Ok(u) => {
            tracing::info!("publishing rounds to wandb");
            Some(u)
        }
        Err(e) => {
            tracing::warn!("wandb off: {e}");
            None
        }
    }
}

fn perf(seconds: impl Iterator<Item = f64>) -> PerfStats {
    let samples: Vec<Duration> = seconds.filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64).collect();
    PerfStats::from_samples(&samples)
}

/// Upstream's wandb row for a round.
pub fn step_log(r: &StepRecord) -> StepLog {
    let comp = u16::try_from(r.competition_id).unwrap_or(0);
    let by_uid =
        |f: &dyn Fn(u16) -> f64| -> BTreeMap<u16, f64> { r.models.iter().map(|m| (m.uid, f(m.uid))).collect() };
    let outcome = |uid: u16| r.outcome.iter().find(|o| o.uid == uid);
    let mut log = StepLog {
        step: r.step,
        time: r.time_unix,
        step_competition_id: comp,
        block: r.block,
        uid_data: r.models.iter().map(|m| (m.uid, m.score)).collect(),
        perplexity_data: None,
        uid_epsilon_adv: None,
        win_rate_data: by_uid(&|uid| outcome(uid).map_or(0.0, |o| o.win_rate)),
        win_total_data: r.outcome.iter().map(|o| (o.uid, o.wins as u32)).collect(),
        weight_data: by_uid(&|uid| r.subnet_weights.get(&uid).copied().unwrap_or(0.0)),
        competition_weight_data: by_uid(&|uid| r.competition_weights.get(&uid).copied().unwrap_or(0.0)),
        competition_id: r.models.iter().filter(|m| m.repo.is_some()).map(|m| (m.uid, comp)).collect(),
        load_model_perf: perf(r.models.iter().map(|m| m.load_seconds)),
        compute_model_perf: perf(r.models.iter().map(|m| m.eval_seconds)),
        load_data_perf: perf(std::iter::once(r.load_data_seconds)),
        original_format_json: String::new(),
        task_scores: BTreeMap::new(),
    };
    for (i, task) in r.tasks.iter().enumerate() {
        let column = |f: &dyn Fn(&crate::step_record::TaskScore) -> f64| -> BTreeMap<u16, f64> {
            r.models.iter().filter_map(|m| m.task_scores.get(i).map(|t| (m.uid, f(t)))).collect()
        };
        log.set_task_scores(&task.name, column(&|t| t.raw), column(&|t| t.normalized), column(&|t| t.weighted));
    }
    let original = OriginalFormat {
        timestamp: r.time_unix,
        competition_id: comp,
        seed: None,
        sync_block: r.sync_block,
        sample_ids: Some(r.tasks.iter().flat_map(|t| t.sample_ids.iter().cloned()).collect()),
        uids: r.models.iter().map(|m| m.uid).collect(),
        uid_data: r
            .models
            .iter()
            .map(|m| {
                let o = outcome(m.uid);
                let entry = OriginalUidEntry {
                    uid: m.uid,
                    block: m.commit_block.unwrap_or(0),
                    hf: m.repo.clone().unwrap_or_else(|| "unknown".into()),
                    competition_id: comp,
                    average_loss: m.score,
                    perplexity: None,
                    epsilon_adv: None,
                    win_rate: o.map_or(0.0, |o| o.win_rate),
                    win_total: o.map_or(0, |o| o.wins as u32),
                    weight: r.subnet_weights.get(&m.uid).copied().unwrap_or(0.0),
                    norm_weight: r.competition_weights.get(&m.uid).copied(),
                    task_scores: m.task_scores.iter().map(|t| (t.task.clone(), t.raw)).collect(),
                };
                (m.uid, entry)
            })
            .collect(),
    };
    log.original_format_json = original.to_json();
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> StepRecord {
        serde_json::from_value(serde_json::json!({
            "record_version": 1, "time_unix": 1700000000.5, "step": 7, "block": 120, "sync_block": 110,
            "block_hash": "0x00", "seed": "42", "competition_id": 1, "competition_name": "C",
            "tasks": [{"name": "DYCK", "dataset": "DyckLanguage", "method": "ReferenceLoss", "sample_ids": ["a", "b"]}],
            "models": [
                {"uid": 3, "hotkey": "h3", "repo": "n/m", "commit": "c", "directory_hash": null, "commit_block": 10,
                 "task_scores": [{"task": "DYCK", "raw": 2.0, "normalized": 2.0, "weighted": 1.0}],
                 "score": 2.0, "error": null, "load_seconds": 1.0, "eval_seconds": 3.0},
                {"uid": 5, "hotkey": "h5", "repo": null, "commit": null, "directory_hash": null, "commit_block": null,
                 "task_scores": [], "score": "inf", "error": "no model", "load_seconds": 0.0, "eval_seconds": 0.0}
            ],
            "input": {"current_block": 120, "epsilon": {"fixed": 0.005}, "mode": "score", "weighting": "winner_takes_all",
                      "models": [{"uid": 3, "block": 10, "score": 2.0}, {"uid": 5, "block": null, "score": "inf"}]},
            "outcome": [{"uid": 3, "wins": 1, "win_rate": 1.0, "weight": 1.0, "competitive": true},
                        {"uid": 5, "wins": 0, "win_rate": 0.0, "weight": 0.0, "competitive": true}],
            "tracker_updated": true, "competition_weights": {"3": 1.0}, "subnet_weights": {"3": 1.0},
            "kept_uids": [3, 5], "load_data_seconds": 0.5, "total_seconds": 4.0
        }))
        .unwrap()
    }

    #[test]
    fn a_round_becomes_upstreams_wandb_row() {
        let log = step_log(&record());
        assert_eq!((log.step, log.block, log.step_competition_id), (7, 120, 1));
        assert_eq!(log.uid_data[&3], 2.0);
        assert_eq!(log.uid_data[&5], f64::INFINITY);
        assert_eq!(log.win_rate_data[&3], 1.0);
        assert_eq!(log.win_total_data[&3], 1);
        assert_eq!((log.weight_data[&3], log.weight_data[&5]), (1.0, 0.0));
        assert_eq!(log.competition_id.keys().copied().collect::<Vec<_>>(), vec![3], "only uids with a model");
        assert_eq!(log.task_scores["DYCK.weighted_norm_score"][&3], 1.0);
        assert_eq!(log.load_model_perf.max, 1.0);
        let original: serde_json::Value =
            serde_json::from_str(&log.original_format_json.replace("Infinity", "\"inf\"")).unwrap();
        assert_eq!(original["uid_data"]["3"]["hf"], "n/m");
        assert_eq!(original["uid_data"]["5"]["hf"], "unknown");
        assert_eq!(original["sample_ids"], serde_json::json!(["a", "b"]));
    }
}
