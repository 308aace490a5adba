//! Every exported table's rows, as stored: one struct per table, read and
//! written whole — the owning module's row where it has one (editors,
//! revisions, votes, webhook endpoints), else declared here. A column added
//! to `schema.rs` must be added to its struct too: the test below fails
//! until each struct selects exactly its table's columns.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ratings::RatingCounts;
use crate::schema::{
    rating_prior, rating_totals, related_links, server_keys, stories, story_ratings, story_suggestions, story_tags,
    tags, webhook_publications,
};
use crate::stories::ContentColumns;

/// An editor: the editors module's row, whole.
pub type Editor = crate::editors::EditorRow;

#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = server_keys)]
pub struct ServerKey {
    pub kid: String,
    pub purpose: String,
    pub secret: String,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i64,
    pub slug: String,
    /// Derived: not exported, recomputed once the import has loaded every row.
    #[serde(skip_serializing, default)]
    pub published_count: i64,
}

/// A story, with its ratings row's counters in the same line of the file
/// (as before they had a table of their own: the format is unchanged).
#[derive(Debug, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = stories)]
pub struct Story {
    #[diesel(embed)]
    #[serde(flatten)]
    pub story: StoryColumns,
    #[diesel(embed)]
    #[serde(flatten)]
    pub ratings: StoryRatings,
}

#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = stories)]
pub struct StoryColumns {
    pub id: i64,
    /// What an editor's content sets, as the stories module stores it.
    #[diesel(embed)]
    #[serde(flatten)]
    pub content: ContentColumns,
    pub status: String,
    pub published_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub preview_generation: i64,
}

#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = story_ratings)]
pub struct StoryRatings {
    /// The story's id, which the line carries once.
    #[serde(skip)]
    pub story_id: i64,
    #[diesel(embed)]
    #[serde(flatten)]
    pub counts: RatingCounts,
    /// Derived from the counters and the prior: not carried, recomputed by
    /// the import.
    #[serde(skip)]
    pub rating_rank: f64,
    /// Derived: not carried, recomputed once the import has loaded every row.
    #[serde(skip)]
    pub published_at: Option<NaiveDateTime>,
}

#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = story_tags)]
pub struct StoryTag {
    pub story_id: i64,
    pub tag_id: i64,
    pub position: i32,
    /// Derived: not exported, recomputed once the import has loaded every row.
    #[serde(skip_serializing, default)]
    pub published_at: Option<NaiveDateTime>,
}

/// A revision: the stories module's row, whole.
pub type Revision = crate::stories::RevisionRow;

/// A vote: the ratings module's row, whole.
pub type Rating = crate::ratings::RatingRow;

#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = rating_totals)]
pub struct RatingTotals {
    pub id: i32,
    pub vote_count: i64,
    pub vote_sum: i64,
}

/// The prior's snapshot, so that scores read as before the move.
#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = rating_prior)]
pub struct RatingPrior {
    pub id: i32,
    pub weight: f64,
    pub mean: f64,
    pub ranked: bool,
}

#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = related_links)]
pub struct RelatedLink {
    pub id: i64,
    pub story_id: i64,
    pub position: i32,
    pub target_story_id: Option<i64>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A stored suggestion. Derived, but carried: computing a big site's again
/// takes the suggesters days, and they read the same after the move.
#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = story_suggestions)]
pub struct StorySuggestion {
    pub story_id: i64,
    pub position: i32,
    pub target_id: i64,
}

/// A webhook endpoint: the webhooks module's row, whole, secret included,
/// so receivers keep verifying.
pub type WebhookEndpoint = crate::webhooks::EndpointRow;

/// A publication already announced, so the new database's dispatcher does
/// not announce a recently scheduled story a second time.
#[derive(Debug, Serialize, Deserialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_publications)]
pub struct WebhookPublication {
    pub story_id: i64,
    pub published_at: NaiveDateTime,
}

#[cfg(test)]
mod tests {
    use diesel::debug_query;
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;

    use super::*;
    use crate::schema::{editors, ratings, story_revisions, webhook_endpoints};

    /// The columns a query selects, sorted.
    fn columns(sql: String) -> Vec<String> {
        let list = sql.split_once("SELECT ").and_then(|(_, rest)| rest.split_once(" FROM")).unwrap().0;
        let mut columns: Vec<String> = list.split(", ").map(str::to_owned).collect();
        columns.sort();
        columns
    }

    /// Each struct selects every column of its table: an export that left
    /// a column behind would lose it silently.
    #[test]
    fn every_row_struct_carries_every_column() {
        macro_rules! same_columns {
            ($($table:ident => $row:ty),+ $(,)?) => {$(
                assert_eq!(
                    columns(debug_query::<Sqlite, _>(&$table::table.select($table::all_columns)).to_string()),
                    columns(debug_query::<Sqlite, _>(&$table::table.select(<$row>::as_select())).to_string()),
                    "{}", stringify!($table)
                );
            )+};
        }
        same_columns!(
            editors => Editor, server_keys => ServerKey, tags => Tag, stories => StoryColumns,
            story_ratings => StoryRatings, story_tags => StoryTag,
            story_revisions => Revision, ratings => Rating, rating_totals => RatingTotals,
            rating_prior => RatingPrior,
            related_links => RelatedLink, story_suggestions => StorySuggestion, webhook_endpoints => WebhookEndpoint,
            webhook_publications => WebhookPublication,
        );
    }
}
