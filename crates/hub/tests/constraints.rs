//! Constraints without loading weights: parameter counts against the numbers transformers
//! reported for the shared fixtures, the norm check on every architecture's module names (fused
//! matrices measured exactly like their unfused Llama equivalents), and hostile structures.

mod common;

use common::*;
use hub::architecture::ModelConfig;
use hub::constraints::{check_snapshot, ConstraintError};
use hub::norms::check_norms;
use hub::weights::{count_parameters, Weights, WeightsError};
use safetensors::tensor::{Dtype, TensorView};
use scoring::competition::NormValidation;
use std::collections::BTreeMap;
use std::path::Path;

/// `dir -> (architecture, params)` from the fixtures README, whose numbers transformers produced.
fn readme_table() -> BTreeMap<String, (String, u64)> {
    let text = std::fs::read_to_string(shared_dir().join("fixtures/README.md")).unwrap();
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let dir = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let params = cells.get(3)?.replace(',', "").parse().ok()?;
            Some((dir.to_string(), (cells[2].to_string(), params)))
        })
        .collect()
}

#[test]
fn parameter_counts_match_transformers_on_every_fixture() {
    let table = readme_table();
    assert!(table.len() >= 19, "{table:?}");
    let mut constraints = localnet_constraints();
    constraints.allowed_architectures = hub::architecture::ARCHITECTURES.iter().map(|a| a.class.to_string()).collect();
    constraints.max_model_parameter_size = u64::MAX;
    for (dir, (arch, params)) in &table {
        let folder = fixture(dir);
        let report = check_snapshot(&folder, Some(&folder), 0, &constraints).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(&report.architecture, arch, "{dir}");
        assert_eq!(report.parameters, *params, "{dir}");
        assert!(report.ignored_tensors.is_empty(), "{dir}: {:?}", report.ignored_tensors);
        // The norm check found all six projections in every layer of every architecture.
        let norms = report.norms.unwrap();
        let cfg = ModelConfig::parse(&std::fs::read(folder.join("config.json")).unwrap()).unwrap();
        assert_eq!(norms.norms.len(), 6 * cfg.num_layers, "{dir}");
        assert!(norms.passed && norms.norms.iter().all(|n| n.2 > 0.0), "{dir}: {norms:?}");
    }
}

struct T {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
}

fn t(name: &str, shape: &[usize], data: Vec<f32>) -> T {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "{name}");
    T { name: name.to_string(), shape: shape.to_vec(), data }
}

