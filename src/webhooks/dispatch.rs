//! The dispatcher: a task in every server process that sends the outbox.
//!
//! Every [`TICK`] it looks for due deliveries, leases them in a write
//! transaction (`locked_until`, [`LEASE`] ahead, and `claimed_by`: a lease
//! one process holds, no other takes; on PostgreSQL the rows are first
//! locked with `FOR UPDATE SKIP LOCKED`, so processes pass over each other's
//! instead of waiting), sends each, and records the outcome:
//! delivered on a 2xx answer; otherwise a retry after a growing delay
//! ([`retry_delay`]), and failed once they run out, more than a day later.
//! A process that dies mid-send leaves its lease to expire, and another (or
//! itself, restarted) sends again: delivery is at least once.
//!
//! Scheduled stories turn public with no write to report it, so each tick
//! also looks for published stories whose publication time has passed, that
//! were scheduled when last changed, and whose `story.published` is not yet
//! recorded (`webhook_publications`), and records it.
//!
//! Only the oldest pending delivery of a story to an endpoint is ever due
//! ([`queries::due`]), so a story's events arrive in order; a disabled
//! endpoint's deliveries wait until it is enabled again.
//!
//! Every [`PRUNE_EVERY`] it also deletes events older than
//! `WEBHOOKS_RETENTION_DAYS` that have nothing left to send, with their
//! deliveries and attempts, a batch per transaction.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::address::{self, Refused};
use super::dto::DeliveryStatus;
use super::queries::{self, Attempt, AttemptRow, Outgoing};
use crate::db::{Content, Db, Internal, now};
use crate::error::ApiError;

/// How often the outbox is looked at.
const TICK: Duration = Duration::from_millis(500);
/// How long a leased delivery is left to its process: more than a request
/// may take ([`REQUEST_TIMEOUT`]), DNS included.
const LEASE: Duration = Duration::from_secs(30);
/// How far back the dispatcher looks for scheduled stories that came due:
/// one whose time came while no process ran for longer is not announced.
const CAME_DUE_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long looking up a receiver's host may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a receiver may take to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries leased per tick, and so sent at once by one process.
const BATCH: i64 = 32;
/// The most of a receiver's answer read (and then dropped).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How often old events are pruned, and how many go per transaction.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: i64 = 500;
/// Retry delays as multiples of the first (`WEBHOOKS_RETRY_BASE_MS`, 5 s by
/// default): 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 16 h —
/// 31 h 42 min in all, then the delivery is failed.
const RETRY_FACTORS: [u32; 10] = [1, 6, 24, 120, 360, 720, 1440, 2880, 5760, 11520];

/// The wait after failed attempt number `attempts` (1 for the first), or
/// `None` when there are no more tries.
pub fn retry_delay(base: Duration, attempts: i32) -> Option<Duration> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    RETRY_FACTORS.get(index).map(|factor| base * *factor)
}

/// The `webhook-signature` of a message, as Standard Webhooks defines it:
/// `v1,` and base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Sends the outbox of the database `db` until the process ends.
pub struct Dispatcher {
    db: Db,
    allow_private: bool,
    retry_base: Duration,
    /// How long events are kept once they have nothing left to send.
    retention: Duration,
    /// This process, as `claimed_by` names it.
    worker: String,
}

impl Dispatcher {
    pub fn new(db: Db, allow_private: bool, retry_base: Duration, retention: Duration) -> Self {
        let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self { db, allow_private, retry_base, retention, worker }
    }

