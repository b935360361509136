//! Text goes through every fixture's chat template and tokenizer exactly as `transformers`
//! did: the rendered prompt/full texts, the token ids, the prompt length (also where the
//! prompt is not a prefix), truncation, and the text-loss ids; and the losses computed from
//! text equal the recorded ones.

mod common;

use common::*;
use engine::{ChatTokenizer, LoadOptions, LossOptions, Model, ScoreOptions, TextSample, TokenizerOrigin};
use std::fmt::Write;

const MAX_LEN: usize = 256;

#[test]
fn every_fixture_tokenizes_pairs_and_texts_like_transformers() {
    let pairs = jsonl("pairs.jsonl");
    let texts = jsonl("texts.jsonl");
    let mut problems = String::new();
    let mut styles = std::collections::BTreeSet::new();
    for dir in model_dirs() {
        let expected = expected(&dir);
        let location = expected["chat_template"]["location"].as_str().unwrap().to_string();
        styles.insert(format!("{} ({location})", expected["chat_template"]["name"].as_str().unwrap()));
        let tok = ChatTokenizer::load(&dir, TokenizerOrigin::Model).unwrap();
        let n = name(&dir);
        assert_eq!(tok.bos_token(), expected["special_tokens"]["bos"].as_str(), "{n} bos");
        assert_eq!(tok.eos_token(), expected["special_tokens"]["eos"].as_str(), "{n} eos");
        for (pair, rec) in pairs.iter().zip(expected["reference_loss"].as_array().unwrap()) {
            let i = rec["pair"].as_u64().unwrap();
            let got = tok
                .prompt_response(pair["prompt"].as_str().unwrap(), pair["response"].as_str().unwrap(), Some(MAX_LEN))
                .unwrap_or_else(|e| panic!("{n} pair {i}: {e}"));
            if got.prompt_text != rec["prompt_text"].as_str().unwrap() {
                writeln!(
                    problems,
                    "{n} pair {i}: prompt text {:?}\n  expected {:?}",
                    got.prompt_text, rec["prompt_text"]
                )
                .unwrap();
            }
            if got.full_text != rec["full_text"].as_str().unwrap() {
                writeln!(problems, "{n} pair {i}: full text {:?}\n  expected {:?}", got.full_text, rec["full_text"])
                    .unwrap();
            }
            if got.sequence.ids != ids(&rec["input_ids"]) {
                writeln!(problems, "{n} pair {i}: ids differ").unwrap();
            }
            if got.sequence.score_from as u64 != rec["prompt_len"].as_u64().unwrap() {
                writeln!(
                    problems,
                    "{n} pair {i}: prompt_len {} expected {}",
                    got.sequence.score_from, rec["prompt_len"]
                )
                .unwrap();
            }
            if got.prompt_is_prefix != rec["prompt_is_prefix"].as_bool().unwrap() {
                writeln!(problems, "{n} pair {i}: prompt_is_prefix {}", got.prompt_is_prefix).unwrap();
            }
            if got.untruncated_len as u64 != rec["n_tokens_untruncated"].as_u64().unwrap() {
                writeln!(problems, "{n} pair {i}: untruncated length {}", got.untruncated_len).unwrap();
            }
        }
        for (text, rec) in texts.iter().zip(expected["text_loss"].as_array().unwrap()) {
            let got = tok.text(text["text"].as_str().unwrap(), Some(MAX_LEN)).unwrap();
            if got.ids != ids(&rec["input_ids"]) {
                writeln!(problems, "{n} text {}: ids differ", rec["text"]).unwrap();
            }
        }
    }
    assert!(problems.is_empty(), "{problems}");
    // Every template style of the fixtures went through the checks above.
    let want = [
        "chatml_bos (chat_template.jinja)",
        "chatml_bos (tokenizer_config.json)",
        "gemma (tokenizer_config.json)",
        "gpt2 (tokenizer_config.json)",
        "llama2 (tokenizer_config.json)",
        "llama3 (tokenizer_config.json)",
        "mistral (tokenizer_config.json)",
        "phi2 (tokenizer_config.json)",
        "phi3 (tokenizer_config.json)",
        "qwen2 (tokenizer_config.json)",
        "qwen3 (chat_template.jinja)",
        "trimblocks (tokenizer_config.json)",
    ];
    assert_eq!(styles.iter().map(String::as_str).collect::<Vec<_>>(), want);
}