fn write(dir: &Path, config: serde_json::Value, tensors: &[T]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.data.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| (t.name.clone(), TensorView::new(Dtype::F32, t.shape.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
}

/// A matrix whose rows have clearly different scales, so a wrong row split changes the norms.
fn matrix(rows: usize, cols: usize, seed: usize) -> Vec<f32> {
    (0..rows * cols).map(|i| ((i / cols + seed) % 7 + 1) as f32 * 0.3 + (i % cols) as f32 * 0.01).collect()
}

fn rows(m: &[f32], cols: usize, range: std::ops::Range<usize>) -> Vec<f32> {
    m[range.start * cols..range.end * cols].to_vec()
}

struct Parts {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    o: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
}

const H: usize = 16;
const HD: usize = 4;
const I: usize = 24;
const VOCAB: usize = 32;

fn parts(layer: usize, heads: usize, kv: usize) -> Parts {
    Parts {
        q: matrix(heads * HD, H, layer),
        k: matrix(kv * HD, H, layer + 1),
        v: matrix(kv * HD, H, layer + 2),
        o: matrix(H, heads * HD, layer + 3),
        gate: matrix(I, H, layer + 4),
        up: matrix(I, H, layer + 5),
        down: matrix(H, I, layer + 6),
    }
}

fn norms_of(dir: &Path) -> Vec<(usize, &'static str, f64)> {
    let cfg = ModelConfig::parse(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let weights = Weights::open(dir, &["model.safetensors".to_string()]).unwrap();
    count_parameters(&weights, &cfg).unwrap();
    check_norms(&weights, &cfg, &NormValidation::UPSTREAM).unwrap().norms
}

fn llama_reference(dir: &Path, heads: usize, kv: usize) {
    let mut tensors = vec![t("model.embed_tokens.weight", &[VOCAB, H], matrix(VOCAB, H, 9))];
    for l in 0..2 {
        let p = parts(l, heads, kv);
        let n = |s: &str| format!("model.layers.{l}.{s}");
        tensors.extend([
            t(&n("self_attn.q_proj.weight"), &[heads * HD, H], p.q),
            t(&n("self_attn.k_proj.weight"), &[kv * HD, H], p.k),
            t(&n("self_attn.v_proj.weight"), &[kv * HD, H], p.v),
            t(&n("self_attn.o_proj.weight"), &[H, heads * HD], p.o),
            t(&n("mlp.gate_proj.weight"), &[I, H], p.gate),
            t(&n("mlp.up_proj.weight"), &[I, H], p.up),
            t(&n("mlp.down_proj.weight"), &[H, I], p.down),
        ]);
    }
    let config = serde_json::json!({"model_type": "llama", "hidden_size": H, "num_hidden_layers": 2,
        "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": HD, "vocab_size": VOCAB, "tie_word_embeddings": true});
    write(dir, config, &tensors);
}

#[test]
fn fused_matrices_are_measured_like_their_llama_equivalents() {
    let tmp = tempfile::tempdir().unwrap();
    // Phi-3: [q; k; v] and [gate; up].
    let (heads, kv) = (4, 2);
    llama_reference(&tmp.path().join("llama-gqa"), heads, kv);
    let mut tensors = vec![t("model.embed_tokens.weight", &[VOCAB, H], matrix(VOCAB, H, 9))];
    for l in 0..2 {
        let p = parts(l, heads, kv);
        let n = |s: &str| format!("model.layers.{l}.{s}");
        tensors.extend([
            t(&n("self_attn.qkv_proj.weight"), &[(heads + 2 * kv) * HD, H], [p.q, p.k, p.v].concat()),
            t(&n("self_attn.o_proj.weight"), &[H, heads * HD], p.o),
            t(&n("mlp.gate_up_proj.weight"), &[2 * I, H], [p.gate, p.up].concat()),
            t(&n("mlp.down_proj.weight"), &[H, I], p.down),
        ]);
    }
    let config = serde_json::json!({"model_type": "phi3", "hidden_size": H, "num_hidden_layers": 2,
        "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": VOCAB, "tie_word_embeddings": true});
    write(&tmp.path().join("phi3"), config, &tensors);
    assert_eq!(norms_of(&tmp.path().join("phi3")), norms_of(&tmp.path().join("llama-gqa")));

    // Falcon new_decoder_architecture: per key-value group [q of its heads; k; v].
    let mut tensors = vec![t("transformer.word_embeddings.weight", &[VOCAB, H], matrix(VOCAB, H, 9))];
    for l in 0..2 {
        let p = parts(l, heads, kv);
        let per = heads / kv;
        let qkv: Vec<f32> = (0..kv)
            .flat_map(|g| {
                [
                    rows(&p.q, H, g * per * HD..(g + 1) * per * HD),
                    rows(&p.k, H, g * HD..(g + 1) * HD),
                    rows(&p.v, H, g * HD..(g + 1) * HD),
                ]
                .concat()
            })
            .collect();
        let n = |s: &str| format!("transformer.h.{l}.{s}");
        tensors.extend([
            t(&n("self_attention.query_key_value.weight"), &[(heads + 2 * kv) * HD, H], qkv),
            t(&n("self_attention.dense.weight"), &[H, heads * HD], p.o),
            t(&n("mlp.dense_h_to_4h.weight"), &[I, H], p.up),
            t(&n("mlp.dense_4h_to_h.weight"), &[H, I], p.down),
        ]);
    }
    let config = serde_json::json!({"model_type": "falcon", "new_decoder_architecture": true, "hidden_size": H,
        "num_hidden_layers": 2, "num_attention_heads": heads, "num_kv_heads": kv, "vocab_size": VOCAB});
    write(&tmp.path().join("falcon-new"), config, &tensors);
    assert_eq!(norms_of(&tmp.path().join("falcon-new")), norms_of(&tmp.path().join("llama-gqa")));

    // Falcon-7B multi-query: [q; k; v] with one key-value head.
    llama_reference(&tmp.path().join("llama-mqa"), heads, 1);
    let mut tensors = vec![t("transformer.word_embeddings.weight", &[VOCAB, H], matrix(VOCAB, H, 9))];
    for l in 0..2 {
        let p = parts(l, heads, 1);
        let n = |s: &str| format!("transformer.h.{l}.{s}");
        tensors.extend([
            t(&n("self_attention.query_key_value.weight"), &[(heads + 2) * HD, H], [p.q, p.k, p.v].concat()),
            t(&n("self_attention.dense.weight"), &[H, heads * HD], p.o),
            t(&n("mlp.dense_h_to_4h.weight"), &[I, H], p.up),
            t(&n("mlp.dense_4h_to_h.weight"), &[H, I], p.down),
        ]);
    }
    let config = serde_json::json!({"model_type": "falcon", "hidden_size": H, "num_hidden_layers": 2,
        "num_attention_heads": heads, "vocab_size": VOCAB});
    write(&tmp.path().join("falcon-mq"), config, &tensors);
    assert_eq!(norms_of(&tmp.path().join("falcon-mq")), norms_of(&tmp.path().join("llama-mqa")));

    // GPT-NeoX: per head [q_h; k_h; v_h], plus buffers that are not parameters.
    llama_reference(&tmp.path().join("llama-mha"), heads, heads);
    let mut tensors = vec![
        t("gpt_neox.embed_in.weight", &[VOCAB, H], matrix(VOCAB, H, 9)),
        t("embed_out.weight", &[VOCAB, H], matrix(VOCAB, H, 10)),
    ];
    for l in 0..2 {
        let p = parts(l, heads, heads);
        let qkv: Vec<f32> = (0..heads)
            .flat_map(|h| {
                let r = h * HD..(h + 1) * HD;
                [rows(&p.q, H, r.clone()), rows(&p.k, H, r.clone()), rows(&p.v, H, r)].concat()
            })
            .collect();
        let n = |s: &str| format!("gpt_neox.layers.{l}.{s}");
        tensors.extend([
            t(&n("attention.query_key_value.weight"), &[3 * heads * HD, H], qkv),
            t(&n("attention.dense.weight"), &[H, heads * HD], p.o),
            t(&n("mlp.dense_h_to_4h.weight"), &[I, H], p.up),
            t(&n("mlp.dense_4h_to_h.weight"), &[H, I], p.down),
            t(&n("attention.bias"), &[1, 1, 8, 8], vec![1.0; 64]),
            t(&n("attention.masked_bias"), &[1], vec![-1e9]),
            t(&n("attention.rotary_emb.inv_freq"), &[2], vec![1.0, 0.5]),
        ]);
    }
    let config = serde_json::json!({"model_type": "gpt_neox", "hidden_size": H, "num_hidden_layers": 2,
        "num_attention_heads": heads, "vocab_size": VOCAB});
    let neox = tmp.path().join("neox");
    write(&neox, config, &tensors);
    assert_eq!(norms_of(&neox), norms_of(&tmp.path().join("llama-mha")));
    let cfg = ModelConfig::parse(&std::fs::read(neox.join("config.json")).unwrap()).unwrap();
    let count = count_parameters(&Weights::open(&neox, &["model.safetensors".into()]).unwrap(), &cfg).unwrap();
    let expected = 2 * VOCAB * H + 2 * (3 * heads * HD * H + H * heads * HD + I * H + H * I);
    assert_eq!(count.parameters, expected as u64, "buffers are not parameters");
    assert_eq!(count.ignored.len(), 6);
}

#[test]
fn tied_heads_extras_and_missing_tensors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tied");
    llama_model(&dir, 2, true, small);
    let cfg = ModelConfig::parse(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let base = count_parameters(&Weights::open(&dir, &["model.safetensors".into()]).unwrap(), &cfg).unwrap().parameters;

    // A tied model whose file also carries lm_head, an unknown tensor, a layer beyond the config
    // and a rotary buffer: still the same count, as transformers would report.
    let weights = Weights::open(&dir, &["model.safetensors".into()]).unwrap();
    let mut tensors: Vec<T> = weights
        .tensors
        .iter()
        .map(|(name, e)| {
            let data = weights.data(e).chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            t(name, &e.shape, data)
        })
        .collect();
    tensors.push(t("lm_head.weight", &[32, 16], vec![0.5; 512]));
    tensors.push(t("model.layers.0.junk.weight", &[100], vec![0.0; 100]));
    tensors.push(t("model.layers.7.self_attn.q_proj.weight", &[16, 16], vec![0.0; 256]));
    tensors.push(t("model.layers.0.self_attn.rotary_emb.inv_freq", &[2], vec![1.0, 0.5]));
    tensors.push(t("model.layers.01.mlp.up_proj.weight", &[24, 16], vec![0.0; 384]));
    drop(weights);
    let padded = tmp.path().join("padded");
    write(&padded, serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap(), &tensors);
    let count = count_parameters(&Weights::open(&padded, &["model.safetensors".into()]).unwrap(), &cfg).unwrap();
    assert_eq!(count.parameters, base);
    assert!(count.tied_head);
    assert_eq!(count.ignored.len(), 4, "{:?}", count.ignored);

    // Untied: the head counts; without it the model is refused.
    let untied = tmp.path().join("untied");
    llama_model(&untied, 2, false, small);
    let ucfg = ModelConfig::parse(&std::fs::read(untied.join("config.json")).unwrap()).unwrap();
    let u = count_parameters(&Weights::open(&untied, &["model.safetensors".into()]).unwrap(), &ucfg).unwrap();
    assert_eq!(u.parameters, base + 32 * 16);
    let e = count_parameters(&Weights::open(&dir, &["model.safetensors".into()]).unwrap(), &ucfg).unwrap_err();
    assert_eq!(e, WeightsError::Missing("lm_head.weight".into()));

    // A config that disagrees with the weights, and a layer short of a projection.
    let mut wide = cfg.clone();
    wide.hidden_size = 32;
    let e = count_parameters(&Weights::open(&dir, &["model.safetensors".into()]).unwrap(), &wide).unwrap_err();
    assert!(matches!(e, WeightsError::Shape { .. }), "{e}");
    let mut deep = cfg.clone();
    deep.num_layers = 3;
    let e = count_parameters(&Weights::open(&dir, &["model.safetensors".into()]).unwrap(), &deep).unwrap_err();
    assert_eq!(e, WeightsError::Missing("model.layers.2.self_attn.q_proj.weight".into()));
}

#[test]
fn soft_norm_share_decides_like_upstream() {
    // 2 layers: both layers' q_proj above the soft limit (200) but under the hard one: share
    // 2/2 for q, 0 elsewhere: mean 1/6 = 0.167 > 0.15, fails; one layer only: 1/12 passes.
    let tmp = tempfile::tempdir().unwrap();
    let both = tmp.path().join("both");
    llama_model(&both, 2, true, |name, i| if name.contains("q_proj") { 15.0 } else { small(name, i) });
    let one = tmp.path().join("one");
    llama_model(
        &one,
        2,
        true,
        |name, i| if name == "model.layers.1.self_attn.q_proj.weight" { 15.0 } else { small(name, i) },
    );
    let c = localnet_constraints();
    let e = check_snapshot(&both, Some(&both), 0, &c).unwrap_err();
    let ConstraintError::Norms(report) = e else { panic!("{e}") };
    assert!((report.mean_soft_exceed - 1.0 / 6.0).abs() < 1e-12);
    assert!(report.hard_violation.is_none());
    // ‖15 · 1_{16×16}‖ = 240, exactly representable in bf16.
    assert_eq!(report.max_norm, 240.0);
    let ok = check_snapshot(&one, Some(&one), 0, &c).unwrap();
    assert!((ok.norms.unwrap().mean_soft_exceed - 1.0 / 12.0).abs() < 1e-12);
}

#[test]
fn sequence_length_is_reported_not_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    llama_model(tmp.path(), 1, true, small);
    let mut c = localnet_constraints();
    c.sequence_length = 4096;
    let r = check_snapshot(tmp.path(), Some(tmp.path()), 0, &c).unwrap();
    assert_eq!(r.max_position_embeddings, Some(1024));
    assert!(r.window_shorter_than_sequence_length);
    c.sequence_length = 512;
    assert!(!check_snapshot(tmp.path(), Some(tmp.path()), 0, &c).unwrap().window_shorter_than_sequence_length);
}
