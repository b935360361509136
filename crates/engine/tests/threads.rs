//! `limit_threads(1)` really confines tensor work to one thread: no compute threads appear
//! while a model runs, and the process never uses more CPU time than wall time.
//! (Its own test binary: the thread pools are per process and fixed at first use.)

mod common;

use common::*;
use engine::{LoadOptions, Model, ScoreOptions, Sequence};

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// utime + stime of this process, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn one_thread_means_one_compute_thread() {
    engine::limit_threads(1).unwrap();
    assert!(engine::limit_threads(2).is_err(), "the count is fixed once set");
    assert_eq!(rayon::current_num_threads(), 1);
    let model = Model::load(&fixtures_dir().join("llama"), &LoadOptions::default()).unwrap();
    let warm = model.score(&[Sequence { ids: vec![1, 2, 3], score_from: 1 }], &ScoreOptions::default()).unwrap();
    assert!(warm[0].is_ok());
    let before = os_threads();

    // Enough work (several seconds of attention over 6000 positions) for parallel code to show.
    let base = ids(&expected(&fixtures_dir().join("llama"))["text_loss"][1]["input_ids"]);
    let long: Vec<u32> = base.iter().cycle().take(6000).copied().collect();
    let (ticks0, wall0) = (cpu_ticks(), std::time::Instant::now());
    let r = model.score(&[Sequence { ids: long, score_from: 1 }], &ScoreOptions::default()).unwrap();
    let (ticks, wall) = (cpu_ticks() - ticks0, wall0.elapsed().as_secs_f64());
    assert!(r[0].as_ref().unwrap().loss.is_finite());
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("comm")).unwrap().trim().to_string())
        .collect();
    assert_eq!(os_threads(), before, "no compute threads were started: {names:?}");
    let cpu = ticks as f64 / 100.0; // USER_HZ is 100 on Linux
    assert!(cpu <= wall * 1.1 + 0.05, "cpu {cpu:.2} s over wall {wall:.2} s: more than one thread computed");
}
