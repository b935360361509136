//! Upstream's weight-norm check (taoverse `NormValidationConstraints`), for every supported
//! architecture, read straight from the mapped safetensors.
//!
//! Upstream, per layer and for each of `q,k,v,o` attention and `up,down` MLP projections, takes
//! the Frobenius norm of the weight of the model loaded in bfloat16: any norm above
//! `norm_eps_hard` fails the model; otherwise the share of layers above `norm_eps_soft` is taken
//! per projection, and the mean of the six shares must not exceed
//! `norm_eps_soft_percent_threshold`. Upstream only finds Llama-style module names; here each
//! class's own names are used (see [`crate::architecture`]), with fused QKV and gate/up matrices
//! split by rows so that every architecture is measured on the same six logical projections.
//!
//! Parity: weights are rounded to bfloat16 first (as `torch_dtype=bfloat16` does), squares are
//! summed in f64 and the norm is rounded to bfloat16 (torch returns a bf16 scalar).

use crate::architecture::{ModelConfig, Rows};
use crate::weights::{TensorEntry, Weights};
use half::{bf16, f16};
use safetensors::tensor::Dtype;
use scoring::competition::NormValidation;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NormError {
    #[error("tensor {name} has dtype {dtype:?}; the norm check reads F32, F16, BF16 or F64")]
    Dtype { name: String, dtype: String },
    #[error("tensor {name} has shape {shape:?}, expected a matrix with {rows} rows")]
    Shape { name: String, shape: Vec<usize>, rows: String },
    #[error("tensor {0} is missing")]
    Missing(String),
}

/// The outcome of the check, with enough detail to explain a rejection.
#[derive(Debug, Clone, PartialEq)]
pub struct NormReport {
    pub passed: bool,
    /// The largest norm seen and its tensor (`layer.kind`).
    pub max_norm: f64,
    pub max_norm_at: String,
    /// Mean over the six projections of the share of layers above `norm_eps_soft`.
    pub mean_soft_exceed: f64,
    /// The first norm above `norm_eps_hard`, if any.
    pub hard_violation: Option<(String, f64)>,
    /// Every measured norm: (layer, projection kind, norm).
    pub norms: Vec<(usize, &'static str, f64)>,
}

struct Job {
    layer: usize,
    kind: usize,
}

/// Runs the check on all layers, in parallel over the available cores.
pub fn check_norms(weights: &Weights, cfg: &ModelConfig, limits: &NormValidation) -> Result<NormReport, NormError> {
    let arch = cfg.arch;
    let jobs: Vec<Job> = (0..cfg.num_layers).flat_map(|layer| (0..6).map(move |kind| Job { layer, kind })).collect();
    let norms = Mutex::new(vec![0.0f64; jobs.len()]);
    let first_error = Mutex::new(None);
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { return };
                let projection = &arch.projections[job.kind];
                let name = format!("{}{}.{}", arch.layer_prefix, job.layer, projection.tensor);
                match projection_norm(weights, cfg, &name, projection.rows) {
                    Ok(n) => norms.lock().expect("not poisoned")[i] = n,
                    Err(e) => {
                        first_error.lock().expect("not poisoned").get_or_insert(e);
                        next.store(jobs.len(), Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("not poisoned") {
        return Err(e);
    }
    let norms = norms.into_inner().expect("not poisoned");
    let mut report = NormReport {
        passed: true,
        max_norm: 0.0,
        max_norm_at: String::new(),
        mean_soft_exceed: 0.0,
        hard_violation: None,
        norms: jobs.iter().zip(&norms).map(|(j, &n)| (j.layer, arch.projections[j.kind].kind, n)).collect(),
    };
    let mut exceed = [0usize; 6];
    for (job, &n) in jobs.iter().zip(&norms) {
        let at = || format!("layer {} {}", job.layer, arch.projections[job.kind].kind);
        if n > report.max_norm || report.max_norm_at.is_empty() {
            report.max_norm = n;
            report.max_norm_at = at();
        }
        if n > limits.norm_eps_hard && report.hard_violation.is_none() {
            report.hard_violation = Some((at(), n));
        }
        if n > limits.norm_eps_soft {
            exceed[job.kind] += 1;
        }
    }
    // Every layer has all six projections, so each share is exceed / num_layers.
    let layers = cfg.num_layers.max(1) as f64;
    report.mean_soft_exceed = exceed.iter().map(|&e| e as f64 / layers).sum::<f64>() / 6.0;
    report.passed =
        report.hard_violation.is_none() && report.mean_soft_exceed <= limits.norm_eps_soft_percent_threshold;
    Ok(report)
}

fn projection_norm(weights: &Weights, cfg: &ModelConfig, name: &str, rows: Rows) -> Result<f64, NormError> {
    let entry = weights.tensors.get(name).ok_or_else(|| NormError::Missing(name.to_string()))?;
    let (ranges, expected_rows) = match rows {
        Rows::All => (None, None),
        Rows::Fused(part) => {
            let (ranges, total) = cfg.qkv_rows(part);
            (Some(ranges), Some(total))
        }
        Rows::SecondHalf => {
            let rows = entry.shape.first().copied().unwrap_or(0);
            (Some(std::iter::once(rows / 2..rows).collect()), Some(rows - rows % 2))
        }
    };
    let shape_err = |rows: String| NormError::Shape { name: name.to_string(), shape: entry.shape.clone(), rows };
    let [n_rows, n_cols] = entry.shape[..] else { return Err(shape_err("2 dimensions and any number of".into())) };
    if let Some(expected) = expected_rows.filter(|&r| r != n_rows || r == 0) {
        return Err(shape_err(expected.to_string()));
    }
    let ranges = ranges.unwrap_or_else(|| std::iter::once(0..n_rows).collect());
    let sum: f64 = ranges
        .iter()
        .map(|r| sum_of_squares(weights, entry, name, r.start * n_cols..r.end * n_cols))
        .sum::<Result<f64, NormError>>()?;
    Ok(bf16::from_f64(sum.sqrt()).to_f64())
}

/// Σ x² over elements `elements` of the tensor, each x first rounded to bfloat16.
fn sum_of_squares(
    weights: &Weights,
    entry: &TensorEntry,
    name: &str,
    elements: Range<usize>,
) -> Result<f64, NormError> {
    let data = weights.data(entry);
    let width = match entry.dtype {
        Dtype::F32 => 4,
        Dtype::F16 | Dtype::BF16 => 2,
        Dtype::F64 => 8,
        other => return Err(NormError::Dtype { name: name.to_string(), dtype: format!("{other:?}") }),
    };
    let bytes = &data[elements.start * width..elements.end * width];
    let sq = |x: f32| {
        let x = bf16::from_f32(x).to_f64();
        x * x
    };
    let sum = match entry.dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| sq(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).sum(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| {
                let x = bf16::from_le_bytes([b[0], b[1]]).to_f64();
                x * x
            })
            .sum(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| sq(f16::from_le_bytes([b[0], b[1]]).to_f32())).sum(),
        _ => bytes
            .chunks_exact(8)
            .map(|b| {
                let x = bf16::from_f64(f64::from_le_bytes(b.try_into().expect("8 bytes"))).to_f64();
                x * x
            })
            .sum(),
    };
    Ok(sum)
}
