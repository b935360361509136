//! Competitions, their model constraints and evaluation tasks, and the schedule that says which
//! competitions run (and with what reward share) at a given block.
//!
//! Schedules are data: upstream's real ones ship as JSON in `schedules/` (summer 2024 and the
//! 2025 HEAD, with their blocks) and a local one can be loaded from a file for `localnet` and
//! tests. A schedule also carries the scoring rules that must be equal across validators for
//! their weights to agree (win mode, weighting, tracker parameters, sync-block grid, ...).

use crate::epsilon::Epsilon;
use crate::tracker::TrackerParams;
use crate::weights::Weighting;
use crate::Block;
use serde::{Deserialize, Serialize};

/// Upstream's `CompetitionId` (an int; commitments may carry any integer).
pub type CompetitionId = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalMethod {
    /// Mean NLL over the reference (response) tokens, context masked.
    ReferenceLoss,
    /// Mean NLL over every next-token prediction of a text.
    TextLoss,
    /// Greedy generation, first `A`..`D` word compared with the answer.
    MultipleChoice,
    /// Greedy generation checked against instruction-following rules.
    IfEval,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetId {
    /// SN18 (Cortex.t) validator runs on wandb, the summer-2024 source.
    Cortex,
    SyntheticMmlu,
    WordSorting,
    DyckLanguage,
    Fineweb,
    SyntheticIfEval,
    Synthetic1Sft,
    CodeforcesCots,
    /// An operator's own JSONL file (`dataset_kwargs.path`).
    Jsonl,
}

impl DatasetId {
    /// Whether the samples are generated locally from the seed (no network, cannot fail).
    pub fn is_offline(&self) -> bool {
        matches!(self, DatasetId::WordSorting | DatasetId::DyckLanguage | DatasetId::Jsonl)
    }
}

/// taoverse `NormalizationId`; every score is lower-is-better before and after.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalization {
    #[default]
    None,
    /// Maps `[0, ceiling]` onto `[0, 1]`: `1 if raw >= c else (1 - e^(-raw/c)) / (1 - e^-1)`.
    InverseExponential { ceiling: f64 },
}

impl Normalization {
    pub fn apply(&self, raw: f64) -> f64 {
        match *self {
            Normalization::None => raw,
            Normalization::InverseExponential { ceiling } => {
                if raw >= ceiling {
                    1.0
                } else {
                    (1.0 - (-raw / ceiling).exp()) / (1.0 - (-1.0f64).exp())
                }
            }
        }
    }
}

/// One task of a competition's evaluation (taoverse `EvalTask`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalTask {
    pub name: String,
    pub method: EvalMethod,
    pub dataset: DatasetId,
    #[serde(default)]
    pub normalization: Normalization,
    /// Loader options (page counts, sample counts, file paths), interpreted by `datasets`.
    #[serde(default)]
    pub dataset_kwargs: serde_json::Map<String, serde_json::Value>,
    pub weight: f64,
}

/// taoverse `NormValidationConstraints`: Frobenius norms of the attention and MLP projections.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormValidation {
    pub norm_eps_soft: f64,
    pub norm_eps_soft_percent_threshold: f64,
    pub norm_eps_hard: f64,
}

impl NormValidation {
    pub const UPSTREAM: NormValidation =
        NormValidation { norm_eps_soft: 200.0, norm_eps_soft_percent_threshold: 0.15, norm_eps_hard: 1000.0 };
}

/// What a model must satisfy to be evaluated in a competition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConstraints {
    pub max_model_parameter_size: u64,
    #[serde(default)]
    pub min_model_parameter_size: u64,
    /// Token budget of a sample (inputs are truncated to it).
    pub sequence_length: usize,
    /// Exact `architectures[0]` class names from `config.json`.
    pub allowed_architectures: Vec<String>,
    /// A fixed evaluation tokenizer (e.g. `Xenova/gpt-4`), or `None` for the miner's own.
    pub tokenizer: Option<String>,
    /// Blocks a commitment must age before its model is downloaded.
    pub eval_block_delay: u64,
    pub epsilon: Epsilon,
    /// Cap on the total size of every file in the repository at the committed revision.
    pub max_bytes: u64,
    pub norm_validation: Option<NormValidation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Competition {
    pub id: CompetitionId,
    pub name: String,
    /// Share of the subnet's weight, within its schedule entry.
    pub reward_percentage: f64,
    pub constraints: ModelConstraints,
    pub eval_tasks: Vec<EvalTask>,
}

impl Competition {
    /// finetuning `score_model`'s combination: `Σ weight_t * normalize_t(raw_t)`, tasks in order.
    pub fn combine_task_scores(&self, raw: &[f64]) -> f64 {
        assert_eq!(raw.len(), self.eval_tasks.len());
        self.eval_tasks.iter().zip(raw).map(|(t, &r)| t.weight * t.normalization.apply(r)).sum()
    }
}

/// How wins are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WinMode {
    /// One match per sample per pair of models (summer 2024, v2.0).
    PerSample,
    /// One match per pair of models on a scalar score (since v2.0.1).
    Score,
}

