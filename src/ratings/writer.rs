//! Group commit: a process's votes go through one bounded queue to a few
//! writer tasks; each takes whatever is queued (up to [`MAX_BATCH`] votes,
//! never waiting for more) and applies it in one transaction
//! ([`super::vote`]), then answers each request with its own outcome. One
//! commit, one write of each story's counters and one of the site-wide
//! totals per batch, instead of per vote; a request is answered once its
//! vote has committed, so a voter reads its own vote.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Ballot, VoteLimits, VoteOutcome, Voted};
use crate::config::DatabaseUrl;
use crate::db::{Db, RatedStories};
use crate::error::ApiError;

/// The most votes one transaction applies: enough that commits stop
/// mattering, few enough that a batch holds its locks for milliseconds.
const MAX_BATCH: usize = 128;

/// Votes waiting for a writer, at most: past this a vote is 503 with
/// `Retry-After` rather than memory without bound or a long wait.
const QUEUE: usize = 1024;

/// What a vote that finds the queue full is told.
const QUEUE_FULL: &str = "too many votes are waiting to be written; try again shortly";

struct Queued {
    ballot: Ballot,
    reply: oneshot::Sender<Voted>,
}

/// The queue of votes to write, shared by the handlers of one process.
pub struct VoteQueue {
    sender: mpsc::Sender<Queued>,
    /// Taken in turn by the writers: one collects a batch while the others
    /// write theirs.
    receiver: Arc<Mutex<mpsc::Receiver<Queued>>>,
    limits: VoteLimits,
}

impl VoteQueue {
    pub fn new(limits: VoteLimits) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        Self { sender, receiver: Arc::new(Mutex::new(receiver)), limits }
    }

    /// Starts the writers on the current runtime. SQLite takes one writer at
    /// a time anyway: one task. On PostgreSQL a few batches are written at
    /// once, each on a pooled connection, leaving most of the pool to reads.
    pub fn spawn_writers(&self, db: &Db, url: &DatabaseUrl, pool_size: u32) {
        let writers = match url {
            DatabaseUrl::Sqlite(_) => 1,
            DatabaseUrl::Postgres(_) => (pool_size / 4).clamp(1, 4),
        };
        for _ in 0..writers {
            actix_web::rt::spawn(write_batches(db.clone(), self.receiver.clone(), self.limits));
        }
    }

    /// Queues a vote and waits until it is written (or refused).
    pub async fn submit(&self, ballot: Ballot) -> Voted {
        let (reply, answer) = oneshot::channel();
        self.sender.try_send(Queued { ballot, reply }).map_err(|_| ApiError::Overloaded(QUEUE_FULL))?;
        answer.await.map_err(|_| ApiError::unavailable(anyhow::anyhow!("the vote writer stopped")))?
    }
}

async fn write_batches(db: Db, receiver: Arc<Mutex<mpsc::Receiver<Queued>>>, limits: VoteLimits) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        let (ballots, replies): (Vec<Ballot>, Vec<_>) = batch.into_iter().map(|q| (q.ballot, q.reply)).unzip();
        let ballots = Arc::new(ballots);
        let outcomes = write(&db, &ballots, limits).await;
        batch_committed(&ballots, &outcomes);
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A client that has gone no longer waits; its vote stands.
            let _ = reply.send(outcome);
        }
    }
}

/// Writes a batch in one transaction. Refusals never fail it (they are
/// decided before anything is written); if it fails anyway (a database
/// error, a deadlock PostgreSQL broke), each vote is written again alone,
/// so that a failure is only its own vote's.
async fn write(db: &Db, ballots: &Arc<Vec<Ballot>>, limits: VoteLimits) -> Vec<Voted> {
    let all = ballots.clone();
    let err = match db.vote(move |tx| super::vote(tx, &all, &limits)).await {
        Ok(outcomes) => return outcomes,
        Err(err) if ballots.len() == 1 => return vec![Err(err)],
        Err(err) => err,
    };
    tracing::warn!(error = %err, votes = ballots.len(), "a batch of votes failed; writing them one at a time");
    let mut outcomes = Vec::with_capacity(ballots.len());
    for i in 0..ballots.len() {
        let all = ballots.clone();
        let alone = db.vote(move |tx| super::vote(tx, &all[i..=i], &limits)).await;
        let missing = || Err(ApiError::internal(anyhow::anyhow!("a vote written alone had no outcome")));
        outcomes.push(alone.and_then(|mut one| one.pop().unwrap_or_else(missing)));
    }
    outcomes
}

/// A batch names the stories whose votes it wrote, so that the response
/// cache drops only their entries ([`Db::vote`]).
impl RatedStories for Vec<Voted> {
    fn rated_stories(&self) -> Vec<i64> {
        let mut stories: Vec<i64> = self.iter().flatten().map(|(_, aggregate)| aggregate.story_id).collect();
        stories.sort_unstable();
        stories.dedup();
        stories
    }
}

/// The one place that learns of each committed batch of votes: the ballots
/// and what became of each, so the stories whose ratings changed. Counts
/// the votes by outcome.
fn batch_committed(ballots: &[Ballot], outcomes: &[Voted]) {
    let changed: Vec<i64> = ballots
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .map(|(ballot, _)| ballot.story_id)
        .collect();
    tracing::debug!(stories = ?changed, "votes committed");
    for outcome in outcomes {
        crate::metrics::vote(match outcome {
            Ok((VoteOutcome::Created, _)) => "created",
            Ok((VoteOutcome::Replaced, _)) => "replaced",
            Err(ApiError::TooManyRequests { .. }) => "throttled",
            Err(_) => continue,
        });
    }
}
