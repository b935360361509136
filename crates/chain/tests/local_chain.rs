//! The file-backed local chain: commitments read back with their block, weights under the
//! rate limit and u16 rules, state surviving a reopen, and concurrent writers (threads and
//! processes) never corrupting the file.

use chain::local::{block_hash, LocalChain, LocalChainConfig};
use chain::{AccountId, Chain, ChainError, Data, Hyperparameters, SetWeightsError, WeightsSubmission};
use std::path::Path;
use std::time::Duration;

fn key(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn config(block_ms: u64) -> LocalChainConfig {
    LocalChainConfig { chain_id: "test-chain".into(), block_time: Duration::from_millis(block_ms) }
}

fn weights(uids: &[u16], w: &[u16], version_key: u64) -> WeightsSubmission {
    WeightsSubmission { uids: uids.to_vec(), weights: w.to_vec(), version_key }
}

/// A subnet 37 with a validator (uid 0) and two miners.
fn subnet(path: &Path) -> LocalChain {
    let chain = LocalChain::create(path, &config(60_000)).unwrap();
    chain
        .set_hyperparameters(
            37,
            Hyperparameters { weights_rate_limit: 10, weights_version_key: 5, ..Default::default() },
        )
        .unwrap();
    assert_eq!(chain.register(37, key(1), key(100), 200_000.5, true).unwrap(), 0);
    assert_eq!(chain.register(37, key(2), key(100), 1.0, false).unwrap(), 1);
    assert_eq!(chain.register(37, key(3), key(101), 0.0, false).unwrap(), 2);
    chain
}

#[tokio::test]
async fn blocks_have_deterministic_hashes_and_advance_with_time() {
    let dir = tempfile::tempdir().unwrap();
    let chain = LocalChain::create(&dir.path().join("chain.json"), &config(20)).unwrap();
    let first = chain.head().await.unwrap();
    assert!(first.number >= 1);
    assert_eq!(first.hash, block_hash("test-chain", first.number));
    let text = first.hash.to_string();
    assert!(text.starts_with("0x") && text.len() == 66 && text == text.to_lowercase());
    tokio::time::sleep(Duration::from_millis(70)).await;
    let later = chain.head().await.unwrap();
    assert!(later.number >= first.number + 3, "{first:?} then {later:?}");
    assert_eq!(chain.block(first.number).await.unwrap(), first);
    assert!(matches!(chain.block(later.number + 1000).await, Err(ChainError::BlockNotFound(_))));
}

#[tokio::test]
async fn commit_reads_back_with_the_block_it_was_made_at() {
    let dir = tempfile::tempdir().unwrap();
    let chain = subnet(&dir.path().join("chain.json"));
    let text = "ns:model:0123456789abcdef0123456789abcdef01234567:aGFzaA==:1";
    let at_commit = chain.commit(37, key(2), text).unwrap();
    chain.advance(5).unwrap();
    let long = "x".repeat(300);
    let at_second = chain.commit(37, key(3), &long).unwrap();
    assert_eq!(at_second.number, at_commit.number + 5);

    let head = chain.head().await.unwrap();
    let commitments = chain.commitments(37, &head).await.unwrap();
    assert_eq!(commitments.len(), 2);
    let c = &commitments[&key(2)];
    assert_eq!(c.block, at_commit.number);
    assert_eq!(c.text(), Ok(text));
    assert_eq!(commitments[&key(3)].fields, vec![Data::BigRaw(long.clone().into_bytes())]);

    // At the first commit's block the second did not exist yet.
    let earlier = chain.commitments(37, &at_commit).await.unwrap();
    assert_eq!(earlier.keys().collect::<Vec<_>>(), vec![&key(2)]);

    // A re-commit replaces text and block.
    chain.advance(1).unwrap();
    let again = chain.commit(37, key(2), "ns:model2:aa:bb:1").unwrap();
    let now = chain.commitments(37, &chain.head().await.unwrap()).await.unwrap();
    assert_eq!((now[&key(2)].block, now[&key(2)].text()), (again.number, Ok("ns:model2:aa:bb:1")));

    assert!(chain.commit(37, key(9), "x").unwrap_err().to_string().contains("not registered"));
    assert!(chain.commit(37, key(2), &"y".repeat(513)).unwrap_err().to_string().contains("at most 512"));
}

#[tokio::test]
async fn metagraph_reports_stake_permits_and_last_update() {
    let dir = tempfile::tempdir().unwrap();
    let chain = subnet(&dir.path().join("chain.json")).with_signer(key(1));
    chain.set_weights(37, &weights(&[1, 2], &[65535, 10], 5)).await.unwrap();
    let head = chain.head().await.unwrap();
    let mg = chain.metagraph(37, &head).await.unwrap();
    assert_eq!(mg.n(), 3);
    assert_eq!(mg.neurons[0].stake_rao, 200_000_500_000_000);
    assert_eq!(mg.neurons[0].stake_tao, 200_000.5);
    assert!(mg.neurons[0].validator_permit && !mg.neurons[1].validator_permit);
    assert_eq!(mg.neurons[0].last_update, head.number);
    assert_eq!(mg.uid_of(&key(3)), Some(2));
    let rows = chain.weights(37, &head).await.unwrap();
    assert_eq!(rows[&0], vec![(1, 65535), (2, 10)]);
}

#[tokio::test]
async fn weights_too_fast_are_refused_with_blocks_left() {
    let dir = tempfile::tempdir().unwrap();
    let chain = subnet(&dir.path().join("chain.json")).with_signer(key(1));
    let first = chain.set_weights(37, &weights(&[1], &[65535], 5)).await.unwrap();
    chain.advance(4).unwrap();
    match chain.set_weights(37, &weights(&[2], &[65535], 5)).await {
        Err(SetWeightsError::TooSoon { blocks_left, rate_limit, last_update, .. }) => {
            assert_eq!((blocks_left, rate_limit, last_update), (6, 10, first.block.number));
        }
        other => panic!("expected TooSoon, got {other:?}"),
    }
    // Nothing was recorded by the refused submission.
    let rows = chain.weights(37, &chain.head().await.unwrap()).await.unwrap();
    assert_eq!(rows[&0], vec![(1, 65535)]);
    chain.advance(6).unwrap();
    let second = chain.set_weights(37, &weights(&[2], &[65535], 5)).await.unwrap();
    assert_eq!(second.block.number, first.block.number + 10);
}

#[tokio::test]
async fn weights_follow_the_u16_vector_and_version_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.json");
    let chain = subnet(&path).with_signer(key(1));
    let err = |r: Result<_, SetWeightsError>| r.unwrap_err().to_string();
    assert!(err(chain.set_weights(37, &weights(&[1, 2], &[1], 5)).await).contains("WeightVecNotEqualSize"));
    assert!(err(chain.set_weights(37, &weights(&[1, 1], &[1, 2], 5)).await).contains("DuplicateUids"));
    assert!(err(chain.set_weights(37, &weights(&[7], &[1], 5)).await).contains("UidVecContainInvalidOne"));
    assert!(matches!(
        chain.set_weights(37, &weights(&[1], &[1], 4)).await,
        Err(SetWeightsError::VersionKeyTooLow { given: 4, required: 5 })
    ));
    chain.set_hyperparameters(37, Hyperparameters { commit_reveal_enabled: true, ..Default::default() }).unwrap();
    assert!(matches!(
        chain.set_weights(37, &weights(&[1], &[1], 5)).await,
        Err(SetWeightsError::CommitRevealRequired { netuid: 37 })
    ));
    chain.set_hyperparameters(37, Hyperparameters { min_allowed_weights: 2, ..Default::default() }).unwrap();
    assert_eq!(
        chain.set_weights(37, &weights(&[1], &[1], 5)).await.unwrap_err().dispatch_error_name(),
        Some("WeightVecLengthIsLow")
    );
    let stranger = LocalChain::open(&path).unwrap().with_signer(key(9));
    assert!(matches!(
        stranger.set_weights(37, &weights(&[1], &[1], 5)).await,
        Err(SetWeightsError::NotRegistered { .. })
    ));
    let unsigned = LocalChain::open(&path).unwrap();
    assert!(matches!(unsigned.set_weights(37, &weights(&[1], &[1], 5)).await, Err(SetWeightsError::NoHotkey)));
}

