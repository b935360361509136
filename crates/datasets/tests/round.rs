//! The task loading rule: a round loads every task of its competition or is skipped with the
//! failing task named; the real schedules' tasks load with their kwargs.

mod common;

use common::{datasets_server, fast_policy, wandb_server, Faults};
use datasets::cortex::wandb::WandbClient;
use datasets::generated::word_list::WordList;
use datasets::hf::DatasetsServer;
use datasets::hf::HfError;
use datasets::http::FetchError;
use datasets::{load_round, CortexSource, LoadError, Round, SampleBody, Seed, Sources};
use scoring::competition::{DatasetId, EvalTask};
use scoring::Schedule;
use serde_json::{json, Value};
use std::time::SystemTime;

fn task(v: Value) -> EvalTask {
    serde_json::from_value(v).unwrap()
}

fn round() -> Round {
    Round {
        seed: Seed::from_block_hash("0xf0c1d88fffb58f2de2798abb2236460f426b02a9c84cad7463188eff75140bd2").unwrap(),
        sync_block: 5_158_632,
        now: SystemTime::now(),
    }
}

fn dyck_task() -> EvalTask {
    task(json!({"name": "DYCK", "method": "reference_loss", "dataset": "dyck_language",
                "dataset_kwargs": {"samples": 10}, "weight": 0.5}))
}

fn fineweb_task() -> EvalTask {
    task(json!({"name": "FINEWEB", "method": "text_loss", "dataset": "fineweb",
                "dataset_kwargs": {"num_pages": 1, "num_rows_per_page": 5}, "weight": 0.5}))
}

fn fineweb_data() -> Value {
    let rows: Vec<Value> = (0..20).map(|i| json!({"text": format!("doc {i}")})).collect();
    json!({"HuggingFaceFW/fineweb-edu-score-2": {
        "splits": [{"config": "CC-MAIN-X", "split": "train", "num_rows": 20}, {"config": "default", "split": "train", "num_rows": 20}],
        "rows": {"CC-MAIN-X": rows}}})
}

#[tokio::test]
async fn a_remote_outage_skips_the_round_and_names_the_task() {
    let server = datasets_server(fineweb_data()).await;
    let sources = Sources {
        datasets_server: Some(DatasetsServer::new(&server.base, fast_policy(3)).unwrap()),
        ..Sources::default()
    };
    let tasks = [dyck_task(), fineweb_task()];
    let ok = load_round(&tasks, &round(), &sources).await.unwrap();
    assert_eq!(
        ok.iter().map(|t| (t.task.as_str(), t.samples.len())).collect::<Vec<_>>(),
        [("DYCK", 10), ("FINEWEB", 5)]
    );

    server.set_faults(Faults { outage: Some(503), ..Faults::default() });
    let skipped = load_round(&tasks, &round(), &sources).await.unwrap_err();
    assert_eq!(skipped.task, "FINEWEB");
    assert_eq!(skipped.dataset, DatasetId::Fineweb);
    assert!(matches!(
        skipped.cause,
        LoadError::DatasetsServer(HfError::Fetch(FetchError::Status { status: 503, attempts: 3, .. }))
    ));
    let message = skipped.to_string();
    assert!(message.starts_with("round skipped: task FINEWEB (Fineweb) could not be loaded:"), "{message}");
    assert!(message.contains("HTTP 503"), "{message}");
}

#[tokio::test]
async fn a_wandb_outage_skips_a_cortex_round() {
    let server = wandb_server(json!({"runs": [], "history": {}})).await;
    server.set_faults(Faults { outage: Some(502), ..Faults::default() });
    let sources = Sources {
        cortex: Some(CortexSource {
            client: WandbClient::new(&server.base, "k", fast_policy(2)).unwrap(),
            validator_hotkeys: ["5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".to_string()].into(),
        }),
        ..Sources::default()
    };
    let tasks = Schedule::upstream_2024().entries[0].competitions[0].eval_tasks.clone();
    let skipped = load_round(&tasks, &round(), &sources).await.unwrap_err();
    assert_eq!((skipped.task.as_str(), skipped.dataset), ("CORTEX", DatasetId::Cortex));
    assert!(skipped.to_string().contains("HTTP 502"), "{skipped}");
    assert_eq!(server.log().len(), 2);
}

#[tokio::test]
async fn missing_sources_and_unported_datasets_skip_the_round() {
    let sources = Sources::default();
    let skipped = load_round(&[dyck_task(), fineweb_task()], &round(), &sources).await.unwrap_err();
    assert!(matches!(skipped.cause, LoadError::NoSource(_)), "{skipped}");
    let mmlu = task(json!({"name": "SYNTHETIC_MMLU", "method": "multiple_choice", "dataset": "synthetic_mmlu",
                           "dataset_kwargs": {"max_samples": 700}, "weight": 1.0}));
    let skipped = load_round(&[mmlu], &round(), &sources).await.unwrap_err();
    assert_eq!(skipped.task, "SYNTHETIC_MMLU");
    assert!(matches!(skipped.cause, LoadError::Unsupported(DatasetId::SyntheticMmlu)));
}

