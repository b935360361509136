//! Everything between a miner's commitment and a verified model folder on disk.
//!
//! | module | job |
//! |---|---|
//! | [`client`] | the Hugging Face HTTP client (listings, small files), deadlines and retries |
//! | [`transfer`] | one file to disk: resumable, size-bounded, with a budget |
//! | [`retry`] | retry policy and `Retry-After` |
//! | [`names`] | names that become paths: hotkeys, repository ids, listed file paths |
//! | [`fileset`] | which files upstream fetches (hence hashes) |
//! | [`fetch`] | the download contract: [`Hub::fetch`] |
//! | [`store`] | the on-disk layout, staging, atomic publication, leases |
//! | [`cleanup`] | keep-set cleanup with a grace period, the disk budget |
//! | [`dir_hash`] | the directory hash as upstream computes it |
//! | [`architecture`] | each supported architecture's tensor names; `config.json` checks |
//! | [`weights`] | safetensors headers (mapped): tensors and the parameter count |
//! | [`norms`] | upstream's weight-norm check, for every architecture |
//! | [`constraints`] | a competition's constraints on a snapshot |
//! | [`server`] | a Hugging Face-compatible file server (local hub for tests and `localnet`) |
//!
//! # Client: plain `reqwest`, not `hf-hub`
//!
//! The contract needs control that `hf-hub` does not give: the exact file set (nothing else may
//! enter the hashed folder), the total-size check before any weight byte, a per-file budget
//! that scales with size, bounded retries honouring `Retry-After`, resuming into our own
//! staging folder, and errors that tell a miner's fault from the hub's. `hf-hub` writes its own
//! `blobs/` + symlink cache (which we would then have to realise, as upstream does) and, in 1.0,
//! switches to the Xet protocol when the Hub offers it, pulling in a large dependency. The three
//! routes we need are a few dozen lines of `reqwest` (rustls, no OpenSSL).
//!
//! # One client, no trait
//!
//! The design asks for one trait per outside system with a real and a local implementation.
//! Here the local implementation is a *server*: [`server::HubServer`] speaks the same HTTP
//! routes as huggingface.co, so the one [`client::HubClient`] talks to both (pointed by
//! `HF_ENDPOINT`), and tests exercise the real client code over real HTTP on 127.0.0.1.
//!
//! # The validator's calls
//!
//! ```no_run
//! # async fn example(commitment: &str, constraints: &scoring::ModelConstraints) -> anyhow::Result<()> {
//! use hub::{client::{HubClient, HubClientConfig}, store::{ModelStore, StoreOptions}, Hub};
//! use std::{path::Path, sync::Arc, time::Duration};
//! let store = Arc::new(ModelStore::open(Path::new("model-store"), StoreOptions {
//!     max_disk_bytes: Some(500 << 30), ..StoreOptions::default() })?);
//! let hub = Hub::new(HubClient::new(HubClientConfig::from_env())?, store.clone());
//! let id = scoring::ModelId::parse(commitment)?;
//! let model = hub.fetch("5Hotkey...", &id, constraints, &[]).await?; // verified + checked
//! let lease = store.pin(&model.key);            // while evaluating model.snapshot
//! drop(lease);
//! store.cleanup(&[model.key.clone()], Duration::from_secs(300));
//! # Ok(()) }
//! ```

pub mod architecture;
pub mod cleanup;
pub mod client;
pub mod constraints;
pub mod dir_hash;
pub mod fetch;
pub mod fileset;
pub mod names;
pub mod norms;
pub mod retry;
pub mod server;
pub mod store;
pub mod transfer;
pub mod weights;

pub use fetch::{FetchError, FetchFailure, Hub, MinerRef, StoredModel};
pub use store::{ModelKey, ModelLease, ModelStore, StoreOptions};
