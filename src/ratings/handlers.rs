//! Readers' votes (public), the aggregate (public), and moderation (editors).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};

use super::aggregate;
use super::dto::{RatingAggregate, RatingEntry, RatingList, VoteRequest};
use super::queries::{self, VoteOutcome};
use crate::auth::{CurrentEditor, MaybeEditor};
use crate::db::now;
use crate::error::{ApiError, Problem};
use crate::http::{client_ip, json_for, private_json, with_next_link};
use crate::json::ApiJson;
use crate::pagination::{PageParams, paginate};
use crate::state::AppState;

/// A vote is `{"score": n}`: anything much longer is not one.
const VOTE_MAX_BYTES: usize = 256;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_rating).service(put_vote).service(list_ratings).service(delete_rating);
}

/// A story's rating: count, exact average, distribution and ranking score.
///
/// Public for published stories; 404 for others without an editor token.
#[utoipa::path(
    tag = "ratings",
    operation_id = "getStoryRating",
    params(("id" = i64, Path, description = "The story's id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: 304 if unchanged")),
    responses(
        (status = 200, description = "The aggregate", body = RatingAggregate, headers(
            ("ETag" = String, description = "Strong validator; every vote changes it"))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 404, description = "No such story, or not public", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
#[get("/stories/{id:\\d+}/rating")]
pub async fn get_rating(
    req: HttpRequest,
    MaybeEditor(editor): MaybeEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let public = editor.is_none();
    let shared = state.clone();
    let body = state
        .db
        .run(move |conn| {
            let counters =
                queries::counters(conn, id)?.filter(|c| !public || c.is_public(now())).ok_or(ApiError::NotFound)?;
            let mean = shared.rating_prior.mean(conn)?;
            Ok(aggregate(&counters, &shared.rating_prior, mean))
        })
        .await?;
    json_for(&req, public, &body)
}

/// Rate a story from 1 to 5 ("Rate article").
///
/// Public. `voter` is a random UUID the front-end makes once per reader; the
/// server keeps only a keyed hash of it. The same voter voting again replaces
/// its score, so counts never double: 201 for a first vote, 200 for a
/// replaced one. Only published stories take votes. Votes are throttled per
/// client address.
#[utoipa::path(
    tag = "ratings",
    operation_id = "putStoryVote",
    params(
        ("id" = i64, Path, description = "The story's id"),
        ("voter" = uuid::Uuid, Path, description = "The reader's voter id, a UUID"),
    ),
    request_body = VoteRequest,
    responses(
        (status = 201, description = "The voter's first vote; the new aggregate", body = RatingAggregate),
        (status = 200, description = "The voter's score replaced; the new aggregate", body = RatingAggregate),
        (status = 404, description = "No such story, or not published", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many votes from this address", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before voting again"))),
    ),
    security(())
)]
#[put("/stories/{id:\\d+}/ratings/{voter}")]
pub async fn put_vote(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
    ApiJson(vote): ApiJson<VoteRequest, VOTE_MAX_BYTES>,
) -> Result<HttpResponse, ApiError> {
    state.vote_throttle.check(client_ip(&req, &state.config.trusted_proxies))?;
    let (id, voter) = path.into_inner();
    let voter = uuid::Uuid::parse_str(&voter)
        .map_err(|_| ApiError::invalid("voter", "format", "must be a UUID, made once per reader"))?;
    let voter_hash = state.voter_hasher.hash(&voter);
    let score = i32::try_from(vote.score).map_err(ApiError::internal)?;
    let shared = state.clone();
    let (outcome, body) = state
        .db
        .write(move |conn| {
            let story = queries::lock_counters(conn, id)?.filter(|c| c.is_public(now())).ok_or(ApiError::NotFound)?;
            let outcome = queries::vote(conn, story.id, &voter_hash, score)?;
            let counters = queries::counters(conn, id)?.ok_or(ApiError::NotFound)?;
            let mean = shared.rating_prior.mean(conn)?;
            Ok((outcome, aggregate(&counters, &shared.rating_prior, mean)))
        })
        .await?;
    let status = if outcome == VoteOutcome::Created { StatusCode::CREATED } else { StatusCode::OK };
    private_json(status, &body)
}

/// List a story's votes.
///
/// Moderation: newest first, with score, times and the voter's hash.
#[utoipa::path(
    tag = "ratings",
    operation_id = "listStoryRatings",
    params(("id" = i64, Path, description = "The story's id"), PageParams),
    responses(
        (status = 200, description = "A page of votes", body = RatingList,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 404, description = "No such story", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/stories/{id:\\d+}/ratings")]
pub async fn list_ratings(
    req: HttpRequest,
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let limit = page.limit()?;
    let before: Option<i64> = page.cursor()?;
    let rows = state
        .db
        .run(move |conn| {
            queries::counters(conn, id)?.ok_or(ApiError::NotFound)?;
            Ok(queries::list(conn, id, before, limit + 1)?)
        })
        .await?;
    let (rows, page) = paginate(rows, limit, |row| row.id);
    let data = rows
        .into_iter()
        .map(|r| RatingEntry {
            id: r.id,
            story_id: r.story_id,
            score: r.score,
            voter_hash: r.voter_hash,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
        .collect();
    let body = RatingList { data, page };
    Ok(with_next_link(private_json(StatusCode::OK, &body)?, &req, &body.page))
}

/// Delete a vote.
///
/// Moderation: the vote goes, and the story's aggregate follows at once.
#[utoipa::path(
    tag = "ratings",
    operation_id = "deleteRating",
    params(("rating_id" = i64, Path, description = "The vote's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such vote", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/ratings/{rating_id:\\d+}")]
pub async fn delete_rating(
    _editor: CurrentEditor,
    state: web::Data<AppState>,
    rating_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let rating_id = rating_id.into_inner();
    state.db.write(move |conn| queries::delete(conn, rating_id)?.ok_or(ApiError::NotFound)).await?;
    Ok(HttpResponse::NoContent().insert_header((actix_web::http::header::CACHE_CONTROL, "private, no-store")).finish())
}
