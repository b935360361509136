//! The three datasets-server tasks: FINEWEB text rows, SYNTHETIC-1-SFT and codeforces-cots
//! reasoning rows, each drawn with upstream's page sampling and the generator draws in upstream's
//! order.
//!
//! Differences from upstream, all on failure paths: a malformed row is skipped and counted
//! (upstream aborts the task on a missing field), a failing page is retried as is (upstream draws
//! a new page), and a task with no usable sample is an error (upstream scores an empty list).

use super::reasoning::{self, Parsed, REASONING_SYSTEM_PROMPT, SUPPORTED_TASK_TYPES};
use super::{sample_pages, ConfigInfo, DatasetsServer, FetchedRow, HfError, Page};
use crate::kwargs::Kwargs;
use crate::pyrandom::PyRandom;
use crate::pystr::py_strip;
use crate::sample::{Loaded, PairRule, PromptResponse, Sample, SampleBody};
use crate::seed::Seed;
use serde_json::{Map, Value};
use std::collections::HashSet;

pub const FINEWEB_EDU_SCORE_2: &str = "HuggingFaceFW/fineweb-edu-score-2";
pub const FALCON_REFINEDWEB: &str = "tiiuae/falcon-refinedweb";
pub const SYNTHETIC_1_SFT: &str = "PrimeIntellect/SYNTHETIC-1-SFT-Data";
pub const CODEFORCES_COTS: &str = "open-r1/codeforces-cots";

/// Fetches the pages in order; returns their rows tagged with their page.
async fn fetch_pages(
    server: &DatasetsServer,
    dataset: &str,
    pages: &[Page],
    limit: i64,
    sync_block: u64,
    provenance: &mut Vec<String>,
) -> Result<Vec<(Page, FetchedRow)>, HfError> {
    let mut out = Vec::new();
    for page in pages {
        let rows = server.rows(dataset, page, limit, sync_block).await?;
        provenance.push(format!("{dataset}:{}/{}@{}+{limit}", page.config, page.split, page.offset));
        out.extend(rows.into_iter().map(|r| (page.clone(), r)));
    }
    Ok(out)
}

fn row_id(dataset: &str, page: &Page, row: &FetchedRow) -> String {
    format!("{dataset}:{}/{}@{}", page.config, page.split, row.row_idx)
}

/// FINEWEB (and falcon-refinedweb): `row.text` (`row.content` for falcon) as TEXT_LOSS samples.
/// Kwargs: `name`, `num_pages` (4), `num_rows_per_page` (100).
pub async fn load_text_rows(
    server: &DatasetsServer,
    seed: &Seed,
    kwargs: &Map<String, Value>,
    sync_block: u64,
) -> Result<Loaded, HfError> {
    let mut k = Kwargs::new(kwargs);
    let name = k.string("name", FINEWEB_EDU_SCORE_2)?;
    let num_pages = k.count("num_pages", 4)?;
    let rows_per_page = k.int("num_rows_per_page", 100)?;
    k.finish()?;
    let field = if name == FALCON_REFINEDWEB { "content" } else { "text" };

    let mut rng = PyRandom::from_seed(seed);
    let configs = server.configs(&name, sync_block).await?;
    let pages = sample_pages(&mut rng, &configs, rows_per_page, num_pages)?;
    let mut loaded = Loaded::default();
    let rows = fetch_pages(server, &name, &pages, rows_per_page, sync_block, &mut loaded.provenance).await?;
    let total = rows.len();
    for (page, row) in &rows {
        match row.cells.get(field).and_then(Value::as_str) {
            Some(text) => loaded
                .samples
                .push(Sample { id: row_id(&name, page, row), body: SampleBody::Text { text: text.to_string() } }),
            None => loaded.malformed += 1,
        }
    }
    non_empty(loaded, &name, total)
}

fn non_empty(loaded: Loaded, dataset: &str, rows: usize) -> Result<Loaded, HfError> {
    if loaded.samples.is_empty() {
        return Err(HfError::NoSamples {
            dataset: dataset.to_string(),
            rows,
            malformed: loaded.malformed,
            filtered: loaded.filtered,
        });
    }
    Ok(loaded)
}

/// A buffered reasoning row (upstream keeps dicts of `messages` and metadata).
#[derive(Debug, Clone)]
struct BufRow {
    id: String,
    messages: Value,
    task_type: String,
}

