//! Fetches NLTK's `en-basic` word list the way upstream gets it: upstream's validator runs
//! `nltk.download("words")` at start-up, which fetches the `words` package zip from NLTK's data
//! index. Here the zip is fetched from the same place, `words/en-basic` is taken out of it,
//! checked against the recorded sha256, and written atomically where a restart finds it, so a
//! machine without Python's NLTK still scores WORD_SORTING exactly as upstream does.

use super::word_list::{parse_checked, read_checked, WordList, WordListError, NLTK_EN_BASIC_SHA256};
use crate::http::{HttpPolicy, JsonClient};
use reqwest::Url;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The package NLTK's downloader installs for `nltk.download("words")`.
pub const NLTK_WORDS_ZIP_URL: &str =
    "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/words.zip";

/// The zip is about 0.75 MB; anything far larger is not NLTK's package.
const MAX_ZIP_BYTES: usize = 32 << 20;
/// `en-basic` is 5302 bytes; a larger entry is refused before it is read whole.
const MAX_ENTRY_BYTES: u64 = 1 << 20;
const ENTRY: &str = "words/en-basic";

/// Where to fetch `en-basic` from and where to keep it.
#[derive(Debug, Clone)]
pub struct EnBasicDownload {
    pub url: String,
    /// The file to write (and to read back on later runs).
    pub dest: PathBuf,
    pub policy: HttpPolicy,
}

impl EnBasicDownload {
    /// NLTK's index, kept at `dest`, with the datasets' deadlines and three tries: a round that
    /// cannot have the list is skipped and the next round tries again.
    pub fn new(dest: PathBuf) -> EnBasicDownload {
        let policy = HttpPolicy { max_attempts: 3, ..HttpPolicy::default() };
        EnBasicDownload { url: NLTK_WORDS_ZIP_URL.to_string(), dest, policy }
    }

    /// As [`EnBasicDownload::new`], keeping the file in NLTK's own layout under `dir/nltk_data`.
    pub fn kept_under(dir: &Path) -> EnBasicDownload {
        EnBasicDownload::new(dir.join("nltk_data").join("corpora").join("words").join("en-basic"))
    }

    /// The verified copy at `dest` if there is one; otherwise downloads, checks and writes it.
    pub async fn fetch(&self) -> Result<WordList, WordListError> {
        self.fetch_checked(NLTK_EN_BASIC_SHA256).await
    }

    async fn fetch_checked(&self, sha256: &str) -> Result<WordList, WordListError> {
        if self.dest.is_file() {
            match read_checked(&self.dest, sha256) {
                Ok(list) => return Ok(list),
                // A stale or damaged copy is replaced by a fresh download.
                Err(WordListError::WrongFile { .. }) => {
                    tracing::warn!(path = %self.dest.display(), "the kept en-basic is not the expected file; downloading it again")
                }
                Err(e) => return Err(e),
            }
        }
        let url = Url::parse(&self.url)
            .map_err(|e| WordListError::Archive { url: self.url.clone(), reason: format!("not a URL: {e}") })?;
        tracing::info!(url = %self.url, "downloading NLTK's words package for the WORD_SORTING list");
        let client = JsonClient::new(self.policy.clone()).map_err(WordListError::Download)?;
        let zip = client.get_bytes(&url, MAX_ZIP_BYTES).await.map_err(WordListError::Download)?;
        let file = en_basic_from_zip(&zip, &self.url)?;
        let list = parse_checked(&file, sha256, format!("{} ({ENTRY})", self.url))?;
        crate::cache::write_atomically(&self.dest, &file)
            .map_err(|e| WordListError::Io { path: self.dest.display().to_string(), error: e.to_string() })?;
        tracing::info!(path = %self.dest.display(), "kept NLTK's en-basic");
        Ok(list)
    }
}

/// NLTK's installed `en-basic` if this machine has one, else `download`'s kept or fetched copy.
pub async fn en_basic(download: Option<&EnBasicDownload>) -> Result<WordList, WordListError> {
    match (WordList::nltk_en_basic(), download) {
        (Err(WordListError::NotFound { .. }), Some(download)) => download.fetch().await,
        (found, _) => found,
    }
}