#[tokio::test]
async fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.json");
    let block = {
        let chain = subnet(&path).with_signer(key(1));
        chain.commit(37, key(2), "ns:m:c:h:1").unwrap();
        chain.set_weights(37, &weights(&[1], &[65535], 5)).await.unwrap();
        chain.head().await.unwrap()
    };
    let reopened = LocalChain::open(&path).unwrap();
    assert_eq!(reopened.block(block.number).await.unwrap(), block);
    assert_eq!(reopened.commitments(37, &block).await.unwrap()[&key(2)].text(), Ok("ns:m:c:h:1"));
    assert_eq!(reopened.weights(37, &block).await.unwrap()[&0], vec![(1, 65535)]);
    let hyper = reopened.hyperparameters(37, &block).await.unwrap();
    assert_eq!((hyper.weights_rate_limit, hyper.weights_version_key), (10, 5));
    assert!(LocalChain::create(&path, &config(1000)).unwrap_err().to_string().contains("already exists"));
    // A block of another chain is refused, not silently read.
    let foreign = chain::Block { number: block.number, hash: block_hash("other-chain", block.number) };
    assert!(matches!(reopened.metagraph(37, &foreign).await, Err(ChainError::WrongBlock { .. })));
    std::fs::write(&path, "{ not json").unwrap();
    assert!(LocalChain::open(&path).unwrap_err().to_string().contains("not a local chain state file"));
}

