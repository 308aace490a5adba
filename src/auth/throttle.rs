//! Failed-login throttling, per email and per client address.
//!
//! Each key may fail `limit` times within `window`; after that, attempts for
//! that key answer 429 with `Retry-After` until the window that began with
//! its first failure has passed. A success clears the email's count. The
//! counts live in the database (`login_failures`), so every process behind a
//! load balancer sees the same ones.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, Internal, Tx, now};
use crate::error::ApiError;
use crate::schema::login_failures;

pub struct LoginThrottle {
    window: Duration,
    per_email: u32,
    per_address: u32,
}

fn email_key(email: &str) -> String {
    format!("email:{email}")
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

impl LoginThrottle {
    pub fn new(window: Duration, per_email: u32, per_address: u32) -> Self {
        Self { window, per_email, per_address }
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }

    /// 429 when either key has used up its failures in the current window.
    pub fn check(&self, conn: &mut DbConnection, email: &str, address: &str) -> Result<(), ApiError> {
        let limits = [(email_key(email), self.per_email), (address_key(address), self.per_address)];
        let keys: Vec<&String> = limits.iter().map(|(key, _)| key).collect();
        let rows: Vec<(String, i32, NaiveDateTime)> = login_failures::table
            .filter(login_failures::throttle_key.eq_any(keys))
            .select((login_failures::throttle_key, login_failures::failures, login_failures::window_start))
            .load(conn)?;
        let at = now();
        let wait = rows
            .iter()
            .filter(|(key, failures, _)| {
                limits.iter().any(|(k, limit)| k == key && i64::from(*failures) >= i64::from(*limit))
            })
            .map(|(_, _, start)| *start + self.window() - at)
            .filter(|left| *left > chrono::Duration::zero())
            .max();
        match wait {
            Some(wait) => Err(ApiError::TooManyRequests { retry_after_secs: wait.num_seconds().max(1) as u64 }),
            None => Ok(()),
        }
    }

    /// Counts a failure against both keys.
    pub fn record_failure(&self, tx: &mut Tx<'_, Internal>, email: &str, address: &str) -> QueryResult<()> {
        let conn: &mut DbConnection = tx;
        let at = now();
        let window_began_after = at - self.window();
        // Forget windows that are over, theirs and everyone's.
        diesel::delete(login_failures::table.filter(login_failures::window_start.le(window_began_after)))
            .execute(conn)?;
        for key in [email_key(email), address_key(address)] {
            let counted = diesel::update(login_failures::table.find(&key))
                .set(login_failures::failures.eq(login_failures::failures + 1))
                .execute(conn)?;
            if counted == 0 {
                // A savepoint: a concurrent first failure may insert the row first.
                let inserted = conn.transaction(|conn| {
                    diesel::insert_into(login_failures::table)
                        .values((
                            login_failures::throttle_key.eq(&key),
                            login_failures::failures.eq(1),
                            login_failures::window_start.eq(at),
                        ))
                        .execute(conn)
                });
                if inserted.is_err() {
                    diesel::update(login_failures::table.find(&key))
                        .set(login_failures::failures.eq(login_failures::failures + 1))
                        .execute(conn)?;
                }
            }
        }
        Ok(())
    }

    pub fn record_success(&self, tx: &mut Tx<'_, Internal>, email: &str) -> QueryResult<()> {
        diesel::delete(login_failures::table.find(email_key(email))).execute(&mut **tx).map(drop)
    }
}
