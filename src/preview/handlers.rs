//! `/v1/stories/{id}/preview` (editors) and `/v1/preview/{token}` (anyone
//! holding a link).

use actix_web::http::{StatusCode, header};
use actix_web::{delete, get, post, web};

use super::dto::{PreviewLink, PreviewRequest};
use crate::auth::CurrentEditor;
use crate::error::Problem;
use crate::http::{Reply, StoryId, no_content, private_json};
use crate::json::MaybeJson;
use crate::state::State;
use crate::stories::dto::{Story, StoryNotFound};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_preview).service(revoke_previews).service(read_preview);
}

/// Create a preview link.
///
/// A link-safe token that lets anyone holding it read the story as it is
/// now, draft or not, at `GET /v1/preview/{token}`, until it expires (a day
/// by default, a week at most) or the story's previews are revoked.
#[utoipa::path(
    tag = "preview", operation_id = "createPreview", security(("bearer" = [])),
    params(StoryId),
    request_body(content = Option<PreviewRequest>, description = "Optional: omit for a link that works a day"),
    responses((status = 201, description = "The preview link's token", body = PreviewLink), StoryNotFound)
)]
#[post("/stories/{id:\\d+}/preview")]
pub async fn create_preview(
    _: CurrentEditor,
    state: State,
    StoryId(id): StoryId,
    body: MaybeJson<PreviewRequest>,
) -> Reply {
    let lifetime = body.get()?.and_then(|b| b.expires_in).unwrap_or(super::DEFAULT_LIFETIME_SECS);
    let shared = state.clone();
    let link = state.db.read(move |conn| super::create(conn, &shared.preview_key, id, lifetime)).await?;
    private_json(StatusCode::CREATED, &link)
}

/// Revoke a story's preview links.
///
/// Every preview link made for the story stops working at once.
#[utoipa::path(
    tag = "preview", operation_id = "revokePreviews", security(("bearer" = [])),
    params(StoryId), responses((status = 204, description = "Revoked"), StoryNotFound)
)]
#[delete("/stories/{id:\\d+}/preview")]
pub async fn revoke_previews(_: CurrentEditor, state: State, StoryId(id): StoryId) -> Reply {
    state.db.write(move |tx| super::revoke(tx, id)).await?;
    Ok(no_content())
}

/// Read a story through a preview link.
///
/// The story as it is now, whatever its status. Never cached by shared
/// caches, and marked `noindex` for search engines. A bad, expired or
/// revoked token, or one of a deleted story, is 404.
#[utoipa::path(
    tag = "preview", operation_id = "readPreview", security(()),
    params(("token" = String, Path, description = "The token of `createPreview`", pattern = r"^[A-Za-z0-9_.-]+$")),
    responses(
        (status = 200, description = "The story", body = Story,
            headers(("X-Robots-Tag" = String, description = "`noindex`: previews are not for search engines"))),
        (status = 404, description = "No such preview, or it expired or was revoked", body = Problem),
    )
)]
#[get("/preview/{token}")]
pub async fn read_preview(state: State, token: web::Path<String>) -> Reply {
    let token = token.into_inner();
    let shared = state.clone();
    let story = state.db.read(move |conn| super::read(conn, &shared.preview_key, &token)).await?;
    let mut response = private_json(StatusCode::OK, &story)?;
    response
        .headers_mut()
        .insert(header::HeaderName::from_static("x-robots-tag"), header::HeaderValue::from_static("noindex"));
    Ok(response)
}
