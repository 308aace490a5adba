//! Ratings: readers' 1–5 "Rate article" votes, the one public write.
//!
//! Routes: `handlers.rs`. SQL: `queries.rs`. Wire types: `dto.rs`. Below:
//! how a voter id becomes a keyed hash, the Bayesian score, and the per
//! address throttle.
//!
//! Every story keeps its counters (count, sum, histogram) in its own row,
//! changed in the same transaction as the vote, under a lock on that row;
//! so aggregates are exact under concurrent votes on both backends, and
//! reading one never scans votes.

pub(crate) mod dto;
pub(crate) mod handlers;
mod queries;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::{Content, DbConnection, Internal, Tx, now};
use crate::error::ApiError;
use crate::http::Audience;
use crate::pagination::PageRequest;
use crate::scores::{RatingPrior, average, bayesian_score};
use crate::server_keys::{self, KeyPurpose};
use crate::stories::{is_public, visible_to};
use dto::{RatingAggregate, RatingEntry, RatingList};
pub(crate) use queries::{RatingCounts, RatingRow, VoteOutcome};

/// Turns voter ids into keyed hashes: the server never stores the id itself,
/// and without the key the hashes cannot be linked back to ids.
pub struct VoterHasher {
    key: Vec<u8>,
}

impl VoterHasher {
    /// The key is generated once and kept in the database, like the JWT key;
    /// it is never rotated, or re-votes would count as new voters.
    pub fn load(tx: &mut Tx<'_, Internal>) -> diesel::QueryResult<Self> {
        let mut keys = server_keys::ensure(tx, KeyPurpose::VoterHash)?;
        Ok(Self { key: keys.swap_remove(0).secret.0 })
    }

    /// The hash of a voter id; any spelling of the same UUID hashes alike.
    pub fn hash(&self, voter: &uuid::Uuid) -> String {
        self.hash_text(&voter.hyphenated().to_string())
    }

    /// The hash of a client address as vote limits count it (IPv6 by /64):
    /// what the database keeps instead of the address.
    pub fn hash_client(&self, client: IpAddr) -> String {
        self.hash_text(&format!("address:{}", crate::http::client_key(client)))
    }

    fn hash_text(&self, text: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What one client address may do with votes, counted in the database so
/// that every process on it shares the counts.
pub struct VoteLimits {
    /// Votes per minute.
    pub per_minute: u32,
    /// New voters one address may add to one story per day (UTC): so one
    /// machine cannot stuff a story's rating with made-up voter ids.
    pub new_voters_per_day: u32,
}

/// The public aggregate of a story's counters.
fn aggregate(
    conn: &mut DbConnection,
    counters: &queries::StoryCounters,
    prior: &RatingPrior,
) -> Result<RatingAggregate, ApiError> {
    let prior_mean = prior.mean(conn)?;
    Ok(RatingAggregate {
        story_id: counters.id,
        count: counters.counts.rating_count,
        average: average(counters.counts.rating_sum, counters.counts.rating_count),
        distribution: counters.counts.histogram().iter().enumerate().map(|(i, n)| ((i + 1).to_string(), *n)).collect(),
        score: bayesian_score(counters.counts.rating_sum, counters.counts.rating_count, prior.weight, prior_mean),
    })
}

/// A story's rating, as `audience` may see it.
pub fn rating_of(
    conn: &mut DbConnection,
    story_id: i64,
    audience: Audience,
    prior: &RatingPrior,
) -> Result<RatingAggregate, ApiError> {
    let counters = queries::counters(conn, story_id)?.ok_or(ApiError::NotFound)?;
    visible_to(audience, counters.status, counters.published_at)?;
    aggregate(conn, &counters, prior)
}

/// One reader's vote, as the handler hands it over.
pub struct Ballot {
    pub story_id: i64,
    pub voter_hash: String,
    /// [`VoterHasher::hash_client`] of the address it came from.
    pub client_key: String,
    pub score: i32,
}

/// Records a reader's vote on a public story: a voter's later vote replaces
/// its earlier one. Returns whether it was the first, and the new aggregate.
/// Within [`VoteLimits`], or 429; a refused vote changes nothing.
pub fn vote(
    tx: &mut Tx<'_, Content>,
    ballot: &Ballot,
    limits: &VoteLimits,
    prior: &RatingPrior,
) -> Result<(VoteOutcome, RatingAggregate), ApiError> {
    let at = now();
    if let Err(window_ends) = queries::spend_vote_allowance(tx, &ballot.client_key, limits.per_minute, at)? {
        return Err(too_many_until(window_ends, at));
    }
    let story_id = ballot.story_id;
    let story = queries::lock_counters(tx, story_id)?.ok_or(ApiError::NotFound)?;
    if !is_public(story.status, story.published_at, at) {
        return Err(ApiError::NotFound);
    }
    let outcome = queries::vote(tx, story_id, &ballot.voter_hash, ballot.score)?;
    let day = at.date().and_time(chrono::NaiveTime::MIN);
    if outcome == VoteOutcome::Created
        && !queries::count_new_voter(tx, story_id, &ballot.client_key, day, limits.new_voters_per_day)?
    {
        return Err(too_many_until(day + chrono::Duration::days(1), at));
    }
    let counters = queries::counters(tx, story_id)?.ok_or(ApiError::NotFound)?;
    Ok((outcome, aggregate(tx, &counters, prior)?))
}

/// 429 until `until`.
fn too_many_until(until: chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> ApiError {
    ApiError::TooManyRequests { retry_after_secs: (until - now).num_seconds().max(1) as u64 }
}

/// A story's votes, newest first, for moderation.
pub fn votes_page(conn: &mut DbConnection, story_id: i64, page: PageRequest<i64>) -> Result<RatingList, ApiError> {
    queries::counters(conn, story_id)?.ok_or(ApiError::NotFound)?;
    let rows = queries::list(conn, story_id, page.after, page.fetch_limit())?;
    let (rows, page) = page.page_of(rows, |row| row.id);
    let data = rows
        .into_iter()
        .map(|r| RatingEntry {
            id: r.id,
            story_id: r.story_id,
            score: r.score,
            voter_hash: r.voter_hash,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
        .collect();
    Ok(RatingList { data, page })
}

/// Moderation: deletes a vote; its story's aggregate follows at once.
pub fn remove(tx: &mut Tx<'_, Content>, rating_id: i64) -> Result<(), ApiError> {
    queries::delete(tx, rating_id)?.ok_or(ApiError::NotFound).map(drop)
}

/// Votes per client address per minute, in this process: a cheap first line
/// before the shared count in the database ([`VoteLimits`]).
pub struct VoteThrottle {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl VoteThrottle {
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self { limiter: RateLimiter::keyed(quota) }
    }

    pub fn check(&self, client: IpAddr) -> Result<(), ApiError> {
        let key = crate::http::client_key(client);
        // Forget idle addresses now and then, so memory stays bounded.
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests { retry_after_secs: wait.as_secs().max(1) }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_counts_per_address_and_per_ipv6_prefix() {
        let throttle = VoteThrottle::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        throttle.check(a).unwrap();
        throttle.check(a).unwrap();
        assert!(matches!(throttle.check(a), Err(ApiError::TooManyRequests { .. })));
        throttle.check("192.0.2.2".parse().unwrap()).unwrap();
        throttle.check("2001:db8::1".parse().unwrap()).unwrap();
        throttle.check("2001:db8::2".parse().unwrap()).unwrap();
        assert!(throttle.check("2001:db8::3".parse().unwrap()).is_err());
        throttle.check("2001:db8:0:1::1".parse().unwrap()).unwrap();
    }
}
