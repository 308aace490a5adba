//! Every SQL statement about editors.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{EditorUpdate, Role};
use crate::db::{DbConnection, Internal, Tx, now};
use crate::schema::editors;

/// An editor as stored, whole (password hash included): what the rules
/// read, and the export's row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = editors)]
pub struct EditorRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
    pub token_version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub struct NewEditorRow<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<EditorRow>> {
    editors::table.find(id).select(EditorRow::as_select()).first(conn).optional()
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<EditorRow>> {
    editors::table.filter(editors::email.eq(email)).select(EditorRow::as_select()).first(conn).optional()
}

/// Editors in id order, after `after_id` when paging.
pub fn list(conn: &mut DbConnection, after_id: Option<i64>, limit: i64) -> QueryResult<Vec<EditorRow>> {
    let mut query = editors::table.select(EditorRow::as_select()).order(editors::id).limit(limit).into_boxed();
    if let Some(after) = after_id {
        query = query.filter(editors::id.gt(after));
    }
    query.load(conn)
}

pub fn insert(tx: &mut Tx<'_, Internal>, new: &NewEditorRow) -> QueryResult<EditorRow> {
    let conn: &mut DbConnection = tx;
    let now = now();
    let id = diesel::insert_into(editors::table)
        .values((
            editors::email.eq(new.email),
            editors::display_name.eq(new.display_name),
            editors::role.eq(new.role.as_str()),
            editors::password_hash.eq(new.password_hash),
            editors::disabled.eq(false),
            editors::token_version.eq(0),
            editors::created_at.eq(now),
            editors::updated_at.eq(now),
        ))
        .returning(editors::id)
        .get_result::<i64>(conn)?;
    find(conn, id)?.ok_or(diesel::result::Error::NotFound)
}

/// Applies `changes`; when `revoke_tokens` is set, bumps the token version so
/// every token issued before now stops working.
pub fn update(tx: &mut Tx<'_, Internal>, id: i64, change: EditorUpdate, revoke_tokens: bool) -> QueryResult<EditorRow> {
    let conn: &mut DbConnection = tx;
    let bump = if revoke_tokens { 1 } else { 0 };
    // A `None` leaves its column alone.
    let columns = (
        change.display_name.map(|name| editors::display_name.eq(name.trim().to_owned())),
        change.role.map(|role| editors::role.eq(role.as_str())),
        change.password_hash.map(|hash| editors::password_hash.eq(hash)),
        change.disabled.map(|disabled| editors::disabled.eq(disabled)),
    );
    diesel::update(editors::table.find(id))
        .set((columns, editors::token_version.eq(editors::token_version + bump), editors::updated_at.eq(now())))
        .execute(conn)?;
    editors::table.find(id).select(EditorRow::as_select()).first(conn)
}

/// Display names by editor id, for showing who did what.
pub fn display_names(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<std::collections::HashMap<i64, String>> {
    Ok(editors::table
        .filter(editors::id.eq_any(ids))
        .select((editors::id, editors::display_name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}

/// Active admins other than `except`: the last one may not be demoted or
/// disabled. Locks the admins' rows first (a no-op update), so that two
/// admins demoting each other at once cannot both succeed.
pub fn lock_admins_and_count_others(tx: &mut Tx<'_, Internal>, except: i64) -> QueryResult<i64> {
    let conn: &mut DbConnection = tx;
    let admin = Role::Admin.as_str();
    diesel::update(editors::table.filter(editors::role.eq(admin)))
        .set(editors::role.eq(editors::role))
        .execute(conn)?;
    editors::table
        .filter(editors::role.eq(admin))
        .filter(editors::disabled.eq(false))
        .filter(editors::id.ne(except))
        .count()
        .get_result(conn)
}
