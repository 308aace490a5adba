//! Every SQL statement about related links and suggestions: the links,
//! what suggestions are computed from, the stored suggestions and the queue
//! of those to compute.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use super::Reason;
use crate::db::{Content, DbConnection, Internal, Tx, WriteScope, now};
use crate::schema::{related_links, stories, story_suggestions, story_tags, suggestion_queue, tags};
use crate::stories::{StoredStatus, public_at};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = related_links)]
pub struct LinkRow {
    pub id: i64,
    pub position: i32,
    pub target_story_id: Option<i64>,
    pub url: Option<String>,
    pub title: Option<String>,
}

/// What a link shows of the story it points at.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stories)]
pub struct TargetRow {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub excerpt: String,
    #[diesel(deserialize_as = String)]
    pub status: StoredStatus,
    pub published_at: Option<NaiveDateTime>,
}

/// A new link: to a story, or to an external page.
#[derive(Debug, Clone)]
pub enum NewLink {
    Story(i64),
    External { url: String, title: String },
}

/// The story's links in order, each with its target story, in one query.
pub fn links_of(conn: &mut DbConnection, story_id: i64) -> QueryResult<Vec<(LinkRow, Option<TargetRow>)>> {
    related_links::table
        .left_join(stories::table.on(related_links::target_story_id.eq(stories::id.nullable())))
        .filter(related_links::story_id.eq(story_id))
        .order(related_links::position)
        .select((LinkRow::as_select(), Option::<TargetRow>::as_select()))
        .load(conn)
}

/// The stories story `story_id` links to.
pub fn linked_stories(conn: &mut DbConnection, story_id: i64) -> QueryResult<Vec<i64>> {
    related_links::table
        .filter(related_links::story_id.eq(story_id))
        .filter(related_links::target_story_id.is_not_null())
        .select(related_links::target_story_id.assume_not_null())
        .load(conn)
}

/// Which of `ids` are stories, each held until the transaction ends so that
/// links to it can be stored. On PostgreSQL the rows are locked `FOR KEY
/// SHARE`, in id order (what the links' foreign keys would take): a story
/// being deleted is waited for and then not found (422), where inserting a
/// link to it failed its foreign key (500, the whole write lost). SQLite has
/// one writer at a time.
pub fn hold_stories(tx: &mut Tx<'_, Content>, ids: &[i64]) -> QueryResult<Vec<i64>> {
    let query = stories::table.filter(stories::id.eq_any(ids)).order(stories::id).select(stories::id);
    match &mut **tx {
        DbConnection::Pg(pg) => query.for_key_share().load(pg),
        DbConnection::Sqlite(sqlite) => query.load(sqlite),
    }
}

pub fn insert(tx: &mut Tx<'_, Content>, story_id: i64, position: i32, link: &NewLink) -> QueryResult<i64> {
    let (target, url, title) = match link {
        NewLink::Story(id) => (Some(*id), None, None),
        NewLink::External { url, title } => (None, Some(url.as_str()), Some(title.as_str())),
    };
    diesel::insert_into(related_links::table)
        .values((
            related_links::story_id.eq(story_id),
            related_links::position.eq(position),
            related_links::target_story_id.eq(target),
            related_links::url.eq(url),
            related_links::title.eq(title),
            related_links::created_at.eq(now()),
        ))
        .returning(related_links::id)
        .get_result(&mut **tx)
}

pub fn delete_all(tx: &mut Tx<'_, Content>, story_id: i64) -> QueryResult<usize> {
    diesel::delete(related_links::table.filter(related_links::story_id.eq(story_id))).execute(&mut **tx)
}

/// Deletes one link. The gap it leaves in the stored positions, which only
/// order the links, is never shown.
pub fn delete(tx: &mut Tx<'_, Content>, story_id: i64, link_id: i64) -> QueryResult<bool> {
    let deleted = diesel::delete(
        related_links::table.filter(related_links::id.eq(link_id)).filter(related_links::story_id.eq(story_id)),
    )
    .execute(&mut **tx)?;
    Ok(deleted > 0)
}

