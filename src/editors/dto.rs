//! Wire types of the editor endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::Role;
use super::queries::EditorRow;
use crate::pagination::Page;

/// A person who writes through the API.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Editor {
    pub id: i64,
    /// Stored lower-cased; unique regardless of case.
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// A disabled editor cannot log in, and its tokens stopped working when it was disabled.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<EditorRow> for Editor {
    fn from(row: EditorRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            role: row.role,
            disabled: row.disabled,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// A page of editors.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EditorList {
    pub data: Vec<Editor>,
    pub page: Page,
}

/// A new editor account.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "grace@example.com", "display_name": "Grace", "role": "editor", "password": "a long passphrase"}))]
pub struct NewEditor {
    #[validate(email, length(max = 320))]
    #[schema(max_length = 320, format = Email)]
    pub email: String,
    #[validate(length(min = 1, max = 200), custom(function = "crate::validation::plain_text"))]
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub display_name: String,
    /// Defaults to `editor`.
    #[serde(default = "default_role")]
    pub role: Role,
    /// 10 to 1024 characters.
    #[validate(length(min = 10, max = 1024))]
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
}

fn default_role() -> Role {
    Role::Editor
}

/// Changes to an editor (JSON Merge Patch): absent fields stay as they are.
/// Changing `role` or setting `disabled` revokes the editor's tokens at once.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true}))]
pub struct EditorPatch {
    #[validate(length(min = 1, max = 200), custom(function = "crate::validation::plain_text"))]
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// A new password, 10 to 1024 characters.
    #[validate(length(min = 10, max = 1024))]
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
}
