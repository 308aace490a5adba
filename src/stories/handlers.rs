//! `/v1/stories` and `/v1/tags`.

use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue, HttpDate};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};

use super::dto::{
    CostlyReadFailures, ListParams, PublishRequest, Revision, RevisionList, RevisionNotFound, SlugPath, StaleVersion,
    Story, StoryChangeFailures, StoryInput, StoryList, StoryNotFound, StoryPatch, StoryRead, TagList,
};
use super::{StoryKey, Transition};
use crate::auth::{CurrentEditor, MaybeEditor};
use crate::editors::EditorRow;
use crate::error::{ApiError, Problem};
use crate::http::{
    Audience, IfMatch, IfNoneMatch, Reply, StoryId, created, editors_page, json_for, no_content, page_json,
    private_json, version_etag,
};
use crate::json::{ApiJson, MaybeJson};
use crate::pagination::{PageParams, list_of};
use crate::state::State;

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
fn with_version_etag(mut response: HttpResponse, story: &Story) -> Reply {
    let etag = HeaderValue::from_str(&version_etag(story.version)).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// Reads one story: public and cacheable for readers (with `Last-Modified`);
/// private, with the version ETag for `If-Match`, for editors.
async fn read_story(req: &HttpRequest, editor: &Option<EditorRow>, state: &State, key: StoryKey) -> Reply {
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
fn written(story: &Story, status: StatusCode) -> Reply {
    with_version_etag(private_json(status, story)?, story)
}

/// List stories.
///
/// Readers see published stories whose publication time has passed, newest
/// first. With an editor token the list shows every status and accepts `status`.
/// Readers' searches and rankings by rating run a few at a time: beyond
/// that, 503 with `Retry-After`.
#[utoipa::path(
    tag = "stories", operation_id = "listStories", security((), ("bearer" = [])),
    params(PageParams, ListParams, IfNoneMatch),
    responses(
        (status = 200, description = "A page of stories", body = StoryList),
        CostlyReadFailures,
    )
)]
#[get("/stories")]
pub async fn list_stories(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: State,
    page: web::Query<PageParams>,
    params: web::Query<ListParams>,
    _: IfNoneMatch,
) -> Reply {
    let (page, params, audience) =
        (page.request(&state.cursor_key, &list_of(&req))?, params.into_inner(), Audience::of(&editor));
    let cost = super::list_cost(&params, audience);
    let body: StoryList =
        state.db.read_costing(cost, move |conn| super::list_page(conn, params, page, audience)).await?;
    page_json(&req, audience, &body, &body.page)
}

/// Create a story.
///
/// New stories are drafts. `slug` is derived from the title when not given
/// (made unique with a numeric suffix); an explicit slug that is taken is
/// 409. `excerpt` is derived from the body when not given.
#[utoipa::path(
    tag = "stories", operation_id = "createStory", security(("bearer" = [])),
    request_body = StoryInput,
    responses(
        (status = 201, description = "Created", body = Story, headers(
            ("Location" = String, description = "The new story's URL"),
            ("ETag" = String, description = "The story's version, for If-Match"))),
        (status = 409, description = "The explicit slug is taken", body = Problem),
    )
)]
#[post("/stories")]
pub async fn create_story(CurrentEditor(editor): CurrentEditor, state: State, input: ApiJson<StoryInput>) -> Reply {
    let input = input.get()?;
    let story = state.db.write(move |tx| super::create(tx, input, &editor)).await?;
    with_version_etag(created(&story, &format!("/v1/stories/{}", story.id))?, &story)
}

/// Read a story by id.
///
/// Public for published stories; a draft, scheduled or archived story is 404
/// without an editor token.
#[utoipa::path(
    tag = "stories", operation_id = "getStory", security((), ("bearer" = [])),
    params(StoryId, IfNoneMatch), responses(StoryRead)
)]
#[get("/stories/{id:\\d+}")]
pub async fn get_story(req: HttpRequest, editor: MaybeEditor, state: State, id: StoryId, _: IfNoneMatch) -> Reply {
    read_story(&req, &editor.0, &state, StoryKey::Id(id.0)).await
}