/// Stories sharing tags with the story, scored by the sum of the shared
/// tags' weights (rarer tags weigh more), among the newest `per_tag` public
/// stories of each tag (a walk of the tag's index, however many carry it):
/// the best `limit`, newest first among equals.
pub fn stories_sharing_tags(
    conn: &mut DbConnection,
    story_id: i64,
    tag_weights: &[(i64, f64)],
    per_tag: i64,
    limit: usize,
) -> QueryResult<Vec<(i64, f64)>> {
    let at = now();
    let mut scores: HashMap<i64, f64> = HashMap::new();
    for (tag, weight) in tag_weights {
        let tagged: Vec<i64> = story_tags::table
            .filter(story_tags::tag_id.eq(*tag))
            .filter(story_tags::published_at.le(at))
            .filter(story_tags::story_id.ne(story_id))
            .order((story_tags::published_at.desc(), story_tags::story_id.desc()))
            .select(story_tags::story_id)
            .limit(per_tag)
            .load(conn)?;
        for id in tagged {
            *scores.entry(id).or_default() += weight;
        }
    }
    let mut scored: Vec<(i64, f64)> = scores.into_iter().collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    scored.truncate(limit);
    Ok(scored)
}

/// The story's tags with how many published stories carry each (their
/// counters), and how many stories there are at most (the highest id, which
/// needs no count): what rarity is measured against.
pub fn tag_frequencies(conn: &mut DbConnection, story_id: i64) -> QueryResult<(Vec<(i64, i64)>, i64)> {
    let frequencies = story_tags::table
        .inner_join(tags::table)
        .filter(story_tags::story_id.eq(story_id))
        .select((tags::id, tags::published_count))
        .load(conn)?;
    let stories: Option<i64> = stories::table.select(diesel::dsl::max(stories::id)).first(conn)?;
    Ok((frequencies, stories.unwrap_or(0)))
}

