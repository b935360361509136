//! The slice of wandb's public GraphQL API the cortex loader reads: a project's runs (filtered,
//! ordered, paged by cursor) and a run's history rows between two steps.

use crate::cache::ResponseCache;
use crate::http::{FetchError, HttpPolicy, JsonClient};
use base64::Engine;
use reqwest::Url;
use serde_json::{json, Map, Value};

pub const DEFAULT_WANDB_BASE_URL: &str = "https://api.wandb.ai";
/// wandb's own variables: the API host and the key.
pub const WANDB_BASE_URL_ENV: &str = "WANDB_BASE_URL";
pub const WANDB_API_KEY_ENV: &str = "WANDB_API_KEY";

/// Runs per page (wandb's `Runs` default `per_page`).
const RUNS_PER_PAGE: u64 = 50;
/// A bound on cursor pages, so a server that always says `hasNextPage` cannot loop us forever.
const MAX_RUN_PAGES: usize = 200;

const RUNS_QUERY: &str = "query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, \
$order: String, $filters: JSONString) { project(name: $project, entityName: $entity) { runCount(filters: $filters) \
runs(filters: $filters, after: $cursor, first: $perPage, order: $order) { edges { node { id name state config \
createdAt historyKeys } cursor } pageInfo { endCursor hasNextPage } } } }";

const HISTORY_QUERY: &str = "query HistoryPage($entity: String!, $project: String!, $run: String!, \
$minStep: Int64!, $maxStep: Int64!, $pageSize: Int!) { project(name: $project, entityName: $entity) { \
run(name: $run) { history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize) } } }";

#[derive(Debug, thiserror::Error)]
pub enum WandbError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("wandb GraphQL error: {0}")]
    GraphQl(String),
    #[error("wandb answer without {0}")]
    Shape(&'static str),
    #[error("{WANDB_API_KEY_ENV} is not set; the cortex (SN18 wandb) data source needs a wandb API key")]
    NoApiKey,
    #[error("invalid wandb URL {0:?}")]
    BadBaseUrl(String),
    #[error("project {0:?} is not `entity/project`")]
    BadProject(String),
}

/// A run as the loader needs it (wandb's `Run.id` is the GraphQL `name`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub id: String,
    /// `run.config`, with wandb's `{"value": …}` wrappers removed.
    pub config: Map<String, Value>,
    /// `run.lastHistoryStep`: `historyKeys.lastStep`, or -1.
    pub last_history_step: i64,
}

#[derive(Debug, Clone)]
pub struct WandbClient {
    graphql: Url,
    authorization: String,
    http: JsonClient,
    cache: Option<ResponseCache>,
}