/// Upstream's evaluation windows: one round per competition per window, seeded by the hash of
/// the window's first block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncBlocks {
    pub genesis: Block,
    pub cadence: u64,
}

impl SyncBlocks {
    /// `(b - G) // C * C + G`, Python floor division.
    pub fn sync_block(&self, block: Block) -> Block {
        let (g, c) = (self.genesis as i128, self.cadence as i128);
        ((block as i128 - g).div_euclid(c) * c + g).max(0) as Block
    }

    /// The first grid block strictly after `block`.
    pub fn next_sync_block(&self, block: Block) -> Block {
        self.sync_block(block) + self.cadence
    }
}

/// The rules every validator of a subnet must share for their weights to agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringRules {
    pub mode: WinMode,
    pub weighting: Weighting,
    pub tracker: TrackerParams,
    /// SN9's `compute_competitive_uids` filter (off upstream in SN37).
    pub anti_clone: bool,
    /// uids kept in a competition's eval set after a round.
    pub sample_min: usize,
    /// Cap on pending + kept uids over all competitions.
    pub updated_models_limit: usize,
    /// `None` for summer 2024, which evaluated back to back.
    pub sync_blocks: Option<SyncBlocks>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    pub start_block: Block,
    pub competitions: Vec<Competition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub rules: ScoringRules,
    /// Ascending by `start_block`; the entry in force at block `b` is the last one starting at
    /// or before `b`.
    pub entries: Vec<ScheduleEntry>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule is not valid JSON: {0}")]
    Json(String),
    #[error("schedule has no entries")]
    Empty,
    #[error("schedule entries are not in ascending block order at block {0}")]
    Unordered(Block),
    #[error("entry at block {block}: reward percentages sum to {sum}, not 1")]
    RewardSum { block: Block, sum: f64 },
    #[error("entry at block {block}: competition {id} appears twice")]
    DuplicateCompetition { block: Block, id: CompetitionId },
    #[error("competition {id}: {reason}")]
    BadCompetition { id: CompetitionId, reason: String },
    #[error("no schedule entry covers block {0}")]
    NoEntryForBlock(Block),
    #[error("unknown built-in schedule {0:?} (known: upstream-2024, upstream-2025, localnet)")]
    UnknownBuiltin(String),
}

/// Python's `math.isclose(a, b)` with its default relative tolerance.
fn is_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn validate_competition(c: &Competition) -> Result<(), String> {
    c.constraints.epsilon.validate().map_err(|e| e.to_string())?;
    if !(c.reward_percentage > 0.0 && c.reward_percentage <= 1.0) {
        return Err(format!("reward percentage {} is not in (0, 1]", c.reward_percentage));
    }
    if c.constraints.min_model_parameter_size > c.constraints.max_model_parameter_size {
        return Err("min_model_parameter_size exceeds max_model_parameter_size".into());
    }
    if c.constraints.sequence_length == 0 {
        return Err("sequence_length is 0".into());
    }
    if c.eval_tasks.is_empty() {
        return Err("no eval tasks".into());
    }
    for t in &c.eval_tasks {
        if t.weight.is_nan() || t.weight <= 0.0 {
            return Err(format!("task {} has weight {}, must be > 0", t.name, t.weight));
        }
        if let Normalization::InverseExponential { ceiling } = t.normalization {
            if ceiling.is_nan() || ceiling <= 0.0 {
                return Err(format!("task {} has ceiling {ceiling}, must be > 0", t.name));
            }
        }
    }
    let sum: f64 = c.eval_tasks.iter().map(|t| t.weight).sum();
    if !is_close(sum, 1.0) {
        return Err(format!("task weights sum to {sum}, not 1"));
    }
    Ok(())
}

impl Schedule {
    /// Upstream finetuning v1.2.0 (summer 2024): competition 1 only, softmax, alpha 0.5.
    pub fn upstream_2024() -> Schedule {
        Self::from_json(include_str!("../schedules/upstream-2024.json")).expect("built-in schedule is valid")
    }

    /// Upstream finetuning 3.1.0 (2025 HEAD): the B7 / INSTRUCT_8B / DISTILLED_REASONING_3B
    /// entries with their blocks, winner-takes-all, alpha 0.9, threshold 0.18.
    pub fn upstream_2025() -> Schedule {
        Self::from_json(include_str!("../schedules/upstream-2025.json")).expect("built-in schedule is valid")
    }

    /// The schedule `localnet` runs: offline tasks, small models, the anti-clone filter on.
    pub fn localnet() -> Schedule {
        Self::from_json(include_str!("../schedules/localnet.json")).expect("built-in schedule is valid")
    }

    /// A built-in schedule by name.
    pub fn builtin(name: &str) -> Result<Schedule, ScheduleError> {
        match name {
            "upstream-2024" => Ok(Self::upstream_2024()),
            "upstream-2025" => Ok(Self::upstream_2025()),
            "localnet" => Ok(Self::localnet()),
            other => Err(ScheduleError::UnknownBuiltin(other.to_string())),
        }
    }

