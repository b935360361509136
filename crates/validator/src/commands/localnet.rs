//! `localnet`: the whole subnet on this machine (see `validator::localnet`).

pub use validator::localnet::{run, LocalnetArgs as Args};
