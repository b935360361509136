//! When to try an HTTP request again, and how long to wait first.
//!
//! 429 and 5xx are worth retrying (the Hub rate-limits and has bad minutes); a `Retry-After`
//! header is honoured up to a cap, so a server asking for a day's pause ends the attempt with an
//! error instead of stalling evaluation. Everything else is bounded by `max_attempts`.

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per request (a download attempt that made progress does not count).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt.
    pub base_delay: Duration,
    /// Cap on the computed backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` we agree to wait; longer asks fail the request.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// Whether an HTTP status is a transient failure.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..600).contains(&status)
}

/// The value of a `Retry-After` header: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` (`attempt` counts from 1), without a server hint.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before the next attempt: the server's `Retry-After` when given (error when it
    /// exceeds `max_retry_after`), else [`Self::backoff`].
    pub fn wait_before_retry(&self, attempt: u32, retry_after: Option<Duration>) -> Result<Duration, Duration> {
        match retry_after {
            Some(asked) if asked > self.max_retry_after => Err(asked),
            Some(asked) => Ok(asked),
            None => Ok(self.backoff(attempt)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(4));
        assert_eq!(p.backoff(40), Duration::from_secs(30));
        assert_eq!(p.wait_before_retry(1, Some(Duration::from_secs(500))), Err(Duration::from_secs(500)));
        assert!(is_retryable_status(429) && is_retryable_status(503) && !is_retryable_status(404));
    }
}