/// Read a story by slug.
///
/// Public for published stories; a draft, scheduled or archived story is 404
/// without an editor token.
#[utoipa::path(
    tag = "stories", operation_id = "getStoryBySlug", security((), ("bearer" = [])),
    params(SlugPath, IfNoneMatch), responses(StoryRead)
)]
#[get("/stories/slug/{slug}")]
pub async fn get_story_by_slug(
    req: HttpRequest,
    editor: MaybeEditor,
    state: State,
    path: web::Path<SlugPath>,
    _: IfNoneMatch,
) -> Reply {
    read_story(&req, &editor.0, &state, StoryKey::Slug(path.into_inner().slug)).await
}

/// Change a story (JSON Merge Patch, RFC 7396).
///
/// Needs `If-Match` with the story's ETag: 428 without it, 412 when the story
/// has changed since. Fields set to null return to their default (`slug`
/// and `excerpt` are derived again). Every change bumps `version` and keeps
/// a revision; a patch that changes nothing makes neither. Use the publish/unpublish/archive operations for `status`.
#[utoipa::path(
    tag = "stories", operation_id = "updateStory", security(("bearer" = [])),
    params(StoryId, IfMatch<true>),
    request_body(content = StoryPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated story", body = Story),
        StoryNotFound,
        (status = 409, description = "The slug is taken", body = Problem),
        (status = 412, description = "The story changed since that ETag", body = Problem),
        (status = 428, description = "If-Match is missing", body = Problem),
    )
)]
#[patch("/stories/{id:\\d+}")]
pub async fn update_story(
    CurrentEditor(editor): CurrentEditor,
    state: State,
    StoryId(id): StoryId,
    IfMatch(expected): IfMatch<true>,
    patch: ApiJson<StoryPatch>,
) -> Reply {
    let StoryPatch(patch) = patch.get()?;
    let story = state.db.write(move |tx| super::edit(tx, id, &expected, &patch, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// Delete a story.
///
/// Its revisions, ratings and links go with it, and links to it from other
/// stories disappear. `If-Match` is honoured when sent.
#[utoipa::path(
    tag = "stories", operation_id = "deleteStory", security(("bearer" = [])),
    params(StoryId, IfMatch<false>), responses((status = 204, description = "Deleted"), StoryChangeFailures)
)]
#[delete("/stories/{id:\\d+}")]
pub async fn delete_story(_: CurrentEditor, state: State, StoryId(id): StoryId, expected: IfMatch<false>) -> Reply {
    state.db.write(move |tx| super::delete(tx, id, &expected.0)).await?;
    Ok(no_content())
}

/// Moves story `id` through its lifecycle, if still at the `expected` version.
async fn change(editor: EditorRow, state: &State, id: i64, expected: IfMatch<false>, to: Transition) -> Reply {
    let story = state.db.write(move |tx| super::transition(tx, id, &expected.0, to, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// Publish or schedule a story.
///
/// With a future `at` the story is `scheduled` and becomes public by itself
/// when that time passes. Without `at`, a story already public keeps its
/// publication time. A move that changes nothing (publishing twice, a double
/// click) makes no new version, revision or webhook event. `If-Match` is
/// honoured when sent.
#[utoipa::path(
    tag = "stories", operation_id = "publishStory", security(("bearer" = [])),
    params(StoryId, IfMatch<false>),
    request_body(content = Option<PublishRequest>, description = "Optional: omit to publish now"),
    responses(
        (status = 200, description = "The story, published or scheduled", body = Story), StoryChangeFailures)
)]
#[post("/stories/{id:\\d+}/publish")]
pub async fn publish_story(
    editor: CurrentEditor,
    state: State,
    StoryId(id): StoryId,
    expected: IfMatch<false>,
    body: MaybeJson<PublishRequest>,
) -> Reply {
    let body = body.get()?;
    let at = body.and_then(|b| b.at).map(|at| crate::db::truncate(at.naive_utc()));
    change(editor.0, &state, id, expected, Transition::Publish { at }).await
}

/// Declares the handler of a lifecycle move that takes no body: unpublish
/// and archive differ only in their route and their [`Transition`].
macro_rules! move_without_body {
    ($(#[doc = $doc:literal])* $name:ident, $path:literal, $operation_id:literal, $description:literal, $to:expr) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            tag = "stories", operation_id = $operation_id, security(("bearer" = [])),
            params(StoryId, IfMatch<false>),
            responses((status = 200, description = $description, body = Story), StoryChangeFailures)
        )]
        #[post($path)]
        pub async fn $name(editor: CurrentEditor, state: State, id: StoryId, expected: IfMatch<false>) -> Reply {
            change(editor.0, &state, id.0, expected, $to).await
        }
    };
}

move_without_body! {
    /// Unpublish a story.
    ///
    /// Back to draft: no longer public, publication time cleared. `If-Match` is
    /// honoured when sent.
    unpublish_story, "/stories/{id:\\d+}/unpublish", "unpublishStory", "The story, now a draft", Transition::Unpublish
}

move_without_body! {
    /// Archive a story.
    ///
    /// Off the public site, kept with its publication time. `If-Match` is
    /// honoured when sent.
    archive_story, "/stories/{id:\\d+}/archive", "archiveStory", "The story, now archived", Transition::Archive
}

editors_page! {
    /// List a story's revisions.
    ///
    /// Newest first: every change to a story keeps one.
    list_revisions, "/stories/{id:\\d+}/revisions", tag = "stories", operation_id = "listStoryRevisions", CurrentEditor,
    [under StoryId(id) or StoryNotFound], RevisionList, "A page of revisions",
    |conn, page| super::revisions_page(conn, id, page)
}

/// Read a revision.
///
/// The story's content and status as they were at that version.
#[utoipa::path(
    tag = "stories", operation_id = "getStoryRevision", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The story's id"), ("version" = i64, Path, description = "The version")),
    responses((status = 200, description = "The revision", body = Revision), RevisionNotFound)
)]
#[get("/stories/{id:\\d+}/revisions/{version:\\d+}")]
pub async fn get_revision(_: CurrentEditor, state: State, path: web::Path<(i64, i64)>) -> Reply {
    let (id, version) = path.into_inner();
    private_json(StatusCode::OK, &state.db.read(move |conn| super::revision(conn, id, version)).await?)
}

