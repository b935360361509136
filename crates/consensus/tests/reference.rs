//! The epoch and the row estimate against `tests/fixtures/cases.json`, which
//! `tests/fixtures/make_fixtures.py` computes from the formulas alone, in exact fractions.

use consensus::{estimate_row, run_epoch, EpochInputs};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cases.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn case(name: &str) -> Value {
    cases().into_iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no case {name}"))
}

fn inputs_of(case: &Value) -> EpochInputs {
    serde_json::from_value(case["inputs"].clone()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn assert_close(ours: &[f64], expected: &[f64], what: &str) {
    assert_eq!(ours.len(), expected.len(), "{what}: length");
    for (uid, (a, b)) in ours.iter().zip(expected).enumerate() {
        assert!((a - b).abs() <= TOLERANCE, "{what}[{uid}]: ours {a}, reference {b}");
    }
}

#[test]
fn every_case_matches_the_exact_reference() {
    let all = cases();
    assert_eq!(all.len(), 20);
    for case in &all {
        let name = case["name"].as_str().unwrap();
        let out = run_epoch(&inputs_of(case)).unwrap();
        let expected = &case["expected"];
        let active: Vec<bool> = expected["active"].as_array().unwrap().iter().map(|b| b.as_bool().unwrap()).collect();
        assert_eq!(out.active, active, "{name}: active");
        assert_close(&out.active_stake, &floats(&expected["active_stake"]), &format!("{name}: active stake"));
        assert_close(&out.consensus, &floats(&expected["consensus"]), &format!("{name}: consensus"));
        assert_close(&out.validator_trust, &floats(&expected["validator_trust"]), &format!("{name}: validator trust"));
        assert_close(&out.incentive, &floats(&expected["incentive"]), &format!("{name}: incentive"));
    }
}

#[test]
fn row_estimates_match_the_exact_reference() {
    let mut checked = 0;
    for case in cases() {
        let Some(est) = case.get("estimate") else { continue };
        let name = case["name"].as_str().unwrap();
        let uid = est["uid"].as_u64().unwrap() as u16;
        let row: Vec<(u16, u16)> = serde_json::from_value(est["row"].clone()).unwrap();
        let ours = estimate_row(&inputs_of(&case), uid, &row).unwrap();
        let against = est["against_current_vtrust"].as_f64().unwrap();
        let substituted = est["substituted_vtrust"].as_f64().unwrap();
        assert!((ours.against_current.vtrust - against).abs() <= TOLERANCE, "{name}: against current");
        assert!((ours.with_row_substituted.vtrust - substituted).abs() <= TOLERANCE, "{name}: substituted");
        assert_close(
            &ours.substituted_epoch.consensus,
            &floats(&est["substituted_consensus"]),
            &format!("{name}: substituted consensus"),
        );
        checked += 1;
    }
    assert_eq!(checked, 5);
}

/// The cases only prove something if they sit where the answer flips.
#[test]
fn kappa_cases_flip_where_the_reference_says() {
    let consensus_of = |name: &str| run_epoch(&inputs_of(&case(name))).unwrap().consensus[2];
    let high = 60000.0 / 65535.0;
    let low = 20000.0 / 65535.0;
    assert!((consensus_of("kappa_32767_even_split") - high).abs() < TOLERANCE);
    assert!((consensus_of("kappa_32768_even_split") - low).abs() < TOLERANCE);
    assert!((consensus_of("kappa_32767_share_exactly_at_boundary") - 0.75).abs() < TOLERANCE);
    assert!((consensus_of("kappa_32768_share_exactly_at_boundary") - 0.25).abs() < TOLERANCE);
}

#[test]
fn a_validator_without_permit_or_activity_changes_nothing_however_it_votes() {
    for (name, uid) in [("validator_without_permit_ignored", 2usize), ("inactive_validator_ignored", 2)] {
        let base = inputs_of(&case(name));
        let before = run_epoch(&base).unwrap();
        let mut other = base.clone();
        other.weights[uid] = vec![(3, 1), (4, 65535)];
        other.stake[uid] *= 1000.0;
        let after = run_epoch(&other).unwrap();
        assert_close(&after.consensus, &before.consensus, name);
        assert_close(&after.incentive, &before.incentive, name);
        assert_eq!(after.active_stake[uid], 0.0, "{name}");
    }
}

#[test]
fn weights_older_than_a_registration_are_dropped_from_the_row() {
    let out = run_epoch(&inputs_of(&case("weight_before_registration_dropped"))).unwrap();
    // Uid 0 set weights at block 500: miners 3 (registered 600) and 4 (registered 500) drop out.
    assert_eq!(out.weights[0], vec![(5, 1.0)]);
    assert_eq!(out.weights[1].len(), 3);
}

#[test]
fn bad_inputs_are_refused_with_the_reason() {
    let base = inputs_of(&case("basic"));
    let mut short = base.clone();
    short.last_update.pop();
    assert_eq!(
        run_epoch(&short).unwrap_err().to_string(),
        "last_update has 6 entries but the subnet has 7 uids (the length of `stake`)"
    );
    let mut negative = base.clone();
    negative.stake[1] = -1.0;
    assert!(run_epoch(&negative).unwrap_err().to_string().contains("uid 1"));
    let mut duplicate = base.clone();
    duplicate.weights[0].push((3, 1));
    assert!(run_epoch(&duplicate).unwrap_err().to_string().contains("uid 3 twice"));
    assert!(estimate_row(&base, 99, &[]).unwrap_err().to_string().contains("uid 99"));
}
