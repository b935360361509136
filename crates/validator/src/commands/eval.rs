//! `eval --model DIR --samples FILE.jsonl`: score a local model folder the way the validator
//! does (upstream's `model_validation.py`), for miners.

use anyhow::{bail, Context, Result};
use engine::{DeviceChoice, LoadOptions, LossOptions, Model, SampleLoss, ScoreOptions, TextSample};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Mean NLL of the response tokens given the prompt (prompt masked).
    ReferenceLoss,
    /// Mean NLL of every next-token prediction of `[bos] + text`.
    TextLoss,
    /// Greedy answer (20 tokens, repetition penalty 1.1); loss 0 if its first A/B/C/D word is
    /// the answer, else 1.
    MultipleChoice,
}

#[derive(clap::Args)]
#[command(after_long_help = "\
SAMPLES (one JSON object per line):
  reference-loss   {\"prompt\": \"...\", \"response\": \"...\"}
  text-loss        {\"text\": \"...\"}
  multiple-choice  {\"prompt\": \"...\", \"answer\": \"B\"}, the prompt holding the lettered choices; or
                   {\"prompt\": \"...\", \"choices\": [\"..\", \"..\", \"..\", \"..\"], \"answer\": \"B\"}, the choices
                   then appended as lines \"A. ..\" to \"D. ..\".
Other keys are ignored.

TOKENISATION (as the upstream validator):
  reference-loss   prompt = chat template of [user] with the generation prompt, full = template of
                   [user, assistant], no extra special tokens, both cut to the first --max-length
                   tokens; tokens from len(prompt) on are scored. A response cut away entirely
                   scores nan.
  text-loss        [bos, if the tokenizer has one] + the text's tokens, cut to --max-length.
  multiple-choice  template of [user] with the generation prompt, keeping its last --max-length tokens.

OUTPUT:
  --json prints {\"samples\": [{\"loss\", \"tokens\", ...}], \"mean_loss\", \"nan_samples\"} in input order;
  non-finite numbers are the strings \"nan\" and \"inf\". mean_loss is the mean over the samples whose
  loss is not nan. A sample the model cannot score (NaN/inf in its output, a broken template)
  gets loss \"inf\" and an \"error\" (the validator scores it so too).")]
pub struct Args {
    /// The model folder (config.json, safetensors, tokenizer files).
    #[arg(long)]
    model: PathBuf,
    /// The samples, JSON lines.
    #[arg(long)]
    samples: PathBuf,
    #[arg(long, value_enum, default_value_t = Method::ReferenceLoss)]
    method: Method,
    /// Token limit per sample (the competition's sequence length).
    #[arg(long, default_value_t = 4096)]
    max_length: usize,
    /// `cpu` (float32) or `cuda` / `cuda:N` (bfloat16; needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Sequences per forward pass (right-padded).
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// CPU threads for matrix products; element-wise ops get half of them (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Use this folder's tokenizer and chat template instead of the model's (competitions that
    /// fix the evaluation tokenizer).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One sample as read from the file.
#[derive(Debug, Clone, PartialEq)]
enum Sample {
    Pair { prompt: String, response: String },
    Text(String),
    Choice { prompt: String, answer: String },
}

/// One sample's result.
#[derive(Debug, Clone)]
struct Outcome {
    loss: f64,
    tokens: usize,
    scored: Option<usize>,
    error: Option<String>,
    response: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.max_length < 2 {
        bail!("--max-length must be at least 2");
    }
    let samples = read_samples(&args.samples, args.method)?;
    match args.threads {
        Some(threads) => engine::limit_threads(threads)?,
        None => engine::default_threads(),
    }
    let opts = LoadOptions { device: args.device, tokenizer_dir: args.tokenizer.clone() };
    let model = Model::load(&args.model, &opts)
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    let progress = progress_bar(samples.len(), !args.json);
    let outcomes =
        evaluate(&model, &samples, args.method, args.max_length, args.batch_size, &|n| progress.inc(n as u64))?;
    progress.finish_and_clear();
    if args.json {
        println!("{}", report_json(&outcomes));
    } else {
        print_table(&model, &args, &outcomes);
    }
    Ok(())
}

fn progress_bar(len: usize, wanted: bool) -> indicatif::ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} samples, {elapsed} (eta {eta})") {
        bar.set_style(style);
    }
    bar
}

/// Reads JSON lines; a bad line is reported with its number.
fn read_samples(path: &Path, method: Method) -> Result<Vec<Sample>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let sample = serde_json::from_str::<Value>(line)
            .map_err(|e| anyhow::anyhow!("not valid JSON: {e}"))
            .and_then(|v| sample_from(&v, method))
            .with_context(|| format!("{} line {}", path.display(), i + 1))?;
        samples.push(sample);
    }
    if samples.is_empty() {
        bail!("{} holds no samples", path.display());
    }
    Ok(samples)
}

