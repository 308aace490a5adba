//! `/v1/stories/{id}/related`: the "read next" list.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};

use super::dto::{RelatedLink, RelatedLinkInput, RelatedLinkList, RelatedList, SuggestParams};
use crate::auth::{CurrentEditor, MaybeEditor};
use crate::error::{ApiError, Problem};
use crate::http::{Audience, IfNoneMatch, json_for, no_content, private_json};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_related).service(replace_related).service(add_related).service(delete_related);
}

/// A story's "read next" list, in the editor's order.
///
/// Public for published stories. Links to stories that are not public are
/// left out for readers and shown to editors with the target's status.
/// `?suggest=N` appends up to N published stories most like this one
/// (shared rare tags, shared words), never the story itself nor one
/// already linked.
#[utoipa::path(
    tag = "related",
    operation_id = "listRelatedLinks",
    params(("id" = i64, Path, description = "The story's id"), SuggestParams, IfNoneMatch),
    responses(
        (status = 200, description = "The list", body = RelatedList, headers(
            ("ETag" = String, description = "Strong validator (public reads)"))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 404, description = "No such story, or not public", body = Problem),
    ),
    security((), ("bearer" = []))
)]
#[get("/stories/{id:\\d+}/related")]
pub async fn list_related(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    params: web::Query<SuggestParams>,
    _: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    let suggest = params.suggest.unwrap_or(0);
    if suggest > 10 {
        return Err(ApiError::BadRequest(format!("suggest must be from 0 to 10, got {suggest}")));
    }
    let (id, audience) = (id.into_inner(), Audience::of(&editor));
    let data = state.db.read(move |conn| super::list_for(conn, id, audience, suggest)).await?;
    json_for(&req, audience, &RelatedList { data })
}

/// Replace the whole list at once.
///
/// Items are `{story_id}` or `{url, title}`, in the order to show. A list
/// that breaks any rule changes nothing: 422 names each offending item.
#[utoipa::path(
    tag = "related",
    operation_id = "replaceRelatedLinks",
    params(("id" = i64, Path, description = "The story's id")),
    request_body = RelatedLinkList,
    responses(
        (status = 200, description = "The new list, as editors see it", body = RelatedList),
        (status = 404, description = "No such story", body = Problem),
    ),
    security(("bearer" = []))
)]
#[put("/stories/{id:\\d+}/related")]
pub async fn replace_related(
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    ApiJson(RelatedLinkList(items)): ApiJson<RelatedLinkList>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let data = state.db.write(move |tx| super::replace(tx, id, &items)).await?;
    private_json(StatusCode::OK, &RelatedList { data })
}

/// Add a related link.
///
/// Appends one link at the end of the list; the rules of replacing the list
/// apply to it.
#[utoipa::path(
    tag = "related",
    operation_id = "addRelatedLink",
    params(("id" = i64, Path, description = "The story's id")),
    request_body = RelatedLinkInput,
    responses(
        (status = 201, description = "The new link", body = RelatedLink,
            headers(("Location" = String, description = "The story's list of related links, where the link now is"))),
        (status = 404, description = "No such story", body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/related")]
pub async fn add_related(
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    ApiJson(item): ApiJson<RelatedLinkInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let link = state.db.write(move |tx| super::add(tx, id, item)).await?;
    let mut response = private_json(StatusCode::CREATED, &link)?;
    let location = header::HeaderValue::from_str(&format!("/v1/stories/{id}/related")).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Remove a related link.
///
/// The links after it move up one place.
#[utoipa::path(
    tag = "related",
    operation_id = "deleteRelatedLink",
    params(("id" = i64, Path, description = "The story's id"), ("link_id" = i64, Path, description = "The link's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such story or link", body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/stories/{id:\\d+}/related/{link_id:\\d+}")]
pub async fn delete_related(
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, link_id) = path.into_inner();
    state.db.write(move |tx| super::remove(tx, id, link_id)).await?;
    Ok(no_content())
}
