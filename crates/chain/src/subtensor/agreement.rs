//! Reading what Yuma consensus reads (§B2 of the commit-reveal notes) at one block: the weight
//! rows, `StakeWeight` (or the neurons' stake), `ValidatorPermit`, `LastUpdate`,
//! `BlockAtRegistration`, kappa and the activity cutoff, the subnet owner's uid, the earliest
//! live timelocked commit of each validator, and the chain's stored `ValidatorTrust` and
//! `Consensus`.

use super::{classify, read_hyperparameters, read_weights, AtBlock, Failure};
use crate::account::AccountId;
use crate::agreement::{AgreementSnapshot, StakeSource};
use crate::metagraph::Metagraph;
use consensus::EpochInputs;
use std::collections::BTreeMap;
use subxt::dynamic::storage;
use weights_commit::calls::netuid_storage_index;

fn decode_failure(item: &str, reason: impl std::fmt::Display) -> Failure {
    Failure::Decode(format!("{item}: {reason}"))
}

/// A per-subnet vector item (`ValidatorPermit`, `LastUpdate`, ...), `None` where the runtime
/// does not have it.
async fn vector<T>(at: &AtBlock, item: &'static str, netuid: u16) -> Result<Option<Vec<T>>, Failure>
where
    T: subxt::ext::scale_decode::DecodeAsType + 'static,
{
    let Ok(entry) = at.storage().entry(storage::<(u16,), Vec<T>>("SubtensorModule", item)) else { return Ok(None) };
    let value = entry.fetch((netuid,)).await.map_err(|e| classify(&e))?;
    Ok(Some(value.decode().map_err(|e| decode_failure(item, e))?))
}

/// `item` must hold one entry per uid.
fn per_uid<T>(item: &str, values: Vec<T>, n: usize) -> Result<Vec<T>, Failure> {
    if values.len() != n {
        return Err(decode_failure(item, format!("{} entries for a subnet of {n} uids", values.len())));
    }
    Ok(values)
}

async fn block_at_registration(at: &AtBlock, netuid: u16, n: usize) -> Result<Vec<u64>, Failure> {
    let address = storage::<(u16, u16), u64>("SubtensorModule", "BlockAtRegistration");
    let mut entries = at.storage().iter(address, (netuid,)).await.map_err(|e| classify(&e))?;
    let mut blocks = vec![None; n];
    while let Some(entry) = entries.next().await {
        let entry = entry.map_err(|e| classify(&e))?;
        let uid = entry
            .key()
            .ok()
            .and_then(|key| key.part(1))
            .and_then(|part| part.decode_as::<u16>().ok().flatten())
            .ok_or_else(|| decode_failure("BlockAtRegistration", "a key without a uid"))?;
        let block = entry.value().decode().map_err(|e| decode_failure("BlockAtRegistration", e))?;
        if let Some(slot) = blocks.get_mut(usize::from(uid)) {
            *slot = Some(block);
        }
    }
    blocks
        .into_iter()
        .enumerate()
        .map(|(uid, b)| b.ok_or_else(|| decode_failure("BlockAtRegistration", format!("no entry for uid {uid}"))))
        .collect()
}

/// The earliest block of a live timelocked commit per hotkey, over every epoch still stored.
async fn earliest_timelocked_commits(at: &AtBlock, netuid: u16) -> Result<Option<BTreeMap<AccountId, u64>>, Failure> {
    type Queue = Vec<([u8; 32], u64, Vec<u8>, u64)>;
    let address = storage::<(u16, u64), Queue>("SubtensorModule", "TimelockedWeightCommits");
    if at.storage().entry(address.clone()).is_err() {
        return Ok(None);
    }
    let index = netuid_storage_index(netuid, 0);
    let mut entries = at.storage().iter(address, (index,)).await.map_err(|e| classify(&e))?;
    let mut earliest = BTreeMap::new();
    while let Some(entry) = entries.next().await {
        let queue: Queue = entry
            .map_err(|e| classify(&e))?
            .value()
            .decode()
            .map_err(|e| decode_failure("TimelockedWeightCommits", e))?;
        for (who, commit_block, ..) in queue {
            earliest
                .entry(AccountId(who))
                .and_modify(|b: &mut u64| *b = (*b).min(commit_block))
                .or_insert(commit_block);
        }
    }
    Ok(Some(earliest))
}

async fn owner_uid(at: &AtBlock, netuid: u16) -> Result<Option<u16>, Failure> {
    let Ok(entry) = at.storage().entry(storage::<(u16,), [u8; 32]>("SubtensorModule", "SubnetOwnerHotkey")) else {
        return Ok(None);
    };
    let owner: [u8; 32] = entry
        .fetch((netuid,))
        .await
        .map_err(|e| classify(&e))?
        .decode()
        .map_err(|e| decode_failure("SubnetOwnerHotkey", e))?;
    let uid = at
        .storage()
        .try_fetch(storage::<(u16, [u8; 32]), u16>("SubtensorModule", "Uids"), (netuid, owner))
        .await
        .map_err(|e| classify(&e))?
        .map(|v| v.decode())
        .transpose()
        .map_err(|e| decode_failure("Uids", e))?;
    Ok(uid)
}

/// Reads the snapshot at `at`; `metagraph` (hotkeys and stake) must be of the same block.
pub(super) async fn read_agreement(
    at: &AtBlock,
    netuid: u16,
    metagraph: &Metagraph,
) -> Result<AgreementSnapshot, Failure> {
    let n = metagraph.n();
    let hyper = read_hyperparameters(at, netuid).await?;
    let rows = read_weights(at, netuid).await?;
    let weights = (0..n as u16).map(|uid| rows.get(&uid).cloned().unwrap_or_default()).collect();
    let permits = vector::<bool>(at, "ValidatorPermit", netuid).await?.unwrap_or_default();
    let last_update = vector::<u64>(at, "LastUpdate", netuid_storage_index(netuid, 0)).await?.unwrap_or_default();
    let stake_weight = vector::<u16>(at, "StakeWeight", netuid).await?;
    let (stake, stake_source) = match stake_weight {
        Some(s) if s.len() == n && s.iter().any(|&w| w > 0) => {
            (s.into_iter().map(f64::from).collect(), StakeSource::StakeWeight)
        }
        _ => (metagraph.neurons.iter().map(|nn| nn.stake_rao as f64).collect(), StakeSource::NeuronStake),
    };
    let earliest_commit_block = match hyper.commit_reveal_enabled {
        true => earliest_timelocked_commits(at, netuid)
            .await?
            .map(|by_hotkey| metagraph.neurons.iter().map(|nn| by_hotkey.get(&nn.hotkey).copied()).collect()),
        false => None,
    };
    let chain_validator_trust = vector::<u16>(at, "ValidatorTrust", netuid).await?.filter(|v| v.len() == n);
    let chain_consensus = vector::<u16>(at, "Consensus", netuid).await?.filter(|v| v.len() == n);
    let inputs = EpochInputs {
        weights,
        stake,
        validator_permit: per_uid("ValidatorPermit", permits, n)?,
        last_update: per_uid("LastUpdate", last_update, n)?,
        block_at_registration: block_at_registration(at, netuid, n).await?,
        activity_cutoff: hyper.activity_cutoff,
        kappa: hyper.kappa,
        current_block: at.block_number(),
        owner_uid: owner_uid(at, netuid).await?,
        earliest_commit_block,
    };
    Ok(AgreementSnapshot {
        netuid,
        block: metagraph.block,
        hotkeys: metagraph.neurons.iter().map(|nn| nn.hotkey).collect(),
        inputs,
        stake_source,
        commit_reveal_enabled: hyper.commit_reveal_enabled,
        chain_validator_trust,
        chain_consensus,
    })
}
