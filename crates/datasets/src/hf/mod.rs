//! The Hugging Face datasets-server (`/size`, `/rows`) and upstream's page sampling
//! (upstream-2025 §2.5): which configs exist, and which pages of rows a seed picks.
//!
//! Page choice is a pure function of the generator state and the config table, so it is computed
//! before anything is fetched; a page that fails is retried as is (see [`crate::http`]), never
//! replaced by another draw, so a rate-limited validator still scores the pages its peers score.

pub mod loaders;
pub mod reasoning;

use crate::cache::ResponseCache;
use crate::http::{FetchError, HttpPolicy, JsonClient};
use crate::kwargs::KwargsError;
use crate::pyrandom::{PyRandom, RandomError};
use reqwest::Url;
use serde_json::Value;

pub const DEFAULT_DATASETS_SERVER: &str = "https://datasets-server.huggingface.co";
/// Overrides the datasets-server base URL (tests, mirrors).
pub const DATASETS_SERVER_ENV: &str = "HF_DATASETS_SERVER";

/// Upstream stops looking for new pages after this many duplicate draws.
const DUPLICATE_PAGE_THRESHOLD: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum HfError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{url}: unexpected answer: {reason}")]
    BadAnswer { url: String, reason: String },
    #[error("dataset {dataset} lists no usable configs")]
    NoConfigs { dataset: String },
    #[error("page draw failed: {0}")]
    Draw(#[from] RandomError),
    #[error(transparent)]
    Kwargs(#[from] KwargsError),
    #[error("dataset {dataset}: no usable sample in {rows} fetched rows ({malformed} malformed, {filtered} filtered)")]
    NoSamples { dataset: String, rows: usize, malformed: usize, filtered: usize },
    #[error("invalid datasets-server URL {0:?}")]
    BadBaseUrl(String),
}

/// One entry of upstream's `configs_data`: a config, its split and its row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigInfo {
    pub config: String,
    pub split: String,
    pub num_rows: i64,
}

/// A page of rows: `limit` rows of `config/split` from `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Page {
    pub config: String,
    pub split: String,
    pub offset: i64,
}

/// A row as `/rows` returns it: its index in the split (the page offset plus its position when
/// the server omits `row_idx`) and its cells (`Null` when the entry has no `row`).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedRow {
    pub row_idx: i64,
    pub cells: Value,
}

/// Upstream's `fetch_dataset_configs` table from a `/size` answer's `size.splits`: with exactly
/// one entry use it, otherwise drop `config == "default"`; a repeated config keeps its first
/// position and its last values (Python dict semantics).
pub fn config_table(splits: &[Value]) -> Result<Vec<ConfigInfo>, String> {
    let keep_default = splits.len() == 1;
    let mut table: Vec<ConfigInfo> = Vec::new();
    for entry in splits {
        let field = |k: &str| entry.get(k).ok_or_else(|| format!("a split entry lacks {k:?}: {entry}"));
        let config = field("config")?.as_str().ok_or("config is not a string")?.to_string();
        if config == "default" && !keep_default {
            continue;
        }
        let info = ConfigInfo {
            split: field("split")?.as_str().ok_or("split is not a string")?.to_string(),
            num_rows: field("num_rows")?.as_i64().ok_or("num_rows is not an integer")?,
            config,
        };
        match table.iter_mut().find(|c| c.config == info.config) {
            Some(existing) => *existing = info,
            None => table.push(info),
        }
    }
    Ok(table)
}

/// Upstream's `_fetch_data_to_buffer` page choice for one call: one shared offset
/// `randint(0, rows_per_page - 1)`, then per page `choice(configs)` and
/// `randint(0, pages - 1)`, skipping duplicates within the call (up to 100).
pub fn sample_pages(
    rng: &mut PyRandom,
    configs: &[ConfigInfo],
    rows_per_page: i64,
    num_pages: usize,
) -> Result<Vec<Page>, RandomError> {
    let initial_offset = rng.randint(0, rows_per_page - 1)?;
    let mut pages: Vec<Page> = Vec::with_capacity(num_pages);
    let mut duplicates = 0;
    while pages.len() < num_pages {
        let cfg = rng.choice(configs)?;
        let data_row_count = cfg.num_rows - initial_offset;
        let data_page_count = (data_row_count + 1).div_euclid(rows_per_page);
        let start = initial_offset + rng.randint(0, data_page_count - 1)? * rows_per_page;
        let page = Page { config: cfg.config.clone(), split: cfg.split.clone(), offset: start };
        if pages.contains(&page) {
            duplicates += 1;
            if duplicates >= DUPLICATE_PAGE_THRESHOLD {
                break;
            }
            continue;
        }
        pages.push(page);
    }
    Ok(pages)
}

