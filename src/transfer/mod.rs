//! Export and import: everything a site holds, as NDJSON, so it can move from
//! SQLite to PostgreSQL (and back) and be backed up and restored.
//!
//! The file is a header line (`{"format": "anthology-export", "version": 1,
//! …}`), one line per row (`{"table": "stories", "row": {…}}`, rows as
//! stored: ids, password hashes, voter hashes and the server's keys
//! included, so logins, tokens' keys and re-votes keep working), and an end
//! line with the number of rows, so a file cut short is told from a whole
//! one. Export reads one consistent snapshot in batches by primary key, in
//! constant memory; import loads an empty database in one transaction, so a
//! failure leaves it empty. The tag index and counters (`story_tags.published_at`,
//! `tags.published_count`, `story_ratings.published_at`) are derived: not
//! exported, recomputed after loading. A story's rating counters travel in
//! its line. Counters that only throttle (failed logins,
//! vote allowances) are not carried over, nor is the webhook outbox (events,
//! deliveries, attempts): endpoints and their secrets are. Stories' rating
//! ranks are derived: the import recomputes them under the prior it loaded.
//! Stored suggestions are derived too, but costly to compute: they are
//! carried, and the import queues each published story's refresh (at once
//! for one that has none), not the queue itself.

pub(crate) mod rows;

use std::io::{BufRead, Write};

use chrono::{Datelike, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::{Content, Db, DbConnection, Tx, now};
use crate::error::ApiError;
use crate::fields::{StringField, TagSlug};
use crate::schema::{
    editors, rating_prior, rating_totals, ratings, related_links, server_keys, stories, story_ratings, story_revisions,
    story_suggestions, story_tags, tags, webhook_endpoints, webhook_publications,
};

const FORMAT: &str = "anthology-export";
const VERSION: u32 = 1;
/// Rows read per query while exporting.
const BATCH: i64 = 1000;
/// Tables whose ids PostgreSQL generates (`GENERATED ALWAYS AS IDENTITY`).
const IDENTITY_TABLES: [&str; 7] =
    ["editors", "tags", "stories", "story_revisions", "ratings", "related_links", "webhook_endpoints"];

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    exported_at: NaiveDateTime,
}

/// One row of one table, in the order that import can insert them.
#[derive(Serialize, Deserialize)]
#[serde(tag = "table", content = "row", rename_all = "snake_case")]
enum Record {
    Editors(rows::Editor),
    ServerKeys(rows::ServerKey),
    Tags(rows::Tag),
    Stories(Box<rows::Story>),
    StoryTags(rows::StoryTag),
    StoryRevisions(rows::Revision),
    Ratings(rows::Rating),
    RatingTotals(rows::RatingTotals),
    RatingPrior(rows::RatingPrior),
    RelatedLinks(rows::RelatedLink),
    StorySuggestions(rows::StorySuggestion),
    WebhookEndpoints(rows::WebhookEndpoint),
    WebhookPublications(rows::WebhookPublication),
}

/// A line after the header.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Record(Box<Record>),
    End { end: u64 },
}

/// Told after every row written or read, with the count so far.
pub type Progress<'a> = &'a dyn Fn(u64);

