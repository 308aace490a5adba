//! `/v1/editors`: admins manage editor accounts.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post};

use super::dto::{Editor, EditorList, EditorNotFound, EditorPatch, NewEditor};
use crate::auth::CurrentAdmin;
use crate::error::{ApiError, Problem};
use crate::http::{EditorId, Reply, created, editors_page, private_json};
use crate::json::ApiJson;
use crate::pagination::PageParams;
use crate::state::State;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_editors).service(create_editor).service(get_editor).service(update_editor);
}

editors_page! {
    /// List editors.
    ///
    /// Every editor account, oldest first, in pages. Admins only.
    list_editors, "/editors", tag = "editors", operation_id = "listEditors", CurrentAdmin,
    EditorList, "A page of editors", super::list_page
}

/// Create an editor.
///
/// A new account with a role (`editor` unless said) and a password of 10 to
/// 1024 characters, stored as an Argon2id hash. A taken email is 409.
/// Admins only.
#[utoipa::path(
    tag = "editors", operation_id = "createEditor", security(("bearer" = [])),
    request_body = NewEditor,
    responses(
        (status = 201, description = "Created", body = Editor,
            headers(("Location" = String, description = "The new editor's URL"))),
        (status = 409, description = "The email is taken", body = Problem),
    )
)]
#[post("/editors")]
pub async fn create_editor(_: CurrentAdmin, state: State, new: ApiJson<NewEditor>) -> Reply {
    let row = super::register(&state.db, new.get()?).await?;
    created(&Editor::from(row.clone()), &format!("/v1/editors/{}", row.id))
}

/// Read an editor.
///
/// One editor account. Admins only.
#[utoipa::path(
    tag = "editors", operation_id = "getEditor", security(("bearer" = [])),
    params(EditorId),
    responses((status = 200, description = "The editor", body = Editor), EditorNotFound)
)]
#[get("/editors/{id:\\d+}")]
pub async fn get_editor(_: CurrentAdmin, state: State, EditorId(id): EditorId) -> Reply {
    let row = state.db.read(move |conn| super::find(conn, id)?.ok_or(ApiError::NotFound)).await?;
    private_json(StatusCode::OK, &Editor::from(row))
}

/// Change an editor's name, role, password, or disable it.
///
/// Changing the role or disabling revokes the editor's tokens at once. The
/// last active admin cannot be demoted or disabled (409).
#[utoipa::path(
    tag = "editors", operation_id = "updateEditor", security(("bearer" = [])),
    params(EditorId),
    request_body(content = EditorPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated editor", body = Editor),
        EditorNotFound,
        (status = 409, description = "It would leave no active admin", body = Problem),
    )
)]
#[patch("/editors/{id:\\d+}")]
pub async fn update_editor(
    _: CurrentAdmin,
    state: State,
    EditorId(id): EditorId,
    patch: ApiJson<EditorPatch>,
) -> Reply {
    let row = super::change(&state.db, id, patch.get()?).await?;
    private_json(StatusCode::OK, &Editor::from(row))
}
