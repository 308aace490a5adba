//! Every SQL statement about stories and their tags.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{stories, story_tags, tags};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stories)]
pub struct StoryRow {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub subtitle: Option<String>,
    pub excerpt: String,
    pub excerpt_is_custom: bool,
    pub body: String,
    pub body_html: String,
    pub status: String,
    pub locale: String,
    pub author_name: String,
    pub cover_image_url: Option<String>,
    pub cover_image_alt: Option<String>,
    pub seo_meta_title: Option<String>,
    pub seo_meta_description: Option<String>,
    pub seo_canonical_url: Option<String>,
    pub word_count: i32,
    pub reading_time_minutes: i32,
    pub published_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The editable columns, written together on insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = stories)]
pub struct StoryValues {
    pub slug: String,
    pub title: String,
    pub subtitle: Option<String>,
    pub excerpt: String,
    pub excerpt_is_custom: bool,
    pub body: String,
    pub body_html: String,
    pub status: String,
    pub locale: String,
    pub author_name: String,
    pub cover_image_url: Option<String>,
    pub cover_image_alt: Option<String>,
    pub seo_meta_title: Option<String>,
    pub seo_meta_description: Option<String>,
    pub seo_canonical_url: Option<String>,
    pub word_count: i32,
    pub reading_time_minutes: i32,
    pub published_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

fn is_unique_violation(err: &DieselError) -> bool {
    matches!(err, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<StoryRow>> {
    stories::table.find(id).select(StoryRow::as_select()).first(conn).optional()
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

fn slug_taken(conn: &mut DbConnection, slug: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(stories::table.filter(stories::slug.eq(slug)))).get_result(conn)
}

/// The first of `base`, `base-2`, `base-3`… that no story uses yet.
fn free_slug(conn: &mut DbConnection, base: &str) -> QueryResult<String> {
    let taken: Vec<String> = stories::table
        .filter(stories::slug.eq(base).or(stories::slug.like(format!("{base}-%"))))
        .select(stories::slug)
        .load(conn)?;
    if !taken.iter().any(|s| s == base) {
        return Ok(base.to_owned());
    }
    Ok((2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken.contains(candidate))
        .expect("an unbounded range has a free suffix"))
}

/// Inserts a story with its tags in one transaction. An explicit slug that is
/// taken is 409; a derived one gets the first free numeric suffix (retrying
/// if a concurrent insert takes it first).
pub fn insert(
    conn: &mut DbConnection,
    mut values: StoryValues,
    slug_is_explicit: bool,
    tag_slugs: &[String],
) -> Result<StoryRow, ApiError> {
    let base = values.slug.clone();
    for _attempt in 0..5 {
        let outcome = conn.transaction::<_, DieselError, _>(|conn| {
            if slug_is_explicit {
                if slug_taken(conn, &values.slug)? {
                    return Ok(None);
                }
            } else {
                values.slug = free_slug(conn, &base)?;
            }
            let id =
                diesel::insert_into(stories::table).values(&values).returning(stories::id).get_result::<i64>(conn)?;
            set_tags(conn, id, tag_slugs)?;
            Ok(Some(stories::table.find(id).select(StoryRow::as_select()).first(conn)?))
        });
        match outcome {
            Ok(Some(row)) => return Ok(row),
            Ok(None) => return Err(slug_conflict(&values.slug)),
            Err(err) if is_unique_violation(&err) && slug_is_explicit => return Err(slug_conflict(&values.slug)),
            Err(err) if is_unique_violation(&err) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Conflict("could not find a free slug; give one explicitly".into()))
}

fn slug_conflict(slug: &str) -> ApiError {
    ApiError::Conflict(format!("the slug {slug:?} is taken by another story"))
}

/// Replaces the story's tags, creating tag rows on first use.
fn set_tags(conn: &mut DbConnection, story_id: i64, tag_slugs: &[String]) -> QueryResult<()> {
    diesel::delete(story_tags::table.filter(story_tags::story_id.eq(story_id))).execute(conn)?;
    let mut seen = Vec::with_capacity(tag_slugs.len());
    for slug in tag_slugs {
        if seen.contains(&slug) {
            continue;
        }
        seen.push(slug);
        let tag_id = tag_id(conn, slug)?;
        diesel::insert_into(story_tags::table)
            .values((
                story_tags::story_id.eq(story_id),
                story_tags::tag_id.eq(tag_id),
                story_tags::position.eq(seen.len() as i32),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn tag_id(conn: &mut DbConnection, slug: &str) -> QueryResult<i64> {
    if let Some(id) = tags::table.filter(tags::slug.eq(slug)).select(tags::id).first(conn).optional()? {
        return Ok(id);
    }
    // A savepoint, so that losing a race to create the same tag only costs a re-read.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(tags::table).values(tags::slug.eq(slug)).returning(tags::id).get_result(conn)
    });
    match inserted {
        Err(err) if is_unique_violation(&err) => tags::table.filter(tags::slug.eq(slug)).select(tags::id).first(conn),
        other => other,
    }
}
