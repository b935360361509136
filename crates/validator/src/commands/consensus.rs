//! `consensus --netuid N [--uid U | --hotkey SS58] [--json]`: Yuma consensus of a subnet
//! rebuilt from the chain at its head, per miner (consensus, incentive, and with a uid our
//! normalised weight and the part of it clipped above consensus) and per validator (validator
//! trust, next to the trust the chain stored at its last epoch), plus our vtrust estimate.

use anyhow::{Context, Result};
use chain::agreement::{consensus_report, ConsensusReport, StakeSource};
use chain::cli::{block_on, ChainArgs};
use chain::AccountId;
use std::io::Write;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    chain: ChainArgs,
    /// The subnet to show.
    #[arg(long, env = "SN37_NETUID", default_value_t = 37)]
    netuid: u16,
    /// Show this validator uid's row against consensus.
    #[arg(long, conflicts_with = "hotkey")]
    uid: Option<u16>,
    /// Show this validator hotkey's row against consensus.
    #[arg(long, value_name = "SS58")]
    hotkey: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let source = match &args.chain.local_chain {
        Some(path) => format!("local chain {}", path.display()),
        None => args.chain.endpoint().map_err(anyhow::Error::msg)?,
    };
    let hotkey: Option<AccountId> = args.hotkey.as_deref().map(str::parse).transpose()?;
    let chain = args.chain.open(None).with_context(|| format!("cannot open {source}"))?;
    let snapshot = block_on(async {
        let head = chain.head().await?;
        chain.agreement_snapshot(args.netuid, &head).await
    })
    .with_context(|| format!("cannot read the consensus inputs of subnet {} from {source}", args.netuid))?;
    let uid = match (args.uid, hotkey) {
        (Some(uid), _) => Some(uid),
        (None, Some(hotkey)) => Some(snapshot.uid_of(&hotkey).with_context(|| {
            format!("{hotkey} is not registered on subnet {} at block {}", args.netuid, snapshot.block.number)
        })?),
        (None, None) => None,
    };
    let report = consensus_report(&snapshot, uid)?;
    let text = match args.json {
        true => serde_json::to_string_pretty(&report)? + "\n",
        false => tables(&report, &source),
    };
    // A reader that stops early (`| head`) is not an error.
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

fn tables(report: &ConsensusReport, source: &str) -> String {
    let stake = match report.stake_source {
        StakeSource::StakeWeight => "StakeWeight of the last epoch",
        StakeSource::NeuronStake => "neuron stake",
    };
    let mut out = format!(
        "subnet {} on {source} at block {} ({}); stake from {stake}; commit-reveal {}\n\n",
        report.netuid,
        report.block.number,
        report.block.hash,
        if report.commit_reveal_enabled { "on" } else { "off" },
    );
    out.push_str(&format!(
        "{:>5}  {:<48}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}\n",
        "miner", "hotkey", "consensus", "on chain", "incentive", "our w", "clipped"
    ));
    for m in &report.miners {
        out.push_str(&format!(
            "{:>5}  {:<48}  {:>9.4}  {:>9}  {:>9.4}  {:>9}  {:>9}\n",
            m.uid,
            m.hotkey.to_string(),
            m.consensus,
            opt(m.chain_consensus),
            m.incentive,
            opt(m.our_weight),
            opt(m.clipped),
        ));
    }
    out.push_str(&format!(
        "\n{:>5}  {:<48}  {:>12}  {:>9}  {:>9}\n",
        "vali", "hotkey", "active stake", "vtrust", "on chain"
    ));
    for v in &report.validators {
        out.push_str(&format!(
            "{:>5}  {:<48}  {:>12.4}  {:>9.4}  {:>9}\n",
            v.uid,
            v.hotkey.to_string(),
            v.active_stake,
            v.vtrust,
            opt(v.chain_vtrust)
        ));
    }
    if let Some(ours) = &report.ours {
        out.push_str(&format!(
            "\nuid {}: vtrust estimate {:.4} (chain's stored: {}){}\n",
            ours.uid,
            ours.set,
            opt(ours.chain_stored),
            if ours.validator_permit { "" } else { "; no validator permit, so the chain ignores this row" },
        ));
    }
    out
}
