//! Every fixture model scores the recorded token ids as `transformers` did (expected.json),
//! within the fixtures README tolerances: per sample 2e-5, per token 5e-5, mean 2e-6; and a
//! batched run equals batch size 1 within 1e-5.

mod common;

use common::*;
use engine::{LoadOptions, Model, SampleLoss, ScoreOptions, Sequence};
use serde_json::Value;
use std::fmt::Write;

const PER_SAMPLE: f64 = 2e-5;
const PER_TOKEN: f64 = 5e-5;
const MEAN: f64 = 2e-6;

fn recorded_sequences(expected: &Value) -> (Vec<Sequence>, Vec<Sequence>) {
    let pairs = expected["reference_loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Sequence { ids: ids(&r["input_ids"]), score_from: r["prompt_len"].as_u64().unwrap() as usize })
        .collect();
    let texts = expected["text_loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Sequence { ids: ids(&r["input_ids"]), score_from: 1 })
        .collect();
    (pairs, texts)
}

/// Compares losses with the records; returns the largest differences or a description of
/// every violation.
fn compare(
    kind: &str,
    got: &[engine::Result<SampleLoss>],
    records: &[Value],
    mean_expected: Option<f64>,
) -> Result<(f64, f64), String> {
    let mut problems = String::new();
    let (mut max_sample, mut max_token) = (0.0f64, 0.0f64);
    let mut losses = Vec::new();
    for (i, (g, r)) in got.iter().zip(records).enumerate() {
        let g = match g {
            Ok(g) => g,
            Err(e) => {
                writeln!(problems, "{kind} {i}: error {e}").unwrap();
                continue;
            }
        };
        let want = loss_value(&r["loss"]);
        if want.is_nan() || g.loss.is_nan() {
            if want.is_nan() != g.loss.is_nan() {
                writeln!(problems, "{kind} {i}: loss {} but expected {want}", g.loss).unwrap();
            }
            continue;
        }
        losses.push(g.loss);
        let d = (g.loss - want).abs();
        max_sample = max_sample.max(d);
        if !within(d, PER_SAMPLE) {
            writeln!(problems, "{kind} {i}: loss {} expected {want} (diff {d:.2e})", g.loss).unwrap();
        }
        let nll = floats(&r["token_nll"]);
        let want_tokens = &nll[..];
        if want_tokens.len() != g.token_nll.len() {
            writeln!(problems, "{kind} {i}: {} scored tokens, expected {}", g.token_nll.len(), want_tokens.len())
                .unwrap();
            continue;
        }
        for (k, (a, b)) in g.token_nll.iter().zip(want_tokens).enumerate() {
            let d = (*a as f64 - b).abs();
            max_token = max_token.max(d);
            if !within(d, PER_TOKEN) {
                writeln!(problems, "{kind} {i} token {k}: nll {a} expected {b} (diff {d:.2e})").unwrap();
                break;
            }
        }
    }
    if let Some(want) = mean_expected {
        let mean = losses.iter().sum::<f64>() / losses.len() as f64;
        if !within((mean - want).abs(), MEAN) {
            writeln!(problems, "{kind} mean {mean} expected {want} (diff {:.2e})", (mean - want).abs()).unwrap();
        }
    }
    if problems.is_empty() {
        Ok((max_sample, max_token))
    } else {
        Err(problems)
    }
}

#[test]
fn every_fixture_matches_transformers_from_recorded_ids() {
    let mut report = String::new();
    let mut failed = Vec::new();
    for dir in model_dirs() {
        let expected = expected(&dir);
        let model = Model::load(&dir, &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", name(&dir)));
        let (pairs, texts) = recorded_sequences(&expected);
        let got_pairs = model.score(&pairs, &ScoreOptions::default()).unwrap();
        let got_texts = model.score(&texts, &ScoreOptions::default()).unwrap();
        let mean = expected["mean_loss"].as_f64();
        let p = compare("pair", &got_pairs, expected["reference_loss"].as_array().unwrap(), mean);
        let t = compare("text", &got_texts, expected["text_loss"].as_array().unwrap(), None);
        match (p, t) {
            (Ok((ps, pt)), Ok((ts, tt))) => writeln!(
                report,
                "{:18} ok   max |d| pair {ps:.1e} (token {pt:.1e}), text {ts:.1e} (token {tt:.1e})",
                name(&dir)
            )
            .unwrap(),
            (p, t) => {
                failed.push(name(&dir));
                writeln!(
                    report,
                    "{:18} FAIL\n{}{}",
                    name(&dir),
                    p.err().unwrap_or_default(),
                    t.err().unwrap_or_default()
                )
                .unwrap();
            }
        }
    }
    println!("{report}");
    assert!(failed.is_empty(), "mismatching fixtures: {failed:?}\n{report}");
}

#[test]
fn batched_scoring_equals_batch_size_one() {
    let mut worst = Vec::new();
    for dir in model_dirs() {
        let model = Model::load(&dir, &LoadOptions::default()).unwrap();
        let (mut seqs, texts) = recorded_sequences(&expected(&dir));
        seqs.extend(texts);
        let one = model.score(&seqs, &ScoreOptions { batch_size: 1 }).unwrap();
        let many = model.score(&seqs, &ScoreOptions { batch_size: 8 }).unwrap();
        let mut max = 0.0f64;
        for (i, (a, b)) in one.iter().zip(&many).enumerate() {
            let (a, b) = (a.as_ref().unwrap().loss, b.as_ref().unwrap().loss);
            assert_eq!(a.is_nan(), b.is_nan(), "{} sample {i}", name(&dir));
            if !a.is_nan() {
                max = max.max((a - b).abs());
                assert!((a - b).abs() <= 1e-5, "{} sample {i}: batch 1 {a}, batch 8 {b}", name(&dir));
            }
        }
        worst.push(format!("{} {max:.1e}", name(&dir)));
    }
    println!("max |batch 8 - batch 1|: {}", worst.join(", "));
}

/// A sequence long enough that attention runs in blocks of queries and the LM head in blocks
/// of positions: causality says its first positions score exactly as the prefix alone does,
/// whose blocks fall elsewhere. (9000 positions: ~930-row attention blocks with 4 heads, and
/// two LM-head blocks of at most 8192 rows for a 2048 vocabulary.)
#[test]
fn long_sequences_score_like_their_prefixes() {
    for model_name in ["llama", "gemma2"] {
        let model = Model::load(&fixtures_dir().join(model_name), &LoadOptions::default()).unwrap();
        let base = ids(&expected(&fixtures_dir().join(model_name))["text_loss"][1]["input_ids"]);
        let long: Vec<u32> = base.iter().cycle().take(9000).copied().collect();
        let seqs =
            [Sequence { ids: long.clone(), score_from: 1 }, Sequence { ids: long[..3001].to_vec(), score_from: 1 }];
        let r = model.score(&seqs, &ScoreOptions::default()).unwrap();
        let (whole, prefix) = (r[0].as_ref().unwrap(), r[1].as_ref().unwrap());
        assert_eq!(whole.token_nll.len(), 8999);
        let max =
            whole.token_nll[..3000].iter().zip(&prefix.token_nll).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(max < 1e-4, "{model_name}: max token difference {max}");
        assert!(whole.loss.is_finite());
    }
}
