//! How many CPU threads the tensor code uses.
//!
//! candle's CPU backend sizes its pools from `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS` when
//! they are first used, and runs matrix products on rayon's global pool; both are fixed for
//! the life of the process. So the count must be set before the first model is loaded.

use crate::error::{EngineError, Result};

/// Limits tensor compute to `threads` threads. Call it once, before loading any model; a
/// second call, or a call after rayon's global pool exists, is an error.
pub fn limit_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(EngineError::Invalid("thread count must be at least 1".into()));
    }
    // Building rayon's global pool fails once it exists (set before, or used): then the
    // environment must stay as it is.
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| EngineError::Invalid(format!("thread count can only be set once, before any model runs: {e}")))?;
    // Environment changes are only sound before other threads read the environment; this runs
    // at start-up, before candle has built its pools.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
    Ok(())
}
