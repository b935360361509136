//! The evaluation data of a round, drawn alike by every honest validator.
//!
//! Every sample of a round derives from the round [`Seed`] (sha256 of the sync block's hash) through
//! a CPython-exact [`pyrandom::PyRandom`], so a Rust validator scores the same samples as the Python
//! validators. Offline generators cannot fail; remote sources retry within deadlines, cache what
//! they fetched per sync block, and when a task still cannot be loaded the whole round is skipped
//! rather than scored on a different mix of tasks.
//!
//! | module | source |
//! |---|---|
//! | [`seed`], [`pyrandom`] | the round seed; CPython 3.11 `random` |
//! | [`generated`] | WORD_SORTING and DYCK_LANGUAGE, offline |
//! | [`hf`] | FINEWEB, SYNTHETIC-1-SFT, codeforces-cots via the datasets-server |
//! | [`cortex`] | SN18 validator runs on wandb (2024) |
//! | [`jsonl`] | an operator's own file |
//! | [`round`] | the task loading rule: all tasks or no round |

pub mod cache;
pub mod cortex;
pub mod generated;
pub mod hf;
pub mod http;
pub mod jsonl;
pub mod kwargs;
pub mod pyrandom;
pub mod pystr;
pub mod round;
pub mod sample;
pub mod seed;

pub use round::{load_round, load_task, CortexSource, LoadError, Round, RoundSkipped, Sources};
pub use sample::{PairRule, PromptResponse, Sample, SampleBody, TaskSamples};
pub use seed::{Seed, SeedError};
