//! Stories: the published pieces, their lifecycle, revisions and lists.
//!
//! Routes: `handlers.rs` (thin). SQL: `queries.rs`, with full-text search in
//! `search.rs`. Wire types: `dto.rs`. Derivations from the Markdown body
//! (HTML, excerpt, counts, slugs): `content.rs`. The rules that tie them
//! together — what a change does, in one transaction; who may see what — are
//! below. Other modules use only the surface re-exported here: finding and
//! locking a story, the public rule, and search.

pub(crate) mod content;
pub(crate) mod dto;
pub(crate) mod handlers;
mod queries;
mod search;

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::{Content, Cost, DbConnection, Tx, is_unique_violation, now, stored_as_text};
use crate::editors::EditorRow;
use crate::error::ApiError;
use crate::fields::{Field, ParamText};
use crate::http::{Audience, Expected};
use crate::pagination::PageRequest;
use crate::scores::average;
use crate::webhooks::{Event, EventType, StorySummary};
use dto::{
    Author, CoverImage, FieldSet, ListItem, ListParams, RatingSummary, Revision, RevisionEditor, RevisionList, Seo,
    SortParam, Story, StoryField, StoryInput, StoryList, TagCount, TagList,
};
use queries::{Lifecycle, ListFilter, Order, StoryRow, TagSlugs, Visibility};

pub(crate) use queries::{ContentColumns, REBUILD_PUBLICATION_INDEXES, RevisionRow, find, lock, public_at};
pub(crate) use search::{Combine, best_public_matches};

/// A story's status as stored: a scheduled story is stored `published`, its
/// publication time still to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(into = "String", try_from = "String")]
#[schema(rename_all = "lowercase")]
pub enum StoredStatus {
    Draft,
    Published,
    Archived,
}

stored_as_text!(StoredStatus { Draft => "draft", Published => "published", Archived => "archived" });

/// What made a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(into = "String", try_from = "String")]
#[schema(rename_all = "lowercase")]
pub enum RevisionChange {
    Created,
    Edited,
    Published,
    Scheduled,
    Unpublished,
    Archived,
    Restored,
}

stored_as_text!(RevisionChange {
    Created => "created", Edited => "edited", Published => "published", Scheduled => "scheduled",
    Unpublished => "unpublished", Archived => "archived", Restored => "restored",
});

/// Where a story is in its life. `scheduled` is not stored: it is a
/// `published` story whose `published_at` is still in the future, so it
/// turns public by itself when that moment passes, with no job to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Scheduled,
    Published,
    Archived,
}

impl Status {
    /// The status at `now`, from the stored one and the publication time.
    /// `Published` here is the public rule — who may read a story — which
    /// [`queries::public_at`] states in SQL.
    pub fn at(stored: StoredStatus, published_at: Option<NaiveDateTime>, now: NaiveDateTime) -> Status {
        match stored {
            StoredStatus::Published if published_at.is_some_and(|at| at > now) => Status::Scheduled,
            StoredStatus::Published => Status::Published,
            StoredStatus::Archived => Status::Archived,
            StoredStatus::Draft => Status::Draft,
        }
    }
}

/// Whether readers may see a story with this state at `now`.
pub fn is_public(stored: StoredStatus, published_at: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    Status::at(stored, published_at, now) == Status::Published
}

/// Readers may not see what is not public: 404 for them, as if it did not exist.
pub fn visible_to(
    audience: Audience,
    stored: StoredStatus,
    published_at: Option<NaiveDateTime>,
) -> Result<(), ApiError> {
    match audience {
        Audience::Readers if !is_public(stored, published_at, now()) => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Asc,
    Desc,
}

/// Where a page of a story list ends: one variant per order, holding that
/// order's key of the last row (and id, which breaks ties). Serialised into
/// the opaque cursor, so a cursor of one order cannot continue another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum ListCursor {
    Published {
        direction: Direction,
        published_at: Option<NaiveDateTime>,
        id: i64,
    },
    Title {
        title: String,
        id: i64,
    },
    /// With the lowest id of the stories the search ranks: later pages
    /// continue the same ranking. (Cursors from before the bound had none:
    /// they rank every match.)
    Relevance {
        rank: f64,
        id: i64,
        #[serde(default)]
        floor: i64,
    },
    /// The stored rank, carried as its bits: JSON's decimal text need not
    /// read back as the same float, and the next page compares with it.
    Rating {
        rank_bits: u64,
        id: i64,
    },
}