/// Writes every row of the database to `out`; returns how many.
pub fn export(db: &Db, out: &mut dyn Write, progress: Progress) -> anyhow::Result<u64> {
    let mut conn = db.conn()?;
    let conn: &mut DbConnection = &mut conn;
    write_line(out, &Header { format: FORMAT.into(), version: VERSION, exported_at: now() })?;
    // One snapshot: rows written while we read do not tear the export.
    let rows = conn.transaction::<_, anyhow::Error, _>(|conn| {
        if let DbConnection::Pg(pg) = conn {
            pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        let mut rows = 0;
        let mut emit = |record: Record, out: &mut dyn Write| -> anyhow::Result<()> {
            write_line(out, &Line::Record(Box::new(record)))?;
            rows += 1;
            progress(rows);
            Ok(())
        };
        /// Every row of a table with an integer key, a batch at a time (read
        /// from `$from`, the table itself unless given).
        macro_rules! by_key {
            ($table:ident, $row:ty, $variant:ident, $key:ident $(, $wrap:expr)?) => {
                by_key!($table::table, $table, $row, $variant, $key, |row: &$row| row.$key $(, $wrap)?)
            };
            ($from:expr, $table:ident, $row:ty, $variant:ident, $key:ident, $key_of:expr $(, $wrap:expr)?) => {{
                let mut after = i64::MIN;
                loop {
                    let batch: Vec<$row> = $from
                        .filter($table::$key.gt(after))
                        .order($table::$key)
                        .limit(BATCH)
                        .select(<$row>::as_select())
                        .load(conn)?;
                    let full = batch.len() as i64 == BATCH;
                    for row in batch {
                        after = $key_of(&row);
                        emit(Record::$variant($($wrap)?(row)), out)?;
                    }
                    if !full {
                        break;
                    }
                }
            }};
        }
        /// Every row of a table keyed by two columns, a batch at a time,
        /// from `$start` (the lowest values of both).
        macro_rules! by_pair {
            ($table:ident, $row:ty, $variant:ident, $first:ident, $second:ident, $start:expr) => {{
                let mut after = $start;
                loop {
                    let batch: Vec<$row> = $table::table
                        .filter(
                            $table::$first.gt(after.0).or($table::$first.eq(after.0).and($table::$second.gt(after.1))),
                        )
                        .order(($table::$first, $table::$second))
                        .limit(BATCH)
                        .select(<$row>::as_select())
                        .load(conn)?;
                    let full = batch.len() as i64 == BATCH;
                    for row in batch {
                        after = (row.$first, row.$second);
                        emit(Record::$variant(row), out)?;
                    }
                    if !full {
                        break;
                    }
                }
            }};
        }
        by_key!(editors, rows::Editor, Editors, id);
        for key in server_keys::table.order(server_keys::kid).select(rows::ServerKey::as_select()).load(conn)? {
            emit(Record::ServerKeys(key), out)?;
        }
        by_key!(tags, rows::Tag, Tags, id);
        let key_of = |row: &rows::Story| row.story.id;
        by_key!(stories::table.inner_join(story_ratings::table), stories, rows::Story, Stories, id, key_of, Box::new);
        // (story_id, tag_id) is the key; stories have a few tags each.
        by_pair!(story_tags, rows::StoryTag, StoryTags, story_id, tag_id, (i64::MIN, i64::MIN));
        by_key!(story_revisions, rows::Revision, StoryRevisions, id);
        by_key!(ratings, rows::Rating, Ratings, id);
        for totals in rating_totals::table.select(rows::RatingTotals::as_select()).load(conn)? {
            emit(Record::RatingTotals(totals), out)?;
        }
        for prior in rating_prior::table.select(rows::RatingPrior::as_select()).load(conn)? {
            emit(Record::RatingPrior(prior), out)?;
        }
        by_key!(related_links, rows::RelatedLink, RelatedLinks, id);
        by_pair!(story_suggestions, rows::StorySuggestion, StorySuggestions, story_id, position, (i64::MIN, i32::MIN));
        by_key!(webhook_endpoints, rows::WebhookEndpoint, WebhookEndpoints, id);
        // One row per story scheduled and published, few.
        let publications = webhook_publications::table
            .order((webhook_publications::story_id, webhook_publications::published_at))
            .select(rows::WebhookPublication::as_select())
            .load(conn)?;
        for row in publications {
            emit(Record::WebhookPublications(row), out)?;
        }
        Ok(rows)
    })?;
    write_line(out, &Line::End { end: rows })?;
    out.flush()?;
    Ok(rows)
}

fn write_line<T: Serialize>(out: &mut dyn Write, value: &T) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Loads an export into this database, which must hold no editors and no
/// stories, in one transaction; returns how many rows. Any problem in the
/// file is an error naming its line, and leaves the database as it was.
pub fn import(db: &Db, input: &mut dyn BufRead, progress: Progress) -> Result<u64, ApiError> {
    db.write_now::<Content, _, _>(|tx| {
        refuse_unless_empty(tx)?;
        // Keys a start of this empty database generated give way to the site's.
        diesel::delete(server_keys::table).execute(&mut **tx)?;
        set_identity(tx, "BY DEFAULT")?;
        let rows = load(tx, input, progress)?;
        crate::ratings::recount_all(tx)?;
        crate::ratings::rank_all(tx)?;
        crate::related::queue_published(tx)?;
        for statement in crate::stories::REBUILD_PUBLICATION_INDEXES {
            diesel::sql_query(statement).execute(&mut **tx)?;
        }
        // Statistics for the query planners (SQLite keeps none unless asked):
        // without them a big site's `sort=title` sorts instead of walking its index.
        tx.batch_execute("ANALYZE")?;
        set_identity(tx, "ALWAYS")?;
        Ok(rows)
    })
}

fn refuse_unless_empty(tx: &mut Tx<'_, Content>) -> Result<(), ApiError> {
    let editors: i64 = editors::table.count().get_result(&mut **tx)?;
    let stories: i64 = stories::table.count().get_result(&mut **tx)?;
    if editors + stories > 0 {
        return Err(ApiError::Conflict(format!(
            "the database is not empty ({editors} editors, {stories} stories): import only into a new one"
        )));
    }
    Ok(())
}

/// On PostgreSQL, lets the identity columns take the file's ids (`BY
/// DEFAULT`), then (`ALWAYS`) restores them and moves each sequence past the
/// highest id, so the next row gets a fresh one. SQLite needs neither.
pub(crate) fn set_identity(tx: &mut Tx<'_, Content>, how: &str) -> Result<(), ApiError> {
    let DbConnection::Pg(pg) = &mut **tx else { return Ok(()) };
    for table in IDENTITY_TABLES {
        pg.batch_execute(&format!("ALTER TABLE {table} ALTER COLUMN id SET GENERATED {how}"))?;
        if how == "ALWAYS" {
            pg.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))?;
        }
    }
    Ok(())
}

