//! The stake-weighted median with a majority ratio κ, as subtensor's
//! `weighted_median_col_sparse` defines it for one miner (column).
//!
//! Over the validators with positive active stake (renormalised to sum 1; a validator that gave
//! the miner no weight counts as giving 0), the result is the value `c` among theirs with
//! `S(w < c) ≤ 1 − κ < S(w ≤ c)`: the **largest `c` such that validators holding at least κ of
//! the stake give the miner at least `c`**. With the default κ = 32767/65535 (just under ½)
//! this is the upper stake-weighted median: a 50/50 split goes to the higher value.

/// Comparisons closer than this count as equal, so that exact ties (shares that sum to exactly
/// `1 − κ`) resolve as in exact arithmetic; far below `I32F32`'s resolution of 2⁻³².
pub const TIE_TOLERANCE: f64 = 1e-12;

/// κ as the chain reads it: `Kappa / 65535`.
pub fn kappa_fraction(kappa: u16) -> f64 {
    f64::from(kappa) / f64::from(u16::MAX)
}

/// The stake-weighted median of `values` (one per voter) weighted by `stakes`, with majority
/// `kappa` in [0, 1]. Voters with stake ≤ 0 are ignored; with none left the result is 0.
///
/// κ = 1 gives the smallest value any staked voter gave, κ = 0 the largest.
pub fn stake_weighted_median(stakes: &[f64], values: &[f64], kappa: f64) -> f64 {
    debug_assert_eq!(stakes.len(), values.len());
    let mut votes: Vec<(f64, f64)> =
        values.iter().zip(stakes).filter(|(_, &stake)| stake > 0.0).map(|(&value, &stake)| (value, stake)).collect();
    if votes.is_empty() {
        return 0.0;
    }
    // The chain renormalises the positive stakes before taking the median.
    let total: f64 = votes.iter().map(|(_, stake)| stake).sum();
    for (_, stake) in votes.iter_mut() {
        *stake /= total;
    }
    let stake_sum: f64 = votes.iter().map(|(_, stake)| stake).sum();
    let minority = stake_sum - kappa;

    votes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut at_or_below = 0.0;
    let mut i = 0;
    while i < votes.len() {
        let value = votes[i].0;
        while i < votes.len() && votes[i].0 == value {
            at_or_below += votes[i].1;
            i += 1;
        }
        // The first value whose cumulative stake passes 1 − κ; every value before it left the
        // cumulative stake at or below 1 − κ, which is the chain's other condition.
        if at_or_below > minority + TIE_TOLERANCE {
            return value;
        }
    }
    // κ ≈ 0: no value passes; the chain's search ends on the largest.
    votes.last().map_or(0.0, |(value, _)| *value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: f64 = 32767.0 / 65535.0;

    #[test]
    fn an_even_split_goes_up_under_the_default_kappa_and_down_one_step_above_half() {
        assert_eq!(stake_weighted_median(&[1.0, 1.0], &[0.2, 0.6], DEFAULT), 0.6);
        assert_eq!(stake_weighted_median(&[1.0, 1.0], &[0.2, 0.6], kappa_fraction(32768)), 0.2);
    }

    #[test]
    fn kappa_one_is_the_minimum_and_kappa_zero_the_maximum_of_staked_votes() {
        let stakes = [3.0, 0.0, 1.0, 2.0];
        let values = [0.5, 0.0, 0.9, 0.1];
        assert_eq!(stake_weighted_median(&stakes, &values, kappa_fraction(u16::MAX)), 0.1);
        assert_eq!(stake_weighted_median(&stakes, &values, kappa_fraction(0)), 0.9);
    }

    #[test]
    fn voters_without_stake_do_not_vote_and_no_voters_means_zero() {
        assert_eq!(stake_weighted_median(&[0.0, 1.0], &[0.9, 0.3], DEFAULT), 0.3);
        assert_eq!(stake_weighted_median(&[0.0, 0.0], &[0.9, 0.3], DEFAULT), 0.0);
        assert_eq!(stake_weighted_median(&[], &[], DEFAULT), 0.0);
    }

    #[test]
    fn a_majority_holder_decides() {
        assert_eq!(stake_weighted_median(&[0.6, 0.2, 0.2], &[0.1, 0.8, 0.9], DEFAULT), 0.1);
        assert_eq!(stake_weighted_median(&[0.2, 0.6, 0.2], &[0.1, 0.8, 0.9], DEFAULT), 0.8);
    }
}