/// Restore a revision's content as a new version.
///
/// The story's status is left as it is. `If-Match` is honoured when sent.
#[utoipa::path(
    tag = "stories", operation_id = "restoreStoryRevision", security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "The story's id"),
        ("version" = i64, Path, description = "The version to restore"),
        IfMatch<false>,
    ),
    responses(
        (status = 200, description = "The story with the restored content", body = Story),
        RevisionNotFound,
        StaleVersion,
    )
)]
#[post("/stories/{id:\\d+}/revisions/{version:\\d+}/restore")]
pub async fn restore_revision(
    CurrentEditor(editor): CurrentEditor,
    state: State,
    path: web::Path<(i64, i64)>,
    IfMatch(expected): IfMatch<false>,
) -> Reply {
    let (id, version) = path.into_inner();
    let story = state.db.write(move |tx| super::restore(tx, id, version, &expected, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// List tags.
///
/// Tags in use by published stories, with how many carry each, in slug order.
/// Counting them goes through every published story's tags, so these reads
/// run a few at a time: beyond that, 503 with `Retry-After`.
#[utoipa::path(
    tag = "stories", operation_id = "listTags", security(()),
    params(PageParams, IfNoneMatch),
    responses(
        (status = 200, description = "A page of tags", body = TagList),
        CostlyReadFailures,
    )
)]
#[get("/tags")]
pub async fn list_tags(req: HttpRequest, state: State, page: web::Query<PageParams>, _: IfNoneMatch) -> Reply {
    let page = page.request(&state.cursor_key, &list_of(&req))?;
    let body: TagList = state.db.read_costing(super::TAGS_COST, move |conn| super::tags_page(conn, page)).await?;
    page_json(&req, Audience::Readers, &body, &body.page)
}