fn sample_from(v: &Value, method: Method) -> Result<Sample> {
    let text = |key: &str| -> Result<String> {
        match v.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => bail!("`{key}` is not a string"),
            None => bail!("missing `{key}`"),
        }
    };
    if !v.is_object() {
        bail!("not a JSON object");
    }
    Ok(match method {
        Method::ReferenceLoss => Sample::Pair { prompt: text("prompt")?, response: text("response")? },
        Method::TextLoss => Sample::Text(text("text")?),
        Method::MultipleChoice => {
            let mut prompt = text("prompt")?;
            let answer = text("answer")?;
            if !engine::methods::CHOICES.contains(&answer.as_str()) {
                bail!("`answer` must be one of A, B, C, D, not {answer:?}");
            }
            if let Some(choices) = v.get("choices") {
                let choices =
                    choices.as_array().filter(|c| c.len() == 4).context("`choices` must be a list of 4 strings")?;
                for (letter, choice) in engine::methods::CHOICES.iter().zip(choices) {
                    let choice = choice.as_str().context("`choices` must be a list of 4 strings")?;
                    prompt.push_str(&format!("\n{letter}. {choice}"));
                }
            }
            Sample::Choice { prompt, answer }
        }
    })
}

/// Scores every sample; `tick(n)` is told of each `n` finished samples.
fn evaluate(
    model: &Model,
    samples: &[Sample],
    method: Method,
    max_length: usize,
    batch_size: usize,
    tick: &dyn Fn(usize),
) -> Result<Vec<Outcome>> {
    if method == Method::MultipleChoice {
        let mut out = Vec::with_capacity(samples.len());
        for sample in samples {
            let Sample::Choice { prompt, answer } = sample else { unreachable!("read for multiple choice") };
            out.push(match model.multiple_choice(prompt, answer, Some(max_length)) {
                Ok(o) => Outcome {
                    loss: if o.correct { 0.0 } else { 1.0 },
                    tokens: o.prompt_tokens,
                    scored: None,
                    error: None,
                    response: Some(o.response),
                },
                Err(e) if e.is_miner_fault() => failed(&e),
                Err(e) => return Err(e.into()),
            });
            tick(1);
        }
        return Ok(out);
    }
    // Longest first (by characters; the engine sorts each batch by tokens) so batches pad
    // little; results go back to input order.
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(text_len(&samples[i])));
    let opts = LossOptions { max_len: Some(max_length), score: ScoreOptions { batch_size }, ..Default::default() };
    let mut outcomes: Vec<Option<Outcome>> = vec![None; samples.len()];
    for batch in order.chunks(batch_size) {
        let texts: Vec<TextSample> = batch.iter().map(|&i| text_sample(&samples[i])).collect();
        let results = model.losses(&texts, &opts)?;
        for (&i, result) in batch.iter().zip(&results) {
            let loss = SampleLoss::loss_or_inf(result).map_err(|e| anyhow::anyhow!("{e}"))?;
            outcomes[i] = Some(match result {
                Ok(r) => Outcome { loss, tokens: r.tokens, scored: Some(r.scored), error: None, response: None },
                Err(e) => failed(e),
            });
        }
        tick(batch.len());
    }
    Ok(outcomes.into_iter().map(|o| o.expect("every sample has an outcome")).collect())
}

fn text_sample(sample: &Sample) -> TextSample<'_> {
    match sample {
        Sample::Pair { prompt, response } => TextSample::PromptResponse { prompt, response },
        Sample::Text(text) => TextSample::Text(text),
        Sample::Choice { .. } => unreachable!("multiple choice is not a loss"),
    }
}

fn text_len(sample: &Sample) -> usize {
    match sample {
        Sample::Pair { prompt, response } => prompt.len() + response.len(),
        Sample::Text(text) => text.len(),
        Sample::Choice { prompt, .. } => prompt.len(),
    }
}

/// A sample the model failed on (a miner's fault): it counts as an infinite loss.
fn failed(e: &engine::EngineError) -> Outcome {
    Outcome { loss: f64::INFINITY, tokens: 0, scored: None, error: Some(e.to_string()), response: None }
}

/// Mean over the samples that are not NaN, and how many were NaN.
fn mean_loss(outcomes: &[Outcome]) -> (f64, usize) {
    let finite: Vec<f64> = outcomes.iter().map(|o| o.loss).filter(|l| !l.is_nan()).collect();
    let mean = if finite.is_empty() { f64::NAN } else { finite.iter().sum::<f64>() / finite.len() as f64 };
    (mean, outcomes.len() - finite.len())
}

fn report_json(outcomes: &[Outcome]) -> Value {
    let samples: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let mut v = json!({"loss": scoring::float_json::to_value(o.loss), "tokens": o.tokens});
            if let Some(n) = o.scored {
                v["scored_tokens"] = n.into();
            }
            if let Some(r) = &o.response {
                v["response"] = r.clone().into();
            }
            if let Some(e) = &o.error {
                v["error"] = e.clone().into();
            }
            v
        })
        .collect();
    let (mean, nan) = mean_loss(outcomes);
    json!({"samples": samples, "mean_loss": scoring::float_json::to_value(mean), "nan_samples": nan})
}

