//! Editors: the people who write through the API, and their roles.
//!
//! Routes: `handlers.rs` (admin only). SQL: `queries.rs`. Wire types: `dto.rs`.
//! The rules — emails compared folded, the last active admin kept, tokens
//! revoked when access changes — are below, and both the API and the CLI
//! (`anthology editors …`) go through them.

pub(crate) mod dto;
pub(crate) mod handlers;
mod queries;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::password;
use crate::db::{Db, DbConnection, Internal, Tx, is_unique_violation, stored_as_text};
use crate::error::ApiError;
use crate::pagination::PageRequest;
use dto::{Editor, EditorList, EditorPatch, NewEditor};
use queries::NewEditorRow;

pub use queries::EditorRow;
pub(crate) use queries::{find, find_by_email};

/// What an editor may do. `admin`: everything, including managing editors;
/// `editor`: stories, related links and rating moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Editor,
}

stored_as_text!(Role { Admin => "admin", Editor => "editor" });

/// Emails compare case-insensitively: they are stored folded.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates an editor with an already hashed password
/// ([`crate::auth::password::hash`]). A taken email is 409.
pub fn create(
    tx: &mut Tx<'_, Internal>,
    email: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
) -> Result<EditorRow, ApiError> {
    let email = normalize_email(email);
    let row = NewEditorRow { email: &email, display_name: display_name.trim(), role, password_hash };
    queries::insert(tx, &row).map_err(|err| match err {
        err if is_unique_violation(&err) => ApiError::Conflict(format!("an editor with email {email} already exists")),
        other => other.into(),
    })
}

/// Creates an editor as an admin asked ([`create`]), the password hashed
/// off the async workers.
pub async fn register(db: &Db, new: NewEditor) -> Result<EditorRow, ApiError> {
    let password_hash = password::hash_off_thread(new.password.to_string()).await?;
    db.write(move |tx| create(tx, &new.email, &new.display_name, new.role, &password_hash)).await
}

/// Applies an admin's patch to editor `id` ([`update`]), a new password
/// hashed off the async workers.
pub async fn change(db: &Db, id: i64, patch: EditorPatch) -> Result<EditorRow, ApiError> {
    let password_hash = match patch.password {
        Some(plain) => Some(password::hash_off_thread(plain.into()).await?),
        None => None,
    };
    let change = EditorUpdate {
        display_name: patch.display_name.map(Into::into),
        role: patch.role,
        disabled: patch.disabled,
        password_hash,
    };
    db.write(move |tx| update(tx, id, change)).await
}

/// A change to an editor; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct EditorUpdate {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// Already hashed ([`crate::auth::password::hash`]).
    pub password_hash: Option<String>,
}

/// Changes editor `id`. The last active admin cannot be demoted or disabled
/// (409). Changing the role, disabling, or a new password revokes the
/// editor's tokens at once.
fn update(tx: &mut Tx<'_, Internal>, id: i64, update: EditorUpdate) -> Result<EditorRow, ApiError> {
    let current = queries::find(tx, id)?.ok_or(ApiError::NotFound)?;
    let role_changes = update.role.is_some_and(|role| role != current.role);
    let disabling = update.disabled == Some(true) && !current.disabled;
    let loses_admin = current.role == Role::Admin && !current.disabled && (role_changes || disabling);
    if loses_admin && queries::lock_admins_and_count_others(tx, id)? == 0 {
        return Err(ApiError::Conflict("this is the last active admin: it cannot be demoted or disabled".into()));
    }
    // A new password also ends old sessions, as users expect.
    let revoke = role_changes || disabling || update.password_hash.is_some();
    Ok(queries::update(tx, id, update, revoke)?)
}

/// [`update`] of the editor with `email`, for the command line.
pub fn update_by_email(tx: &mut Tx<'_, Internal>, email: &str, change: EditorUpdate) -> Result<EditorRow, ApiError> {
    let editor = queries::find_by_email(tx, &normalize_email(email))?.ok_or(ApiError::NotFound)?;
    update(tx, editor.id, change)
}

/// Editors in id order, a page at a time.
pub fn list_page(conn: &mut DbConnection, page: PageRequest<i64>) -> Result<EditorList, ApiError> {
    let rows = queries::list(conn, page.after, page.fetch_limit())?;
    let (rows, page) = page.page_of(rows, |row| row.id);
    Ok(EditorList { data: rows.into_iter().map(Editor::from).collect(), page })
}

/// Display names by editor id, for showing who did what.
pub fn display_names(conn: &mut DbConnection, ids: &[i64]) -> diesel::QueryResult<HashMap<i64, String>> {
    queries::display_names(conn, ids)
}
