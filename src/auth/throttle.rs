//! Login throttling: every attempt is counted *before* its password is
//! checked, and given back when the password was right.
//!
//! Two counts decide whether an attempt may go on, both kept in the database
//! (`login_attempts`) so every process behind a load balancer shares them:
//!
//! - **Per (email, client address) pair**: [`PER_CLIENT_LIMIT`] attempts per
//!   [`WINDOW`]; the attempt that uses the last of them locks the pair until
//!   the window's end, and each further lockout lasts twice as long as the
//!   one before (15 min, 30 min, 1 h, … at most [`LONGEST_LOCK`]). A
//!   lockout is forgotten [`BACKOFF_MEMORY`] after it ends; a success from
//!   the pair forgets everything about it. While the pair is locked even the
//!   right password is refused (429): that is what slows a guesser down, and
//!   it tells the guesser nothing. Counting per pair, not per email or per
//!   address, is what keeps an attacker from locking out an editor who logs
//!   in from elsewhere, or another editor behind the attacker's address.
//!   (IPv6 clients count by their /64: [`crate::http::client_key`].)
//! - **Per email**, across every address: a ceiling (`LOGIN_FAILURES_PER_EMAIL`,
//!   100 by default) per [`WINDOW`] against guessing spread over many
//!   addresses. Reaching it refuses that email until the window ends —
//!   except from a pair that logged in successfully in the last
//!   [`KNOWN_FOR`] (`login_known_clients`): those are held to their pair's
//!   count only, so an attacker with many addresses cannot lock an editor
//!   out of the places it logs in from (the pair's own count still slows a
//!   guesser who shares such an address). An editor at a new address
//!   waits the window out.
//!
//! An attacker at one address trying many emails is slowed by neither count
//! beyond its pairs; what bounds the cost of that is the limit on password
//! checks running at once ([`super::password::CheckSlots`]).
//!
//! Counting first, in one write transaction that locks the counts' rows
//! (SQLite's write lock; row locks on PostgreSQL), is what makes the limits
//! hold under parallel attempts: attempts that arrive together are each
//! counted before any of them is checked, so at most the limit are checked.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::{DbConnection, Internal, Tx, now};
use crate::error::ApiError;
use crate::schema::{login_attempts, login_known_clients};

/// The window in which each count's attempts add up.
pub const WINDOW: Duration = Duration::minutes(15);
/// Attempts per (email, client address) pair per window.
pub const PER_CLIENT_LIMIT: u32 = 5;
/// The longest a pair's lockout grows.
pub const LONGEST_LOCK: Duration = Duration::hours(24);
/// How long after a lockout ends the next one still counts as a repeat.
pub const BACKOFF_MEMORY: Duration = Duration::hours(24);
/// How long after a successful login its pair is spared the per-email ceiling.
pub const KNOWN_FOR: Duration = Duration::days(30);
/// How often a process deletes counts that are over.
const CLEANUP_EVERY: Duration = Duration::minutes(1);

/// How one kind of count lets attempts through.
#[derive(Debug, Clone, Copy)]
struct Policy {
    limit: u32,
    window: Duration,
    /// Lockouts double from `window` up to this; `window` itself means no backoff.
    longest_lock: Duration,
}

/// One key's count, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_attempts, treat_none_as_null = true)]
struct Counter {
    attempts: i32,
    window_start: NaiveDateTime,
    lockouts: i32,
    locked_until: Option<NaiveDateTime>,
}

impl Counter {
    fn fresh(now: NaiveDateTime) -> Self {
        Self { attempts: 0, window_start: now, lockouts: 0, locked_until: None }
    }
}

impl Policy {
    /// How long lockout number `lockouts` (from 0) lasts, from its window's start.
    fn lock_length(&self, lockouts: i32) -> Duration {
        let doubled = 1_i32.checked_shl(lockouts.clamp(0, 30) as u32).unwrap_or(i32::MAX);
        self.window.checked_mul(doubled).unwrap_or(self.longest_lock).min(self.longest_lock).max(self.window)
    }

