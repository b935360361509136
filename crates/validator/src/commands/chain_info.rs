//! `chain-info --netuid N`: the metagraph and every miner's commitment of a subnet at the
//! chain head, as a table or (`--json`) as machine output. Read-only: no wallet is loaded.

use anyhow::{Context, Result};
use chain::cli::{block_on, snapshot, ChainArgs, SubnetSnapshot};
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    chain: ChainArgs,
    /// The subnet to show.
    #[arg(long, env = "SN37_NETUID", default_value_t = 37)]
    netuid: u16,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let source = match &args.chain.local_chain {
        Some(path) => format!("local chain {}", path.display()),
        None => args.chain.endpoint().map_err(anyhow::Error::msg)?,
    };
    let chain = args.chain.open(None).with_context(|| format!("cannot open {source}"))?;
    let snap = block_on(snapshot(chain.as_ref(), args.netuid))
        .with_context(|| format!("cannot read subnet {} from {source}", args.netuid))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&snap))?);
    } else {
        print!("{}", table(&snap, &source));
    }
    Ok(())
}

fn commitment_cell(snap: &SubnetSnapshot, hotkey: &chain::AccountId) -> (String, String) {
    match snap.commitments.get(hotkey) {
        None => ("-".into(), "-".into()),
        Some(c) => {
            let text = match c.text() {
                Ok(text) => text.to_owned(),
                Err(why) => format!("<not text: {why}>"),
            };
            (text, c.block.to_string())
        }
    }
}

fn table(snap: &SubnetSnapshot, source: &str) -> String {
    let h = &snap.hyperparameters;
    let mut out = format!(
        "subnet {} on {source} at block {} ({})\n{} uids, {} commitments; tempo {}, weights rate limit {} blocks, \
         weights version key {}, commit-reveal {}\n\n",
        snap.netuid,
        snap.block.number,
        snap.block.hash,
        snap.metagraph.n(),
        snap.commitments.len(),
        h.tempo,
        h.weights_rate_limit,
        h.weights_version_key,
        if h.commit_reveal_enabled { "on" } else { "off" },
    );
    out.push_str(&format!(
        "{:>5}  {:<48}  {:>16}  {:>6}  {:>12}  {}\n",
        "uid", "hotkey", "stake (TAO)", "permit", "commit block", "commitment"
    ));
    for n in &snap.metagraph.neurons {
        let (text, block) = commitment_cell(snap, &n.hotkey);
        out.push_str(&format!(
            "{:>5}  {:<48}  {:>16.4}  {:>6}  {:>12}  {}\n",
            n.uid,
            n.hotkey.to_string(),
            n.stake_tao,
            if n.validator_permit { "yes" } else { "no" },
            block,
            text
        ));
    }
    let orphans: Vec<_> = snap.commitments.values().filter(|c| snap.metagraph.uid_of(&c.hotkey).is_none()).collect();
    if !orphans.is_empty() {
        out.push_str(&format!("\ncommitments of hotkeys not registered on subnet {}:\n", snap.netuid));
        for c in orphans {
            let (text, block) = commitment_cell(snap, &c.hotkey);
            out.push_str(&format!(
                "{:>5}  {:<48}  {:>16}  {:>6}  {:>12}  {}\n",
                "-",
                c.hotkey.to_string(),
                "-",
                "-",
                block,
                text
            ));
        }
    }
    out
}

fn commitment_json(c: &chain::Commitment) -> Value {
    let (text, not_text) = match c.text() {
        Ok(text) => (Value::from(text), Value::Null),
        Err(why) => (Value::Null, Value::from(why.to_string())),
    };
    json!({"block": c.block, "text": text, "not_text": not_text, "fields": c.fields})
}

fn to_json(snap: &SubnetSnapshot) -> Value {
    let neurons: Vec<Value> = snap
        .metagraph
        .neurons
        .iter()
        .map(|n| {
            json!({
                "uid": n.uid,
                "hotkey": n.hotkey,
                "coldkey": n.coldkey,
                "stake_tao": n.stake_tao,
                "stake_rao": n.stake_rao,
                "validator_permit": n.validator_permit,
                "last_update": n.last_update,
                "active": n.active,
                "commitment": snap.commitments.get(&n.hotkey).map(commitment_json),
            })
        })
        .collect();
    let unregistered: Vec<Value> = snap
        .commitments
        .values()
        .filter(|c| snap.metagraph.uid_of(&c.hotkey).is_none())
        .map(|c| json!({"hotkey": c.hotkey, "commitment": commitment_json(c)}))
        .collect();
    json!({
        "netuid": snap.netuid,
        "block": snap.block,
        "n": snap.metagraph.n(),
        "hyperparameters": snap.hyperparameters,
        "neurons": neurons,
        "unregistered_commitments": unregistered,
    })
}
