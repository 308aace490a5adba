//! Editors: the people who write through the API, and their roles.
//!
//! Routes: `handlers.rs` (admin only). SQL: `queries.rs`. Wire types: `dto.rs`.
//! The CLI (`anthology editors …`) uses [`create`] and the queries directly.

pub mod dto;
pub mod handlers;
pub mod queries;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::ApiError;
use queries::{EditorRow, NewEditorRow};

/// What an editor may do. `admin`: everything, including managing editors;
/// `editor`: stories, related links and rating moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Editor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
        }
    }

    pub fn from_db(value: &str) -> Role {
        if value == "admin" { Role::Admin } else { Role::Editor }
    }
}

/// Emails compare case-insensitively: they are stored folded.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates an editor with an already hashed password
/// ([`crate::auth::password::hash`]).
/// A taken email is 409.
pub fn create(
    conn: &mut DbConnection,
    email: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
) -> Result<EditorRow, ApiError> {
    let email = normalize_email(email);
    let row = NewEditorRow { email: &email, display_name: display_name.trim(), role: role.as_str(), password_hash };
    queries::insert(conn, &row).map_err(|err| match err {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            ApiError::Conflict(format!("an editor with email {email} already exists"))
        }
        other => other.into(),
    })
}
