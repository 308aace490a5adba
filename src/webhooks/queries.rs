//! Every SQL statement about webhooks: endpoints, events and deliveries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::EventType;
use super::dto::DeliveryStatus;
use crate::db::{DbConnection, Internal, Tx, WriteScope, now};
use crate::schema::{
    stories, webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_events, webhook_publications,
};

/// Event types as stored (and exported): the text of a JSON array of their names.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct StoredEvents(pub Vec<EventType>);

impl TryFrom<String> for StoredEvents {
    type Error = serde_json::Error;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&value).map(StoredEvents)
    }
}

impl From<StoredEvents> for String {
    fn from(events: StoredEvents) -> String {
        events_text(&events.0)
    }
}

fn events_text(events: &[EventType]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".into())
}

/// An endpoint as stored, whole (secret included): what the admin routes
/// read, and the export's row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointRow {
    pub id: i64,
    pub url: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub events: StoredEvents,
    pub description: String,
    pub disabled: bool,
    pub secret: String,
    pub created_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<EndpointRow>> {
    webhook_endpoints::table.find(id).select(EndpointRow::as_select()).first(conn).optional()
}

/// Endpoints in id order, after `after_id` when paging.
pub fn list(conn: &mut DbConnection, after_id: Option<i64>, limit: i64) -> QueryResult<Vec<EndpointRow>> {
    let mut query = webhook_endpoints::table
        .select(EndpointRow::as_select())
        .order(webhook_endpoints::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after_id {
        query = query.filter(webhook_endpoints::id.gt(after));
    }
    query.load(conn)
}

pub fn insert(
    tx: &mut Tx<'_, Internal>,
    url: &str,
    events: &[EventType],
    description: &str,
    disabled: bool,
    secret: &str,
) -> QueryResult<EndpointRow> {
    let conn: &mut DbConnection = tx;
    let id = diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::url.eq(url),
            webhook_endpoints::events.eq(events_text(events)),
            webhook_endpoints::description.eq(description),
            webhook_endpoints::disabled.eq(disabled),
            webhook_endpoints::secret.eq(secret),
            webhook_endpoints::created_at.eq(now()),
        ))
        .returning(webhook_endpoints::id)
        .get_result::<i64>(conn)?;
    find(conn, id)?.ok_or(diesel::result::Error::NotFound)
}

/// What a patch changes; `None` leaves its column alone.
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
}

/// `false` when there is no such endpoint.
pub fn update(tx: &mut Tx<'_, Internal>, id: i64, change: EndpointChange) -> QueryResult<bool> {
    let conn: &mut DbConnection = tx;
    if find(conn, id)?.is_none() {
        return Ok(false);
    }
    let columns = (
        change.url.map(|url| webhook_endpoints::url.eq(url)),
        change.events.map(|events| webhook_endpoints::events.eq(events_text(&events))),
        change.description.map(|d| webhook_endpoints::description.eq(d)),
        change.disabled.map(|disabled| webhook_endpoints::disabled.eq(disabled)),
    );
    if columns.0.is_none() && columns.1.is_none() && columns.2.is_none() && columns.3.is_none() {
        return Ok(true);
    }
    diesel::update(webhook_endpoints::table.find(id)).set(columns).execute(conn)?;
    Ok(true)
}

/// `false` when there is no such endpoint. Its deliveries go with it.
pub fn delete(tx: &mut Tx<'_, Internal>, id: i64) -> QueryResult<bool> {
    let conn: &mut DbConnection = tx;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id))).execute(conn)?;
    Ok(diesel::delete(webhook_endpoints::table.find(id)).execute(conn)? > 0)
}