fn print_table(model: &Model, args: &Args, outcomes: &[Outcome]) {
    println!(
        "model {} ({}), method {:?}, max length {}",
        args.model.display(),
        model.architecture().class_name(),
        args.method,
        args.max_length
    );
    println!("{:>6} {:>8} {:>8} {:>12}", "sample", "tokens", "scored", "loss");
    for (i, o) in outcomes.iter().enumerate() {
        let scored = o.scored.map_or("-".to_string(), |n| n.to_string());
        let note = o.error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default();
        println!("{i:>6} {:>8} {scored:>8} {:>12.6}{note}", o.tokens, o.loss);
    }
    let (mean, nan) = mean_loss(outcomes);
    let nan_note = if nan > 0 { format!(" ({nan} nan samples left out)") } else { String::new() };
    println!("mean loss {mean:.6} over {} samples{nan_note}", outcomes.len() - nan);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        let shared = match std::env::var_os("SN37_SHARED_DIR") {
            Some(d) => PathBuf::from(d),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        };
        let dir = shared.join("fixtures");
        assert!(dir.is_dir(), "fixtures missing: {}", dir.display());
        dir
    }

    fn expected(model: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixtures().join(model).join("expected.json")).unwrap()).unwrap()
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(&path, "{\"prompt\": \"a\", \"response\": \"b\"}\n\n{\"prompt\": \"a\"}\n").unwrap();
        let err = format!("{:#}", read_samples(&path, Method::ReferenceLoss).unwrap_err());
        assert!(err.contains("line 3") && err.contains("missing `response`"), "{err}");
        std::fs::write(&path, "{\"text\": 1}\n").unwrap();
        let err = format!("{:#}", read_samples(&path, Method::TextLoss).unwrap_err());
        assert!(err.contains("line 1") && err.contains("not a string"), "{err}");
        std::fs::write(&path, "not json\n").unwrap();
        assert!(format!("{:#}", read_samples(&path, Method::TextLoss).unwrap_err()).contains("not valid JSON"));
        let err = format!("{:#}", read_samples(&dir.path().join("missing.jsonl"), Method::TextLoss).unwrap_err());
        assert!(err.contains("missing.jsonl"), "{err}");
    }

    #[test]
    fn choices_are_appended_as_lettered_lines() {
        let v = json!({"prompt": "Q?", "choices": ["w", "x", "y", "z"], "answer": "C"});
        let s = sample_from(&v, Method::MultipleChoice).unwrap();
        assert_eq!(s, Sample::Choice { prompt: "Q?\nA. w\nB. x\nC. y\nD. z".into(), answer: "C".into() });
        assert!(sample_from(&json!({"prompt": "Q", "answer": "E"}), Method::MultipleChoice).is_err());
    }

    #[test]
    fn pairs_score_as_transformers_in_input_order() {
        let model = Model::load(&fixtures().join("qwen2"), &LoadOptions::default()).unwrap();
        let samples = read_samples(&fixtures().join("pairs.jsonl"), Method::ReferenceLoss).unwrap();
        let outcomes = evaluate(&model, &samples, Method::ReferenceLoss, 256, 4, &|_| {}).unwrap();
        let expected = expected("qwen2");
        for (o, rec) in outcomes.iter().zip(expected["reference_loss"].as_array().unwrap()) {
            match rec["loss"].as_f64() {
                Some(want) => assert!((o.loss - want).abs() < 2e-5, "pair {}: {} vs {want}", rec["pair"], o.loss),
                None => assert!(o.loss.is_nan()),
            }
            assert_eq!(o.tokens as u64, rec["n_tokens"].as_u64().unwrap());
        }
        let report = report_json(&outcomes);
        assert_eq!(report["nan_samples"], 1);
        assert_eq!(report["samples"][23]["loss"], "nan");
        let mean = report["mean_loss"].as_f64().unwrap();
        assert!((mean - expected["mean_loss"].as_f64().unwrap()).abs() < 2e-6);
    }

    #[test]
    fn texts_score_as_transformers() {
        let model = Model::load(&fixtures().join("gemma"), &LoadOptions::default()).unwrap();
        let samples = read_samples(&fixtures().join("texts.jsonl"), Method::TextLoss).unwrap();
        let outcomes = evaluate(&model, &samples, Method::TextLoss, 256, 2, &|_| {}).unwrap();
        for (o, rec) in outcomes.iter().zip(expected("gemma")["text_loss"].as_array().unwrap()) {
            assert!((o.loss - rec["loss"].as_f64().unwrap()).abs() < 2e-5);
        }
    }
}