    /// The count after letting one more attempt through, or, when the key is
    /// locked, until when.
    fn admit(&self, counter: Counter, now: NaiveDateTime) -> Result<Counter, NaiveDateTime> {
        let limit = i32::try_from(self.limit).unwrap_or(i32::MAX);
        if counter.attempts >= limit {
            // (A limit lowered since the row was written may leave no lock time.)
            let until = counter.locked_until.unwrap_or(counter.window_start + self.lock_length(counter.lockouts));
            if now < until {
                return Err(until);
            }
        }
        let mut next = counter;
        if counter.window_start + self.window <= now {
            next.attempts = 0;
            next.window_start = now;
            if counter.locked_until.is_some_and(|until| until + BACKOFF_MEMORY <= now) {
                next.lockouts = 0;
            }
        }
        next.attempts += 1;
        if next.attempts >= limit {
            next.locked_until = Some(next.window_start + self.lock_length(next.lockouts));
            next.lockouts = next.lockouts.saturating_add(1);
        }
        Ok(next)
    }
}

pub struct LoginThrottle {
    per_client: Policy,
    per_email: Policy,
    /// Unix seconds after which this process next deletes counts that are over.
    next_cleanup: AtomicI64,
}

fn email_key(email: &str) -> String {
    format!("email:{email}")
}

/// The address comes first: it has no spaces, so the key reads back unambiguously.
fn client_key(email: &str, client: IpAddr) -> String {
    format!("client:{client} {email}")
}

impl LoginThrottle {
    /// `per_email` attempts per window for one email from all addresses together.
    pub fn new(per_email: u32) -> Self {
        Self {
            per_client: Policy { limit: PER_CLIENT_LIMIT, window: WINDOW, longest_lock: LONGEST_LOCK },
            per_email: Policy { limit: per_email, window: WINDOW, longest_lock: WINDOW },
            next_cleanup: AtomicI64::new(0),
        }
    }

    /// Counts a login attempt for `email` from `client` (a throttle key, see
    /// [`crate::http::client_key`]) before its password is checked: 429 with
    /// `Retry-After` when the pair or the email is locked, and then nothing
    /// is counted.
    pub fn admit(&self, tx: &mut Tx<'_, Internal>, email: &str, client: IpAddr) -> Result<(), ApiError> {
        let at = now();
        let pair = client_key(email, client);
        let mut keys = vec![(email_key(email), self.per_email), (pair.clone(), self.per_client)];
        if is_known(tx, &pair, at)? {
            keys.remove(0);
        }
        // Locked in one order by everyone, so two attempts never wait on each other.
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut admitted = Vec::with_capacity(keys.len());
        let mut locked_until = None;
        for (key, policy) in &keys {
            match policy.admit(lock_or_create(tx, key, at)?, at) {
                Ok(counter) => admitted.push((key, counter)),
                Err(until) => locked_until = locked_until.max(Some(until)),
            }
        }
        if let Some(until) = locked_until {
            let wait = (until - at).num_milliseconds().max(0) as u64;
            return Err(ApiError::TooManyRequests { retry_after_secs: wait.div_ceil(1000).max(1) });
        }
        for (key, counter) in admitted {
            diesel::update(login_attempts::table.find(key)).set(counter).execute(&mut **tx)?;
        }
        if self.cleanup_due(at) {
            delete_expired(tx, at, WINDOW)?;
            diesel::delete(login_known_clients::table.filter(login_known_clients::last_success_at.le(at - KNOWN_FOR)))
                .execute(&mut **tx)?;
        }
        Ok(())
    }

