//! How much advantage the earlier-committed model gets (taoverse `epsilon.py`).
//!
//! The arithmetic is upstream's to the last bit: `start - min(age / decay_blocks, 1) * (start -
//! end)` with `age = max(current - model_block, 0)`. Algebraically equal rewrites round
//! differently and change results at exact boundaries (golden score-032, score-051).

use crate::Block;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Epsilon {
    /// `FixedEpsilon(e)`: the same advantage at every age.
    Fixed(f64),
    /// `LinearDecay(start, end, decay_blocks)`: from `start` at commit time down to `end` after
    /// `decay_blocks` blocks.
    LinearDecay { start: f64, end: f64, decay_blocks: u64 },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EpsilonError {
    #[error("epsilon {0} is not in [0, 1)")]
    OutOfRange(f64),
    #[error("linear decay over 0 blocks")]
    ZeroDecay,
}

impl Epsilon {
    /// `compute_epsilon(current_block, model_block)`.
    pub fn compute(&self, current_block: Block, model_block: Block) -> f64 {
        match *self {
            Epsilon::Fixed(e) => e,
            Epsilon::LinearDecay { start, end, decay_blocks } => {
                let age = current_block.saturating_sub(model_block) as f64;
                let fraction = (age / decay_blocks as f64).min(1.0);
                start - fraction * (start - end)
            }
        }
    }

    /// The advantage once the decay is complete (`compute_epsilon(inf, 0)`).
    pub fn fully_decayed(&self) -> f64 {
        match *self {
            Epsilon::Fixed(e) => e,
            Epsilon::LinearDecay { start, end, .. } => start - 1.0 * (start - end),
        }
    }

    /// Rejects parameters upstream would crash on or that make no sense as an advantage.
    pub fn validate(&self) -> Result<(), EpsilonError> {
        let in_range = |e: f64| if (0.0..1.0).contains(&e) { Ok(()) } else { Err(EpsilonError::OutOfRange(e)) };
        match *self {
            Epsilon::Fixed(e) => in_range(e),
            Epsilon::LinearDecay { start, end, decay_blocks } => {
                in_range(start)?;
                in_range(end)?;
                if decay_blocks == 0 {
                    return Err(EpsilonError::ZeroDecay);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taoverse_vectors() {
        let e = Epsilon::LinearDecay { start: 0.005, end: 0.001, decay_blocks: 50400 };
        assert_eq!(e.compute(100, 100), 0.005);
        assert_eq!(e.compute(100, 200), 0.005);
        assert!((e.compute(25300, 100) - 0.003).abs() < 1e-15);
        assert_eq!(e.compute(50500, 100), 0.005 - (0.005 - 0.001));
        assert_eq!(e.compute(u64::MAX, 0), e.fully_decayed());
        // Past the decay upstream gets `start - (start - end)`, one ulp from `end`.
        let e = Epsilon::LinearDecay { start: 0.05, end: 0.01, decay_blocks: 7200 };
        assert_eq!(e.compute(1_000_000, 0), 0.010000000000000002);
        assert_eq!(Epsilon::Fixed(0.005).compute(5, 0), 0.005);
    }

    #[test]
    fn serde_shape_matches_golden() {
        let e: Epsilon =
            serde_json::from_str(r#"{"linear_decay":{"start":0.05,"end":0.01,"decay_blocks":21600}}"#).unwrap();
        assert_eq!(e, Epsilon::LinearDecay { start: 0.05, end: 0.01, decay_blocks: 21600 });
        let f: Epsilon = serde_json::from_str(r#"{"fixed":0.005}"#).unwrap();
        assert_eq!(f, Epsilon::Fixed(0.005));
    }
}