/// The public stories among `ids`, as links show them.
pub fn public_targets(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<TargetRow>> {
    stories::table.filter(stories::id.eq_any(ids)).filter(public_at(now())).select(TargetRow::as_select()).load(conn)
}

/// Story `story_id`'s stored suggestions, best first.
pub fn stored_targets(conn: &mut DbConnection, story_id: i64) -> QueryResult<Vec<i64>> {
    story_suggestions::table
        .filter(story_suggestions::story_id.eq(story_id))
        .order(story_suggestions::position)
        .select(story_suggestions::target_id)
        .load(conn)
}

/// Up to `limit` of story `story_id`'s stored suggestions that readers may
/// see now, best first, never itself nor one of `except`: a walk of the
/// primary key, each target found by its id and checked against the public
/// rule as it stands at `at`.
pub fn stored_public(
    conn: &mut DbConnection,
    story_id: i64,
    except: &[i64],
    limit: i64,
    at: NaiveDateTime,
) -> QueryResult<Vec<TargetRow>> {
    story_suggestions::table
        .inner_join(stories::table.on(stories::id.eq(story_suggestions::target_id)))
        .filter(story_suggestions::story_id.eq(story_id))
        .filter(story_suggestions::target_id.ne(story_id))
        .filter(story_suggestions::target_id.ne_all(except))
        .filter(public_at(at))
        .order(story_suggestions::position)
        .select(TargetRow::as_select())
        .limit(limit)
        .load(conn)
}

/// Stores `targets` as story `story_id`'s suggestions, best first.
pub fn replace_suggestions(tx: &mut Tx<'_, Internal>, story_id: i64, targets: &[i64]) -> QueryResult<()> {
    let conn: &mut DbConnection = tx;
    diesel::delete(story_suggestions::table.filter(story_suggestions::story_id.eq(story_id))).execute(conn)?;
    for (i, target) in targets.iter().enumerate() {
        diesel::insert_into(story_suggestions::table)
            .values((
                story_suggestions::story_id.eq(story_id),
                story_suggestions::position.eq(i as i32 + 1),
                story_suggestions::target_id.eq(target),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Queues story `id` (if it exists) for `reason`, due at `$2`. A story
/// queued already keeps the stronger reason and the earlier time, and
/// loses its lease: what is being computed for it now is stale. The same
/// text on both backends (SQLite numbers `$n` parameters in the order they
/// first appear).
const ENQUEUE: &str = "INSERT INTO suggestion_queue (story_id, reason, due_at)
    SELECT id, $1, $2 FROM stories WHERE id = $3
    ON CONFLICT (story_id) DO UPDATE SET
        reason = CASE WHEN 'changed' IN (suggestion_queue.reason, excluded.reason) THEN 'changed'
                      WHEN 'neighbour' IN (suggestion_queue.reason, excluded.reason) THEN 'neighbour'
                      ELSE 'refresh' END,
        due_at = CASE WHEN excluded.due_at < suggestion_queue.due_at THEN excluded.due_at
                      ELSE suggestion_queue.due_at END,
        claimed_by = NULL,
        locked_until = NULL";

pub fn enqueue<S: WriteScope>(tx: &mut Tx<'_, S>, id: i64, reason: Reason, due: NaiveDateTime) -> QueryResult<()> {
    diesel::sql_query(ENQUEUE)
        .bind::<Text, _>(reason.as_str())
        .bind::<Timestamp, _>(due)
        .bind::<diesel::sql_types::BigInt, _>(id)
        .execute(&mut **tx)
        .map(drop)
}

/// Queues a refresh of every published story that has none queued: due at
/// `stored_due` when it has suggestions stored, at `missing_due` when not.
const QUEUE_PUBLISHED: &str = "INSERT INTO suggestion_queue (story_id, reason, due_at)
    SELECT id, 'refresh',
           CASE WHEN EXISTS (SELECT 1 FROM story_suggestions s WHERE s.story_id = stories.id) THEN $1 ELSE $2 END
    FROM stories
    WHERE status = 'published' AND NOT EXISTS (SELECT 1 FROM suggestion_queue q WHERE q.story_id = stories.id)";

pub fn queue_published(
    tx: &mut Tx<'_, Content>,
    stored_due: NaiveDateTime,
    missing_due: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::sql_query(QUEUE_PUBLISHED)
        .bind::<Timestamp, _>(stored_due)
        .bind::<Timestamp, _>(missing_due)
        .execute(&mut **tx)
}

/// Up to `limit` stories queued for one of `reasons`, due at `now` and not
/// leased, longest due first.
pub fn due(conn: &mut DbConnection, reasons: &[Reason], now: NaiveDateTime, limit: i64) -> QueryResult<Vec<i64>> {
    let reasons: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
    suggestion_queue::table
        .filter(suggestion_queue::reason.eq_any(reasons))
        .filter(suggestion_queue::due_at.le(now))
        .filter(suggestion_queue::locked_until.is_null().or(suggestion_queue::locked_until.lt(now)))
        .order(suggestion_queue::due_at)
        .select(suggestion_queue::story_id)
        .limit(limit)
        .load(conn)
}

/// Leases those of `ids` still due and free to `worker` until `until`, with
/// the reason each was queued for. Another process's lease transaction on
/// the same rows makes this one wait for it (PostgreSQL re-checks the
/// condition then, and finds them leased); on SQLite the write lock
/// serialises them.
pub fn lease(
    tx: &mut Tx<'_, Internal>,
    ids: &[i64],
    worker: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<Vec<(i64, String)>> {
    diesel::update(
        suggestion_queue::table
            .filter(suggestion_queue::story_id.eq_any(ids))
            .filter(suggestion_queue::due_at.le(now))
            .filter(suggestion_queue::locked_until.is_null().or(suggestion_queue::locked_until.lt(now))),
    )
    .set((suggestion_queue::claimed_by.eq(worker), suggestion_queue::locked_until.eq(until)))
    .returning((suggestion_queue::story_id, suggestion_queue::reason))
    .get_results(&mut **tx)
}

/// Ends `worker`'s lease of story `id`, queueing its next refresh at
/// `next`: `false` when the lease is no longer `worker`'s (the story was
/// queued again meanwhile, or the lease ran out and another process took it).
pub fn finish(tx: &mut Tx<'_, Internal>, id: i64, worker: &str, next: NaiveDateTime) -> QueryResult<bool> {
    let finished = diesel::update(suggestion_queue::table.find(id).filter(suggestion_queue::claimed_by.eq(worker)))
        .set((
            suggestion_queue::reason.eq(Reason::Refresh.as_str()),
            suggestion_queue::due_at.eq(next),
            suggestion_queue::claimed_by.eq(None::<&str>),
            suggestion_queue::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(&mut **tx)?;
    Ok(finished == 1)
}
