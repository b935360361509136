//! `engine::gguf::import` on small GGUF files written here with candle's GGUF writer: the
//! tensors come back under HF names with q/k rows un-permuted from llama.cpp's order (the
//! permutation is written from llama.cpp's converter), the untied head is kept, the
//! `tokenizer.ggml.pre` name decides how digits split, and bad inputs fail with an error that
//! names the problem while leaving no output folder behind.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Tensor};
use engine::gguf::{import, ImportError};
use engine::{LoadOptions, Model, ScoreOptions};
use std::collections::BTreeMap;
use std::path::Path;

const HIDDEN: usize = 64;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 16;
const INTER: usize = 128;
const LAYERS: usize = 2;
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const MERGES: [&str; 4] = ["Ġ t", "h e", "Ġt he", "1 2"];
const MERGED: [&str; 4] = ["Ġt", "he", "Ġthe", "12"];

/// GPT-2's byte-to-symbol alphabet (printable bytes stand for themselves, the rest move to 256+).
fn byte_symbols() -> Vec<String> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut symbols: Vec<u32> = printable.clone();
    let mut extra = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            symbols.push(256 + extra);
            extra += 1;
        }
    }
    let mut by_byte: Vec<(u32, u32)> = printable.into_iter().zip(symbols).collect();
    by_byte.sort();
    by_byte.into_iter().map(|(_, s)| char::from_u32(s).unwrap().to_string()).collect()
}

fn vocabulary() -> Vec<String> {
    SPECIALS.iter().map(|s| s.to_string()).chain(byte_symbols()).chain(MERGED.iter().map(|s| s.to_string())).collect()
}

/// llama.cpp's `LlamaModel.permute` (HF -> GGUF row order).
fn llama_cpp_permute(w: &Tensor, heads: usize) -> Tensor {
    let (rows, cols) = w.dims2().unwrap();
    w.reshape((heads, 2, rows / heads / 2, cols))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((rows, cols))
        .unwrap()
}

/// Random HF Llama weights (untied head).
fn hf_weights() -> BTreeMap<String, Tensor> {
    let dev = Device::Cpu;
    let vocab = vocabulary().len();
    let mut w = BTreeMap::new();
    let mut add = |name: String, shape: &[usize]| {
        let t = if shape.len() == 1 {
            (Tensor::randn(0f32, 0.1, shape, &dev).unwrap() + 1.0).unwrap()
        } else {
            Tensor::randn(0f32, 0.1, shape, &dev).unwrap()
        };
        w.insert(name, t);
    };
    add("model.embed_tokens.weight".into(), &[vocab, HIDDEN]);
    add("lm_head.weight".into(), &[vocab, HIDDEN]);
    add("model.norm.weight".into(), &[HIDDEN]);
    for n in 0..LAYERS {
        let p = format!("model.layers.{n}.");
        add(format!("{p}input_layernorm.weight"), &[HIDDEN]);
        add(format!("{p}post_attention_layernorm.weight"), &[HIDDEN]);
        add(format!("{p}self_attn.q_proj.weight"), &[HEADS * HEAD_DIM, HIDDEN]);
        add(format!("{p}self_attn.k_proj.weight"), &[KV_HEADS * HEAD_DIM, HIDDEN]);
        add(format!("{p}self_attn.v_proj.weight"), &[KV_HEADS * HEAD_DIM, HIDDEN]);
        add(format!("{p}self_attn.o_proj.weight"), &[HIDDEN, HEADS * HEAD_DIM]);
        add(format!("{p}mlp.gate_proj.weight"), &[INTER, HIDDEN]);
        add(format!("{p}mlp.up_proj.weight"), &[INTER, HIDDEN]);
        add(format!("{p}mlp.down_proj.weight"), &[HIDDEN, INTER]);
    }
    w
}

/// The GGUF name of an HF weight, and whether llama.cpp permutes it (with how many heads).
fn gguf_name(hf: &str) -> (String, Option<usize>) {
    let fixed = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("lm_head.weight", "output.weight"),
        ("model.norm.weight", "output_norm.weight"),
    ];
    if let Some((_, g)) = fixed.iter().find(|(h, _)| *h == hf) {
        return (g.to_string(), None);
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (n, rest) = rest.split_once('.').unwrap();
    let (g, heads) = match rest {
        "input_layernorm.weight" => ("attn_norm", None),
        "post_attention_layernorm.weight" => ("ffn_norm", None),
        "self_attn.q_proj.weight" => ("attn_q", Some(HEADS)),
        "self_attn.k_proj.weight" => ("attn_k", Some(KV_HEADS)),
        "self_attn.v_proj.weight" => ("attn_v", None),
        "self_attn.o_proj.weight" => ("attn_output", None),
        "mlp.gate_proj.weight" => ("ffn_gate", None),
        "mlp.up_proj.weight" => ("ffn_up", None),
        "mlp.down_proj.weight" => ("ffn_down", None),
        other => panic!("unexpected {other}"),
    };
    (format!("blk.{n}.{g}.weight"), heads)
}

