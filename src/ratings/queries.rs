//! Every SQL statement about ratings and the per-story counters.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{Content, DbConnection, Tx, is_unique_violation, now};
use crate::schema::{rating_totals, ratings, stories, vote_allowances, vote_sources};
use crate::stories::StoredStatus;

/// A story's rating counters, with what decides whether it may be rated.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stories)]
pub struct StoryCounters {
    pub id: i64,
    #[diesel(deserialize_as = String)]
    pub status: StoredStatus,
    pub published_at: Option<NaiveDateTime>,
    #[diesel(embed)]
    pub counts: RatingCounts,
}

/// A story's rating counters as stored in its row: kept exact by every vote,
/// so reading them never scans votes.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = stories)]
pub struct RatingCounts {
    pub rating_count: i64,
    pub rating_sum: i64,
    pub rating_1: i64,
    pub rating_2: i64,
    pub rating_3: i64,
    pub rating_4: i64,
    pub rating_5: i64,
}

impl RatingCounts {
    pub fn histogram(&self) -> [i64; 5] {
        [self.rating_1, self.rating_2, self.rating_3, self.rating_4, self.rating_5]
    }
}

/// A vote as stored (the export carries it whole).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = ratings)]
pub struct RatingRow {
    pub id: i64,
    pub story_id: i64,
    pub voter_hash: String,
    pub score: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn counters(conn: &mut DbConnection, story_id: i64) -> QueryResult<Option<StoryCounters>> {
    stories::table.find(story_id).select(StoryCounters::as_select()).first(conn).optional()
}

/// Locks the story's row ([`crate::stories::lock`]), then reads its counters.
/// Every vote and deletion on a story goes through here first, so they
/// apply one at a time.
pub fn lock_counters(tx: &mut Tx<'_, Content>, story_id: i64) -> QueryResult<Option<StoryCounters>> {
    if !crate::stories::lock(tx, story_id)? {
        return Ok(None);
    }
    counters(tx, story_id)
}

/// What a vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// The voter's first vote on this story.
    Created,
    /// A later vote: it replaced the earlier score.
    Replaced,
}

/// Records `score` from `voter_hash`, adjusting the counters. Call with the
/// story locked ([`lock_counters`]).
pub fn vote(tx: &mut Tx<'_, Content>, story_id: i64, voter_hash: &str, score: i32) -> QueryResult<VoteOutcome> {
    let at = now();
    let existing: Option<(i64, i32)> = ratings::table
        .filter(ratings::story_id.eq(story_id))
        .filter(ratings::voter_hash.eq(voter_hash))
        .select((ratings::id, ratings::score))
        .first(&mut **tx)
        .optional()?;
    match existing {
        None => {
            diesel::insert_into(ratings::table)
                .values((
                    ratings::story_id.eq(story_id),
                    ratings::voter_hash.eq(voter_hash),
                    ratings::score.eq(score),
                    ratings::created_at.eq(at),
                    ratings::updated_at.eq(at),
                ))
                .execute(&mut **tx)?;
            adjust(tx, story_id, 1, score, None, Some(score))?;
            Ok(VoteOutcome::Created)
        }
        Some((id, old)) => {
            diesel::update(ratings::table.find(id))
                .set((ratings::score.eq(score), ratings::updated_at.eq(at)))
                .execute(&mut **tx)?;
            adjust(tx, story_id, 0, score - old, Some(old), Some(score))?;
            Ok(VoteOutcome::Replaced)
        }
    }
}

/// Deletes a vote, adjusting its story's counters; `None` if there is no
/// such vote.
pub fn delete(tx: &mut Tx<'_, Content>, rating_id: i64) -> QueryResult<Option<i64>> {
    let story = ratings::table.find(rating_id).select(ratings::story_id).first::<i64>(&mut **tx).optional()?;
    let Some(story_id) = story else { return Ok(None) };
    lock_counters(tx, story_id)?;
    // Read again under the lock: a concurrent re-vote may have changed it.
    let deleted: Option<i32> =
        diesel::delete(ratings::table.find(rating_id)).returning(ratings::score).get_result(&mut **tx).optional()?;
    let Some(score) = deleted else { return Ok(None) };
    adjust(tx, story_id, -1, -score, Some(score), None)?;
    Ok(Some(story_id))
}

