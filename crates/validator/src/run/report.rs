//! The console table printed after every round (upstream's rich "Step" table).

use crate::step_record::StepRecord;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

fn fmt_score(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        format!("{x}")
    }
}

fn short_commit(c: &Option<String>) -> String {
    c.as_deref().map(|c| c.chars().take(8).collect()).unwrap_or_default()
}

/// The round as a table: one row per evaluated uid.
pub fn round_table(r: &StepRecord) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "uid",
        "model",
        "score",
        "win rate",
        "step weight",
        "comp weight",
        "subnet weight",
        "block",
        "note",
    ]);
    for (m, o) in r.models.iter().zip(&r.outcome) {
        let model = match &m.repo {
            Some(repo) => format!("{repo}@{}", short_commit(&m.commit)),
            None => "-".into(),
        };
        let note = match (&m.error, o.competitive) {
            (Some(e), _) => e.chars().take(60).collect(),
            (None, false) => "cannot beat an earlier model (anti-clone)".into(),
            (None, true) => String::new(),
        };
        table.add_row([
            Cell::new(m.uid).set_alignment(CellAlignment::Right),
            Cell::new(model),
            Cell::new(fmt_score(m.score)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.4}", o.win_rate)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.4}", o.weight)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.4}", r.competition_weights.get(&m.uid).copied().unwrap_or(0.0)))
                .set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.4}", r.subnet_weights.get(&m.uid).copied().unwrap_or(0.0)))
                .set_alignment(CellAlignment::Right),
            Cell::new(m.commit_block.map(|b| b.to_string()).unwrap_or_else(|| "-".into())),
            Cell::new(note),
        ]);
    }
    table
}

/// Prints the round's table to stdout, under a one-line heading.
pub fn print_round(r: &StepRecord) {
    println!(
        "\nround {} · competition {} ({}) · block {} · {} models · {:.1} s",
        r.step,
        r.competition_id,
        r.competition_name,
        r.block,
        r.models.len(),
        r.total_seconds
    );
    if let Some(v) = &r.vtrust {
        let fmt = |x: Option<f64>| x.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
        println!(
            "vtrust: {:.3} for our weights on chain, {} for the weights just submitted (chain's last epoch: {})",
            v.set,
            fmt(v.about_to_set),
            fmt(v.chain_stored)
        );
    }
    if let Some(last) = r.weights_submissions.last() {
        println!(
            "weights: {} submission(s) since the last round; the last {} at block {}",
            r.weights_submissions.len(),
            last.kind().replace('_', " "),
            last.included().block.number
        );
    }
    println!("{}", round_table(r));
}
