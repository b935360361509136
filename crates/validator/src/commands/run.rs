//! `run`: the validator daemon. `eval-worker`: the child process that scores one model.

use anyhow::Result;
use tokio_util::sync::CancellationToken;
use validator::run::config::RunArgs;
use validator::run::{logging, metrics, Validator};

pub fn run(args: RunArgs) -> Result<()> {
    logging::init(args.log_debug, args.log_trace, args.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        if let Some(port) = args.metrics_port {
            metrics::serve(port)?;
        }
        let cancel = CancellationToken::new();
        logging::cancel_on_signals(cancel.clone());
        let validator = Validator::open(args, None, cancel).await?;
        validator.run().await
    })
}

/// The eval worker's body (a hidden command; `run` starts it for each model).
pub fn worker() -> Result<()> {
    logging::init(false, false, false);
    validator::run::worker::worker_main()
}
