//! Word sorting and Dyck samples against the samples upstream's algorithm prints
//! (`tests/fixtures/upstream_generators.py` → `upstream_generators.json`).

use datasets::generated::dyck::Dyck;
use datasets::generated::word_list::WordList;
use datasets::generated::word_sorting::WordSorting;
use datasets::sample::{PairRule, Sample};
use datasets::Seed;
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/upstream_generators.json")).unwrap()
}

fn pairs(samples: &[Sample]) -> Vec<(String, String)> {
    samples
        .iter()
        .map(|s| {
            let p = s.as_prompt_response().expect("generators make prompt/response samples");
            assert_eq!(p.rule, PairRule::ContextReference);
            assert_eq!(p.system, None);
            (p.prompt.clone(), p.response.clone())
        })
        .collect()
}

fn expected(case: &Value) -> Vec<(String, String)> {
    case["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["prompt"].as_str().unwrap().to_string(), s["response"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn word_sorting_matches_upstream_samples() {
    let f = fixture();
    let list = WordList::parse(include_str!("fixtures/wordlist_synthetic.txt"), "synthetic");
    let mut n = 0;
    for case in f["cases"].as_array().unwrap().iter().filter(|c| c["task"] == "word_sorting") {
        let seed = Seed::from_block_hash(case["block_hash"].as_str().unwrap()).unwrap();
        let gen = WordSorting::from_kwargs(case["kwargs"].as_object().unwrap()).unwrap();
        let got = pairs(&gen.generate(&seed, &list).unwrap());
        assert_eq!(got, expected(case), "case {}", case["kwargs"]);
        n += 1;
    }
    assert_eq!(n, 9);
}

#[test]
fn dyck_matches_upstream_samples() {
    let f = fixture();
    let mut n = 0;
    for case in f["cases"].as_array().unwrap().iter().filter(|c| c["task"] == "dyck_language") {
        let seed = Seed::from_block_hash(case["block_hash"].as_str().unwrap()).unwrap();
        let gen = Dyck::from_kwargs(case["kwargs"].as_object().unwrap()).unwrap();
        let got = pairs(&gen.generate(&seed).unwrap());
        assert_eq!(got, expected(case), "case {}", case["kwargs"]);
        n += 1;
    }
    assert_eq!(n, 9);
}

#[test]
fn the_first_n_samples_do_not_depend_on_the_sample_count() {
    // `dataset sample --count N` prints a prefix of what a validator scores.
    let seed = Seed::from_block_hash(&format!("0x{}", "ab".repeat(32))).unwrap();
    let all = Dyck { samples: 50, ..Dyck::default() }.generate(&seed).unwrap();
    let few = Dyck { samples: 7, ..Dyck::default() }.generate(&seed).unwrap();
    assert_eq!(&all[..7], &few[..]);
}

#[test]
fn generated_samples_have_stable_content_ids() {
    let seed = Seed::from_block_hash(&format!("0x{}", "cd".repeat(32))).unwrap();
    let a = Dyck::default().generate(&seed).unwrap();
    let b = Dyck::default().generate(&seed).unwrap();
    assert_eq!(a[3].id, b[3].id);
    assert!(a[3].id.starts_with("sha256:") && a[3].id.len() == 7 + 16);
}

#[test]
fn bad_kwargs_are_refused_like_upstream() {
    let kw = |v: Value| v.as_object().unwrap().clone();
    assert!(Dyck::from_kwargs(&kw(serde_json::json!({"min_length_answer": 4, "max_length_answer": 3}))).is_err());
    assert!(Dyck::from_kwargs(&kw(serde_json::json!({"max_length_answer": 21}))).is_err());
    assert!(Dyck::from_kwargs(&kw(serde_json::json!({"sampels": 3}))).is_err(), "typos are errors");
    assert!(WordSorting::from_kwargs(&kw(serde_json::json!({"min_word_count": 5, "max_word_count": 4}))).is_err());
    // More words than the vocabulary has: Python's sample() raises, so do we.
    let list = WordList::from_words(vec!["abc".into(), "def".into()], "tiny");
    let seed = Seed::from_block_hash(&format!("0x{}", "00".repeat(32))).unwrap();
    let ws =
        WordSorting { samples: 1, min_word_count: 3, max_word_count: 3, min_word_length: 3, ..WordSorting::default() };
    assert!(ws.generate(&seed, &list).is_err());
}
