//! Stories: the published pieces, their lifecycle, revisions and lists.
//!
//! Routes: `handlers.rs` (thin). SQL: `queries.rs`, with full-text search in
//! `search.rs`. Wire types: `dto.rs`. Derivations from the Markdown body
//! (HTML, excerpt, counts, slugs): `content.rs`. The rules that tie them
//! together — what a change does, in one transaction — are below.

pub mod content;
pub mod dto;
pub mod handlers;
pub mod queries;
pub mod search;

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::{DbConnection, now};
use crate::editors::queries::EditorRow;
use crate::error::ApiError;
use crate::pagination::paginate;
use crate::ratings::RatingPrior;
use dto::{Author, CoverImage, RatingSummary, Seo, Story, StoryInput, StoryList};
use queries::{ContentColumns, Lifecycle, ListCursor, ListFilter, Sort, StoryRow};

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
    /// The status a reader sees, from the stored one and the publication time.
    pub fn at(stored: &str, published_at: Option<NaiveDateTime>, now: NaiveDateTime) -> Status {
        match stored {
            "published" if published_at.is_some_and(|at| at > now) => Status::Scheduled,
            "published" => Status::Published,
            "archived" => Status::Archived,
            _ => Status::Draft,
        }
    }
}

/// The representation of a stored story.
pub fn to_story(row: StoryRow, tags: Vec<String>, now: NaiveDateTime) -> Story {
    let content = row.content;
    Story {
        status: Status::at(&row.status, row.published_at, now),
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
            average: crate::ratings::average(row.rating_sum, row.rating_count),
            count: row.rating_count,
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

/// The columns for `input`, derivations included. An explicit slug that
/// another story uses is 409; an absent one is derived from the title.
fn columns_for(
    conn: &mut DbConnection,
    input: &StoryInput,
    story_id: Option<i64>,
    default_author: &str,
) -> Result<ContentColumns, ApiError> {
    let slug = match &input.slug {
        Some(slug) if queries::slug_taken(conn, slug, story_id)? => return Err(slug_taken(slug)),
        Some(slug) => slug.to_string(),
        None => queries::free_slug(conn, &content::slug_from_title(&input.title), story_id)?,
    };
    let derived = content::derive(&input.body);
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
fn record(conn: &mut DbConnection, row: StoryRow, change: &str, editor: &EditorRow) -> Result<Story, ApiError> {
    let tags = queries::tags_of(conn, row.id)?;
    let snapshot = serde_json::to_string(&content_of(&row.content, tags.clone())).map_err(ApiError::internal)?;
    queries::insert_revision(conn, &row, change, &snapshot, editor.id)?;
    Ok(to_story(row, tags, now()))
}

/// Creates a draft (version 1, with its first revision). Call inside a write
/// transaction.
pub fn create(conn: &mut DbConnection, input: StoryInput, editor: &EditorRow) -> Result<Story, ApiError> {
    let tags = unique_tags(&input.tags);
    // A derived slug may be taken by a concurrent insert between our check and
    // our insert; a savepoint lets us pick the next free one and try again.
    for _ in 0..5 {
        let columns = columns_for(conn, &input, None, &editor.display_name)?;
        match conn.transaction(|conn| queries::insert(conn, &columns, editor.id, now())) {
            Ok(row) => {
                queries::set_tags(conn, row.id, &tags)?;
                return record(conn, row, "created", editor);
            }
            Err(err) if queries::is_unique_violation(&err) && input.slug.is_none() => continue,
            Err(err) if queries::is_unique_violation(&err) => return Err(slug_taken(&columns.slug)),
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Conflict("could not find a free slug; give one explicitly".into()))
}

/// Applies a JSON Merge Patch (RFC 7396) to the story's content, if it is
/// still at `expected_version`. The result is validated like a new story.
pub fn edit(
    conn: &mut DbConnection,
    id: i64,
    expected_version: Option<i64>,
    patch: &serde_json::Map<String, serde_json::Value>,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    let current = queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let mut document =
        serde_json::to_value(content_of(&current.content, queries::tags_of(conn, id)?)).map_err(ApiError::internal)?;
    json_patch::merge(&mut document, &serde_json::Value::Object(patch.clone()));
    let input: StoryInput = crate::json::from_value(document)?;
    input.validate().map_err(|errors| ApiError::Validation(crate::json::field_errors(&errors)))?;
    save_content(conn, &current, expected_version, &input, "edited", editor)
}

fn save_content(
    conn: &mut DbConnection,
    current: &StoryRow,
    expected_version: Option<i64>,
    input: &StoryInput,
    change: &str,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    let columns = columns_for(conn, input, Some(current.id), &current.content.author_name)?;
    let row = queries::update(conn, current.id, expected_version, Some(&columns), None).map_err(|err| match err {
        ApiError::Conflict(_) => slug_taken(&columns.slug),
        other => other,
    })?;
    queries::set_tags(conn, row.id, &unique_tags(&input.tags))?;
    record(conn, row, change, editor)
}

/// One page of a story list as the API sends it: items cut to `fields`,
/// and a cursor naming the last one. `filter.limit` is the page size.
pub fn list_page(
    conn: &mut DbConnection,
    mut filter: ListFilter,
    prior: &RatingPrior,
    fields: &BTreeSet<String>,
) -> Result<StoryList, ApiError> {
    if filter.sort == Sort::RatingDesc {
        // Later pages rank by the prior the list began with.
        filter.rating_prior = match filter.after.as_ref().and_then(|c| c.prior) {
            Some(began_with) => began_with,
            None => (prior.weight, prior.mean(conn)?),
        };
    }
    let limit = filter.limit;
    filter.limit = limit + 1;
    let rows = queries::list(conn, &filter)?;
    let ids: Vec<i64> = rows.iter().map(|(row, _)| row.id).collect();
    let mut tags = queries::tags_of_many(conn, &ids)?;
    let (rows, page) = paginate(rows, limit, |(row, score)| ListCursor {
        sort: filter.sort,
        id: row.id,
        published_at: row.published_at,
        title: (filter.sort == Sort::Title).then(|| row.content.title.clone()),
        score: match filter.sort {
            Sort::RatingDesc => {
                let (weight, mean) = filter.rating_prior;
                Some(crate::ratings::bayesian_score(row.rating_sum, row.rating_count, weight, mean))
            }
            _ => *score,
        },
        prior: (filter.sort == Sort::RatingDesc).then_some(filter.rating_prior),
    });
    let at = now();
    let mut data = Vec::with_capacity(rows.len());
    for (row, _) in rows {
        let story_tags = tags.remove(&row.id).unwrap_or_default();
        let serde_json::Value::Object(mut item) =
            serde_json::to_value(to_story(row, story_tags, at)).map_err(ApiError::internal)?
        else {
            return Err(ApiError::internal("a story did not serialize to an object"));
        };
        item.retain(|key, _| fields.contains(key));
        data.push(item);
    }
    Ok(StoryList { data, page })
}

/// Where a lifecycle request takes a story.
#[derive(Debug, Clone, Copy)]
pub enum Transition {
    /// Public at `at` (now, a future time to schedule, or a past one to backdate).
    Publish { at: NaiveDateTime },
    /// Back to draft: no longer public, publication time cleared.
    Unpublish,
    /// Off the public site, kept with its publication time.
    Archive,
}

pub fn transition(
    conn: &mut DbConnection,
    id: i64,
    expected_version: Option<i64>,
    transition: Transition,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    let current = queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let (lifecycle, change) = match transition {
        Transition::Publish { at } => (
            Lifecycle { status: "published".into(), published_at: Some(at) },
            if at > now() { "scheduled" } else { "published" },
        ),
        Transition::Unpublish => (Lifecycle { status: "draft".into(), published_at: None }, "unpublished"),
        Transition::Archive => {
            (Lifecycle { status: "archived".into(), published_at: current.published_at }, "archived")
        }
    };
    let row = queries::update(conn, id, expected_version, None, Some(&lifecycle))?;
    record(conn, row, change, editor)
}

/// Makes the content of revision `version` the current content, as a new version.
pub fn restore(
    conn: &mut DbConnection,
    id: i64,
    version: i64,
    expected_version: Option<i64>,
    editor: &EditorRow,
) -> Result<Story, ApiError> {
    let current = queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let revision = queries::find_revision(conn, id, version)?.ok_or(ApiError::NotFound)?;
    let mut input: StoryInput = serde_json::from_str(&revision.content).map_err(ApiError::internal)?;
    // The slug may have gone to another story since: then keep today's.
    if let Some(slug) = &input.slug
        && queries::slug_taken(conn, slug, Some(id))?
    {
        input.slug = Some(current.content.slug.clone().into());
    }
    save_content(conn, &current, expected_version, &input, "restored", editor)
}
