//! Wire types of the webhook endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::EventType;
use crate::fields::{self, Description, HttpUrl};
use crate::pagination::Page;

/// A registered webhook endpoint. Its secret is shown once, when it is made.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 1, "url": "https://hooks.magazine.example/anthology",
    "events": ["story.published", "story.updated"], "description": "Rebuild the front page",
    "disabled": false, "created_at": "2026-11-28T10:00:00Z"}))]
pub struct Webhook {
    pub id: i64,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The event types sent to it.
    pub events: Vec<EventType>,
    pub description: String,
    /// A disabled endpoint gets no new deliveries; those already queued
    /// wait until it is enabled again.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A new webhook endpoint, with the secret that signs its deliveries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 1, "url": "https://hooks.magazine.example/anthology",
    "events": ["story.published"], "description": "", "disabled": false,
    "created_at": "2026-11-28T10:00:00Z", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw0vI0Yc9G+E0="}))]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` and base64 of 32 random bytes; the HMAC-SHA256 key is the
    /// decoded bytes. Shown this once: keep it.
    pub secret: String,
}

/// A page of webhook endpoints.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<Webhook>,
    pub page: Page,
}

/// A new webhook endpoint.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.magazine.example/anthology",
    "events": ["story.published", "story.unpublished"], "description": "Rebuild the front page"}))]
pub struct NewWebhook {
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = webhook_url)]
    pub url: HttpUrl,
    #[schema(schema_with = subscribable_events)]
    pub events: Vec<EventType>,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<Description>)]
    pub description: Option<Description>,
    /// Defaults to false.
    pub disabled: Option<bool>,
}

fn webhook_url() -> utoipa::openapi::ObjectBuilder {
    fields::schema::<HttpUrl>().description(Some("An absolute http(s) URL whose host is not a private address."))
}

/// What an endpoint may subscribe to: every event type but `ping`, at least one.
fn subscribable_events() -> utoipa::openapi::schema::ArrayBuilder {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let names = [
        EventType::StoryPublished,
        EventType::StoryUpdated,
        EventType::StoryUnpublished,
        EventType::StoryDeleted,
        EventType::RelatedUpdated,
    ]
    .map(EventType::as_str);
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)))
        .min_items(Some(1))
        .description(Some(
            "One or more event types; repeats are dropped. `ping` is sent on request and cannot be chosen.",
        ))
}

fn nullable_subscribable_events() -> utoipa::openapi::schema::ArrayBuilder {
    use utoipa::openapi::schema::{SchemaType, Type};
    subscribable_events().schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
}

/// Changes to a webhook endpoint (JSON Merge Patch): absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true}))]
pub struct WebhookPatch {
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<HttpUrl>)]
    pub url: Option<HttpUrl>,
    #[schema(schema_with = nullable_subscribable_events)]
    pub events: Option<Vec<EventType>>,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<Description>)]
    pub description: Option<Description>,
    pub disabled: Option<bool>,
}

/// One event sent (or being sent) to one endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 12, "event_id": "evt_40", "type": "story.published", "status": "pending",
    "attempts": 2, "last_attempt_at": "2026-11-28T10:00:35Z", "last_status_code": 503,
    "last_duration_ms": 48, "last_error": "the receiver answered 503",
    "next_attempt_at": "2026-11-28T10:02:35Z", "delivered_at": null, "created_at": "2026-11-28T10:00:00Z",
    "history": [
        {"attempted_at": "2026-11-28T10:00:35Z", "status_code": 503, "duration_ms": 48, "error": "the receiver answered 503"},
        {"attempted_at": "2026-11-28T10:00:00Z", "status_code": null, "duration_ms": 10001, "error": "timeout"}]}))]
pub struct Delivery {
    pub id: i64,
    /// The `webhook-id` header of its requests.
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub status: DeliveryStatus,
    /// Requests made so far.
    pub attempts: i32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's answer to the last request, if it answered.
    pub last_status_code: Option<i32>,
    pub last_duration_ms: Option<i64>,
    /// Why the last request failed, if it did.
    pub last_error: Option<String>,
    /// When the next request is due, while `pending`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Every request made, newest first.
    pub history: Vec<DeliveryAttempt>,
}

/// One request made for a delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's answer, if it answered.
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    /// Why it failed: a non-2xx answer, a timeout, a refused address…
    pub error: Option<String>,
}

/// `pending` until a 2xx answer (`delivered`) or the retries run out (`failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

crate::db::stored_as_text!(DeliveryStatus { Pending => "pending", Delivered => "delivered", Failed => "failed" });

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<Delivery>,
    pub page: Page,
}

crate::schemas::problems! {
    /// 404 for a webhook endpoint that does not exist.
    WebhookNotFound { "404" => "No such endpoint" }
}
