//! Which uids each competition evaluates in its next round.
//!
//! `kept` holds the uids a round decided to keep (the top `sample_min` by tracked weight, then
//! win rate); `pending` holds newly synced models waiting for their competition's next round.
//! A round takes `kept ∪ pending` and clears `pending`; the update loop only adds to `pending`.

use scoring::CompetitionId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::state::StatePart;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalSets {
    kept: BTreeMap<CompetitionId, BTreeSet<u16>>,
    pending: BTreeMap<CompetitionId, BTreeSet<u16>>,
}

impl StatePart for EvalSets {
    const FILE: &'static str = "eval_sets.json";
    const VERSION: u32 = 1;
}

impl EvalSets {
    pub fn add_pending(&mut self, competition_id: CompetitionId, uid: u16) {
        self.pending.entry(competition_id).or_default().insert(uid);
    }

    /// The uids of a round of `competition_id`, ascending; its pending set is emptied.
    pub fn take_round(&mut self, competition_id: CompetitionId) -> Vec<u16> {
        let pending = self.pending.remove(&competition_id).unwrap_or_default();
        let kept = self.kept.entry(competition_id).or_default();
        kept.extend(pending);
        kept.iter().copied().collect()
    }

    pub fn set_kept(&mut self, competition_id: CompetitionId, uids: impl IntoIterator<Item = u16>) {
        self.kept.insert(competition_id, uids.into_iter().collect());
    }

    /// Whether `uid` is queued or kept anywhere.
    pub fn contains(&self, uid: u16) -> bool {
        self.kept.values().chain(self.pending.values()).any(|s| s.contains(&uid))
    }

    /// Pending plus kept over all competitions (upstream's back-pressure count).
    pub fn total(&self) -> usize {
        self.kept.values().chain(self.pending.values()).map(BTreeSet::len).sum()
    }

    pub fn pending_total(&self) -> usize {
        self.pending.values().map(BTreeSet::len).sum()
    }

    /// Every uid whose model must stay on disk.
    pub fn all_uids(&self) -> BTreeSet<u16> {
        self.kept.values().chain(self.pending.values()).flatten().copied().collect()
    }

    /// Drops competitions that left the schedule (sunset): their models are not evaluated again.
    pub fn retain_competitions(&mut self, active: &[CompetitionId]) {
        self.kept.retain(|c, _| active.contains(c));
        self.pending.retain(|c, _| active.contains(c));
    }

    /// Forgets a uid everywhere (its hotkey changed: a new miner holds the slot).
    pub fn remove_uid(&mut self, uid: u16) {
        for set in self.kept.values_mut().chain(self.pending.values_mut()) {
            set.remove(&uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_merges_pending_into_kept() {
        let mut s = EvalSets::default();
        s.set_kept(1, [3, 7]);
        s.add_pending(1, 5);
        s.add_pending(2, 9);
        assert_eq!(s.total(), 4);
        assert_eq!(s.take_round(1), vec![3, 5, 7]);
        assert_eq!(s.pending_total(), 1);
        s.set_kept(1, [5]);
        assert_eq!(s.all_uids().into_iter().collect::<Vec<_>>(), vec![5, 9]);
        s.retain_competitions(&[1]);
        assert!(!s.contains(9));
        s.remove_uid(5);
        assert_eq!(s.total(), 0);
    }
}
