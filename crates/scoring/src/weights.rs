//! A step's weights from its win rates: softmax with temperature (summer 2024, SN9) or
//! winner-takes-all (2025).
//!
//! Softmax is given in float64 (`x_i = win_rate_i / T`, `exp(x_i - max x)`, divided by the sum
//! taken left to right) and in float32 the way torch computes it. torch's float32 kernels differ
//! from each other in the last bits (AVX2, AVX-512 and the default kernel disagree), so float32
//! agreement can only be within float32 rounding.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Weighting {
    /// `softmax(win_rates / temperature)`; upstream used `T = 0.01`.
    Softmax { temperature: f64 },
    /// 1 for every model whose win rate equals the maximum, 0 otherwise (ties share).
    WinnerTakesAll,
}

impl Weighting {
    /// The unnormalised step vector upstream builds (the tracker normalises it later).
    pub fn step_weights(&self, win_rates: &[f64]) -> Vec<f64> {
        match *self {
            Weighting::Softmax { temperature } => softmax(win_rates, temperature),
            Weighting::WinnerTakesAll => winner_takes_all(win_rates),
        }
    }
}

/// Softmax of `x / temperature` in float64.
pub fn softmax(win_rates: &[f64], temperature: f64) -> Vec<f64> {
    let x: Vec<f64> = win_rates.iter().map(|w| w / temperature).collect();
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|xi| (xi - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|ei| ei / sum).collect()
}

/// Softmax as torch computes it on a float32 tensor: the win rates are rounded to float32
/// before the division, and everything after stays in float32.
pub fn softmax_f32(win_rates: &[f64], temperature: f64) -> Vec<f32> {
    let t = temperature as f32;
    let x: Vec<f32> = win_rates.iter().map(|&w| w as f32 / t).collect();
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = x.iter().map(|xi| (xi - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|ei| ei / sum).collect()
}

/// `1.0 if win_rate == max(win_rate) else 0.0`, compared with `==` as upstream does.
pub fn winner_takes_all(win_rates: &[f64]) -> Vec<f64> {
    let max = win_rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    win_rates.iter().map(|&w| if w == max { 1.0 } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_examples() {
        let w = softmax(&[0.6, 0.4], 0.01);
        let tail = (-20f64).exp() / (1.0 + (-20f64).exp());
        assert!((w[1] - tail).abs() < 1e-12 * tail);
        assert_eq!(softmax(&[0.0, 0.0, 0.0, 0.0], 0.01), vec![0.25; 4]);
        assert_eq!(softmax(&[0.0], 0.01), vec![1.0]);
    }

    #[test]
    fn wta_ties_share() {
        assert_eq!(winner_takes_all(&[0.5, 1.0, 1.0, 0.0]), vec![0.0, 1.0, 1.0, 0.0]);
        assert_eq!(winner_takes_all(&[0.0, 0.0]), vec![1.0, 1.0]);
    }
}
