//! Invariants of the scoring core over random inputs.

use proptest::prelude::*;
use scoring::competition::WinMode;
use scoring::emit::to_u16_weights;
use scoring::epsilon::Epsilon;
use scoring::record::{ModelEntry, ScoringRecord};
use scoring::tracker::{CompetitionTracker, TrackerParams};
use scoring::weights::{softmax, Weighting};
use scoring::wins::is_win;

fn epsilon() -> impl Strategy<Value = Epsilon> {
    prop_oneof![
        (0.0..0.5f64).prop_map(Epsilon::Fixed),
        (0.0..0.5f64, 0.0..1.0f64, 1..100_000u64).prop_map(|(start, frac, decay_blocks)| Epsilon::LinearDecay {
            start,
            end: start * frac,
            decay_blocks
        }),
    ]
}

proptest! {
    #[test]
    fn softmax_sums_to_one(rates in prop::collection::vec(0.0..=1.0f64, 1..64), t in 0.001..10.0f64) {
        let w = softmax(&rates, t);
        let sum: f64 = w.iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-9, "sum {}", sum);
        prop_assert!(w.iter().all(|x| (0.0..=1.0).contains(x)));
    }

    #[test]
    fn u16_max_is_65535_unless_all_zero(weights in prop::collection::vec(prop_oneof![Just(0.0), 0.0..1.0f64], 1..256)) {
        let uids: Vec<i64> = (0..weights.len() as i64).collect();
        let (u, w) = to_u16_weights(&uids, &weights).unwrap();
        prop_assert_eq!(u.len(), w.len());
        if weights.iter().all(|x| *x == 0.0) {
            prop_assert!(w.is_empty());
        } else {
            prop_assert_eq!(w.iter().copied().max(), Some(65535));
            prop_assert!(w.iter().all(|x| *x > 0));
        }
    }

    #[test]
    fn epsilon_never_grows_with_age(e in epsilon(), model in 0..1_000_000u64, a in 0..200_000u64, b in 0..200_000u64) {
        let (near, far) = (a.min(b), a.max(b));
        prop_assert!(e.compute(model + far, model) <= e.compute(model + near, model));
    }

    #[test]
    fn an_earlier_identical_model_never_loses_to_a_later_clone(
        e in epsilon(), loss in prop_oneof![0.0..100.0f64, Just(f64::INFINITY)],
        early in 0..1_000_000u64, gap in 1..100_000u64, age in 0..200_000u64,
    ) {
        let later = early + gap;
        let current = later + age;
        prop_assert!(!is_win(loss, loss, Some(later), Some(early), &e, current));
        // And in a whole scoring round, in both modes.
        for mode in [WinMode::Score, WinMode::PerSample] {
            let entry = |uid, block| ModelEntry {
                uid, block: Some(block),
                losses: (mode == WinMode::PerSample).then(|| vec![loss; 3]),
                score: (mode == WinMode::Score).then_some(loss),
            };
            let record = ScoringRecord {
                current_block: current, epsilon: e, mode, weighting: Weighting::WinnerTakesAll,
                anti_clone: false, models: vec![entry(1, early), entry(2, later)],
            };
            let out = record.compute().unwrap();
            prop_assert!(out.models[0].weight >= out.models[1].weight);
            prop_assert_eq!(out.models[1].wins, 0);
        }
    }

    #[test]
    fn tracker_weights_stay_in_unit_interval(
        steps in prop::collection::vec((0..3i64, prop::collection::vec(prop_oneof![Just(0.0), 0.0..5.0f64], 4..10)), 1..30),
        latest in any::<bool>(),
    ) {
        let params = if latest { TrackerParams::LATEST_2025 } else { TrackerParams::SUMMER_2024 };
        let mut t = CompetitionTracker::new(4);
        let schedule = [(0, 0.5), (1, 0.3), (2, 0.2)];
        for (comp, weights) in steps {
            // The metagraph only grows; a shorter vector is padded as the validator would.
            let mut w = weights;
            if w.len() < t.num_neurons() { w.resize(t.num_neurons(), 0.0); }
            t.record(comp, &w, &params).unwrap();
            let subnet = t.subnet_weights(&schedule, &params);
            prop_assert!(subnet.iter().all(|x| x.is_finite() && (0.0..=1.0 + 1e-12).contains(x)), "{:?}", subnet);
            for (_, cw) in t.competitions() {
                prop_assert!(cw.iter().all(|x| x.is_finite() && (0.0..=1.0 + 1e-12).contains(x)), "{:?}", cw);
            }
        }
    }
}
