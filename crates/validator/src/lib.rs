//! The SN37 validator daemon and the embedded local subnet, as a library the binary wires.
//!
//! | module | job |
//! |---|---|
//! | [`state`] | versioned, atomically written state parts under the state folder |
//! | [`model_tracker`] | what each miner committed, what came of it, and when to retry it |
//! | [`eval_sets`] | which uids each competition evaluates next (kept and pending) |
//! | [`step_record`] | the self-contained JSONL record of every evaluation round |
//! | [`run`] | the daemon: sync, model updates, evaluation rounds, weights, cleanup |
//! | [`localnet`] | the whole subnet on one machine, the embedded default |

pub mod eval_sets;
pub mod localnet;
pub mod model_tracker;
pub mod run;
pub mod state;
pub mod step_record;
