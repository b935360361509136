//! Building the local subnet: miners' repositories on the local hub, registrations and
//! commitments on the local chain, the validator's wallet and the schedule. The result is
//! described by `localnet.json` (the manifest), so a second invocation reuses everything.

use super::models;
use anyhow::{Context, Result};
use chain::local::LocalChainConfig;
use chain::{AccountId, Hotkey, LocalChain};
use hub::fileset::{CONFIG, GENERATION_CONFIG, SINGLE_WEIGHTS};
use hub::server::LocalHub;
use scoring::hashing::secure_hash;
use scoring::{ModelId, Schedule};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MANIFEST: &str = "localnet.json";
pub const NETUID: u16 = 37;
const MANIFEST_VERSION: u32 = 1;
/// A competition id no schedule has.
const UNKNOWN_COMPETITION: i64 = 99;

/// What a miner is there to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Role {
    /// An honest miner; `rank` 0 is the best model.
    Honest { rank: usize, note: String },
    /// The best model again, committed later by another hotkey.
    Clone { of_uid: u16 },
    /// A commitment whose secure hash does not match its files.
    HashMismatch,
    /// A repository over the competition's size limit.
    Oversized,
    /// A repository with pickle weights only.
    PickleOnly,
    /// A commitment naming a competition that does not exist.
    UnknownCompetition,
}

