//! `/v1/webhooks`: admins register endpoints, send pings and read deliveries.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post};

use super::dto::{CreatedWebhook, DeliveryList, NewWebhook, Webhook, WebhookList, WebhookNotFound, WebhookPatch};
use crate::auth::CurrentAdmin;
use crate::error::Problem;
use crate::http::{Reply, WebhookId, created, editors_page, no_content, private_json};
use crate::json::ApiJson;
use crate::pagination::PageParams;
use crate::state::State;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_webhooks)
        .service(create_webhook)
        .service(get_webhook)
        .service(update_webhook)
        .service(delete_webhook)
        .service(ping_webhook)
        .service(list_deliveries);
}

editors_page! {
    /// List webhook endpoints.
    ///
    /// Every registered endpoint, oldest first, in pages. Admins only.
    list_webhooks, "/webhooks", tag = "webhooks", operation_id = "listWebhooks", CurrentAdmin,
    WebhookList, "A page of webhook endpoints", super::list_page
}

/// Register a webhook endpoint.
///
/// Deliveries of the chosen event types are POSTed to the URL, signed as
/// Standard Webhooks specifies with the `secret` in this answer — shown this
/// once. A URL whose host resolves to anything but a public unicast address
/// (loopback, private, link-local, unique-local, CGNAT, metadata, multicast,
/// reserved, …) is 422 unless the server allows private URLs. Admins only.
#[utoipa::path(
    tag = "webhooks", operation_id = "createWebhook", security(("bearer" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = CreatedWebhook,
            headers(("Location" = String, description = "The endpoint's URL"))),
        (status = 422, description = "A field is invalid: a private or malformed URL, no or unknown events", body = Problem),
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(_: CurrentAdmin, state: State, new: ApiJson<NewWebhook>) -> Reply {
    let allow_private = state.config.webhooks_allow_private_urls;
    let registered = super::register(&state.db, allow_private, new.get()?).await?;
    created(&registered, &format!("/v1/webhooks/{}", registered.webhook.id))
}

/// Read a webhook endpoint.
///
/// One endpoint, without its secret. Admins only.
#[utoipa::path(
    tag = "webhooks", operation_id = "getWebhook", security(("bearer" = [])),
    params(WebhookId),
    responses((status = 200, description = "The endpoint", body = Webhook), WebhookNotFound)
)]
#[get("/webhooks/{id:\\d+}")]
pub async fn get_webhook(_: CurrentAdmin, state: State, WebhookId(id): WebhookId) -> Reply {
    let webhook = state.db.read(move |conn| super::read(conn, id)).await?;
    private_json(StatusCode::OK, &webhook)
}

/// Change a webhook endpoint.
///
/// Its URL (checked as when registering), event types, description, or
/// whether it is disabled: a disabled endpoint gets no new deliveries, and
/// those already queued wait until it is enabled again.
/// Admins only.
#[utoipa::path(
    tag = "webhooks", operation_id = "updateWebhook", security(("bearer" = [])),
    params(WebhookId),
    request_body(content = WebhookPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated endpoint", body = Webhook),
        WebhookNotFound,
        (status = 422, description = "A field is invalid", body = Problem),
    )
)]
#[patch("/webhooks/{id:\\d+}")]
pub async fn update_webhook(
    _: CurrentAdmin,
    state: State,
    WebhookId(id): WebhookId,
    patch: ApiJson<WebhookPatch>,
) -> Reply {
    let allow_private = state.config.webhooks_allow_private_urls;
    let webhook = super::change(&state.db, allow_private, id, patch.get()?).await?;
    private_json(StatusCode::OK, &webhook)
}

/// Delete a webhook endpoint.
///
/// It gets nothing more; its deliveries, sent or not, go with it. Admins only.
#[utoipa::path(
    tag = "webhooks", operation_id = "deleteWebhook", security(("bearer" = [])),
    params(WebhookId),
    responses((status = 204, description = "Deleted"), WebhookNotFound)
)]
#[delete("/webhooks/{id:\\d+}")]
pub async fn delete_webhook(_: CurrentAdmin, state: State, WebhookId(id): WebhookId) -> Reply {
    state.db.write(move |tx| super::delete(tx, id)).await?;
    Ok(no_content())
}

/// Send a ping.
///
/// Queues a `ping` event for this endpoint, delivered and retried like any
/// other (so, to a disabled endpoint, once it is enabled): a way to test the
/// receiver and its signature check. Admins only.
#[utoipa::path(
    tag = "webhooks", operation_id = "pingWebhook", security(("bearer" = [])),
    params(WebhookId),
    responses(
        (status = 202, description = "Queued; the event's id (its `webhook-id` header)", body = PingQueued),
        WebhookNotFound,
    )
)]
#[post("/webhooks/{id:\\d+}/ping")]
pub async fn ping_webhook(_: CurrentAdmin, state: State, WebhookId(id): WebhookId) -> Reply {
    let event_id = state.db.write(move |tx| super::ping(tx, id)).await?;
    private_json(StatusCode::ACCEPTED, &PingQueued { event_id })
}

/// A queued ping.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"event_id": "evt_41"}))]
pub struct PingQueued {
    /// The `webhook-id` its deliveries carry.
    pub event_id: String,
}

editors_page! {
    /// List an endpoint's deliveries.
    ///
    /// Every event sent or to be sent to this endpoint, newest first, with its
    /// attempts so far, the last one's status code, duration and error, and
    /// the next retry's time while it is pending. Admins only.
    list_deliveries, "/webhooks/{id:\\d+}/deliveries", tag = "webhooks", operation_id = "listWebhookDeliveries",
    CurrentAdmin, [under WebhookId(id) or WebhookNotFound], DeliveryList, "A page of deliveries, newest first",
    |conn, page| super::deliveries_page(conn, id, page)
}
