//! Every SQL statement about related links and suggestions.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{Content, DbConnection, Tx, now};
use crate::schema::{related_links, stories, story_tags, tags};
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

/// Which of `ids` are stories.
pub fn existing_stories(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<i64>> {
    stories::table.filter(stories::id.eq_any(ids)).select(stories::id).load(conn)
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

/// Deletes one link and closes the gap it leaves in the positions.
pub fn delete(tx: &mut Tx<'_, Content>, story_id: i64, link_id: i64) -> QueryResult<bool> {
    let conn: &mut DbConnection = tx;
    let position: Option<i32> = diesel::delete(
        related_links::table.filter(related_links::id.eq(link_id)).filter(related_links::story_id.eq(story_id)),
    )
    .returning(related_links::position)
    .get_result(conn)
    .optional()?;
    let Some(position) = position else { return Ok(false) };
    diesel::update(
        related_links::table.filter(related_links::story_id.eq(story_id)).filter(related_links::position.gt(position)),
    )
    .set(related_links::position.eq(related_links::position - 1))
    .execute(conn)?;
    Ok(true)
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