impl Role {
    pub fn label(&self) -> String {
        match self {
            Role::Honest { rank, note } => format!("honest #{} ({note})", rank + 1),
            Role::Clone { of_uid } => format!("later clone of uid {of_uid}"),
            Role::HashMismatch => "hash mismatch".into(),
            Role::Oversized => "oversized repo".into(),
            Role::PickleOnly => "pickle-only repo".into(),
            Role::UnknownCompetition => "unknown competition".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Miner {
    pub uid: u16,
    pub hotkey: String,
    pub role: Role,
    pub commitment: String,
    pub commit_block: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub netuid: u16,
    pub validator_uid: u16,
    pub validator_hotkey: String,
    pub miners: Vec<Miner>,
    /// Where the models came from (for the operator).
    pub models: String,
    /// Whether the chain wants commit-reveal.
    #[serde(default)]
    pub commit_reveal: bool,
}

impl Manifest {
    pub fn load(dir: &Path) -> Option<Manifest> {
        let text = std::fs::read(dir.join(MANIFEST)).ok()?;
        serde_json::from_slice::<Manifest>(&text).ok().filter(|m| m.version == MANIFEST_VERSION)
    }
}

/// What `build` needs to know.
pub struct BuildPlan {
    pub dir: PathBuf,
    /// Honest models, best first.
    pub honest: Vec<(PathBuf, String)>,
    pub block_time: Duration,
    pub samples: usize,
    pub models_description: String,
    /// Weights go through timelocked commit-reveal, as on finney since August 2025.
    pub commit_reveal: bool,
}

/// A deterministic hotkey for a localnet role.
fn hotkey(label: &str) -> Hotkey {
    Hotkey::from_seed_bytes(Sha256::digest(format!("sn37-localnet:{label}").as_bytes()).into())
}

fn coldkey(label: &str) -> AccountId {
    AccountId(Sha256::digest(format!("sn37-localnet-coldkey:{label}").as_bytes()).into())
}

/// The directory hash a validator will compute for this folder: only the files it downloads.
fn validator_dir_hash(folder: &Path) -> Result<String> {
    let view = tempfile::tempdir()?;
    for f in [CONFIG, SINGLE_WEIGHTS, GENERATION_CONFIG] {
        if folder.join(f).is_file() {
            std::fs::hard_link(folder.join(f), view.path().join(f))
                .or_else(|_| std::fs::copy(folder.join(f), view.path().join(f)).map(|_| ()))?;
        }
    }
    Ok(hub::dir_hash::directory_hash(view.path())?)
}

fn folder_bytes(folder: &Path) -> Result<u64> {
    Ok(std::fs::read_dir(folder)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
}

/// Writes the validator's hotkey as a bittensor keyfile and returns the wallet folder.
fn write_wallet(dir: &Path, key: &Hotkey, seed: [u8; 32]) -> Result<PathBuf> {
    let wallets = dir.join("wallets");
    let file = chain::wallet::hotkey_path(&wallets, "localnet", "validator");
    std::fs::create_dir_all(file.parent().context("keyfile folder")?)?;
    let public = format!("0x{}", hex::encode(key.account().as_bytes()));
    let json = serde_json::json!({
        "accountId": public, "publicKey": public,
        "secretSeed": format!("0x{}", hex::encode(seed)),
        "ss58Address": key.account().to_ss58(),
    });
    std::fs::write(&file, serde_json::to_vec_pretty(&json)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(wallets)
}

/// The localnet schedule with this run's sample count and a size limit that honest models pass.
fn write_schedule(dir: &Path, samples: usize, max_bytes: u64) -> Result<Schedule> {
    let mut schedule = Schedule::localnet();
    for entry in &mut schedule.entries {
        for c in &mut entry.competitions {
            c.constraints.max_bytes = max_bytes;
            for t in &mut c.eval_tasks {
                t.dataset_kwargs.insert("samples".into(), samples.into());
            }
        }
    }
    schedule.validate()?;
    std::fs::write(dir.join("schedule.json"), serde_json::to_vec_pretty(&schedule)?)?;
    Ok(schedule)
}

/// Builds the subnet in `plan.dir` and writes its manifest.
pub fn build(plan: &BuildPlan) -> Result<Manifest> {
    let dir = &plan.dir;
    std::fs::create_dir_all(dir)?;
    let largest =
        plan.honest.iter().map(|(p, _)| folder_bytes(p)).collect::<Result<Vec<_>>>()?.into_iter().max().unwrap_or(0);
    let max_bytes = largest + largest / 4 + (1 << 20);
    let schedule = write_schedule(dir, plan.samples, max_bytes)?;
    let competition = &schedule.entries[0].competitions[0];

    let hub = LocalHub::open(dir.join("hub"))?;
    let chain = LocalChain::open_or_create(
        &dir.join("chain.json"),
        &LocalChainConfig { chain_id: "sn37-localnet".into(), block_time: plan.block_time },
    )?;
    let hyper = if plan.commit_reveal {
        // Short epochs so that a commit is revealed within seconds of local time.
        chain::Hyperparameters {
            tempo: 10,
            weights_rate_limit: 2,
            commit_reveal_enabled: true,
            reveal_period_epochs: Some(1),
            commit_reveal_version: Some(4),
            ..chain::Hyperparameters::default()
        }
    } else {
        chain::Hyperparameters { tempo: 100, weights_rate_limit: 2, ..chain::Hyperparameters::default() }
    };
    chain.set_hyperparameters(NETUID, hyper)?;
    let validator_seed: [u8; 32] = Sha256::digest(b"sn37-localnet:validator").into();
    let validator_key = Hotkey::from_seed_bytes(validator_seed);
    let validator_uid = chain.register(NETUID, validator_key.account(), coldkey("validator"), 1_000_000.0, true)?;
    write_wallet(dir, &validator_key, validator_seed)?;

    let mut miners = Vec::new();
    let commit = |miners: &mut Vec<Miner>, label: &str, role: Role, text: String, key: &Hotkey| -> Result<u16> {
        let uid = chain.register(NETUID, key.account(), coldkey(label), 0.0, false)?;
        let block = chain.commit(NETUID, key.account(), &text)?;
        tracing::info!(uid, role = %role.label(), commitment = %text, "miner committed");
        miners.push(Miner { uid, hotkey: key.account().to_ss58(), role, commitment: text, commit_block: block.number });
        Ok(uid)
    };
    let commitment = |repo: &str, sha: &str, secure: &str, competition_id: i64| -> Result<String> {
        Ok(ModelId::for_commit(repo, sha, secure, competition_id)?.to_string())
    };

    // Honest miners, best first; the best commits first so that its clone is later.
    let mut best: Option<(u16, PathBuf, String)> = None;
    for (rank, (folder, note)) in plan.honest.iter().enumerate() {
        let label = format!("honest-{rank}");
        let key = hotkey(&label);
        let repo = format!("miner{rank}/sn37-model");
        let sha = hub.commit_folder(&repo, folder)?;
        let dir_hash = validator_dir_hash(folder)?;
        let text = commitment(&repo, &sha, &secure_hash(&dir_hash, &key.account().to_ss58()), competition.id)?;
        let uid = commit(&mut miners, &label, Role::Honest { rank, note: note.clone() }, text, &key)?;
        if rank == 0 {
            best = Some((uid, folder.clone(), dir_hash));
        }
        chain.advance(1)?;
    }
    let (best_uid, best_folder, best_hash) = best.context("localnet needs at least one honest miner")?;

    // A commitment whose hash was made for other files.
    let key = hotkey("hash-mismatch");
    let repo = "mallory/sn37-model";
    let (other_folder, _) = plan.honest.last().context("honest models")?;
    let sha = hub.commit_folder(repo, other_folder)?;
    let text = commitment(repo, &sha, &secure_hash(&best_hash, &key.account().to_ss58()), competition.id)?;
    commit(&mut miners, "hash-mismatch", Role::HashMismatch, text, &key)?;

    // Over the size limit: the best model plus padding.
    let key = hotkey("oversized");
    let repo = "big/sn37-model";
    let padded = dir.join("models").join("oversized");
    models::plain_copy(&best_folder, &padded)?;
    let padding = max_bytes.saturating_sub(folder_bytes(&padded)?) + (1 << 20);
    std::fs::File::create(padded.join("padding.dat"))?.set_len(padding)?;
    let sha = hub.commit_folder(repo, &padded)?;
    // The padding is not a file the validator downloads, so the hash is the best model's.
    let text = commitment(repo, &sha, &secure_hash(&best_hash, &key.account().to_ss58()), competition.id)?;
    commit(&mut miners, "oversized", Role::Oversized, text, &key)?;

    // Pickle weights only.
    let key = hotkey("pickle-only");
    let repo = "pickle/sn37-model";
    let config = std::fs::read(best_folder.join(CONFIG))?;
    let pickle: &[u8] = b"\x80\x02}q\x00(X\x05\x00\x00\x00torchq\x01K\x01u.";
    let sha = hub.commit_files(repo, &[(CONFIG, &config), ("pytorch_model.bin", pickle)])?;
    let text = commitment(repo, &sha, &secure_hash("none", &key.account().to_ss58()), competition.id)?;
    commit(&mut miners, "pickle-only", Role::PickleOnly, text, &key)?;

    // A competition no schedule has.
    let key = hotkey("unknown-competition");
    let repo = "lost/sn37-model";
    let sha = hub.commit_folder(repo, &best_folder)?;
    let text = commitment(repo, &sha, &secure_hash(&best_hash, &key.account().to_ss58()), UNKNOWN_COMPETITION)?;
    commit(&mut miners, "unknown-competition", Role::UnknownCompetition, text, &key)?;

    // The best model copied and committed later under another hotkey, with a valid hash.
    chain.advance(5)?;
    let key = hotkey("clone");
    let repo = "copycat/sn37-model";
    let sha = hub.commit_folder(repo, &best_folder)?;
    let text = commitment(repo, &sha, &secure_hash(&best_hash, &key.account().to_ss58()), competition.id)?;
    commit(&mut miners, "clone", Role::Clone { of_uid: best_uid }, text, &key)?;

    // Let every commitment age past the evaluation delay.
    chain.advance(competition.constraints.eval_block_delay + 1)?;
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        netuid: NETUID,
        validator_uid,
        validator_hotkey: validator_key.account().to_ss58(),
        miners,
        models: plan.models_description.clone(),
        commit_reveal: plan.commit_reveal,
    };
    crate::state::write_atomically(&dir.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}
