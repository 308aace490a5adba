//! Webhooks: endpoints admins register, and the events sent to them.
//!
//! An event is recorded by [`record`] in the same transaction as the change
//! it reports (the stories and related modules call it from their domain
//! functions), with one delivery row per enabled endpoint subscribed to its
//! type: the outbox. Nothing is sent from a request.
//!
//! Routes: `handlers.rs`. SQL: `queries.rs`. Wire types: `dto.rs`. Which
//! addresses may be sent to: `address.rs`.

pub(crate) mod address;
mod dispatch;
pub(crate) mod dto;
pub(crate) mod handlers;
mod queries;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{Content, Db, DbConnection, Internal, Tx, now, stored_as_text};
use crate::error::{ApiError, FieldError};
use crate::pagination::PageRequest;
use crate::stories::Status;
pub use dispatch::Dispatcher;
use dto::{CreatedWebhook, Delivery, DeliveryList, NewWebhook, Webhook, WebhookList, WebhookPatch};
pub(crate) use queries::EndpointRow;

/// What happened. `ping` is sent on request (`POST /v1/webhooks/{id}/ping`)
/// and cannot be subscribed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    /// A story became public: published now, or a scheduled story's time came.
    #[serde(rename = "story.published")]
    StoryPublished,
    /// A public story's content changed.
    #[serde(rename = "story.updated")]
    StoryUpdated,
    /// A public story was unpublished or archived.
    #[serde(rename = "story.unpublished")]
    StoryUnpublished,
    /// A story was deleted.
    #[serde(rename = "story.deleted")]
    StoryDeleted,
    /// A public story's related links changed.
    #[serde(rename = "related.updated")]
    RelatedUpdated,
    #[serde(rename = "ping")]
    Ping,
}

stored_as_text!(EventType {
    StoryPublished => "story.published", StoryUpdated => "story.updated",
    StoryUnpublished => "story.unpublished", StoryDeleted => "story.deleted",
    RelatedUpdated => "related.updated", Ping => "ping",
});

/// The secret's prefix, as Standard Webhooks writes it.
const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and base64 of 32 random bytes.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The HMAC key of a secret: the bytes after `whsec_`, base64-decoded.
pub(crate) fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// The event types an endpoint asks for: at least one, no repeats, no `ping`.
fn subscribable(events: Vec<EventType>) -> Result<Vec<EventType>, ApiError> {
    let invalid = |message: &str| ApiError::Validation(vec![FieldError::new("events", "events", message)]);
    if events.is_empty() {
        return Err(invalid("must name at least one event type"));
    }
    if events.contains(&EventType::Ping) {
        return Err(invalid("ping is sent on request (POST /v1/webhooks/{id}/ping); it cannot be subscribed to"));
    }
    let mut unique = Vec::with_capacity(events.len());
    for event in events {
        if !unique.contains(&event) {
            unique.push(event);
        }
    }
    Ok(unique)
}

/// [`check_url`] off the async workers (it may ask DNS). A host whose lookup
/// hangs is treated as one that does not resolve: accepted now, and checked
/// again before every delivery.
async fn check_url_off_thread(url: Option<String>, allow_private: bool) -> Result<(), ApiError> {
    let Some(url) = url else { return Ok(()) };
    let check = actix_web::web::block(move || check_url(&url, allow_private));
    match actix_web::rt::time::timeout(std::time::Duration::from_secs(5), check).await {
        Ok(checked) => checked.map_err(ApiError::internal)?,
        Err(_) => Ok(()),
    }
}

