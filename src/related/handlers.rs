//! `/v1/stories/{id}/related`: the "read next" list.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, delete, get, post, put, web};

use super::dto::{RelatedLink, RelatedLinkInput, RelatedLinkList, RelatedList, SuggestParams};
use crate::auth::{CurrentEditor, MaybeEditor};
use crate::error::Problem;
use crate::http::{Audience, IfNoneMatch, Reply, StoryId, created, json_for, no_content, private_json};
use crate::json::ApiJson;
use crate::state::State;
use crate::stories::dto::{PublicReadFailures, StoryNotFound};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_related).service(replace_related).service(add_related).service(delete_related);
}

/// A story's "read next" list, in the editor's order.
///
/// Public for published stories. Links to stories that are not public are
/// left out for readers and shown to editors with the target's status.
/// `?suggest=N` appends up to N published stories most like this one
/// (shared rare tags, shared words), never the story itself nor one
/// already linked, nor one that is not public now. They are computed in
/// the background, not when read: within moments of the story being
/// published or its title, excerpt or tags changing (until then, the
/// earlier ones or none), and again when a similar story is published, or
/// after 30 days.
#[utoipa::path(
    tag = "related", operation_id = "listRelatedLinks", security((), ("bearer" = [])),
    params(StoryId, SuggestParams, IfNoneMatch),
    responses(
        (status = 200, description = "The list", body = RelatedList),
        PublicReadFailures,
    )
)]
#[get("/stories/{id:\\d+}/related")]
pub async fn list_related(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: State,
    StoryId(id): StoryId,
    params: web::Query<SuggestParams>,
    _: IfNoneMatch,
) -> Reply {
    let (suggest, audience) = (params.count()?, Audience::of(&editor));
    let data = state.db.read(move |conn| super::list_for(conn, id, audience, suggest)).await?;
    json_for(&req, audience, &RelatedList { data })
}

/// Replace the whole list at once.
///
/// Items are `{story_id}` or `{url, title}`, in the order to show. A list
/// that breaks any rule changes nothing: 422 names each offending item.
#[utoipa::path(
    tag = "related", operation_id = "replaceRelatedLinks", security(("bearer" = [])),
    params(StoryId), request_body = RelatedLinkList,
    responses((status = 200, description = "The new list, as editors see it", body = RelatedList), StoryNotFound)
)]
#[put("/stories/{id:\\d+}/related")]
pub async fn replace_related(_: CurrentEditor, state: State, id: StoryId, items: ApiJson<RelatedLinkList>) -> Reply {
    let (id, RelatedLinkList(items)) = (id.0, items.get()?);
    let data = state.db.write(move |tx| super::replace(tx, id, &items)).await?;
    private_json(StatusCode::OK, &RelatedList { data })
}

/// Add a related link.
///
/// Appends one link at the end of the list; the rules of replacing the list
/// apply to it.
#[utoipa::path(
    tag = "related", operation_id = "addRelatedLink", security(("bearer" = [])),
    params(StoryId), request_body = RelatedLinkInput,
    responses(
        (status = 201, description = "The new link", body = RelatedLink,
            headers(("Location" = String, description = "The story's list of related links, where the link now is"))),
        StoryNotFound,
    )
)]
#[post("/stories/{id:\\d+}/related")]
pub async fn add_related(_: CurrentEditor, state: State, id: StoryId, item: ApiJson<RelatedLinkInput>) -> Reply {
    let (id, item) = (id.0, item.get()?);
    let link = state.db.write(move |tx| super::add(tx, id, item)).await?;
    created(&link, &format!("/v1/stories/{id}/related"))
}

/// Remove a related link.
///
/// The links after it move up one place.
#[utoipa::path(
    tag = "related", operation_id = "deleteRelatedLink", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The story's id"), ("link_id" = i64, Path, description = "The link's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such story or link", body = Problem),
    )
)]
#[delete("/stories/{id:\\d+}/related/{link_id:\\d+}")]
pub async fn delete_related(_: CurrentEditor, state: State, path: web::Path<(i64, i64)>) -> Reply {
    let (id, link_id) = path.into_inner();
    state.db.write(move |tx| super::remove(tx, id, link_id)).await?;
    Ok(no_content())
}
