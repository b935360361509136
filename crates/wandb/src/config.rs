//! When the uploader runs and with what: built from the `run` daemon's flags and the
//! environment (`WANDB_API_KEY`, `WANDB_BASE_URL`). Nothing else in the validator needs a wandb
//! credential.

use reqwest::Url;
use std::path::PathBuf;
use std::time::Duration;

/// wandb's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.wandb.ai";

/// The wandb flags of `run`, as parsed (`--wandb.project`, `--wandb.entity`, `--wandb.off`,
/// `--offline`, `--wandb.max_steps_per_run`).
#[derive(Clone, Debug)]
pub struct WandbFlags {
    pub project: Option<String>,
    pub entity: Option<String>,
    pub off: bool,
    pub offline: bool,
    /// Upstream's `--wandb_max_steps_per_run` (50): a new wandb run every this many steps.
    pub max_steps_per_run: u64,
}

impl Default for WandbFlags {
    fn default() -> Self {
        WandbFlags { project: None, entity: None, off: false, offline: false, max_steps_per_run: 50 }
    }
}

impl WandbFlags {
    /// Why these flags leave the uploader off, or `None` when they enable it.
    pub fn disabled_reason(&self) -> Option<&'static str> {
        let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
        if self.off {
            Some("--wandb.off")
        } else if self.offline {
            Some("--offline")
        } else if !set(&self.project) {
            Some("no --wandb.project")
        } else if !set(&self.entity) {
            Some("no --wandb.entity")
        } else {
            None
        }
    }
}

/// Retry delays after a failed request: doubling from `initial` up to `max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
}

/// Everything the uploader needs.
#[derive(Clone)]
pub struct WandbConfig {
    pub project: String,
    pub entity: String,
    pub api_key: String,
    pub base_url: Url,
    /// A new wandb run every this many uploaded steps.
    pub max_steps_per_run: u64,
    /// Records wait here (one file each) until wandb has them; survives restarts.
    pub spool_dir: PathBuf,
    /// Records held in memory between `submit` and the spool; beyond it `submit` drops (and
    /// counts) instead of blocking.
    pub queue_capacity: usize,
    /// Each HTTP request is abandoned (and retried later) after this long.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// While a run is open and idle, tell wandb it is alive this often (upstream's SDK: 30 s).
    pub heartbeat_interval: Duration,
}

impl std::fmt::Debug for WandbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WandbConfig")
            .field("project", &self.project)
            .field("entity", &self.entity)
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url.as_str())
            .field("max_steps_per_run", &self.max_steps_per_run)
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

/// Flags that ask for wandb but cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("wandb logging is enabled (--wandb.project/--wandb.entity) but WANDB_API_KEY is not set; set it, or pass --wandb.off")]
    MissingApiKey,
    #[error("WANDB_BASE_URL `{url}` is not a usable URL: {reason}")]
    BadBaseUrl { url: String, reason: String },
    #[error("--wandb.max_steps_per_run must be at least 1")]
    ZeroStepsPerRun,
}

impl WandbConfig {
    /// The uploader's configuration, or `None` when the flags leave it off (see
    /// [`WandbFlags::disabled_reason`]). Reads `WANDB_API_KEY` and `WANDB_BASE_URL` only when
    /// it is on.
    pub fn from_flags(flags: &WandbFlags, spool_dir: PathBuf) -> Result<Option<WandbConfig>, ConfigError> {
        Self::from_flags_and_env(flags, spool_dir, |name| std::env::var(name).ok())
    }

