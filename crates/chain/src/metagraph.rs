//! The metagraph of a subnet (who holds which uid, with what stake and permit) and the
//! `NeuronInfoRuntimeApi.get_neurons_lite` answer it is read from.

use crate::account::{AccountId, Block};
use parity_scale_codec::{Compact, Decode};
use serde::Serialize;

/// Rao per TAO (and per alpha): stake is stored in rao.
pub const RAO_PER_TAO: u64 = 1_000_000_000;

/// One uid of a subnet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Neuron {
    pub uid: u16,
    pub hotkey: AccountId,
    pub coldkey: AccountId,
    /// Stake in rao, as the chain reports it for this subnet.
    pub stake_rao: u64,
    /// The same stake in TAO (`stake_rao / 1e9`), the unit upstream's thresholds use.
    pub stake_tao: f64,
    pub validator_permit: bool,
    /// The block this uid last set (or committed) weights at; 0 if never.
    pub last_update: u64,
    pub active: bool,
}

/// The metagraph of one subnet at one block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metagraph {
    pub netuid: u16,
    pub block: Block,
    /// Sorted by uid; `neurons[i].uid == i` on a well-formed subnet.
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    /// The number of uids (`n`).
    pub fn n(&self) -> usize {
        self.neurons.len()
    }

    pub fn uid_of(&self, hotkey: &AccountId) -> Option<u16> {
        self.neurons.iter().find(|n| &n.hotkey == hotkey).map(|n| n.uid)
    }

    pub fn neuron(&self, uid: u16) -> Option<&Neuron> {
        self.neurons.iter().find(|n| n.uid == uid)
    }
}

/// `AxonInfo`, read only to skip it.
#[derive(Decode)]
#[allow(dead_code)]
struct AxonInfo {
    block: u64,
    version: u32,
    ip: u128,
    port: u16,
    ip_type: u8,
    protocol: u8,
    placeholder1: u8,
    placeholder2: u8,
}

/// `PrometheusInfo`, read only to skip it.
#[derive(Decode)]
#[allow(dead_code)]
struct PrometheusInfo {
    block: u64,
    version: u32,
    ip: u128,
    port: u16,
    ip_type: u8,
}

/// `NeuronInfoLite<AccountId32>` field for field (subtensor `rpc_info/neuron_info.rs`); the
/// order is the wire format.
#[derive(Decode)]
#[allow(dead_code)]
struct NeuronInfoLite {
    hotkey: [u8; 32],
    coldkey: [u8; 32],
    uid: Compact<u16>,
    netuid: Compact<u16>,
    active: bool,
    axon_info: AxonInfo,
    prometheus_info: PrometheusInfo,
    stake: Vec<([u8; 32], Compact<u64>)>,
    rank: Compact<u16>,
    emission: Compact<u64>,
    incentive: Compact<u16>,
    consensus: Compact<u16>,
    trust: Compact<u16>,
    validator_trust: Compact<u16>,
    dividends: Compact<u16>,
    last_update: Compact<u64>,
    validator_permit: bool,
    pruning_score: Compact<u16>,
}

/// Decodes the bytes `NeuronInfoRuntimeApi_get_neurons_lite` returns. Any mismatch (short
/// input, trailing bytes, a neuron of another subnet) is an error naming the likely cause: the
/// runtime changed the type.
pub fn decode_neurons_lite(netuid: u16, mut bytes: &[u8]) -> Result<Vec<Neuron>, String> {
    let total = bytes.len();
    let raw = Vec::<NeuronInfoLite>::decode(&mut bytes).map_err(|e| {
        format!("NeuronInfoLite list of {total} bytes does not decode ({e}); did the runtime change the type?")
    })?;
    if !bytes.is_empty() {
        return Err(format!(
            "NeuronInfoLite list has {} trailing bytes out of {total}; did the runtime change the type?",
            bytes.len()
        ));
    }
    let mut neurons = Vec::with_capacity(raw.len());
    for n in raw {
        if n.netuid.0 != netuid {
            return Err(format!(
                "asked for subnet {netuid}, the runtime answered with a neuron of subnet {}",
                n.netuid.0
            ));
        }
        let stake_rao = n.stake.iter().fold(0u64, |sum, (_, s)| sum.saturating_add(s.0));
        neurons.push(Neuron {
            uid: n.uid.0,
            hotkey: AccountId(n.hotkey),
            coldkey: AccountId(n.coldkey),
            stake_rao,
            stake_tao: stake_rao as f64 / RAO_PER_TAO as f64,
            validator_permit: n.validator_permit,
            last_update: n.last_update.0,
            active: n.active,
        });
    }
    neurons.sort_by_key(|n| n.uid);
    Ok(neurons)
}