/// Refuses a URL whose host resolves to a private address (unless allowed):
/// blocking, it looks the host up. A host that does not resolve now is
/// accepted; every delivery checks again before it connects.
fn check_url(url: &str, allow_private: bool) -> Result<(), ApiError> {
    if allow_private {
        return Ok(());
    }
    match address::resolve_public(url) {
        Err(address::Refused::Private(ip)) => Err(ApiError::Validation(vec![FieldError::new(
            "url",
            "private_address",
            format!(
                "resolves to {ip}, a loopback, private, link-local or metadata address; \
                 only WEBHOOKS_ALLOW_PRIVATE_URLS=true allows such URLs"
            ),
        )])),
        Err(address::Refused::BadUrl(message)) => {
            Err(ApiError::Validation(vec![FieldError::new("url", "format", message)]))
        }
        Ok(_) | Err(address::Refused::Unresolved(_)) => Ok(()),
    }
}

fn to_webhook(row: EndpointRow) -> Webhook {
    Webhook {
        id: row.id,
        url: row.url,
        events: row.events.0,
        description: row.description,
        disabled: row.disabled,
        created_at: row.created_at.and_utc(),
    }
}

/// Registers an endpoint, its URL checked first ([`check_url`], unless
/// `allow_private`).
pub async fn register(db: &Db, allow_private: bool, new: NewWebhook) -> Result<CreatedWebhook, ApiError> {
    check_url_off_thread(Some(new.url.to_string()), allow_private).await?;
    db.write(move |tx| create(tx, new)).await
}

fn create(tx: &mut Tx<'_, Internal>, new: NewWebhook) -> Result<CreatedWebhook, ApiError> {
    let events = subscribable(new.events)?;
    let secret = new_secret();
    let row = queries::insert(
        tx,
        &new.url,
        &events,
        new.description.as_deref().unwrap_or_default(),
        new.disabled.unwrap_or(false),
        &secret,
    )?;
    Ok(CreatedWebhook { webhook: to_webhook(row), secret })
}

pub fn read(conn: &mut DbConnection, id: i64) -> Result<Webhook, ApiError> {
    Ok(to_webhook(queries::find(conn, id)?.ok_or(ApiError::NotFound)?))
}

/// Endpoints in id order.
pub fn list_page(conn: &mut DbConnection, page: PageRequest<i64>) -> Result<WebhookList, ApiError> {
    let rows = queries::list(conn, page.after, page.fetch_limit())?;
    let (rows, page) = page.page_of(rows, |row| row.id);
    Ok(WebhookList { data: rows.into_iter().map(to_webhook).collect(), page })
}

/// Applies an admin's patch to endpoint `id`; a new URL is checked as when
/// registering.
pub async fn change(db: &Db, allow_private: bool, id: i64, patch: WebhookPatch) -> Result<Webhook, ApiError> {
    check_url_off_thread(patch.url.as_ref().map(|url| url.to_string()), allow_private).await?;
    db.write(move |tx| update(tx, id, patch)).await
}

fn update(tx: &mut Tx<'_, Internal>, id: i64, patch: WebhookPatch) -> Result<Webhook, ApiError> {
    let events = patch.events.map(subscribable).transpose()?;
    let change = queries::EndpointChange {
        url: patch.url.map(Into::into),
        events,
        description: patch.description.map(Into::into),
        disabled: patch.disabled,
    };
    if !queries::update(tx, id, change)? {
        return Err(ApiError::NotFound);
    }
    read(tx, id)
}

