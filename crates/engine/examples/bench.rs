//! The engine's CPU benchmarks (BENCHMARKS.md): random-weight models of the three bench shapes
//! (`shared/fixtures/bench.md`), forward throughput on `pairs.jsonl`, the machine's fp32 GEMM
//! rate, and a whole evaluation of several model folders in one process.
//!
//! ```text
//! cargo run --release -p engine --example bench -- make-model --shape s --out /tmp/bench-s
//! cargo run --release -p engine --example bench -- forward --model /tmp/bench-s --threads 1 --batch-size 1
//! cargo run --release -p engine --example bench -- gemm --threads 1
//! cargo run --release -p engine --example bench -- eval-many --threads 2 /tmp/bench-s-*
//! ```
//! gemm's AVX-512 kernels are on in every build (crates/engine/Cargo.toml), for candle's matmul too.

use candle_core::{Device, Tensor};
use clap::{Parser, Subcommand, ValueEnum};
use engine::{LoadOptions, Model, ScoreOptions, Sequence};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a random-weight Llama of a bench shape (config, safetensors, byte-level tokenizer).
    MakeModel {
        #[arg(long, value_enum)]
        shape: Shape,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Time forward passes over the samples: one warm-up, then `--passes` timed passes.
    Forward {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        samples: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        batch_size: usize,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 3)]
        passes: usize,
        #[arg(long, value_enum, default_value_t = Mode::Logits)]
        mode: Mode,
    },
    /// fp32 GEMM rate of candle's matmul (and of the gemm crate called directly).
    Gemm {
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// Reference losses of several model folders in one process, as `eval` computes them.
    EvalMany {
        #[arg(long)]
        samples: Option<PathBuf>,
        #[arg(long, default_value_t = 2048)]
        max_length: usize,
        #[arg(long, default_value_t = 1)]
        batch_size: usize,
        #[arg(long)]
        threads: Option<usize>,
        /// Score this many models at once, each on its own OS thread (use with `--threads 1`).
        #[arg(long, default_value_t = 1)]
        parallel_models: usize,
        models: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Shape {
    S,
    M,
    L,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Mode {
    /// Hidden states and logits at every position (what transformers' `model(ids).logits` does).
    Logits,
    /// Hidden states only (no LM head).
    Hidden,
    /// `Model::score` (reference loss: LM head only at the scored positions), as `eval` runs it.
    Score,
}

fn shared_fixtures() -> PathBuf {
    match std::env::var_os("SN37_SHARED_DIR") {
        Some(d) => PathBuf::from(d).join("fixtures"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::MakeModel { shape, out, seed } => make_model(shape, &out, seed),
        Command::Forward { model, samples, batch_size, threads, passes, mode } => {
            forward(&model, samples, batch_size, threads, passes, mode)
        }
        Command::Gemm { threads, reps } => gemm_rates(threads, reps),
        Command::EvalMany { samples, max_length, batch_size, threads, parallel_models, models } => {
            if let Some(t) = threads {
                engine::limit_threads(t)?;
            }
            let pairs = read_pairs(samples)?;
            let share = models.len().div_ceil(parallel_models.max(1)).max(1);
            std::thread::scope(|scope| {
                let workers: Vec<_> = models
                    .chunks(share)
                    .map(|chunk| scope.spawn(|| eval_many(&pairs, max_length, batch_size, chunk)))
                    .collect();
                workers.into_iter().try_for_each(|w| w.join().expect("a worker panicked"))
            })
        }
    }
}

/// bench.md's configs: (hidden, intermediate, layers, heads, kv heads).
fn dims(shape: Shape) -> (usize, usize, usize, usize, usize) {
    match shape {
        Shape::S => (256, 768, 8, 4, 2),
        Shape::M => (512, 1536, 14, 8, 4),
        Shape::L => (768, 2304, 15, 12, 4),
    }
}

fn make_model(shape: Shape, out: &Path, seed: u64) -> anyhow::Result<()> {
    let (h, inter, layers, heads, kv) = dims(shape);
    let vocab = 2048;
    let hd = h / heads;
    std::fs::create_dir_all(out)?;
    let config = json!({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
        "hidden_size": h, "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "max_position_embeddings": 2048, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "rope_scaling": null, "hidden_act": "silu", "tie_word_embeddings": false, "attention_bias": false,
        "mlp_bias": false, "bos_token_id": 2034, "eos_token_id": 2037, "pad_token_id": 2038, "torch_dtype": "float32"});
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&config)?)?;
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![vocab, h]),
        ("lm_head.weight".into(), vec![vocab, h]),
        ("model.norm.weight".into(), vec![h]),
    ];
    for i in 0..layers {
        let p = format!("model.layers.{i}.");
        for (name, s) in [
            ("input_layernorm", vec![h]),
            ("post_attention_layernorm", vec![h]),
            ("self_attn.q_proj", vec![heads * hd, h]),
            ("self_attn.k_proj", vec![kv * hd, h]),
            ("self_attn.v_proj", vec![kv * hd, h]),
            ("self_attn.o_proj", vec![h, heads * hd]),
            ("mlp.gate_proj", vec![inter, h]),
            ("mlp.up_proj", vec![inter, h]),
            ("mlp.down_proj", vec![h, inter]),
        ] {
            shapes.push((format!("{p}{name}.weight"), s));
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let normal = Normal::new(0f32, 0.06)?;
    let mut tensors = HashMap::new();
    let mut params = 0;
    for (name, s) in shapes {
        let n: usize = s.iter().product();
        params += n;
        let data: Vec<f32> =
            if s.len() == 1 { vec![1.0; n] } else { (0..n).map(|_| normal.sample(&mut rng)).collect() };
        tensors.insert(name, Tensor::from_vec(data, s, &Device::Cpu)?);
    }
    candle_core::safetensors::save(&tensors, out.join("model.safetensors"))?;
    let tokenizer = shared_fixtures().join("tokenizer-bytelevel");
    for entry in std::fs::read_dir(&tokenizer)? {
        let entry = entry?;
        std::fs::copy(entry.path(), out.join(entry.file_name()))?;
    }
    println!("wrote {} ({params} parameters, seed {seed})", out.display());
    Ok(())
}

fn read_pairs(samples: Option<PathBuf>) -> anyhow::Result<Vec<(String, String)>> {
    let path = samples.unwrap_or_else(|| shared_fixtures().join("pairs.jsonl"));
    let text = std::fs::read_to_string(&path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l)?;
            let field = |k: &str| v[k].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("no `{k}`"));
            Ok((field("prompt")?, field("response")?))
        })
        .collect()
}

