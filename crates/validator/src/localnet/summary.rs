//! What a localnet run shows at the end: every miner, what it is there to show, whether it was
//! evaluated (or why not), its last score, its weight, and the weight the chain holds for it.
//! Also written to `summary.json` for scripts and tests.

use super::subnet::{Manifest, Role};
use crate::model_tracker::ModelStatus;
use crate::run::Validator;
use crate::step_record::RecordLog;
use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MinerSummary {
    pub uid: u16,
    pub role: Role,
    /// `evaluated`, `verified` (not yet evaluated), `rejected`, `waiting` or `unknown`.
    pub status: String,
    /// Why the miner was not evaluated.
    pub reason: Option<String>,
    /// Its score in the last round that evaluated it (lower is better).
    pub score: Option<f64>,
    /// The validator's subnet weight for it.
    pub weight: f64,
    /// Its weight as set on the local chain, normalised to sum 1.
    pub chain_weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub rounds_recorded: usize,
    pub miners: Vec<MinerSummary>,
}

pub async fn summarize(manifest: &Manifest, validator: &Validator) -> Result<Summary> {
    let records = RecordLog::read_all(validator.records.path()).unwrap_or_default();
    let head = validator.chain.head().await?;
    let rows = validator.chain.weights(manifest.netuid, &head).await.unwrap_or_default();
    let row = rows.get(&manifest.validator_uid).cloned().unwrap_or_default();
    let row_total: f64 = row.iter().map(|(_, w)| *w as f64).sum();
    let weights = validator.subnet_weights(head.number)?;
    let inner = validator.inner.lock().expect("state lock");
    let miners = manifest
        .miners
        .iter()
        .map(|m| {
            let score = records
                .iter()
                .rev()
                .find_map(|r| r.models.iter().find(|x| x.uid == m.uid && x.repo.is_some()).map(|x| x.score));
            let (status, reason) = match inner.models.status(&m.hotkey) {
                Some(ModelStatus::Ready { .. }) if score.is_some() => ("evaluated".to_string(), None),
                Some(ModelStatus::Ready { .. }) => ("verified".to_string(), None),
                Some(ModelStatus::Rejected { reason, .. }) => ("rejected".to_string(), Some(reason.clone())),
                Some(ModelStatus::Waiting { eligible_at }) => {
                    ("waiting".to_string(), Some(format!("eligible at block {eligible_at}")))
                }
                None => ("unknown".to_string(), None),
            };
            let chain_weight =
                row.iter().find(|(uid, _)| *uid == m.uid).map(|(_, w)| *w as f64 / row_total.max(1.0)).unwrap_or(0.0);
            MinerSummary {
                uid: m.uid,
                role: m.role.clone(),
                status,
                reason,
                score,
                weight: weights.get(m.uid as usize).copied().unwrap_or(0.0),
                chain_weight,
            }
        })
        .collect();
    Ok(Summary { rounds_recorded: records.len(), miners })
}

/// A reason cut to fit a table cell (the whole text is in `summary.json`).
fn shorten(reason: &str) -> String {
    const WIDTH: usize = 90;
    if reason.chars().count() <= WIDTH {
        reason.to_string()
    } else {
        format!("{}…", reason.chars().take(WIDTH - 1).collect::<String>())
    }
}

pub fn print(summary: &Summary) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "uid",
        "miner",
        "status",
        "last score",
        "weight",
        "on chain",
        "why not evaluated",
    ]);
    for m in &summary.miners {
        table.add_row([
            m.uid.to_string(),
            m.role.label(),
            m.status.clone(),
            m.score.map(|s| format!("{s:.4}")).unwrap_or_else(|| "-".into()),
            format!("{:.4}", m.weight),
            format!("{:.4}", m.chain_weight),
            m.reason.as_deref().map(shorten).unwrap_or_default(),
        ]);
    }
    println!("\nlocalnet: {} rounds recorded\n{table}", summary.rounds_recorded);
}

pub fn write(dir: &Path, summary: &Summary) -> Result<()> {
    crate::state::write_atomically(&dir.join("summary.json"), &serde_json::to_vec_pretty(summary)?)
}