/// A datasets-server client with deadlines, retries and the per-window cache.
#[derive(Debug, Clone)]
pub struct DatasetsServer {
    base: Url,
    token: Option<String>,
    http: JsonClient,
    cache: Option<ResponseCache>,
}

impl DatasetsServer {
    pub fn new(base_url: &str, policy: HttpPolicy) -> Result<DatasetsServer, HfError> {
        let mut base = Url::parse(base_url).map_err(|_| HfError::BadBaseUrl(base_url.to_string()))?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(DatasetsServer { base, token: None, http: JsonClient::new(policy)?, cache: None })
    }

    /// `$HF_DATASETS_SERVER` (default the public server) and `$HF_TOKEN` for gated datasets.
    pub fn from_env(policy: HttpPolicy) -> Result<DatasetsServer, HfError> {
        let base = std::env::var(DATASETS_SERVER_ENV).unwrap_or_else(|_| DEFAULT_DATASETS_SERVER.to_string());
        let mut server = DatasetsServer::new(&base, policy)?;
        server.token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
        Ok(server)
    }

    pub fn with_cache(mut self, cache: ResponseCache) -> DatasetsServer {
        self.cache = Some(cache);
        self
    }

    pub fn with_token(mut self, token: Option<String>) -> DatasetsServer {
        self.token = token;
        self
    }

    fn url(&self, route: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.join(route).expect("static routes join");
        url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        url
    }

    async fn get_cached(&self, url: &Url, namespace: &str, sync_block: u64) -> Result<Value, HfError> {
        let key = url.as_str();
        if let Some(cache) = &self.cache {
            if let Some(v) = cache.get(sync_block, namespace, key).await {
                return Ok(v);
            }
        }
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let value = self.http.get_json(url, auth.as_deref()).await?;
        if let Some(cache) = &self.cache {
            if let Err(e) = cache.put(sync_block, namespace, key, &value).await {
                tracing::warn!(error = %e, "could not cache a datasets-server answer");
            }
        }
        Ok(value)
    }

    /// `/size?dataset=…`, reduced to upstream's config table.
    pub async fn configs(&self, dataset: &str, sync_block: u64) -> Result<Vec<ConfigInfo>, HfError> {
        let url = self.url("size", &[("dataset", dataset.to_string())]);
        let answer = self.get_cached(&url, "hf-size", sync_block).await?;
        let bad = |reason: String| HfError::BadAnswer { url: url.to_string(), reason };
        let splits = answer
            .pointer("/size/splits")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no size.splits list".into()))?;
        let table = config_table(splits).map_err(bad)?;
        if table.is_empty() {
            return Err(HfError::NoConfigs { dataset: dataset.to_string() });
        }
        Ok(table)
    }

    /// `/rows?dataset&config&split&offset&limit`.
    pub async fn rows(
        &self,
        dataset: &str,
        page: &Page,
        limit: i64,
        sync_block: u64,
    ) -> Result<Vec<FetchedRow>, HfError> {
        let url = self.url(
            "rows",
            &[
                ("dataset", dataset.to_string()),
                ("config", page.config.clone()),
                ("split", page.split.clone()),
                ("offset", page.offset.to_string()),
                ("limit", limit.to_string()),
            ],
        );
        let answer = self.get_cached(&url, "hf-rows", sync_block).await?;
        let rows = answer
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| HfError::BadAnswer { url: url.to_string(), reason: "no rows list".into() })?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, r)| FetchedRow {
                row_idx: r.get("row_idx").and_then(Value::as_i64).unwrap_or(page.offset + i as i64),
                cells: r.get("row").cloned().unwrap_or(Value::Null),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_table_follows_upstream_rules() {
        let one = [json!({"config": "default", "split": "train", "num_rows": 10})];
        assert_eq!(config_table(&one).unwrap()[0].config, "default");
        let many = [
            json!({"config": "default", "split": "train", "num_rows": 10}),
            json!({"config": "a", "split": "train", "num_rows": 5}),
            json!({"config": "b", "split": "train", "num_rows": 6}),
            json!({"config": "a", "split": "test", "num_rows": 7}),
        ];
        let t = config_table(&many).unwrap();
        assert_eq!(
            t.iter().map(|c| (c.config.as_str(), c.split.as_str(), c.num_rows)).collect::<Vec<_>>(),
            [("a", "test", 7), ("b", "train", 6)]
        );
        assert!(config_table(&[json!({"config": "x"})]).is_err());
    }
}
