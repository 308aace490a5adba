//! Failed-login throttling, per email and per client address.
//!
//! Each key may fail `limit` times within `window`; after that, attempts for
//! that key answer 429 with `Retry-After` until the window that began with
//! its first failure has passed. A success clears the email's count. Kept in
//! memory (bounded by moka), so each process throttles on its own.

use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::error::ApiError;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

pub struct LoginThrottle {
    failures: Cache<String, Failures>,
    window: Duration,
    per_email: u32,
    per_address: u32,
}

impl LoginThrottle {
    pub fn new(window: Duration, per_email: u32, per_address: u32) -> Self {
        let failures = Cache::builder().max_capacity(100_000).time_to_live(window).build();
        Self { failures, window, per_email, per_address }
    }

    /// 429 when either key has used up its failures in the current window.
    pub fn check(&self, email: &str, address: &str) -> Result<(), ApiError> {
        let blocked_for = |key: String, limit: u32| {
            self.failures
                .get(&key)
                .filter(|f| f.count >= limit)
                .and_then(|f| self.window.checked_sub(f.since.elapsed()))
        };
        let wait = [blocked_for(email_key(email), self.per_email), blocked_for(address_key(address), self.per_address)]
            .into_iter()
            .flatten()
            .max();
        match wait {
            Some(wait) => Err(ApiError::TooManyRequests { retry_after_secs: wait.as_secs().max(1) }),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, email: &str, address: &str) {
        for key in [email_key(email), address_key(address)] {
            self.failures.entry(key).and_upsert_with(|current| match current.map(|e| e.into_value()) {
                Some(f) if f.since.elapsed() < self.window => Failures { count: f.count + 1, ..f },
                _ => Failures { count: 1, since: Instant::now() },
            });
        }
    }

    pub fn record_success(&self, email: &str) {
        self.failures.invalidate(&email_key(email));
    }
}

fn email_key(email: &str) -> String {
    format!("email:{email}")
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_success_clears_the_email() {
        let throttle = LoginThrottle::new(Duration::from_secs(60), 2, 10);
        throttle.check("a@x", "1.1.1.1").unwrap();
        throttle.record_failure("a@x", "1.1.1.1");
        throttle.record_failure("a@x", "1.1.1.1");
        let Err(ApiError::TooManyRequests { retry_after_secs }) = throttle.check("a@x", "2.2.2.2") else {
            panic!("expected 429");
        };
        assert!((1..=60).contains(&retry_after_secs));
        throttle.check("b@x", "1.1.1.1").unwrap();
        throttle.record_success("a@x");
        throttle.check("a@x", "3.3.3.3").unwrap();
    }

    #[test]
    fn one_address_failing_for_many_emails_is_blocked() {
        let throttle = LoginThrottle::new(Duration::from_secs(60), 5, 3);
        for i in 0..3 {
            throttle.record_failure(&format!("user{i}@x"), "9.9.9.9");
        }
        assert!(throttle.check("fresh@x", "9.9.9.9").is_err());
        assert!(throttle.check("fresh@x", "8.8.8.8").is_ok());
    }
}
