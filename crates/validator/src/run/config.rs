//! The `run` command's flags (bittensor-style names, each with an environment twin) and the
//! settings resolved from them.

use chain::cli::{ChainArgs, WalletArgs};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// The subnet to validate.
    #[arg(long, env = "SN37_NETUID", default_value_t = 37)]
    pub netuid: u16,

    #[command(flatten)]
    pub chain: ChainArgs,

    #[command(flatten)]
    pub wallet: WalletArgs,

    /// Evaluate and keep state, but never set weights; no wallet or registration needed.
    #[arg(long, env = "SN37_OFFLINE")]
    pub offline: bool,

    /// Competition schedule: a built-in name (upstream-2025, upstream-2024, localnet) or a JSON file.
    #[arg(long, env = "SN37_SCHEDULE", default_value = "upstream-2025", value_name = "NAME|FILE")]
    pub schedule: String,

    /// Where downloaded models live (`<dir>/models/<hotkey>/models--<ns>--<name>/snapshots/<commit>`).
    #[arg(long = "model-dir", env = "SN37_MODEL_DIR", default_value = "model-store")]
    pub model_dir: PathBuf,

    /// Where the validator's state and step records live [default: <model-dir>/vali-state].
    #[arg(long = "state-dir", env = "SN37_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Disk budget for downloaded models, in GiB; the least valuable models are evicted first and a
    /// download that cannot fit is refused.
    #[arg(long = "max-disk-gb", env = "SN37_MAX_DISK_GB")]
    pub max_disk_gb: Option<f64>,

    /// Device for evaluation: cpu, cuda or cuda:N (cuda needs a build with `--features cuda`).
    #[arg(long, env = "SN37_DEVICE", default_value = "cpu")]
    pub device: String,

    /// Samples per forward pass.
    #[arg(long = "batch-size", env = "SN37_BATCH_SIZE", default_value_t = 1)]
    pub batch_size: usize,

    /// CPU threads for matrix products in evaluation; element-wise ops get half [default: all cores].
    #[arg(long, env = "SN37_THREADS")]
    pub threads: Option<usize>,

    /// Time one model may take to load and score a round's samples, in seconds; past it the
    /// model scores inf (upstream: 720).
    #[arg(long = "eval.timeout", env = "SN37_EVAL_TIMEOUT", default_value_t = 1800, value_name = "SECONDS")]
    pub eval_timeout_secs: u64,

    /// Base URL of the Hugging Face datasets-server (remote evaluation data).
    #[arg(
        long = "datasets.endpoint",
        env = "HF_DATASETS_SERVER",
        default_value = "https://datasets-server.huggingface.co"
    )]
    pub datasets_endpoint: String,

    /// Seconds between metagraph and commitment syncs (each followed by a model update pass).
    #[arg(long = "sync.interval", env = "SN37_SYNC_INTERVAL", default_value_t = 1200, value_name = "SECONDS")]
    pub sync_interval_secs: u64,

    /// Seconds before a miner whose model could not be fetched (and whose commitment did not
    /// change) is tried again (upstream: 20 minutes per uid).
    #[arg(long = "sync.recheck", env = "SN37_SYNC_RECHECK", default_value_t = 1200, value_name = "SECONDS")]
    pub recheck_secs: u64,

    /// Blocks between weight submissions (the chain's rate limit is respected on top).
    #[arg(long = "weights.interval", env = "SN37_WEIGHTS_INTERVAL", default_value_t = 100, value_name = "BLOCKS")]
    pub weights_interval_blocks: u64,

    /// Seconds per block, to sleep until the next evaluation window.
    #[arg(long = "block-time", env = "SN37_BLOCK_TIME", default_value_t = 12.0, value_name = "SECONDS")]
    pub block_time_secs: f64,

    /// Stop after this many evaluation rounds (state saved, weights set once more unless offline).
    #[arg(long, env = "SN37_STEPS")]
    pub steps: Option<u64>,

    /// Serve Prometheus metrics on this port (on 0.0.0.0; `/metrics`).
    #[arg(long = "metrics.port", env = "SN37_METRICS_PORT")]
    pub metrics_port: Option<u16>,

    /// Seconds an unreferenced model stays on disk before cleanup removes it.
    #[arg(long = "cleanup.grace", env = "SN37_CLEANUP_GRACE", default_value_t = 300, value_name = "SECONDS")]
    pub cleanup_grace_secs: u64,

    /// Other validators whose weights point at top miners must hold this much stake (TAO).
    #[arg(long = "top-miners.min-stake", env = "SN37_TOP_MINERS_MIN_STAKE", default_value_t = 100_000.0)]
    pub top_miners_min_stake: f64,

    /// A miner is "top" when it holds at least this fraction of such a validator's weights.
    #[arg(long = "top-miners.min-percent", env = "SN37_TOP_MINERS_MIN_PERCENT", default_value_t = 0.01)]
    pub top_miners_min_fraction: f64,

    #[command(flatten)]
    pub wandb: super::wandb_log::WandbArgs,

    /// Log at debug level.
    #[arg(long = "logging.debug", env = "SN37_LOG_DEBUG")]
    pub log_debug: bool,

    /// Log at trace level.
    #[arg(long = "logging.trace", env = "SN37_LOG_TRACE")]
    pub log_trace: bool,

    /// Log JSON lines instead of text.
    #[arg(long = "logging.json", env = "SN37_LOG_JSON")]
    pub log_json: bool,
}

impl RunArgs {
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| self.model_dir.join("vali-state"))
    }

    pub fn max_disk_bytes(&self) -> Option<u64> {
        self.max_disk_gb.map(|gb| (gb * (1u64 << 30) as f64) as u64)
    }

    pub fn sync_interval(&self) -> Duration {
        Duration::from_secs(self.sync_interval_secs.max(1))
    }

    pub fn block_time(&self) -> Duration {
        Duration::from_secs_f64(self.block_time_secs.max(0.01))
    }
}
