//! A model folder as Hugging Face saves it: what is in it, what we refuse, and where the
//! weights are.
//!
//! Read: `config.json`, `generation_config.json` (optional), `model.safetensors` or
//! `model.safetensors.index.json` with its shards. Refused, with a clear error: weights that
//! exist only as pickles (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`: loading them runs arbitrary code)
//! and remote code (`auto_map` in a config, or any `*.py` file). Pickles next to safetensors
//! are ignored, never opened.

use crate::error::{EngineError, Result};
use crate::models::Architecture;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PICKLE_EXTENSIONS: [&str; 4] = ["bin", "pt", "pth", "ckpt"];

/// The checked contents of a model folder.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub dir: PathBuf,
    pub config: Value,
    pub architecture: Architecture,
    /// The safetensors files holding the weights (one, or the shards of the index).
    pub weight_files: Vec<PathBuf>,
    pub generation_config: Option<Value>,
}

impl Snapshot {
    pub fn open(dir: &Path) -> Result<Snapshot> {
        if !dir.is_dir() {
            return Err(EngineError::Invalid(format!("{} is not a directory", dir.display())));
        }
        let files = list_files(dir)?;
        if let Some(py) = files.iter().find(|f| has_extension(f, &["py"])) {
            return Err(refused(dir, format!("it contains Python code ({}); remote code is never run", py.display())));
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(EngineError::config(&config_path, "missing"));
        }
        let config = read_json(&config_path)?;
        if !config.is_object() {
            return Err(EngineError::config(&config_path, "not a JSON object"));
        }
        if config.get("auto_map").is_some() {
            return Err(refused(dir, "config.json has `auto_map`: the model needs remote code, which is never run"));
        }
        let architecture = Architecture::from_config(&config).map_err(EngineError::UnsupportedArchitecture)?;
        let weight_files = weight_files(dir, &files)?;
        let generation_config = match dir.join("generation_config.json") {
            p if p.is_file() => Some(read_json(&p)?),
            _ => None,
        };
        Ok(Snapshot { dir: dir.to_path_buf(), config, architecture, weight_files, generation_config })
    }

    /// Parameter count and on-disk dtype names, read from the safetensors headers only.
    pub fn tensor_summary(&self) -> Result<(u64, BTreeSet<String>)> {
        let mut params = 0u64;
        let mut dtypes = BTreeSet::new();
        for file in &self.weight_files {
            let header = read_safetensors_header(file)?;
            let bad = |what: &str| EngineError::Weights(format!("{}: {what}", file.display()));
            let tensors = header.as_object().ok_or_else(|| bad("header is not an object"))?;
            for (name, info) in tensors.iter().filter(|(k, _)| *k != "__metadata__") {
                let shape = info
                    .get("shape")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| bad(&format!("tensor `{name}` has no shape")))?;
                params += shape.iter().product::<u64>();
                if let Some(dtype) = info.get("dtype").and_then(Value::as_str) {
                    dtypes.insert(dtype.to_string());
                }
            }
        }
        Ok((params, dtypes))
    }
}

/// The JSON header of a safetensors file (8-byte little-endian length, then the JSON).
fn read_safetensors_header(path: &Path) -> Result<Value> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| EngineError::Weights(format!("{}: not a safetensors file", path.display())))?;
    let len = u64::from_le_bytes(len);
    if len > 100 * 1024 * 1024 {
        return Err(EngineError::Weights(format!("{}: safetensors header of {len} bytes", path.display())));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(|_| EngineError::Weights(format!("{}: truncated header", path.display())))?;
    serde_json::from_slice(&header).map_err(|e| EngineError::Weights(format!("{}: bad header: {e}", path.display())))
}

fn refused(dir: &Path, reason: impl Into<String>) -> EngineError {
    EngineError::Refused { path: dir.to_path_buf(), reason: reason.into() }
}

fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Every file under `dir` (relative paths), hidden folders such as `.git` or `.cache` skipped.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let entries = std::fs::read_dir(&abs).map_err(|e| EngineError::io(&abs, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| EngineError::io(&abs, e))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = rel.join(&name);
            if entry.path().is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn weight_files(dir: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let json = read_json(&index)?;
        let map = json
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| EngineError::Weights(format!("{}: no `weight_map` object", index.display())))?;
        let mut shards = BTreeSet::new();
        for (tensor, file) in map {
            let file = file
                .as_str()
                .ok_or_else(|| EngineError::Weights(format!("{}: `{tensor}` maps to a non-string", index.display())))?;
            let rel = Path::new(file);
            if rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(EngineError::Weights(format!(
                    "{}: shard path `{file}` leaves the folder",
                    index.display()
                )));
            }
            shards.insert(dir.join(rel));
        }
        if shards.is_empty() {
            return Err(EngineError::Weights(format!("{}: empty weight_map", index.display())));
        }
        if let Some(missing) = shards.iter().find(|p| !p.is_file()) {
            return Err(EngineError::Weights(format!("shard {} listed in the index is missing", missing.display())));
        }
        return Ok(shards.into_iter().collect());
    }
    let pickles: Vec<String> =
        files.iter().filter(|f| has_extension(f, &PICKLE_EXTENSIONS)).map(|f| f.display().to_string()).collect();
    if !pickles.is_empty() {
        return Err(refused(
            dir,
            format!(
                "its weights are pickle files ({}), which can run arbitrary code when loaded; save them as safetensors",
                pickles.join(", ")
            ),
        ));
    }
    Err(EngineError::Weights(format!(
        "{} holds neither model.safetensors nor model.safetensors.index.json",
        dir.display()
    )))
}

pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| EngineError::config(path, format!("invalid JSON: {e}")))
}
