//! Writes a small local chain file to try `chain-info --local-chain PATH` on: subnet 37 with a
//! validator and three miners, two of which have committed.
//!
//!     cargo run -p chain --example local_chain_demo -- /tmp/demo-chain.json

use chain::local::{LocalChain, LocalChainConfig};
use chain::{AccountId, Chain, Hotkey, Hyperparameters, WeightsSubmission};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: local_chain_demo PATH")?;
    let chain = LocalChain::create(std::path::Path::new(&path), &LocalChainConfig::default())?;
    chain.set_hyperparameters(37, Hyperparameters { weights_version_key: 1020, ..Default::default() })?;
    let key = |n: u8| Hotkey::from_seed_bytes([n; 32]).account();
    let coldkey = AccountId([200; 32]);
    chain.register(37, key(1), coldkey, 150_000.0, true)?;
    for n in 2..=4 {
        chain.register(37, key(n), coldkey, n as f64, false)?;
    }
    chain.commit(37, key(2), "miner2:sn37-model:0123456789abcdef0123456789abcdef01234567:c2VjdXJl:1")?;
    chain.advance(3)?;
    chain.commit(37, key(3), "miner3:other-model:89abcdef0123456789abcdef0123456789abcdef:aGFzaA==:1")?;
    let validator = chain.clone().with_signer(key(1));
    let submission = WeightsSubmission { uids: vec![2, 3], weights: vec![65535, 1200], version_key: 1020 };
    let included = chain::cli::block_on(validator.set_weights(37, &submission))?;
    println!("wrote {path}; weights set at block {}", included.block.number);
    Ok(())
}