/// Removes an endpoint and its deliveries, sent or not.
pub fn delete(tx: &mut Tx<'_, Internal>, id: i64) -> Result<(), ApiError> {
    if !queries::delete(tx, id)? {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// An endpoint's deliveries, newest first.
pub fn deliveries_page(conn: &mut DbConnection, id: i64, page: PageRequest<i64>) -> Result<DeliveryList, ApiError> {
    queries::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let rows = queries::deliveries(conn, id, page.after, page.fetch_limit())?;
    let (rows, page) = page.page_of(rows, |(delivery, _)| delivery.id);
    let ids: Vec<i64> = rows.iter().map(|(delivery, _)| delivery.id).collect();
    let mut history: std::collections::HashMap<i64, Vec<dto::DeliveryAttempt>> = std::collections::HashMap::new();
    for attempt in queries::attempts_of(conn, &ids)? {
        history.entry(attempt.delivery_id).or_default().push(dto::DeliveryAttempt {
            attempted_at: attempt.attempted_at.and_utc(),
            status_code: attempt.status_code,
            duration_ms: attempt.duration_ms,
            error: attempt.error,
        });
    }
    let data = rows
        .into_iter()
        .map(|(d, event_type)| Delivery {
            id: d.id,
            event_id: event_id(d.event_id),
            event_type,
            next_attempt_at: (d.status == dto::DeliveryStatus::Pending).then(|| d.next_attempt_at.and_utc()),
            status: d.status,
            attempts: d.attempts,
            last_attempt_at: d.last_attempt_at.map(|t| t.and_utc()),
            last_status_code: d.last_status_code,
            last_duration_ms: d.last_duration_ms,
            last_error: d.last_error,
            delivered_at: d.delivered_at.map(|t| t.and_utc()),
            created_at: d.created_at.and_utc(),
            history: history.remove(&d.id).unwrap_or_default(),
        })
        .collect();
    Ok(DeliveryList { data, page })
}

/// An event's `webhook-id`.
pub fn event_id(id: i64) -> String {
    format!("evt_{id}")
}

/// A story as an event's payload shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StorySummary {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub status: Status,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl StorySummary {
    pub fn of(story: &crate::stories::dto::Story) -> Self {
        Self {
            id: story.id,
            slug: story.slug.clone(),
            title: story.title.clone(),
            status: story.status,
            published_at: story.published_at,
            updated_at: story.updated_at,
        }
    }
}

/// What happened to which story: what [`record`] stores.
pub struct Event {
    pub kind: EventType,
    pub story: StorySummary,
}

fn payload(kind: EventType, at: NaiveDateTime, data: serde_json::Value) -> Result<String, ApiError> {
    let body = serde_json::json!({"type": kind, "timestamp": at.and_utc(), "data": data});
    serde_json::to_string(&body).map_err(ApiError::internal)
}

/// Stores `event` and one pending delivery per enabled endpoint subscribed
/// to its type, in the caller's transaction: the event exists if and only if
/// the change it reports was committed.
pub fn record(tx: &mut Tx<'_, Content>, event: Event) -> Result<(), ApiError> {
    let endpoints: Vec<i64> = queries::subscribed(tx, event.kind)?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let at = now();
    let body = payload(event.kind, at, serde_json::json!({"story": event.story}))?;
    queries::insert_event(tx, Some(event.story.id), event.kind, &body, at, &endpoints)?;
    Ok(())
}

/// Marks a story's publication at `published_at` as announced, so that the
/// dispatcher's look for scheduled stories that came due records it once:
/// `false` when it already was.
pub fn mark_published(tx: &mut Tx<'_, Content>, story_id: i64, published_at: NaiveDateTime) -> Result<bool, ApiError> {
    Ok(queries::mark_published(tx, story_id, published_at)?)
}

/// Queues a `ping` to endpoint `id`, whether or not it is disabled.
pub fn ping(tx: &mut Tx<'_, Internal>, id: i64) -> Result<String, ApiError> {
    if !queries::hold(tx, id)? {
        return Err(ApiError::NotFound);
    }
    let at = now();
    let body = payload(EventType::Ping, at, serde_json::json!({"webhook_id": id}))?;
    let event = queries::insert_event(tx, None, EventType::Ping, &body, at, &[id])?;
    Ok(event_id(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_whsec_and_32_random_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"));
        assert_eq!(secret_key(&a).unwrap().len(), 32);
        assert_eq!(secret_key("not a secret"), None);
    }

    #[test]
    fn event_types_are_named_as_on_the_wire() {
        for kind in [EventType::StoryPublished, EventType::RelatedUpdated, EventType::Ping] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(EventType::try_from(kind.as_str().to_owned()).unwrap(), kind);
        }
    }
}