#[tokio::test]
async fn localnet_schedule_loads_offline() {
    let sources = Sources::default();
    sources.word_list.set(WordList::parse(include_str!("fixtures/wordlist_synthetic.txt"), "synthetic")).unwrap();
    let comp = &Schedule::localnet().entries[0].competitions[0];
    let loaded = load_round(&comp.eval_tasks, &round(), &sources).await.unwrap();
    assert_eq!(loaded.len(), comp.eval_tasks.len());
    for (t, l) in comp.eval_tasks.iter().zip(&loaded) {
        assert_eq!((t.name.as_str(), t.dataset), (l.task.as_str(), l.dataset));
        assert_eq!(l.samples.len() as u64, t.dataset_kwargs["samples"].as_u64().unwrap());
    }
}

#[tokio::test]
async fn the_2025_reasoning_competition_loads_with_its_schedule_kwargs() {
    // The loopback server serves the fixture's reasoning rows under the real dataset names.
    let f: Value = serde_json::from_str(include_str!("fixtures/hf_upstream.json")).unwrap();
    // Codeforces configs as large as the real ones' first pages need (120-row pages).
    let cf_rows: Vec<Value> = f["datasets"]["test/codeforces"]["rows"]["solutions"]
        .as_array()
        .unwrap()
        .iter()
        .cycle()
        .take(400)
        .cloned()
        .collect();
    let data = json!({
        "PrimeIntellect/SYNTHETIC-1-SFT-Data": f["datasets"]["test/synthetic"],
        "open-r1/codeforces-cots": {
            "splits": [{"config": "default", "split": "train", "num_rows": 400},
                       {"config": "solutions", "split": "train", "num_rows": 400},
                       {"config": "solutions_py", "split": "train", "num_rows": 400}],
            "rows": {"solutions": cf_rows, "solutions_py": cf_rows},
        },
    });
    let server = datasets_server(data).await;
    let sources = Sources {
        datasets_server: Some(DatasetsServer::new(&server.base, fast_policy(2)).unwrap()),
        ..Sources::default()
    };
    let schedule = Schedule::upstream_2025();
    let comp =
        schedule.competitions_at(5_158_632).unwrap().iter().find(|c| c.name == "DISTILLED_REASONING_3B").unwrap();
    let loaded = load_round(&comp.eval_tasks, &round(), &sources).await.unwrap();
    assert_eq!(loaded[0].dataset, DatasetId::Synthetic1Sft);
    assert_eq!(loaded[0].samples.len(), 120, "target_size");
    assert_eq!(loaded[1].dataset, DatasetId::CodeforcesCots);
    assert!(!loaded[1].samples.is_empty());
}

#[tokio::test]
async fn jsonl_rows_load_and_malformed_lines_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.jsonl");
    let mut lines = vec![
        json!({"prompt": "p0", "response": "r0"}).to_string(),
        "not json".to_string(),
        String::new(),
        json!({"prompt": "p1", "response": "r1", "system": "be brief"}).to_string(),
        json!({"text": "only text"}).to_string(),
    ];
    for i in 2..12 {
        lines.push(json!({"prompt": format!("p{i}"), "response": format!("r{i}")}).to_string());
    }
    std::fs::write(&path, lines.join("\n")).unwrap();
    let t = |max: Option<u64>| {
        let mut kw = json!({"path": path.to_str().unwrap()});
        if let Some(m) = max {
            kw["max_samples"] = json!(m);
        }
        task(
            json!({"name": "MINE", "method": "reference_loss", "dataset": "jsonl", "dataset_kwargs": kw, "weight": 1.0}),
        )
    };
    let all = load_round(&[t(None)], &round(), &Sources::default()).await.unwrap().remove(0);
    assert_eq!((all.samples.len(), all.malformed), (12, 2));
    let SampleBody::PromptResponse(p) = &all.samples[1].body else { panic!() };
    assert_eq!((p.system.as_deref(), p.prompt.as_str()), (Some("be brief"), "p1"));

    // Above max_samples the seed picks `random.sample(range(12), 5)`, the same on every validator.
    let some = load_round(&[t(Some(5))], &round(), &Sources::default()).await.unwrap().remove(0);
    let again = load_round(&[t(Some(5))], &round(), &Sources::default()).await.unwrap().remove(0);
    assert_eq!(some.samples.len(), 5);
    assert_eq!(some, again);
    let keep = datasets::pyrandom::PyRandom::from_seed(&round().seed).sample_indices(12, 5).unwrap();
    assert_eq!(some.samples, keep.iter().map(|&i| all.samples[i].clone()).collect::<Vec<_>>());

    let bad = task(json!({"name": "MINE", "method": "text_loss", "dataset": "jsonl",
                          "dataset_kwargs": {"path": "/nonexistent/x.jsonl"}, "weight": 1.0}));
    let skipped = load_round(&[bad], &round(), &Sources::default()).await.unwrap_err();
    assert!(skipped.to_string().contains("/nonexistent/x.jsonl"), "{skipped}");
}