#[test]
fn concurrent_threads_do_not_lose_or_corrupt_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.json");
    LocalChain::create(&path, &config(60_000)).unwrap().set_hyperparameters(1, Hyperparameters::default()).unwrap();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let chain = LocalChain::open(&path).unwrap();
                for i in 0..10u8 {
                    chain.register(1, key(t * 10 + i + 1), key(200), 1.0, false).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = LocalChain::open(&path).unwrap();
    let head = rt.block_on(chain.head()).unwrap();
    let mg = rt.block_on(chain.metagraph(1, &head)).unwrap();
    assert_eq!(mg.n(), 40, "every registration from every thread is there");
    let uids: Vec<u16> = mg.neurons.iter().map(|n| n.uid).collect();
    assert_eq!(uids, (0..40).collect::<Vec<_>>());
}

/// Child side of the two-process test: registers 15 hotkeys in the chain named by env vars.
#[test]
#[ignore = "run by two_processes_share_one_chain_file in child processes"]
fn child_process_registers() {
    let (Ok(path), Ok(base)) = (std::env::var("LOCAL_CHAIN_CHILD_PATH"), std::env::var("LOCAL_CHAIN_CHILD_BASE"))
    else {
        return; // Only does something when the parent test starts it.
    };
    let base: u8 = base.parse().unwrap();
    let chain = LocalChain::open(Path::new(&path)).unwrap();
    for i in 0..15u8 {
        chain.register(1, key(base + i), key(200), 1.0, false).unwrap();
        chain.commit(1, key(base + i), &format!("child {base} commit {i}")).unwrap();
    }
}

#[test]
fn two_processes_share_one_chain_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.json");
    LocalChain::create(&path, &config(60_000)).unwrap().set_hyperparameters(1, Hyperparameters::default()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = [1u8, 101]
        .iter()
        .map(|base| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_process_registers", "--ignored", "--test-threads=1"])
                .env("LOCAL_CHAIN_CHILD_PATH", &path)
                .env("LOCAL_CHAIN_CHILD_BASE", base.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = LocalChain::open(&path).unwrap();
    let head = rt.block_on(chain.head()).unwrap();
    assert_eq!(rt.block_on(chain.metagraph(1, &head)).unwrap().n(), 30);
    assert_eq!(rt.block_on(chain.commitments(1, &head)).unwrap().len(), 30);
}