impl ListCursor {
    /// The cursor after `row` in a list in `order`.
    fn after(order: Order, row: &StoryRow, rank: Option<f64>) -> Self {
        let id = row.id;
        match order {
            Order::Published(direction) => ListCursor::Published { direction, published_at: row.published_at, id },
            Order::Title => ListCursor::Title { title: row.content.title.clone(), id },
            Order::Relevance { floor } => ListCursor::Relevance { rank: rank.unwrap_or(f64::NEG_INFINITY), id, floor },
            Order::Rating => ListCursor::Rating { rank_bits: row.rating.rating_rank.to_bits(), id },
        }
    }

    fn continues(&self, order: Order) -> bool {
        match (self, order) {
            (ListCursor::Published { direction, .. }, Order::Published(wanted)) => *direction == wanted,
            (ListCursor::Title { .. }, Order::Title)
            | (ListCursor::Relevance { .. }, Order::Relevance { .. })
            | (ListCursor::Rating { .. }, Order::Rating) => true,
            _ => false,
        }
    }
}

/// The representation of a stored story.
pub fn to_story(row: StoryRow, tags: Vec<String>, now: NaiveDateTime) -> Story {
    let content = row.content;
    Story {
        status: Status::at(row.status, row.published_at, now),
        id: row.id,
        slug: content.slug,
        title: content.title,
        subtitle: content.subtitle,
        excerpt: content.excerpt,
        body: content.body,
        body_html: content.body_html,
        locale: content.locale,
        tags,
        author: Author { name: content.author_name.into() },
        cover_image: content
            .cover_image_url
            .map(|url| CoverImage { url: url.into(), alt: content.cover_image_alt.unwrap_or_default().into() }),
        seo: Seo {
            meta_title: content.seo_meta_title.map(Into::into),
            meta_description: content.seo_meta_description.map(Into::into),
            canonical_url: content.seo_canonical_url.map(Into::into),
        },
        word_count: content.word_count,
        reading_time_minutes: content.reading_time_minutes,
        published_at: row.published_at.map(|t| t.and_utc()),
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        version: row.version,
        rating: RatingSummary {
            average: average(row.rating.rating_sum, row.rating.rating_count),
            count: row.rating.rating_count,
        },
    }
}

/// A story's editable content as stored: what revisions keep and patches change.
fn content_of(content: &ContentColumns, tags: Vec<String>) -> StoryInput {
    let content = content.clone();
    StoryInput {
        title: content.title.into(),
        slug: Some(content.slug.into()),
        subtitle: content.subtitle.map(Into::into),
        excerpt: content.excerpt_is_custom.then_some(content.excerpt.into()),
        body: content.body.into(),
        locale: Some(content.locale.into()),
        tags: tags.into(),
        author: Some(Author { name: content.author_name.into() }),
        cover_image: content
            .cover_image_url
            .map(|url| CoverImage { url: url.into(), alt: content.cover_image_alt.unwrap_or_default().into() }),
        seo: Some(Seo {
            meta_title: content.seo_meta_title.map(Into::into),
            meta_description: content.seo_meta_description.map(Into::into),
            canonical_url: content.seo_canonical_url.map(Into::into),
        }),
    }
}