    /// Runs on the current actix runtime (the HTTP client is not `Send`).
    pub fn spawn(self) {
        actix_web::rt::spawn(async move {
            let client = awc::Client::builder().disable_redirects().timeout(REQUEST_TIMEOUT).finish();
            let mut last_pruned: Option<Instant> = None;
            loop {
                if let Err(err) = self.tick(&client).await {
                    tracing::warn!(error = %err, "webhook dispatcher: could not send the outbox");
                }
                if last_pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                    last_pruned = Some(Instant::now());
                    if let Err(err) = self.prune().await {
                        tracing::warn!(error = %err, "webhook dispatcher: could not prune old events");
                    }
                }
                actix_web::rt::time::sleep(TICK).await;
            }
        });
    }

    /// Records the events of scheduled stories that came due, then leases
    /// what is due and sends it.
    async fn tick(&self, client: &awc::Client) -> Result<(), ApiError> {
        // A failure here must not hold up what is already due.
        if let Err(err) = self.announce_came_due().await {
            tracing::warn!(error = %err, "webhook dispatcher: could not look for scheduled stories that came due");
        }
        let at = now();
        let due = self.db.read(move |conn| Ok(queries::due(conn, at, BATCH)?)).await?;
        if due.is_empty() {
            return Ok(());
        }
        let worker = self.worker.clone();
        let leased = self
            .db
            .write::<Internal, _, _>(move |tx| {
                let at = now();
                let until = at + chrono::Duration::from_std(LEASE).map_err(ApiError::internal)?;
                let mut leased = Vec::new();
                for id in queries::lock_unleased(tx, &due, at)? {
                    if queries::lease(tx, id, &worker, at, until)? {
                        leased.extend(queries::outgoing(tx, id)?);
                    }
                }
                Ok(leased)
            })
            .await?;
        let sends = leased.into_iter().map(|outgoing| self.deliver(client, outgoing));
        for outcome in futures_util::future::join_all(sends).await {
            outcome?;
        }
        Ok(())
    }

    /// `story.published` for scheduled stories whose time came in the last
    /// [`CAME_DUE_WINDOW`]: a cheap read most of the time, and a write only
    /// when there are some. Each is recorded once, whichever process sees it
    /// first ([`super::mark_published`]).
    async fn announce_came_due(&self) -> Result<(), ApiError> {
        let at = now();
        let since = at - chrono::Duration::from_std(CAME_DUE_WINDOW).map_err(ApiError::internal)?;
        let due = self.db.read(move |conn| Ok(queries::came_due(conn, since, at)?)).await?;
        if due.is_empty() {
            return Ok(());
        }
        self.db
            .write::<Content, _, _>(move |tx| {
                for id in due {
                    crate::stories::announce_came_due(tx, id)?;
                }
                Ok(())
            })
            .await
    }

    /// Deletes the events past their retention, a batch per transaction so
    /// that no transaction holds the write lock for long.
    async fn prune(&self) -> Result<(), ApiError> {
        let retention = chrono::Duration::from_std(self.retention).map_err(ApiError::internal)?;
        loop {
            let cutoff = now() - retention;
            let pruned =
                self.db.write::<Internal, _, _>(move |tx| Ok(queries::prune(tx, cutoff, PRUNE_BATCH)?)).await?;
            if pruned < PRUNE_BATCH as usize {
                return Ok(());
            }
        }
    }

    /// Sends one delivery and records the outcome.
    async fn deliver(&self, client: &awc::Client, outgoing: Outgoing) -> Result<(), ApiError> {
        let started = Instant::now();
        let at = now();
        let sent = self.send(client, &outgoing).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status_code, error) = match sent {
            Ok(code) if (200..300).contains(&code) => (Some(i32::from(code)), None),
            Ok(code) => (Some(i32::from(code)), Some(format!("the receiver answered {code}"))),
            Err(error) => (None, Some(error)),
        };
        let attempts = outgoing.attempts + 1;
        let (status, next) = match (&error, retry_delay(self.retry_base, attempts)) {
            (None, _) => (DeliveryStatus::Delivered, at),
            (Some(_), Some(delay)) => (DeliveryStatus::Pending, later(delay)),
            (Some(_), None) => (DeliveryStatus::Failed, at),
        };
        if let Some(error) = &error {
            tracing::info!(delivery = outgoing.id, attempts, error = %error, "webhook delivery failed");
        }
        crate::metrics::webhook_delivery(match status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retrying",
            DeliveryStatus::Failed => "failed",
        });
        let request = AttemptRow { delivery_id: outgoing.id, attempted_at: at, status_code, duration_ms, error };
        let (attempt, worker) = (Attempt { request, status, next }, self.worker.clone());
        self.db.write::<Internal, _, _>(move |tx| Ok(queries::record_attempt(tx, &worker, &attempt)?)).await
    }

    /// One request: the receiver's status code, or why there was none.
    async fn send(&self, client: &awc::Client, outgoing: &Outgoing) -> Result<u16, String> {
        let key = super::secret_key(&outgoing.secret).ok_or("the endpoint's secret is malformed")?;
        let address = self.address(&outgoing.url).await?;
        let id = super::event_id(outgoing.event_id);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature(&key, &id, timestamp, &outgoing.payload);
        let request = client
            .post(&outgoing.url)
            // Connect to the address just checked, not to a second lookup's.
            .address(address)
            .insert_header(("content-type", "application/json"))
            .insert_header(("user-agent", concat!("Anthology-Webhooks/", env!("CARGO_PKG_VERSION"))))
            .insert_header(("webhook-id", id.as_str()))
            .insert_header(("webhook-timestamp", timestamp.to_string()))
            .insert_header(("webhook-signature", signature));
        let mut response = request.send_body(outgoing.payload.clone()).await.map_err(|e| e.to_string())?;
        // The answer's body is not used; read a little of it so the
        // connection can be reused, and no more.
        let _ = response.body().limit(MAX_RESPONSE_BYTES).await;
        Ok(response.status().as_u16())
    }

    /// The address to connect to: the URL's host, looked up now, refused
    /// when it is private (unless allowed).
    async fn address(&self, url: &str) -> Result<SocketAddr, String> {
        let (url, allow_private) = (url.to_owned(), self.allow_private);
        let lookup = actix_web::web::block(move || match allow_private {
            true => address::resolve(&url),
            false => address::resolve_public(&url),
        });
        let resolved = actix_web::rt::time::timeout(LOOKUP_TIMEOUT, lookup)
            .await
            .map_err(|_| "looking up the host took too long".to_owned())?
            .map_err(|e| e.to_string())?;
        resolved.map_err(|refused: Refused| refused.to_string())?.first().copied().ok_or_else(|| "no address".into())
    }
}

fn later(delay: Duration) -> NaiveDateTime {
    now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_last_more_than_a_day_then_stop() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_delay(base, 1), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(base, 2), Some(Duration::from_secs(30)));
        assert_eq!(retry_delay(base, 0), None);
        let total: Duration = (1..).map_while(|n| retry_delay(base, n)).sum();
        assert!(total > Duration::from_secs(24 * 3600), "{total:?}");
        assert_eq!(retry_delay(base, RETRY_FACTORS.len() as i32 + 1), None);
    }

    /// The example of the Standard Webhooks specification's test vectors.
    #[test]
    fn signs_as_standard_webhooks_does() {
        let key = super::super::secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
