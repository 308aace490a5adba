//! Every SQL statement about previews: a story's preview generation.

use diesel::prelude::*;

use crate::db::{DbConnection, Internal, Tx};
use crate::schema::stories;

/// The story's preview generation; `None` when there is no such story.
pub fn generation(conn: &mut DbConnection, story_id: i64) -> QueryResult<Option<i64>> {
    stories::table.find(story_id).select(stories::preview_generation).first(conn).optional()
}

/// Moves the story's preview generation on; `false` when there is no such
/// story. Readers see no change, so this is an internal write: it leaves the
/// response cache alone.
pub fn next_generation(tx: &mut Tx<'_, Internal>, story_id: i64) -> QueryResult<bool> {
    let changed = diesel::update(stories::table.find(story_id))
        .set(stories::preview_generation.eq(stories::preview_generation + 1))
        .execute(&mut **tx)?;
    Ok(changed > 0)
}
