//! Broken submissions are the miner's fault (scored inf), refused folders are refused with a
//! clear reason, and nothing here is reported as the validator's fault.

mod common;

use common::*;
use engine::{EngineError, Fault, LoadOptions, Model, SampleLoss, ScoreOptions, Sequence};
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;
use std::path::Path;

/// Rewrites `model.safetensors` of `dir` after `edit` changed the (name -> (shape, f32 data)) map.
fn rewrite_weights(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>)) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32);
            let data = view.data().chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            (name, view.shape().to_vec(), data)
        })
        .collect();
    edit(&mut tensors);
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.into_iter().map(|(n, s, d)| (n, s, d.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let views: Vec<(String, TensorView)> = raw
        .iter()
        .map(|(n, s, d)| (n.clone(), TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &path).unwrap();
}

fn load_err(dir: &Path) -> EngineError {
    match Model::load(dir, &LoadOptions::default()) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e,
    }
}

fn sample() -> Sequence {
    Sequence { ids: vec![2034, 530, 279, 1236, 768, 300, 301], score_from: 3 }
}

#[test]
fn an_untouched_copy_scores_finite() {
    let dir = copy_fixture("llama");
    let model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let r = model.score(&[sample()], &ScoreOptions::default()).unwrap();
    assert!(SampleLoss::loss_or_inf(&r[0]).unwrap().is_finite());
}

#[test]
fn a_nan_weight_is_the_miners_fault_and_scores_inf() {
    let dir = copy_fixture("llama");
    rewrite_weights(dir.path(), |t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "model.layers.1.mlp.down_proj.weight").unwrap();
        w.2[5] = f32::NAN;
    });
    let model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let r = model.score(&[sample()], &ScoreOptions::default()).unwrap();
    let err = r[0].as_ref().unwrap_err();
    assert!(matches!(err, EngineError::NonFinite { .. }), "{err}");
    assert!(err.is_miner_fault() && !err.is_retryable());
    assert_eq!(SampleLoss::loss_or_inf(&r[0]).unwrap(), f64::INFINITY);
}

#[test]
fn an_infinite_weight_is_the_miners_fault() {
    let dir = copy_fixture("gemma2");
    rewrite_weights(dir.path(), |t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "model.norm.weight").unwrap();
        w.2[0] = f32::INFINITY;
    });
    let model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let r = model.score(&[sample()], &ScoreOptions::default()).unwrap();
    assert_eq!(r[0].as_ref().unwrap_err().fault(), Fault::Miner);
}

#[test]
fn a_missing_tensor_is_the_miners_fault() {
    let dir = copy_fixture("llama");
    rewrite_weights(dir.path(), |t| t.retain(|(n, _, _)| n != "model.layers.2.mlp.up_proj.weight"));
    let err = load_err(dir.path());
    assert!(matches!(err, EngineError::Weights(_)), "{err}");
    assert!(err.to_string().contains("model.layers.2.mlp.up_proj.weight"), "{err}");
    assert!(err.is_miner_fault());
}

#[test]
fn a_wrongly_shaped_tensor_is_the_miners_fault() {
    let dir = copy_fixture("qwen2");
    // Sharded: rewrite the index to point at one rebuilt file.
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("model.safetensors.index.json")).unwrap())
            .unwrap();
    let shard = index["weight_map"]["model.layers.0.self_attn.k_proj.bias"].as_str().unwrap().to_string();
    std::fs::rename(dir.path().join(&shard), dir.path().join("model.safetensors")).unwrap();
    rewrite_weights(dir.path(), |t| {
        let b = t.iter_mut().find(|(n, _, _)| n == "model.layers.0.self_attn.k_proj.bias").unwrap();
        b.1 = vec![16];
        b.2.truncate(16);
    });
    std::fs::rename(dir.path().join("model.safetensors"), dir.path().join(&shard)).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EngineError::Weights(_)), "{err}");
    assert!(err.is_miner_fault());
}

#[test]
fn a_missing_shard_is_the_miners_fault() {
    let dir = copy_fixture("qwen2");
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let err = load_err(dir.path());
    assert!(err.is_miner_fault() && err.to_string().contains("model-00002-of-00002"), "{err}");
}

