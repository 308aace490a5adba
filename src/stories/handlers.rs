//! `/v1/stories` and `/v1/tags`.

use std::collections::BTreeSet;
use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue, HttpDate};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::dto::{
    PublishRequest, Revision, RevisionEditor, RevisionList, Story, StoryInput, StoryList, StoryPatch, TagCount, TagList,
};
use super::queries::{self, ListCursor, ListFilter, Sort, Visibility};
use super::{Status, Transition, to_story};
use crate::auth::{CurrentEditor, MaybeEditor};
use crate::db::now;
use crate::editors::queries as editor_queries;
use crate::error::{ApiError, Problem};
use crate::http::{if_match, json_for, private_json, public_json, version_etag, with_next_link};
use crate::json::{ApiJson, MaybeJson};
use crate::pagination::{PageParams, paginate};
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

/// A single story: public and cacheable for readers; private, with the
/// version ETag for `If-Match`, for editors.
fn story_response(req: &HttpRequest, story: &Story, public: bool) -> Result<HttpResponse, ApiError> {
    let mut response = json_for(req, public, story)?;
    let headers = response.headers_mut();
    if public {
        let modified = story.published_at.map_or(story.updated_at, |p| p.max(story.updated_at));
        let date = HttpDate::from(SystemTime::from(modified));
        headers.insert(header::LAST_MODIFIED, HeaderValue::from_str(&date.to_string()).map_err(ApiError::internal)?);
    } else {
        headers.insert(header::ETAG, HeaderValue::from_str(&version_etag(story.version)).map_err(ApiError::internal)?);
    }
    Ok(response)
}

/// A story after an editor's write: private, with its new version ETag.
fn written(story: &Story, status: StatusCode) -> Result<HttpResponse, ApiError> {
    let mut response = private_json(status, story)?;
    response
        .headers_mut()
        .insert(header::ETAG, HeaderValue::from_str(&version_etag(story.version)).map_err(ApiError::internal)?);
    Ok(response)
}

/// How a list is ordered.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum SortParam {
    /// Newest publication first (the default).
    #[serde(rename = "-published_at")]
    PublishedDesc,
    /// Oldest publication first.
    #[serde(rename = "published_at")]
    PublishedAsc,
    /// By title, A to Z (by code point).
    #[serde(rename = "title")]
    Title,
    /// Best rated first, by the Bayesian score of `GET /v1/stories/{id}/rating`.
    #[serde(rename = "-rating")]
    RatingDesc,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only stories with this tag slug.
    pub tag: Option<String>,
    /// Only stories in this locale (BCP 47, e.g. `en-GB`).
    pub locale: Option<String>,
    /// Only stories with this byline, exactly.
    pub author: Option<String>,
    /// Full-text search over title, excerpt and body; best match first unless `sort` is given.
    pub q: Option<String>,
    /// Only stories published after this time (RFC 3339).
    pub published_after: Option<DateTime<Utc>>,
    /// Only stories published before this time (RFC 3339).
    pub published_before: Option<DateTime<Utc>>,
    /// Order of the list; `-published_at` by default, best match first with `q`.
    pub sort: Option<SortParam>,
    /// Story fields to return (sparse fieldset), comma-separated, e.g.
    /// `id,slug,title`. By default every field except `body` and `body_html`.
    #[serde(default, deserialize_with = "comma_separated")]
    #[param(style = Form, explode = false)]
    pub fields: Option<Vec<StoryField>>,
    /// Editors only: only stories in this status (by default, editors see every status).
    pub status: Option<Status>,
}

/// A story field, for sparse fieldsets (`fields=id,slug,title`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoryField {
    Id,
    Slug,
    Title,
    Subtitle,
    Excerpt,
    Body,
    BodyHtml,
    Status,
    Locale,
    Tags,
    Author,
    CoverImage,
    Seo,
    WordCount,
    ReadingTimeMinutes,
    PublishedAt,
    CreatedAt,
    UpdatedAt,
    Version,
    Rating,
}

/// `a,b,c` as a list, the way OpenAPI's `style: form, explode: false` sends
/// arrays; an empty value is no list.
fn comma_separated<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<StoryField>>, D::Error> {
    use serde::de::IntoDeserializer;
    let Some(raw) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    let fields = raw
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| StoryField::deserialize(name.into_deserializer()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!fields.is_empty()).then_some(fields))
}

