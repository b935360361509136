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
    /// Recompute wins, win rates and weights from a scoring record (a golden score file, its
    /// `input` object, or a JSONL file of step records).
    Score(commands::score::Args),
    /// Print the directory hash and secure hash of a model folder, for a miner's commitment.
    ModelHash(commands::model_hash::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Score(args) => commands::score::run(args),
        Command::ModelHash(args) => commands::model_hash::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