fn load(tx: &mut Tx<'_, Content>, input: &mut dyn BufRead, progress: Progress) -> Result<u64, ApiError> {
    let bad = |line: usize, why: String| ApiError::BadRequest(format!("line {line}: {why}"));
    let mut lines = input.lines().enumerate().map(|(i, line)| (i + 1, line));
    let header = match lines.next() {
        Some((_, Ok(line))) => line,
        Some((n, Err(e))) => return Err(bad(n, e.to_string())),
        None => return Err(bad(1, "the file is empty".into())),
    };
    let header: Header = serde_json::from_str(&header)
        .ok()
        .filter(|h: &Header| h.format == FORMAT)
        .ok_or_else(|| bad(1, "not an Anthology export (no header line)".into()))?;
    if header.version != VERSION {
        return Err(bad(
            1,
            format!("export version {} is not one this Anthology reads (it reads {VERSION})", header.version),
        ));
    }
    let mut rows = 0;
    let mut last = 1;
    for (n, line) in lines {
        last = n;
        let line = line.map_err(|e| bad(n, e.to_string()))?;
        match serde_json::from_str::<Line>(&line).map_err(|e| bad(n, format!("not a row of an export: {e}")))? {
            Line::Record(record) => {
                let record = checked(*record).map_err(|why| bad(n, why))?;
                insert(tx, record).map_err(|e| bad(n, e.to_string()))?;
                rows += 1;
                progress(rows);
            }
            Line::End { end } if end == rows => return Ok(rows),
            Line::End { end } => return Err(bad(n, format!("the file says {end} rows, but has {rows}"))),
        }
    }
    Err(bad(last, "the file ends without its end line: it was cut short".into()))
}

