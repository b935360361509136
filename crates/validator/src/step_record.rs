//! The record of one evaluation round, appended as a JSON line to `steps.jsonl`.
//!
//! A record is self-contained: the block and seed the samples came from, which samples, each
//! model's identity and scores, and under `input` the exact scoring record, so
//! `sn37-validator score steps.jsonl` recomputes every round's wins and step weights.

use anyhow::{Context, Result};
use scoring::float_json;
use scoring::record::ScoringRecord;
use scoring::{Block, CompetitionId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub name: String,
    pub dataset: String,
    pub method: String,
    /// Stable ids of the samples scored, in order.
    pub sample_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    pub task: String,
    #[serde(with = "float_json")]
    pub raw: f64,
    #[serde(with = "float_json")]
    pub normalized: f64,
    /// `normalized` times the task's weight: its share of the combined score.
    #[serde(with = "float_json", default)]
    pub weighted: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub uid: u16,
    pub hotkey: String,
    /// `namespace/name`, when the uid had a usable commitment for this competition.
    pub repo: Option<String>,
    pub commit: Option<String>,
    pub directory_hash: Option<String>,
    pub commit_block: Option<Block>,
    pub task_scores: Vec<TaskScore>,
    /// The combined score the round compared (lower is better); `inf` for a failed model.
    #[serde(with = "float_json")]
    pub score: f64,
    /// Why the model scored `inf`, if it did.
    pub error: Option<String>,
    pub load_seconds: f64,
    pub eval_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub uid: u16,
    pub wins: u64,
    pub win_rate: f64,
    pub weight: f64,
    pub competitive: bool,
}

/// Our agreement with the subnet's consensus (Yuma), estimated after the round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VtrustSummary {
    /// Our row on chain against consensus.
    pub set: f64,
    /// The row we are about to set, against the current consensus.
    pub about_to_set: Option<f64>,
    /// The same, with the epoch rerun as if our row were already in place.
    pub about_to_set_in_place: Option<f64>,
    /// What the chain stored at its last epoch, where it stores it.
    pub chain_stored: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub record_version: u32,
    pub time_unix: f64,
    pub step: u64,
    pub block: Block,
    pub sync_block: Option<Block>,
    pub block_hash: Option<String>,
    /// The 256-bit seed as a decimal string.
    pub seed: Option<String>,
    pub competition_id: CompetitionId,
    pub competition_name: String,
    pub tasks: Vec<TaskRecord>,
    pub models: Vec<ModelRecord>,
    /// What `score` replays.
    pub input: ScoringRecord,
    pub outcome: Vec<OutcomeRecord>,
    /// False when the round was not folded into the tracker (every model failed).
    pub tracker_updated: bool,
    /// Non-zero tracked weights of this competition after the round, by uid.
    pub competition_weights: BTreeMap<u16, f64>,
    /// Non-zero subnet weights after the round, by uid.
    pub subnet_weights: BTreeMap<u16, f64>,
    pub kept_uids: Vec<u16>,
    pub load_data_seconds: f64,
    pub total_seconds: f64,
    /// Weight submissions since the previous round, this round's included: set, or committed
    /// (with the reveal round and epoch and the payload hash of a timelocked commit).
    #[serde(default)]
    pub weights_submissions: Vec<chain::Submitted>,
    #[serde(default)]
    pub vtrust: Option<VtrustSummary>,
}

/// The append-only file of step records.
pub struct RecordLog {
    path: PathBuf,
}

impl RecordLog {
    /// Opens (creating) the log; a last line cut short by a crash is removed so that every line
    /// stays a whole record.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        if !text.is_empty() && !text.ends_with(b"\n") {
            let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)?;
            file.seek(SeekFrom::End(0))?;
        }
        Ok(RecordLog { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&self, record: &StepRecord) -> Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut file = OpenOptions::new().append(true).open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()?;
        Ok(())
    }

    /// Every record in the log, in order.
    pub fn read_all(path: &Path) -> Result<Vec<StepRecord>> {
        let mut text = String::new();
        File::open(path)?.read_to_string(&mut text)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), i + 1)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").unwrap();
        RecordLog::open(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n");
    }
}
