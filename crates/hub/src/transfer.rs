//! One file from the hub to our disk: resumable, bounded by the size the listing announced, and
//! done within a budget that scales with that size.
//!
//! Bytes go to `<dest>.part`; a retry (or a later run, after a crash) continues from the bytes
//! already there with `Range: bytes=<have>-`. The file is renamed to `<dest>` only when complete
//! and synced. The hub never gets to write more than the listed size: that, and the size check
//! on the listing, is what keeps a lying listing from filling the disk.

use crate::client::{check_status, describe_reqwest, retry_after_of, HubClient, HubError};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

/// Which file to fetch and where to put it.
#[derive(Debug, Clone)]
pub struct FileRequest<'a> {
    pub repo: &'a str,
    pub revision: &'a str,
    /// The path inside the repository (already checked by [`crate::names::safe_repo_path`]).
    pub path: &'a str,
    /// Final location; its folder must exist.
    pub dest: &'a Path,
    /// The size the listing announced: exactly this many bytes are accepted.
    pub size: u64,
}

/// The partial file beside `dest`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io { path: path.display().to_string(), source }
}

/// What one attempt ended with, when it did not finish the file.
struct AttemptFailure {
    reason: String,
    retry_after: Option<Duration>,
    progressed: bool,
    /// The file's budget ran out during the attempt.
    out_of_time: bool,
}

impl HubClient {
    /// Downloads one file (resuming a `.part` file if present). Returns the bytes that came over
    /// the network in this call.
    pub async fn download_file(&self, req: &FileRequest<'_>) -> Result<u64, HubError> {
        let _permit = self.downloads.acquire().await.expect("the semaphore is never closed");
        if let Ok(meta) = std::fs::symlink_metadata(req.dest) {
            if meta.is_file() && meta.len() == req.size {
                return Ok(0);
            }
            std::fs::remove_file(req.dest).map_err(io_err(req.dest))?;
        }
        let part = part_path(req.dest);
        let fetched = self.fetch_into(req, &part).await?;
        std::fs::rename(&part, req.dest).map_err(io_err(req.dest))?;
        Ok(fetched)
    }

    /// Fetches into `part` within the file's budget. Every wait is bounded by the deadline, so
    /// running out of time still flushes what arrived (the next attempt resumes after it).
    async fn fetch_into(&self, req: &FileRequest<'_>, part: &Path) -> Result<u64, HubError> {
        let budget = self.cfg.file_budget(req.size);
        let deadline = tokio::time::Instant::now() + budget;
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(part)
            .await
            .map_err(io_err(part))?;
        let mut have = file.metadata().await.map_err(io_err(part))?.len();
        // Small enough that a crash loses little of what arrived (the page cache keeps what was
        // written even if the process is killed), large enough to keep writes cheap.
        let mut out = BufWriter::with_capacity(256 << 10, file);
        if have > req.size {
            out.get_mut().set_len(0).await.map_err(io_err(part))?;
            have = 0;
        }
        out.seek(SeekFrom::Start(have)).await.map_err(io_err(part))?;

        let bar = self.progress.add(ProgressBar::new(req.size));
        bar.set_style(
            ProgressStyle::with_template("{msg:30!} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {eta:>4}")
                .expect("valid template"),
        );
        bar.set_message(req.path.to_string());
        bar.set_position(have);

        let url = self.resolve_url(req.repo, req.revision, req.path);
        let mut fetched = 0u64;
        let mut failures = 0u32;
        let result = loop {
            if have == req.size {
                break Ok(());
            }
            let attempt = self.attempt(req, &url, &mut out, &mut have, &mut fetched, &bar, part, deadline).await;
            let failure = match attempt {
                Ok(()) => continue,
                Err(Ok(failure)) if failure.out_of_time => {
                    break Err(HubError::Deadline { url: url.to_string(), budget })
                }
                Err(Ok(failure)) => failure,
                Err(Err(fatal)) => break Err(fatal),
            };
            failures = if failure.progressed { 1 } else { failures + 1 };
            if failures >= self.cfg.retry.max_attempts.max(1) {
                break Err(HubError::RetriesExhausted {
                    url: url.to_string(),
                    attempts: failures,
                    last: failure.reason,
                });
            }
            let wait = match self.cfg.retry.wait_before_retry(failures, failure.retry_after) {
                Ok(wait) => wait,
                Err(asked) => break Err(HubError::RetryAfterTooLong { url: url.to_string(), asked }),
            };
            tracing::debug!(%url, have, failures, ?wait, reason = %failure.reason, "download interrupted, resuming");
            if tokio::time::Instant::now() + wait >= deadline {
                break Err(HubError::Deadline { url: url.to_string(), budget });
            }
            tokio::time::sleep(wait).await;
        };
        bar.finish_and_clear();
        self.progress.remove(&bar);
        out.flush().await.map_err(io_err(part))?;
        result?;
        out.get_ref().sync_all().await.map_err(io_err(part))?;
        Ok(fetched)
    }