    /// Parses and validates a schedule (upstream asserts the same sums at import time).
    pub fn from_json(text: &str) -> Result<Schedule, ScheduleError> {
        let schedule: Schedule = serde_json::from_str(text).map_err(|e| ScheduleError::Json(e.to_string()))?;
        schedule.validate()?;
        Ok(schedule)
    }

    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.entries.is_empty() {
            return Err(ScheduleError::Empty);
        }
        for pair in self.entries.windows(2) {
            if pair[1].start_block <= pair[0].start_block {
                return Err(ScheduleError::Unordered(pair[1].start_block));
            }
        }
        for entry in &self.entries {
            let sum: f64 = entry.competitions.iter().map(|c| c.reward_percentage).sum();
            if !is_close(sum, 1.0) {
                return Err(ScheduleError::RewardSum { block: entry.start_block, sum });
            }
            for (i, c) in entry.competitions.iter().enumerate() {
                if entry.competitions[..i].iter().any(|o| o.id == c.id) {
                    return Err(ScheduleError::DuplicateCompetition { block: entry.start_block, id: c.id });
                }
                validate_competition(c).map_err(|reason| ScheduleError::BadCompetition { id: c.id, reason })?;
            }
        }
        Ok(())
    }

    /// `get_competition_schedule_for_block`: the competitions in force at `block`.
    pub fn competitions_at(&self, block: Block) -> Result<&[Competition], ScheduleError> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_block <= block)
            .map(|e| e.competitions.as_slice())
            .ok_or(ScheduleError::NoEntryForBlock(block))
    }

    /// `get_competition_for_block(id, block)`.
    pub fn competition_at(&self, id: CompetitionId, block: Block) -> Option<&Competition> {
        self.competitions_at(block).ok()?.iter().find(|c| c.id == id)
    }

    /// Every architecture any competition of this schedule allows.
    pub fn all_architectures(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .entries
            .iter()
            .flat_map(|e| &e.competitions)
            .flat_map(|c| c.constraints.allowed_architectures.iter().map(String::as_str))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_validate() {
        for name in ["upstream-2024", "upstream-2025", "localnet"] {
            let s = Schedule::builtin(name).unwrap();
            assert!(!s.entries.is_empty(), "{name}");
        }
    }

    #[test]
    fn upstream_2025_entries_by_block() {
        let s = Schedule::upstream_2025();
        let ids = |b| s.competitions_at(b).unwrap().iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(0), vec![2, 3]);
        assert_eq!(ids(4_675_162), vec![2, 3]);
        assert_eq!(ids(4_675_163), vec![3]);
        assert_eq!(ids(5_158_631), vec![3]);
        assert_eq!(ids(5_158_632), vec![4]);
        assert_eq!(ids(9_000_000), vec![4]);
        let c = s.competition_at(4, 6_000_000).unwrap();
        assert_eq!(c.constraints.sequence_length, 16384);
        assert_eq!(c.constraints.min_model_parameter_size, 3_200_000_000);
        assert_eq!(c.constraints.eval_block_delay, 460);
        assert!(s.competition_at(1, 6_000_000).is_none());
    }

    #[test]
    fn upstream_2024_is_the_seed_era() {
        let s = Schedule::upstream_2024();
        let c = s.competition_at(1, 3_500_000).unwrap();
        assert_eq!(c.constraints.max_bytes, 15 * 1024 * 1024 * 1024);
        assert_eq!(c.constraints.eval_block_delay, 1200);
        assert_eq!(c.constraints.epsilon, Epsilon::Fixed(0.005));
        assert_eq!(s.rules.tracker, TrackerParams::SUMMER_2024);
        assert_eq!(s.rules.weighting, Weighting::Softmax { temperature: 0.01 });
        assert!(!s.rules.anti_clone);
    }

    #[test]
    fn sync_grid_matches_upstream() {
        let g = SyncBlocks { genesis: 3_138_611, cadence: 360 };
        assert_eq!(g.sync_block(3_138_611), 3_138_611);
        assert_eq!(g.sync_block(3_138_970), 3_138_611);
        assert_eq!(g.sync_block(3_138_971), 3_138_971);
        assert_eq!(g.next_sync_block(3_138_611), 3_138_971);
        assert_eq!(g.next_sync_block(3_138_700), 3_138_971);
    }

    #[test]
    fn rejects_bad_rewards() {
        let mut s = Schedule::upstream_2024();
        s.entries[0].competitions[0].reward_percentage = 0.5;
        assert!(matches!(s.validate(), Err(ScheduleError::RewardSum { .. })));
    }

    #[test]
    fn inverse_exponential() {
        let n = Normalization::InverseExponential { ceiling: 20.0 };
        assert_eq!(n.apply(20.0), 1.0);
        assert_eq!(n.apply(f64::INFINITY), 1.0);
        assert_eq!(n.apply(0.0), 0.0);
        assert!((n.apply(19.999999) - 1.0).abs() < 1e-6);
    }
}
