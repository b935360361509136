//! How a subnet wants weights submitted, decided from what the chain says: its
//! hyperparameters (`CommitRevealWeightsEnabled`, `RevealPeriodEpochs`,
//! `CommitRevealWeightsVersion`, tempo), the runtime's epoch model, and the weight calls its
//! metadata offers.
//!
//! | commit-reveal | runtime offers | path |
//! |---|---|---|
//! | off | — | [`WeightsPath::Direct`]: `set_weights` |
//! | on | `commit_timelocked_mechanism_weights` / `commit_timelocked_weights` | [`WeightsPath::Timelocked`]: drand-sealed commit the chain reveals itself |
//! | on | only `commit_(mechanism_)weights` | [`WeightsPath::HashCommit`]: salted hash, revealed by us in the reveal epoch |
//!
//! Timelocked commits are preferred whenever the runtime has them: nothing has to be online
//! in the reveal epoch, and bittensor's own SDK uses them.

use crate::rules::Hyperparameters;
use serde::{Deserialize, Serialize};
use std::fmt;
use weights_commit::calls::COMMIT_REVEAL_VERSION;
use weights_commit::EpochModel;

/// The first subtensor spec version with stateful epochs (`SubnetEpochIndex`, v3.4.8-423).
pub const STATEFUL_EPOCHS_SPEC_VERSION: u32 = 423;

/// The weight calls and epoch storage a runtime's metadata has.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeWeightCalls {
    pub spec_version: u32,
    pub set_weights: bool,
    pub commit_weights: bool,
    pub reveal_weights: bool,
    pub commit_mechanism_weights: bool,
    pub reveal_mechanism_weights: bool,
    pub commit_timelocked_weights: bool,
    pub commit_timelocked_mechanism_weights: bool,
    /// `SubtensorModule.SubnetEpochIndex` is in the metadata.
    pub subnet_epoch_index: bool,
}

impl RuntimeWeightCalls {
    /// The epoch model commit-reveal keys off: stateful from v3.4.8 (metadata has
    /// `SubnetEpochIndex`, or spec ≥ 423), fixed `tempo + 1` windows before.
    pub fn epoch_model(&self) -> EpochModel {
        if self.subnet_epoch_index || self.spec_version >= STATEFUL_EPOCHS_SPEC_VERSION {
            EpochModel::Stateful
        } else {
            EpochModel::Legacy
        }
    }
}

/// Which kind of submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightsPath {
    /// `set_weights`: the weights apply at once.
    Direct,
    /// `commit_timelocked_(mechanism_)weights`: the chain decrypts and applies them at a drand
    /// round in the reveal epoch.
    Timelocked,
    /// `commit_(mechanism_)weights` then `reveal_(mechanism_)weights` in the reveal epoch.
    HashCommit,
}

/// How weights must be submitted on one subnet at one block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsMode {
    pub netuid: u16,
    pub path: WeightsPath,
    /// The `*_mechanism_*` calls (with a `mecid` argument) rather than the older ones.
    pub mechanism_calls: bool,
    pub epoch_model: EpochModel,
    pub tempo: u16,
    /// `RevealPeriodEpochs` (1 where the runtime has none).
    pub reveal_period_epochs: u64,
    /// `CommitRevealWeightsVersion` (4 where the runtime has none).
    pub commit_reveal_version: u16,
    pub spec_version: u32,
}

impl WeightsMode {
    /// The extrinsic that carries a submission in this mode.
    pub fn submit_call(&self) -> &'static str {
        match (self.path, self.mechanism_calls) {
            (WeightsPath::Direct, _) => "set_weights",
            (WeightsPath::Timelocked, true) => "commit_timelocked_mechanism_weights",
            (WeightsPath::Timelocked, false) => "commit_timelocked_weights",
            (WeightsPath::HashCommit, true) => "commit_mechanism_weights",
            (WeightsPath::HashCommit, false) => "commit_weights",
        }
    }
}

impl fmt::Display for WeightsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = match self.epoch_model {
            EpochModel::Legacy => "fixed tempo+1 epochs",
            EpochModel::Stateful => "stateful epochs",
        };
        match self.path {
            WeightsPath::Direct => {
                write!(f, "subnet {}: commit-reveal off, weights set directly with set_weights", self.netuid)
            }
            WeightsPath::Timelocked => write!(
                f,
                "subnet {}: commit-reveal on, drand-timelocked commits with {} (version {}), revealed by the chain \
                 {} epoch(s) later ({model}, tempo {}, spec {})",
                self.netuid,
                self.submit_call(),
                self.commit_reveal_version,
                self.reveal_period_epochs,
                self.tempo,
                self.spec_version
            ),
            WeightsPath::HashCommit => write!(
                f,
                "subnet {}: commit-reveal on, hash commits with {} revealed by this validator {} epoch(s) later \
                 ({model}, tempo {}, spec {}; the runtime has no timelocked commit call)",
                self.netuid,
                self.submit_call(),
                self.reveal_period_epochs,
                self.tempo,
                self.spec_version
            ),
        }
    }
}

/// Why no submission path fits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("subnet {netuid} requires commit-reveal but the runtime (spec {spec_version}) offers no commit call this validator knows (commit_timelocked_*, commit_*weights)")]
    NoCommitCall { netuid: u16, spec_version: u32 },
    #[error("subnet {netuid} has commit-reveal off but the runtime (spec {spec_version}) has no set_weights call")]
    NoSetWeights { netuid: u16, spec_version: u32 },
    #[error(
        "the chain wants commit-reveal version {chain} (CommitRevealWeightsVersion) but this validator builds \
         version {COMMIT_REVEAL_VERSION} payloads; the commit would fail with IncorrectCommitRevealVersion"
    )]
    UnsupportedCommitRevealVersion { chain: u16 },
}

