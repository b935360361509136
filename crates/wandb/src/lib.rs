//! Optional upload of the validator's step records to Weights & Biases, through wandb's HTTP API
//! (no Python, no SDK). Upstream operators publish every step to wandb; here it is opt-in
//! (`--wandb.project` and `--wandb.entity`, neither `--wandb.off` nor `--offline`), needs
//! `WANDB_API_KEY` only when on, and can never slow or fail validation: `submit` only queues,
//! and records wait on disk while wandb is slow or down.
//!
//! ```no_run
//! # async fn example(log: wandb::StepLog) -> Result<(), Box<dyn std::error::Error>> {
//! use wandb::{RunIdentity, Uploader, WandbConfig, WandbFlags};
//! let flags = WandbFlags { project: Some("finetuning".into()), entity: Some("team".into()), ..Default::default() };
//! if let Some(config) = WandbConfig::from_flags(&flags, "state/wandb-spool".into())? {
//!     let identity = RunIdentity { uid: 12, hotkey: "5F…".into(), version: "0.1.0".into() };
//!     let uploader = Uploader::start(config, identity)?;
//!     uploader.submit(log); // after every step; returns at once
//!     uploader.shutdown(std::time::Duration::from_secs(10)).await;
//! }
//! # Ok(()) }
//! ```

mod api;
mod config;
pub mod pyjson;
mod spool;
mod step_log;
mod uploader;

pub use api::{history_row, HISTORY_FILE, SUMMARY_FILE};
pub use config::{ConfigError, RetryPolicy, RunIdentity, WandbConfig, WandbFlags, DEFAULT_BASE_URL};
pub use step_log::{OriginalFormat, OriginalUidEntry, PerfStats, StepLog};
pub use uploader::{StartError, Uploader, UploaderStats};
