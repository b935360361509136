//! The scoring record: everything needed to recompute one step's wins and weights.
//!
//! It is the `input` object of the golden `score-*.json` files, and the validator writes the
//! same object into every step record, so `score` can replay any step bit for bit. Models are
//! kept in input order and the outcome lists them in the same order.

use crate::anti_clone;
use crate::competition::WinMode;
use crate::epsilon::Epsilon;
use crate::float_json;
use crate::weights::Weighting;
use crate::wins::{compute_wins_per_sample, compute_wins_per_score, WinCount};
use crate::Block;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringRecord {
    /// The block epsilon ages are measured at.
    pub current_block: Block,
    pub epsilon: Epsilon,
    pub mode: WinMode,
    pub weighting: Weighting,
    /// SN9's anti-clone filter ([`anti_clone`]); absent means off, as upstream SN37.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anti_clone: bool,
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub uid: u16,
    /// Commitment block; `null` (or `"inf"`) is upstream's "no metadata" (`math.inf`).
    #[serde(serialize_with = "ser_block", deserialize_with = "de_block")]
    pub block: Option<Block>,
    /// Per-sample losses, in `per_sample` mode.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_vec")]
    pub losses: Option<Vec<f64>>,
    /// One lower-is-better score, in `score` mode.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_f64")]
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelOutcome {
    pub uid: u16,
    pub wins: u64,
    pub win_rate: f64,
    /// The unnormalised step weight, as upstream builds it.
    pub weight: f64,
    /// False when the anti-clone filter removed the model from the round.
    #[serde(skip)]
    pub competitive: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoringOutcome {
    pub models: Vec<ModelOutcome>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("the record has no models")]
    NoModels,
    #[error("uid {0} appears more than once")]
    DuplicateUid(u16),
    #[error("model {index} (uid {uid}): mode {mode} needs `{needs}`")]
    MissingField { index: usize, uid: u16, mode: &'static str, needs: &'static str },
    #[error("model {index} (uid {uid}): `{field}` does not belong in mode {mode}")]
    WrongField { index: usize, uid: u16, mode: &'static str, field: &'static str },
    #[error("model {index} (uid {uid}) has {got} losses, model 0 has {want}: every list must have the same length")]
    LengthMismatch { index: usize, uid: u16, got: usize, want: usize },
    #[error("model {index} (uid {uid}) has no losses")]
    NoSamples { index: usize, uid: u16 },
    #[error("epsilon: {0}")]
    Epsilon(String),
    #[error("softmax temperature {0} must be finite and > 0")]
    Temperature(f64),
}

impl ScoringRecord {
    fn mode_name(&self) -> &'static str {
        match self.mode {
            WinMode::PerSample => "per_sample",
            WinMode::Score => "score",
        }
    }

    /// Checks everything `compute` relies on, naming the first problem.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.models.is_empty() {
            return Err(RecordError::NoModels);
        }
        self.epsilon.validate().map_err(|e| RecordError::Epsilon(e.to_string()))?;
        if let Weighting::Softmax { temperature } = self.weighting {
            if !(temperature.is_finite() && temperature > 0.0) {
                return Err(RecordError::Temperature(temperature));
            }
        }
        let mode = self.mode_name();
        let mut want_len = None;
        for (index, m) in self.models.iter().enumerate() {
            let uid = m.uid;
            if self.models[..index].iter().any(|o| o.uid == uid) {
                return Err(RecordError::DuplicateUid(uid));
            }
            match self.mode {
                WinMode::PerSample => {
                    if m.score.is_some() {
                        return Err(RecordError::WrongField { index, uid, mode, field: "score" });
                    }
                    let losses =
                        m.losses.as_ref().ok_or(RecordError::MissingField { index, uid, mode, needs: "losses" })?;
                    if losses.is_empty() {
                        return Err(RecordError::NoSamples { index, uid });
                    }
                    let want = *want_len.get_or_insert(losses.len());
                    if losses.len() != want {
                        return Err(RecordError::LengthMismatch { index, uid, got: losses.len(), want });
                    }
                }
                WinMode::Score => {
                    if m.losses.is_some() {
                        return Err(RecordError::WrongField { index, uid, mode, field: "losses" });
                    }
                    if m.score.is_none() {
                        return Err(RecordError::MissingField { index, uid, mode, needs: "score" });
                    }
                }
            }
        }
        Ok(())
    }

    /// Each model's single score: its score, or the unweighted mean of its losses (upstream's
    /// `average_loss`, `Σ losses / len`).
    pub fn model_scores(&self) -> Vec<f64> {
        self.models
            .iter()
            .map(|m| match (&m.losses, m.score) {
                (_, Some(s)) => s,
                (Some(l), None) => l.iter().sum::<f64>() / l.len() as f64,
                (None, None) => f64::NAN,
            })
            .collect()
    }

    /// True when every model failed (all scores or losses infinite): upstream then shares the
    /// weight among all of them, which rewards broken models; the validator skips such a round.
    pub fn all_failed(&self) -> bool {
        self.models.iter().all(|m| match (&m.losses, m.score) {
            (_, Some(s)) => s == f64::INFINITY,
            (Some(l), None) => l.iter().all(|&x| x == f64::INFINITY),
            (None, None) => true,
        })
    }

    /// Wins, win rates and step weights, in input order.
    pub fn compute(&self) -> Result<ScoringOutcome, RecordError> {
        self.validate()?;
        let blocks: Vec<Option<Block>> = self.models.iter().map(|m| m.block).collect();
        let competitive = if self.anti_clone {
            anti_clone::competitive(&blocks, &self.model_scores(), &self.epsilon)
        } else {
            vec![true; self.models.len()]
        };
        let kept: Vec<usize> = (0..self.models.len()).filter(|&i| competitive[i]).collect();
        let kept_blocks: Vec<Option<Block>> = kept.iter().map(|&i| blocks[i]).collect();
        let counts: Vec<WinCount> = match self.mode {
            WinMode::PerSample => {
                let losses: Vec<&[f64]> =
                    kept.iter().map(|&i| self.models[i].losses.as_deref().unwrap_or(&[])).collect();
                compute_wins_per_sample(&kept_blocks, &losses, &self.epsilon, self.current_block)
            }
            WinMode::Score => {
                let scores: Vec<f64> = kept.iter().map(|&i| self.models[i].score.unwrap_or(f64::NAN)).collect();
                compute_wins_per_score(&kept_blocks, &scores, &self.epsilon, self.current_block)
            }
        };
        let rates: Vec<f64> = counts.iter().map(|c| c.win_rate).collect();
        let step = self.weighting.step_weights(&rates);
        let mut models: Vec<ModelOutcome> = self
            .models
            .iter()
            .map(|m| ModelOutcome { uid: m.uid, wins: 0, win_rate: 0.0, weight: 0.0, competitive: false })
            .collect();
        for ((&i, count), weight) in kept.iter().zip(&counts).zip(step) {
            models[i] = ModelOutcome {
                uid: self.models[i].uid,
                wins: count.wins,
                win_rate: count.win_rate,
                weight,
                competitive: true,
            };
        }
        Ok(ScoringOutcome { models })
    }
}

