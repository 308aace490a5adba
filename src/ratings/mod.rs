//! Ratings: readers' 1–5 "Rate article" votes, the one public write.
//!
//! Routes: `handlers.rs`. SQL: `queries.rs`. Wire types: `dto.rs`. Votes
//! are written in batches (`writer.rs`); the prior's snapshot and the
//! stored ranks are kept by `upkeep.rs`. Below: how a voter id becomes a
//! keyed hash, a batch of votes, the snapshot's rules, and the per address
//! throttle.
//!
//! Every story keeps its counters (count, sum, histogram) and rank in its
//! own narrow row (`story_ratings`, apart from its wide row in `stories`),
//! changed in the same transaction as the vote, under a lock on that row;
//! so aggregates are exact under concurrent votes on both backends, reading
//! one never scans votes, and a vote never rewrites a story.

pub(crate) mod dto;
pub(crate) mod handlers;
mod queries;
mod upkeep;
mod writer;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
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
use crate::scores::{Prior, RatingPrior, average};
use crate::server_keys::{self, KeyPurpose};
use crate::stories::{StoredStatus, is_public, visible_to};
use dto::{RatingAggregate, RatingEntry, RatingList};
use queries::StoryCounters;
pub(crate) use queries::{RatingCounts, RatingRow, VoteOutcome};
pub use upkeep::Upkeep;
pub use writer::VoteQueue;

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
        // One allocation, not one per byte.
        let mut hex = String::with_capacity(2 * digest.len());
        for b in digest {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

/// What one client address may do with votes, counted in the database so
/// that every process on it shares the counts.
#[derive(Debug, Clone, Copy)]
pub struct VoteLimits {
    /// Votes per minute.
    pub per_minute: u32,
    /// New voters one address may add to one story per day (UTC): so one
    /// machine cannot stuff a story's rating with made-up voter ids.
    pub new_voters_per_day: u32,
}

/// The public aggregate of a story's counters.
fn aggregate(counters: &StoryCounters, prior: &Prior) -> RatingAggregate {
    let counts = &counters.counts;
    RatingAggregate {
        story_id: counters.id,
        count: counts.rating_count,
        average: average(counts.rating_sum, counts.rating_count),
        distribution: counts.histogram().iter().enumerate().map(|(i, n)| ((i + 1).to_string(), *n)).collect(),
        score: prior.score(counts.rating_sum, counts.rating_count),
    }
}

/// A story's lifecycle as far as readers go, from its ratings row, which
/// carries the publication time only while the story is published: unpublished
/// stands for draft and archived alike, neither of which readers see.
fn lifecycle(counters: &StoryCounters) -> (StoredStatus, Option<chrono::NaiveDateTime>) {
    match counters.published_at {
        Some(at) => (StoredStatus::Published, Some(at)),
        None => (StoredStatus::Draft, None),
    }
}

/// A story's rating, as `audience` may see it.
pub fn rating_of(conn: &mut DbConnection, story_id: i64, audience: Audience) -> Result<RatingAggregate, ApiError> {
    let counters = queries::counters(conn, story_id)?.ok_or(ApiError::NotFound)?;
    let (status, published_at) = lifecycle(&counters);
    visible_to(audience, status, published_at)?;
    Ok(aggregate(&counters, &queries::prior(conn)?))
}

/// One reader's vote, as the handler hands it over.
pub struct Ballot {
    pub story_id: i64,
    pub voter_hash: String,
    /// [`VoterHasher::hash_client`] of the address it came from.
    pub client_key: String,
    pub score: i32,
}

/// What became of one vote: whether it was the voter's first, and the
/// story's new aggregate; or why it was refused (then it changed nothing).
pub type Voted = Result<(VoteOutcome, RatingAggregate), ApiError>;

/// A story in a batch of votes: its counters, held under its lock, and the
/// votes its voters in the batch cast, earlier or in the batch.
struct Rated {
    counters: StoryCounters,
    votes: HashMap<String, Cast>,
    changed: bool,
}

/// A voter's vote on a story as the batch leaves it.
struct Cast {
    /// `None` until stored: a first vote cast in this batch.
    id: Option<i64>,
    score: i32,
    /// Cast in this batch, at this ballot: what is written, in this order.
    at_ballot: Option<usize>,
}

/// Records readers' votes on public stories, in the order given, as if each
/// were alone in its transaction: a voter's later vote replaces its earlier
/// one; a vote past its address's [`VoteLimits`] is 429, one on a story
/// readers cannot see is 404, and a refused vote changes nothing. Returns
/// each vote's outcome, in order.
///
/// A batch is a fixed number of statements, however many votes and stories
/// it holds: every row is locked once, in one order (stories by id, then
/// addresses by key), so batches of several processes never wait for each
/// other in a circle; everything is decided under those locks, in memory,
/// before it is written, so no refusal needs a rollback; then every change
/// (new votes, replaced votes, counters, new voters, allowances, totals) is
/// written at once: on PostgreSQL in one statement.
pub fn vote(tx: &mut Tx<'_, Content>, ballots: &[Ballot], limits: &VoteLimits) -> Result<Vec<Voted>, ApiError> {
    let at = now();
    let day = at.date().and_time(chrono::NaiveTime::MIN);
    let stories: Vec<i64> = ballots.iter().map(|ballot| ballot.story_id).collect::<BTreeSet<_>>().into_iter().collect();
    let mut rated: BTreeMap<i64, Rated> = queries::lock_counters(tx, &stories)?
        .into_iter()
        .filter(|counters| {
            let (status, published_at) = lifecycle(counters);
            is_public(status, published_at, at)
        })
        .map(|counters| (counters.id, Rated { counters, votes: HashMap::new(), changed: false }))
        .collect();
    // What hangs off the stories, read under their locks, for the whole batch
    // at once: the voters' earlier votes, the addresses' new voters today.
    let voters = rated_pairs(ballots, &rated, |ballot| &ballot.voter_hash);
    let sources = rated_pairs(ballots, &rated, |ballot| &ballot.client_key);
    for (story_id, hash, id, score) in queries::votes_of(tx, &voters)? {
        if let Some(story) = rated.get_mut(&story_id) {
            story.votes.insert(hash, Cast { id: Some(id), score, at_ballot: None });
        }
    }
    let mut new_voters: HashMap<(i64, &str), (Option<i32>, i32)> = HashMap::new();
    for (story_id, client_key, n) in queries::new_voters(tx, &sources, day)? {
        // The key borrowed from the ballots, as the counts added below are.
        if let Ok(i) = sources.binary_search(&(story_id, client_key.as_str())) {
            new_voters.insert(sources[i], (Some(n), n));
        }
    }
    // Read after the stories are locked (see `queries::write_batch`).
    let prior = queries::prior(tx)?;
    // Last, as briefly as may be: one address's votes all take its row, so
    // another batch can lock and read its own stories meanwhile.
    let keys: Vec<&str> =
        ballots.iter().map(|ballot| ballot.client_key.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut allowances: BTreeMap<String, (i32, i32, chrono::NaiveDateTime)> = queries::hold_allowances(tx, &keys, at)?
        .into_iter()
        .map(|(key, counted, start)| (key, (counted, 0, start)))
        .collect();
    let mut totals = (0, 0);
    let mut outcomes = Vec::with_capacity(ballots.len());
    for (i, ballot) in ballots.iter().enumerate() {
        let Some((counted, admitted, start)) = allowances.get_mut(&ballot.client_key) else {
            return Err(ApiError::internal(anyhow::anyhow!("a vote's address was not held")));
        };
        if *counted + *admitted >= limits.per_minute as i32 {
            outcomes.push(Err(too_many_until(queries::allowance_ends(*start), at)));
            continue;
        }
        let Some(story) = rated.get_mut(&ballot.story_id) else {
            outcomes.push(Err(ApiError::NotFound));
            continue;
        };
        let cast = Cast { id: None, score: ballot.score, at_ballot: Some(i) };
        let earlier = match story.votes.get_mut(&ballot.voter_hash) {
            Some(earlier) => Some(std::mem::replace(earlier, Cast { id: earlier.id, ..cast })),
            None => {
                let added = new_voters.entry((ballot.story_id, ballot.client_key.as_str())).or_insert((None, 0));
                if added.1 >= limits.new_voters_per_day as i32 {
                    outcomes.push(Err(too_many_until(day + chrono::Duration::days(1), at)));
                    continue;
                }
                added.1 += 1;
                story.votes.insert(ballot.voter_hash.clone(), cast);
                None
            }
        };
        let outcome = if earlier.is_some() { VoteOutcome::Replaced } else { VoteOutcome::Created };
        let delta = story.counters.counts.apply(earlier.map(|cast| cast.score), Some(ballot.score));
        (totals.0, totals.1) = (totals.0 + delta.0, totals.1 + delta.1);
        story.changed = true;
        *admitted += 1;
        outcomes.push(Ok((outcome, aggregate(&story.counters, &prior))));
    }
    let mut inserted = Vec::new();
    let mut replaced = Vec::new();
    for (story_id, story) in &rated {
        for (voter_hash, cast) in &story.votes {
            match (cast.id, cast.at_ballot) {
                (None, Some(i)) => inserted.push((
                    i,
                    queries::NewVote {
                        story_id: *story_id,
                        voter_hash,
                        score: cast.score,
                        created_at: at,
                        updated_at: at,
                    },
                )),
                (Some(id), Some(_)) => replaced.push((id, cast.score)),
                _ => {}
            }
        }
    }
    // In the order they were cast, so the newest vote has the highest id.
    inserted.sort_unstable_by_key(|(i, _)| *i);
    let inserted: Vec<_> = inserted.into_iter().map(|(_, vote)| vote).collect();
    let changed: Vec<_> =
        rated.iter().filter(|(_, story)| story.changed).map(|(id, story)| (*id, &story.counters.counts)).collect();
    let counted: Vec<_> = new_voters
        .iter()
        .filter(|(_, (was, now))| Some(*now) != *was)
        .map(|((story_id, client_key), (_, now))| queries::NewVoters {
            story_id: *story_id,
            client_key,
            day_start: day,
            new_voters: *now,
        })
        .collect();
    let spent: Vec<_> = allowances
        .iter()
        .filter(|(_, (_, admitted, _))| *admitted > 0)
        .map(|(key, (_, admitted, _))| (key.as_str(), *admitted))
        .collect();
    let writes = queries::BatchWrites {
        inserted: &inserted,
        replaced: &replaced,
        at,
        counters: &changed,
        new_voters: &counted,
        spent: &spent,
        totals,
    };
    queries::write_batch(tx, &writes, &prior)?;
    Ok(outcomes)
}

/// The distinct (story, `key`) pairs of the ballots on stories that may be
/// rated, sorted.
fn rated_pairs<'a>(
    ballots: &'a [Ballot],
    rated: &BTreeMap<i64, Rated>,
    key: fn(&Ballot) -> &str,
) -> Vec<(i64, &'a str)> {
    let pairs = ballots.iter().filter(|ballot| rated.contains_key(&ballot.story_id));
    pairs.map(|ballot| (ballot.story_id, key(ballot))).collect::<BTreeSet<_>>().into_iter().collect()
}

/// 429 until `until`.
fn too_many_until(until: chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> ApiError {
    ApiError::TooManyRequests { retry_after_secs: (until - now).num_seconds().max(1) as u64 }
}

/// How far the site-wide mean may move from the prior's snapshot before the
/// snapshot is re-taken and every rated story re-ranked: a story's score
/// and rank are then off by less than this.
const DRIFT: f64 = 0.01;

/// What the prior's upkeep has to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PriorUpkeep {
    /// Nothing: the snapshot stands and its ranking pass finished.
    Nothing,
    /// Rank the stories under this snapshot (a pass never finished).
    Rank(Prior),
    /// Take this snapshot, then rank under it: the configuration no longer
    /// matches the stored one or, when `drift` is looked at, the site-wide
    /// mean moved more than [`DRIFT`] from it.
    Retake(Prior),
}

/// What [`retake_prior`] would do now: a read, so that a round with nothing
/// to do opens no write (a public write empties every process's response
/// cache, and this runs every minute).
fn prior_upkeep(conn: &mut DbConnection, config: &RatingPrior, drift: bool) -> diesel::QueryResult<PriorUpkeep> {
    let (snapshot, ranked) = queries::prior_ranked(conn)?;
    let (count, sum) = queries::totals(conn)?;
    let target = config.target(count, sum);
    let configured_anew =
        snapshot.weight != target.weight || config.configured_mean.is_some_and(|m| m != snapshot.mean);
    Ok(if configured_anew || (drift && (snapshot.mean - target.mean).abs() > DRIFT) {
        PriorUpkeep::Retake(target)
    } else if ranked {
        PriorUpkeep::Nothing
    } else {
        PriorUpkeep::Rank(snapshot)
    })
}

/// Re-takes the prior's snapshot when [`prior_upkeep`] says so (decided
/// again in this transaction: another process may have just done it).
/// Returns the snapshot if its stories need ranking under it: it is new, or
/// a pass under it never finished.
pub fn retake_prior(tx: &mut Tx<'_, Content>, config: &RatingPrior, drift: bool) -> Result<Option<Prior>, ApiError> {
    Ok(match prior_upkeep(tx, config, drift)? {
        PriorUpkeep::Nothing => None,
        PriorUpkeep::Rank(snapshot) => Some(snapshot),
        PriorUpkeep::Retake(target) => {
            queries::set_prior(tx, &target)?;
            Some(target)
        }
    })
}

/// Ranks up to `limit` rated stories after `after_id` under the snapshot;
/// the last id, or `None` when the pass is over (and then marked finished,
/// if it ran under `began_under` throughout).
pub fn rerank(
    tx: &mut Tx<'_, Content>,
    began_under: &Prior,
    after_id: i64,
    limit: i64,
) -> Result<Option<i64>, ApiError> {
    let last = queries::rerank(tx, after_id, limit)?;
    if last.is_none() {
        queries::mark_ranked(tx, began_under)?;
    }
    Ok(last)
}

/// Stories ranked per transaction in the background: each holds its rows
/// (on SQLite, the writer's turn) for milliseconds.
const RERANK_BATCH: i64 = 1000;

/// Counts every story's votes, and the site's, from the votes themselves
/// (an import, which takes no count from its file).
pub fn recount_all(tx: &mut Tx<'_, Content>) -> Result<(), ApiError> {
    Ok(queries::recount_all(tx)?)
}

/// Ranks every rated story under the prior at once, in this transaction
/// (an import, which loads the ranks' inputs but not the ranks).
pub fn rank_all(tx: &mut Tx<'_, Content>) -> Result<(), ApiError> {
    let prior = queries::prior(tx)?;
    let mut after = i64::MIN;
    while let Some(last) = rerank(tx, &prior, after, RERANK_BATCH)? {
        after = last;
    }
    Ok(())
}

/// Forgets spent vote limits, everyone's: allowance windows that are over,
/// new voters counted on earlier days.
pub fn forget_spent_limits(tx: &mut Tx<'_, Internal>) -> Result<(), ApiError> {
    Ok(queries::forget_spent_limits(tx, now())?)
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

/// Takes story `story_id`'s votes out of the site-wide totals (the prior's
/// mean): call in the transaction that deletes the story, and its votes.
pub fn withdraw_story(tx: &mut Tx<'_, Content>, story_id: i64) -> Result<(), ApiError> {
    Ok(queries::withdraw_story(tx, story_id)?)
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
