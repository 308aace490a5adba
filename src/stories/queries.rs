//! Every SQL statement about stories, their tags and their revisions.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::dsl::{And, Eq, Gt, LtEq, SqlTypeOf, case_when};

use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::LoadQuery;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Bool, Double, Integer, Nullable, Text};

use super::dto::ListParams;
use super::search::{self, Combine};
use super::{Direction, ListCursor, RevisionChange, Status, StoredStatus, StoryKey};
use crate::db::{Content, DbConnection, MultiBackend, Tx, is_unique_violation, now};
use crate::error::ApiError;
use crate::schema::{stories, stories_fts, story_ratings, story_revisions, story_tags, tags};

/// A story as stored: its content, and what the server keeps about it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stories)]
pub struct StoryRow {
    pub id: i64,
    #[diesel(embed)]
    pub content: ContentColumns,
    #[diesel(deserialize_as = String)]
    pub status: StoredStatus,
    pub published_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    #[diesel(embed)]
    pub rating: RatingColumns,
}

/// What a story is read with from its ratings row (`story_ratings`, one per
/// story, created with it): the summary every representation carries, and
/// the rank a `sort=-rating` page continues from.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = story_ratings)]
pub struct RatingColumns {
    pub rating_count: i64,
    pub rating_sum: i64,
    pub rating_rank: f64,
}

/// A story's row with its ratings row, which every read of a whole story needs.
type WithRatings = diesel::dsl::InnerJoin<stories::table, story_ratings::table>;

fn with_ratings() -> WithRatings {
    stories::table.inner_join(story_ratings::table)
}

/// The columns an editor's content sets (directly or derived). On update a
/// `None` writes NULL: a removed subtitle is removed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = stories, treat_none_as_null = true)]
pub struct ContentColumns {
    pub slug: String,
    pub title: String,
    pub subtitle: Option<String>,
    pub excerpt: String,
    pub excerpt_is_custom: bool,
    pub body: String,
    pub body_html: String,
    pub locale: String,
    pub author_name: String,
    pub cover_image_url: Option<String>,
    pub cover_image_alt: Option<String>,
    pub seo_meta_title: Option<String>,
    pub seo_meta_description: Option<String>,
    pub seo_canonical_url: Option<String>,
    pub word_count: i32,
    pub reading_time_minutes: i32,
}

/// Where a story goes in its lifecycle: the stored status and publication time.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = stories, treat_none_as_null = true)]
pub struct Lifecycle {
    #[diesel(serialize_as = String)]
    pub status: StoredStatus,
    pub published_at: Option<NaiveDateTime>,
}

/// Locks the story's row until the transaction ends (a no-op update takes
/// PostgreSQL's row lock; SQLite's write transaction already excludes other
/// writers), so changes to what hangs off a story apply one at a time.
/// `false` when there is no such story.
pub fn lock(tx: &mut Tx<'_, Content>, id: i64) -> QueryResult<bool> {
    let conn: &mut DbConnection = tx;
    Ok(diesel::update(stories::table.find(id)).set(stories::version.eq(stories::version)).execute(conn)? > 0)
}

/// The SQL of "readers may see this story at `now`" ([`Status::at`] in Rust):
/// published, and its time has come.
pub type PublicAt = And<Eq<stories::status, &'static str>, LtEq<stories::published_at, NaiveDateTime>>;

pub fn public_at(now: NaiveDateTime) -> PublicAt {
    stories::status.eq(StoredStatus::Published.as_str()).and(stories::published_at.le(now))
}

type Scheduled = And<Eq<stories::status, &'static str>, Gt<stories::published_at, NaiveDateTime>>;

/// The SQL of "this story is scheduled at `now`".
fn scheduled_at(now: NaiveDateTime) -> Scheduled {
    stories::status.eq(StoredStatus::Published.as_str()).and(stories::published_at.gt(now))
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<StoryRow>> {
    with_ratings().filter(stories::id.eq(id)).select(StoryRow::as_select()).first(conn).optional()
}

/// A story with its tags ([`TagSlugs`]), by id or by slug: a reader's read
/// in one statement.
pub fn find_with_tags(conn: &mut DbConnection, key: &StoryKey) -> QueryResult<Option<(StoryRow, Option<String>)>> {
    let columns = (StoryRow::as_select(), TagSlugs { wanted: true });
    match key {
        StoryKey::Id(id) => with_ratings().filter(stories::id.eq(id)).select(columns).first(conn),
        StoryKey::Slug(slug) => with_ratings().filter(stories::slug.eq(slug.to_string())).select(columns).first(conn),
    }
    .optional()
}

/// The story's tag slugs in the editor's order.
pub fn tags_of(conn: &mut DbConnection, story_id: i64) -> QueryResult<Vec<String>> {
    story_tags::table
        .inner_join(tags::table)
        .filter(story_tags::story_id.eq(story_id))
        .order(story_tags::position)
        .select(tags::slug)
        .load(conn)
}

/// A story's tag slugs in the editor's order, comma-separated (a slug has
/// no comma), NULL without tags; nothing unless `wanted` (a bound flag, so
/// one cached statement serves both). Read with each row of a list, so a
/// list is one statement: a second query for the page's tags cost a quarter
/// of an uncached list's CPU (building its SQL, stepping it) and, on
/// PostgreSQL, a round trip. The SQL differs by backend (SQLite 3.40 has no
/// ordered aggregate: `group_concat` keeps the order of an ordered subquery,
/// which it does not flatten into an aggregate) and is written here once.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct TagSlugs {
    wanted: bool,
}

