//! Signing keys and JWTs.
//!
//! Tokens are HS256 only (the allow-list), carry a `kid` header naming the key
//! that signed them, and are verified against every key we still know, so a
//! rotated key keeps its tokens valid until they expire. With `JWT_SECRET`
//! set, that secret signs and `JWT_PREVIOUS_SECRETS` verify; without it, a
//! key is generated once and kept in the database, so tokens survive restarts
//! and every process on one PostgreSQL agrees; `anthology keys rotate` adds
//! a new one, which every process picks up within a minute.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use diesel::QueryResult;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::db::{DbConnection, Internal, Tx};
use crate::editors::Role;
use crate::error::ApiError;
use crate::server_keys::{self, KeyPurpose, StoredKey};

pub const ISSUER: &str = "anthology";
pub const AUDIENCE: &str = "anthology-editors";
/// Clock skew tolerated between processes, in seconds.
const LEEWAY_SECS: u64 = 5;

/// What an Anthology access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The editor's id, as a string (RFC 7519 `StringOrURI`).
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The editor's token version when issued: disabling an editor or changing
    /// its role bumps the version, which revokes every older token at once.
    pub ver: i64,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

/// The keys in use: one signs, all verify.
struct KeySet {
    signing_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    loaded_at: Instant,
}

impl KeySet {
    fn new<'a>(signing: &'a [u8], previous: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut decoding = HashMap::new();
        for secret in previous.into_iter().chain(std::iter::once(signing)) {
            decoding.insert(key_id(secret), DecodingKey::from_secret(secret));
        }
        Self {
            signing_kid: key_id(signing),
            encoding: EncodingKey::from_secret(signing),
            decoding,
            loaded_at: Instant::now(),
        }
    }
}

pub struct JwtKeys {
    /// Keys kept in the database (no `JWT_SECRET`) are re-read now and then,
    /// so a rotation reaches every process without a restart.
    from_database: bool,
    keys: RwLock<KeySet>,
    validation: Validation,
    ttl: Duration,
}

/// How old the database keys may grow before a request re-reads them…
const KEYS_FRESH_FOR: Duration = Duration::from_secs(60);
/// …and how often a token naming a key we do not know may make us look.
const UNKNOWN_KID_RECHECK: Duration = Duration::from_secs(1);

impl JwtKeys {
    /// Loads the keys at start-up: the configured ones, or the database's
    /// (creating the first when there is none).
    pub fn load(config: &Config, tx: &mut Tx<'_, Internal>) -> QueryResult<Self> {
        match &config.jwt_secret {
            Some(secret) => Ok(Self::from_secrets(secret, &config.jwt_previous_secrets, config.jwt_ttl)),
            None => {
                let keys =
                    key_set(&server_keys::ensure(tx, KeyPurpose::Jwt)?).ok_or(diesel::result::Error::NotFound)?;
                Ok(Self::with(keys, true, config.jwt_ttl))
            }
        }
    }

    /// Configured keys: `signing` signs, all verify; never re-read.
    pub fn from_secrets(signing: &[u8], previous: &[Vec<u8>], ttl: Duration) -> Self {
        Self::with(KeySet::new(signing, previous.iter().map(Vec::as_slice)), false, ttl)
    }

    fn with(keys: KeySet, from_database: bool, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self { from_database, keys: RwLock::new(keys), validation, ttl }
    }

    /// Re-reads database keys when they are a minute old, or when `wanted_kid`
    /// is one we do not know (a rotation elsewhere). Call on the blocking pool.
    pub fn refresh(&self, conn: &mut DbConnection, wanted_kid: Option<&str>) -> QueryResult<()> {
        if !self.from_database {
            return Ok(());
        }
        let stale = {
            let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let age = keys.loaded_at.elapsed();
            let unknown = wanted_kid.is_some_and(|kid| !keys.decoding.contains_key(kid));
            age > KEYS_FRESH_FOR || (unknown && age > UNKNOWN_KID_RECHECK)
        };
        if stale && let Some(fresh) = key_set(&server_keys::load(conn, KeyPurpose::Jwt)?) {
            *self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        }
        Ok(())
    }

    pub fn issue(&self, editor_id: i64, role: Role, token_version: i64) -> Result<IssuedToken, ApiError> {
        let now = Utc::now().timestamp();
        let ttl = self.ttl.as_secs();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: editor_id.to_string(),
            role,
            iat: now,
            nbf: now,
            exp: now + ttl as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            ver: token_version,
        };
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys.signing_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &keys.encoding).map_err(ApiError::internal)?;
        Ok(IssuedToken { token, expires_in: ttl })
    }

    /// Checks signature, algorithm, key id, issuer, audience and times.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_token())?;
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = header.kid.as_deref().and_then(|kid| keys.decoding.get(kid)).ok_or_else(invalid_token)?;
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| invalid_token())
    }
}

/// The key id a token names, if it names one (before any other check).
pub fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok().and_then(|header| header.kid)
}

/// The database's keys: the newest signs, all verify; `None` if there are none.
fn key_set(stored: &[StoredKey]) -> Option<KeySet> {
    let (newest, older) = stored.split_last()?;
    Some(KeySet::new(&newest.secret.0, older.iter().map(|key| key.secret.0.as_slice())))
}

/// What a rotation did.
pub struct Rotation {
    pub new_kid: String,
    pub retired: usize,
}

/// Adds a new database signing key, which every process signs with within a
/// minute, and deletes keys that were replaced long enough ago that no token
/// they signed can still be valid (`token_ttl` plus the minute processes
/// may take to switch). Keys from `JWT_SECRET` are rotated by configuration.
pub fn rotate(tx: &mut Tx<'_, Internal>, token_ttl: Duration) -> QueryResult<Rotation> {
    server_keys::ensure(tx, KeyPurpose::Jwt)?;
    server_keys::add(tx, KeyPurpose::Jwt)?;
    let keys = server_keys::load(tx, KeyPurpose::Jwt)?;
    let now = crate::db::now();
    let grace = chrono::Duration::from_std(token_ttl + KEYS_FRESH_FOR).unwrap_or(chrono::Duration::MAX);
    // A key is retired when the key after it has been signing for longer than the grace.
    let retired: Vec<String> =
        keys.windows(2).filter(|pair| now - pair[1].created_at > grace).map(|pair| pair[0].kid.clone()).collect();
    server_keys::delete(tx, &retired)?;
    let newest = keys.last().ok_or(diesel::result::Error::NotFound)?;
    Ok(Rotation { new_kid: key_id(&newest.secret.0), retired: retired.len() })
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized("the access token is invalid or has expired")
}

/// A key id that names a secret without revealing it.
fn key_id(secret: &[u8]) -> String {
    let digest = Sha256::digest(secret);
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_rotated_key_still_verifies_its_tokens() {
        let old = JwtKeys::from_secrets(SECRET, &[], Duration::from_secs(60));
        let token = old.issue(7, Role::Editor, 0).unwrap().token;
        let new_secret = b"fedcba9876543210fedcba9876543210".to_vec();
        let rotated = JwtKeys::from_secrets(&new_secret, &[SECRET.to_vec()], Duration::from_secs(60));
        assert_eq!(rotated.verify(&token).unwrap().sub, "7");
        let forgotten = JwtKeys::from_secrets(&new_secret, &[], Duration::from_secs(60));
        assert!(forgotten.verify(&token).is_err());
    }
}
