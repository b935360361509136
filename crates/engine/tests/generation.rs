//! Greedy generation with the KV cache picks the same tokens as recomputing the whole
//! sequence without a cache at every step (same penalty, same argmax), on every fixture,
//! including sliding-window models whose window the generated positions cross.

mod common;

use common::*;
use engine::generate::{apply_repetition_penalty, argmax};
use engine::{GreedyConfig, LoadOptions, Model};

fn uncached_greedy(model: &Model, prompt: &[u32], cfg: &GreedyConfig) -> Vec<u32> {
    let decoder = model.decoder();
    let mut seq = prompt.to_vec();
    let mut out = Vec::new();
    for _ in 0..cfg.max_new_tokens {
        let ids = candle_core::Tensor::from_slice(&seq, (1, seq.len()), model.device()).unwrap();
        let hidden = decoder.hidden_states(&ids, &[seq.len()], None).unwrap();
        let last = hidden.narrow(1, seq.len() - 1, 1).unwrap().reshape((1, decoder.hidden_size)).unwrap();
        let mut logits = decoder.logits(&last).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        apply_repetition_penalty(&mut logits, &seq, cfg.repetition_penalty);
        let next = argmax(&logits).unwrap();
        out.push(next);
        seq.push(next);
        if cfg.eos_token_ids.contains(&next) {
            break;
        }
    }
    out
}

#[test]
fn cached_generation_equals_recomputing_every_step() {
    for dir in model_dirs() {
        let model = Model::load(&dir, &LoadOptions::default()).unwrap();
        let record = &expected(&dir)["reference_loss"][5];
        // A 40-token prompt: past the 32-token sliding windows of mistral and gemma2.
        let prompt: Vec<u32> = ids(&record["input_ids"])[..40].to_vec();
        let cfg =
            GreedyConfig { max_new_tokens: 12, min_new_tokens: 0, repetition_penalty: 1.1, eos_token_ids: vec![] };
        let cached = model.generate(&prompt, &cfg).unwrap();
        assert_eq!(cached.len(), 12);
        assert_eq!(cached, uncached_greedy(&model, &prompt, &cfg), "{}", name(&dir));
    }
}

#[test]
fn generation_stops_at_eos_but_not_before_min_new_tokens() {
    let model = Model::load(&fixtures_dir().join("llama-trained-300"), &LoadOptions::default()).unwrap();
    let prompt: Vec<u32> =
        ids(&expected(&fixtures_dir().join("llama-trained-300"))["reference_loss"][0]["input_ids"])[..20].to_vec();
    let free = GreedyConfig { max_new_tokens: 8, min_new_tokens: 0, repetition_penalty: 1.0, eos_token_ids: vec![] };
    let tokens = model.generate(&prompt, &free).unwrap();
    // Declare the third generated token an end-of-sequence token: generation stops there...
    let eos = tokens[2];
    let first = tokens.iter().position(|&t| t == eos).unwrap();
    let stop = GreedyConfig { eos_token_ids: vec![eos], ..free.clone() };
    assert_eq!(model.generate(&prompt, &stop).unwrap(), tokens[..=first].to_vec());
    // ...unless it is forbidden until enough tokens exist.
    let late = GreedyConfig { eos_token_ids: vec![eos], min_new_tokens: 8, ..free };
    let out = model.generate(&prompt, &late).unwrap();
    assert_eq!(out.len(), 8);
    assert!(!out.contains(&eos));
}

#[test]
fn multiple_choice_parses_the_greedy_continuation() {
    let dir = fixtures_dir().join("llama-trained-300");
    let model = Model::load(&dir, &LoadOptions::default()).unwrap();
    let question = "Which keyword starts a loop?\nA. for\nB. def\nC. class\nD. import\nAnswer:";
    let outcome = model.multiple_choice(question, "A", Some(256)).unwrap();
    let context = model.tokenizer().context(question, &Default::default()).unwrap();
    assert_eq!(outcome.prompt_tokens, context.len());
    let cfg = GreedyConfig {
        max_new_tokens: 20,
        min_new_tokens: 0,
        repetition_penalty: 1.1,
        eos_token_ids: vec![model.tokenizer().eos_id().unwrap()],
    };
    let tokens = model.generate(&context, &cfg).unwrap();
    assert_eq!(outcome.response, model.tokenizer().decode(&tokens, true).unwrap());
    assert_eq!(outcome.chosen.as_deref(), engine::methods::first_choice(&outcome.response));
    assert_eq!(outcome.correct, outcome.chosen.as_deref() == Some("A"));
}