/// The enabled endpoints subscribed to `kind`, held for deliveries to them
/// ([`hold`]). Endpoints are few (an admin registers each), so their event
/// lists are read and matched here.
pub fn subscribed<S: WriteScope>(tx: &mut Tx<'_, S>, kind: EventType) -> QueryResult<Vec<i64>> {
    let query = webhook_endpoints::table
        .filter(webhook_endpoints::disabled.eq(false))
        .select((webhook_endpoints::id, webhook_endpoints::events))
        .order(webhook_endpoints::id);
    let rows: Vec<(i64, String)> = match &mut **tx {
        DbConnection::Pg(pg) => query.for_key_share().load(pg)?,
        DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
    };
    Ok(rows
        .into_iter()
        .filter(|(_, events)| StoredEvents::try_from(events.clone()).is_ok_and(|e| e.0.contains(&kind)))
        .map(|(id, _)| id)
        .collect())
}

/// Whether endpoint `id` exists, holding it for deliveries to it until the
/// transaction ends. On PostgreSQL the row is locked `FOR KEY SHARE` (what
/// the deliveries' foreign keys would take): an endpoint being deleted is
/// waited for and then not found, and one not yet being deleted is deleted
/// only after this transaction. Without it, a delivery inserted while the
/// endpoint was deleted failed its foreign key: a 500, and the story write
/// it belonged to was lost. SQLite has one writer at a time.
pub fn hold<S: WriteScope>(tx: &mut Tx<'_, S>, id: i64) -> QueryResult<bool> {
    let query = webhook_endpoints::table.find(id).select(webhook_endpoints::id);
    let found: Option<i64> = match &mut **tx {
        DbConnection::Pg(pg) => query.for_key_share().first(pg).optional()?,
        DbConnection::Sqlite(sqlite) => query.first(sqlite).optional()?,
    };
    Ok(found.is_some())
}