/// Upstream's `BaseReasoningLoader` state, kept in the same shape so its quirks carry over: parsed
/// buffer indices survive the buffer being rebuilt by the task-type filter, and SYNTHETIC's
/// `answers` grow before the length check (so a length filter would misalign them, as upstream).
#[derive(Default)]
struct ReasoningState {
    buffer: Vec<BufRow>,
    parsed: HashSet<usize>,
    questions: Vec<(String, String)>, // (sample id, question)
    traces: Vec<String>,
    answers: Vec<String>,
    task_types: Vec<String>,
    malformed: usize,
    filtered: usize,
    rows_seen: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Synthetic,
    Codeforces,
}

struct ReasoningParams {
    max_sequence_length: Option<usize>,
    chars_per_token: usize,
}

impl ReasoningState {
    /// Buffers a fetched page; rows without `messages` are malformed (upstream: KeyError).
    fn push_rows(&mut self, dataset: &str, rows: Vec<(Page, FetchedRow)>) {
        for (page, row) in &rows {
            self.rows_seen += 1;
            let Some(messages) = row.cells.get("messages") else {
                self.malformed += 1;
                continue;
            };
            let task_type = row.cells.get("task_type").and_then(Value::as_str).unwrap_or("unknown").to_string();
            self.buffer.push(BufRow { id: row_id(dataset, page, row), messages: messages.clone(), task_type });
        }
    }

    /// `_filter_buffer_by_task_type`: rebuilds the buffer with the supported types only.
    fn filter_task_types(&mut self) {
        self.buffer.retain(|r| SUPPORTED_TASK_TYPES.contains(&r.task_type.as_str()));
    }

    /// `_parse_additional_samples`: every buffer index not parsed before.
    fn parse_additional(&mut self, kind: Kind, p: &ReasoningParams) {
        for i in 0..self.buffer.len() {
            if !self.parsed.insert(i) {
                continue;
            }
            let row = &self.buffer[i];
            let parsed: Result<Parsed, _> = match kind {
                Kind::Codeforces => reasoning::parse_codeforces(&row.messages),
                Kind::Synthetic if !SUPPORTED_TASK_TYPES.contains(&row.task_type.as_str()) => {
                    // Counted when its page arrived; upstream raises and skips it here.
                    continue;
                }
                Kind::Synthetic => reasoning::parse_synthetic(&row.task_type, &row.messages),
            };
            let Ok(parsed) = parsed else {
                self.malformed += 1;
                continue;
            };
            if kind == Kind::Synthetic {
                self.answers.push(parsed.answer.clone());
                self.task_types.push(row.task_type.clone());
            }
            if !reasoning::fits(&parsed.question, &parsed.trace, p.max_sequence_length, p.chars_per_token) {
                self.filtered += 1;
                continue;
            }
            self.questions.push((row.id.clone(), parsed.question));
            self.traces.push(parsed.trace);
        }
    }

    /// Above `target_size`, keep `random.sample(range(len), target_size)` in that order.
    fn trim_to(&mut self, target: Option<usize>, rng: &mut PyRandom) -> Result<(), HfError> {
        let Some(target) = target else { return Ok(()) };
        if self.questions.len() <= target {
            return Ok(());
        }
        let keep = rng.sample_indices(self.questions.len(), target)?;
        let pick = |v: &[String]| keep.iter().filter_map(|&i| v.get(i).cloned()).collect::<Vec<_>>();
        self.traces = pick(&self.traces);
        self.answers = pick(&self.answers);
        self.task_types = pick(&self.task_types);
        self.questions = keep.iter().map(|&i| self.questions[i].clone()).collect();
        Ok(())
    }
}

