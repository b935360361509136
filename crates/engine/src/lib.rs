//! The measuring instrument of the validator: loads Hugging Face model folders with our own
//! candle implementations of the allowed architectures (logits at every position, right-padded
//! batches), tokenises evaluation data with the model's chat template, and computes the
//! evaluation methods (reference loss, text loss, multiple choice, greedy generation).
//!
//! ```no_run
//! use engine::{LoadOptions, LossOptions, Model, SampleLoss, TextSample};
//! let model = Model::load("model-dir".as_ref(), &LoadOptions::default())?;
//! let samples = [TextSample::PromptResponse { prompt: "What is 2+2?", response: "4" }];
//! let opts = LossOptions { max_len: Some(4096), ..Default::default() };
//! for result in model.losses(&samples, &opts)? {
//!     let score = SampleLoss::loss_or_inf(&result); // Err: the validator's fault, retry
//! }
//! # Ok::<(), engine::EngineError>(())
//! ```
//!
//! Lower level: [`ChatTokenizer`] turns text into a [`Sequence`] (ids + scored span) by the
//! rule that applies, [`Model::score`] scores sequences, [`Model::generate`] and
//! [`Model::multiple_choice`] generate.
//!
//! Errors carry whose fault they are ([`EngineError::fault`]): the miner's (score `inf`) or
//! the validator's (retry); see [`error`].

pub mod error;
pub mod generate;
pub mod gguf;
pub mod loss;
pub mod methods;
pub mod model;
pub mod models;
pub mod nn;
pub mod snapshot;
pub mod text;
pub mod threads;

pub use error::{EngineError, Fault, Result};
pub use generate::GreedyConfig;
pub use loss::{SampleLoss, ScoreOptions};
pub use methods::{ChoiceOutcome, LossOptions, TextSample};
pub use model::{DeviceChoice, LoadOptions, Model};
pub use models::Architecture;
pub use snapshot::Snapshot;
pub use text::template::Message;
pub use text::tokenizer::{ChatTokenizer, ContextOptions, PairTokens, Sequence, TokenizerOrigin};
pub use threads::{default_threads, limit_threads};
