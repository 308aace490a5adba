//! `/v1/editors`: admins manage editor accounts.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};

use super::dto::{Editor, EditorList, EditorPatch, NewEditor};
use super::queries::{self, EditorChanges};
use super::{Role, create};
use crate::auth::{CurrentAdmin, password};
use crate::error::{ApiError, Problem};
use crate::http::{private_json, with_next_link};
use crate::json::ApiJson;
use crate::pagination::{PageParams, paginate};
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
    let limit = params.limit()?;
    let after: Option<i64> = params.cursor()?;
    let rows = state.db.run(move |conn| Ok(queries::list(conn, after, limit + 1)?)).await?;
    let (rows, page) = paginate(rows, limit, |row| row.id);
    let body = EditorList { data: rows.into_iter().map(Editor::from).collect(), page };
    Ok(with_next_link(private_json(StatusCode::OK, &body)?, &req, &body.page))
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
        (status = 409, description = "The email is taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/editors")]
pub async fn create_editor(
    _admin: CurrentAdmin,
    state: web::Data<AppState>,
    ApiJson(new): ApiJson<NewEditor>,
) -> Result<HttpResponse, ApiError> {
    let password = new.password.clone();
    let password_hash = web::block(move || password::hash(&password)).await.map_err(ApiError::internal)??;
    let row = state.db.write(move |conn| create(conn, &new.email, &new.display_name, new.role, &password_hash)).await?;
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
        (status = 404, description = "No such editor", body = Problem, content_type = "application/problem+json"),
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
    let row = state.db.run(move |conn| queries::find(conn, id)?.ok_or(ApiError::NotFound)).await?;
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
        (status = 404, description = "No such editor", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It would leave no active admin", body = Problem, content_type = "application/problem+json"),
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
        Some(plain) => Some(web::block(move || password::hash(&plain)).await.map_err(ApiError::internal)??),
        None => None,
    };
    let row = state
        .db
        .write(move |conn| {
            let current = queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
            let role_changes = patch.role.is_some_and(|r| r.as_str() != current.role);
            let disabling = patch.disabled == Some(true) && !current.disabled;
            let loses_admin = current.role == Role::Admin.as_str() && !current.disabled && (role_changes || disabling);
            if loses_admin && queries::lock_admins_and_count_others(conn, id)? == 0 {
                return Err(ApiError::Conflict(
                    "this is the last active admin: it cannot be demoted or disabled".into(),
                ));
            }
            let changes = EditorChanges {
                display_name: patch.display_name.map(|n| n.trim().to_owned()),
                role: patch.role.map(|r| r.as_str().to_owned()),
                password_hash,
                disabled: patch.disabled,
            };
            // A new password also ends old sessions, as users expect.
            let revoke = role_changes || disabling || changes.password_hash.is_some();
            Ok(queries::update(conn, id, &changes, revoke)?)
        })
        .await?;
    private_json(StatusCode::OK, &Editor::from(row))
}