    /// Gives back an attempt whose password was right: the pair starts
    /// afresh (lockouts too) and is known from now on ([`KNOWN_FOR`]), and
    /// the email's count drops by this attempt.
    pub fn refund(&self, tx: &mut Tx<'_, Internal>, email: &str, client: IpAddr) -> QueryResult<()> {
        let pair = client_key(email, client);
        let conn: &mut DbConnection = tx;
        diesel::delete(login_attempts::table.find(&pair)).execute(conn)?;
        let known = (login_known_clients::throttle_key.eq(&pair), login_known_clients::last_success_at.eq(now()));
        match conn {
            DbConnection::Pg(pg) => diesel::insert_into(login_known_clients::table)
                .values(known)
                .on_conflict(login_known_clients::throttle_key)
                .do_update()
                .set(login_known_clients::last_success_at.eq(now()))
                .execute(pg)?,
            DbConnection::Sqlite(sqlite) => {
                diesel::replace_into(login_known_clients::table).values(known).execute(sqlite)?
            }
        };
        diesel::update(login_attempts::table.find(email_key(email)).filter(login_attempts::attempts.gt(0)))
            .set(login_attempts::attempts.eq(login_attempts::attempts - 1))
            .execute(conn)
            .map(drop)
    }

    /// True once a minute per process (for the first caller after that).
    fn cleanup_due(&self, at: NaiveDateTime) -> bool {
        let now_secs = at.and_utc().timestamp();
        let due = self.next_cleanup.load(Ordering::Relaxed);
        now_secs >= due
            && self
                .next_cleanup
                .compare_exchange(due, now_secs + CLEANUP_EVERY.num_seconds(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// The key's count, its row locked until the transaction ends (a no-op
/// update locks a row on both backends); created when there is none.
fn lock_or_create(tx: &mut Tx<'_, Internal>, key: &str, at: NaiveDateTime) -> QueryResult<Counter> {
    if let Some(counter) = lock(tx, key)? {
        return Ok(counter);
    }
    let fresh = Counter::fresh(at);
    // A savepoint: a concurrent first attempt may insert the row first (on
    // PostgreSQL; SQLite's write lock lets one writer in at a time).
    let inserted = tx.savepoint(|tx| {
        diesel::insert_into(login_attempts::table)
            .values((login_attempts::throttle_key.eq(key), fresh))
            .execute(&mut **tx)
    });
    match inserted {
        Ok(_) => Ok(fresh),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            lock(tx, key)?.ok_or(diesel::result::Error::NotFound)
        }
        Err(e) => Err(e),
    }
}

fn lock(tx: &mut Tx<'_, Internal>, key: &str) -> QueryResult<Option<Counter>> {
    let conn: &mut DbConnection = tx;
    let touched = diesel::update(login_attempts::table.find(key))
        .set(login_attempts::attempts.eq(login_attempts::attempts))
        .execute(conn)?;
    if touched == 0 {
        return Ok(None);
    }
    login_attempts::table.find(key).select(Counter::as_select()).first(conn).map(Some)
}

/// Whether the pair logged in successfully in the last [`KNOWN_FOR`].
fn is_known(tx: &mut Tx<'_, Internal>, pair: &str, at: NaiveDateTime) -> QueryResult<bool> {
    let known = login_known_clients::table.find(pair).filter(login_known_clients::last_success_at.gt(at - KNOWN_FOR));
    diesel::select(diesel::dsl::exists(known)).get_result(&mut **tx)
}

/// Deletes counts whose window is over and whose last lockout is forgotten.
/// On PostgreSQL rows that other attempts hold are skipped, not waited for:
/// waiting here while holding this attempt's rows could deadlock.
fn delete_expired(tx: &mut Tx<'_, Internal>, at: NaiveDateTime, window: Duration) -> QueryResult<()> {
    use diesel::sql_types::Timestamp;
    let (window_over, forgotten) = (at - window, at - BACKOFF_MEMORY);
    match &mut **tx {
        DbConnection::Pg(pg) => diesel::sql_query(
            "DELETE FROM login_attempts WHERE throttle_key IN (
                 SELECT throttle_key FROM login_attempts
                 WHERE window_start <= $1 AND (locked_until IS NULL OR locked_until <= $2)
                 FOR UPDATE SKIP LOCKED)",
        )
        .bind::<Timestamp, _>(window_over)
        .bind::<Timestamp, _>(forgotten)
        .execute(pg)
        .map(drop),
        DbConnection::Sqlite(sqlite) => diesel::delete(
            login_attempts::table
                .filter(login_attempts::window_start.le(window_over))
                .filter(login_attempts::locked_until.is_null().or(login_attempts::locked_until.le(forgotten))),
        )
        .execute(sqlite)
        .map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc() + Duration::minutes(minutes)
    }

    const PAIR: Policy = Policy { limit: 5, window: WINDOW, longest_lock: LONGEST_LOCK };

    /// Runs `n` attempts at minute `minute`, returning the count and how many got through.
    fn attempts(policy: &Policy, mut counter: Counter, minute: i64, n: u32) -> (Counter, u32) {
        let mut through = 0;
        for _ in 0..n {
            if let Ok(next) = policy.admit(counter, at(minute)) {
                counter = next;
                through += 1;
            }
        }
        (counter, through)
    }

    #[test]
    fn the_limit_holds_and_the_lock_ends_with_the_window() {
        let (counter, through) = attempts(&PAIR, Counter::fresh(at(0)), 0, 40);
        assert_eq!(through, 5);
        assert_eq!(counter.locked_until, Some(at(15)));
        assert_eq!(PAIR.admit(counter, at(14)), Err(at(15)));
        // After the window, five more.
        let (_, through) = attempts(&PAIR, counter, 15, 40);
        assert_eq!(through, 5);
    }

    #[test]
    fn each_further_lockout_doubles_up_to_a_day() {
        let mut counter = Counter::fresh(at(0));
        let mut start = 0;
        let mut lengths = Vec::new();
        for _ in 0..10 {
            let (next, through) = attempts(&PAIR, counter, start, 6);
            assert_eq!(through, 5);
            let until = next.locked_until.unwrap();
            lengths.push((until - at(start)).num_minutes());
            assert!(PAIR.admit(next, until - Duration::seconds(1)).is_err());
            counter = next;
            start = (until - at(0)).num_minutes();
        }
        assert_eq!(lengths, [15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440]);
    }

    #[test]
    fn a_quiet_day_after_a_lockout_forgets_the_backoff() {
        let (counter, _) = attempts(&PAIR, Counter::fresh(at(0)), 0, 5);
        let (counter, _) = attempts(&PAIR, counter, 15, 5);
        assert_eq!(counter.locked_until, Some(at(45)));
        // A day after that lock ended, the next lockout is the first again.
        let (counter, _) = attempts(&PAIR, counter, 45 + 24 * 60, 5);
        assert_eq!(counter.locked_until, Some(at(60 + 24 * 60)));
        assert_eq!(counter.lockouts, 1);
    }

    #[test]
    fn the_email_ceiling_does_not_back_off() {
        let email = Policy { limit: 100, window: WINDOW, longest_lock: WINDOW };
        let (counter, through) = attempts(&email, Counter::fresh(at(0)), 3, 150);
        assert_eq!(through, 100);
        let (counter, through) = attempts(&email, counter, 15, 150);
        assert_eq!(through, 100);
        assert_eq!(counter.locked_until, Some(at(30)));
    }

    #[test]
    fn a_refunded_attempt_frees_the_email_again() {
        let email = Policy { limit: 3, window: WINDOW, longest_lock: WINDOW };
        let (mut counter, _) = attempts(&email, Counter::fresh(at(0)), 0, 3);
        assert!(email.admit(counter, at(1)).is_err());
        counter.attempts -= 1;
        assert!(email.admit(counter, at(1)).is_ok());
    }
}