/// Decides the path from the subnet's hyperparameters and what the runtime offers.
pub fn decide(netuid: u16, hyper: &Hyperparameters, runtime: &RuntimeWeightCalls) -> Result<WeightsMode, ModeError> {
    let spec_version = runtime.spec_version;
    let commit_reveal_version = hyper.commit_reveal_version.unwrap_or(COMMIT_REVEAL_VERSION);
    let (path, mechanism_calls) = if !hyper.commit_reveal_enabled {
        if !runtime.set_weights {
            return Err(ModeError::NoSetWeights { netuid, spec_version });
        }
        (WeightsPath::Direct, false)
    } else if runtime.commit_timelocked_mechanism_weights || runtime.commit_timelocked_weights {
        if commit_reveal_version != COMMIT_REVEAL_VERSION {
            return Err(ModeError::UnsupportedCommitRevealVersion { chain: commit_reveal_version });
        }
        (WeightsPath::Timelocked, runtime.commit_timelocked_mechanism_weights)
    } else if runtime.commit_mechanism_weights && runtime.reveal_mechanism_weights {
        (WeightsPath::HashCommit, true)
    } else if runtime.commit_weights && runtime.reveal_weights {
        (WeightsPath::HashCommit, false)
    } else {
        return Err(ModeError::NoCommitCall { netuid, spec_version });
    };
    Ok(WeightsMode {
        netuid,
        path,
        mechanism_calls,
        epoch_model: runtime.epoch_model(),
        tempo: hyper.tempo,
        reveal_period_epochs: hyper.reveal_period_epochs.unwrap_or(1),
        commit_reveal_version,
        spec_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_219() -> RuntimeWeightCalls {
        RuntimeWeightCalls {
            spec_version: 219,
            set_weights: true,
            commit_weights: true,
            reveal_weights: true,
            ..Default::default()
        }
    }

    fn today() -> RuntimeWeightCalls {
        RuntimeWeightCalls {
            spec_version: 424,
            commit_mechanism_weights: true,
            reveal_mechanism_weights: true,
            commit_timelocked_weights: true,
            commit_timelocked_mechanism_weights: true,
            subnet_epoch_index: true,
            ..spec_219()
        }
    }

    fn cr(on: bool) -> Hyperparameters {
        Hyperparameters {
            commit_reveal_enabled: on,
            reveal_period_epochs: Some(2),
            commit_reveal_version: Some(4),
            ..Default::default()
        }
    }

    #[test]
    fn commit_reveal_off_sets_directly_whatever_the_runtime_offers() {
        let mode = decide(37, &cr(false), &today()).unwrap();
        assert_eq!((mode.path, mode.submit_call()), (WeightsPath::Direct, "set_weights"));
        let none = RuntimeWeightCalls { set_weights: false, ..today() };
        assert!(matches!(decide(37, &cr(false), &none), Err(ModeError::NoSetWeights { .. })));
    }

    #[test]
    fn timelocked_is_preferred_and_the_mechanism_call_over_the_plain_one() {
        let mode = decide(37, &cr(true), &today()).unwrap();
        assert_eq!(mode.path, WeightsPath::Timelocked);
        assert_eq!(mode.submit_call(), "commit_timelocked_mechanism_weights");
        assert_eq!((mode.epoch_model, mode.reveal_period_epochs), (EpochModel::Stateful, 2));
        let older = RuntimeWeightCalls {
            spec_version: 300,
            commit_timelocked_mechanism_weights: false,
            commit_mechanism_weights: false,
            reveal_mechanism_weights: false,
            subnet_epoch_index: false,
            ..today()
        };
        let mode = decide(37, &cr(true), &older).unwrap();
        assert_eq!((mode.submit_call(), mode.epoch_model), ("commit_timelocked_weights", EpochModel::Legacy));
        assert!(mode.to_string().contains("fixed tempo+1 epochs"), "{mode}");
    }

    #[test]
    fn without_timelocked_calls_the_hash_path_is_used() {
        let mode = decide(37, &cr(true), &spec_219()).unwrap();
        assert_eq!((mode.path, mode.submit_call()), (WeightsPath::HashCommit, "commit_weights"));
        assert!(mode.to_string().contains("revealed by this validator"), "{mode}");
        let nothing = RuntimeWeightCalls { commit_weights: false, ..spec_219() };
        assert!(matches!(decide(37, &cr(true), &nothing), Err(ModeError::NoCommitCall { .. })));
    }

    #[test]
    fn the_epoch_model_follows_the_storage_or_the_spec_version() {
        assert_eq!(spec_219().epoch_model(), EpochModel::Legacy);
        assert_eq!(RuntimeWeightCalls { spec_version: 423, ..spec_219() }.epoch_model(), EpochModel::Stateful);
        assert_eq!(RuntimeWeightCalls { subnet_epoch_index: true, ..spec_219() }.epoch_model(), EpochModel::Stateful);
    }

    #[test]
    fn an_unknown_commit_reveal_version_is_refused() {
        let v5 = Hyperparameters { commit_reveal_version: Some(5), ..cr(true) };
        let err = decide(37, &v5, &today()).unwrap_err();
        assert_eq!(err, ModeError::UnsupportedCommitRevealVersion { chain: 5 });
        assert!(err.to_string().contains("IncorrectCommitRevealVersion"));
        // Absent (older runtimes): version 4 is assumed; and it does not matter off the timelocked path.
        let absent = Hyperparameters { commit_reveal_version: None, ..cr(true) };
        assert_eq!(decide(37, &absent, &today()).unwrap().commit_reveal_version, 4);
        assert_eq!(decide(37, &v5, &spec_219()).unwrap().path, WeightsPath::HashCommit);
    }
}
