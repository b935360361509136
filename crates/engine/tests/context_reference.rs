//! The 2025 context/reference rule (upstream-2025 §1.2, §2.1, §2.6): the context is the
//! templated prompt (optionally after a system message), left-truncated; the reference is
//! `tok.encode(reference)` with special tokens, so BOS tokenizers score a BOS first.

mod common;

use common::*;
use engine::{ChatTokenizer, ContextOptions, TokenizerOrigin};

/// The SentencePiece-style fixture tokenizer, given the Llama-2 post-processor that adds
/// `<s>` when special tokens are requested (as real Llama-2/Mistral tokenizer.json files do).
fn bos_adding_spm() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures_dir().join("tokenizer-spm");
    for f in ["tokenizer_config.json", "special_tokens_map.json"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("tokenizer.json")).unwrap()).unwrap();
    tok["post_processor"] = serde_json::json!({
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
    });
    std::fs::write(tmp.path().join("tokenizer.json"), tok.to_string()).unwrap();
    tmp
}

#[test]
fn reference_is_encoded_with_special_tokens_and_scored_at_the_end() {
    let dir = bos_adding_spm();
    let tok = ChatTokenizer::load(dir.path(), TokenizerOrigin::Validator).unwrap();
    let reference = "apple banana cherry";
    let plain = ContextOptions::default();
    let seq = tok.context_reference("Sort: cherry apple banana", reference, &plain).unwrap();
    let rendered = tok.render(&[engine::Message::new("user", "Sort: cherry apple banana")], true).unwrap();
    let context = tok.encode(&rendered, false).unwrap();
    let reference_ids = tok.encode(reference, true).unwrap();
    assert_eq!(reference_ids[0], 1, "BOS re-added to the reference");
    assert_eq!(seq.ids, [context.clone(), reference_ids.clone()].concat());
    assert_eq!(seq.ids.len() - seq.score_from, reference_ids.len());

    // SYNTHETIC_1_SFT: the rendered context (which starts with <s>) is encoded with special
    // tokens too, so it starts with two BOS.
    let sft = ContextOptions { system: Some("Think first.".into()), add_special_tokens: true, max_context: None };
    let seq = tok.context_reference("q", reference, &sft).unwrap();
    assert_eq!(&seq.ids[..2], &[1, 1]);
    let with_system =
        tok.render(&[engine::Message::new("system", "Think first."), engine::Message::new("user", "q")], true).unwrap();
    assert_eq!(&seq.ids[..seq.score_from], &tok.encode(&with_system, true).unwrap()[..]);
}

#[test]
fn context_is_left_truncated() {
    let tok = ChatTokenizer::load(&fixtures_dir().join("tokenizer-bytelevel"), TokenizerOrigin::Validator).unwrap();
    let prompt = "word ".repeat(100);
    let full = tok.context(&prompt, &ContextOptions::default()).unwrap();
    let cut = tok.context(&prompt, &ContextOptions { max_context: Some(16), ..Default::default() }).unwrap();
    assert_eq!(cut, full[full.len() - 16..].to_vec(), "the tail (and the generation prompt) is kept");
    let seq = tok
        .context_reference(&prompt, "done", &ContextOptions { max_context: Some(16), ..Default::default() })
        .unwrap();
    assert_eq!(seq.score_from, 16);
    assert_eq!(seq.ids[16..].to_vec(), tok.encode("done", true).unwrap());
}
