//! One module per subcommand: its arguments and its `run`.

pub mod model_hash;
pub mod score;
