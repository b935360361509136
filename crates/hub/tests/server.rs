//! The local hub speaks the Hugging Face routes: checked with plain HTTP requests and with our
//! client (listing, pagination, small files, errors).

mod common;

use common::*;
use hub::client::{HubClient, HubError};
use hub::server::{HubServer, LocalHub, ServerOptions};

async fn start(page_size: usize) -> (tempfile::TempDir, LocalHub, hub::server::RunningHub) {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalHub::open(dir.path()).unwrap();
    let opts = ServerOptions { page_size, ..ServerOptions::default() };
    let server = HubServer::new(local.clone(), opts).start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (dir, local, server)
}

#[tokio::test]
async fn commits_and_revision_info() {
    let (_d, local, server) = start(1000).await;
    let first = local.commit_files("ns/repo", &[("config.json", b"{}"), ("sub/a.txt", b"hello")]).unwrap();
    let second = local.commit_files("ns/repo", &[("config.json", b"{\"v\":2}")]).unwrap();
    assert!(scoring::commitment::is_full_commit_sha(&first) && first != second);
    let http = reqwest::Client::new();
    let info: serde_json::Value = http
        .get(format!("{}/api/models/ns/repo/revision/main?blobs=true", server.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    assert_eq!(info["sha"], second.as_str());
    assert_eq!(
        info["siblings"],
        serde_json::json!([{ "rfilename": "config.json", "size": 7, "blobId": info["siblings"][0]["blobId"] }])
    );
    let old: serde_json::Value = http
        .get(format!("{}/api/models/ns/repo/revision/{first}", server.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    assert_eq!(
        old["siblings"],
        serde_json::json!([{ "rfilename": "config.json" }, { "rfilename": "sub/a.txt" }]),
        "sizes only with blobs=true"
    );

    for (url, code) in [
        (format!("{}/api/models/ns/nope/revision/main", server.url()), "RepoNotFound"),
        (format!("{}/api/models/ns/repo/revision/{}", server.url(), "a".repeat(40)), "RevisionNotFound"),
        (format!("{}/ns/repo/resolve/{first}/missing.json", server.url()), "EntryNotFound"),
    ] {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{url}");
        assert_eq!(resp.headers()["x-error-code"], code, "{url}");
    }
}

#[tokio::test]
async fn resolve_serves_headers_ranges_and_head() {
    let (_d, local, server) = start(1000).await;
    let content: Vec<u8> = (0..100u8).collect();
    let sha = local.commit_files("ns/repo", &[("model.safetensors", &content)]).unwrap();
    let url = format!("{}/ns/repo/resolve/{sha}/model.safetensors", server.url());
    let http = reqwest::Client::new();
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    use sha2::Digest;
    let etag = format!("\"{:x}\"", sha2::Sha256::digest(&content));
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert_eq!(head.headers()["x-repo-commit"], sha.as_str());
    assert_eq!(head.headers()["content-length"], "100");
    assert_eq!(head.headers()["x-linked-size"], "100");
    assert_eq!(head.headers()["accept-ranges"], "bytes");
    assert_eq!(server.stats().bytes_served("ns/repo", "model.safetensors"), 0, "HEAD sends no body");

    let part = http.get(&url).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/100");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &content[10..20]);
    let tail = http.get(&url).header("range", "bytes=95-").send().await.unwrap();
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &content[95..]);
    let bad = http.get(&url).header("range", "bytes=100-").send().await.unwrap();
    assert_eq!(bad.status(), 416);
    assert_eq!(bad.headers()["content-range"], "bytes */100");
    let full = http.get(format!("{}/ns/repo/resolve/main/model.safetensors", server.url())).send().await.unwrap();
    assert_eq!(full.bytes().await.unwrap().as_ref(), &content[..]);
    assert_eq!(server.stats().bytes_served("ns/repo", "model.safetensors"), 10 + 5 + 100);
}

#[tokio::test]
async fn client_lists_paginated_trees_and_reads_small_files() {
    let (_d, local, server) = start(2).await;
    let files: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("dir/f{i}.json"), vec![b'x'; i + 1])).collect();
    let mut refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    refs.push(("config.json", b"{}"));
    let sha = local.commit_files("ns/repo", &refs).unwrap();
    let client = HubClient::new(fast_config(&server.url())).unwrap();
    let tree = client.list_tree("ns/repo", &sha).await.unwrap();
    let mut listed: Vec<(String, Option<u64>)> = tree.iter().map(|f| (f.path.clone(), f.size)).collect();
    listed.sort();
    let mut expected: Vec<(String, Option<u64>)> =
        files.iter().map(|(p, b)| (p.clone(), Some(b.len() as u64))).collect();
    expected.push(("config.json".into(), Some(2)));
    expected.sort();
    assert_eq!(listed, expected);
    let pages = server.stats().requests().iter().filter(|r| r.path.contains("/tree/")).count();
    assert_eq!(pages, 4, "7 entries (a folder included) in pages of 2");

    let info = client.model_info("ns/repo", "main").await.unwrap();
    assert_eq!(info.sha, sha);
    assert_eq!(client.fetch_small("ns/repo", &sha, "config.json", 10).await.unwrap(), b"{}");
    let err = client.fetch_small("ns/repo", &sha, "dir/f4.json", 3).await.unwrap_err();
    assert!(matches!(err, HubError::TooLarge { limit: 3, .. }), "{err}");
    let err = client.fetch_small("ns/repo", &sha, "nope.json", 10).await.unwrap_err();
    assert!(matches!(err, HubError::FileNotFound { .. }), "{err}");
}

#[tokio::test]
async fn long_running_serve_stops_on_signal() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalHub::open(dir.path()).unwrap();
    local.commit_files("ns/repo", &[("config.json", b"{}")]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(HubServer::new(local, ServerOptions::default()).serve(listener, async {
        let _ = rx.await;
    }));
    let client = HubClient::new(fast_config(&format!("http://{addr}"))).unwrap();
    assert!(client.model_info("ns/repo", "main").await.is_ok());
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}