#[test]
fn losses_from_text_equal_the_recorded_losses() {
    let pairs = jsonl("pairs.jsonl");
    let texts = jsonl("texts.jsonl");
    for dir in model_dirs() {
        let expected = expected(&dir);
        let model = Model::load(&dir, &LoadOptions::default()).unwrap();
        let mut samples: Vec<TextSample> = pairs
            .iter()
            .map(|p| TextSample::PromptResponse {
                prompt: p["prompt"].as_str().unwrap(),
                response: p["response"].as_str().unwrap(),
            })
            .collect();
        samples.extend(texts.iter().map(|t| TextSample::Text(t["text"].as_str().unwrap())));
        let opts = LossOptions { max_len: Some(MAX_LEN), score: ScoreOptions { batch_size: 4 }, ..Default::default() };
        let got = model.losses(&samples, &opts).unwrap();
        let records =
            expected["reference_loss"].as_array().unwrap().iter().chain(expected["text_loss"].as_array().unwrap());
        for (i, (g, rec)) in got.iter().zip(records).enumerate() {
            let (g, want) = (g.as_ref().unwrap().loss, loss_value(&rec["loss"]));
            assert_eq!(g.is_nan(), want.is_nan(), "{} sample {i}", name(&dir));
            if !want.is_nan() {
                assert!((g - want).abs() <= 2e-5, "{} sample {i}: {g} vs {want}", name(&dir));
            }
        }
    }
}

/// The stand-alone byte-level tokenizer (ChatML + BOS) is the one of `llama-trained-*`:
/// imposing it on such a model (a competition's fixed tokenizer) gives the same ids and losses.
#[test]
fn an_imposed_tokenizer_folder_replaces_the_models() {
    let dir = fixtures_dir().join("llama-trained-30");
    let expected = expected(&dir);
    let opts = LoadOptions { tokenizer_dir: Some(fixtures_dir().join("tokenizer-bytelevel")), ..Default::default() };
    let model = Model::load(&dir, &opts).unwrap();
    let pairs = jsonl("pairs.jsonl");
    let rec = &expected["reference_loss"][0];
    let got = model
        .tokenizer()
        .prompt_response(pairs[0]["prompt"].as_str().unwrap(), pairs[0]["response"].as_str().unwrap(), Some(MAX_LEN))
        .unwrap();
    assert_eq!(got.sequence.ids, ids(&rec["input_ids"]));
    let loss = model.score(&[got.sequence], &ScoreOptions::default()).unwrap().remove(0).unwrap().loss;
    assert!((loss - loss_value(&rec["loss"])).abs() <= 2e-5);

    // The SentencePiece-style tokenizer renders ChatML with BOS and byte fallback.
    let spm = ChatTokenizer::load(&fixtures_dir().join("tokenizer-spm"), TokenizerOrigin::Validator).unwrap();
    let text = spm.render(&[engine::Message::new("user", "é")], true).unwrap();
    assert_eq!(text, "<s><|im_start|>user\né<|im_end|>\n<|im_start|>assistant\n");
    let ids = spm.encode(&text, false).unwrap();
    assert_eq!(ids[0], 1, "<s>");
    assert_eq!(ids[1], 2046, "<|im_start|>");
    assert!(ids.contains(&(3 + 0xC3)) && ids.contains(&(3 + 0xA9)), "é by byte fallback: {ids:?}");
}
