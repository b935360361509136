//! Restart delays for a crashing child: doubling from an initial delay up to a cap, and back to
//! the initial delay once the child has stayed up for a healthy period.

use std::time::Duration;

/// How long to wait before restarting a child that exited on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Delay before the first restart after a healthy run.
    pub initial: Duration,
    /// The delay never grows beyond this.
    pub max: Duration,
    /// A child that ran at least this long before exiting counts as healthy: the next restart
    /// waits `initial` again.
    pub healthy_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            healthy_after: Duration::from_secs(600),
        }
    }
}

/// The delay sequence of one supervisor: call [`Backoff::after_exit`] each time the child exits.
#[derive(Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    next: Duration,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        let next = policy.initial.min(policy.max);
        Backoff { policy, next }
    }

    /// The delay before restarting a child that ran for `uptime` and then exited.
    pub fn after_exit(&mut self, uptime: Duration) -> Duration {
        if uptime >= self.policy.healthy_after {
            self.reset();
        }
        let delay = self.next;
        self.next = delay.saturating_mul(2).min(self.policy.max);
        delay
    }

    /// Start over from the initial delay (a new version deserves a fresh start).
    pub fn reset(&mut self) {
        self.next = self.policy.initial.min(self.policy.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(700),
            healthy_after: Duration::from_secs(10),
        }
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut backoff = Backoff::new(policy());
        let quick = Duration::from_millis(5);
        let delays: Vec<u128> = (0..6).map(|_| backoff.after_exit(quick).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700, 700]);
    }

    #[test]
    fn a_healthy_run_resets_the_delay() {
        let mut backoff = Backoff::new(policy());
        let quick = Duration::from_millis(5);
        backoff.after_exit(quick);
        backoff.after_exit(quick);
        assert_eq!(backoff.after_exit(quick), Duration::from_millis(400));
        assert_eq!(backoff.after_exit(Duration::from_secs(10)), Duration::from_millis(100));
        assert_eq!(backoff.after_exit(quick), Duration::from_millis(200));
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new(policy());
        backoff.after_exit(Duration::ZERO);
        backoff.after_exit(Duration::ZERO);
        backoff.reset();
        assert_eq!(backoff.after_exit(Duration::ZERO), Duration::from_millis(100));
    }
}