impl TagSlugs {
    /// Splits what the column holds back into slugs.
    pub fn split(joined: Option<String>) -> Vec<String> {
        joined.map(|j| j.split(',').map(str::to_owned).collect()).unwrap_or_default()
    }

    fn walk<'b, DB>(&'b self, mut out: AstPass<'_, 'b, DB>, aggregate: &str) -> QueryResult<()>
    where
        DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Bool>,
        bool: diesel::serialize::ToSql<Bool, DB>,
    {
        out.push_sql("CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.wanted)?;
        out.push_sql(" THEN (");
        out.push_sql(aggregate);
        out.push_sql(") END");
        Ok(())
    }
}

impl Expression for TagSlugs {
    type SqlType = Nullable<Text>;
}

impl<QS> SelectableExpression<QS> for TagSlugs where stories::id: SelectableExpression<QS> {}

impl<QS> AppearsOnTable<QS> for TagSlugs where stories::id: AppearsOnTable<QS> {}

impl diesel::expression::ValidGrouping<()> for TagSlugs {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl QueryFragment<diesel::sqlite::Sqlite> for TagSlugs {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        self.walk(
            out,
            "SELECT group_concat(slug) FROM (SELECT t.slug FROM story_tags AS st JOIN tags AS t ON t.id = st.tag_id \
             WHERE st.story_id = stories.id ORDER BY st.position)",
        )
    }
}

impl QueryFragment<diesel::pg::Pg> for TagSlugs {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        self.walk(
            out,
            // Each slug by its key: as a join, the planner hashes the whole
            // (small) tags table again for every row of the list.
            "SELECT string_agg((SELECT t.slug FROM tags AS t WHERE t.id = st.tag_id), ',' ORDER BY st.position) \
             FROM story_tags AS st WHERE st.story_id = stories.id",
        )
    }
}

impl QueryFragment<MultiBackend> for TagSlugs {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        MultiBackend::walk_variant_ast(self, pass)
    }
}

/// Whether a story other than `except` uses `slug`.
pub fn slug_taken(conn: &mut DbConnection, slug: &str, except: Option<i64>) -> QueryResult<bool> {
    // Ids start at 1: `except` of none excludes nothing.
    let query = stories::table.filter(stories::slug.eq(slug)).filter(stories::id.ne(except.unwrap_or(0)));
    diesel::select(diesel::dsl::exists(query)).get_result(conn)
}

/// The key of `pg_advisory_xact_lock(key, hashtext(base))`: "slug".
const SLUG_LOCKS: i32 = 0x736c_7567;

/// The first of `base`, `base-2`, `base-3`… that no story but `except` uses.
/// On PostgreSQL the transaction first takes a lock on `base` until it ends,
/// so transactions deriving slugs from one base pick them one at a time,
/// each seeing those before it: otherwise concurrent stories of one title
/// all pick the same free slug, and all inserts of it but one fail.
/// (SQLite's writers already go one at a time.)
pub fn free_slug(tx: &mut Tx<'_, Content>, base: &str, except: Option<i64>) -> QueryResult<String> {
    let conn: &mut DbConnection = tx;
    if let DbConnection::Pg(pg) = &mut *conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind::<Integer, _>(SLUG_LOCKS)
            .bind::<Text, _>(base)
            .execute(pg)?;
    }
    let taken: Vec<String> = stories::table
        .filter(stories::slug.eq(base).or(stories::slug.like(format!("{base}-%"))))
        .filter(stories::id.ne(except.unwrap_or(0)))
        .select(stories::slug)
        .load(conn)?;
    Ok((1..)
        .map(|n| if n == 1 { base.to_owned() } else { format!("{base}-{n}") })
        .find(|candidate| !taken.contains(candidate))
        .expect("an unbounded range has a free suffix"))
}

pub fn insert(
    tx: &mut Tx<'_, Content>,
    content: &ContentColumns,
    editor_id: i64,
    created_at: NaiveDateTime,
) -> QueryResult<StoryRow> {
    let conn: &mut DbConnection = tx;
    let id = diesel::insert_into(stories::table)
        .values((
            content,
            stories::status.eq(StoredStatus::Draft.as_str()),
            stories::version.eq(1),
            stories::created_by.eq(editor_id),
            stories::created_at.eq(created_at),
            stories::updated_at.eq(created_at),
        ))
        .returning(stories::id)
        .get_result::<i64>(conn)?;
    // Its ratings row, in the same transaction: every read of a story joins it.
    diesel::insert_into(story_ratings::table).values(story_ratings::story_id.eq(id)).execute(conn)?;
    find(conn, id)?.ok_or(DieselError::NotFound)
}

