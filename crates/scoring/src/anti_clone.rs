//! The anti-clone filter of the sibling subnet SN9 (`compute_competitive_uids`).
//!
//! A model is *competitive* if it beats every strictly earlier model even once that model's
//! epsilon advantage has fully decayed: `score < (1 - eps_fully_decayed) * score_earlier`. A model
//! that is not competitive can never become the best one, and only steals matches from the
//! others (a later clone of the leader inflates nobody's standing but its own), so it is taken
//! out of the win count and gets no weight.
//!
//! SN9 also compares against models committed at the *same* block, which makes two identical
//! same-block uploads knock each other out; we compare against strictly earlier blocks only,
//! consistent with `iswin`, where equal blocks get no advantage. Upstream SN37 does not use this
//! filter: it is off in the upstream-compatible schedules.

use crate::epsilon::Epsilon;
use crate::wins::strictly_older;
use crate::Block;

/// For each model, whether it is competitive. `scores` are lower-is-better (a mean loss in per-
/// sample mode); `None` blocks are upstream's "no metadata" and never count as earlier.
pub fn competitive(blocks: &[Option<Block>], scores: &[f64], epsilon: &Epsilon) -> Vec<bool> {
    assert_eq!(blocks.len(), scores.len());
    let keep = 1.0 - epsilon.fully_decayed();
    (0..scores.len())
        .map(|i| {
            (0..scores.len()).filter(|&j| strictly_older(blocks[j], blocks[i])).all(|j| scores[i] < keep * scores[j])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: Epsilon = Epsilon::LinearDecay { start: 0.05, end: 0.01, decay_blocks: 100 };

    #[test]
    fn later_clone_is_not_competitive() {
        let c = competitive(&[Some(10), Some(20)], &[1.0, 1.0], &EPS);
        assert_eq!(c, vec![true, false]);
    }

    #[test]
    fn a_real_improvement_is_competitive() {
        let c = competitive(&[Some(10), Some(20)], &[1.0, 0.98], &EPS);
        assert_eq!(c, vec![true, true]);
        // Within the fully decayed epsilon: not enough.
        let c = competitive(&[Some(10), Some(20)], &[1.0, 0.995], &EPS);
        assert_eq!(c, vec![true, false]);
    }

    #[test]
    fn same_block_does_not_knock_out() {
        assert_eq!(competitive(&[Some(10), Some(10)], &[1.0, 1.0], &EPS), vec![true, true]);
    }

    #[test]
    fn unknown_block_counts_as_latest() {
        assert_eq!(competitive(&[None, Some(10)], &[1.0, 1.0], &EPS), vec![false, true]);
    }

    #[test]
    fn inf_earlier_model_blocks_nobody() {
        assert_eq!(competitive(&[Some(1), Some(2)], &[f64::INFINITY, 3.0], &EPS), vec![true, true]);
        assert_eq!(competitive(&[Some(1), Some(2)], &[3.0, f64::INFINITY], &EPS), vec![true, false]);
    }
}
