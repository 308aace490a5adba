//! The suggester: a task in every server process that computes stories'
//! suggestions and stores them, so that no read computes them.
//!
//! Work is queued in `suggestion_queue`, in the transaction of the change
//! that calls for it ([`super::suggestions_changed`]). Each round takes up
//! to [`BATCH`] stories queued because they or a neighbour changed, leases
//! them (`claimed_by`, `locked_until` [`LEASE`] ahead, in a short write
//! transaction: another process passes over them), computes each on a read
//! connection — the costly part, outside any write transaction, so SQLite's
//! one writer (editors, votes) never waits for it — and then, in one write
//! transaction, stores the lists that changed and ends the leases. A process killed
//! mid-round leaves its leases to run out, and any process (itself,
//! restarted) takes them over. A story queued again while it was being
//! computed loses its lease, so what was computed for it is dropped and it
//! is computed afresh.
//!
//! With nothing else to do, it refreshes one story every [`REFRESH_EVERY`]
//! (the longest due first), so that a big site's refreshes (and the stories
//! published before suggestions were stored) cost a bounded trickle.

use std::time::{Duration, Instant};

use super::Reason;
use super::queries;
use crate::db::{Cost, Db, Internal, now};
use crate::error::ApiError;

/// How often the queue is looked at when there was nothing to do.
const TICK: Duration = Duration::from_millis(250);
/// Stories computed per round.
const BATCH: i64 = 8;
/// How long a leased story is left to its process: far more than a round
/// takes (each story's computation is bounded by the statement timeout).
const LEASE: chrono::Duration = chrono::Duration::seconds(120);
/// At most one refresh this often, per process.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

pub struct Suggester {
    db: Db,
    /// This process, as `claimed_by` names it.
    worker: String,
}

impl Suggester {
    pub fn new(db: Db) -> Self {
        let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self { db, worker }
    }

    /// Runs on the current runtime until the process ends.
    pub fn spawn(self) {
        actix_web::rt::spawn(async move {
            let mut last_refresh: Option<Instant> = None;
            loop {
                let refresh = last_refresh.is_none_or(|at| at.elapsed() >= REFRESH_EVERY);
                match self.round(refresh).await {
                    // More may be waiting: no pause.
                    Ok(Some(Reason::Changed | Reason::Neighbour)) => continue,
                    Ok(Some(Reason::Refresh)) => last_refresh = Some(Instant::now()),
                    Ok(None) => {}
                    Err(err) => tracing::warn!(error = %err, "suggester: could not compute suggestions"),
                }
                actix_web::rt::time::sleep(TICK).await;
            }
        });
    }

    /// Computes and stores the stories due, if any: those that changed or
    /// whose neighbours did, else (when `refresh`) one refresh. Returns the
    /// kind of work it found.
    async fn round(&self, refresh: bool) -> Result<Option<Reason>, ApiError> {
        let at = now();
        let urgent = [Reason::Changed, Reason::Neighbour];
        let mut due = self.db.read(move |conn| Ok(queries::due(conn, &urgent, at, BATCH)?)).await?;
        let mut found = Reason::Changed;
        if due.is_empty() && refresh {
            due = self.db.read(move |conn| Ok(queries::due(conn, &[Reason::Refresh], at, 1)?)).await?;
            found = Reason::Refresh;
        }
        if due.is_empty() {
            return Ok(None);
        }
        let worker = self.worker.clone();
        let leased = self
            .db
            .write::<Internal, _, _>(move |tx| {
                let at = now();
                Ok(queries::lease(tx, &due, &worker, at, at + LEASE)?)
            })
            .await?;
        let mut computed = Vec::with_capacity(leased.len());
        for (story_id, reason) in leased {
            let reason = Reason::try_from(reason).map_err(ApiError::internal)?;
            // A read each, so each story's work has the statement timeout's
            // budget; a costly one, so it runs on the blocking pool and takes
            // turns with readers' searches (when none is free for a moment,
            // the round fails and the leases run out: tried again later).
            let compute = move |conn: &mut _| super::compute(conn, story_id, reason);
            computed.push(self.db.read_costing(Cost::High, compute).await?);
        }
        let worker = self.worker.clone();
        // Not a `Content` write: cached public responses may show the
        // previous suggestions for up to the cache's TTL (seconds), within
        // how fresh suggestions are anyway; a target that stops being public
        // does so by a write that empties the caches itself. Emptying them
        // on every stored change would, on a big site whose refreshes change
        // a list every second, leave the cache nothing to serve.
        self.db.write::<Internal, _, _>(move |tx| super::store(tx, &worker, computed)).await?;
        Ok(Some(found))
    }
}