fn ser_block<S: Serializer>(b: &Option<Block>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.serialize_u64(*b),
        None => s.serialize_none(),
    }
}

fn de_block<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Block>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        N(u64),
        S(String),
        Null(()),
    }
    match B::deserialize(d)? {
        B::N(n) => Ok(Some(n)),
        B::Null(()) => Ok(None),
        B::S(s) if float_json::parse_special(&s) == Some(f64::INFINITY) => Ok(None),
        B::S(s) => {
            Err(serde::de::Error::custom(format!("block must be a non-negative integer, null or \"inf\", got {s:?}")))
        }
    }
}

mod opt_vec {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<Vec<f64>>, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct W<'a>(#[serde(with = "float_json::vec")] &'a Vec<f64>);
        v.as_ref().map(W).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "float_json::vec")] Vec<f64>);
        Ok(Option::<W>::deserialize(d)?.map(|W(v)| v))
    }
}

mod opt_f64 {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct W(#[serde(with = "float_json")] f64);
        v.map(W).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "float_json")] f64);
        Ok(Option::<W>::deserialize(d)?.map(|W(v)| v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> ScoringRecord {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn round_trip_with_specials() {
        let r = record(
            r#"{"current_block":10,"epsilon":{"fixed":0.005},"mode":"per_sample","weighting":"winner_takes_all",
                "models":[{"uid":1,"block":3,"losses":[1.0,"inf"]},{"uid":2,"block":null,"losses":["nan",2.0]}]}"#,
        );
        assert_eq!(r.models[1].block, None);
        let back: ScoringRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.models[0].losses.as_ref().unwrap()[1], f64::INFINITY);
        assert!(back.models[1].losses.as_ref().unwrap()[0].is_nan());
    }

    #[test]
    fn validation_names_the_problem() {
        let base = r#"{"current_block":10,"epsilon":{"fixed":0.005},"mode":"per_sample","weighting":"winner_takes_all","models":"#;
        let bad = |models: &str| record(&format!("{base}{models}}}")).compute().unwrap_err();
        assert_eq!(bad("[]"), RecordError::NoModels);
        assert!(matches!(
            bad(r#"[{"uid":1,"block":1,"losses":[1.0]},{"uid":2,"block":1,"losses":[1.0,2.0]}]"#),
            RecordError::LengthMismatch { index: 1, uid: 2, .. }
        ));
        assert!(matches!(bad(r#"[{"uid":1,"block":1,"score":1.0}]"#), RecordError::WrongField { .. }));
        assert!(matches!(
            bad(r#"[{"uid":1,"block":1,"losses":[1.0]},{"uid":1,"block":2,"losses":[1.0]}]"#),
            RecordError::DuplicateUid(1)
        ));
    }

    #[test]
    fn anti_clone_zeroes_the_later_clone() {
        let r = record(
            r#"{"current_block":1000,"epsilon":{"linear_decay":{"start":0.05,"end":0.01,"decay_blocks":100}},"mode":"score",
                "weighting":"winner_takes_all","anti_clone":true,
                "models":[{"uid":1,"block":10,"score":1.0},{"uid":2,"block":20,"score":1.0},{"uid":3,"block":30,"score":2.0}]}"#,
        );
        let out = r.compute().unwrap();
        let w: Vec<f64> = out.models.iter().map(|m| m.weight).collect();
        assert_eq!(w, vec![1.0, 0.0, 0.0]);
        assert!(!out.models[1].competitive);
        assert_eq!(out.models[0].wins, 0);
    }
}
