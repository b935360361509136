//! One module per subcommand: its arguments and its `run`.

pub mod chain_info;
pub mod consensus;
pub mod dataset;
pub mod eval;
pub mod import_gguf;
pub mod localnet;
pub mod model_hash;
pub mod run;
pub mod score;
pub mod supervise;
