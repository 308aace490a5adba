//! Readers' votes (public), the aggregate (public), and moderation (editors).

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, delete, get, put};

use super::dto::{RatingAggregate, RatingList, VoteRequest};
use super::{Ballot, VoteOutcome};
use crate::auth::{CurrentEditor, MaybeEditor};
use crate::error::{ApiError, Problem};
use crate::http::{Audience, IfNoneMatch, Reply, StoryId, client_ip, editors_page, json_for, no_content, private_json};
use crate::json::ApiJson;
use crate::pagination::PageParams;
use crate::state::State;
use crate::stories::dto::{PublicReadFailures, StoryNotFound};

/// A vote is `{"score": n}`: anything much longer is not one.
const VOTE_MAX_BYTES: usize = 256;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_rating).service(put_vote).service(list_ratings).service(delete_rating);
}

/// A story's rating: count, exact average, distribution and ranking score.
///
/// Public for published stories; 404 for others without an editor token.
#[utoipa::path(
    tag = "ratings", operation_id = "getStoryRating", security((), ("bearer" = [])),
    params(StoryId, IfNoneMatch),
    responses(
        (status = 200, description = "The aggregate", body = RatingAggregate,
            headers(("ETag" = String, description = "Strong validator; every vote changes it"))),
        PublicReadFailures,
    )
)]
#[get("/stories/{id:\\d+}/rating")]
pub async fn get_rating(req: HttpRequest, editor: MaybeEditor, state: State, id: StoryId, _: IfNoneMatch) -> Reply {
    let (id, audience) = (id.0, Audience::of(&editor.0));
    let body = state.db.read(move |conn| super::rating_of(conn, id, audience)).await?;
    json_for(&req, audience, &body)
}

/// Rate a story from 1 to 5 ("Rate article").
///
/// Public. `voter` is a random UUID the front-end makes once per reader; the
/// server keeps only a keyed hash of it. The same voter voting again replaces
/// its score, so counts never double: 201 for a first vote, 200 for a
/// replaced one. Only published stories take votes. Votes are throttled per
/// client address.
#[utoipa::path(
    tag = "ratings", operation_id = "putStoryVote", security(()),
    params(
        ("id" = i64, Path, description = "The story's id"),
        ("voter" = uuid::Uuid, Path, description = "The reader's voter id, a UUID"),
    ),
    request_body = VoteRequest,
    responses(
        (status = 201, description = "The voter's first vote; the new aggregate", body = RatingAggregate),
        (status = 200, description = "The voter's score replaced; the new aggregate", body = RatingAggregate),
        (status = 404, description = "No such story, or not published", body = Problem),
        (status = 429, description = "Too many votes from this address", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before voting again"))),
    )
)]
#[put("/stories/{id:\\d+}/ratings/{voter}")]
pub async fn put_vote(
    req: HttpRequest,
    state: State,
    path: web::Path<(i64, String)>,
    vote: ApiJson<VoteRequest, VOTE_MAX_BYTES>,
) -> Reply {
    let vote = vote.get()?;
    let client = client_ip(&req, &state.config.trusted_proxies);
    state.vote_throttle.check(client).inspect_err(|_| crate::metrics::vote("throttled"))?;
    let (story_id, voter) = path.into_inner();
    let voter = uuid::Uuid::parse_str(&voter)
        .map_err(|_| ApiError::invalid("voter", "format", "must be a UUID, made once per reader"))?;
    let ballot = Ballot {
        story_id,
        voter_hash: state.voter_hasher.hash(&voter),
        client_key: state.voter_hasher.hash_client(client),
        score: i32::try_from(vote.score).map_err(ApiError::internal)?,
    };
    let (outcome, body) = state.votes.submit(ballot).await?;
    let status = match outcome {
        VoteOutcome::Created => StatusCode::CREATED,
        VoteOutcome::Replaced => StatusCode::OK,
    };
    private_json(status, &body)
}

editors_page! {
    /// List a story's votes.
    ///
    /// Moderation: newest first, with score, times and the voter's hash.
    list_ratings, "/stories/{id:\\d+}/ratings", tag = "ratings", operation_id = "listStoryRatings", CurrentEditor,
    [under StoryId(id) or StoryNotFound], RatingList, "A page of votes", |conn, page| super::votes_page(conn, id, page)
}

/// Delete a vote.
///
/// Moderation: the vote goes, and the story's aggregate follows at once.
#[utoipa::path(
    tag = "ratings", operation_id = "deleteRating", security(("bearer" = [])),
    params(("rating_id" = i64, Path, description = "The vote's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such vote", body = Problem),
    )
)]
#[delete("/ratings/{rating_id:\\d+}")]
pub async fn delete_rating(_: CurrentEditor, state: State, rating_id: web::Path<i64>) -> Reply {
    let rating_id = rating_id.into_inner();
    state.db.write(move |tx| super::remove(tx, rating_id)).await?;
    Ok(no_content())
}
