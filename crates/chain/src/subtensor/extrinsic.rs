//! The weight extrinsics (`set_weights` and the commit-reveal calls): their call payloads and
//! signed forms, built from runtime metadata with subxt's dynamic API (no codegen).

use crate::account::Block;
use crate::rules::WeightsSubmission;
use crate::wallet::Hotkey;
use std::sync::Arc;
use subxt::client::OfflineClient;
use subxt::config::substrate::{SpecVersionForRange, H256};
use subxt::config::{DefaultExtrinsicParams, DefaultExtrinsicParamsBuilder, SubstrateConfig};
use subxt::tx::DynamicPayload;
use weights_commit::WeightsCall;

/// Blocks a weights transaction stays valid for after the block it was built at.
pub const MORTALITY_BLOCKS: u64 = 64;

/// The call `SubtensorModule.set_weights(netuid, dests, weights, version_key)`.
pub(crate) fn set_weights_call(
    netuid: u16,
    submission: &WeightsSubmission,
) -> DynamicPayload<(u16, Vec<u16>, Vec<u16>, u64)> {
    subxt::dynamic::tx(
        "SubtensorModule",
        "set_weights",
        (netuid, submission.uids.clone(), submission.weights.clone(), submission.version_key),
    )
}

/// Evaluates `$body` with `$payload` bound to the dynamic transaction of `$call` (a
/// [`WeightsCall`]); each call has its own argument tuple type, hence a macro.
macro_rules! with_weights_payload {
    ($call:expr, |$payload:ident| $body:expr) => {{
        use subxt::dynamic::tx;
        use weights_commit::WeightsCall as W;
        const PALLET: &str = "SubtensorModule";
        let call: &W = $call;
        let name = call.name();
        match call.clone() {
            W::CommitWeights { netuid, commit_hash } => {
                let $payload = tx(PALLET, name, (netuid, commit_hash));
                $body
            }
            W::RevealWeights { netuid, uids, values, salt, version_key } => {
                let $payload = tx(PALLET, name, (netuid, uids, values, salt, version_key));
                $body
            }
            W::CommitTimelockedWeights { netuid, commit, reveal_round, commit_reveal_version } => {
                let $payload = tx(PALLET, name, (netuid, commit, reveal_round, commit_reveal_version));
                $body
            }
            W::CommitMechanismWeights { netuid, mecid, commit_hash } => {
                let $payload = tx(PALLET, name, (netuid, mecid, commit_hash));
                $body
            }
            W::RevealMechanismWeights { netuid, mecid, uids, values, salt, version_key } => {
                let $payload = tx(PALLET, name, (netuid, mecid, uids, values, salt, version_key));
                $body
            }
            W::CommitTimelockedMechanismWeights { netuid, mecid, commit, reveal_round, commit_reveal_version } => {
                let $payload = tx(PALLET, name, (netuid, mecid, commit, reveal_round, commit_reveal_version));
                $body
            }
        }
    }};
}
pub(crate) use with_weights_payload;

/// The call data subxt's dynamic encoder gives `call` under the runtime `metadata` describes
/// (raw metadata bytes, `meta` magic first): what a live submission of it would carry.
pub fn weights_call_data_offline(metadata: &[u8], spec_version: u32, call: &WeightsCall) -> Result<Vec<u8>, String> {
    let metadata = subxt::metadata::Metadata::decode_from(metadata)
        .map_err(|e| format!("runtime metadata does not decode: {e}"))?;
    let config = SubstrateConfig::builder()
        .set_genesis_hash(H256([0; 32]))
        .set_metadata_for_spec_versions([(spec_version, Arc::new(metadata))])
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version,
            transaction_version: 1,
        }])
        .build();
    let client = OfflineClient::new_with_config(config);
    let at = client.at_block(0u64).map_err(|e| e.to_string())?;
    with_weights_payload!(call, |payload| at.transactions().call_data(&payload).map_err(|e| e.to_string()))
}

/// Extension parameters for a live submission: mortal for [`MORTALITY_BLOCKS`]; subxt injects
/// the nonce and the block it builds at.
pub(crate) fn live_params() -> DefaultExtrinsicParams<SubstrateConfig> {
    DefaultExtrinsicParamsBuilder::new().mortal(MORTALITY_BLOCKS).build()
}

/// Everything that fixes a signed extrinsic's bytes except the signature itself.
#[derive(Clone, Debug)]
pub struct OfflineSigning<'a> {
    /// Raw runtime metadata (`meta` magic + version + body).
    pub metadata: &'a [u8],
    pub genesis_hash: [u8; 32],
    pub spec_version: u32,
    pub transaction_version: u32,
    pub nonce: u64,
    /// The block the era starts at.
    pub era_block: Block,
    pub era_period: u64,
}

/// A signed extrinsic and its parts.
#[derive(Clone, Debug)]
pub struct SignedExtrinsic {
    pub call_data: Vec<u8>,
    /// The bytes the signature covers (hashed first by the chain when longer than 256).
    pub signer_payload: Vec<u8>,
    /// The whole extrinsic as submitted.
    pub encoded: Vec<u8>,
}

/// Builds and signs `set_weights` without a node: the same payload and subxt machinery as a
/// live submission, with the nonce and era given instead of fetched.
pub fn sign_set_weights_offline(
    inputs: &OfflineSigning<'_>,
    netuid: u16,
    submission: &WeightsSubmission,
    hotkey: &Hotkey,
) -> Result<SignedExtrinsic, String> {
    let metadata = subxt::metadata::Metadata::decode_from(inputs.metadata)
        .map_err(|e| format!("runtime metadata does not decode: {e}"))?;
    let config = SubstrateConfig::builder()
        .set_genesis_hash(H256(inputs.genesis_hash))
        .set_metadata_for_spec_versions([(inputs.spec_version, Arc::new(metadata))])
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version: inputs.spec_version,
            transaction_version: inputs.transaction_version,
        }])
        .build();
    let client = OfflineClient::new_with_config(config);
    let at = client.at_block(inputs.era_block.number).map_err(|e| e.to_string())?;
    let transactions = at.transactions();
    let call = set_weights_call(netuid, submission);
    let call_data = transactions.call_data(&call).map_err(|e| e.to_string())?;
    let params = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new()
        .nonce(inputs.nonce)
        .mortal_from_unchecked(inputs.era_period, inputs.era_block.number, H256(inputs.era_block.hash.0))
        .build();
    let mut signable = transactions.create_v4_signable_offline(&call, params).map_err(|e| e.to_string())?;
    let signer_payload = signable.signer_payload().map_err(|e| e.to_string())?;
    let signed = signable.sign(hotkey).map_err(|e| e.to_string())?;
    Ok(SignedExtrinsic { call_data, signer_payload, encoded: signed.encoded().to_vec() })
}
