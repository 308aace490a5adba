//! `/v1/stories`: create and read stories.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::dto::{Author, CoverImage, NewStory, RatingSummary, Seo, Story};
use super::queries::{self, StoryRow, StoryValues};
use super::{Status, content};
use crate::auth::{CurrentEditor, MaybeEditor};
use crate::db::now;
use crate::error::{ApiError, Problem};
use crate::http::{json_for, private_json};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_story).service(get_story);
}

fn to_story(row: StoryRow, tags: Vec<String>) -> Story {
    let status = Status::at(&row.status, row.published_at, now());
    Story {
        id: row.id,
        slug: row.slug,
        title: row.title,
        subtitle: row.subtitle,
        excerpt: row.excerpt,
        body: row.body,
        body_html: row.body_html,
        status,
        locale: row.locale,
        tags,
        author: Author { name: row.author_name },
        cover_image: row.cover_image_url.map(|url| CoverImage { url, alt: row.cover_image_alt.unwrap_or_default() }),
        seo: Seo {
            meta_title: row.seo_meta_title,
            meta_description: row.seo_meta_description,
            canonical_url: row.seo_canonical_url,
        },
        word_count: row.word_count,
        reading_time_minutes: row.reading_time_minutes,
        published_at: row.published_at.map(|t| t.and_utc()),
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        version: row.version,
        rating: RatingSummary { average: None, count: 0 },
    }
}

/// Create a story. It starts as a draft.
#[utoipa::path(
    tag = "stories",
    operation_id = "createStory",
    request_body = NewStory,
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
    ApiJson(new): ApiJson<NewStory>,
) -> Result<HttpResponse, ApiError> {
    let derived = content::derive(&new.body);
    let created_at = now();
    let slug_is_explicit = new.slug.is_some();
    let (cover_image_url, cover_image_alt) = new.cover_image.map(|c| (Some(c.url), Some(c.alt))).unwrap_or_default();
    let seo = new.seo.unwrap_or_default();
    let values = StoryValues {
        slug: new.slug.unwrap_or_else(|| content::slug_from_title(&new.title)),
        excerpt_is_custom: new.excerpt.is_some(),
        excerpt: new.excerpt.unwrap_or(derived.excerpt),
        title: new.title,
        subtitle: new.subtitle,
        body: new.body,
        body_html: derived.body_html,
        status: "draft".into(),
        locale: new.locale.unwrap_or_else(|| "en-GB".into()),
        author_name: new.author.map_or(editor.display_name, |a| a.name),
        cover_image_url,
        cover_image_alt,
        seo_meta_title: seo.meta_title,
        seo_meta_description: seo.meta_description,
        seo_canonical_url: seo.canonical_url,
        word_count: derived.word_count,
        reading_time_minutes: derived.reading_time_minutes,
        published_at: None,
        version: 1,
        created_by: Some(editor.id),
        created_at,
        updated_at: created_at,
    };
    let tags = new.tags;
    let story = state
        .db
        .run(move |conn| {
            let row = queries::insert(conn, values, slug_is_explicit, &tags)?;
            let tags = queries::tags_of(conn, row.id)?;
            Ok(to_story(row, tags))
        })
        .await?;
    let mut response = private_json(StatusCode::CREATED, &story)?;
    let headers = response.headers_mut();
    let location = format!("/v1/stories/{}", story.id);
    headers.insert(header::LOCATION, location.parse().map_err(ApiError::internal)?);
    headers.insert(header::ETAG, version_etag(story.version).parse().map_err(ApiError::internal)?);
    Ok(response)
}

/// The ETag editors send back in `If-Match`: the story's version.
fn version_etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Read a story by id.
///
/// Public for published stories; a draft, scheduled or archived story is 404
/// without an editor token.
#[utoipa::path(
    tag = "stories",
    operation_id = "getStory",
    params(("id" = i64, Path, description = "The story's id")),
    responses(
        (status = 200, description = "The story", body = Story, headers(
            ("ETag" = String, description = "Strong validator for If-None-Match"),
            ("Cache-Control" = String, description = "Public for anonymous reads, private with a token"))),
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
    let story = state
        .db
        .run(move |conn| {
            let row = queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
            let tags = queries::tags_of(conn, row.id)?;
            Ok(to_story(row, tags))
        })
        .await?;
    if editor.is_none() && story.status != Status::Published {
        return Err(ApiError::NotFound);
    }
    json_for(&req, editor.is_none(), &story)
}
