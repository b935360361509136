//! Float weights to the u16 vectors the chain takes (bittensor
//! `convert_weights_and_uids_for_emit`, identical in 6.9.4 and 9.0.0).
//!
//! Each weight becomes `round(w / max(w) * 65535)` in float64 with Python's round-half-to-even,
//! and zeros are dropped together with their uid (order kept, uids not sorted). All-zero weights
//! give empty vectors: nothing is set.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmitError {
    #[error("no weights to emit")]
    Empty,
    #[error("weight {weight} at position {index} is negative")]
    NegativeWeight { index: usize, weight: f64 },
    #[error("uid {0} is negative")]
    NegativeUid(i64),
    #[error("{uids} uids but {weights} weights")]
    LengthMismatch { uids: usize, weights: usize },
    #[error("weight of uid {0} is not finite")]
    NotFinite(i64),
    #[error("uid {0} does not fit in u16")]
    UidTooLarge(i64),
}

pub const U16_MAX: f64 = 65535.0;

/// Returns `(uids, weights)` ready for `set_weights`.
pub fn to_u16_weights(uids: &[i64], weights: &[f64]) -> Result<(Vec<u16>, Vec<u16>), EmitError> {
    if weights.is_empty() {
        return Err(EmitError::Empty);
    }
    if let Some(index) = weights.iter().position(|w| *w < 0.0) {
        return Err(EmitError::NegativeWeight { index, weight: weights[index] });
    }
    if uids.is_empty() {
        return Err(EmitError::Empty);
    }
    if let Some(&uid) = uids.iter().find(|&&u| u < 0) {
        return Err(EmitError::NegativeUid(uid));
    }
    if uids.len() != weights.len() {
        return Err(EmitError::LengthMismatch { uids: uids.len(), weights: weights.len() });
    }
    if let Some(&uid) = uids.iter().find(|&&u| u > u16::MAX as i64) {
        return Err(EmitError::UidTooLarge(uid));
    }
    let sum: f64 = weights.iter().sum();
    if sum == 0.0 {
        return Ok((vec![], vec![]));
    }
    let max = weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut out_uids = Vec::new();
    let mut out_weights = Vec::new();
    for (&uid, &w) in uids.iter().zip(weights) {
        let scaled = (w / max * U16_MAX).round_ties_even();
        if !scaled.is_finite() {
            return Err(EmitError::NotFinite(uid));
        }
        if scaled != 0.0 {
            out_uids.push(uid as u16);
            out_weights.push(scaled as u16);
        }
    }
    Ok((out_uids, out_weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_to_even() {
        let (u, w) = to_u16_weights(&[0, 1, 2, 3], &[3.0, 0.5, 2.5, 1.5]).unwrap();
        assert_eq!(u, vec![0, 1, 2, 3]);
        assert_eq!(w, vec![65535, 10922, 54612, 32768]);
    }

    #[test]
    fn all_zero_sets_nothing() {
        assert_eq!(to_u16_weights(&[0, 1], &[0.0, 0.0]).unwrap(), (vec![], vec![]));
    }

    #[test]
    fn errors() {
        assert!(to_u16_weights(&[], &[]).is_err());
        assert!(to_u16_weights(&[0], &[-1.0]).is_err());
        assert!(to_u16_weights(&[-1], &[1.0]).is_err());
        assert!(to_u16_weights(&[0, 1], &[1.0]).is_err());
        assert!(to_u16_weights(&[0, 1], &[1.0, f64::INFINITY]).is_err());
    }
}