/// Writes a change and bumps the version, but only if the story is still at
/// `expected_version` (when given): the compare-and-swap that makes two
/// racing editors end with one winner and one 412.
pub fn update(
    tx: &mut Tx<'_, Content>,
    id: i64,
    expected_version: Option<i64>,
    content: Option<&ContentColumns>,
    lifecycle: Option<&Lifecycle>,
) -> Result<StoryRow, ApiError> {
    let conn: &mut DbConnection = tx;
    // Any version when none is expected, else exactly that one.
    let (lowest, highest) = expected_version.map_or((i64::MIN, i64::MAX), |v| (v, v));
    let changed = diesel::update(stories::table)
        .filter(stories::id.eq(id))
        .filter(stories::version.between(lowest, highest))
        .set((content, lifecycle.cloned(), stories::version.eq(stories::version + 1), stories::updated_at.eq(now())))
        .execute(conn)?;
    if changed == 0 {
        return Err(if find(conn, id)?.is_some() { ApiError::PreconditionFailed } else { ApiError::NotFound });
    }
    find(conn, id)?.ok_or(ApiError::NotFound)
}

pub fn delete(tx: &mut Tx<'_, Content>, id: i64) -> QueryResult<bool> {
    let conn: &mut DbConnection = tx;
    Ok(diesel::delete(stories::table.find(id)).execute(conn)? > 0)
}