/// Moves the counters: `count` and `sum` by the deltas, one vote out of the
/// `removed` score's bucket and into the `added` one's; and the site-wide
/// totals by the same deltas, last, so their row is locked only briefly.
fn adjust(
    tx: &mut Tx<'_, Content>,
    story_id: i64,
    count: i64,
    sum: i32,
    removed: Option<i32>,
    added: Option<i32>,
) -> QueryResult<()> {
    let conn: &mut DbConnection = tx;
    let bucket = |score: i32| i64::from(added == Some(score)) - i64::from(removed == Some(score));
    diesel::update(stories::table.find(story_id))
        .set((
            stories::rating_count.eq(stories::rating_count + count),
            stories::rating_sum.eq(stories::rating_sum + i64::from(sum)),
            stories::rating_1.eq(stories::rating_1 + bucket(1)),
            stories::rating_2.eq(stories::rating_2 + bucket(2)),
            stories::rating_3.eq(stories::rating_3 + bucket(3)),
            stories::rating_4.eq(stories::rating_4 + bucket(4)),
            stories::rating_5.eq(stories::rating_5 + bucket(5)),
        ))
        .execute(conn)?;
    diesel::update(rating_totals::table)
        .set((
            rating_totals::vote_count.eq(rating_totals::vote_count + count),
            rating_totals::vote_sum.eq(rating_totals::vote_sum + i64::from(sum)),
        ))
        .execute(conn)
        .map(drop)
}

/// A story's votes, newest first, before `before_id` when paging.
pub fn list(conn: &mut DbConnection, story_id: i64, before_id: Option<i64>, limit: i64) -> QueryResult<Vec<RatingRow>> {
    let before = before_id.unwrap_or(i64::MAX);
    let page = ratings::table.filter(ratings::story_id.eq(story_id).and(ratings::id.lt(before)));
    page.order(ratings::id.desc()).limit(limit).select(RatingRow::as_select()).load(conn)
}

/// Counts a vote against `client_key`'s allowance of `limit` per minute. A
/// vote past it is `Err(when the window ends)`, and its count is rolled back
/// with the refused vote's transaction.
pub fn spend_vote_allowance(
    tx: &mut Tx<'_, Content>,
    client_key: &str,
    limit: u32,
    now: NaiveDateTime,
) -> QueryResult<Result<(), NaiveDateTime>> {
    let window = chrono::Duration::minutes(1);
    let counted = |tx: &mut Tx<'_, Content>| {
        diesel::update(vote_allowances::table.find(client_key).filter(vote_allowances::window_start.gt(now - window)))
            .set(vote_allowances::votes.eq(vote_allowances::votes + 1))
            .returning((vote_allowances::votes, vote_allowances::window_start))
            .get_result::<(i32, NaiveDateTime)>(&mut **tx)
            .optional()
    };
    let (votes, window_start) = match counted(tx)? {
        Some(counted) => counted,
        None => {
            // A first vote, or the first since the last window ended: start a
            // window, and forget the windows that are over, everyone's.
            diesel::delete(vote_allowances::table.filter(vote_allowances::window_start.le(now - window)))
                .execute(&mut **tx)?;
            let values = (
                vote_allowances::client_key.eq(client_key),
                vote_allowances::window_start.eq(now),
                vote_allowances::votes.eq(1),
            );
            match tx.savepoint(|tx| diesel::insert_into(vote_allowances::table).values(values).execute(&mut **tx)) {
                Ok(_) => (1, now),
                // Another process's vote started it first.
                Err(err) if is_unique_violation(&err) => counted(tx)?.ok_or(diesel::result::Error::NotFound)?,
                Err(err) => return Err(err),
            }
        }
    };
    Ok(if votes > limit as i32 { Err(window_start + window) } else { Ok(()) })
}

/// Counts a new voter on `story_id` from `client_key` on `day`; `false` when
/// that makes more than `cap` (the caller refuses the vote, which rolls the
/// count back).
pub fn count_new_voter(
    tx: &mut Tx<'_, Content>,
    story_id: i64,
    client_key: &str,
    day: NaiveDateTime,
    cap: u32,
) -> QueryResult<bool> {
    let key = (story_id, client_key, day);
    let counted = |tx: &mut Tx<'_, Content>| {
        diesel::update(vote_sources::table.find(key))
            .set(vote_sources::new_voters.eq(vote_sources::new_voters + 1))
            .returning(vote_sources::new_voters)
            .get_result::<i32>(&mut **tx)
            .optional()
    };
    let new_voters = match counted(tx)? {
        Some(n) => n,
        None => {
            // The first today from this address: forget earlier days, everyone's.
            diesel::delete(vote_sources::table.filter(vote_sources::day_start.lt(day))).execute(&mut **tx)?;
            let values = (
                vote_sources::story_id.eq(story_id),
                vote_sources::client_key.eq(client_key),
                vote_sources::day_start.eq(day),
                vote_sources::new_voters.eq(1),
            );
            match tx.savepoint(|tx| diesel::insert_into(vote_sources::table).values(values).execute(&mut **tx)) {
                Ok(_) => 1,
                Err(err) if is_unique_violation(&err) => counted(tx)?.ok_or(diesel::result::Error::NotFound)?,
                Err(err) => return Err(err),
            }
        }
    };
    Ok(new_voters <= cap as i32)
}