/// A row of the file, made fit to store: an export is only a file, so what
/// an editor could not have stored is refused, and what is derived is
/// derived again rather than taken from it (counts are recounted once every
/// vote is loaded).
fn checked(record: Record) -> Result<Record, String> {
    match record {
        Record::Editors(row) if !crate::auth::password::is_stored_hash(&row.password_hash) => {
            Err(format!("editor {}: password_hash is not an Argon2 hash this server can check", row.id))
        }
        Record::Tags(row) => {
            TagSlug::rule(&row.slug).map_err(|why| format!("tag {}: {why}", row.id))?;
            Ok(Record::Tags(row))
        }
        Record::Stories(mut row) => {
            let times = [Some(row.story.created_at), Some(row.story.updated_at), row.story.published_at];
            if times.into_iter().flatten().any(|at| !(0..=9999).contains(&at.year())) {
                return Err(format!("story {}: a time outside the years 0000 to 9999", row.story.id));
            }
            row.story.content = crate::stories::checked_import(&row.story.content)
                .map_err(|why| format!("story {}: {why}", row.story.id))?;
            Ok(Record::Stories(row))
        }
        Record::StoryRevisions(row) => {
            crate::stories::checked_revision(&row.content)
                .map_err(|why| format!("revision {} of story {}: {why}", row.version, row.story_id))?;
            Ok(Record::StoryRevisions(row))
        }
        Record::WebhookEndpoints(row) if crate::webhooks::secret_key(&row.secret).is_none() => {
            Err(format!("webhook endpoint {}: the secret is not whsec_ and base64", row.id))
        }
        other => Ok(other),
    }
}

fn insert(tx: &mut Tx<'_, Content>, record: Record) -> QueryResult<()> {
    let conn: &mut DbConnection = tx;
    // Rows whose columns are typed (a role, a status) insert by value:
    // diesel converts those columns back to text on the way in.
    match record {
        Record::Editors(row) => diesel::insert_into(editors::table).values(row).execute(conn),
        Record::ServerKeys(row) => diesel::insert_into(server_keys::table).values(&row).execute(conn),
        Record::Tags(row) => diesel::insert_into(tags::table).values(&row).execute(conn),
        Record::Stories(row) => {
            let rows::Story { story, ratings } = *row;
            diesel::insert_into(stories::table).values(&story).execute(conn)?;
            let ratings = rows::StoryRatings { story_id: story.id, ..ratings };
            diesel::insert_into(story_ratings::table).values(&ratings).execute(conn)
        }
        Record::StoryTags(row) => diesel::insert_into(story_tags::table).values(&row).execute(conn),
        Record::StoryRevisions(row) => diesel::insert_into(story_revisions::table).values(row).execute(conn),
        Record::Ratings(row) => diesel::insert_into(ratings::table).values(&row).execute(conn),
        // The migrations made the rows of site-wide totals (an export made
        // before they were sharded has only the first), and of the prior.
        Record::RatingTotals(row) => diesel::update(rating_totals::table.find(row.id))
            .set((rating_totals::vote_count.eq(row.vote_count), rating_totals::vote_sum.eq(row.vote_sum)))
            .execute(conn),
        Record::RatingPrior(row) => diesel::update(rating_prior::table.find(row.id))
            .set((rating_prior::weight.eq(row.weight), rating_prior::mean.eq(row.mean)))
            .execute(conn),
        Record::RelatedLinks(row) => diesel::insert_into(related_links::table).values(&row).execute(conn),
        Record::StorySuggestions(row) => diesel::insert_into(story_suggestions::table).values(&row).execute(conn),
        Record::WebhookEndpoints(row) => diesel::insert_into(webhook_endpoints::table).values(row).execute(conn),
        Record::WebhookPublications(row) => diesel::insert_into(webhook_publications::table).values(&row).execute(conn),
    }
    .map(drop)
}
