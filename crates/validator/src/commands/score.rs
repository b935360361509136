//! `score FILE`: replay a step's scoring from its record.

use anyhow::{bail, Context, Result};
use scoring::record::ScoringRecord;
use serde_json::Value;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A scoring record: a JSON object that is either the record itself, or holds it under
    /// `input` (a golden score file, a step record). A file of several such objects, one per
    /// line, is replayed line by line.
    file: PathBuf,
}

/// Finds the scoring record in one JSON document.
fn record_from(value: Value) -> Result<ScoringRecord> {
    let value = match value {
        Value::Object(mut map) if map.contains_key("input") => map.remove("input").unwrap_or_default(),
        other => other,
    };
    let record: ScoringRecord = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("invalid scoring record at `{path}`: {}", e.into_inner())
    })?;
    Ok(record)
}

fn documents(text: &str) -> Result<Vec<(usize, Value)>> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(vec![(1, v)]);
    }
    let mut docs = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v = serde_json::from_str(line).with_context(|| format!("line {} is not valid JSON", i + 1))?;
        docs.push((i + 1, v));
    }
    if docs.is_empty() {
        bail!("the file is empty");
    }
    Ok(docs)
}

pub fn run(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let docs = documents(&text).with_context(|| format!("{}", args.file.display()))?;
    let many = docs.len() > 1;
    for (line, doc) in docs {
        let where_ =
            if many { format!("{} line {line}", args.file.display()) } else { args.file.display().to_string() };
        let outcome = record_from(doc).and_then(|r| Ok(r.compute()?)).with_context(|| where_)?;
        println!("{}", serde_json::to_string(&outcome)?);
    }
    Ok(())
}