fn en_basic_from_zip(zip: &[u8], url: &str) -> Result<Vec<u8>, WordListError> {
    let bad = |reason: String| WordListError::Archive { url: url.to_string(), reason };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| bad(format!("not a zip: {e}")))?;
    let entry = archive.by_name(ENTRY).map_err(|e| bad(format!("no {ENTRY} in it: {e}")))?;
    if entry.size() > MAX_ENTRY_BYTES {
        return Err(bad(format!("{ENTRY} is {} bytes, not a word list", entry.size())));
    }
    let mut out = Vec::with_capacity(entry.size() as usize);
    entry.take(MAX_ENTRY_BYTES).read_to_end(&mut out).map_err(|e| bad(format!("cannot read {ENTRY}: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{http::StatusCode, routing::get, Router};
    use sha2::{Digest, Sha256};
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    const WORDS: &str = "I\na\nable\nabout\naccount\n";

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// A loopback server answering every GET with `status` and `body`; counts requests.
    async fn serve(status: StatusCode, body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = hits.clone();
        let app = Router::new().route(
            "/packages/corpora/words.zip",
            get(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { (status, body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/packages/corpora/words.zip"), hits)
    }

    fn download(url: String, dest: PathBuf) -> EnBasicDownload {
        let policy = HttpPolicy {
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_attempts: 2,
            initial_retry_delay: Duration::from_millis(10),
            max_retry_delay: Duration::from_millis(10),
        };
        EnBasicDownload { url, dest, policy }
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn takes_en_basic_out_of_the_package_and_keeps_it() {
        let zip = zip_with(&[("words/README", b"readme"), ("words/en", b"aardvark\n"), (ENTRY, WORDS.as_bytes())]);
        let (url, hits) = serve(StatusCode::OK, zip).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("nltk_data/corpora/words/en-basic");
        let d = download(url, dest.clone());
        let list = d.fetch_checked(&sha(WORDS.as_bytes())).await.unwrap();
        assert_eq!(list.words(), ["I", "a", "able", "about", "account"]);
        assert_eq!(std::fs::read(&dest).unwrap(), WORDS.as_bytes());
        // A second run reads the kept file and does not download again.
        d.fetch_checked(&sha(WORDS.as_bytes())).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let names: Vec<_> =
            std::fs::read_dir(dest.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["en-basic"], "no temporary file is left behind");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_different_list_is_refused_and_nothing_is_written() {
        let zip = zip_with(&[(ENTRY, b"I\na\nother\n")]);
        let (url, _) = serve(StatusCode::OK, zip).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("en-basic");
        let err = download(url, dest.clone()).fetch().await.unwrap_err();
        assert!(matches!(err, WordListError::WrongFile { .. }), "{err}");
        assert!(err.to_string().contains(NLTK_EN_BASIC_SHA256), "{err}");
        assert!(!dest.exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_kept_copy_that_does_not_match_is_downloaded_again() {
        let (url, hits) = serve(StatusCode::OK, zip_with(&[(ENTRY, WORDS.as_bytes())])).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("en-basic");
        std::fs::write(&dest, "truncated").unwrap();
        download(url, dest.clone()).fetch_checked(&sha(WORDS.as_bytes())).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(std::fs::read(&dest).unwrap(), WORDS.as_bytes());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_package_and_bad_archives_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("en-basic");

        let (url, hits) = serve(StatusCode::NOT_FOUND, b"no such file".to_vec()).await;
        let err = download(url, dest.clone()).fetch().await.unwrap_err();
        assert!(matches!(err, WordListError::Download(_)) && err.to_string().contains("404"), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "a 404 is not retried");

        let (url, _) = serve(StatusCode::OK, b"<html>not a zip</html>".to_vec()).await;
        let err = download(url, dest.clone()).fetch().await.unwrap_err();
        assert!(err.to_string().contains("not a zip"), "{err}");

        let (url, _) = serve(StatusCode::OK, zip_with(&[("words/en", b"aardvark\n")])).await;
        let err = download(url, dest.clone()).fetch().await.unwrap_err();
        assert!(err.to_string().contains("no words/en-basic in it"), "{err}");
        assert!(!dest.exists());
    }
}
