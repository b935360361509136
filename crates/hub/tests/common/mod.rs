//! Shared test scaffolding: the shared fixtures, tiny synthetic models, a running local hub and
//! a validator-side `Hub` pointed at it with short retry waits.
#![allow(dead_code)]

use hub::client::{HubClient, HubClientConfig};
use hub::retry::RetryPolicy;
use hub::server::{HubServer, LocalHub, RunningHub, ServerOptions};
use hub::store::{ModelStore, StoreOptions};
use hub::Hub;
use safetensors::tensor::{Dtype, TensorView};
use scoring::competition::ModelConstraints;
use scoring::{ModelId, Schedule};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const HOTKEY: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
pub const OTHER_HOTKEY: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// `SN37_SHARED_DIR` or the `shared/` folder beside the repository.
pub fn shared_dir() -> PathBuf {
    let dir = match std::env::var_os("SN37_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    assert!(dir.join("fixtures").is_dir(), "fixtures not found under {} (set SN37_SHARED_DIR)", dir.display());
    dir
}

pub fn fixture(name: &str) -> PathBuf {
    shared_dir().join("fixtures").join(name)
}

/// The localnet competition's constraints (miner's own tokenizer, norm check on).
pub fn localnet_constraints() -> ModelConstraints {
    Schedule::localnet().entries[0].competitions[0].constraints.clone()
}

/// Upstream's file set of a model folder, copied out and hashed (what the miner commits).
pub fn upstream_dir_hash(model: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(model).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let take = name == "config.json"
            || name == "generation_config.json"
            || name == "model.safetensors"
            || name == "model.safetensors.index.json"
            || (name.ends_with(".safetensors") && !model.join("model.safetensors").exists());
        if take {
            std::fs::copy(&path, tmp.path().join(&name)).unwrap();
        }
    }
    hub::dir_hash::directory_hash(tmp.path()).unwrap()
}

/// The commitment a miner would publish for `folder` committed at `commit`.
pub fn commitment(repo: &str, commit: &str, folder: &Path, hotkey: &str) -> ModelId {
    let secure = scoring::hashing::secure_hash(&upstream_dir_hash(folder), hotkey);
    ModelId::for_commit(repo, commit, &secure, 1).unwrap()
}

pub struct TestHub {
    pub hub_dir: tempfile::TempDir,
    pub model_dir: tempfile::TempDir,
    pub local: LocalHub,
    pub server: RunningHub,
    pub hub: Hub,
}

pub fn fast_config(endpoint: &str) -> HubClientConfig {
    let mut cfg = HubClientConfig::new(endpoint);
    cfg.progress = false;
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    };
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.read_timeout = Duration::from_secs(10);
    cfg
}

impl TestHub {
    pub async fn start() -> TestHub {
        Self::start_with(ServerOptions::default(), StoreOptions::default(), |_| {}).await
    }

    pub async fn start_with(
        server_options: ServerOptions,
        store_options: StoreOptions,
        tweak: impl FnOnce(&mut HubClientConfig),
    ) -> TestHub {
        let hub_dir = tempfile::tempdir().unwrap();
        let model_dir = tempfile::tempdir().unwrap();
        let local = LocalHub::open(hub_dir.path()).unwrap();
        let server = HubServer::new(local.clone(), server_options).start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let mut cfg = fast_config(&server.url());
        tweak(&mut cfg);
        let store = Arc::new(ModelStore::open(model_dir.path(), store_options).unwrap());
        let hub = Hub::new(HubClient::new(cfg).unwrap(), store);
        TestHub { hub_dir, model_dir, local, server, hub }
    }

    /// Commits a folder and returns the miner's honest commitment for it.
    pub fn publish(&self, repo: &str, folder: &Path, hotkey: &str) -> ModelId {
        let sha = self.local.commit_folder(repo, folder).unwrap();
        commitment(repo, &sha, folder, hotkey)
    }

    /// Body bytes served of `.safetensors` files.
    pub fn weight_bytes_served(&self) -> u64 {
        self.server.stats().bytes_served_where(|k| k.ends_with(".safetensors"))
    }

    /// Nothing of this model is on disk: no snapshot, no tokenizer, no staging.
    pub fn assert_nothing_stored(&self, id: &ModelId, hotkey: &str) {
        let models = self.model_dir.path().join("models");
        let leftovers: Vec<_> = walk(&models).into_iter().filter(|p| p.is_file()).collect();
        assert!(leftovers.is_empty(), "model files left: {leftovers:?}");
        let staging = self.model_dir.path().join(".hub-staging");
        let staged: Vec<_> = walk(&staging).into_iter().filter(|p| p.is_file()).collect();
        assert!(staged.is_empty(), "staging files left for {}: {staged:?}", id.repo_id());
        let _ = hotkey;
    }
}

/// Every path under `dir` (links not followed).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            out.push(p.clone());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

/// A tiny Llama: `layers` layers, hidden 16, vocab 32, tied or not; weights filled by `fill`
/// (called per tensor name and element index).
pub fn llama_model(dir: &Path, layers: usize, tied: bool, fill: impl Fn(&str, usize) -> f32) {
    std::fs::create_dir_all(dir).unwrap();
    let (h, v, i) = (16usize, 32usize, 24usize);
    let config = serde_json::json!({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": h,
        "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": i, "vocab_size": v, "max_position_embeddings": 1024,
        "tie_word_embeddings": tied, "torch_dtype": "float32"
    });
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    std::fs::write(dir.join("generation_config.json"), br#"{"bos_token_id": 1}"#).unwrap();
    std::fs::write(dir.join("tokenizer.json"), br#"{"version": "1.0", "model": {"type": "BPE"}}"#).unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), br#"{"chat_template": "{{ messages }}"}"#).unwrap();
    std::fs::write(dir.join("README.md"), b"# a tiny test model\n").unwrap();
    let mut tensors: Vec<(String, Vec<usize>)> = vec![("model.embed_tokens.weight".into(), vec![v, h])];
    if !tied {
        tensors.push(("lm_head.weight".into(), vec![v, h]));
    }
    tensors.push(("model.norm.weight".into(), vec![h]));
    for l in 0..layers {
        let p = format!("model.layers.{l}.");
        for (name, shape) in [
            ("input_layernorm.weight", vec![h]),
            ("post_attention_layernorm.weight", vec![h]),
            ("self_attn.q_proj.weight", vec![h, h]),
            ("self_attn.k_proj.weight", vec![8, h]),
            ("self_attn.v_proj.weight", vec![8, h]),
            ("self_attn.o_proj.weight", vec![h, h]),
            ("mlp.gate_proj.weight", vec![i, h]),
            ("mlp.up_proj.weight", vec![i, h]),
            ("mlp.down_proj.weight", vec![h, i]),
        ] {
            tensors.push((format!("{p}{name}"), shape));
        }
    }
    write_safetensors(&dir.join("model.safetensors"), &tensors, fill);
}

/// Writes f32 tensors with the `safetensors` crate.
pub fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>)], fill: impl Fn(&str, usize) -> f32) {
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let bytes = (0..n).flat_map(|i| fill(name, i).to_le_bytes()).collect();
            (name.clone(), shape.clone(), bytes)
        })
        .collect();
    let views: Vec<(String, TensorView)> = data
        .iter()
        .map(|(name, shape, bytes)| (name.clone(), TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// A small deterministic pseudo-random weight in [-0.05, 0.05).
pub fn small(name: &str, i: usize) -> f32 {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ name.len() as u64;
    x ^= x >> 29;
    ((x % 1000) as f32 / 1000.0 - 0.5) * 0.1
}
