//! `dataset sample --task dyck|word-sorting --block-hash 0x… --count N [--json]`: the first samples
//! a validator scores for a sync block, from the offline generators.

use anyhow::{bail, Context, Result};
use datasets::generated::dyck::Dyck;
use datasets::generated::nltk_words::{self, EnBasicDownload};
use datasets::generated::word_list::WordList;
use datasets::generated::word_sorting::WordSorting;
use datasets::{Sample, SampleBody, Seed};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DatasetCommand,
}

#[derive(clap::Subcommand)]
enum DatasetCommand {
    /// Print the first N samples of an offline task for a block hash.
    Sample(SampleArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OfflineTask {
    /// DYCK_LANGUAGE: complete a bracket sequence.
    #[value(alias = "dyck-language", alias = "dyck_language")]
    Dyck,
    /// WORD_SORTING: sort Basic English words (needs NLTK's `en-basic` word list).
    #[value(alias = "word_sorting")]
    WordSorting,
}

#[derive(clap::Args)]
struct SampleArgs {
    #[arg(long, value_enum)]
    task: OfflineTask,
    /// The sync block's hash (`0x` + 64 hex digits); the seed is sha256 of it, as upstream.
    #[arg(long)]
    block_hash: String,
    /// How many samples to print (the first N of the task, whatever its `samples` setting).
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Generator options as a JSON object (`dataset_kwargs`), e.g. '{"max_word_count": 10}';
    /// upstream's defaults otherwise.
    #[arg(long)]
    kwargs: Option<String>,
    /// NLTK's `corpora/words/en-basic` (checked by sha256); default: where NLTK keeps it,
    /// `$SN37_EN_BASIC_PATH`, or the copy `run` keeps under the model directory (downloaded from
    /// NLTK's data index, as upstream does, when none of these has it).
    #[arg(long)]
    word_list: Option<PathBuf>,
    /// The validator's model directory (where `run` keeps `nltk_data/corpora/words/en-basic`).
    #[arg(long = "model-dir", env = "SN37_MODEL_DIR", default_value = "model-store")]
    model_dir: PathBuf,
    /// Print a JSON list of `{"prompt", "response"}` instead of a listing.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        DatasetCommand::Sample(a) => sample(a),
    }
}

/// NLTK's installed `en-basic`, else the validator's kept copy, downloaded if need be.
fn nltk_en_basic(model_dir: &std::path::Path) -> Result<WordList> {
    let download = EnBasicDownload::kept_under(model_dir);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(nltk_words::en_basic(Some(&download)))?)
}

fn sample(a: SampleArgs) -> Result<()> {
    let seed = Seed::from_block_hash(&a.block_hash)?;
    let mut kwargs = match &a.kwargs {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str(text).context("--kwargs is not JSON")? {
            serde_json::Value::Object(m) => m,
            _ => bail!("--kwargs must be a JSON object"),
        },
    };
    kwargs.insert("samples".into(), a.count.into());
    let (name, samples) = match a.task {
        OfflineTask::Dyck => ("dyck_language", Dyck::from_kwargs(&kwargs)?.generate(&seed)?),
        OfflineTask::WordSorting => {
            let list = match &a.word_list {
                Some(path) => WordList::verified_en_basic(path)?,
                None => nltk_en_basic(&a.model_dir)?,
            };
            ("word_sorting", WordSorting::from_kwargs(&kwargs)?.generate(&seed, &list)?)
        }
    };
    if a.json {
        let pairs: Vec<_> =
            samples.iter().filter_map(pair).map(|(p, r)| serde_json::json!({"prompt": p, "response": r})).collect();
        println!("{}", serde_json::to_string_pretty(&pairs)?);
        return Ok(());
    }
    println!("task {name}, block hash {}, seed {seed}", a.block_hash.to_ascii_lowercase());
    for (i, s) in samples.iter().enumerate() {
        let (prompt, response) = pair(s).expect("generators make prompt/response samples");
        println!("\n#{i} {}", s.id);
        println!("  prompt:   {prompt}");
        println!("  response: {response}");
    }
    Ok(())
}

fn pair(s: &Sample) -> Option<(&str, &str)> {
    match &s.body {
        SampleBody::PromptResponse(p) => Some((p.prompt.as_str(), p.response.as_str())),
        _ => None,
    }
}