/// SYNTHETIC-1-SFT. Kwargs: `name`, `num_pages` (1), `num_rows_per_page` (100), `target_size`,
/// `max_sequence_length`, `chars_per_token` (4).
pub async fn load_synthetic_1_sft(
    server: &DatasetsServer,
    seed: &Seed,
    kwargs: &Map<String, Value>,
    sync_block: u64,
) -> Result<Loaded, HfError> {
    let mut k = Kwargs::new(kwargs);
    let name = k.string("name", SYNTHETIC_1_SFT)?;
    let num_pages = k.count("num_pages", 1)?;
    let rows_per_page = k.int("num_rows_per_page", 100)?;
    let target_size = k.opt_count("target_size")?;
    let params = ReasoningParams {
        max_sequence_length: k.opt_count("max_sequence_length")?,
        chars_per_token: k.count("chars_per_token", 4)?.max(1),
    };
    k.finish()?;

    let mut rng = PyRandom::from_seed(seed);
    let configs = server.configs(&name, sync_block).await?;
    let mut provenance = Vec::new();
    let mut state = ReasoningState::default();
    let fetch = |rng: &mut PyRandom, n: usize, configs: &[ConfigInfo]| sample_pages(rng, configs, rows_per_page, n);

    let pages = fetch(&mut rng, num_pages, &configs)?;
    let rows = fetch_pages(server, &name, &pages, rows_per_page, sync_block, &mut provenance).await?;
    state.filtered += count_unsupported(&rows);
    state.push_rows(&name, rows);
    // BaseReasoningLoader.__init__ parses the unfiltered buffer, then Synthetic1SFTLoader filters
    // it and parses again.
    state.parse_additional(Kind::Synthetic, &params);
    state.filter_task_types();
    state.parse_additional(Kind::Synthetic, &params);
    state.trim_to(target_size, &mut rng)?;

    if let Some(target) = target_size {
        let (mut additional, mut attempts) = (1usize, 0);
        while state.questions.len() < target && attempts < 10 {
            attempts += 1;
            let pages = fetch(&mut rng, additional, &configs)?;
            let rows = fetch_pages(server, &name, &pages, rows_per_page, sync_block, &mut provenance).await?;
            state.filtered += count_unsupported(&rows);
            state.push_rows(&name, rows);
            state.filter_task_types();
            state.parse_additional(Kind::Synthetic, &params);
            state.trim_to(Some(target), &mut rng)?;
            additional = (additional * 2).min(16);
        }
    }

    let samples = state
        .questions
        .iter()
        .zip(&state.traces)
        .zip(state.answers.iter().zip(&state.task_types))
        .map(|(((id, q), t), (a, tt))| Sample {
            id: id.clone(),
            body: SampleBody::PromptResponse(PromptResponse {
                system: Some(REASONING_SYSTEM_PROMPT.to_string()),
                prompt: q.clone(),
                response: reasoning::synthetic_reference(tt, t, a),
                rule: PairRule::ContextReference,
            }),
        })
        .collect();
    let loaded = Loaded { samples, malformed: state.malformed, filtered: state.filtered, provenance };
    non_empty(loaded, &name, state.rows_seen)
}

fn count_unsupported(rows: &[(Page, FetchedRow)]) -> usize {
    rows.iter()
        .filter(|(_, r)| r.cells.get("messages").is_some())
        .filter(|(_, r)| {
            let tt = r.cells.get("task_type").and_then(Value::as_str).unwrap_or("unknown");
            !SUPPORTED_TASK_TYPES.contains(&tt)
        })
        .count()
}

/// codeforces-cots. Kwargs: `name`, `num_pages` (1), `num_rows_per_page` (100),
/// `max_sequence_length` (16384), `chars_per_token` (4).
pub async fn load_codeforces_cots(
    server: &DatasetsServer,
    seed: &Seed,
    kwargs: &Map<String, Value>,
    sync_block: u64,
) -> Result<Loaded, HfError> {
    let mut k = Kwargs::new(kwargs);
    let name = k.string("name", CODEFORCES_COTS)?;
    let num_pages = k.count("num_pages", 1)?;
    let rows_per_page = k.int("num_rows_per_page", 100)?;
    let params = ReasoningParams {
        max_sequence_length: Some(k.count("max_sequence_length", 16384)?),
        chars_per_token: k.count("chars_per_token", 4)?.max(1),
    };
    k.finish()?;

    let mut rng = PyRandom::from_seed(seed);
    let configs = server.configs(&name, sync_block).await?;
    let pages = sample_pages(&mut rng, &configs, rows_per_page, num_pages)?;
    let mut provenance = Vec::new();
    let rows = fetch_pages(server, &name, &pages, rows_per_page, sync_block, &mut provenance).await?;
    let mut state = ReasoningState::default();
    state.push_rows(&name, rows);
    state.parse_additional(Kind::Codeforces, &params);
    let samples = state
        .questions
        .iter()
        .zip(&state.traces)
        .map(|((id, q), t)| Sample {
            id: id.clone(),
            body: SampleBody::PromptResponse(PromptResponse {
                system: Some(REASONING_SYSTEM_PROMPT.to_string()),
                prompt: q.clone(),
                response: py_strip(t).to_string(),
                rule: PairRule::ContextReference,
            }),
        })
        .collect();
    let loaded = Loaded { samples, malformed: state.malformed, filtered: state.filtered, provenance };
    non_empty(loaded, &name, state.rows_seen)
}
