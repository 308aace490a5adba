//! `/v1/editors`: admins manage editor accounts.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};

use super::EditorUpdate;
use super::dto::{Editor, EditorList, EditorPatch, NewEditor};
use crate::auth::{CurrentAdmin, password};
use crate::error::{ApiError, Problem};
use crate::http::{Audience, page_json, private_json};
use crate::json::ApiJson;
use crate::pagination::PageParams;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_editors).service(create_editor).service(get_editor).service(update_editor);
}

/// List editors.
///
/// Every editor account, oldest first, in pages. Admins only.
#[utoipa::path(
    tag = "editors",
    operation_id = "listEditors",
    params(PageParams),
    responses((status = 200, description = "A page of editors", body = EditorList,
        headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows")))),
    security(("bearer" = []))
)]
#[get("/editors")]
pub async fn list_editors(
    req: HttpRequest,
    _admin: CurrentAdmin,
    state: web::Data<AppState>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = params.request()?;
    let body: EditorList = state.db.read(move |conn| super::list_page(conn, page)).await?;
    page_json(&req, Audience::Editors, &body, &body.page)
}

/// Create an editor.
///
/// A new account with a role (`editor` unless said) and a password of 10 to
/// 1024 characters, stored as an Argon2id hash. A taken email is 409.
/// Admins only.
#[utoipa::path(
    tag = "editors",
    operation_id = "createEditor",
    request_body = NewEditor,
    responses(
        (status = 201, description = "Created", body = Editor,
            headers(("Location" = String, description = "The new editor's URL"))),
        (status = 409, description = "The email is taken", body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/editors")]
pub async fn create_editor(
    _admin: CurrentAdmin,
    state: web::Data<AppState>,
    ApiJson(new): ApiJson<NewEditor>,
) -> Result<HttpResponse, ApiError> {
    let password_hash = password::hash_off_thread(new.password.clone()).await?;
    let row =
        state.db.write(move |tx| super::create(tx, &new.email, &new.display_name, new.role, &password_hash)).await?;
    let mut response = private_json(StatusCode::CREATED, &Editor::from(row.clone()))?;
    let location = header::HeaderValue::from_str(&format!("/v1/editors/{}", row.id)).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Read an editor.
///
/// One editor account. Admins only.
#[utoipa::path(
    tag = "editors",
    operation_id = "getEditor",
    params(("id" = i64, Path, description = "The editor's id")),
    responses(
        (status = 200, description = "The editor", body = Editor),
        (status = 404, description = "No such editor", body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/editors/{id:\\d+}")]
pub async fn get_editor(
    _admin: CurrentAdmin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state.db.read(move |conn| super::find(conn, id)?.ok_or(ApiError::NotFound)).await?;
    private_json(StatusCode::OK, &Editor::from(row))
}

/// Change an editor's name, role, password, or disable it.
///
/// Changing the role or disabling revokes the editor's tokens at once. The
/// last active admin cannot be demoted or disabled (409).
#[utoipa::path(
    tag = "editors",
    operation_id = "updateEditor",
    params(("id" = i64, Path, description = "The editor's id")),
    request_body(content = EditorPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated editor", body = Editor),
        (status = 404, description = "No such editor", body = Problem),
        (status = 409, description = "It would leave no active admin", body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/editors/{id:\\d+}")]
pub async fn update_editor(
    _admin: CurrentAdmin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<EditorPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let password_hash = match patch.password {
        Some(plain) => Some(password::hash_off_thread(plain).await?),
        None => None,
    };
    let update =
        EditorUpdate { display_name: patch.display_name, role: patch.role, disabled: patch.disabled, password_hash };
    let row = state.db.write(move |tx| super::update(tx, id, update)).await?;
    private_json(StatusCode::OK, &Editor::from(row))
}
