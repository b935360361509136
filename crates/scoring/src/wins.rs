//! Head-to-head wins (finetuning `iswin` / `_is_win` and `compute_wins`).
//!
//! Only the model committed at the strictly earlier block gets its loss discounted, by its own
//! age's epsilon, as `(1 - eps) * loss` (not `loss - eps * loss`, which turns an older `inf` into
//! NaN). A win is a strict `<`: ties, and every comparison with NaN, are no win for either side
//! but still count as a match.
//!
//! Two modes: per sample (summer 2024: one match per sample per pair) and per score (2025: one
//! scalar per model).

use crate::epsilon::Epsilon;
use crate::Block;

/// Whether `a` was committed strictly before `b`; `None` is upstream's `math.inf` (no metadata).
pub(crate) fn strictly_older(a: Option<Block>, b: Option<Block>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// `iswin(loss_i, loss_j, block_i, block_j)`: does model i beat model j on this comparison?
pub fn is_win(
    loss_i: f64,
    loss_j: f64,
    block_i: Option<Block>,
    block_j: Option<Block>,
    epsilon: &Epsilon,
    current_block: Block,
) -> bool {
    let adjust = |loss: f64, mine: Option<Block>, other: Option<Block>| match mine {
        Some(b) if strictly_older(mine, other) => (1.0 - epsilon.compute(current_block, b)) * loss,
        _ => loss,
    };
    adjust(loss_i, block_i, block_j) < adjust(loss_j, block_j, block_i)
}

/// One model's wins and win rate within a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WinCount {
    pub wins: u64,
    /// `wins / matches`, 0 when the model had no opponent.
    pub win_rate: f64,
}

fn win_rate(wins: u64, matches: u64) -> f64 {
    if matches == 0 {
        0.0
    } else {
        wins as f64 / matches as f64
    }
}

/// `compute_wins` over per-sample losses (summer 2024 and v2.0): every pair of models meets once
/// per sample. All loss lists must have the same length.
pub fn compute_wins_per_sample(
    blocks: &[Option<Block>],
    losses: &[&[f64]],
    epsilon: &Epsilon,
    current_block: Block,
) -> Vec<WinCount> {
    assert_eq!(blocks.len(), losses.len());
    let n = blocks.len();
    (0..n)
        .map(|i| {
            let mut wins = 0u64;
            let mut matches = 0u64;
            for j in (0..n).filter(|&j| j != i) {
                for (&li, &lj) in losses[i].iter().zip(losses[j]) {
                    wins += is_win(li, lj, blocks[i], blocks[j], epsilon, current_block) as u64;
                    matches += 1;
                }
            }
            WinCount { wins, win_rate: win_rate(wins, matches) }
        })
        .collect()
}

/// `compute_wins` over one scalar score per model (since v2.0.1); lower is better.
pub fn compute_wins_per_score(
    blocks: &[Option<Block>],
    scores: &[f64],
    epsilon: &Epsilon,
    current_block: Block,
) -> Vec<WinCount> {
    assert_eq!(blocks.len(), scores.len());
    let n = blocks.len();
    (0..n)
        .map(|i| {
            let wins = (0..n)
                .filter(|&j| j != i && is_win(scores[i], scores[j], blocks[i], blocks[j], epsilon, current_block))
                .count() as u64;
            WinCount { wins, win_rate: win_rate(wins, n as u64 - 1) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: Epsilon = Epsilon::Fixed(0.005);

    #[test]
    fn only_the_older_model_is_discounted() {
        assert!(is_win(1.0, 0.996, Some(1), Some(2), &EPS, 10));
        assert!(!is_win(0.996, 1.0, Some(2), Some(1), &EPS, 10));
        // Same block: no discount either side.
        assert!(!is_win(1.0, 0.996, Some(1), Some(1), &EPS, 10));
    }

    #[test]
    fn inf_and_nan() {
        let inf = f64::INFINITY;
        assert!(!is_win(inf, inf, Some(1), Some(2), &EPS, 10));
        assert!(is_win(5.0, inf, Some(2), Some(1), &EPS, 10));
        assert!(!is_win(f64::NAN, 1.0, Some(1), Some(2), &EPS, 10));
        assert!(!is_win(1.0, f64::NAN, Some(1), Some(2), &EPS, 10));
    }

    #[test]
    fn unknown_block_is_never_older() {
        assert!(!is_win(1.0, 0.996, None, Some(2), &EPS, 10));
        assert!(is_win(1.0, 0.996, Some(2), None, &EPS, 10));
    }

    #[test]
    fn single_model_has_rate_zero() {
        let w = compute_wins_per_score(&[Some(1)], &[0.5], &EPS, 2);
        assert_eq!(w, vec![WinCount { wins: 0, win_rate: 0.0 }]);
        let w = compute_wins_per_sample(&[Some(1)], &[&[0.5, 0.7]], &EPS, 2);
        assert_eq!(w, vec![WinCount { wins: 0, win_rate: 0.0 }]);
    }
}