/// Replaces the story's tags, creating tag rows on first use.
pub fn set_tags(tx: &mut Tx<'_, Content>, story_id: i64, tag_slugs: &[String]) -> QueryResult<()> {
    diesel::delete(story_tags::table.filter(story_tags::story_id.eq(story_id))).execute(&mut **tx)?;
    // Tag rows are found or created in slug order, whatever the story's:
    // a writer creating a new tag waits for another writer's uncommitted
    // one of the same slug, and in one order for all, two writers never
    // wait for each other (on PostgreSQL, a deadlock).
    let mut ids = BTreeMap::new();
    for slug in tag_slugs.iter().collect::<std::collections::BTreeSet<_>>() {
        ids.insert(slug, tag_id(tx, slug)?);
    }
    for (position, slug) in tag_slugs.iter().enumerate() {
        let conn: &mut DbConnection = tx;
        diesel::insert_into(story_tags::table)
            .values((
                story_tags::story_id.eq(story_id),
                story_tags::tag_id.eq(ids[slug]),
                story_tags::position.eq(position as i32),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The tags story `story_id` counts toward in `tags.published_count`: its
/// tags while it is published (or scheduled).
pub fn counted_tags(conn: &mut DbConnection, story_id: i64) -> QueryResult<Vec<i64>> {
    story_tags::table
        .filter(story_tags::story_id.eq(story_id))
        .filter(story_tags::published_at.is_not_null())
        .select(story_tags::tag_id)
        .load(conn)
}

/// After a change to story `story_id` (its tags, its lifecycle, its
/// deletion): its tag rows and its ratings row take its publication time
/// while it is published, and the counters move from the tags it counted
/// toward `before` (what [`counted_tags`] said before the change) to those
/// it counts toward now. One tag at a time in id order, so that concurrent
/// writers on PostgreSQL lock tag rows in the same order and cannot
/// deadlock; the ratings row after the story's own, the order vote batches
/// rely on (`ratings::queries::lock_counters`).
pub fn reindex_tags(tx: &mut Tx<'_, Content>, story_id: i64, before: &[i64]) -> QueryResult<()> {
    let conn: &mut DbConnection = tx;
    let published_at: Option<NaiveDateTime> = stories::table
        .find(story_id)
        .filter(stories::status.eq(StoredStatus::Published.as_str()))
        .select(stories::published_at)
        .first(conn)
        .optional()?
        .flatten();
    diesel::update(story_tags::table.filter(story_tags::story_id.eq(story_id)))
        .set(story_tags::published_at.eq(published_at))
        .execute(conn)?;
    diesel::update(story_ratings::table.find(story_id))
        .set(story_ratings::published_at.eq(published_at))
        .execute(conn)?;
    let mut moves: BTreeMap<i64, i64> = BTreeMap::new();
    for tag in before {
        *moves.entry(*tag).or_default() -= 1;
    }
    for tag in counted_tags(conn, story_id)? {
        *moves.entry(tag).or_default() += 1;
    }
    for (tag, by) in moves.into_iter().filter(|(_, by)| *by != 0) {
        diesel::update(tags::table.find(tag))
            .set(tags::published_count.eq(tags::published_count + by))
            .execute(conn)?;
    }
    Ok(())
}

/// Set-based SQL, the same on both backends, that recomputes the copies of
/// every story's publication time ([`reindex_tags`]: on its tag rows and its
/// ratings row) and the tag counters from `stories` and `story_tags`: for
/// rows loaded in bulk (an import, the seed), where per-story upkeep would
/// cost a statement per row. The migrations that added them backfill alike.
pub const REBUILD_PUBLICATION_INDEXES: [&str; 3] = [
    "UPDATE story_tags SET published_at = (SELECT stories.published_at FROM stories \
     WHERE stories.id = story_tags.story_id AND stories.status = 'published')",
    "UPDATE story_ratings SET published_at = (SELECT stories.published_at FROM stories \
     WHERE stories.id = story_ratings.story_id AND stories.status = 'published')",
    "UPDATE tags SET published_count = (SELECT COUNT(*) FROM story_tags \
     WHERE story_tags.tag_id = tags.id AND story_tags.published_at IS NOT NULL)",
];

fn tag_id(tx: &mut Tx<'_, Content>, slug: &str) -> QueryResult<i64> {
    if let Some(id) = tags::table.filter(tags::slug.eq(slug)).select(tags::id).first(&mut **tx).optional()? {
        return Ok(id);
    }
    // A savepoint, so that losing a race to create the same tag only costs a re-read.
    let inserted = tx.savepoint(|tx| {
        diesel::insert_into(tags::table).values(tags::slug.eq(slug)).returning(tags::id).get_result(&mut **tx)
    });
    match inserted {
        Err(err) if is_unique_violation(&err) => {
            tags::table.filter(tags::slug.eq(slug)).select(tags::id).first(&mut **tx)
        }
        other => other,
    }
}

// ---- revisions -------------------------------------------------------------

/// A revision as stored, whole: what the revision endpoints read, and the
/// export's row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = story_revisions)]
pub struct RevisionRow {
    pub id: i64,
    pub story_id: i64,
    pub version: i64,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub change: RevisionChange,
    pub content: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: StoredStatus,
    pub published_at: Option<NaiveDateTime>,
    pub editor_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// Records the story as it now stands (`content` is its editable state as JSON).
pub fn insert_revision(
    tx: &mut Tx<'_, Content>,
    story: &StoryRow,
    change: RevisionChange,
    content: &str,
    editor_id: i64,
) -> QueryResult<()> {
    let conn: &mut DbConnection = tx;
    diesel::insert_into(story_revisions::table)
        .values((
            story_revisions::story_id.eq(story.id),
            story_revisions::version.eq(story.version),
            story_revisions::change.eq(change.as_str()),
            story_revisions::content.eq(content),
            story_revisions::status.eq(story.status.as_str()),
            story_revisions::published_at.eq(story.published_at),
            story_revisions::editor_id.eq(editor_id),
            story_revisions::created_at.eq(story.updated_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Revisions newest first, before `before_version` when paging.
pub fn list_revisions(
    conn: &mut DbConnection,
    story_id: i64,
    before_version: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<RevisionRow>> {
    use story_revisions::version;
    let page = story_revisions::table
        .filter(story_revisions::story_id.eq(story_id).and(version.lt(before_version.unwrap_or(i64::MAX))));
    page.order(version.desc()).limit(limit).select(RevisionRow::as_select()).load(conn)
}

pub fn find_revision(conn: &mut DbConnection, story_id: i64, version: i64) -> QueryResult<Option<RevisionRow>> {
    story_revisions::table
        .filter(story_revisions::story_id.eq(story_id))
        .filter(story_revisions::version.eq(version))
        .select(RevisionRow::as_select())
        .first(conn)
        .optional()
}

// ---- lists -----------------------------------------------------------------

/// Who is asking decides what a list may contain.
#[derive(Debug, Clone, Copy)]
pub enum Visibility {
    /// Readers: published stories whose time has come.
    Public,
    /// Editors: every story, or those of one status.
    Editor(Option<Status>),
}

/// The order of a list, with what ranking in it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Order {
    Published(Direction),
    Title,
    /// Best match first among the matches from story `floor` on (the
    /// newest [`search::CANDIDATES`], the lowest of them kept in the
    /// cursor); only with a search query.
    Relevance {
        floor: i64,
    },
    /// Highest Bayesian rating score first: the stored rank (`scores::Prior::rank`).
    Rating,
}

#[derive(Debug)]
pub struct ListFilter {
    pub visibility: Visibility,
    /// The reader's filters: tag, locale, author, publication window.
    pub params: ListParams,
    /// The search, trimmed; `None` when blank.
    pub q: Option<String>,
    pub order: Order,
    /// The last row of the previous page, of the same order.
    pub after: Option<ListCursor>,
    /// Ranking by relevance on a first page: the stories it ranks
    /// ([`search::candidates`], which gave the floor), just read.
    pub candidates: Option<Vec<i64>>,
    pub limit: i64,
    /// Whether rows carry `body` and `body_html` (else empty): lists send
    /// them only when asked, and they are most of a row.
    pub bodies: bool,
    /// Whether rows carry their tags (else none): lists send them unless
    /// the reader's `fields` leave them out.
    pub tags: bool,
    pub now: NaiveDateTime,
}

/// The list filters other than the search itself (which differs by backend),
/// applied to a boxed query over `stories`, joined or not: a macro, because
/// the two queries are of different types.
macro_rules! with_list_filters {
    ($query:expr, $filter:expr) => {{
        let filter: &ListFilter = $filter;
        let mut query = with_list_filters!(@except_tag $query, filter);
        if let Some(tag) = &filter.params.tag {
            let tagged = story_tags::table
                .inner_join(tags::table)
                .filter(tags::slug.eq(tag.to_string()))
                .select(story_tags::story_id);
            query = query.filter(stories::id.eq_any(tagged));
        }
        query
    }};
    (@except_tag $query:expr, $filter:expr) => {{
        let filter: &ListFilter = $filter;
        let now = filter.now;
        let mut query = match filter.visibility {
            Visibility::Public | Visibility::Editor(Some(Status::Published)) => $query.filter(public_at(now)),
            Visibility::Editor(Some(Status::Scheduled)) => $query.filter(scheduled_at(now)),
            Visibility::Editor(Some(Status::Draft)) => $query.filter(stories::status.eq(StoredStatus::Draft.as_str())),
            Visibility::Editor(Some(Status::Archived)) => {
                $query.filter(stories::status.eq(StoredStatus::Archived.as_str()))
            }
            Visibility::Editor(None) => $query,
        };
        let params = &filter.params;
        if let Some(locale) = &params.locale {
            query = query.filter(stories::locale.eq(locale.to_string()));
        }
        if let Some(author) = &params.author {
            query = query.filter(stories::author_name.eq(author.to_string()));
        }
        if let Some(after) = params.published_after {
            query = query.filter(stories::published_at.gt(after.naive_utc()));
        }
        if let Some(before) = params.published_before {
            query = query.filter(stories::published_at.lt(before.naive_utc()));
        }
        query
    }};
}

/// A [`StoryRow`]'s columns, the bodies only when `$bodies` (a bool): a
/// bound flag rather than two queries, so one cached statement serves both
/// (and neither backend reads a body the CASE does not take). What every
/// list selects, whichever table it walks.
macro_rules! story_columns {
    ($bodies:expr) => {{
        let bodies = $bodies.into_sql::<Bool>();
        let content = (
            stories::slug,
            stories::title,
            stories::subtitle,
            stories::excerpt,
            stories::excerpt_is_custom,
            case_when(bodies, stories::body).otherwise(""),
            case_when(bodies, stories::body_html).otherwise(""),
            stories::locale,
            stories::author_name,
            stories::cover_image_url,
            stories::cover_image_alt,
            stories::seo_meta_title,
            stories::seo_meta_description,
            stories::seo_canonical_url,
            stories::word_count,
            stories::reading_time_minutes,
        );
        (
            stories::id,
            content,
            stories::status,
            stories::published_at,
            stories::version,
            stories::created_at,
            stories::updated_at,
            (story_ratings::rating_count, story_ratings::rating_sum, story_ratings::rating_rank),
        )
    }};
}

/// What a list's row is, in SQL: a [`StoryRow`]'s columns, its relevance
/// (NULL unless searching) and its tags.
type ListRowSql =
    (SqlTypeOf<<StoryRow as Selectable<MultiBackend>>::SelectExpression>, Nullable<Double>, Nullable<Text>);

/// A story list over stories with their ratings rows. Diesel names a boxed
/// query only by what it selects: a literal of the same SQL type stands in
/// for the columns [`list`] selects, so the type is the one it builds.
type ListQuery = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::Select<WithRatings, diesel::expression::SqlLiteral<ListRowSql>>,
    MultiBackend,
>;

/// What a list does with its query: load the page ([`Load`]), or ask the
/// planner how it would ([`Plan`]), so that what is planned is what runs.
pub trait Run {
    type Out: Default;
    fn run<Q: FinishedList>(conn: &mut DbConnection, query: Q) -> QueryResult<Self::Out>;
}

/// A story of a list, with its relevance when searching and its tags
/// ([`TagSlugs`]) when asked.
pub type ListRow = (StoryRow, Option<f64>, Option<String>);

/// A list's finished query, whichever table it starts from.
pub trait FinishedList:
    QueryFragment<MultiBackend> + RunQueryDsl<DbConnection> + LoadQuery<'static, DbConnection, ListRow>
{
}

impl<Q> FinishedList for Q where
    Q: QueryFragment<MultiBackend> + RunQueryDsl<DbConnection> + LoadQuery<'static, DbConnection, ListRow>
{
}

pub struct Load;

impl Run for Load {
    type Out = Vec<ListRow>;

    fn run<Q: FinishedList>(conn: &mut DbConnection, query: Q) -> QueryResult<Vec<ListRow>> {
        query.load(conn)
    }
}

/// A query plan as lines, indented by depth: SQLite's `EXPLAIN QUERY PLAN`
/// details, or PostgreSQL's plan nodes (type, direction, index, table).
pub struct Plan;

impl Run for Plan {
    type Out = Vec<String>;

    fn run<Q: FinishedList>(conn: &mut DbConnection, query: Q) -> QueryResult<Vec<String>> {
        plan_of(conn, query)
    }
}

/// How the database would run `query`, as [`Plan`] prints it (also the
/// search's candidate query, which is not a list).
pub(super) fn plan_of<Q: QueryFragment<MultiBackend>>(conn: &mut DbConnection, query: Q) -> QueryResult<Vec<String>> {
    match conn {
        DbConnection::Sqlite(_) => {
            let rows: Vec<(i32, i32, i32, String)> =
                Explain::<_, (Integer, Integer, Integer, Text)>::new("EXPLAIN QUERY PLAN ", query).load(conn)?;
            let mut depths: HashMap<i32, usize> = HashMap::new();
            Ok(rows
                .into_iter()
                .map(|(id, parent, _, detail)| {
                    let depth = depths.get(&parent).map_or(0, |d| d + 1);
                    depths.insert(id, depth);
                    format!("{}{detail}", "  ".repeat(depth))
                })
                .collect())
        }
        DbConnection::Pg(_) => {
            let json: String = Explain::<_, Text>::new("EXPLAIN (FORMAT JSON) ", query).get_result(conn)?;
            let plan: serde_json::Value =
                serde_json::from_str(&json).map_err(|e| DieselError::DeserializationError(Box::new(e)))?;
            let mut lines = Vec::new();
            pg_plan_lines(&plan[0]["Plan"], 0, &mut lines);
            Ok(lines)
        }
    }
}

fn pg_plan_lines(node: &serde_json::Value, depth: usize, lines: &mut Vec<String>) {
    let field = |name: &str| node.get(name).and_then(serde_json::Value::as_str);
    let mut line = format!("{}{}", "  ".repeat(depth), field("Node Type").unwrap_or("?"));
    if field("Scan Direction") == Some("Backward") {
        line.push_str(" Backward");
    }
    if let Some(index) = field("Index Name") {
        line.push_str(&format!(" using {index}"));
    }
    if let Some(table) = field("Relation Name") {
        line.push_str(&format!(" on {table}"));
    }
    lines.push(line);
    for child in node.get("Plans").and_then(serde_json::Value::as_array).into_iter().flatten() {
        pg_plan_lines(child, depth + 1, lines);
    }
}

/// `EXPLAIN` before a query, its binds kept, read as rows of `ST`.
struct Explain<Q, ST> {
    prefix: &'static str,
    query: Q,
    row: std::marker::PhantomData<ST>,
}

impl<Q, ST> Explain<Q, ST> {
    fn new(prefix: &'static str, query: Q) -> Self {
        Explain { prefix, query, row: std::marker::PhantomData }
    }
}

impl<Q, ST> QueryId for Explain<Q, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, ST> Query for Explain<Q, ST> {
    type SqlType = ST;
}

impl<Q: QueryFragment<MultiBackend>, ST> QueryFragment<MultiBackend> for Explain<Q, ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(self.prefix);
        self.query.walk_ast(out.reborrow())
    }
}

impl<Q, ST> RunQueryDsl<DbConnection> for Explain<Q, ST> {}

/// One page of stories (fetch `limit + 1` to learn whether more follow),
/// each with its relevance score when searching.
pub fn list(conn: &mut DbConnection, filter: &ListFilter) -> QueryResult<Vec<ListRow>> {
    list_with::<Load>(conn, filter)
}

/// How the database would find the page [`list`] finds.
pub fn plan(conn: &mut DbConnection, filter: &ListFilter) -> QueryResult<Vec<String>> {
    list_with::<Plan>(conn, filter)
}

/// Whether a tag of this slug exists (it may have no public story yet).
pub fn tag_exists(conn: &mut DbConnection, slug: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(tags::table.filter(tags::slug.eq(slug)))).get_result(conn)
}

fn list_with<R: Run>(conn: &mut DbConnection, filter: &ListFilter) -> QueryResult<R::Out> {
    if let (Order::Relevance { floor }, Some(q), true) =
        (filter.order, &filter.q, matches!(conn, DbConnection::Sqlite(_)))
    {
        return list_by_fts5_rank::<R>(conn, filter, q, floor);
    }
    let public = matches!(filter.visibility, Visibility::Public | Visibility::Editor(Some(Status::Published)));
    if let (Order::Published(direction), Some(tag), None, true) = (filter.order, &filter.params.tag, &filter.q, public)
    {
        let tag_id = tags::table.filter(tags::slug.eq(tag.to_string())).select(tags::id).first(conn).optional()?;
        return match tag_id {
            Some(tag_id) => list_in_tag::<R>(conn, filter, tag_id, direction),
            None => Ok(R::Out::default()),
        };
    }
    // PostgreSQL ranks each matching row on its own (`ts_rank` of its
    // `search_vector`), among the search's candidates.
    let score = match &filter.q {
        Some(q) if matches!(filter.order, Order::Relevance { .. }) => Some(search::pg_score(q, Combine::All)),
        _ => None,
    };
    let columns = story_columns!(filter.bodies);
    let tags = TagSlugs { wanted: filter.tags };
    // Without a score, a bound NULL: literal SQL would keep the statement
    // out of diesel's cache.
    let query: ListQuery = match &score {
        Some(score) => with_ratings().select((columns, score.clone(), tags)).into_boxed(),
        None => with_ratings().select((columns, None::<f64>.into_sql::<Nullable<Double>>(), tags)).into_boxed(),
    };
    let mut query: ListQuery = with_list_filters!(query, filter);
    // The candidates match: by id, each is read once more, to be ranked.
    match (&filter.q, &filter.candidates) {
        (Some(_), Some(candidates)) => query = query.filter(search::ranked_among(candidates)),
        (Some(q), None) => query = query.filter(search::matches(conn, q, Combine::All)),
        (None, _) => {}
    }

    // Keyset: continue strictly after the cursor's row in the list's order.
    let cursor = filter.after.as_ref();
    query = match filter.order {
        // `list_page` orders by relevance only with a search, which has a score here.
        Order::Relevance { floor } => match score {
            Some(score) => {
                if filter.candidates.is_none() {
                    query = query.filter(stories::id.ge(floor));
                }
                if let Some(ListCursor::Relevance { rank, id, .. }) = cursor {
                    query = query.filter(score.clone().gt(*rank).or(score.clone().eq(*rank).and(stories::id.gt(*id))));
                }
                query.order((score.asc(), stories::id.asc()))
            }
            None => query.order(stories::id.asc()),
        },
        Order::Rating => {
            use story_ratings::{published_at, rating_rank, story_id};
            // Down the ratings rows' (rating_rank, story_id) index of
            // published stories, each row then finding its story by key:
            // the index's copy of the publication time is the public rule
            // (`<= now`, which also picks the index), so the walk passes no
            // draft or archived story, only the few scheduled ones.
            if matches!(filter.visibility, Visibility::Public | Visibility::Editor(Some(Status::Published))) {
                query = query.filter(published_at.le(filter.now));
            }
            // `<=` bounds the walk, the rest skips the cursor's row and those before it.
            if let Some(ListCursor::Rating { rank_bits, id }) = cursor {
                let rank = f64::from_bits(*rank_bits);
                query = query.filter(rating_rank.le(rank).and(rating_rank.lt(rank).or(story_id.lt(*id))));
            }
            query.order((rating_rank.desc(), story_id.desc()))
        }
        Order::Published(direction) => {
            let after = match cursor {
                Some(ListCursor::Published { published_at, id, .. }) => Some((*published_at, *id)),
                _ => None,
            };
            // Public lists (and editors' published or scheduled ones) have a
            // publication time on every row.
            let dated_only = matches!(
                filter.visibility,
                Visibility::Public | Visibility::Editor(Some(Status::Published | Status::Scheduled))
            );
            in_publication_order(query, direction, after, dated_only)
        }
        Order::Title => {
            if let Some(ListCursor::Title { title, id }) = cursor {
                query = query
                    .filter(stories::title.ge(title.clone()))
                    .filter(stories::title.gt(title.clone()).or(stories::id.gt(*id)));
            }
            query.order((stories::title.asc(), stories::id.asc()))
        }
    };
    R::run(conn, query.limit(filter.limit))
}

type Condition = Box<
    dyn BoxableExpression<
            diesel::dsl::InnerJoinQuerySource<stories::table, story_ratings::table>,
            MultiBackend,
            SqlType = Nullable<Bool>,
        >,
>;

/// Publication order in `direction`, after the row `(published_at, id)`.
/// Lists with a publication time on every row (`dated_only`) walk the
/// (status, published_at, id) index in plain order, with a cursor condition
/// that is a range on it, so a page costs the same however deep it is.
/// Editors' lists of every status put drafts (no publication time) after
/// all dated rows.
fn in_publication_order(
    query: ListQuery,
    direction: Direction,
    after: Option<(Option<NaiveDateTime>, i64)>,
    dated_only: bool,
) -> ListQuery {
    use stories::{id, published_at};
    let desc = direction == Direction::Desc;
    let past_at = |at: NaiveDateTime| -> Condition {
        if desc { Box::new(published_at.lt(at)) } else { Box::new(published_at.gt(at)) }
    };
    let from_at = |at: NaiveDateTime| -> Condition {
        if desc { Box::new(published_at.le(at)) } else { Box::new(published_at.ge(at)) }
    };
    let past_id = |last: i64| -> Condition {
        if desc { Box::new(id.lt(last).nullable()) } else { Box::new(id.gt(last).nullable()) }
    };
    let query = match after {
        None => query,
        Some((Some(at), last)) if dated_only => query.filter(from_at(at)).filter(past_at(at).or(past_id(last))),
        Some((Some(at), last)) => {
            query.filter(past_at(at).or(published_at.eq(at).and(past_id(last))).or(published_at.is_null().nullable()))
        }
        Some((None, last)) => query.filter(published_at.is_null().nullable().and(past_id(last))),
    };
    match (desc, dated_only) {
        (true, true) => query.order((published_at.desc(), id.desc())),
        (false, true) => query.order((published_at.asc(), id.asc())),
        (true, false) => query.order((published_at.is_null().asc(), published_at.desc(), id.desc())),
        (false, false) => query.order((published_at.is_null().asc(), published_at.asc(), id.asc())),
    }
}

/// A public list of one tag in publication order: a walk of the tag's
/// `(tag_id, published_at, story_id)` index, whose copy of the publication
/// time is both the public rule (`<= now`) and the order, each row then
/// finding its story by primary key. The other filters (locale, author)
/// are checked on the rows walked: the rarer they are within the tag, the
/// longer the walk.
fn list_in_tag<R: Run>(
    conn: &mut DbConnection,
    filter: &ListFilter,
    tag_id: i64,
    direction: Direction,
) -> QueryResult<R::Out> {
    use story_tags::{published_at as at, story_id as id};
    let mut query = with_list_filters!(
        @except_tag
        story_tags::table
            .inner_join(with_ratings())
            .filter(story_tags::tag_id.eq(tag_id))
            .filter(at.le(filter.now))
            .select((
                story_columns!(filter.bodies),
                None::<f64>.into_sql::<Nullable<Double>>(),
                TagSlugs { wanted: filter.tags },
            ))
            .into_boxed(),
        filter
    );
    // The publication window on the index's copy as well, so that it bounds the walk.
    if let Some(after) = filter.params.published_after {
        query = query.filter(at.gt(after.naive_utc()));
    }
    if let Some(before) = filter.params.published_before {
        query = query.filter(at.lt(before.naive_utc()));
    }
    let desc = direction == Direction::Desc;
    if let Some(ListCursor::Published { published_at: Some(last_at), id: last, .. }) = &filter.after {
        query = if desc {
            query.filter(at.le(*last_at)).filter(at.lt(*last_at).or(id.lt(*last).nullable()))
        } else {
            query.filter(at.ge(*last_at)).filter(at.gt(*last_at).or(id.gt(*last).nullable()))
        };
    }
    let query = if desc { query.order((at.desc(), id.desc())) } else { query.order((at.asc(), id.asc())) };
    R::run(conn, query.limit(filter.limit))
}

/// Search results by relevance on SQLite: joining the FTS5 table lets it
/// drive the query and compute bm25 once per match (a per-row subquery
/// would run the whole search again for every row).
fn list_by_fts5_rank<R: Run>(conn: &mut DbConnection, filter: &ListFilter, q: &str, floor: i64) -> QueryResult<R::Out> {
    let mut query = with_list_filters!(
        with_ratings()
            .inner_join(stories_fts::table.on(stories_fts::rowid.eq(stories::id)))
            .filter(search::fts5_match(q, Combine::All))
            .filter(stories_fts::rowid.ge(floor))
            .select((story_columns!(filter.bodies), stories_fts::rank.nullable(), TagSlugs { wanted: filter.tags }))
            .into_boxed(),
        filter
    );
    if let Some(ListCursor::Relevance { rank, id, .. }) = &filter.after {
        query = query.filter(stories_fts::rank.gt(*rank).or(stories_fts::rank.eq(*rank).and(stories::id.gt(*id))));
    }
    R::run(conn, query.order((stories_fts::rank.asc(), stories::id.asc())).limit(filter.limit))
}

// ---- sitemaps ---------------------------------------------------------------

/// What a sitemap says of a story.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = stories)]
pub struct PageRow {
    pub id: i64,
    pub slug: String,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
}

/// Public stories with ids in `ids`, in id order, at most `limit`.
pub fn public_between(
    conn: &mut DbConnection,
    ids: std::ops::RangeInclusive<i64>,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<PageRow>> {
    stories::table
        .filter(stories::id.between(*ids.start(), *ids.end()))
        .filter(public_at(now))
        .order(stories::id)
        .limit(limit)
        .select(PageRow::as_select())
        .load(conn)
}

pub fn highest_id(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    stories::table.select(diesel::dsl::max(stories::id)).first(conn)
}

// ---- tags --------------------------------------------------------------------

/// The tag the most published stories carry, if any.
pub fn commonest_tag(conn: &mut DbConnection) -> QueryResult<Option<String>> {
    tags::table.order(tags::published_count.desc()).select(tags::slug).first(conn).optional()
}

/// Tags used by public stories, with how many use each, in slug order after
/// `after`: each tag's counter of published stories, less those of them
/// still scheduled (the future end of the tag's index), so nothing counts
/// every story and a scheduled story counts from its time on, with no write.
pub fn public_tag_counts(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<(String, i64)>> {
    let scheduled = story_tags::table
        .filter(story_tags::tag_id.eq(tags::id))
        .filter(story_tags::published_at.gt(now))
        .count()
        .single_value();
    let mut query = tags::table
        .filter(tags::published_count.nullable().gt(scheduled))
        .select((tags::slug, tags::published_count, scheduled))
        .order(tags::slug.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(tags::slug.gt(after.to_owned()));
    }
    let rows: Vec<(String, i64, Option<i64>)> = query.load(conn)?;
    Ok(rows.into_iter().map(|(slug, published, scheduled)| (slug, published - scheduled.unwrap_or(0))).collect())
}
