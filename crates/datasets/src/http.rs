//! JSON over HTTP with a deadline on every request and bounded, typed retries.
//!
//! Upstream's loaders had no timeout at all (one hung request froze the validator) and retried
//! 429s by sampling a *different* page, so a rate-limited validator scored other data. Here a
//! request is retried as is: 429 waits for `Retry-After` (capped), timeouts, connection errors and
//! 5xx back off exponentially, any other status fails at once, and after `max_attempts` the error
//! names the URL and the cause.

use bytes::Bytes;
use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// Deadlines and retry bounds for one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Whole-request deadline (connect, headers and body).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Tries per request, the first included (upstream's `retry_limit` is 10).
    pub max_attempts: u32,
    /// First back-off, doubled after each failure (upstream: 5 s).
    pub initial_retry_delay: Duration,
    /// Cap on every wait, `Retry-After` included (upstream: 60 s).
    pub max_retry_delay: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 10,
            initial_retry_delay: Duration::from_secs(5),
            max_retry_delay: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: still rate limited (HTTP 429) after {attempts} attempts")]
    RateLimited { url: String, attempts: u32 },
    #[error("{url}: no complete answer within the {timeout:?} deadline ({attempts} attempts)")]
    Timeout { url: String, timeout: Duration, attempts: u32 },
    #[error("{url}: HTTP {status} after {attempts} attempts: {body}")]
    Status { url: String, status: u16, attempts: u32, body: String },
    #[error("{url}: {error} ({attempts} attempts)")]
    Transport { url: String, error: String, attempts: u32 },
    #[error("{url}: the answer is not JSON: {error}")]
    NotJson { url: String, error: String },
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// A reqwest client plus the policy it follows.
#[derive(Debug, Clone)]
pub struct JsonClient {
    client: reqwest::Client,
    policy: HttpPolicy,
}

enum Outcome {
    Done(Bytes),
    /// Retry after this long (or the back-off if `None`), remembering the error.
    Retry(Option<Duration>, FetchError),
    Fail(FetchError),
}

impl JsonClient {
    pub fn new(policy: HttpPolicy) -> Result<JsonClient, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(policy.request_timeout)
            .connect_timeout(policy.connect_timeout)
            .user_agent(concat!("sn37-validator-datasets/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(JsonClient { client, policy })
    }

    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    /// `GET url`, parsed as JSON.
    pub async fn get_json(&self, url: &Url, authorization: Option<&str>) -> Result<Value, FetchError> {
        let body = self
            .send_with_retries(url, usize::MAX, || {
                let mut req = self.client.get(url.clone());
                if let Some(auth) = authorization {
                    req = req.header(AUTHORIZATION, auth);
                }
                req
            })
            .await?;
        parse_json(url, &body)
    }

    /// `GET url`, the raw body, refused if it is larger than `max_bytes`.
    pub async fn get_bytes(&self, url: &Url, max_bytes: usize) -> Result<Bytes, FetchError> {
        self.send_with_retries(url, max_bytes, || self.client.get(url.clone())).await
    }

    /// `POST url` with a JSON body, parsed as JSON.
    pub async fn post_json(&self, url: &Url, body: &Value, authorization: Option<&str>) -> Result<Value, FetchError> {
        let bytes = serde_json::to_vec(body).expect("JSON values serialise");
        let body = self
            .send_with_retries(url, usize::MAX, || {
                let mut req = self
                    .client
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bytes.clone());
                if let Some(auth) = authorization {
                    req = req.header(AUTHORIZATION, auth);
                }
                req
            })
            .await?;
        parse_json(url, &body)
    }

    async fn send_with_retries(
        &self,
        url: &Url,
        max_bytes: usize,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Bytes, FetchError> {
        let shown = redact(url);
        let mut backoff = self.policy.initial_retry_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(&shown, attempt, max_bytes, build()).await;
            let (wait, error) = match outcome {
                Outcome::Done(v) => return Ok(v),
                Outcome::Fail(e) => return Err(e),
                Outcome::Retry(wait, e) => (wait, e),
            };
            if attempt >= self.policy.max_attempts {
                return Err(error);
            }
            let wait = wait.unwrap_or(backoff).min(self.policy.max_retry_delay);
            tracing::warn!(url = %shown, attempt, wait_ms = wait.as_millis() as u64, error = %error, "retrying");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.policy.max_retry_delay);
        }
    }

    async fn attempt(&self, shown: &str, attempts: u32, max_bytes: usize, req: reqwest::RequestBuilder) -> Outcome {
        let url = shown.to_string();
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                FetchError::Timeout { url: url.clone(), timeout: self.policy.request_timeout, attempts }
            } else {
                FetchError::Transport { url: url.clone(), error: error_chain(&e), attempts }
            }
        };
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(None, transport(e)),
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(response.headers());
            return Outcome::Retry(wait, FetchError::RateLimited { url: url.clone(), attempts });
        }
        if status.is_success() && response.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Outcome::Fail(FetchError::TooLarge { url, limit: max_bytes });
        }
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Outcome::Retry(None, transport(e)),
        };
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            let e = FetchError::Status { url: url.clone(), status: status.as_u16(), attempts, body: text };
            return if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                Outcome::Retry(None, e)
            } else {
                Outcome::Fail(e)
            };
        }
        if body.len() > max_bytes {
            return Outcome::Fail(FetchError::TooLarge { url, limit: max_bytes });
        }
        Outcome::Done(body)
    }
}

fn parse_json(url: &Url, body: &[u8]) -> Result<Value, FetchError> {
    serde_json::from_slice(body).map_err(|e| FetchError::NotJson { url: redact(url), error: e.to_string() })
}

/// `Retry-After` as delay-seconds or an HTTP date; `None` if absent or unreadable.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(raw).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// The URL without credentials, for logs and errors.
fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past means now");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