fn metadata(pre: &str) -> Vec<(String, Value)> {
    let strings = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    let vocab = vocabulary();
    let types: Vec<Value> = (0..vocab.len()).map(|i| Value::I32(if i < SPECIALS.len() { 3 } else { 1 })).collect();
    let template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}\
                    {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("general.name".into(), Value::String("tiny".into())),
        ("llama.block_count".into(), Value::U32(LAYERS as u32)),
        ("llama.context_length".into(), Value::U32(512)),
        ("llama.embedding_length".into(), Value::U32(HIDDEN as u32)),
        ("llama.feed_forward_length".into(), Value::U32(INTER as u32)),
        ("llama.attention.head_count".into(), Value::U32(HEADS as u32)),
        ("llama.attention.head_count_kv".into(), Value::U32(KV_HEADS as u32)),
        ("llama.rope.dimension_count".into(), Value::U32(HEAD_DIM as u32)),
        ("llama.rope.freq_base".into(), Value::F32(10000.0)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(1e-5)),
        ("llama.vocab_size".into(), Value::U32(vocab.len() as u32)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String(pre.into())),
        ("tokenizer.ggml.tokens".into(), strings(vocab)),
        ("tokenizer.ggml.merges".into(), strings(MERGES.iter().map(|s| s.to_string()).collect())),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.padding_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
        ("tokenizer.chat_template".into(), Value::String(template.into())),
    ]
}

/// Writes a GGUF from HF weights (permuting q/k as llama.cpp does), with `edit` applied to
/// the metadata and tensor list first.
fn write_gguf(
    path: &Path,
    weights: &BTreeMap<String, Tensor>,
    edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<(String, QTensor)>),
) {
    let mut meta = metadata("smollm");
    let mut tensors: Vec<(String, QTensor)> = weights
        .iter()
        .map(|(hf, t)| {
            let (name, heads) = gguf_name(hf);
            let t = heads.map_or_else(|| t.clone(), |h| llama_cpp_permute(t, h));
            (name, QTensor::quantize(&t, candle_core::quantized::GgmlDType::F32).unwrap())
        })
        .collect();
    edit(&mut meta, &mut tensors);
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &meta_refs, &tensor_refs).unwrap();
}

#[test]
fn tensors_come_back_in_hf_order_and_the_folder_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = hf_weights();
    let gguf = tmp.path().join("tiny.gguf");
    write_gguf(&gguf, &weights, |_, _| {});
    let out = tmp.path().join("out");
    let report = import(&gguf, &out).unwrap();
    assert!(!report.tied_embeddings);
    assert_eq!(report.tensor_types.get("F32"), Some(&weights.len()));
    assert_eq!(report.name.as_deref(), Some("tiny"));

    let written = candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(written.len(), weights.len());
    for (name, want) in &weights {
        let got = written.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(got.dtype(), DType::F32);
        assert_eq!(got.dims(), want.dims(), "{name}");
        let diff =
            (got - want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0, "{name} differs from the HF original");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["tie_word_embeddings"], false);
    assert_eq!(config["rms_norm_eps"], 1e-5, "float32 metadata is written as its shortest decimal");
    assert_eq!(config["rope_theta"], 10000.0);
    assert_eq!(config["num_key_value_heads"], KV_HEADS);

    let model = Model::load(&out, &LoadOptions::default()).unwrap();
    let tok = model.tokenizer();
    let pair = tok.prompt_response("the 12", "the", Some(64)).unwrap();
    assert!(pair.prompt_text.starts_with("<|im_start|>user\nthe 12<|im_end|>"), "{}", pair.prompt_text);
    // <|im_start|> is matched whole (id 1), " the" merges fully, and "12" is split into digits
    // (llama.cpp's `smollm` pre-tokenizer) although the merge "1 2" exists.
    let vocab = vocabulary();
    let id = |t: &str| vocab.iter().position(|v| v == t).unwrap() as u32;
    assert_eq!(tok.encode("<|im_start|> the 12", false).unwrap(), vec![1, id("Ġthe"), id("Ġ"), id("1"), id("2")]);
    let losses = model.score(&[pair.sequence], &ScoreOptions::default()).unwrap();
    assert!(losses[0].as_ref().unwrap().loss.is_finite());
}

