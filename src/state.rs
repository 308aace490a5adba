//! What every handler can reach: built once at start-up, shared by all workers.

use std::sync::Arc;

use crate::auth::keys::JwtKeys;
use crate::auth::password::{CHECK_WAIT, CheckSlots};
use crate::auth::throttle::LoginThrottle;
use crate::cache::ResponseCache;
use crate::config::Config;
use crate::db::{Db, DbSetupError, Internal};
use crate::pagination::CursorKey;
use crate::preview::PreviewKey;
use crate::ratings::{VoteLimits, VoteQueue, VoteThrottle, VoterHasher};
use crate::scores::RatingPrior;

/// The state as handlers take it.
pub type State = actix_web::web::Data<AppState>;

pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub(crate) jwt: JwtKeys,
    pub(crate) login_throttle: LoginThrottle,
    pub(crate) password_checks: CheckSlots,
    pub(crate) voter_hasher: VoterHasher,
    pub(crate) preview_key: PreviewKey,
    /// Seals list cursors; the same in every process on the database.
    pub(crate) cursor_key: CursorKey,
    pub(crate) vote_throttle: VoteThrottle,
    /// Votes on their way to the database, written in batches.
    pub(crate) votes: VoteQueue,
    pub(crate) rating_prior: RatingPrior,
    pub(crate) response_cache: ResponseCache,
}

impl AppState {
    /// Connects, migrates and loads the keys: everything start-up must do
    /// before the first request.
    pub fn init(config: Config) -> Result<Self, DbSetupError> {
        crate::metrics::install();
        let response_cache = ResponseCache::new(config.cache_ttl);
        let db = Db::connect(&config.database_url, config.database_pool_size, config.database_statement_timeout)?
            .on_public_write(response_cache.invalidation_hook());
        db.migrate()?;
        let (jwt, voter_hasher, preview_key, cursor_key) = db
            .write_now::<Internal, _, _>(|tx| {
                let keys = (JwtKeys::load(&config, tx)?, VoterHasher::load(tx)?);
                Ok((keys.0, keys.1, PreviewKey::load(tx)?, CursorKey::load(tx)?))
            })
            .map_err(|e| DbSetupError::Connect(format!("{:#}", anyhow::Error::from(e))))?;
        Ok(Self {
            vote_throttle: VoteThrottle::new(config.votes_per_minute),
            votes: VoteQueue::new(VoteLimits {
                per_minute: config.votes_per_minute,
                new_voters_per_day: config.new_voters_per_day,
            }),
            rating_prior: RatingPrior::new(config.rating_prior_weight, config.rating_prior_mean),
            login_throttle: LoginThrottle::new(config.login_failures_per_email),
            password_checks: CheckSlots::new(
                config
                    .login_concurrent_checks
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
                CHECK_WAIT,
            ),
            response_cache,
            voter_hasher,
            preview_key,
            cursor_key,
            config: Arc::new(config),
            db,
            jwt,
        })
    }
}
