//! How many CPU threads the tensor code uses.
//!
//! candle's CPU backend runs matrix products on rayon's global pool and element-wise ops on a
//! pool of its own, sized from `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS` when they are first
//! used; both are fixed for the life of the process. So the counts must be set before the first
//! model is loaded.
//!
//! Element-wise ops get half the threads matrix products get (rounded up). Both pools spin while
//! they wait, so with a full share each they take the cores from each other, and a small model's
//! many short element-wise ops each pay a barrier. On the 2-core machine, one element-wise thread
//! beside two matrix-product threads made the forward 3-20 % faster (BENCHMARKS.md); larger core
//! counts were not measured.

use crate::error::{EngineError, Result};

/// Element-wise threads when matrix products get `threads`.
fn elementwise_threads(threads: usize) -> usize {
    threads.div_ceil(2)
}

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
    std::env::set_var("CANDLE_NUM_THREADS", elementwise_threads(threads).to_string());
    Ok(())
}

/// With no explicit count: matrix products keep candle's default (`RAYON_NUM_THREADS`, else one
/// per physical core) and element-wise ops get half of that, unless the operator set
/// `CANDLE_NUM_THREADS`. Call it at start-up, before any model is loaded; later it changes nothing.
pub fn default_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_some() {
        return;
    }
    let threads = candle_core::utils::get_num_threads();
    std::env::set_var("CANDLE_NUM_THREADS", elementwise_threads(threads).to_string());
}

#[cfg(test)]
mod tests {
    use super::elementwise_threads;

    #[test]
    fn elementwise_ops_get_half_the_threads_rounded_up() {
        let got: Vec<usize> = [1, 2, 3, 4, 16].into_iter().map(elementwise_threads).collect();
        assert_eq!(got, [1, 1, 2, 2, 8]);
    }
}
