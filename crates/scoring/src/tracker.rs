//! The per-competition moving average of step weights, and its combination into subnet weights
//! (taoverse `CompetitionTracker`).
//!
//! Each step, upstream's `run_step` calls, in order: [`CompetitionTracker::record`] for the
//! competition just evaluated, [`CompetitionTracker::reset_competitions`] with the ids of the
//! current schedule, and [`CompetitionTracker::subnet_weights`] for that schedule.
//!
//! Semantics reproduced (golden `tracker-*.json`):
//! - `record` normalises the step vector (`w / Σw`, NaN → 0); the first record of a competition
//!   is stored as is, later ones as `keep_old * old + (1 - keep_old) * new`. Upstream calls
//!   `keep_old` *alpha*, and the name misled its own maintainers (an "alpha 0.5 → 0.05" release
//!   meant slower and was faster), so we name it for what it does.
//! - A longer step vector (the metagraph grew) pads every tracked competition with zeros; a
//!   shorter one is refused before any change.
//! - `latest` semantics renormalises each stored vector in place, zeroes values below the
//!   minimum-weight threshold on a copy, renormalises the copy, and only then weights it by the
//!   competition's reward share.
//!
//! One deliberate difference: upstream's in-place `W /= ΣW` turns a stored all-zero vector into
//! NaN forever (golden tracker-020's `quirk`); we leave an all-zero vector as it is, so a
//! competition recovers at its first real record.
//!
//! Parameters are passed in, never stored: state on disk must not pin configuration (upstream
//! persisted alpha, and a constant change silently did not apply).