    /// One GET from `have` on. `Err(Ok(_))` is worth another attempt, `Err(Err(_))` is not.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        req: &FileRequest<'_>,
        url: &reqwest::Url,
        out: &mut BufWriter<tokio::fs::File>,
        have: &mut u64,
        fetched: &mut u64,
        bar: &ProgressBar,
        part: &Path,
        deadline: tokio::time::Instant,
    ) -> Result<(), Result<AttemptFailure, HubError>> {
        let retry = |reason: String, retry_after, progressed| {
            Err(Ok(AttemptFailure { reason, retry_after, progressed, out_of_time: false }))
        };
        let out_of_time = || {
            Err(Ok(AttemptFailure { reason: String::new(), retry_after: None, progressed: false, out_of_time: true }))
        };
        let fatal = |e: HubError| Err(Err(e));
        let mut builder = self.request(reqwest::Method::GET, url.clone());
        if *have > 0 {
            builder = builder.header(RANGE, format!("bytes={have}-"));
        }
        let mut resp = match tokio::time::timeout_at(deadline, builder.send()).await {
            Err(_) => return out_of_time(),
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => return retry(describe_reqwest(&e), None, false),
        };
        let status = resp.status();
        let mismatch = |actual: String| HubError::SizeMismatch { path: req.path.to_string(), listed: req.size, actual };
        match status {
            StatusCode::OK => {
                if *have > 0 {
                    // The server ignored our Range: start over.
                    out.flush().await.map_err(|e| Err(io_err(part)(e)))?;
                    out.get_mut().set_len(0).await.map_err(|e| Err(io_err(part)(e)))?;
                    out.seek(SeekFrom::Start(0)).await.map_err(|e| Err(io_err(part)(e)))?;
                    *have = 0;
                    bar.set_position(0);
                }
                if let Some(len) = resp.content_length().filter(|&len| len != req.size) {
                    return fatal(mismatch(len.to_string()));
                }
            }
            StatusCode::PARTIAL_CONTENT => {
                let range = resp.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).unwrap_or("");
                match parse_content_range(range) {
                    Some((start, _, total)) if start == *have && total.is_none_or(|t| t == req.size) => {}
                    Some((_, _, Some(total))) if total != req.size => return fatal(mismatch(total.to_string())),
                    _ => {
                        let reason = format!("Content-Range {range:?} does not continue at byte {have}");
                        return fatal(HubError::BadResponse { url: url.to_string(), reason });
                    }
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE => return fatal(mismatch(format!("fewer than {}", *have + 1))),
            s if crate::retry::is_retryable_status(s.as_u16()) => {
                return retry(format!("HTTP {s}"), retry_after_of(resp.headers()), false)
            }
            _ => {
                let err = check_status(resp, req.repo, req.revision, Some(req.path)).await.err();
                let err = err.unwrap_or_else(|| HubError::BadResponse {
                    url: url.to_string(),
                    reason: format!("unexpected status {status}"),
                });
                return fatal(err);
            }
        }
        let start = *have;
        loop {
            let Ok(next) = tokio::time::timeout_at(deadline, resp.chunk()).await else {
                out.flush().await.map_err(|e| Err(io_err(part)(e)))?;
                return out_of_time();
            };
            match next {
                Ok(Some(chunk)) => {
                    if *have + chunk.len() as u64 > req.size {
                        return fatal(mismatch(format!("more than {}", req.size)));
                    }
                    out.write_all(&chunk).await.map_err(|e| Err(io_err(part)(e)))?;
                    *have += chunk.len() as u64;
                    *fetched += chunk.len() as u64;
                    bar.inc(chunk.len() as u64);
                }
                Ok(None) if *have == req.size => return Ok(()),
                Ok(None) => return retry(format!("body ended at byte {have} of {}", req.size), None, *have > start),
                Err(e) => {
                    // Keep what arrived: the next attempt resumes after it.
                    out.flush().await.map_err(|e| Err(io_err(part)(e)))?;
                    return retry(describe_reqwest(&e), None, *have > start);
                }
            }
        }
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let total = if total == "*" { None } else { Some(total.parse().ok()?) };
    Some((start.parse().ok()?, end.parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 10-19/20"), Some((10, 19, Some(20))));
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, 0, None)));
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[test]
    fn part_name() {
        assert_eq!(part_path(Path::new("/a/model.safetensors")), PathBuf::from("/a/model.safetensors.part"));
    }
}
