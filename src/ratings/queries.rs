//! Every SQL statement about ratings and the per-story counters.

use chrono::NaiveDateTime;
use diesel::dsl::{case_when, sql};
use diesel::pg::sql_types::Array;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Text, Timestamp};
use diesel::upsert::excluded;

use crate::db::{Content, DbConnection, Internal, Tx};
use crate::schema::{rating_prior, rating_totals, ratings, story_ratings, vote_allowances, vote_sources};
use crate::scores::Prior;

/// A story's ratings row: its counters, with what decides whether it may
/// be rated, all without reading the story's own (wide) row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = story_ratings)]
pub struct StoryCounters {
    #[diesel(column_name = story_id)]
    pub id: i64,
    /// The story's publication time while it is published, else `None`
    /// (kept in step by the stories module with the story's status).
    pub published_at: Option<NaiveDateTime>,
    #[diesel(embed)]
    pub counts: RatingCounts,
}

/// A story's rating counters as stored in its ratings row: kept exact by
/// every vote, so reading them never scans votes.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = story_ratings)]
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

    /// Moves one vote out of the `removed` score and into the `added` one:
    /// a first vote only adds, a replaced one does both, a deletion only
    /// removes. Returns the change in (count, sum), for the site-wide totals.
    pub fn apply(&mut self, removed: Option<i32>, added: Option<i32>) -> (i64, i64) {
        let delta = (
            i64::from(added.is_some()) - i64::from(removed.is_some()),
            i64::from(added.unwrap_or(0)) - i64::from(removed.unwrap_or(0)),
        );
        for (score, bucket) in
            [&mut self.rating_1, &mut self.rating_2, &mut self.rating_3, &mut self.rating_4, &mut self.rating_5]
                .into_iter()
                .enumerate()
        {
            let score = Some(score as i32 + 1);
            *bucket += i64::from(added == score) - i64::from(removed == score);
        }
        self.rating_count += delta.0;
        self.rating_sum += delta.1;
        delta
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
    story_ratings::table.find(story_id).select(StoryCounters::as_select()).first(conn).optional()
}

/// Locks the stories' ratings rows and reads them, in id order; stories
/// that do not exist are left out. Every vote and deletion on a story goes
/// through here first, so they apply one at a time, and what hangs off the
/// story (its votes, its new voters of the day) is changed only by whoever
/// holds the lock. A vote batch locks nothing else of its stories: it never
/// writes their rows in `stories` (its votes' foreign keys only share-lock
/// their keys, which no story writer but a deletion conflicts with).
///
/// Lock order, on PostgreSQL (SQLite's write transaction, `BEGIN
/// IMMEDIATE`, already excludes other writers): ratings rows are locked in
/// id order, by every vote batch and re-ranking of every process; a story
/// writer (status change, edit, deletion) locks the story's row in
/// `stories` first and its ratings row after, and a deletion does both
/// before it deletes. So a vote batch never waits for a story's row while
/// holding ratings rows (its key-share locks are compatible with the
/// writer's), and a writer holding a story's row waits at most for the
/// batches holding its ratings row, which finish without it: no circle.
pub fn lock_counters(tx: &mut Tx<'_, Content>, story_ids: &[i64]) -> QueryResult<Vec<StoryCounters>> {
    let query = story_ratings::table.filter(story_ratings::story_id.eq_any(story_ids)).order(story_ratings::story_id);
    match &mut **tx {
        // The lock the UPDATE of the row will take.
        DbConnection::Pg(pg) => query.select(StoryCounters::as_select()).for_no_key_update().load(pg),
        DbConnection::Sqlite(sqlite) => query.select(StoryCounters::as_select()).load(sqlite),
    }
}

/// What one transaction of votes (or a moderator's deletion) writes, all
/// decided under the locks of its stories and addresses.
#[derive(Default)]
pub struct BatchWrites<'a> {
    /// Voters' first votes, in the order cast: the newest gets the highest id.
    pub inserted: &'a [NewVote<'a>],
    /// Replaced scores: (vote id, score).
    pub replaced: &'a [(i64, i32)],
    /// When the replaced votes were replaced.
    pub at: NaiveDateTime,
    /// Stories' new counters, ranked under the prior as they are stored.
    pub counters: &'a [(i64, &'a RatingCounts)],
    /// New counts of new voters ([`new_voters`]).
    pub new_voters: &'a [NewVoters<'a>],
    /// Votes counted in addresses' windows held with [`hold_allowances`]:
    /// (address, votes).
    pub spent: &'a [(&'a str, i32)],
    /// The change in the site-wide totals: (count, sum).
    pub totals: (i64, i64),
}