/// A story's content as an export carries it, held to the rules an editor's
/// input meets, with what is derived from it (the HTML, a derived excerpt,
/// the counts) derived again here: an export is only a file, and what it
/// says was derived may be anything (a script in `body_html`). The error
/// names each broken rule.
pub(crate) fn checked_import(content: &ContentColumns) -> Result<ContentColumns, String> {
    let described = |err: ApiError| match err {
        ApiError::Validation(errors) => {
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    };
    let input = content_of(content, Vec::new());
    input.validate().map_err(|errors| described(ApiError::Validation(crate::json::field_errors(&errors))))?;
    let derived = content::derive(&input.body).map_err(described)?;
    Ok(ContentColumns {
        excerpt: if content.excerpt_is_custom { content.excerpt.clone() } else { derived.excerpt },
        body_html: derived.body_html,
        word_count: derived.word_count,
        reading_time_minutes: derived.reading_time_minutes,
        ..content.clone()
    })
}

/// Whether a revision's stored content, from an export, is content a
/// revision holds (a restore reads it back as an editor's input).
pub(crate) fn checked_revision(content: &str) -> Result<(), String> {
    serde_json::from_str::<StoryInput>(content).map(drop).map_err(|e| format!("content is not a story's content: {e}"))
}

/// The columns for `input`, derivations included. An explicit slug that
/// another story uses is 409; an absent one is derived from the title.
fn columns_for(
    tx: &mut Tx<'_, Content>,
    input: &StoryInput,
    story_id: Option<i64>,
    default_author: &str,
) -> Result<ContentColumns, ApiError> {
    let slug = match &input.slug {
        Some(slug) if queries::slug_taken(tx, slug, story_id)? => return Err(slug_taken(slug)),
        Some(slug) => slug.to_string(),
        None => queries::free_slug(tx, &content::slug_from_title(&input.title), story_id)?,
    };
    let derived = content::derive(&input.body)?;
    let (cover_image_url, cover_image_alt) =
        input.cover_image.clone().map(|c| (Some(c.url.into()), Some(c.alt.into()))).unwrap_or_default();
    let seo = input.seo.clone().unwrap_or_default();
    Ok(ContentColumns {
        slug,
        title: input.title.to_string(),
        subtitle: input.subtitle.clone().map(Into::into),
        excerpt_is_custom: input.excerpt.is_some(),
        excerpt: input.excerpt.clone().map_or(derived.excerpt, Into::into),
        body: input.body.to_string(),
        body_html: derived.body_html,
        locale: input.locale.as_deref().unwrap_or("en-GB").to_owned(),
        author_name: input.author.as_ref().map_or_else(|| default_author.to_owned(), |a| a.name.to_string()),
        cover_image_url,
        cover_image_alt,
        seo_meta_title: seo.meta_title.map(Into::into),
        seo_meta_description: seo.meta_description.map(Into::into),
        seo_canonical_url: seo.canonical_url.map(Into::into),
        word_count: derived.word_count,
        reading_time_minutes: derived.reading_time_minutes,
    })
}

fn slug_taken(slug: &str) -> ApiError {
    ApiError::Conflict(format!("the slug {slug:?} is taken by another story"))
}

/// Tags without repeats, in the editor's order.
fn unique_tags(tags: &[String]) -> Vec<String> {
    let mut unique: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        if !unique.contains(tag) {
            unique.push(tag.clone());
        }
    }
    unique
}

/// Records the story as it now stands and returns its representation.
fn record(
    tx: &mut Tx<'_, Content>,
    row: StoryRow,
    change: RevisionChange,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    let tags = queries::tags_of(tx, row.id)?;
    let snapshot = serde_json::to_string(&content_of(&row.content, tags.clone())).map_err(ApiError::internal)?;
    queries::insert_revision(tx, &row, change, &snapshot, editor.id)?;
    Ok(to_story(row, tags, now()))
}

/// Creates a draft (version 1, with its first revision).
pub fn create(tx: &mut Tx<'_, Content>, input: StoryInput, editor: &EditorRow) -> Result<Story, ApiError> {
    let tags = unique_tags(&input.tags);
    // A derived slug may still be taken between our check and our insert, by
    // a concurrent story's explicit slug (derived ones are picked one at a
    // time: `free_slug`); a savepoint lets us pick the next free one, which
    // sees that story, and try again.
    for _ in 0..SLUG_ATTEMPTS {
        let columns = columns_for(tx, &input, None, &editor.display_name)?;
        match tx.savepoint(|tx| queries::insert(tx, &columns, editor.id, now())) {
            Ok(row) => {
                // A draft counts toward no tag: nothing to reindex.
                queries::set_tags(tx, row.id, &tags)?;
                // Editors may look at a draft's suggestions.
                crate::related::suggestions_changed(tx, row.id)?;
                return record(tx, row, RevisionChange::Created, editor);
            }
            Err(err) if is_unique_violation(&err) && input.slug.is_none() => continue,
            Err(err) if is_unique_violation(&err) => return Err(slug_taken(&columns.slug)),
            Err(err) => return Err(err.into()),
        }
    }
    // 409 is only for a taken explicit slug: this is a lost race, to retry.
    Err(ApiError::unavailable(anyhow::anyhow!("a derived slug was taken by concurrent stories {SLUG_ATTEMPTS} times")))
}

/// How many inserts a new story with a derived slug tries: each can lose
/// only to another story that committed its slug meanwhile.
const SLUG_ATTEMPTS: usize = 5;

/// Applies a JSON Merge Patch (RFC 7396) to the story's content, if it is
/// still at a version `expected` lists. The result is validated like a new story.
pub fn edit(
    tx: &mut Tx<'_, Content>,
    id: i64,
    expected: &Expected,
    patch: &serde_json::Map<String, serde_json::Value>,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    let current = queries::find(tx, id)?.ok_or(ApiError::NotFound)?;
    let expected_version = expected.against(current.version);
    let tags = queries::tags_of(tx, id)?;
    let before = serde_json::to_value(content_of(&current.content, tags.clone())).map_err(ApiError::internal)?;
    let mut document = before.clone();
    json_patch::merge(&mut document, &serde_json::Value::Object(patch.clone()));
    if document == before {
        // A patch that changes nothing (`{}`, the values already stored, a
        // repeated request) makes no new version, revision or event.
        if expected_version.is_some_and(|version| version != current.version) {
            return Err(ApiError::PreconditionFailed);
        }
        return Ok(to_story(current, tags, now()));
    }
    let input: StoryInput = crate::json::from_value(document)?;
    input.validate().map_err(|errors| ApiError::Validation(crate::json::field_errors(&errors)))?;
    save_content(tx, &current, expected_version, &input, RevisionChange::Edited, editor)
}

