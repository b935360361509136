//! Logging set-up and signal handling shared by `run` and `localnet`.

use tokio_util::sync::CancellationToken;

/// Sets up `tracing` on stderr from the logging flags (`RUST_LOG` overrides them).
pub fn init(debug: bool, trace: bool, json: bool) {
    let level = if trace {
        "trace"
    } else if debug {
        "debug"
    } else {
        "info"
    };
    // Our crates at the chosen level; chatty dependencies at warn.
    let default = ["validator", "sn37_validator", "chain", "hub", "datasets", "engine", "scoring", "wandb"]
        .iter()
        .fold("warn".to_string(), |acc, c| format!("{acc},{c}={level}"));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests, nested commands) keeps the first subscriber.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Cancels `token` on SIGINT or SIGTERM (needs a tokio runtime).
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping after the current step, saving state"),
            _ = term.recv() => tracing::info!("SIGTERM: stopping after the current step, saving state"),
        }
        token.cancel();
    });
}