/// Writes what a batch decided. Call with its stories locked
/// ([`lock_counters`]), its addresses held, and `prior` read after the
/// locks, so that a new snapshot either is seen here or re-ranks the
/// stories after this commits. The site-wide totals go to one shard picked
/// at random, so that concurrent writers (other processes' batches) rarely
/// wait for each other's row; it stays locked until the transaction ends.
///
/// PostgreSQL: one statement, each kind of change a data-modifying `WITH`
/// over arrays, so a batch holding its rows makes one round trip to write
/// them whatever its size. SQLite, in process: one cached prepared statement
/// per row (diesel has no multi-row upsert there).
pub fn write_batch(tx: &mut Tx<'_, Content>, writes: &BatchWrites<'_>, prior: &Prior) -> QueryResult<()> {
    let rank = |counts: &RatingCounts| prior.rank(counts.rating_sum, counts.rating_count);
    let shard = rand::random_range(1..=TOTALS_SHARDS);
    match &mut **tx {
        DbConnection::Pg(pg) => {
            let BatchWrites { inserted, replaced, counters, new_voters, spent, .. } = writes;
            let counter = |f: fn(&RatingCounts) -> i64| counters.iter().map(|(_, c)| f(c)).collect::<Vec<i64>>();
            diesel::sql_query(
                "WITH inserted AS ( \
                     INSERT INTO ratings (story_id, voter_hash, score, created_at, updated_at) \
                     SELECT v.story_id, v.voter_hash, v.score, $4, $4 \
                     FROM unnest($1, $2, $3) WITH ORDINALITY AS v(story_id, voter_hash, score, n) ORDER BY v.n \
                 ), replaced AS ( \
                     UPDATE ratings SET score = v.score, updated_at = $4 \
                     FROM unnest($5, $6) AS v(id, score) WHERE ratings.id = v.id \
                 ), counted AS ( \
                     UPDATE story_ratings SET rating_count = v.n, rating_sum = v.s, rating_1 = v.r1, rating_2 = v.r2, \
                     rating_3 = v.r3, rating_4 = v.r4, rating_5 = v.r5, rating_rank = v.rank \
                     FROM unnest($7, $8, $9, $10, $11, $12, $13, $14, $15) AS v(id, n, s, r1, r2, r3, r4, r5, rank) \
                     WHERE story_ratings.story_id = v.id \
                 ), sources AS ( \
                     INSERT INTO vote_sources (story_id, client_key, day_start, new_voters) \
                     SELECT * FROM unnest($16, $17, $18, $19) \
                     ON CONFLICT (story_id, client_key, day_start) DO UPDATE SET new_voters = excluded.new_voters \
                 ), spent AS ( \
                     UPDATE vote_allowances SET votes = vote_allowances.votes + v.n \
                     FROM unnest($20, $21) AS v(client_key, n) WHERE vote_allowances.client_key = v.client_key \
                 ) \
                 UPDATE rating_totals SET vote_count = vote_count + $22, vote_sum = vote_sum + $23 \
                 WHERE id = $24 AND ($22 <> 0 OR $23 <> 0)",
            )
            .bind::<Array<BigInt>, _>(inserted.iter().map(|v| v.story_id).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(inserted.iter().map(|v| v.voter_hash).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(inserted.iter().map(|v| v.score).collect::<Vec<_>>())
            .bind::<Timestamp, _>(writes.at)
            .bind::<Array<BigInt>, _>(replaced.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(replaced.iter().map(|(_, score)| *score).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(counters.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(counter(|c| c.rating_count))
            .bind::<Array<BigInt>, _>(counter(|c| c.rating_sum))
            .bind::<Array<BigInt>, _>(counter(|c| c.rating_1))
            .bind::<Array<BigInt>, _>(counter(|c| c.rating_2))
            .bind::<Array<BigInt>, _>(counter(|c| c.rating_3))
            .bind::<Array<BigInt>, _>(counter(|c| c.rating_4))
            .bind::<Array<BigInt>, _>(counter(|c| c.rating_5))
            .bind::<Array<Double>, _>(counters.iter().map(|(_, c)| rank(c)).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(new_voters.iter().map(|n| n.story_id).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(new_voters.iter().map(|n| n.client_key).collect::<Vec<_>>())
            .bind::<Array<Timestamp>, _>(new_voters.iter().map(|n| n.day_start).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(new_voters.iter().map(|n| n.new_voters).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(spent.iter().map(|(key, _)| *key).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(spent.iter().map(|(_, n)| *n).collect::<Vec<_>>())
            .bind::<BigInt, _>(writes.totals.0)
            .bind::<BigInt, _>(writes.totals.1)
            .bind::<Integer, _>(shard)
            .execute(pg)
            .map(drop)
        }
        DbConnection::Sqlite(sqlite) => {
            if !writes.inserted.is_empty() {
                diesel::insert_into(ratings::table).values(writes.inserted).execute(sqlite)?;
            }
            for (id, score) in writes.replaced {
                diesel::update(ratings::table.find(id))
                    .set((ratings::score.eq(score), ratings::updated_at.eq(writes.at)))
                    .execute(sqlite)?;
            }
            for (id, counts) in writes.counters {
                diesel::update(story_ratings::table.find(id))
                    .set((*counts, story_ratings::rating_rank.eq(rank(counts))))
                    .execute(sqlite)?;
            }
            for count in writes.new_voters {
                diesel::insert_into(vote_sources::table)
                    .values(count)
                    .on_conflict((vote_sources::story_id, vote_sources::client_key, vote_sources::day_start))
                    .do_update()
                    .set(vote_sources::new_voters.eq(excluded(vote_sources::new_voters)))
                    .execute(sqlite)?;
            }
            for (key, votes) in writes.spent {
                diesel::update(vote_allowances::table.find(key))
                    .set(vote_allowances::votes.eq(vote_allowances::votes + votes))
                    .execute(sqlite)?;
            }
            let (count, sum) = writes.totals;
            if (count, sum) != (0, 0) {
                diesel::update(rating_totals::table.find(shard))
                    .set((
                        rating_totals::vote_count.eq(rating_totals::vote_count + count),
                        rating_totals::vote_sum.eq(rating_totals::vote_sum + sum),
                    ))
                    .execute(sqlite)?;
            }
            Ok(())
        }
    }
}

/// What a vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// The voter's first vote on this story.
    Created,
    /// A later vote: it replaced the earlier score.
    Replaced,
}

/// The votes already cast by these (story, voter hash) pairs: (story, voter
/// hash, id, score), for the pairs that have one. One index lookup per pair,
/// whatever either side holds: a filter on the stories and on the voters
/// apart walks every vote of the stories (PostgreSQL) or every story and
/// voter pairing (SQLite), which grows with the batch and with the votes.
/// PostgreSQL: one statement joined on the pairs; SQLite, in process, one
/// cached prepared statement per pair.
pub fn votes_of(conn: &mut DbConnection, pairs: &[(i64, &str)]) -> QueryResult<Vec<(i64, String, i64, i32)>> {
    let columns = (ratings::story_id, ratings::voter_hash, ratings::id, ratings::score);
    match conn {
        DbConnection::Pg(pg) => {
            let (story_ids, voter_hashes): (Vec<i64>, Vec<&str>) = pairs.iter().copied().unzip();
            diesel::sql_query(
                "SELECT r.story_id, r.voter_hash, r.id, r.score FROM unnest($1, $2) AS v(story_id, voter_hash) \
                 JOIN ratings r ON r.story_id = v.story_id AND r.voter_hash = v.voter_hash",
            )
            .bind::<Array<BigInt>, _>(story_ids)
            .bind::<Array<Text>, _>(voter_hashes)
            .load::<EarlierVote>(pg)
            .map(|rows| rows.into_iter().map(|r| (r.story_id, r.voter_hash, r.id, r.score)).collect())
        }
        DbConnection::Sqlite(sqlite) => per_pair(pairs, |(story_id, voter_hash)| {
            ratings::table
                .filter(ratings::story_id.eq(story_id).and(ratings::voter_hash.eq(voter_hash)))
                .select(columns)
                .first(sqlite)
        }),
    }
}

/// A vote already cast, as [`votes_of`] reads it on PostgreSQL.
#[derive(QueryableByName)]
#[diesel(table_name = ratings)]
struct EarlierVote {
    story_id: i64,
    voter_hash: String,
    id: i64,
    score: i32,
}

/// SQLite's lookups by pair: `find` for each, the rows found.
fn per_pair<'a, T>(
    pairs: &[(i64, &'a str)],
    mut find: impl FnMut((i64, &'a str)) -> QueryResult<T>,
) -> QueryResult<Vec<T>> {
    pairs.iter().filter_map(|pair| find(*pair).optional().transpose()).collect()
}

/// A voter's first vote on a story, to be stored ([`write_batch`]).
#[derive(Insertable)]
#[diesel(table_name = ratings)]
pub struct NewVote<'a> {
    pub story_id: i64,
    pub voter_hash: &'a str,
    pub score: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Deletes a vote, adjusting its story's counters; `None` if there is no
/// such vote.
pub fn delete(tx: &mut Tx<'_, Content>, rating_id: i64) -> QueryResult<Option<i64>> {
    let story = ratings::table.find(rating_id).select(ratings::story_id).first::<i64>(&mut **tx).optional()?;
    let Some(story_id) = story else { return Ok(None) };
    let Some(mut story) = lock_counters(tx, &[story_id])?.pop() else { return Ok(None) };
    // Read again under the lock: a concurrent re-vote may have changed it.
    let deleted: Option<i32> =
        diesel::delete(ratings::table.find(rating_id)).returning(ratings::score).get_result(&mut **tx).optional()?;
    let Some(score) = deleted else { return Ok(None) };
    let totals = story.counts.apply(Some(score), None);
    let prior = prior(tx)?;
    let counters = [(story_id, &story.counts)];
    write_batch(tx, &BatchWrites { counters: &counters, totals, ..BatchWrites::default() }, &prior)?;
    Ok(Some(story_id))
}

/// Sets every story's counters, and the site-wide totals, from the votes
/// themselves: an import's file says what was counted, and a file can say
/// anything (a negative count, a histogram that does not add up).
pub fn recount_all(tx: &mut Tx<'_, Content>) -> QueryResult<()> {
    let conn: &mut DbConnection = tx;
    diesel::sql_query(
        "UPDATE story_ratings SET rating_count = 0, rating_sum = 0, \
         rating_1 = 0, rating_2 = 0, rating_3 = 0, rating_4 = 0, rating_5 = 0",
    )
    .execute(conn)?;
    diesel::sql_query(
        "UPDATE story_ratings SET rating_count = v.n, rating_sum = v.s, \
         rating_1 = v.r1, rating_2 = v.r2, rating_3 = v.r3, rating_4 = v.r4, rating_5 = v.r5 \
         FROM (SELECT story_id, COUNT(*) AS n, SUM(score) AS s, \
                      SUM(CASE WHEN score = 1 THEN 1 ELSE 0 END) AS r1, SUM(CASE WHEN score = 2 THEN 1 ELSE 0 END) AS r2, \
                      SUM(CASE WHEN score = 3 THEN 1 ELSE 0 END) AS r3, SUM(CASE WHEN score = 4 THEN 1 ELSE 0 END) AS r4, \
                      SUM(CASE WHEN score = 5 THEN 1 ELSE 0 END) AS r5 \
               FROM ratings GROUP BY story_id) AS v \
         WHERE story_ratings.story_id = v.story_id",
    )
    .execute(conn)?;
    diesel::sql_query(
        "UPDATE rating_totals SET \
         vote_count = CASE WHEN id = 1 THEN (SELECT COUNT(*) FROM ratings) ELSE 0 END, \
         vote_sum = CASE WHEN id = 1 THEN (SELECT COALESCE(SUM(score), 0) FROM ratings) ELSE 0 END",
    )
    .execute(conn)?;
    Ok(())
}

/// Takes a story's votes out of the site-wide totals, as [`delete`] does
/// one vote's, for a transaction that deletes the story (its votes go with
/// it). The story's ratings row stays locked, so no vote changes them
/// meanwhile. Call with the story's row in `stories` already locked: the
/// order [`lock_counters`] explains.
pub fn withdraw_story(tx: &mut Tx<'_, Content>, story_id: i64) -> QueryResult<()> {
    let Some(story) = lock_counters(tx, &[story_id])?.pop() else { return Ok(()) };
    let totals = (-story.counts.rating_count, -story.counts.rating_sum);
    let prior = prior(tx)?;
    write_batch(tx, &BatchWrites { totals, ..BatchWrites::default() }, &prior)
}

/// How many rows the site-wide totals are spread over (the migration makes
/// them): writers add to one at random ([`write_batch`]), readers sum them all.
const TOTALS_SHARDS: i32 = 16;

/// The site-wide totals (count, sum): the shards' sums.
pub fn totals(conn: &mut DbConnection) -> QueryResult<(i64, i64)> {
    let shards: Vec<(i64, i64)> =
        rating_totals::table.select((rating_totals::vote_count, rating_totals::vote_sum)).load(conn)?;
    Ok(shards.into_iter().fold((0, 0), |(count, sum), shard| (count + shard.0, sum + shard.1)))
}

/// The prior that stored ranks are computed under.
pub fn prior(conn: &mut DbConnection) -> QueryResult<Prior> {
    rating_prior::table.select(Prior::as_select()).first(conn)
}

/// The prior, and whether a pass of [`rerank`] has finished under it.
pub fn prior_ranked(conn: &mut DbConnection) -> QueryResult<(Prior, bool)> {
    rating_prior::table.select((Prior::as_select(), rating_prior::ranked)).first(conn)
}

/// Replaces the snapshot of the prior; the stored ranks follow with [`rerank`].
pub fn set_prior(tx: &mut Tx<'_, Content>, prior: &Prior) -> QueryResult<()> {
    diesel::update(rating_prior::table).set((prior, rating_prior::ranked.eq(false))).execute(&mut **tx).map(drop)
}

/// Records that a pass of [`rerank`] that began under `prior` has finished,
/// unless the snapshot changed meanwhile (then another pass is due).
pub fn mark_ranked(tx: &mut Tx<'_, Content>, prior: &Prior) -> QueryResult<()> {
    let unchanged = rating_prior::weight.eq(prior.weight).and(rating_prior::mean.eq(prior.mean));
    diesel::update(rating_prior::table.filter(unchanged))
        .set(rating_prior::ranked.eq(true))
        .execute(&mut **tx)
        .map(drop)
}

/// Recomputes the ranks of up to `limit` rated stories after `after_id`, in
/// id order, under the snapshot as it is now; returns the last id, or
/// `None` when there are no more. Stories nobody rated rank 0 under any prior.
pub fn rerank(tx: &mut Tx<'_, Content>, after_id: i64, limit: i64) -> QueryResult<Option<i64>> {
    let prior = prior(tx)?;
    let rated = story_ratings::story_id.gt(after_id).and(story_ratings::rating_count.gt(0));
    let ids =
        story_ratings::table.filter(rated).order(story_ratings::story_id).limit(limit).select(story_ratings::story_id);
    let ids: Vec<i64> = match &mut **tx {
        // Locked in id order first, as vote batches lock them
        // ([`lock_counters`]): the UPDATE below would lock them in whatever
        // order it finds them.
        DbConnection::Pg(pg) => ids.for_no_key_update().load(pg)?,
        DbConnection::Sqlite(sqlite) => ids.load(sqlite)?,
    };
    let Some(&last) = ids.last() else { return Ok(None) };
    // `Prior::rank`, with the same operations in the same order.
    let rank = sql::<Double>("(CAST(rating_sum AS DOUBLE PRECISION) - CAST(rating_count AS DOUBLE PRECISION) * ")
        .bind::<Double, _>(prior.mean)
        .sql(") / (CAST(rating_count AS DOUBLE PRECISION) + ")
        .bind::<Double, _>(prior.weight)
        .sql(")");
    diesel::update(story_ratings::table.filter(rated).filter(story_ratings::story_id.le(last)))
        .set(story_ratings::rating_rank.eq(rank))
        .execute(&mut **tx)?;
    Ok(Some(last))
}

/// A story's votes, newest first, before `before_id` when paging.
pub fn list(conn: &mut DbConnection, story_id: i64, before_id: Option<i64>, limit: i64) -> QueryResult<Vec<RatingRow>> {
    let before = before_id.unwrap_or(i64::MAX);
    let page = ratings::table.filter(ratings::story_id.eq(story_id).and(ratings::id.lt(before)));
    page.order(ratings::id.desc()).limit(limit).select(RatingRow::as_select()).load(conn)
}

/// How long an address's allowance of votes lasts.
const ALLOWANCE_WINDOW: chrono::Duration = chrono::Duration::minutes(1);

/// The addresses' allowance windows, their rows locked until the transaction
/// ends: (address, votes counted in it, when it began). A window that is
/// over, or none, starts again at `now` with none. One statement: an upsert
/// takes every row, those another process is creating at the same moment
/// included. Pass the keys sorted and distinct: PostgreSQL locks them in
/// that order, so transactions holding some never wait for each other in
/// a circle.
pub fn hold_allowances(
    tx: &mut Tx<'_, Content>,
    client_keys: &[&str],
    now: NaiveDateTime,
) -> QueryResult<Vec<(String, i32, NaiveDateTime)>> {
    let fresh = |key| {
        (vote_allowances::client_key.eq(key), vote_allowances::window_start.eq(now), vote_allowances::votes.eq(0))
    };
    let over = vote_allowances::window_start.le(now - ALLOWANCE_WINDOW);
    // The one upsert, of one row or of several (SQLite's diesel upserts one).
    macro_rules! upsert {
        ($values:expr) => {
            diesel::insert_into(vote_allowances::table)
                .values($values)
                .on_conflict(vote_allowances::client_key)
                .do_update()
                .set((
                    vote_allowances::window_start.eq(case_when(over, excluded(vote_allowances::window_start))
                        .otherwise(vote_allowances::window_start)),
                    vote_allowances::votes
                        .eq(case_when(over, excluded(vote_allowances::votes)).otherwise(vote_allowances::votes)),
                ))
                .returning((vote_allowances::client_key, vote_allowances::votes, vote_allowances::window_start))
        };
    }
    match &mut **tx {
        DbConnection::Pg(pg) => upsert!(client_keys.iter().map(|key| fresh(*key)).collect::<Vec<_>>()).get_results(pg),
        DbConnection::Sqlite(sqlite) => client_keys.iter().map(|key| upsert!(fresh(*key)).get_result(sqlite)).collect(),
    }
}

/// When `client_key`'s allowance window that began at `start` ends.
pub fn allowance_ends(start: NaiveDateTime) -> NaiveDateTime {
    start + ALLOWANCE_WINDOW
}

/// How many new voters these (story, address) pairs added on `day`:
/// (story, address, count), for the pairs that have any; one index lookup
/// per pair, as [`votes_of`]. Call with the stories locked: only their
/// holder changes the counts.
pub fn new_voters(
    conn: &mut DbConnection,
    pairs: &[(i64, &str)],
    day: NaiveDateTime,
) -> QueryResult<Vec<(i64, String, i32)>> {
    let columns = (vote_sources::story_id, vote_sources::client_key, vote_sources::new_voters);
    match conn {
        DbConnection::Pg(pg) => {
            let (story_ids, client_keys): (Vec<i64>, Vec<&str>) = pairs.iter().copied().unzip();
            diesel::sql_query(
                "SELECT s.story_id, s.client_key, s.new_voters FROM unnest($1, $2) AS v(story_id, client_key) \
                 JOIN vote_sources s ON s.story_id = v.story_id AND s.client_key = v.client_key AND s.day_start = $3",
            )
            .bind::<Array<BigInt>, _>(story_ids)
            .bind::<Array<Text>, _>(client_keys)
            .bind::<Timestamp, _>(day)
            .load::<SourceCount>(pg)
            .map(|rows| rows.into_iter().map(|r| (r.story_id, r.client_key, r.new_voters)).collect())
        }
        DbConnection::Sqlite(sqlite) => per_pair(pairs, |(story_id, client_key)| {
            let pair = vote_sources::story_id.eq(story_id).and(vote_sources::client_key.eq(client_key));
            vote_sources::table.filter(pair.and(vote_sources::day_start.eq(day))).select(columns).first(sqlite)
        }),
    }
}

/// A count of new voters, as [`new_voters`] reads it on PostgreSQL.
#[derive(QueryableByName)]
#[diesel(table_name = vote_sources)]
struct SourceCount {
    story_id: i64,
    client_key: String,
    new_voters: i32,
}

/// A count of new voters one address added to one story on one day.
#[derive(Insertable)]
#[diesel(table_name = vote_sources)]
pub struct NewVoters<'a> {
    pub story_id: i64,
    pub client_key: &'a str,
    pub day_start: NaiveDateTime,
    pub new_voters: i32,
}

/// Forgets every address's allowance windows that are over, and new-voter
/// counts of earlier days: what keeps both tables small.
pub fn forget_spent_limits(tx: &mut Tx<'_, Internal>, now: NaiveDateTime) -> QueryResult<()> {
    let today = now.date().and_time(chrono::NaiveTime::MIN);
    diesel::delete(vote_allowances::table.filter(vote_allowances::window_start.le(now - ALLOWANCE_WINDOW)))
        .execute(&mut **tx)?;
    diesel::delete(vote_sources::table.filter(vote_sources::day_start.lt(today))).execute(&mut **tx).map(drop)
}
