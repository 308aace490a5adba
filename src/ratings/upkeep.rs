//! The ratings' upkeep, a task in every serving process: keeps the prior's
//! snapshot near what it should be and the stored ranks under it
//! (re-ranking in batches, in the background), and forgets spent vote
//! limits. Several processes may do it at once: each step is idempotent.

use std::time::Duration;

use crate::db::{Content, Db, Internal};
use crate::error::ApiError;
use crate::scores::RatingPrior;

/// How often it looks.
const EVERY: Duration = Duration::from_secs(60);

pub struct Upkeep {
    db: Db,
    config: RatingPrior,
}

impl Upkeep {
    pub fn new(db: Db, config: RatingPrior) -> Self {
        Self { db, config }
    }

    /// Runs on the current runtime. At start-up only a changed configuration
    /// (or a pass left unfinished) re-ranks; the site-wide mean's drift is
    /// looked at from the next round on, so a start changes no score.
    pub fn spawn(self) {
        actix_web::rt::spawn(async move {
            let mut drift = false;
            loop {
                if let Err(err) = self.round(drift).await {
                    tracing::warn!(error = %err, "ratings upkeep: could not finish a round");
                }
                drift = true;
                actix_web::rt::time::sleep(EVERY).await;
            }
        });
    }

    async fn round(&self, drift: bool) -> Result<(), ApiError> {
        let config = self.config;
        let upkeep = self.db.read(move |conn| Ok(super::prior_upkeep(conn, &config, drift)?)).await?;
        let retaken = match upkeep {
            super::PriorUpkeep::Nothing => None,
            _ => self.db.write::<Content, _, _>(move |tx| super::retake_prior(tx, &config, drift)).await?,
        };
        if let Some(prior) = retaken {
            let mut after = i64::MIN;
            while let Some(last) =
                self.db.write(move |tx| super::rerank(tx, &prior, after, super::RERANK_BATCH)).await?
            {
                after = last;
            }
        }
        self.db.write::<Internal, _, _>(super::forget_spent_limits).await
    }
}