    /// [`WandbConfig::from_flags`] with the environment given as a lookup function.
    pub fn from_flags_and_env(
        flags: &WandbFlags,
        spool_dir: PathBuf,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<WandbConfig>, ConfigError> {
        if flags.disabled_reason().is_some() {
            return Ok(None);
        }
        if flags.max_steps_per_run == 0 {
            return Err(ConfigError::ZeroStepsPerRun);
        }
        let api_key = env("WANDB_API_KEY").map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
        let api_key = api_key.ok_or(ConfigError::MissingApiKey)?;
        let base = env("WANDB_BASE_URL").filter(|u| !u.trim().is_empty());
        let base = base.as_deref().unwrap_or(DEFAULT_BASE_URL).trim();
        let base_url = Url::parse(base)
            .map_err(|e| e.to_string())
            .and_then(|url| match url.scheme() {
                "http" | "https" if url.cannot_be_a_base() => Err("it cannot be a base URL".to_string()),
                "http" | "https" => Ok(url),
                other => Err(format!("scheme `{other}` is not http or https")),
            })
            .map_err(|reason| ConfigError::BadBaseUrl { url: base.to_string(), reason })?;
        Ok(Some(WandbConfig {
            project: flags.project.clone().unwrap_or_default().trim().to_string(),
            entity: flags.entity.clone().unwrap_or_default().trim().to_string(),
            api_key,
            base_url,
            max_steps_per_run: flags.max_steps_per_run,
            spool_dir,
            queue_capacity: 1024,
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy { initial: Duration::from_secs(2), max: Duration::from_secs(300) },
            heartbeat_interval: Duration::from_secs(30),
        }))
    }
}

/// Who logs: the run name and config come from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunIdentity {
    pub uid: u16,
    pub hotkey: String,
    /// The validator's version, as upstream's `config.version`.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> WandbFlags {
        WandbFlags { project: Some("finetuning".into()), entity: Some("team".into()), ..Default::default() }
    }

    fn env_with_key(name: &str) -> Option<String> {
        (name == "WANDB_API_KEY").then(|| "secret".to_string())
    }

    #[test]
    fn enabled_only_with_project_and_entity_and_neither_off_nor_offline() {
        let spool = PathBuf::from("/tmp/spool");
        let cases = [
            (WandbFlags { off: true, ..enabled() }, Some("--wandb.off")),
            (WandbFlags { offline: true, ..enabled() }, Some("--offline")),
            (WandbFlags { project: None, ..enabled() }, Some("no --wandb.project")),
            (WandbFlags { project: Some(" ".into()), ..enabled() }, Some("no --wandb.project")),
            (WandbFlags { entity: None, ..enabled() }, Some("no --wandb.entity")),
            (enabled(), None),
        ];
        for (flags, reason) in cases {
            assert_eq!(flags.disabled_reason(), reason);
            let config = WandbConfig::from_flags_and_env(&flags, spool.clone(), env_with_key).unwrap();
            assert_eq!(config.is_some(), reason.is_none(), "{flags:?}");
        }
    }

    #[test]
    fn no_credential_is_read_or_needed_when_off() {
        let flags = WandbFlags { offline: true, ..enabled() };
        let config = WandbConfig::from_flags_and_env(&flags, PathBuf::new(), |name| panic!("read {name}")).unwrap();
        assert!(config.is_none());
    }

    #[test]
    fn enabled_without_a_key_is_a_clear_error() {
        let error = WandbConfig::from_flags_and_env(&enabled(), PathBuf::new(), |_| None).unwrap_err();
        assert!(matches!(error, ConfigError::MissingApiKey));
        assert!(error.to_string().contains("WANDB_API_KEY"));
    }

    #[test]
    fn the_base_url_comes_from_the_environment() {
        let config = WandbConfig::from_flags_and_env(&enabled(), PathBuf::new(), env_with_key).unwrap().unwrap();
        assert_eq!(config.base_url.as_str(), "https://api.wandb.ai/");
        assert_eq!(config.max_steps_per_run, 50);
        let env = |name: &str| match name {
            "WANDB_BASE_URL" => Some("http://127.0.0.1:9999".to_string()),
            _ => env_with_key(name),
        };
        let config = WandbConfig::from_flags_and_env(&enabled(), PathBuf::new(), env).unwrap().unwrap();
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9999/");
        assert!(!format!("{config:?}").contains("secret"));
        let bad = |name: &str| match name {
            "WANDB_BASE_URL" => Some("ftp://x".to_string()),
            _ => env_with_key(name),
        };
        let error = WandbConfig::from_flags_and_env(&enabled(), PathBuf::new(), bad).unwrap_err().to_string();
        assert!(error.contains("ftp://x") && error.contains("scheme"), "{error}");
    }
}