use crate::competition::CompetitionId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrackerSemantics {
    /// taoverse 1.0.5 (summer 2024): reward-weighted sum, renormalised.
    #[serde(rename = "taoverse-1.0.5")]
    Taoverse105,
    /// taoverse ≥ 1.2.1 (2025): per-competition renormalisation and minimum-weight threshold.
    #[serde(rename = "latest")]
    Latest,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackerParams {
    /// Weight of the old value in the moving average (upstream's `alpha`: 0.5 in 2024, 0.9 in 2025).
    pub keep_old: f64,
    /// Competition weights below this are dropped before combining (0.18 in 2025, 0 in 2024).
    pub min_weight_threshold: f64,
    pub semantics: TrackerSemantics,
}

impl TrackerParams {
    pub const SUMMER_2024: TrackerParams =
        TrackerParams { keep_old: 0.5, min_weight_threshold: 0.0, semantics: TrackerSemantics::Taoverse105 };
    pub const LATEST_2025: TrackerParams =
        TrackerParams { keep_old: 0.9, min_weight_threshold: 0.18, semantics: TrackerSemantics::Latest };
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackerError {
    #[error("shrink: step weights have {got} entries but the tracker holds {have} neurons")]
    Shrink { have: usize, got: usize },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompetitionTracker {
    num_neurons: usize,
    weights_by_competition: BTreeMap<CompetitionId, Vec<f64>>,
}

/// torch's `nan_to_num(0.0)`: NaN → 0, ±inf → the largest finite value of that sign.
fn nan_to_num(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(f64::MIN, f64::MAX)
    }
}

/// `v / Σv` then `nan_to_num`, the sum taken left to right.
fn normalised(v: &[f64]) -> Vec<f64> {
    let sum: f64 = v.iter().sum();
    v.iter().map(|x| nan_to_num(x / sum)).collect()
}

impl CompetitionTracker {
    pub fn new(num_neurons: usize) -> Self {
        CompetitionTracker { num_neurons, weights_by_competition: BTreeMap::new() }
    }

    pub fn num_neurons(&self) -> usize {
        self.num_neurons
    }

    /// The tracked competitions, by id.
    pub fn competitions(&self) -> impl Iterator<Item = (CompetitionId, &[f64])> {
        self.weights_by_competition.iter().map(|(id, w)| (*id, w.as_slice()))
    }

    /// `get_competition_weights`: the moving average of one competition, if it has run.
    pub fn competition_weights(&self, id: CompetitionId) -> Option<&[f64]> {
        self.weights_by_competition.get(&id).map(Vec::as_slice)
    }

    /// Grows every tracked vector to `num_neurons`, padding with zeros. Shrinking is refused.
    pub fn resize(&mut self, num_neurons: usize) -> Result<(), TrackerError> {
        if num_neurons < self.num_neurons {
            return Err(TrackerError::Shrink { have: self.num_neurons, got: num_neurons });
        }
        for w in self.weights_by_competition.values_mut() {
            w.resize(num_neurons, 0.0);
        }
        self.num_neurons = num_neurons;
        Ok(())
    }

    /// `record_competition_weights(id, step_weights)`; `step_weights` is indexed by uid.
    pub fn record(
        &mut self,
        id: CompetitionId,
        step_weights: &[f64],
        params: &TrackerParams,
    ) -> Result<(), TrackerError> {
        if step_weights.len() != self.num_neurons {
            self.resize(step_weights.len())?;
        }
        let new = normalised(step_weights);
        match self.weights_by_competition.get_mut(&id) {
            None => {
                self.weights_by_competition.insert(id, new);
            }
            Some(old) => {
                let keep = params.keep_old;
                for (o, n) in old.iter_mut().zip(&new) {
                    *o = keep * *o + (1.0 - keep) * n;
                }
            }
        }
        Ok(())
    }

    /// Drops competitions that are no longer scheduled (a sunset).
    pub fn reset_competitions(&mut self, active: &[CompetitionId]) {
        self.weights_by_competition.retain(|id, _| active.contains(id));
    }

    /// `get_subnet_weights(schedule)`: each scheduled, tracked competition's weights times its
    /// reward share, summed and renormalised (all zeros stays all zeros). A scheduled competition
    /// that has not run yet does not dilute the others. Takes `&mut self` because `latest`
    /// semantics renormalises the stored vectors in place, as upstream does.
    pub fn subnet_weights(&mut self, schedule: &[(CompetitionId, f64)], params: &TrackerParams) -> Vec<f64> {
        let mut subnet = vec![0.0; self.num_neurons];
        for &(id, reward) in schedule {
            let Some(stored) = self.weights_by_competition.get_mut(&id) else { continue };
            let contribution = match params.semantics {
                TrackerSemantics::Taoverse105 => stored.clone(),
                TrackerSemantics::Latest => {
                    let sum: f64 = stored.iter().sum();
                    if sum != 0.0 && sum.is_finite() {
                        stored.iter_mut().for_each(|w| *w /= sum);
                    }
                    let thresholded: Vec<f64> = stored
                        .iter()
                        .map(|&w| nan_to_num(w))
                        .map(|w| if w < params.min_weight_threshold { 0.0 } else { w })
                        .collect();
                    normalised(&thresholded)
                }
            };
            for (s, c) in subnet.iter_mut().zip(&contribution) {
                *s += c * reward;
            }
        }
        normalised(&subnet)
    }
}

/// Which uids stay in a competition's eval set for its next round (finetuning `run_step`):
/// priority `1 + w` for a uid whose tracked weight `w` is at least 0.001, else its win rate; the
/// `keep` highest, ties broken by ascending uid (upstream's order is set iteration order, which
/// for small ints in CPython is ascending).
pub fn uids_to_keep(uids: &[u16], win_rates: &[f64], competition_weights: &[f64], keep: usize) -> Vec<u16> {
    assert_eq!(uids.len(), win_rates.len());
    let mut ranked: Vec<(f64, u16)> = uids
        .iter()
        .zip(win_rates)
        .map(|(&uid, &rate)| {
            let w = competition_weights.get(uid as usize).copied().unwrap_or(0.0);
            (if w >= 0.001 { 1.0 + w } else { rate }, uid)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().take(keep).map(|(_, uid)| uid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P5: TrackerParams = TrackerParams::SUMMER_2024;
    const P9: TrackerParams = TrackerParams::LATEST_2025;

    #[test]
    fn pre_taoverse_vectors() {
        let mut t = CompetitionTracker::new(4);
        t.record(1, &[0.2, 0.4, 0.6, 0.8], &P5).unwrap();
        let w = t.competition_weights(1).unwrap();
        for (a, b) in w.iter().zip([0.1, 0.2, 0.3, 0.4]) {
            assert!((a - b).abs() < 1e-15);
        }
        let mut t = CompetitionTracker::new(4);
        t.record(1, &[1.0, 0.0, 0.0, 0.0], &P5).unwrap();
        t.record(1, &[0.0, 0.0, 0.0, 1.0], &P5).unwrap();
        assert_eq!(t.competition_weights(1).unwrap(), &[0.5, 0.0, 0.0, 0.5]);
    }

    #[test]
    fn crossing_points_of_keep_old_0_9() {
        let mut t = CompetitionTracker::new(2);
        t.record(1, &[1.0, 0.0], &P9).unwrap();
        let mut first_above = None;
        let mut old_below = None;
        for k in 1..=30 {
            t.record(1, &[0.0, 1.0], &P9).unwrap();
            let s = t.subnet_weights(&[(1, 1.0)], &P9);
            let w = t.competition_weights(1).unwrap().to_vec();
            if first_above.is_none() && w[1] >= 0.18 {
                first_above = Some(k);
            }
            if old_below.is_none() && w[0] < 0.18 {
                old_below = Some(k);
                assert_eq!(s[0], 0.0);
            }
        }
        assert_eq!(first_above, Some(2));
        assert_eq!(old_below, Some(17));
    }

    #[test]
    fn shrink_is_refused_before_any_change() {
        let mut t = CompetitionTracker::new(3);
        t.record(1, &[1.0, 0.0, 0.0], &P5).unwrap();
        let before = t.clone();
        assert!(t.record(1, &[1.0, 0.0], &P5).is_err());
        assert_eq!(t, before);
    }

    #[test]
    fn all_zero_first_record_recovers() {
        let mut t = CompetitionTracker::new(3);
        t.record(1, &[0.0, 0.0, 0.0], &P9).unwrap();
        assert_eq!(t.subnet_weights(&[(1, 1.0)], &P9), vec![0.0; 3]);
        t.record(1, &[0.0, 1.0, 0.0], &P9).unwrap();
        let s = t.subnet_weights(&[(1, 1.0)], &P9);
        assert_eq!(s, vec![0.0, 1.0, 0.0]);
        assert!(t.competition_weights(1).unwrap().iter().all(|w| w.is_finite()));
    }

    #[test]
    fn keep_priority() {
        // uid 3 holds tracked weight, so it outranks the higher win rate of uid 1.
        let kept = uids_to_keep(&[1, 2, 3, 4], &[0.9, 0.5, 0.1, 0.5], &[0.0, 0.0, 0.0, 0.6, 0.0], 3);
        assert_eq!(kept, vec![3, 1, 2]);
    }
}
