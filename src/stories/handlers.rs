//! `/v1/stories` and `/v1/tags`.

use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue, HttpDate};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};

use super::dto::{
    ListParams, PublishRequest, Revision, RevisionList, Story, StoryChangeFailures, StoryInput, StoryList, StoryPatch,
    StoryRead, TagList,
};
use super::{StoryKey, Transition};
use crate::auth::{CurrentEditor, MaybeEditor};
use crate::db::now;
use crate::error::{ApiError, Problem};
use crate::http::{Audience, IfMatch, IfNoneMatch, json_for, no_content, page_json, private_json, version_etag};
use crate::json::{ApiJson, MaybeJson};
use crate::pagination::PageParams;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_stories)
        .service(create_story)
        .service(get_story)
        .service(get_story_by_slug)
        .service(update_story)
        .service(delete_story)
        .service(publish_story)
        .service(unpublish_story)
        .service(archive_story)
        .service(list_revisions)
        .service(get_revision)
        .service(restore_revision)
        .service(list_tags);
}

/// A story's version as its `ETag`, for `If-Match`.
fn with_version_etag(mut response: HttpResponse, story: &Story) -> Result<HttpResponse, ApiError> {
    let etag = HeaderValue::from_str(&version_etag(story.version)).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// Reads one story: public and cacheable for readers (with `Last-Modified`);
/// private, with the version ETag for `If-Match`, for editors.
async fn read_story(
    req: &HttpRequest,
    editor: &Option<crate::editors::EditorRow>,
    state: &AppState,
    key: StoryKey,
) -> Result<HttpResponse, ApiError> {
    let audience = Audience::of(editor);
    let story = state.db.read(move |conn| super::read(conn, &key, audience)).await?;
    let mut response = json_for(req, audience, &story)?;
    if audience == Audience::Editors {
        return with_version_etag(response, &story);
    }
    let modified = story.published_at.map_or(story.updated_at, |p| p.max(story.updated_at));
    let date = HttpDate::from(SystemTime::from(modified)).to_string();
    response.headers_mut().insert(header::LAST_MODIFIED, HeaderValue::from_str(&date).map_err(ApiError::internal)?);
    Ok(response)
}

/// A story after an editor's write: private, with its new version ETag.
fn written(story: &Story, status: StatusCode) -> Result<HttpResponse, ApiError> {
    with_version_etag(private_json(status, story)?, story)
}

/// List stories.
///
/// Readers see published stories whose publication time has passed, newest
/// first. With an editor token the list shows every status and accepts `status`.
#[utoipa::path(
    tag = "stories",
    operation_id = "listStories",
    params(PageParams, ListParams, IfNoneMatch),
    responses((status = 200, description = "A page of stories", body = StoryList, headers(
        ("ETag" = String, description = "Strong validator (public reads)"),
        ("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 304, description = "Not modified since the ETag in If-None-Match")),
    security((), ("bearer" = []))
)]
#[get("/stories")]
pub async fn list_stories(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: web::Data<AppState>,
    page: web::Query<PageParams>,
    params: web::Query<ListParams>,
    _: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    let page = page.request()?;
    let audience = Audience::of(&editor);
    let shared = state.clone();
    let params = params.into_inner();
    let body: StoryList =
        state.db.read(move |conn| super::list_page(conn, params, page, audience, &shared.rating_prior)).await?;
    page_json(&req, audience, &body, &body.page)
}

/// Create a story.
///
/// New stories are drafts. `slug` is derived from the title when not given
/// (made unique with a numeric suffix); an explicit slug that is taken is
/// 409. `excerpt` is derived from the body when not given.
#[utoipa::path(
    tag = "stories",
    operation_id = "createStory",
    request_body = StoryInput,
    responses(
        (status = 201, description = "Created", body = Story, headers(
            ("Location" = String, description = "The new story's URL"),
            ("ETag" = String, description = "The story's version, for If-Match"))),
        (status = 409, description = "The explicit slug is taken", body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/stories")]
pub async fn create_story(
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    ApiJson(input): ApiJson<StoryInput>,
) -> Result<HttpResponse, ApiError> {
    let story = state.db.write(move |tx| super::create(tx, input, &editor)).await?;
    let mut response = written(&story, StatusCode::CREATED)?;
    let location = HeaderValue::from_str(&format!("/v1/stories/{}", story.id)).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Read a story by id.
///
/// Public for published stories; a draft, scheduled or archived story is 404
/// without an editor token.
#[utoipa::path(
    tag = "stories",
    operation_id = "getStory",
    params(("id" = i64, Path, description = "The story's id"), IfNoneMatch),
    responses(StoryRead),
    security((), ("bearer" = []))
)]
#[get("/stories/{id:\\d+}")]
pub async fn get_story(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    read_story(&req, &editor, &state, StoryKey::Id(id.into_inner())).await
}

/// Read a story by slug.
///
/// Public for published stories; a draft, scheduled or archived story is 404
/// without an editor token.
#[utoipa::path(
    tag = "stories",
    operation_id = "getStoryBySlug",
    params(("slug" = String, Path, description = "The story's slug"), IfNoneMatch),
    responses(StoryRead),
    security((), ("bearer" = []))
)]
#[get("/stories/slug/{slug}")]
pub async fn get_story_by_slug(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    _: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    read_story(&req, &editor, &state, StoryKey::Slug(slug.into_inner())).await
}

/// Change a story (JSON Merge Patch, RFC 7396).
///
/// Needs `If-Match` with the story's ETag: 428 without it, 412 when the story
/// has changed since. Fields set to null return to their default (`slug`
/// and `excerpt` are derived again). Every change bumps `version` and keeps
/// a revision. Use the publish/unpublish/archive operations for `status`.
#[utoipa::path(
    tag = "stories",
    operation_id = "updateStory",
    params(("id" = i64, Path, description = "The story's id"), IfMatch<true>),
    request_body(content = StoryPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated story", body = Story,
            headers(("ETag" = String, description = "The new version, for the next If-Match"))),
        (status = 404, description = "No such story", body = Problem),
        (status = 409, description = "The slug is taken", body = Problem),
        (status = 412, description = "The story changed since that ETag", body = Problem),
        (status = 428, description = "If-Match is missing", body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/stories/{id:\\d+}")]
pub async fn update_story(
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    IfMatch(expected): IfMatch<true>,
    ApiJson(StoryPatch(patch)): ApiJson<StoryPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let story = state.db.write(move |tx| super::edit(tx, id, expected, &patch, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// Delete a story.
///
/// Its revisions, ratings and links go with it, and links to it from other
/// stories disappear. `If-Match` is honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "deleteStory",
    params(("id" = i64, Path, description = "The story's id"), IfMatch<false>),
    responses(
        (status = 204, description = "Deleted"),
        StoryChangeFailures,
    ),
    security(("bearer" = []))
)]
#[delete("/stories/{id:\\d+}")]
pub async fn delete_story(
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    IfMatch(expected): IfMatch<false>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.db.write(move |tx| super::delete(tx, id, expected)).await?;
    Ok(no_content())
}

async fn change_lifecycle(
    editor: crate::editors::EditorRow,
    state: &AppState,
    id: i64,
    expected: Option<i64>,
    transition: Transition,
) -> Result<HttpResponse, ApiError> {
    let story = state.db.write(move |tx| super::transition(tx, id, expected, transition, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// Publish or schedule a story.
///
/// With a future `at` the story is `scheduled` and becomes public by itself
/// when that time passes. `If-Match` is honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "publishStory",
    params(("id" = i64, Path, description = "The story's id"), IfMatch<false>),
    request_body(content = Option<PublishRequest>, description = "Optional: omit to publish now"),
    responses((status = 200, description = "The story, published or scheduled", body = Story, headers(("ETag" = String, description = "The new version, for the next If-Match"))), StoryChangeFailures),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/publish")]
pub async fn publish_story(
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    IfMatch(expected): IfMatch<false>,
    MaybeJson(body): MaybeJson<PublishRequest>,
) -> Result<HttpResponse, ApiError> {
    let at = body.and_then(|b| b.at).map_or_else(now, |at| crate::db::truncate(at.naive_utc()));
    change_lifecycle(editor, &state, id.into_inner(), expected, Transition::Publish { at }).await
}

/// Unpublish a story.
///
/// Back to draft: no longer public, publication time cleared. `If-Match` is
/// honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "unpublishStory",
    params(("id" = i64, Path, description = "The story's id"), IfMatch<false>),
    responses((status = 200, description = "The story, now a draft", body = Story, headers(("ETag" = String, description = "The new version, for the next If-Match"))), StoryChangeFailures),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/unpublish")]
pub async fn unpublish_story(
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    IfMatch(expected): IfMatch<false>,
) -> Result<HttpResponse, ApiError> {
    change_lifecycle(editor, &state, id.into_inner(), expected, Transition::Unpublish).await
}

/// Archive a story.
///
/// Off the public site, kept with its publication time. `If-Match` is
/// honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "archiveStory",
    params(("id" = i64, Path, description = "The story's id"), IfMatch<false>),
    responses((status = 200, description = "The story, now archived", body = Story, headers(("ETag" = String, description = "The new version, for the next If-Match"))), StoryChangeFailures),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/archive")]
pub async fn archive_story(
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    IfMatch(expected): IfMatch<false>,
) -> Result<HttpResponse, ApiError> {
    change_lifecycle(editor, &state, id.into_inner(), expected, Transition::Archive).await
}

/// List a story's revisions.
///
/// Newest first: every change to a story keeps one.
#[utoipa::path(
    tag = "stories",
    operation_id = "listStoryRevisions",
    params(("id" = i64, Path, description = "The story's id"), PageParams),
    responses(
        (status = 200, description = "A page of revisions", body = RevisionList,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 404, description = "No such story", body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/stories/{id:\\d+}/revisions")]
pub async fn list_revisions(
    req: HttpRequest,
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let (id, page) = (id.into_inner(), page.request()?);
    let body = state.db.read(move |conn| super::revisions_page(conn, id, page)).await?;
    page_json(&req, Audience::Editors, &body, &body.page)
}

/// Read a revision.
///
/// The story's content and status as they were at that version.
#[utoipa::path(
    tag = "stories",
    operation_id = "getStoryRevision",
    params(("id" = i64, Path, description = "The story's id"), ("version" = i64, Path, description = "The version")),
    responses(
        (status = 200, description = "The revision", body = Revision),
        (status = 404, description = "No such story or version", body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/stories/{id:\\d+}/revisions/{version:\\d+}")]
pub async fn get_revision(
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    private_json(StatusCode::OK, &state.db.read(move |conn| super::revision(conn, id, version)).await?)
}

/// Restore a revision's content as a new version.
///
/// The story's status is left as it is. `If-Match` is honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "restoreStoryRevision",
    params(("id" = i64, Path, description = "The story's id"), ("version" = i64, Path, description = "The version to restore"), IfMatch<false>),
    responses(
        (status = 200, description = "The story with the restored content", body = Story, headers(("ETag" = String, description = "The new version, for the next If-Match"))),
        (status = 404, description = "No such story or version", body = Problem),
        (status = 412, description = "The story changed since the ETag in If-Match", body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/revisions/{version:\\d+}/restore")]
pub async fn restore_revision(
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
    IfMatch(expected): IfMatch<false>,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    let story = state.db.write(move |tx| super::restore(tx, id, version, expected, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// List tags.
///
/// Tags in use by published stories, with how many carry each, in slug order.
#[utoipa::path(
    tag = "stories",
    operation_id = "listTags",
    params(PageParams, IfNoneMatch),
    responses((status = 200, description = "A page of tags", body = TagList, headers(
        ("ETag" = String, description = "Strong validator"),
        ("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 304, description = "Not modified since the ETag in If-None-Match")),
    security(())
)]
#[get("/tags")]
pub async fn list_tags(
    req: HttpRequest,
    state: web::Data<AppState>,
    page: web::Query<PageParams>,
    _: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    let page = page.request()?;
    let body: TagList = state.db.read(move |conn| super::tags_page(conn, page)).await?;
    page_json(&req, Audience::Readers, &body, &body.page)
}
