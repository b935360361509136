//! The task loading rule: a competition round loads *all* its eval tasks from the round seed; if any
//! task still cannot be loaded after its retries, the round is skipped with an error naming the
//! task and the cause. Task weights are never renormalised over the tasks that happened to load
//! (upstream did, so validators with different outages scored different mixes).

use crate::cortex::wandb::WandbClient;
use crate::cortex::{self, CortexError, CortexParams};
use crate::generated::dyck::Dyck;
use crate::generated::nltk_words::{self, EnBasicDownload};
use crate::generated::word_list::WordList;
use crate::generated::word_sorting::{WordListChoice, WordSorting};
use crate::generated::GenerateError;
use crate::hf::{loaders, DatasetsServer, HfError};
use crate::jsonl::{self, JsonlError};
use crate::sample::{Loaded, TaskSamples};
use crate::seed::Seed;
use scoring::competition::{DatasetId, EvalTask};
use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::SystemTime;

/// Why one task could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    DatasetsServer(#[from] HfError),
    #[error(transparent)]
    Cortex(#[from] CortexError),
    #[error(transparent)]
    Jsonl(#[from] JsonlError),
    #[error("no {0} is configured for this validator")]
    NoSource(&'static str),
    #[error("dataset {0:?} has no loader in this validator yet")]
    Unsupported(DatasetId),
}

/// A round that cannot be scored because one of its tasks could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("round skipped: task {task} ({dataset:?}) could not be loaded: {cause}")]
pub struct RoundSkipped {
    pub task: String,
    pub dataset: DatasetId,
    #[source]
    pub cause: LoadError,
}

/// The SN18 side of the cortex source: a wandb client and the hotkeys of SN18 validators with at
/// least the task's `min_stake` (the caller reads them from the SN18 metagraph).
#[derive(Debug, Clone)]
pub struct CortexSource {
    pub client: WandbClient,
    pub validator_hotkeys: BTreeSet<String>,
}

/// Where remote and vendored data come from. Sources a schedule does not use may be `None`.
#[derive(Debug, Default)]
pub struct Sources {
    pub datasets_server: Option<DatasetsServer>,
    pub cortex: Option<CortexSource>,
    /// The WORD_SORTING list; when unset, NLTK's `en-basic` is looked up (and sha256-checked)
    /// the first time a word sorting task loads.
    pub word_list: OnceLock<WordList>,
    /// Where to download `en-basic` from when NLTK has not installed it on this machine; without
    /// it, a missing file skips the round.
    pub en_basic_download: Option<EnBasicDownload>,
}

impl Sources {
    async fn word_list(&self) -> Result<&WordList, GenerateError> {
        if let Some(list) = self.word_list.get() {
            return Ok(list);
        }
        let list = nltk_words::en_basic(self.en_basic_download.as_ref()).await?;
        Ok(self.word_list.get_or_init(|| list))
    }
}

/// What a round's data depends on.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub seed: Seed,
    /// The sync block the seed comes from; it names the cache window.
    pub sync_block: u64,
    /// The clock of age filters (cortex); the validator passes its wall clock.
    pub now: SystemTime,
}

/// Loads one task's samples.
pub async fn load_task(task: &EvalTask, round: &Round, sources: &Sources) -> Result<TaskSamples, LoadError> {
    let kwargs = &task.dataset_kwargs;
    let seed = &round.seed;
    let hf = || sources.datasets_server.as_ref().ok_or(LoadError::NoSource("Hugging Face datasets-server"));
    let loaded: Loaded = match task.dataset {
        DatasetId::WordSorting => {
            let gen = WordSorting::from_kwargs(kwargs).map_err(GenerateError::from)?;
            let vendored;
            let list = match gen.word_list {
                WordListChoice::NltkEnBasic => sources.word_list().await?,
                WordListChoice::Ogden850 => {
                    vendored = WordList::ogden_850();
                    &vendored
                }
            };
            Loaded {
                samples: gen.generate(seed, list)?,
                provenance: vec![list.source().to_string()],
                ..Loaded::default()
            }
        }
        DatasetId::DyckLanguage => {
            let gen = Dyck::from_kwargs(kwargs).map_err(GenerateError::from)?;
            Loaded { samples: gen.generate(seed)?, ..Loaded::default() }
        }
        DatasetId::Fineweb => loaders::load_text_rows(hf()?, seed, kwargs, round.sync_block).await?,
        DatasetId::Synthetic1Sft => loaders::load_synthetic_1_sft(hf()?, seed, kwargs, round.sync_block).await?,
        DatasetId::CodeforcesCots => loaders::load_codeforces_cots(hf()?, seed, kwargs, round.sync_block).await?,
        DatasetId::Cortex => {
            let src = sources.cortex.as_ref().ok_or(LoadError::NoSource("wandb client for cortex data"))?;
            let params = CortexParams::from_kwargs(kwargs).map_err(CortexError::from)?;
            cortex::load_cortex(&src.client, seed, &params, &src.validator_hotkeys, round.now, round.sync_block).await?
        }
        DatasetId::Jsonl => jsonl::load_jsonl(seed, kwargs, task.method).await?,
        // SYNTHETIC_MMLU needs the SN1 validators' HF dataset and IF_EVAL ports of NLTK Punkt and
        // the perceptron tagger (upstream-2025 §2.3–2.4); neither exists here yet.
        DatasetId::SyntheticMmlu | DatasetId::SyntheticIfEval => return Err(LoadError::Unsupported(task.dataset)),
    };
    Ok(TaskSamples::new(&task.name, task.dataset, loaded))
}

/// Loads every task of a competition round, in order, or says which task stopped the round.
pub async fn load_round(
    tasks: &[EvalTask],
    round: &Round,
    sources: &Sources,
) -> Result<Vec<TaskSamples>, RoundSkipped> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        match load_task(task, round, sources).await {
            Ok(samples) => {
                tracing::info!(
                    task = %task.name,
                    samples = samples.samples.len(),
                    malformed = samples.malformed,
                    filtered = samples.filtered,
                    "task loaded"
                );
                out.push(samples);
            }
            Err(cause) => {
                let skipped = RoundSkipped { task: task.name.clone(), dataset: task.dataset, cause };
                tracing::error!("{skipped}");
                return Err(skipped);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loading_can_run_on_a_multi_threaded_runtime() {
        fn send<T: Send>(_: &T) {}
        let sources = Sources::default();
        let round = Round { seed: Seed::from_be_bytes([0; 32]), sync_block: 0, now: SystemTime::UNIX_EPOCH };
        send(&load_round(&[], &round, &sources));
        send(&sources);
    }
}