/// Stores an event and a pending delivery of it to each of `endpoints`,
/// due at once; returns the event's id.
pub fn insert_event<S: WriteScope>(
    tx: &mut Tx<'_, S>,
    story_id: Option<i64>,
    kind: EventType,
    payload: &str,
    at: NaiveDateTime,
    endpoints: &[i64],
) -> QueryResult<i64> {
    let conn: &mut DbConnection = tx;
    let event_id = diesel::insert_into(webhook_events::table)
        .values((
            webhook_events::story_id.eq(story_id),
            webhook_events::event_type.eq(kind.as_str()),
            webhook_events::payload.eq(payload),
            webhook_events::created_at.eq(at),
        ))
        .returning(webhook_events::id)
        .get_result::<i64>(conn)?;
    // One statement per endpoint: the multi-backend connection has no batch insert.
    for endpoint in endpoints {
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::event_id.eq(event_id),
                webhook_deliveries::endpoint_id.eq(*endpoint),
                webhook_deliveries::story_id.eq(story_id),
                webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(at),
                webhook_deliveries::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(event_id)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: i64,
    #[diesel(deserialize_as = String)]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub delivered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// An endpoint's deliveries with their event types, newest first.
pub fn deliveries(
    conn: &mut DbConnection,
    endpoint_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<(DeliveryRow, EventType)>> {
    let mut query = webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .select((DeliveryRow::as_select(), webhook_events::event_type))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before_id {
        query = query.filter(webhook_deliveries::id.lt(before));
    }
    let rows: Vec<(DeliveryRow, String)> = query.load(conn)?;
    rows.into_iter()
        .map(|(row, kind)| {
            let kind = EventType::try_from(kind).map_err(|e| diesel::result::Error::DeserializationError(e.into()))?;
            Ok((row, kind))
        })
        .collect()
}

diesel::alias!(webhook_deliveries as earlier: EarlierDeliveries);

/// Up to `limit` deliveries due at `now` and not leased to anyone, to
/// endpoints that are not disabled, oldest first, each the oldest pending
/// one of its story for its endpoint: a story's later event waits until the
/// earlier one is delivered or failed.
pub fn due(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<i64>> {
    use diesel::dsl::{exists, not};
    let pending = DeliveryStatus::Pending.as_str();
    let earlier_pending = earlier
        .filter(earlier.field(webhook_deliveries::endpoint_id).eq(webhook_deliveries::endpoint_id))
        .filter(earlier.field(webhook_deliveries::story_id).eq(webhook_deliveries::story_id))
        .filter(earlier.field(webhook_deliveries::status).eq(pending))
        .filter(earlier.field(webhook_deliveries::id).lt(webhook_deliveries::id));
    // A disabled endpoint's deliveries wait, in order, until it is enabled.
    let enabled = webhook_endpoints::table.filter(webhook_endpoints::disabled.eq(false)).select(webhook_endpoints::id);
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(pending))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(webhook_deliveries::endpoint_id.eq_any(enabled))
        .filter(webhook_deliveries::locked_until.is_null().or(webhook_deliveries::locked_until.lt(now)))
        .filter(not(exists(earlier_pending)))
        .select(webhook_deliveries::id)
        .order(webhook_deliveries::id)
        .limit(limit)
        .load(conn)
}

/// Of `ids`, those still due that no other transaction is leasing now. On
/// PostgreSQL, `SELECT … FOR UPDATE SKIP LOCKED`: rows another process's
/// lease transaction holds are passed over instead of waited for, and those
/// returned stay locked until this transaction ends. On SQLite the write
/// lock already makes this transaction the only writer: all of `ids`.
pub fn lock_unleased(tx: &mut Tx<'_, Internal>, ids: &[i64], now: NaiveDateTime) -> QueryResult<Vec<i64>> {
    match &mut **tx {
        DbConnection::Pg(pg) => webhook_deliveries::table
            .filter(webhook_deliveries::id.eq_any(ids))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_deliveries::next_attempt_at.le(now))
            .filter(webhook_deliveries::locked_until.is_null().or(webhook_deliveries::locked_until.lt(now)))
            .select(webhook_deliveries::id)
            .order(webhook_deliveries::id)
            .for_update()
            .skip_locked()
            .load(pg),
        DbConnection::Sqlite(_) => Ok(ids.to_vec()),
    }
}

/// Leases delivery `id` to `worker` until `until`, if it is still due and
/// free: `false` when another process took it first. On PostgreSQL a
/// concurrent lease of the same row waits for the first to commit, then
/// finds the row leased and changes nothing; on SQLite the write lock
/// serialises them.
pub fn lease(
    tx: &mut Tx<'_, Internal>,
    id: i64,
    worker: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    let conn: &mut DbConnection = tx;
    let changed = diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_deliveries::next_attempt_at.le(now))
            .filter(webhook_deliveries::locked_until.is_null().or(webhook_deliveries::locked_until.lt(now))),
    )
    .set((webhook_deliveries::locked_until.eq(until), webhook_deliveries::claimed_by.eq(worker)))
    .execute(conn)?;
    Ok(changed == 1)
}

/// What a leased delivery needs to be sent.
#[derive(Debug, Clone, Queryable)]
pub struct Outgoing {
    pub id: i64,
    pub event_id: i64,
    pub attempts: i32,
    pub payload: String,
    pub url: String,
    pub secret: String,
}

