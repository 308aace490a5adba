//! Wire types of the preview endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// `POST /v1/stories/{id}/preview`: how long the link should work.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"expires_in": 86400}))]
pub struct PreviewRequest {
    /// Seconds the link works, 1 to 604800 (a week); a day when absent.
    /// As in JSON Schema, `3600.0` is the integer 3600.
    #[serde(default, deserialize_with = "crate::json::optional_whole_number")]
    #[validate(range(min = 1, max = 604800))]
    #[schema(minimum = 1, maximum = 604800)]
    pub expires_in: Option<i64>,
}

/// A preview link's token: `GET /v1/preview/{token}` reads the story with it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"token": "NDIuMTc2NDg0MTYwMC4w.3q2-7wX0cm9v…", "expires_at": "2026-11-28T19:48:00Z"}))]
pub struct PreviewLink {
    /// Link-safe (base64url and dots): put it in a URL as it is.
    pub token: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}