impl WandbClient {
    pub fn new(base_url: &str, api_key: &str, policy: HttpPolicy) -> Result<WandbClient, WandbError> {
        let base = Url::parse(base_url).map_err(|_| WandbError::BadBaseUrl(base_url.to_string()))?;
        let graphql = base.join("graphql").map_err(|_| WandbError::BadBaseUrl(base_url.to_string()))?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("api:{api_key}"));
        Ok(WandbClient {
            graphql,
            authorization: format!("Basic {basic}"),
            http: JsonClient::new(policy)?,
            cache: None,
        })
    }

    /// `$WANDB_BASE_URL` (default the public API) and `$WANDB_API_KEY` (required).
    pub fn from_env(policy: HttpPolicy) -> Result<WandbClient, WandbError> {
        let key = std::env::var(WANDB_API_KEY_ENV).ok().filter(|k| !k.is_empty()).ok_or(WandbError::NoApiKey)?;
        let base = std::env::var(WANDB_BASE_URL_ENV).unwrap_or_else(|_| DEFAULT_WANDB_BASE_URL.to_string());
        WandbClient::new(&base, &key, policy)
    }

    pub fn with_cache(mut self, cache: ResponseCache) -> WandbClient {
        self.cache = Some(cache);
        self
    }

    async fn query(&self, query: &str, variables: Value, sync_block: u64) -> Result<Value, WandbError> {
        let body = json!({ "query": query, "variables": variables });
        let key = body.to_string();
        if let Some(cache) = &self.cache {
            if let Some(v) = cache.get(sync_block, "wandb", &key).await {
                return Ok(v);
            }
        }
        let answer = self.http.post_json(&self.graphql, &body, Some(&self.authorization)).await?;
        if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
            return Err(WandbError::GraphQl(errors.to_string()));
        }
        let data = answer.get("data").cloned().ok_or(WandbError::Shape("data"))?;
        if let Some(cache) = &self.cache {
            if let Err(e) = cache.put(sync_block, "wandb", &key, &data).await {
                tracing::warn!(error = %e, "could not cache a wandb answer");
            }
        }
        Ok(data)
    }

    /// `api.runs(project, filters, order)`, every page, in the server's order.
    pub async fn runs(
        &self,
        project: &str,
        filters: &Value,
        order: &str,
        sync_block: u64,
    ) -> Result<Vec<RunInfo>, WandbError> {
        let (entity, name) = split_project(project)?;
        let mut runs = Vec::new();
        let mut cursor = Value::Null;
        for _ in 0..MAX_RUN_PAGES {
            let vars = json!({
                "entity": entity, "project": name, "cursor": cursor, "perPage": RUNS_PER_PAGE,
                "order": order, "filters": filters.to_string(),
            });
            let data = self.query(RUNS_QUERY, vars, sync_block).await?;
            let page = data.pointer("/project/runs").ok_or(WandbError::Shape("project.runs"))?;
            for edge in page.get("edges").and_then(Value::as_array).ok_or(WandbError::Shape("runs.edges"))? {
                let node = edge.get("node").ok_or(WandbError::Shape("edge.node"))?;
                runs.push(run_info(node)?);
            }
            let has_next = page.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool).unwrap_or(false);
            cursor = page.pointer("/pageInfo/endCursor").cloned().unwrap_or(Value::Null);
            if !has_next || cursor.is_null() {
                return Ok(runs);
            }
        }
        Ok(runs)
    }

    /// wandb's `HistoryScan(run, min_step, max_step, page_size)`: rows of steps in
    /// `[min_step, max_step)`, fetched `page_size` steps at a time, in order.
    pub async fn history(
        &self,
        project: &str,
        run_id: &str,
        min_step: i64,
        max_step: i64,
        page_size: i64,
        sync_block: u64,
    ) -> Result<Vec<Value>, WandbError> {
        let (entity, name) = split_project(project)?;
        let mut rows = Vec::new();
        let mut offset = min_step;
        while offset < max_step {
            let page_max = (offset + page_size).min(max_step);
            let vars = json!({
                "entity": entity, "project": name, "run": run_id,
                "minStep": offset, "maxStep": page_max, "pageSize": page_size,
            });
            let data = self.query(HISTORY_QUERY, vars, sync_block).await?;
            let lines = data.pointer("/project/run/history").and_then(Value::as_array);
            for line in lines.ok_or(WandbError::Shape("project.run.history"))? {
                // wandb sends each row as a JSON string.
                rows.push(match line {
                    Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                    other => other.clone(),
                });
            }
            offset += page_size.max(1);
        }
        Ok(rows)
    }
}

fn split_project(project: &str) -> Result<(&str, &str), WandbError> {
    match project.split_once('/') {
        Some((e, p)) if !e.is_empty() && !p.is_empty() && !p.contains('/') => Ok((e, p)),
        _ => Err(WandbError::BadProject(project.to_string())),
    }
}

/// A JSON field wandb sends either as an object or as a JSON string of one.
fn json_field(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

fn run_info(node: &Value) -> Result<RunInfo, WandbError> {
    let id = node.get("name").and_then(Value::as_str).ok_or(WandbError::Shape("run name"))?.to_string();
    let mut config = Map::new();
    if let Value::Object(raw) = json_field(node.get("config")) {
        for (k, v) in raw {
            if k.starts_with('_') {
                continue;
            }
            let value = match v {
                Value::Object(mut o) if o.contains_key("value") => o.remove("value").unwrap(),
                other => other,
            };
            config.insert(k, value);
        }
    }
    let last_history_step = json_field(node.get("historyKeys")).get("lastStep").and_then(Value::as_i64).unwrap_or(-1);
    Ok(RunInfo { id, config, last_history_step })
}