/// The JSON keys a list item keeps.
fn chosen_fields(fields: Option<&[StoryField]>) -> Result<BTreeSet<String>, ApiError> {
    let name = |field: &StoryField| {
        serde_json::to_value(field)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| ApiError::internal("a field name"))
    };
    match fields {
        Some(list) => list.iter().map(name).collect(),
        None => Ok(ALL_FIELDS
            .iter()
            .filter(|f| !matches!(f, StoryField::Body | StoryField::BodyHtml))
            .map(name)
            .collect::<Result<_, _>>()?),
    }
}

const ALL_FIELDS: [StoryField; 20] = [
    StoryField::Id,
    StoryField::Slug,
    StoryField::Title,
    StoryField::Subtitle,
    StoryField::Excerpt,
    StoryField::Body,
    StoryField::BodyHtml,
    StoryField::Status,
    StoryField::Locale,
    StoryField::Tags,
    StoryField::Author,
    StoryField::CoverImage,
    StoryField::Seo,
    StoryField::WordCount,
    StoryField::ReadingTimeMinutes,
    StoryField::PublishedAt,
    StoryField::CreatedAt,
    StoryField::UpdatedAt,
    StoryField::Version,
    StoryField::Rating,
];

/// List stories.
///
/// Readers see published stories whose publication time has passed, newest
/// first. With an editor token the list shows every status and accepts `status`.
#[utoipa::path(
    tag = "stories",
    operation_id = "listStories",
    params(PageParams, ListParams, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: 304 if unchanged")),
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
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let fields = chosen_fields(params.fields.as_deref())?;
    let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
    let sort = match (params.sort, &q) {
        (Some(SortParam::PublishedDesc), _) | (None, None) => Sort::PublishedDesc,
        (Some(SortParam::PublishedAsc), _) => Sort::PublishedAsc,
        (Some(SortParam::Title), _) => Sort::Title,
        (Some(SortParam::RatingDesc), _) => Sort::RatingDesc,
        (None, Some(_)) => Sort::Relevance,
    };
    let after: Option<ListCursor> = page.cursor()?;
    if after.as_ref().is_some_and(|c| c.sort != sort) {
        return Err(ApiError::BadRequest("cursor belongs to a list in another order".into()));
    }
    let visibility = match (&editor, params.status) {
        (Some(_), status) => Visibility::Editor(status),
        (None, None) => Visibility::Public,
        (None, Some(_)) => return Err(ApiError::BadRequest("status is for editors: send a bearer token".into())),
    };
    let filter = ListFilter {
        visibility,
        tag: params.tag.clone(),
        locale: params.locale.clone(),
        author: params.author.clone(),
        published_after: params.published_after.map(|t| t.naive_utc()),
        published_before: params.published_before.map(|t| t.naive_utc()),
        q,
        sort,
        after,
        limit,
        now: now(),
        rating_prior: (0.0, 0.0),
    };
    let shared = state.clone();
    let body = state.db.run(move |conn| super::list_page(conn, filter, &shared.rating_prior, &fields)).await?;
    Ok(with_next_link(json_for(&req, editor.is_none(), &body)?, &req, &body.page))
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
        (status = 409, description = "The explicit slug is taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/stories")]