#[test]
fn the_gpt2_pre_tokenizer_keeps_multi_digit_merges() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    write_gguf(&gguf, &hf_weights(), |meta, _| {
        meta.retain(|(k, _)| k != "tokenizer.ggml.pre");
        meta.push(("tokenizer.ggml.pre".into(), Value::String("gpt2".into())));
    });
    let out = tmp.path().join("out");
    import(&gguf, &out).unwrap();
    let tok = engine::ChatTokenizer::load(&out, engine::TokenizerOrigin::Model).unwrap();
    let twelve = vocabulary().iter().position(|v| v == "12").unwrap() as u32;
    assert_eq!(tok.encode("12", false).unwrap(), vec![twelve]);
}

fn import_err(edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<(String, QTensor)>)) -> (ImportError, bool) {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    write_gguf(&gguf, &hf_weights(), edit);
    let out = tmp.path().join("out");
    let err = import(&gguf, &out).expect_err("the import should fail");
    let leftovers = std::fs::read_dir(tmp.path()).unwrap().count() > 1;
    (err, out.exists() || leftovers)
}

#[test]
fn a_missing_tensor_is_named_and_nothing_is_written() {
    let (err, wrote) = import_err(|_, tensors| tensors.retain(|(n, _)| n != "blk.1.ffn_up.weight"));
    assert!(matches!(err, ImportError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("blk.1.ffn_up.weight"), "{err}");
    assert!(!wrote, "a failed import must leave nothing behind");
}

#[test]
fn a_wrong_shape_is_named() {
    let (err, _) = import_err(|_, tensors| {
        let t = Tensor::zeros((HIDDEN, HIDDEN), DType::F32, &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, candle_core::quantized::GgmlDType::F32).unwrap();
        tensors.iter_mut().find(|(n, _)| n == "blk.0.attn_k.weight").unwrap().1 = q;
    });
    assert!(err.to_string().contains("blk.0.attn_k.weight") && err.to_string().contains("shape"), "{err}");
}

#[test]
fn unsupported_architecture_tokenizer_and_tensors_are_refused_by_name() {
    let set = |key: &'static str, value: Value| {
        move |meta: &mut Vec<(String, Value)>, _: &mut Vec<(String, QTensor)>| {
            meta.retain(|(k, _)| k != key);
            meta.push((key.into(), value));
        }
    };
    let (err, wrote) = import_err(set("general.architecture", Value::String("gpt2".into())));
    assert!(matches!(err, ImportError::Unsupported { .. }) && err.to_string().contains("gpt2"), "{err}");
    assert!(!wrote);
    let (err, _) = import_err(set("tokenizer.ggml.model", Value::String("llama".into())));
    assert!(err.to_string().contains("tokenizer model `llama`"), "{err}");
    let (err, _) = import_err(set("tokenizer.ggml.pre", Value::String("qwen2".into())));
    assert!(err.to_string().contains("pre-tokenizer `qwen2`"), "{err}");
    let (err, _) = import_err(|_, tensors| {
        let t = Tensor::ones(HEAD_DIM / 2, DType::F32, &Device::Cpu).unwrap();
        tensors
            .push(("rope_freqs.weight".into(), QTensor::quantize(&t, candle_core::quantized::GgmlDType::F32).unwrap()));
    });
    assert!(err.to_string().contains("rope_freqs.weight"), "{err}");
}

#[test]
fn a_non_empty_output_folder_and_a_non_gguf_file_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    write_gguf(&gguf, &hf_weights(), |_, _| {});
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = import(&gguf, &out).unwrap_err();
    assert!(matches!(err, ImportError::Output { .. }) && err.to_string().contains("not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");

    // An empty folder is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    import(&gguf, &empty).unwrap();
    assert!(empty.join("tokenizer.json").is_file());

    let not_gguf = tmp.path().join("config.json");
    std::fs::write(&not_gguf, "{}").unwrap();
    let err = import(&not_gguf, &tmp.path().join("x")).unwrap_err();
    assert!(matches!(err, ImportError::Invalid { .. }), "{err}");
}