#[test]
fn bad_configs_are_the_miners_fault() {
    let dir = copy_fixture("llama");
    let path = dir.path().join("config.json");
    let original = std::fs::read_to_string(&path).unwrap();

    std::fs::write(&path, original.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 3")).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EngineError::Config { .. }) && err.is_miner_fault(), "{err}");

    std::fs::write(&path, "{ not json").unwrap();
    assert!(matches!(load_err(dir.path()), EngineError::Config { .. }));

    std::fs::write(&path, original.replace("LlamaForCausalLM", "MixtralForCausalLM")).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EngineError::UnsupportedArchitecture(_)) && err.is_miner_fault(), "{err}");
    assert!(err.to_string().contains("MixtralForCausalLM"), "{err}");

    std::fs::write(
        &path,
        original.replace("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0}"),
    )
    .unwrap();
    assert!(load_err(dir.path()).is_miner_fault());
}

#[test]
fn pickle_only_weights_are_refused() {
    let dir = copy_fixture("llama");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("pytorch_model.bin"), b"\x80\x02pickle").unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EngineError::Refused { .. }) && err.is_miner_fault(), "{err}");
    assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
}

#[test]
fn pickles_next_to_safetensors_are_ignored() {
    let dir = copy_fixture("llama");
    std::fs::write(dir.path().join("pytorch_model.bin"), b"never opened").unwrap();
    Model::load(dir.path(), &LoadOptions::default()).unwrap();
}

#[test]
fn remote_code_is_refused() {
    let dir = copy_fixture("llama");
    std::fs::write(dir.path().join("modeling_custom.py"), "import os").unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EngineError::Refused { .. }) && err.to_string().contains("modeling_custom.py"), "{err}");

    let dir = copy_fixture("llama");
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["auto_map"] = serde_json::json!({"AutoModelForCausalLM": "modeling_custom.LlamaX"});
    std::fs::write(&path, config.to_string()).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EngineError::Refused { .. }) && err.to_string().contains("auto_map"), "{err}");
}

#[test]
fn tokenizer_problems_blame_whoever_supplied_the_tokenizer() {
    let dir = copy_fixture("llama");
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EngineError::Tokenizer(_)) && err.is_miner_fault(), "{err}");

    // The validator's own tokenizer folder being broken is not the miner's fault.
    let good = copy_fixture("llama");
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("tokenizer.json"), "{}").unwrap();
    let opts = LoadOptions { tokenizer_dir: Some(broken.path().to_path_buf()), ..Default::default() };
    let err = Model::load(good.path(), &opts).err().unwrap();
    assert_eq!(err.fault(), Fault::Validator, "{err}");
}

#[test]
fn a_raising_template_is_the_miners_fault() {
    // The Llama-2 template raises on a conversation that does not alternate roles; a template
    // that always raises makes every sample fail.
    let dir = copy_fixture("llama");
    let path = dir.path().join("tokenizer_config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["chat_template"] = "{{ raise_exception('no chat here') }}".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let err = model.tokenizer().prompt_response("hi", "there", Some(256)).unwrap_err();
    assert!(matches!(err, EngineError::Template(_)) && err.to_string().contains("no chat here"), "{err}");
    assert!(err.is_miner_fault());
}

#[test]
fn ids_outside_the_vocabulary_are_the_miners_fault() {
    let model = Model::load(&fixtures_dir().join("llama"), &LoadOptions::default()).unwrap();
    let r = model.score(&[Sequence { ids: vec![1, 2, 5000], score_from: 1 }], &ScoreOptions::default()).unwrap();
    assert!(r[0].as_ref().unwrap_err().is_miner_fault());
}

#[test]
fn a_fully_truncated_response_is_nan_not_a_fault() {
    let model = Model::load(&fixtures_dir().join("llama"), &LoadOptions::default()).unwrap();
    let r = model.score(&[Sequence { ids: vec![1, 2, 3], score_from: 3 }], &ScoreOptions::default()).unwrap();
    assert!(r[0].as_ref().unwrap().loss.is_nan());
}
