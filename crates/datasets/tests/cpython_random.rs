//! The seed and the `random` port against outputs printed by CPython itself
//! (`tests/fixtures/cpython_random.py` → `cpython_random.json`).

use datasets::pyrandom::PyRandom;
use datasets::Seed;
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/cpython_random.json")).expect("fixture is JSON")
}

fn be_bytes_of_hex(hex_digits: &str) -> Vec<u8> {
    let padded = if hex_digits.len() % 2 == 1 { format!("0{hex_digits}") } else { hex_digits.to_string() };
    hex::decode(padded).unwrap()
}

fn hex_of_words(words: &[u32]) -> String {
    let mut s = String::new();
    for w in words.iter().rev() {
        s.push_str(&format!("{w:08x}"));
    }
    let trimmed = s.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

#[test]
fn block_hash_seed_matches_upstream_test_vector() {
    let f = fixture();
    let v = &f["seed_vector"];
    let seed = Seed::from_block_hash(v["block_hash"].as_str().unwrap()).unwrap();
    assert_eq!(seed.to_decimal(), v["seed_decimal"].as_str().unwrap());
    // The vector from upstream's tests/finetune/test_utils.py, independent of our fixture script.
    assert_eq!(seed.to_decimal(), "592572197532882810092427479703237300164718763613437077128565525142151814165");
    for b in f["block_seeds"].as_array().unwrap() {
        let seed = Seed::from_block_hash(b["block_hash"].as_str().unwrap()).unwrap();
        assert_eq!(seed.to_hex(), b["seed_hex"].as_str().unwrap());
    }
}

fn run_case(rng: &mut PyRandom, ops: &[Value], label: &str) {
    for (i, op) in ops.iter().enumerate() {
        let at = format!("{label} op #{i} {op}");
        match op["op"].as_str().unwrap() {
            "random" => {
                for want in op["value"].as_array().unwrap() {
                    assert_eq!(rng.random(), want.as_f64().unwrap(), "{at}");
                }
            }
            "getrandbits" => {
                let k = op["k"].as_u64().unwrap() as u32;
                assert_eq!(hex_of_words(&rng.getrandbits_words(k)), op["value"].as_str().unwrap(), "{at}");
            }
            "randint" => {
                let got = rng.randint(op["a"].as_i64().unwrap(), op["b"].as_i64().unwrap()).unwrap();
                assert_eq!(got, op["value"].as_i64().unwrap(), "{at}");
            }
            "randrange" => {
                let got = rng
                    .randrange(
                        op["start"].as_i64().unwrap(),
                        op["stop"].as_i64().unwrap(),
                        op["step"].as_i64().unwrap(),
                    )
                    .unwrap();
                assert_eq!(got, op["value"].as_i64().unwrap(), "{at}");
            }
            "choice" => {
                let pool: Vec<u64> = (0..op["n"].as_u64().unwrap()).collect();
                assert_eq!(*rng.choice(&pool).unwrap(), op["value"].as_u64().unwrap(), "{at}");
            }
            "shuffle" => {
                let mut x: Vec<u64> = (0..op["n"].as_u64().unwrap()).collect();
                rng.shuffle(&mut x);
                let want: Vec<u64> = op["value"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
                assert_eq!(x, want, "{at}");
            }
            "sample" => {
                let got =
                    rng.sample_indices(op["n"].as_u64().unwrap() as usize, op["k"].as_u64().unwrap() as usize).unwrap();
                let want: Vec<usize> =
                    op["value"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
                assert_eq!(got, want, "{at}");
            }
            other => panic!("unknown op {other}"),
        }
    }
}

#[test]
fn every_method_matches_cpython_for_every_seed() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let label = format!("seed {}", case["seed_decimal"].as_str().unwrap());
        let mut rng = PyRandom::from_magnitude_be(&be_bytes_of_hex(case["seed_abs_hex"].as_str().unwrap()));
        run_case(&mut rng, case["ops"].as_array().unwrap(), &label);
    }
}

#[test]
fn machine_int_seeds_use_the_absolute_value() {
    let f = fixture();
    let mut checked = 0;
    for case in f["cases"].as_array().unwrap() {
        let Ok(n) = case["seed_decimal"].as_str().unwrap().parse::<i128>() else { continue };
        let mut rng = PyRandom::from_int(n);
        run_case(&mut rng, case["ops"].as_array().unwrap(), &format!("int seed {n}"));
        checked += 1;
    }
    assert!(checked >= 8, "the fixture covers negative and multi-word machine ints");
}

#[test]
fn round_seed_drives_the_same_stream_as_python() {
    let f = fixture();
    let seed = Seed::from_block_hash(f["seed_vector"]["block_hash"].as_str().unwrap()).unwrap();
    let case = f["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["seed_decimal"] == f["seed_vector"]["seed_decimal"])
        .expect("the fixture has a case for the seed vector");
    run_case(&mut PyRandom::from_seed(&seed), case["ops"].as_array().unwrap(), "round seed");
}

#[test]
fn errors_match_python_conditions() {
    let mut rng = PyRandom::from_int(1);
    assert!(rng.randint(3, 2).is_err());
    assert!(rng.randrange(0, 10, 0).is_err());
    assert!(rng.randrange(0, 10, -1).is_err());
    assert!(rng.choice::<u8>(&[]).is_err());
    assert!(rng.sample_indices(3, 4).is_err());
}
