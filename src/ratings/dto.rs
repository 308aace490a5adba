//! Wire types of the rating endpoints.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::pagination::Page;

/// A reader's vote.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"score": 5}))]
pub struct VoteRequest {
    /// A whole number from 1 to 5. As in JSON Schema, `4.0` is the integer 4;
    /// `2.5` and `"5"` are rejected.
    #[validate(range(min = 1, max = 5))]
    #[serde(deserialize_with = "crate::json::whole_number")]
    #[schema(minimum = 1, maximum = 5)]
    pub score: i64,
}

/// A story's ratings in full.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "story_id": 42, "count": 212, "average": 4.6,
    "distribution": {"1": 3, "2": 4, "3": 12, "4": 38, "5": 155}, "score": 4.55
}))]
pub struct RatingAggregate {
    pub story_id: i64,
    /// How many readers rated it.
    pub count: i64,
    /// The exact mean score; null while nobody has rated.
    pub average: Option<f64>,
    /// How many votes each score has, `"1"` to `"5"`, zeros included.
    pub distribution: BTreeMap<String, i64>,
    /// A Bayesian average for ranking (what `sort=-rating` orders by): the
    /// votes plus `RATING_PRIOR_WEIGHT` imaginary votes of the prior mean
    /// (`RATING_PRIOR_MEAN`, by default the mean over all votes as of a
    /// snapshot, re-taken when that moves by more than 0.01).
    pub score: f64,
}

/// One reader's vote, for moderation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RatingEntry {
    pub id: i64,
    pub story_id: i64,
    pub score: i32,
    /// A keyed hash of the voter id: the same voter always has the same hash.
    pub voter_hash: String,
    pub created_at: DateTime<Utc>,
    /// When the voter last changed its score.
    pub updated_at: DateTime<Utc>,
}

/// A page of votes, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RatingList {
    pub data: Vec<RatingEntry>,
    pub page: Page,
}
