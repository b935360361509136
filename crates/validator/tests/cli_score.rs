//! `score` and `model-hash` through the real binary: golden replays, and bad input refused with a
//! message that names the problem.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sn37-validator"))
}

fn golden_dir() -> PathBuf {
    let dir = match std::env::var_os("SN37_SHARED_DIR") {
        Some(d) => PathBuf::from(d).join("golden"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"),
    };
    assert!(dir.is_dir(), "golden vectors not found at {}", dir.display());
    dir
}

fn score(path: &Path) -> Output {
    bin().arg("score").arg(path).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn replays_every_golden_score_file() {
    let mut n = 0;
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("score-") {
            continue;
        }
        n += 1;
        let out = score(&path);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (g, w) in got["models"].as_array().unwrap().iter().zip(case["expected"]["models"].as_array().unwrap()) {
            assert_eq!(g["uid"], w["uid"]);
            assert_eq!(g["wins"], w["wins"]);
            assert_eq!(g["win_rate"].as_f64(), w["win_rate"].as_f64());
            let (gw, ww) = (g["weight"].as_f64().unwrap(), w["weight"].as_f64().unwrap());
            assert!((gw - ww).abs() <= 1e-12 * ww.abs(), "{}: {gw} vs {ww}", path.display());
        }
    }
    assert_eq!(n, 20);
}

#[test]
fn the_bare_input_object_and_jsonl_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir().join("score-037.json")).unwrap()).unwrap();
    let input = case["input"].to_string();
    let one = score(&write(dir.path(), "one.json", &input));
    assert!(one.status.success(), "{}", stderr(&one));
    let many = score(&write(dir.path(), "many.jsonl", &format!("{input}\n{{\"input\":{input}}}\n")));
    assert!(many.status.success(), "{}", stderr(&many));
    let lines: Vec<&str> = std::str::from_utf8(&many.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], String::from_utf8_lossy(&one.stdout).trim());
}

#[test]
fn bad_input_exits_non_zero_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let head = r#""current_block":10,"epsilon":{"fixed":0.005},"weighting":"winner_takes_all""#;
    let cases = [
        ("malformed.json", "{\"current_block\": 10,".to_string(), "not valid JSON"),
        ("missing.json", format!("{{{head}, \"models\": []}}"), "missing field `mode`"),
        ("mode.json", format!("{{{head}, \"mode\": \"best_of\", \"models\": []}}"), "unknown variant `best_of`"),
        ("empty.json", format!("{{{head}, \"mode\": \"score\", \"models\": []}}"), "no models"),
        (
            "lengths.json",
            format!(
                "{{{head}, \"mode\": \"per_sample\", \"models\": [{{\"uid\":1,\"block\":1,\"losses\":[1.0,2.0]}},{{\"uid\":2,\"block\":2,\"losses\":[1.0]}}]}}"
            ),
            "same length",
        ),
        (
            "field.json",
            format!("{{{head}, \"mode\": \"score\", \"models\": [{{\"uid\":1,\"block\":1,\"score\":\"lots\"}}]}}"),
            "models[0].score",
        ),
    ];
    for (name, text, needle) in cases {
        let out = score(&write(dir.path(), name, &text));
        assert!(!out.status.success(), "{name} should fail");
        let err = stderr(&out);
        assert!(err.contains(needle), "{name}: expected {needle:?} in {err:?}");
    }
    let out = score(&dir.path().join("absent.json"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
}

#[test]
fn model_hash_matches_the_upstream_vector() {
    // taoverse's own test: two files holding "test text." hash to this directory hash.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "test1.txt", "test text.");
    write(dir.path(), "test2.txt", "test text.");
    let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    let out = bin().arg("model-hash").arg(dir.path()).args(["--hotkey", alice, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["directory_hash"], "rzfrK2kpRaaPUO/FRaNL5l7J8FrjMSlpkixOIftUk+M=");
    assert_eq!(v["secure_hash"], scoring::hashing::secure_hash("rzfrK2kpRaaPUO/FRaNL5l7J8FrjMSlpkixOIftUk+M=", alice));
    let missing = bin().arg("model-hash").arg(dir.path().join("nope")).args(["--hotkey", alice]).output().unwrap();
    assert!(!missing.status.success());
}