/// CPU seconds used by the whole machine and by this process so far.
fn cpu_seconds() -> (f64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let all: Vec<f64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    let busy = all.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4 && *i < 8).map(|(_, x)| x).sum::<f64>();
    let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name: state ppid ... utime (11) stime (12), all threads together.
    let fields: Vec<&str> = own[own.rfind(')').map_or(0, |i| i + 2)..].split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    let mine = field(11) + field(12);
    (busy / tick, mine / tick)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn forward(
    dir: &Path,
    samples: Option<PathBuf>,
    batch: usize,
    threads: usize,
    passes: usize,
    mode: Mode,
) -> anyhow::Result<()> {
    engine::limit_threads(threads)?;
    let model = Model::load(dir, &LoadOptions::default())?;
    let (params, _) = model.snapshot().tensor_summary()?;
    let pairs = read_pairs(samples)?;
    let seqs: Vec<Sequence> = pairs
        .iter()
        .map(|(p, r)| model.tokenizer().prompt_response(p, r, None).map(|t| t.sequence))
        .collect::<Result<_, _>>()?;
    let tokens: usize = seqs.iter().map(|s| s.ids.len()).sum();
    let longest = seqs.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    let load_before = load_average();
    let run = |seqs: &[Sequence]| -> anyhow::Result<()> {
        match mode {
            Mode::Score => {
                model.score(seqs, &ScoreOptions { batch_size: batch })?;
            }
            Mode::Logits | Mode::Hidden => full_forward(&model, seqs, batch, mode == Mode::Logits)?,
        }
        Ok(())
    };
    run(&seqs)?;
    let mut times = Vec::new();
    let mut others = Vec::new();
    for _ in 0..passes {
        let (busy0, mine0) = cpu_seconds();
        let t0 = Instant::now();
        run(&seqs)?;
        let dt = t0.elapsed().as_secs_f64();
        let (busy1, mine1) = cpu_seconds();
        times.push(dt);
        others.push(((busy1 - busy0) - (mine1 - mine0)).max(0.0) / dt);
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (best, median) = (sorted[0], sorted[sorted.len() / 2]);
    let mode_name = match mode {
        Mode::Logits => "logits",
        Mode::Hidden => "hidden",
        Mode::Score => "score",
    };
    let report = json!({
        "model": dir.display().to_string(), "mode": mode_name, "params": params, "threads": threads,
        "batch_size": batch, "tokens": tokens, "longest": longest,
        "pass_seconds": times.iter().map(|t| (t * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        "tokens_per_s_best": (tokens as f64 / best).round(), "tokens_per_s_median": (tokens as f64 / median).round(),
        "gflops_best": ((2.0 * params as f64 * tokens as f64 / best / 1e9) * 10.0).round() / 10.0,
        "other_cores": others.iter().map(|o| (o * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        "loadavg_before": load_before, "loadavg_after": load_average(),
    });
    println!("{report}");
    Ok(())
}

/// Every position through the network (and the LM head when `logits`), longest first in
/// right-padded batches, as a plain forward would.
fn full_forward(model: &Model, seqs: &[Sequence], batch: usize, logits: bool) -> anyhow::Result<()> {
    let decoder = model.decoder();
    let mut order: Vec<&Sequence> = seqs.iter().collect();
    order.sort_by_key(|s| std::cmp::Reverse(s.ids.len()));
    for group in order.chunks(batch) {
        let t = group[0].ids.len();
        let mut flat = vec![0u32; group.len() * t];
        for (row, s) in group.iter().enumerate() {
            flat[row * t..row * t + s.ids.len()].copy_from_slice(&s.ids);
        }
        let lens: Vec<usize> = group.iter().map(|s| s.ids.len()).collect();
        let ids = Tensor::from_vec(flat, (group.len(), t), model.device())?;
        let hidden = decoder.hidden_states(&ids, &lens, None)?;
        if logits {
            let rows = hidden.reshape((group.len() * t, decoder.hidden_size))?;
            let out = decoder.logits(&rows)?;
            std::hint::black_box(out);
        } else {
            std::hint::black_box(hidden);
        }
    }
    Ok(())
}

/// `(m, k, n)` products the bench models run: activations `(tokens, k)` times weights `(n, k)`ᵀ.
const GEMM_SHAPES: [(usize, usize, usize); 9] = [
    (512, 256, 512),
    (512, 256, 768),
    (512, 768, 256),
    (512, 512, 1024),
    (512, 512, 3072),
    (512, 1536, 512),
    (512, 768, 4608),
    (512, 2304, 768),
    (2048, 2048, 2048),
];

fn gemm_rates(threads: usize, reps: usize) -> anyhow::Result<()> {
    engine::limit_threads(threads)?;
    println!("{}", json!({"threads": threads, "reps": reps, "loadavg": load_average()}));
    for (m, k, n) in GEMM_SHAPES {
        let flops = 2.0 * (m * k * n) as f64;
        let a = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?;
        let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)?;
        let wt = w.t()?.contiguous()?;
        let best = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
            f()?;
            let mut best = f64::INFINITY;
            for _ in 0..reps {
                let t0 = Instant::now();
                f()?;
                best = best.min(t0.elapsed().as_secs_f64());
            }
            Ok(flops / best / 1e9)
        };
        // candle's Linear: x · Wᵀ with W stored (n, k) — a transposed view of the weights.
        let linear = best(&|| Ok(std::hint::black_box(a.matmul(&w.t()?)).map(|_| ())?))?;
        // The same product with the weights laid out (k, n).
        let plain = best(&|| Ok(std::hint::black_box(a.matmul(&wt)).map(|_| ())?))?;
        let (a_host, w_host) = (a.flatten_all()?.to_vec1::<f32>()?, w.flatten_all()?.to_vec1::<f32>()?);
        let direct = best(&|| {
            std::hint::black_box(direct_gemm(&a_host, &w_host, (m, k, n), threads));
            Ok(())
        })?;
        println!(
            "{}",
            json!({"m": m, "k": k, "n": n, "candle_linear_gflops": (linear * 10.0).round() / 10.0,
                   "candle_plain_gflops": (plain * 10.0).round() / 10.0,
                   "gemm_crate_gflops": (direct * 10.0).round() / 10.0})
        );
    }
    Ok(())
}

/// `a · wᵀ` with the gemm crate, no candle in between: `a` is `(m, k)`, `w` is `(n, k)`.
fn direct_gemm(a: &[f32], w: &[f32], (m, k, n): (usize, usize, usize), threads: usize) -> Vec<f32> {
    assert!(a.len() == m * k && w.len() == n * k);
    let mut dst = vec![0f32; m * n];
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the lengths are checked above; a is (m, k) row-major, w (n, k) row-major read as
    // its transpose (k, n), dst (m, n) row-major.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
    dst
}

fn eval_many(pairs: &[(String, String)], max_length: usize, batch: usize, models: &[PathBuf]) -> anyhow::Result<()> {
    for dir in models {
        let t0 = Instant::now();
        let model = Model::load(dir, &LoadOptions::default())?;
        let loaded = t0.elapsed();
        let seqs: Vec<Sequence> = pairs
            .iter()
            .map(|(p, r)| model.tokenizer().prompt_response(p, r, Some(max_length)).map(|t| t.sequence))
            .collect::<Result<_, _>>()?;
        let tokenised = t0.elapsed();
        let losses = model.score(&seqs, &ScoreOptions { batch_size: batch })?;
        let values: Vec<f64> = losses.iter().map(|l| l.as_ref().map_or(f64::INFINITY, |s| s.loss)).collect();
        let finite: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        println!(
            "{}",
            json!({"model": dir.display().to_string(), "mean_loss": finite.iter().sum::<f64>() / finite.len() as f64,
                   "load_s": loaded.as_secs_f64(), "tokenise_s": (tokenised - loaded).as_secs_f64(),
                   "score_s": (t0.elapsed() - tokenised).as_secs_f64()})
        );
    }
    Ok(())
}