fn save_content(
    tx: &mut Tx<'_, Content>,
    current: &StoryRow,
    expected_version: Option<i64>,
    input: &StoryInput,
    change: RevisionChange,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    let columns = columns_for(tx, input, Some(current.id), &current.content.author_name)?;
    let drawn_from =
        (current.content.title.clone(), current.content.excerpt.clone(), queries::tags_of(tx, current.id)?);
    let row = keeping_tag_index(tx, current.id, |tx| {
        let row = queries::update(tx, current.id, expected_version, Some(&columns), None).map_err(|err| match err {
            ApiError::Conflict(_) => slug_taken(&columns.slug),
            other => other,
        })?;
        queries::set_tags(tx, row.id, &unique_tags(&input.tags))?;
        Ok(row)
    })?;
    let story = record(tx, row, change, editor)?;
    if story.status == Status::Published {
        announce(tx, EventType::StoryUpdated, &story)?;
    }
    // What suggestions are drawn from.
    if drawn_from != (story.title.clone(), story.excerpt.clone(), story.tags.clone()) {
        crate::related::suggestions_changed(tx, story.id)?;
    }
    Ok(story)
}

/// Runs `change` to story `id`, then brings the tag index and counters in
/// step with it, in the same transaction (`queries::reindex_tags`).
fn keeping_tag_index<T>(
    tx: &mut Tx<'_, Content>,
    id: i64,
    change: impl FnOnce(&mut Tx<'_, Content>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let before = queries::counted_tags(tx, id)?;
    let changed = change(tx)?;
    queries::reindex_tags(tx, id, &before)?;
    Ok(changed)
}

/// Tells webhook endpoints of a change, in the change's transaction.
fn announce(tx: &mut Tx<'_, Content>, kind: EventType, story: &Story) -> Result<(), ApiError> {
    crate::webhooks::record(tx, Event { kind, story: StorySummary::of(story) })
}

/// `story.published` for story `id`, a scheduled story whose time has come
/// (the webhooks dispatcher looks for them), once per publication time:
/// `false` when it is not public or was announced already.
pub(crate) fn announce_came_due(tx: &mut Tx<'_, Content>, id: i64) -> Result<bool, ApiError> {
    let Some(row) = queries::find(tx, id)? else { return Ok(false) };
    let at = now();
    match row.published_at {
        Some(published_at)
            if is_public(row.status, row.published_at, at)
                && crate::webhooks::mark_published(tx, id, published_at)? =>
        {
            announce(tx, EventType::StoryPublished, &to_story(row, Vec::new(), at))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Tells webhook endpoints of a change to what public story `id` shows (its
/// related links, say); nothing when it is not public.
pub(crate) fn announce_if_public(tx: &mut Tx<'_, Content>, kind: EventType, id: i64) -> Result<(), ApiError> {
    match queries::find(tx, id)? {
        Some(row) if is_public(row.status, row.published_at, now()) => {
            let story = to_story(row, Vec::new(), now());
            announce(tx, kind, &story)
        }
        _ => Ok(()),
    }
}

/// Deletes a story, if it is still at a version `expected` lists. Its
/// revisions, ratings and links go with it (the foreign keys cascade), and
/// its ratings leave the site-wide totals.
pub fn delete(tx: &mut Tx<'_, Content>, id: i64, expected: &Expected) -> Result<(), ApiError> {
    // The story's row before its ratings row (`withdraw_story`), the order
    // every story writer takes them in: vote batches rely on it.
    if !queries::lock(tx, id)? {
        return Err(ApiError::NotFound);
    }
    let story = queries::find(tx, id)?.ok_or(ApiError::NotFound)?;
    if expected.against(story.version).is_some_and(|v| v != story.version) {
        return Err(ApiError::PreconditionFailed);
    }
    crate::ratings::withdraw_story(tx, id)?;
    keeping_tag_index(tx, id, |tx| Ok(queries::delete(tx, id)?))?;
    announce(tx, EventType::StoryDeleted, &to_story(story, Vec::new(), now()))
}

/// How a single story is named in a request.
pub enum StoryKey {
    Id(i64),
    Slug(ParamText),
}

/// A string from a query or a path must keep its field type's rule — no NUL
/// or other control characters ([`crate::fields::plain_text`]): PostgreSQL
/// cannot compare text holding NUL (a 500), and SQLite would quietly find
/// nothing. Neither is an answer: 400, naming the parameter.
fn check_parameter<T: Field>(name: &str, value: Option<&T>) -> Result<(), ApiError> {
    match value.map(crate::fields::check) {
        Some(Err(error)) => Err(ApiError::BadRequest(format!("{name} {error}"))),
        _ => Ok(()),
    }
}

/// One story, as `audience` may see it.
pub fn read(conn: &mut DbConnection, key: &StoryKey, audience: Audience) -> Result<Story, ApiError> {
    if let StoryKey::Slug(slug) = key {
        check_parameter("slug", Some(slug))?;
    }
    let (row, tags) = queries::find_with_tags(conn, key)?.ok_or(ApiError::NotFound)?;
    visible_to(audience, row.status, row.published_at)?;
    Ok(to_story(row, TagSlugs::split(tags), now()))
}

/// The most distinct words a search may have. Each is one more condition
/// the full-text index must meet (an FTS5 phrase, a tsquery term), and a
/// search's cost grew with the square of their number: 10,000 words took
/// 8.6 s on SQLite, 32,000 overflowed PostgreSQL's stack. Readers search
/// with a few words; 8 leaves room for a remembered phrase.
const SEARCH_MAX_TERMS: usize = 8;

/// A search, if it is within bounds: at most [`SEARCH_MAX_TERMS`] distinct
/// words (its length is [`crate::fields::SearchText`]'s rule); else 400. So
/// no search, whoever sends it, costs more than a bounded amount.
fn bounded_search(q: &str) -> Result<String, ApiError> {
    let terms: BTreeSet<String> = search::words(q).map(str::to_lowercase).collect();
    if terms.len() > SEARCH_MAX_TERMS {
        return Err(ApiError::BadRequest(format!(
            "q may have at most {SEARCH_MAX_TERMS} distinct words, got {}",
            terms.len()
        )));
    }
    Ok(q.to_owned())
}

/// What a list costs the database. A search ranks up to a thousand
/// matches; a ranking by rating walks the stored ranks but, filtered, may
/// walk far; a filter (tag, locale, author) with `sort=title` sorts every
/// story the filter keeps; the other lists walk an index. Editors'
/// requests, authenticated and few, are not rationed.
pub fn list_cost(params: &ListParams, audience: Audience) -> Cost {
    let searching = params.q.as_deref().is_some_and(|q| !q.trim().is_empty());
    let by_rating = matches!(params.sort, Some(SortParam::RatingDesc));
    let filtered_by_title = matches!(params.sort, Some(SortParam::Title))
        && (params.tag.is_some() || params.locale.is_some() || params.author.is_some());
    match audience {
        Audience::Readers if searching || by_rating || filtered_by_title => Cost::High,
        _ => Cost::Plain,
    }
}

/// One page of a story list as `audience` may see it: items cut to the
/// chosen fields, and a cursor naming the last one.
pub fn list_page(
    conn: &mut DbConnection,
    params: ListParams,
    page: PageRequest<ListCursor>,
    audience: Audience,
) -> Result<StoryList, ApiError> {
    for (name, value) in [("tag", &params.tag), ("locale", &params.locale), ("author", &params.author)] {
        check_parameter(name, value.as_ref())?;
    }
    check_parameter("q", params.q.as_ref())?;
    let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(bounded_search).transpose()?;
    let (order, candidates) = match (params.sort, &q) {
        (Some(SortParam::PublishedDesc), _) | (None, None) => (Order::Published(Direction::Desc), None),
        (Some(SortParam::PublishedAsc), _) => (Order::Published(Direction::Asc), None),
        (Some(SortParam::Title), _) => (Order::Title, None),
        (Some(SortParam::RatingDesc), _) => (Order::Rating, None),
        (None, Some(q)) => match &page.after {
            // Later pages rank the same stories as the first.
            Some(ListCursor::Relevance { floor, .. }) => (Order::Relevance { floor: *floor }, None),
            _ => {
                let (order, candidates) = first_ranking(conn, q)?;
                (order, Some(candidates))
            }
        },
    };
    if page.after.as_ref().is_some_and(|cursor| !cursor.continues(order)) {
        return Err(ApiError::BadRequest("cursor belongs to a list in another order".into()));
    }
    let visibility = match (audience, params.status) {
        (Audience::Editors, status) => Visibility::Editor(status),
        (Audience::Readers, None) => Visibility::Public,
        (Audience::Readers, Some(_)) => {
            return Err(ApiError::BadRequest("status is for editors: send a bearer token".into()));
        }
    };
    let fields = params.fields.as_deref().map_or_else(FieldSet::default_for_lists, |f| FieldSet::of(f.iter().copied()));
    let bodies = fields.contains(StoryField::Body) || fields.contains(StoryField::BodyHtml);
    let after = page.after.clone();
    let tags = fields.contains(StoryField::Tags);
    let limit = page.fetch_limit();
    let filter = ListFilter { visibility, params, q, order, after, candidates, limit, bodies, tags, now: now() };
    let rows = queries::list(conn, &filter)?;
    let (rows, page) = page.page_of(rows, |(row, rank, _)| ListCursor::after(order, row, *rank));
    let at = now();
    let data = rows
        .into_iter()
        .map(|(row, _, tags)| ListItem { story: to_story(row, TagSlugs::split(tags), at), fields })
        .collect();
    Ok(StoryList { data, page })
}

/// A search's first page: the stories it ranks ([`search::candidates`]) and
/// the order that ranks them, whose floor later pages keep.
fn first_ranking(conn: &mut DbConnection, q: &str) -> diesel::QueryResult<(Order, Vec<i64>)> {
    let candidates = search::candidates(conn, q, Combine::All)?;
    Ok((Order::Relevance { floor: search::floor(&candidates) }, candidates))
}

/// The `limit` newest public stories, whole, with `tag` when given: what
/// feeds carry.
/// A tag that does not exist is 404: a feed's title names its tag, and a
/// title made of whatever a link put in `?tag=` would be the site's words.
pub fn newest_public(conn: &mut DbConnection, tag: Option<ParamText>, limit: i64) -> Result<Vec<Story>, ApiError> {
    check_parameter("tag", tag.as_ref())?;
    if let Some(tag) = &tag
        && !queries::tag_exists(conn, tag)?
    {
        return Err(ApiError::NotFound);
    }
    let filter = ListFilter {
        visibility: Visibility::Public,
        params: ListParams { tag, ..ListParams::default() },
        q: None,
        order: Order::Published(Direction::Desc),
        after: None,
        candidates: None,
        limit,
        bodies: true,
        tags: true,
        now: now(),
    };
    let rows = queries::list(conn, &filter)?;
    Ok(rows.into_iter().map(|(row, _, tags)| to_story(row, TagSlugs::split(tags), filter.now)).collect())
}

/// How the database finds each public list, on this database: the query
/// plan of every path a reader can take through `GET /v1/stories`, each
/// named by an example of its URL. Built
/// around the newest public story (its locale, author, title and time) and
/// the tag most stories carry; a search (its first page, a later page, and
/// how its candidates are found) for the last word of that title and for
/// each of `words`.
/// Empty when no story is public.
pub fn public_list_plans(conn: &mut DbConnection, words: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let at = now();
    let newest = ListFilter {
        visibility: Visibility::Public,
        params: ListParams::default(),
        q: None,
        order: Order::Published(Direction::Desc),
        after: None,
        candidates: None,
        limit: 1,
        bodies: false,
        tags: false,
        now: at,
    };
    let Some((story, ..)) = queries::list(conn, &newest)?.into_iter().next() else { return Ok(Vec::new()) };
    let tag = queries::commonest_tag(conn)?.unwrap_or_default();
    let word = search::words(&story.content.title).last().unwrap_or("story").to_owned();
    let by_time =
        Some(ListCursor::Published { direction: Direction::Desc, published_at: story.published_at, id: story.id });
    let by_title = Some(ListCursor::Title { title: story.content.title.clone(), id: story.id });
    let by_rating = Some(ListCursor::Rating { rank_bits: story.rating.rating_rank.to_bits(), id: story.id });
    let params = ListParams::default;
    let tagged = || ListParams { tag: Some(tag.clone().into()), ..params() };
    let desc = Order::Published(Direction::Desc);
    let paths = Vec::from([
        ("/v1/stories".to_owned(), params(), desc, None),
        ("/v1/stories?sort=published_at".to_owned(), params(), Order::Published(Direction::Asc), None),
        ("/v1/stories?cursor=(a later page)".to_owned(), params(), desc, by_time.clone()),
        (format!("/v1/stories?tag={tag}"), tagged(), desc, None),
        (format!("/v1/stories?tag={tag}&cursor=(a later page)"), tagged(), desc, by_time),
        (format!("/v1/stories?tag={tag}&sort=published_at"), tagged(), Order::Published(Direction::Asc), None),
        (
            format!("/v1/stories?locale={}", story.content.locale),
            ListParams { locale: Some(story.content.locale.clone().into()), ..params() },
            desc,
            None,
        ),
        (
            format!("/v1/stories?author={}", story.content.author_name),
            ListParams { author: Some(story.content.author_name.clone().into()), ..params() },
            desc,
            None,
        ),
        (
            "/v1/stories?published_after=(a month before)".to_owned(),
            ListParams {
                published_after: story.published_at.map(|t| (t - chrono::Duration::days(30)).and_utc().into()),
                ..params()
            },
            desc,
            None,
        ),
        ("/v1/stories?sort=title".to_owned(), params(), Order::Title, None),
        ("/v1/stories?sort=title&cursor=(a later page)".to_owned(), params(), Order::Title, by_title),
        ("/v1/stories?sort=-rating".to_owned(), params(), Order::Rating, None),
        ("/v1/stories?sort=-rating&cursor=(a later page)".to_owned(), params(), Order::Rating, by_rating),
    ]);
    let searches: Vec<&String> = std::iter::once(&word).chain(words).collect();
    let mut plans = Vec::with_capacity(paths.len() + 3 * searches.len());
    let list = |params, q, order, after, candidates| ListFilter {
        visibility: Visibility::Public,
        params,
        q,
        order,
        after,
        candidates,
        limit: 21,
        bodies: false,
        tags: true,
        now: at,
    };
    for (name, params, order, after) in paths {
        plans.push((name, queries::plan(conn, &list(params, None, order, after, None))?));
    }
    // A search's first page ranks the candidates just found; a later one
    // finds them again from the floor its cursor keeps.
    for &q in &searches {
        let (order, candidates) = first_ranking(conn, q)?;
        let first = list(params(), Some(q.clone()), order, None, Some(candidates));
        plans.push((format!("/v1/stories?q={q}"), queries::plan(conn, &first)?));
        let after = queries::list(conn, &first)?.last().map(|(row, rank, _)| ListCursor::after(order, row, *rank));
        let later = list(params(), Some(q.clone()), order, after, None);
        plans.push((format!("/v1/stories?q={q}&cursor=(a later page)"), queries::plan(conn, &later)?));
    }
    for q in searches {
        plans.push((format!("/v1/stories?q={q} (its newest matches)"), search::candidates_plan(conn, q)?));
    }
    Ok(plans)
}

/// A public story as a sitemap lists it.
pub struct SitemapEntry {
    pub id: i64,
    pub slug: String,
    /// When it last changed, or was published if that was later.
    pub modified: NaiveDateTime,
}

/// Public stories with ids in `ids`, after `after` when continuing, in id
/// order, `limit` at a time: a walk of the primary key, however many
/// stories there are.
pub fn sitemap_entries(
    conn: &mut DbConnection,
    ids: std::ops::RangeInclusive<i64>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<SitemapEntry>, ApiError> {
    let from = after.map_or(*ids.start(), |id| id + 1).max(*ids.start());
    let rows = queries::public_between(conn, from..=*ids.end(), now(), limit)?;
    Ok(rows
        .into_iter()
        .map(|row| SitemapEntry {
            modified: row.published_at.map_or(row.updated_at, |p| p.max(row.updated_at)),
            id: row.id,
            slug: row.slug,
        })
        .collect())
}

/// The highest story id, public or not: how far the sitemap's files reach.
pub fn highest_id(conn: &mut DbConnection) -> Result<i64, ApiError> {
    Ok(queries::highest_id(conn)?.unwrap_or(0))
}

/// What the tags list costs: a walk of the tags, each with its counter.
pub const TAGS_COST: Cost = Cost::Plain;

/// Tags in use by public stories, with how many carry each, in slug order.
pub fn tags_page(conn: &mut DbConnection, page: PageRequest<String>) -> Result<TagList, ApiError> {
    let rows = queries::public_tag_counts(conn, now(), page.after.as_deref(), page.fetch_limit())?;
    let (rows, page) = page.page_of(rows, |(slug, _)| slug.clone());
    Ok(TagList { data: rows.into_iter().map(|(slug, count)| TagCount { slug, count }).collect(), page })
}

/// A story's revisions, newest first.
pub fn revisions_page(conn: &mut DbConnection, id: i64, page: PageRequest<i64>) -> Result<RevisionList, ApiError> {
    queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let rows = queries::list_revisions(conn, id, page.after, page.fetch_limit())?;
    let (rows, page) = page.page_of(rows, |row| row.version);
    let editors = crate::editors::display_names(conn, &rows.iter().filter_map(|r| r.editor_id).collect::<Vec<_>>())?;
    let data = rows.into_iter().map(|row| to_revision(row, &editors)).collect::<Result<_, _>>()?;
    Ok(RevisionList { data, page })
}

/// One revision of a story.
pub fn revision(conn: &mut DbConnection, id: i64, version: i64) -> Result<Revision, ApiError> {
    let row = queries::find_revision(conn, id, version)?.ok_or(ApiError::NotFound)?;
    let editors = crate::editors::display_names(conn, &row.editor_id.into_iter().collect::<Vec<_>>())?;
    to_revision(row, &editors)
}

fn to_revision(row: queries::RevisionRow, editors: &HashMap<i64, String>) -> Result<Revision, ApiError> {
    Ok(Revision {
        version: row.version,
        change: row.change,
        status: row.status,
        published_at: row.published_at.map(|t| t.and_utc()),
        editor: row
            .editor_id
            .and_then(|id| editors.get(&id).map(|name| RevisionEditor { id, display_name: name.clone() })),
        created_at: row.created_at.and_utc(),
        content: serde_json::from_str(&row.content).map_err(ApiError::internal)?,
    })
}

/// Where a lifecycle request takes a story.
#[derive(Debug, Clone, Copy)]
pub enum Transition {
    /// Public at `at` (a future time to schedule, a past one to backdate);
    /// without one, now — or, for a story already public, when it was.
    Publish { at: Option<NaiveDateTime> },
    /// Back to draft: no longer public, publication time cleared.
    Unpublish,
    /// Off the public site, kept with its publication time.
    Archive,
}

pub fn transition(
    tx: &mut Tx<'_, Content>,
    id: i64,
    expected: &Expected,
    transition: Transition,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    // Locked first, so that two requests for the same move (a double click)
    // see each other's result: the second changes nothing.
    if !queries::lock(tx, id)? {
        return Err(ApiError::NotFound);
    }
    let current = queries::find(tx, id)?.ok_or(ApiError::NotFound)?;
    let expected_version = expected.against(current.version);
    let (lifecycle, change) = match transition {
        Transition::Publish { at } => {
            let at = at.unwrap_or_else(|| {
                current
                    .published_at
                    .filter(|_| is_public(current.status, current.published_at, now()))
                    .unwrap_or_else(now)
            });
            (
                Lifecycle { status: StoredStatus::Published, published_at: Some(at) },
                if at > now() { RevisionChange::Scheduled } else { RevisionChange::Published },
            )
        }
        Transition::Unpublish => {
            (Lifecycle { status: StoredStatus::Draft, published_at: None }, RevisionChange::Unpublished)
        }
        Transition::Archive => {
            (Lifecycle { status: StoredStatus::Archived, published_at: current.published_at }, RevisionChange::Archived)
        }
    };
    if (lifecycle.status, lifecycle.published_at) == (current.status, current.published_at) {
        // Nothing moves: no new version, revision or event.
        if expected_version.is_some_and(|version| version != current.version) {
            return Err(ApiError::PreconditionFailed);
        }
        let tags = queries::tags_of(tx, id)?;
        return Ok(to_story(current, tags, now()));
    }
    let was_public = is_public(current.status, current.published_at, now());
    let row = keeping_tag_index(tx, id, |tx| queries::update(tx, id, expected_version, None, Some(&lifecycle)))?;
    let story = record(tx, row, change, editor)?;
    // Scheduled stories' `story.published` comes when their time does (the
    // webhooks dispatcher looks for them).
    if let Transition::Publish { .. } = transition {
        crate::related::suggestions_changed(tx, id)?;
    }
    match (was_public, story.status == Status::Published) {
        (false, true) => {
            if let Some(at) = lifecycle.published_at {
                crate::webhooks::mark_published(tx, id, at)?;
            }
            announce(tx, EventType::StoryPublished, &story)?
        }
        (true, true) => announce(tx, EventType::StoryUpdated, &story)?,
        (true, false) => announce(tx, EventType::StoryUnpublished, &story)?,
        (false, false) => {}
    }
    Ok(story)
}

/// Makes the content of revision `version` the current content, as a new version.
pub fn restore(
    tx: &mut Tx<'_, Content>,
    id: i64,
    version: i64,
    expected: &Expected,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    let current = queries::find(tx, id)?.ok_or(ApiError::NotFound)?;
    let expected_version = expected.against(current.version);
    let revision = queries::find_revision(tx, id, version)?.ok_or(ApiError::NotFound)?;
    let mut input: StoryInput = serde_json::from_str(&revision.content).map_err(ApiError::internal)?;
    // The slug may have gone to another story since: then keep today's.
    if let Some(slug) = &input.slug
        && queries::slug_taken(tx, slug, Some(id))?
    {
        input.slug = Some(current.content.slug.clone().into());
    }
    save_content(tx, &current, expected_version, &input, RevisionChange::Restored, editor)
}
