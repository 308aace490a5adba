//! What every handler can reach: built once at start-up, shared by all workers.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::keys::JwtKeys;
use crate::auth::throttle::LoginThrottle;
use crate::cache::ResponseCache;
use crate::config::Config;
use crate::db::{Db, DbSetupError};
use crate::ratings::{RatingPrior, VoteThrottle, VoterHasher};

pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub jwt: JwtKeys,
    pub login_throttle: LoginThrottle,
    pub voter_hasher: VoterHasher,
    pub vote_throttle: VoteThrottle,
    pub rating_prior: RatingPrior,
    pub response_cache: ResponseCache,
}

impl AppState {
    /// Connects, migrates and loads the keys: everything start-up must do
    /// before the first request.
    pub fn init(config: Config) -> Result<Self, DbSetupError> {
        let db = Db::connect(&config.database_url, config.database_pool_size)?;
        db.migrate()?;
        let mut conn = db.conn()?;
        let jwt = JwtKeys::load(&config, &mut conn).map_err(|e| DbSetupError::Connect(e.to_string()))?;
        let voter_hasher = VoterHasher::load(&mut conn).map_err(|e| DbSetupError::Connect(e.to_string()))?;
        drop(conn);
        Ok(Self {
            vote_throttle: VoteThrottle::new(config.votes_per_minute),
            rating_prior: RatingPrior::new(config.rating_prior_weight, config.rating_prior_mean),
            response_cache: ResponseCache::new(config.cache_ttl),
            voter_hasher,
            config: Arc::new(config),
            db,
            jwt,
            // Five wrong passwords per email, or twenty per address, per quarter hour.
            login_throttle: LoginThrottle::new(Duration::from_secs(15 * 60), 5, 20),
        })
    }
}
