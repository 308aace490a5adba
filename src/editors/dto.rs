//! Wire types of the editor endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::Role;
use super::queries::EditorRow;
use crate::fields::{self, Email, Name, Password};
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
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(inline)]
    pub email: Email,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(inline)]
    pub display_name: Name,
    /// Defaults to `editor`.
    #[serde(default = "default_role")]
    pub role: Role,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = new_editor_password)]
    pub password: Password,
}

fn new_editor_password() -> utoipa::openapi::ObjectBuilder {
    fields::schema::<Password>().description(Some("10 to 1024 characters."))
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
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<Name>)]
    pub display_name: Option<Name>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = editor_patch_password)]
    pub password: Option<Password>,
}

fn editor_patch_password() -> utoipa::openapi::ObjectBuilder {
    fields::nullable::<Password>().description(Some("A new password, 10 to 1024 characters."))
}

crate::schemas::problems! {
    /// 404 for an editor that does not exist.
    EditorNotFound { "404" => "No such editor" }
}
