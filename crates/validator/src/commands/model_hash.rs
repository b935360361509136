//! `model-hash DIR --hotkey SS58`: the hashes a miner needs for its commitment.

use anyhow::{Context, Result};
use scoring::hashing::secure_hash;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The model folder exactly as the validator will download it (config, safetensors or
    /// index + shards, generation config).
    dir: PathBuf,
    /// The miner's hotkey (SS58 address); the secure hash binds the content to it.
    #[arg(long)]
    hotkey: String,
    /// Print JSON (`{"directory_hash", "secure_hash", "hotkey"}`) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let directory_hash =
        hub::dir_hash::directory_hash(&args.dir).with_context(|| format!("cannot hash {}", args.dir.display()))?;
    let secure = secure_hash(&directory_hash, &args.hotkey);
    if args.json {
        let out = serde_json::json!({"directory_hash": directory_hash, "secure_hash": secure, "hotkey": args.hotkey});
        println!("{out}");
    } else {
        println!("directory hash: {directory_hash}");
        println!("secure hash:    {secure}");
        println!("hotkey:         {}", args.hotkey);
    }
    Ok(())
}
