//! Scoring one model in a child process (`sn37-validator eval-worker`).
//!
//! Each model of a round is loaded and scored in its own process: a model that hangs is killed
//! at its deadline, a crash or an out-of-memory kill cannot take the validator down, and all of
//! the model's memory goes back to the system when it is done (upstream pickled models into
//! spawned subprocesses and ran out of file descriptors; we send only the folder path and the
//! samples). The job goes in as JSON on stdin, the result comes back as JSON on stdout.
//!
//! Fault semantics: a failure that is the miner's (broken weights, unsupported architecture,
//! NaN output, a template that does not render, a model too slow for its deadline) scores `inf`;
//! one that is the validator's (out of memory, device error, a crashed worker) is reported as
//! such and the round is retried rather than scored.

use anyhow::{Context, Result};
use datasets::{PairRule, Sample, SampleBody};
use engine::{ContextOptions, EngineError, LoadOptions, Model, ScoreOptions, Sequence};
use scoring::competition::{DatasetId, EvalMethod};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The samples of one task, as the worker scores them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobTask {
    pub name: String,
    pub method: EvalMethod,
    pub dataset: DatasetId,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalJob {
    pub model_dir: PathBuf,
    /// The competition's fixed evaluation tokenizer, or the miner's tokenizer folder.
    pub tokenizer_dir: Option<PathBuf>,
    pub device: String,
    pub threads: Option<usize>,
    pub batch_size: usize,
    pub sequence_length: usize,
    pub tasks: Vec<JobTask>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blame {
    Miner,
    Validator,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub blame: Blame,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutput {
    pub name: String,
    /// The task's raw score (mean loss, or fraction wrong); `inf` when the model failed it.
    #[serde(with = "scoring::float_json")]
    pub raw: f64,
    /// One value per sample (loss, or 1.0 for a wrong answer); NaN where nothing was scored.
    #[serde(with = "scoring::float_json::vec")]
    pub per_sample: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalOutput {
    pub tasks: Vec<TaskOutput>,
    /// Set when the model could not be scored at all.
    pub failure: Option<Failure>,
    pub load_seconds: f64,
    pub eval_seconds: f64,
}

fn blame_of(e: &EngineError) -> Blame {
    if e.is_miner_fault() {
        Blame::Miner
    } else {
        Blame::Validator
    }
}

fn failed(e: &EngineError, load_seconds: f64) -> EvalOutput {
    EvalOutput {
        tasks: vec![],
        failure: Some(Failure { blame: blame_of(e), message: e.to_string() }),
        load_seconds,
        eval_seconds: 0.0,
    }
}

/// How a dataset's context is cut and encoded (upstream-2025 §2.1 and §2.6).
fn context_options(dataset: DatasetId, system: Option<&str>, sequence_length: usize) -> ContextOptions {
    let long_reasoning = matches!(dataset, DatasetId::Synthetic1Sft | DatasetId::CodeforcesCots);
    ContextOptions {
        system: system.map(str::to_string),
        add_special_tokens: long_reasoning,
        max_context: (!long_reasoning).then_some(sequence_length),
    }
}

fn tokenize(model: &Model, task: &JobTask, sample: &Sample, sequence_length: usize) -> Result<Sequence, EngineError> {
    let tok = model.tokenizer();
    match &sample.body {
        SampleBody::PromptResponse(p) => match p.rule {
            PairRule::ChatPair => Ok(tok.prompt_response(&p.prompt, &p.response, Some(sequence_length))?.sequence),
            PairRule::ContextReference => tok.context_reference(
                &p.prompt,
                &p.response,
                &context_options(task.dataset, p.system.as_deref(), sequence_length),
            ),
        },
        SampleBody::Text { text } => tok.text(text, Some(sequence_length)),
        SampleBody::MultipleChoice { .. } => {
            Err(EngineError::Invalid(format!("task {}: a multiple-choice sample in a loss task", task.name)))
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        f64::INFINITY
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Scores one task; `Err` only for failures that are not the miner's.
fn score_task(model: &Model, task: &JobTask, job: &EvalJob) -> Result<TaskOutput, EngineError> {
    let per_sample: Vec<f64> = match task.method {
        EvalMethod::ReferenceLoss | EvalMethod::TextLoss => {
            let mut values = vec![f64::INFINITY; task.samples.len()];
            let mut sequences = Vec::new();
            let mut positions = Vec::new();
            for (i, sample) in task.samples.iter().enumerate() {
                match tokenize(model, task, sample, job.sequence_length) {
                    Ok(seq) => {
                        sequences.push(seq);
                        positions.push(i);
                    }
                    Err(e) if e.is_miner_fault() => tracing::debug!(sample = %sample.id, "cannot tokenize: {e}"),
                    Err(e) => return Err(e),
                }
            }
            let results = model.score(&sequences, &ScoreOptions { batch_size: job.batch_size.max(1) })?;
            for (i, result) in positions.into_iter().zip(results) {
                values[i] = match result {
                    Ok(sample) => sample.loss,
                    Err(e) if e.is_miner_fault() => f64::INFINITY,
                    Err(e) => return Err(e),
                };
            }
            values
        }
        EvalMethod::MultipleChoice => {
            let mut values = Vec::with_capacity(task.samples.len());
            for sample in &task.samples {
                let SampleBody::MultipleChoice { prompt, answer, .. } = &sample.body else {
                    return Err(EngineError::Invalid(format!(
                        "task {}: sample {} is not multiple choice",
                        task.name, sample.id
                    )));
                };
                values.push(match model.multiple_choice(prompt, answer, Some(job.sequence_length)) {
                    Ok(outcome) => {
                        if outcome.correct {
                            0.0
                        } else {
                            1.0
                        }
                    }
                    Err(e) if e.is_miner_fault() => 1.0,
                    Err(e) => return Err(e),
                });
            }
            values
        }
        EvalMethod::IfEval => {
            return Err(EngineError::Setup(format!(
                "task {}: IF-eval scoring is not implemented in this validator",
                task.name
            )))
        }
    };
    let raw = if task.method == EvalMethod::MultipleChoice && per_sample.is_empty() { 1.0 } else { mean(&per_sample) };
    Ok(TaskOutput { name: task.name.clone(), raw, per_sample })
}

/// Runs a job in this process (the worker's body).
pub fn evaluate(job: &EvalJob) -> EvalOutput {
    match job.threads {
        Some(threads) => {
            if let Err(e) = engine::limit_threads(threads) {
                return failed(&e, 0.0);
            }
        }
        None => engine::default_threads(),
    }
    let started = Instant::now();
    let device = match job.device.parse() {
        Ok(d) => d,
        Err(e) => return failed(&EngineError::Setup(e), 0.0),
    };
    let options = LoadOptions { device, tokenizer_dir: job.tokenizer_dir.clone() };
    let model = match Model::load(&job.model_dir, &options) {
        Ok(m) => m,
        Err(e) => return failed(&e, started.elapsed().as_secs_f64()),
    };
    let load_seconds = started.elapsed().as_secs_f64();
    let eval_started = Instant::now();
    let mut tasks = Vec::with_capacity(job.tasks.len());
    for task in &job.tasks {
        match score_task(&model, task, job) {
            Ok(out) => tasks.push(out),
            Err(e) => {
                let mut out = failed(&e, load_seconds);
                out.eval_seconds = eval_started.elapsed().as_secs_f64();
                return out;
            }
        }
    }
    EvalOutput { tasks, failure: None, load_seconds, eval_seconds: eval_started.elapsed().as_secs_f64() }
}

/// The `eval-worker` command: a job on stdin, its output on stdout.
pub fn worker_main() -> Result<()> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).context("reading the job from stdin")?;
    let job: EvalJob = serde_json::from_slice(&input).context("the job on stdin is not valid")?;
    let output = evaluate(&job);
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &output)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}

/// Runs `job` in a child process of `exe` with a deadline. A missed deadline is the miner's
/// (its model is too slow or hangs); a crashed worker is the validator's.
pub async fn run_in_worker(exe: &std::path::Path, job: &EvalJob, deadline: Duration) -> EvalOutput {
    let start = Instant::now();
    let outcome: Result<Option<(std::process::ExitStatus, Vec<u8>)>> = async {
        let mut child = tokio::process::Command::new(exe)
            .arg("eval-worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the eval worker")?;
        let mut stdin = child.stdin.take().context("worker stdin")?;
        let body = serde_json::to_vec(job)?;
        let mut stdout = child.stdout.take().context("worker stdout")?;
        let run = async {
            stdin.write_all(&body).await?;
            drop(stdin);
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).await?;
            let status = child.wait().await?;
            anyhow::Ok((status, out))
        };
        match tokio::time::timeout(deadline, run).await {
            Ok(result) => Ok(Some(result?)),
            Err(_) => Ok(None),
        }
    }
    .await;
    let elapsed = start.elapsed().as_secs_f64();
    let fail = |blame, message: String| EvalOutput {
        tasks: vec![],
        failure: Some(Failure { blame, message }),
        load_seconds: 0.0,
        eval_seconds: elapsed,
    };
    match outcome {
        Err(e) => fail(Blame::Validator, format!("{e:#}")),
        Ok(None) => fail(Blame::Miner, format!("evaluation took longer than {} s", deadline.as_secs())),
        Ok(Some((status, out))) => match serde_json::from_slice::<EvalOutput>(&out) {
            Ok(output) => output,
            Err(_) => fail(Blame::Validator, format!("the eval worker crashed ({status})")),
        },
    }
}
