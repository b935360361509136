//! Everything between a miner's commitment and a verified model folder on disk.
//!
//! Today: [`dir_hash`], the directory hash of a model folder as upstream computes it.
//! The Hugging Face client, the model store, constraints checks and cleanup arrive with the hub
//! issue.

pub mod dir_hash;
