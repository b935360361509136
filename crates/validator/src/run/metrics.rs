//! Prometheus metrics (`--metrics.port`): block, round timings, per-uid score and weight,
//! downloads, chain latency, weight submissions and errors by kind.

use crate::step_record::StepRecord;
use anyhow::{Context, Result};
use metrics::{counter, gauge, histogram};

/// Serves `/metrics` on `0.0.0.0:port` (needs a tokio runtime).
pub fn serve(port: u16) -> Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(([0, 0, 0, 0], port))
        .install()
        .with_context(|| format!("cannot serve metrics on port {port}"))
}

pub fn set_block(block: u64) {
    gauge!("sn37_block").set(block as f64);
}

pub fn phase(name: &'static str, seconds: f64) {
    histogram!("sn37_phase_seconds", "phase" => name).record(seconds);
}

pub fn download(result: &'static str, bytes: u64) {
    counter!("sn37_downloads_total", "result" => result).increment(1);
    counter!("sn37_download_bytes_total").increment(bytes);
}

pub fn chain_call(call: &'static str, seconds: f64) {
    histogram!("sn37_chain_call_seconds", "call" => call).record(seconds);
}

pub fn weights_set(result: &str) {
    counter!("sn37_weights_set_total", "result" => result.to_string()).increment(1);
}

pub fn error(kind: &'static str) {
    counter!("sn37_errors_total", "kind" => kind).increment(1);
}

pub fn vtrust(e: &chain::agreement::VtrustEstimate) {
    gauge!("sn37_vtrust", "row" => "set").set(e.set);
    if let Some(v) = e.about_to_set {
        gauge!("sn37_vtrust", "row" => "about_to_set").set(v);
    }
    if let Some(v) = e.chain_stored {
        gauge!("sn37_vtrust", "row" => "chain_stored").set(v);
    }
}

pub fn round(record: &StepRecord) {
    let competition = record.competition_id.to_string();
    counter!("sn37_rounds_total", "competition" => competition.clone()).increment(1);
    histogram!("sn37_round_seconds", "competition" => competition).record(record.total_seconds);
    for m in &record.models {
        let uid = m.uid.to_string();
        gauge!("sn37_uid_score", "uid" => uid.clone()).set(m.score);
    }
    for o in &record.outcome {
        gauge!("sn37_uid_win_rate", "uid" => o.uid.to_string()).set(o.win_rate);
    }
    for (uid, w) in &record.subnet_weights {
        gauge!("sn37_uid_weight", "uid" => uid.to_string()).set(*w);
    }
}