pub async fn create_story(
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    ApiJson(input): ApiJson<StoryInput>,
) -> Result<HttpResponse, ApiError> {
    let story = state.db.write(move |conn| super::create(conn, input, &editor)).await?;
    let mut response = written(&story, StatusCode::CREATED)?;
    let location = HeaderValue::from_str(&format!("/v1/stories/{}", story.id)).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Reads one story for `editor`, or for the public when `None`.
async fn read_story(
    state: &AppState,
    editor: &Option<editor_queries::EditorRow>,
    find: impl FnOnce(&mut crate::db::DbConnection) -> diesel::QueryResult<Option<queries::StoryRow>> + Send + 'static,
) -> Result<Story, ApiError> {
    let story = state
        .db
        .run(move |conn| {
            let row = find(conn)?.ok_or(ApiError::NotFound)?;
            let tags = queries::tags_of(conn, row.id)?;
            Ok(to_story(row, tags, now()))
        })
        .await?;
    if editor.is_none() && story.status != Status::Published {
        return Err(ApiError::NotFound);
    }
    Ok(story)
}

/// Read a story by id.
///
/// Public for published stories; a draft, scheduled or archived story is 404
/// without an editor token.
#[utoipa::path(
    tag = "stories",
    operation_id = "getStory",
    params(("id" = i64, Path, description = "The story's id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: 304 if unchanged")),
    responses(
        (status = 200, description = "The story", body = Story, headers(
            ("ETag" = String, description = "Readers: a strong validator for If-None-Match. Editors: the version, for If-Match"),
            ("Last-Modified" = String, description = "Readers: when the story last changed or was published"))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 404, description = "No such story, or not public", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
#[get("/stories/{id:\\d+}")]
pub async fn get_story(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let story = read_story(&state, &editor, move |conn| queries::find(conn, id)).await?;
    story_response(&req, &story, editor.is_none())
}

/// Read a story by slug.
///
/// Public for published stories; a draft, scheduled or archived story is 404
/// without an editor token.
#[utoipa::path(
    tag = "stories",
    operation_id = "getStoryBySlug",
    params(("slug" = String, Path, description = "The story's slug"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: 304 if unchanged")),
    responses(
        (status = 200, description = "The story", body = Story, headers(
            ("ETag" = String, description = "Readers: a strong validator for If-None-Match. Editors: the version, for If-Match"),
            ("Last-Modified" = String, description = "Readers: when the story last changed or was published"))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 404, description = "No such story, or not public", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
#[get("/stories/slug/{slug}")]
pub async fn get_story_by_slug(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug.into_inner();
    let story = read_story(&state, &editor, move |conn| queries::find_by_slug(conn, &slug)).await?;
    story_response(&req, &story, editor.is_none())
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
    params(
        ("id" = i64, Path, description = "The story's id"),
        ("If-Match" = String, Header, description = "The story's ETag, e.g. `\"v3\"`"),
    ),
    request_body(content = StoryPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated story", body = Story,
            headers(("ETag" = String, description = "The new version, for the next If-Match"))),
        (status = 404, description = "No such story", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slug is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The story changed since that ETag", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/stories/{id:\\d+}")]
pub async fn update_story(
    req: HttpRequest,
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    ApiJson(StoryPatch(patch)): ApiJson<StoryPatch>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req).expected_version(true)?;
    let id = id.into_inner();
    let story = state.db.write(move |conn| super::edit(conn, id, expected, &patch, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// Delete a story.
///
/// Its revisions, ratings and links go with it, and links to it from other
/// stories disappear. `If-Match` is honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "deleteStory",
    params(("id" = i64, Path, description = "The story's id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on, e.g. `\"v3\"`: checked when sent (412 if stale)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such story", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The story changed since the ETag in If-Match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/stories/{id:\\d+}")]
pub async fn delete_story(
    req: HttpRequest,
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req).expected_version(false)?;
    let id = id.into_inner();
    state
        .db
        .write(move |conn| {
            let story = queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
            if expected.is_some_and(|v| v != story.version) {
                return Err(ApiError::PreconditionFailed);
            }
            queries::delete(conn, id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "private, no-store")).finish())
}

async fn change_lifecycle(
    req: &HttpRequest,
    editor: editor_queries::EditorRow,
    state: &AppState,
    id: i64,
    transition: Transition,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(req).expected_version(false)?;
    let story = state.db.write(move |conn| super::transition(conn, id, expected, transition, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// Publish or schedule a story.
///
/// With a future `at` the story is `scheduled` and becomes public by itself
/// when that time passes. `If-Match` is honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "publishStory",
    params(("id" = i64, Path, description = "The story's id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on, e.g. `\"v3\"`: checked when sent (412 if stale)")),
    request_body(content = Option<PublishRequest>, description = "Optional: omit to publish now"),
    responses(
        (status = 200, description = "The story, published or scheduled", body = Story, headers(("ETag" = String, description = "The new version, for the next If-Match"))),
        (status = 404, description = "No such story", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The story changed since the ETag in If-Match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/publish")]
pub async fn publish_story(
    req: HttpRequest,
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    MaybeJson(body): MaybeJson<PublishRequest>,
) -> Result<HttpResponse, ApiError> {
    let at = body.and_then(|b| b.at).map_or_else(now, |at| crate::db::truncate(at.naive_utc()));
    change_lifecycle(&req, editor, &state, id.into_inner(), Transition::Publish { at }).await
}

/// Unpublish a story.
///
/// Back to draft: no longer public, publication time cleared. `If-Match` is
/// honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "unpublishStory",
    params(("id" = i64, Path, description = "The story's id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on, e.g. `\"v3\"`: checked when sent (412 if stale)")),
    responses(
        (status = 200, description = "The story, now a draft", body = Story, headers(("ETag" = String, description = "The new version, for the next If-Match"))),
        (status = 404, description = "No such story", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The story changed since the ETag in If-Match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/unpublish")]
pub async fn unpublish_story(
    req: HttpRequest,
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    change_lifecycle(&req, editor, &state, id.into_inner(), Transition::Unpublish).await
}

/// Archive a story.
///
/// Off the public site, kept with its publication time. `If-Match` is
/// honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "archiveStory",
    params(("id" = i64, Path, description = "The story's id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on, e.g. `\"v3\"`: checked when sent (412 if stale)")),
    responses(
        (status = 200, description = "The story, now archived", body = Story, headers(("ETag" = String, description = "The new version, for the next If-Match"))),
        (status = 404, description = "No such story", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The story changed since the ETag in If-Match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/archive")]
pub async fn archive_story(
    req: HttpRequest,
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    change_lifecycle(&req, editor, &state, id.into_inner(), Transition::Archive).await
}

fn to_revision(
    row: queries::RevisionRow,
    editors: &std::collections::HashMap<i64, String>,
) -> Result<Revision, ApiError> {
    Ok(Revision {
        version: row.version,
        change: row.change,
        status: row.status,
        published_at: row.published_at.map(|t| t.and_utc()),
        editor: row
            .editor_id
            .and_then(|id| editors.get(&id).map(|name| RevisionEditor { id, display_name: name.clone() })),
        created_at: row.created_at.and_utc(),
        content: serde_json::from_str(&row.content).map_err(ApiError::internal)?,
    })
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
        (status = 404, description = "No such story", body = Problem, content_type = "application/problem+json"),
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
    let id = id.into_inner();
    let limit = page.limit()?;
    let before: Option<i64> = page.cursor()?;
    let (rows, editors) = state
        .db
        .run(move |conn| {
            queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
            let rows = queries::list_revisions(conn, id, before, limit + 1)?;
            let ids: Vec<i64> = rows.iter().filter_map(|r| r.editor_id).collect();
            Ok((rows, editor_queries::display_names(conn, &ids)?))
        })
        .await?;
    let (rows, page) = paginate(rows, limit, |row| row.version);
    let data = rows.into_iter().map(|row| to_revision(row, &editors)).collect::<Result<_, _>>()?;
    let body = RevisionList { data, page };
    Ok(with_next_link(private_json(StatusCode::OK, &body)?, &req, &body.page))
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
        (status = 404, description = "No such story or version", body = Problem, content_type = "application/problem+json"),
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
    let (row, editors) = state
        .db
        .run(move |conn| {
            let row = queries::find_revision(conn, id, version)?.ok_or(ApiError::NotFound)?;
            let names = editor_queries::display_names(conn, &row.editor_id.into_iter().collect::<Vec<_>>())?;
            Ok((row, names))
        })
        .await?;
    private_json(StatusCode::OK, &to_revision(row, &editors)?)
}

/// Restore a revision's content as a new version.
///
/// The story's status is left as it is. `If-Match` is honoured when sent.
#[utoipa::path(
    tag = "stories",
    operation_id = "restoreStoryRevision",
    params(("id" = i64, Path, description = "The story's id"), ("version" = i64, Path, description = "The version to restore"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on, e.g. `\"v3\"`: checked when sent (412 if stale)")),
    responses(
        (status = 200, description = "The story with the restored content", body = Story, headers(("ETag" = String, description = "The new version, for the next If-Match"))),
        (status = 404, description = "No such story or version", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The story changed since the ETag in If-Match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/stories/{id:\\d+}/revisions/{version:\\d+}/restore")]
pub async fn restore_revision(
    req: HttpRequest,
    CurrentEditor(editor): CurrentEditor,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    let expected = if_match(&req).expected_version(false)?;
    let story = state.db.write(move |conn| super::restore(conn, id, version, expected, &editor)).await?;
    written(&story, StatusCode::OK)
}

/// List tags.
///
/// Tags in use by published stories, with how many carry each, in slug order.
#[utoipa::path(
    tag = "stories",
    operation_id = "listTags",
    params(PageParams, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: 304 if unchanged")),
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
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let after: Option<String> = page.cursor()?;
    let rows =
        state.db.run(move |conn| Ok(queries::public_tag_counts(conn, now(), after.as_deref(), limit + 1)?)).await?;
    let (rows, page) = paginate(rows, limit, |(slug, _)| slug.clone());
    let body = TagList { data: rows.into_iter().map(|(slug, count)| TagCount { slug, count }).collect(), page };
    Ok(with_next_link(public_json(&req, &body)?, &req, &body.page))
}