pub fn outgoing(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Outgoing>> {
    webhook_deliveries::table
        .inner_join(webhook_events::table)
        .inner_join(webhook_endpoints::table)
        .filter(webhook_deliveries::id.eq(id))
        .select((
            webhook_deliveries::id,
            webhook_deliveries::event_id,
            webhook_deliveries::attempts,
            webhook_events::payload,
            webhook_endpoints::url,
            webhook_endpoints::secret,
        ))
        .first(conn)
        .optional()
}

/// One request made for a delivery, as `webhook_attempts` keeps it: what
/// the dispatcher records and what the deliveries page reads back.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

/// The outcome of one request: the request itself, and where it leaves its delivery.
pub struct Attempt {
    pub request: AttemptRow,
    /// `Delivered`, `Failed` (no more tries) or `Pending` with `next`.
    pub status: DeliveryStatus,
    pub next: NaiveDateTime,
}

/// Records an attempt and ends the lease, if `worker` still holds it.
pub fn record_attempt(tx: &mut Tx<'_, Internal>, worker: &str, attempt: &Attempt) -> QueryResult<()> {
    let conn: &mut DbConnection = tx;
    let request = &attempt.request;
    let delivery = webhook_deliveries::table.find(request.delivery_id);
    let held = diesel::update(delivery.filter(webhook_deliveries::claimed_by.eq(worker)))
        .set((
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::status.eq(attempt.status.as_str()),
            webhook_deliveries::next_attempt_at.eq(attempt.next),
            webhook_deliveries::last_attempt_at.eq(request.attempted_at),
            webhook_deliveries::last_status_code.eq(request.status_code),
            webhook_deliveries::last_duration_ms.eq(request.duration_ms),
            webhook_deliveries::last_error.eq(request.error.as_deref()),
            webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::claimed_by.eq(None::<String>),
            webhook_deliveries::delivered_at
                .eq((attempt.status == DeliveryStatus::Delivered).then_some(request.attempted_at)),
        ))
        .execute(conn)?;
    if held == 1 {
        diesel::insert_into(webhook_attempts::table).values(request).execute(conn)?;
    }
    Ok(())
}

/// The attempts of deliveries `ids`, newest first.
pub fn attempts_of(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<AttemptRow>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(ids))
        .select(AttemptRow::as_select())
        .order(webhook_attempts::id.desc())
        .load(conn)
}

/// Published stories whose publication time passed in `(since, now]`, that
/// were scheduled when last changed (their publication time is after their
/// last change) and whose `story.published` is not recorded yet.
pub fn came_due(conn: &mut DbConnection, since: NaiveDateTime, now: NaiveDateTime) -> QueryResult<Vec<i64>> {
    use diesel::dsl::{exists, not};
    let announced = webhook_publications::table
        .filter(webhook_publications::story_id.eq(stories::id))
        .filter(webhook_publications::published_at.nullable().eq(stories::published_at));
    stories::table
        .filter(stories::status.eq("published"))
        .filter(stories::published_at.le(now))
        .filter(stories::published_at.gt(since))
        .filter(stories::published_at.gt(stories::updated_at.nullable()))
        .filter(not(exists(announced)))
        .select(stories::id)
        .order(stories::published_at)
        .limit(100)
        .load(conn)
}

/// Marks story `story_id`'s publication at `published_at` as announced:
/// `false` when it already was.
pub fn mark_published(
    tx: &mut Tx<'_, crate::db::Content>,
    story_id: i64,
    published_at: NaiveDateTime,
) -> QueryResult<bool> {
    let inserted = tx.savepoint(|tx| {
        let conn: &mut DbConnection = tx;
        diesel::insert_into(webhook_publications::table)
            .values((webhook_publications::story_id.eq(story_id), webhook_publications::published_at.eq(published_at)))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(err) if crate::db::is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Deletes up to `limit` events recorded before `cutoff` that have no
/// delivery still pending, with their deliveries and attempts (the foreign
/// keys cascade): the oldest first, by the index on `created_at`. Returns
/// how many events went.
pub fn prune(tx: &mut Tx<'_, Internal>, cutoff: NaiveDateTime, limit: i64) -> QueryResult<usize> {
    use diesel::dsl::{exists, not};
    let conn: &mut DbConnection = tx;
    let pending = webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq(webhook_events::id))
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()));
    let finished: Vec<i64> = webhook_events::table
        .filter(webhook_events::created_at.lt(cutoff))
        .filter(not(exists(pending)))
        .select(webhook_events::id)
        .order(webhook_events::created_at)
        .limit(limit)
        .load(conn)?;
    diesel::delete(webhook_events::table.filter(webhook_events::id.eq_any(&finished))).execute(conn)
}
