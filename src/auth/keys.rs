//! Signing keys and JWTs.
//!
//! Tokens are HS256 only (the allow-list), carry a `kid` header naming the key
//! that signed them, and are verified against every key we still know, so a
//! rotated key keeps its tokens valid until they expire. With `JWT_SECRET`
//! set, that secret signs and `JWT_PREVIOUS_SECRETS` verify; without it, a
//! key is generated once and kept in the database, so tokens survive restarts
//! and every process on one PostgreSQL agrees; `anthology keys rotate` adds
//! a new one, which every process picks up within a minute.
//!
//! A retired key (one a newer key replaced) verifies only tokens it signed
//! before its retirement: its `iat` must be no later than the retirement
//! (plus the leeway), so a leaked old key cannot mint fresh tokens. Database
//! keys record their retirement (`server_keys.retired_at`); a configured
//! previous secret has none recorded, so it counts as retired when this
//! process read its configuration — the latest moment it can have been
//! replaced. Every token must also have an `iat` that is not in the future
//! and a lifetime (`exp - iat`) no longer than `JWT_TTL_SECONDS`. What is
//! left to a leaked retired key is a token backdated to before its
//! retirement, which expires at most one token lifetime after it;
//! `anthology keys revoke` ends even those (within a minute everywhere).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{NaiveDateTime, Utc};
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

/// A key that verifies, and when it stopped signing (Unix seconds), if it has.
struct VerifyingKey {
    key: DecodingKey,
    retired_at: Option<i64>,
}

/// The keys in use: one signs, all verify.
struct KeySet {
    signing_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, VerifyingKey>,
    loaded_at: Instant,
}

impl KeySet {
    /// `previous` are retired keys, each with its retirement time.
    fn new<'a>(signing: &'a [u8], previous: impl IntoIterator<Item = (&'a [u8], i64)>) -> Self {
        let mut decoding = HashMap::new();
        let signing_key = (signing, None);
        for (secret, retired_at) in
            previous.into_iter().map(|(s, at)| (s, Some(at))).chain(std::iter::once(signing_key))
        {
            decoding.insert(key_id(secret), VerifyingKey { key: DecodingKey::from_secret(secret), retired_at });
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

    /// Configured keys: `signing` signs, all verify; never re-read. The
    /// previous ones count as retired now, when the configuration is read.
    pub fn from_secrets(signing: &[u8], previous: &[Vec<u8>], ttl: Duration) -> Self {
        let read_at = Utc::now().timestamp();
        Self::with(KeySet::new(signing, previous.iter().map(|secret| (secret.as_slice(), read_at))), false, ttl)
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
        if stale {
            self.reload(conn)?;
        }
        Ok(())
    }

    /// Re-reads database keys now, whatever their age: logins call it before
    /// signing, so no token is signed with a key after its retirement (but
    /// for one that a rotation retires during the password check, well
    /// inside the leeway). Call on the blocking pool.
    pub fn reload(&self, conn: &mut DbConnection) -> QueryResult<()> {
        if self.from_database
            && let Some(fresh) = key_set(&server_keys::load(conn, KeyPurpose::Jwt)?)
        {
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

    /// Checks signature, algorithm, key id, issuer, audience and times:
    /// `nbf` and `exp`, and that `iat` is not in the future, not after the
    /// signing key's retirement, and no longer before `exp` than a token lives.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_token())?;
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = header.kid.as_deref().and_then(|kid| keys.decoding.get(kid)).ok_or_else(invalid_token)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| invalid_token())?;
        let leeway = LEEWAY_SECS as i64;
        let issued_in_time = claims.iat <= Utc::now().timestamp() + leeway
            && key.retired_at.is_none_or(|retired_at| claims.iat <= retired_at + leeway)
            && claims.exp.saturating_sub(claims.iat) <= self.ttl.as_secs() as i64;
        if !issued_in_time {
            return Err(invalid_token());
        }
        Ok(claims)
    }
}

/// The key id a token names, if it names one (before any other check).
pub fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok().and_then(|header| header.kid)
}

/// The database's keys: the newest signs, all verify; `None` if there are
/// none. An older key without a recorded retirement retired when the key
/// after it was made.
fn key_set(stored: &[StoredKey]) -> Option<KeySet> {
    let (newest, _) = stored.split_last()?;
    let retired = stored.windows(2).map(|pair| {
        let retired_at = pair[0].retired_at.unwrap_or(pair[1].created_at);
        (pair[0].secret.0.as_slice(), retired_at.and_utc().timestamp())
    });
    Some(KeySet::new(&newest.secret.0, retired))
}

/// What a rotation did.
pub struct Rotation {
    pub new_kid: String,
    pub retired: usize,
}

/// Adds a new database signing key, which logins sign with at once (and
/// every process within a minute), and records when the old one retired:
/// tokens it signs after that are refused. Deletes keys that retired long
/// enough ago that no token they signed can still be valid (`token_ttl`
/// plus the minute processes may take to notice). Keys from `JWT_SECRET`
/// are rotated by configuration.
pub fn rotate(tx: &mut Tx<'_, Internal>, token_ttl: Duration) -> QueryResult<Rotation> {
    server_keys::ensure(tx, KeyPurpose::Jwt)?;
    let now = crate::db::now();
    server_keys::retire(tx, KeyPurpose::Jwt, now)?;
    server_keys::add(tx, KeyPurpose::Jwt)?;
    let keys = server_keys::load(tx, KeyPurpose::Jwt)?;
    let grace = chrono::Duration::from_std(token_ttl + KEYS_FRESH_FOR).unwrap_or(chrono::Duration::MAX);
    let (newest, older) = keys.split_last().ok_or(diesel::result::Error::NotFound)?;
    let expired: Vec<String> = keys
        .windows(2)
        .filter(|pair| now - pair[0].retired_at.unwrap_or(pair[1].created_at) > grace)
        .map(|pair| pair[0].kid.clone())
        .collect();
    debug_assert!(expired.len() <= older.len());
    server_keys::delete(tx, &expired)?;
    Ok(Rotation { new_kid: key_id(&newest.secret.0), retired: expired.len() })
}

/// A database signing key as `anthology keys list` shows it.
pub struct KeyInfo {
    /// The id tokens name in their `kid` header.
    pub kid: String,
    pub created_at: NaiveDateTime,
    /// `None` for the key that signs now.
    pub retired_at: Option<NaiveDateTime>,
}

/// The database's signing keys, oldest first; the last signs.
pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<KeyInfo>> {
    let keys = server_keys::load(conn, KeyPurpose::Jwt)?;
    let last = keys.len().saturating_sub(1);
    Ok(keys
        .iter()
        .enumerate()
        .map(|(i, key)| KeyInfo {
            kid: key_id(&key.secret.0),
            created_at: key.created_at,
            retired_at: if i == last { None } else { Some(key.retired_at.unwrap_or(keys[i + 1].created_at)) },
        })
        .collect())
}

/// Which keys `anthology keys revoke` drops.
pub enum Revoke<'a> {
    /// The key with this id (as a token's `kid` names it).
    Key(&'a str),
    /// Every key but the one that signs now.
    AllButCurrent,
}

/// Deletes retired signing keys at once, so the tokens they signed stop
/// working (in every process within its key refresh, a minute), unlike
/// [`rotate`], which waits until those tokens have expired. The key that
/// signs now cannot be revoked: rotate first. Returns the ids deleted.
pub fn revoke(tx: &mut Tx<'_, Internal>, which: Revoke<'_>) -> Result<Vec<String>, ApiError> {
    let keys = server_keys::load(tx, KeyPurpose::Jwt)?;
    let Some((current, older)) = keys.split_last() else {
        return Err(ApiError::BadRequest("there are no signing keys in the database".into()));
    };
    let doomed: Vec<&StoredKey> = match which {
        Revoke::AllButCurrent => older.iter().collect(),
        Revoke::Key(kid) if key_id(&current.secret.0) == kid => {
            return Err(ApiError::Conflict(format!(
                "{kid} is the key that signs now: run `anthology keys rotate` first, then revoke it"
            )));
        }
        Revoke::Key(kid) => {
            let key = older.iter().find(|key| key_id(&key.secret.0) == kid);
            vec![key.ok_or_else(|| ApiError::BadRequest(format!("no signing key has the id {kid}")))?]
        }
    };
    let rows: Vec<String> = doomed.iter().map(|key| key.kid.clone()).collect();
    server_keys::delete(tx, &rows)?;
    Ok(doomed.iter().map(|key| key_id(&key.secret.0)).collect())
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

    fn token(secret: &[u8], iat: i64, lifetime: i64) -> String {
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "7".into(),
            role: Role::Editor,
            iat,
            nbf: iat,
            exp: iat + lifetime,
            jti: "j".into(),
            ver: 0,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key_id(secret));
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn a_retired_key_verifies_only_tokens_issued_before_its_retirement() {
        let now = Utc::now().timestamp();
        let new_secret = b"fedcba9876543210fedcba9876543210";
        let ttl = Duration::from_secs(600);
        // The old key retired 100 s ago.
        let keys = JwtKeys::with(KeySet::new(new_secret, [(SECRET, now - 100)]), false, ttl);
        assert!(keys.verify(&token(SECRET, now - 200, 600)).is_ok());
        // Minted with the old key after the new one took over: forged.
        assert!(keys.verify(&token(SECRET, now - 50, 600)).is_err());
        // The signing key has no retirement.
        assert!(keys.verify(&token(new_secret, now, 600)).is_ok());
        // Configured previous secrets retire when the configuration is read.
        let configured = JwtKeys::from_secrets(new_secret, &[SECRET.to_vec()], ttl);
        assert!(configured.verify(&token(SECRET, now - 60, 600)).is_ok());
        assert_eq!(
            configured.keys.read().unwrap().decoding[&key_id(SECRET)].retired_at.map(|at| at >= now),
            Some(true)
        );
    }

    #[test]
    fn future_iat_and_overlong_lifetimes_are_refused() {
        let now = Utc::now().timestamp();
        let keys = JwtKeys::from_secrets(SECRET, &[], Duration::from_secs(600));
        assert!(keys.verify(&token(SECRET, now, 600)).is_ok());
        assert!(keys.verify(&token(SECRET, now + 60, 600)).is_err(), "iat in the future");
        assert!(keys.verify(&token(SECRET, now, 601)).is_err(), "lives longer than JWT_TTL_SECONDS");
    }

    #[test]
    fn database_keys_retire_when_recorded_or_when_their_successor_came() {
        let at = |secs: i64| chrono::DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
        let key = |secret: &[u8], created: i64, retired: Option<i64>| StoredKey {
            kid: String::from_utf8_lossy(secret).into_owned(),
            secret: server_keys::Secret(secret.to_vec()),
            created_at: at(created),
            retired_at: retired.map(at),
        };
        let set = key_set(&[
            key(b"one-one-one-one-one-one-one-one-", 100, Some(250)),
            key(b"two-two-two-two-two-two-two-two-", 200, None),
            key(b"three-three-three-three-three-th", 300, None),
        ])
        .unwrap();
        let retired = |secret: &[u8]| set.decoding[&key_id(secret)].retired_at;
        assert_eq!(retired(b"one-one-one-one-one-one-one-one-"), Some(250));
        assert_eq!(retired(b"two-two-two-two-two-two-two-two-"), Some(300));
        assert_eq!(retired(b"three-three-three-three-three-th"), None);
        assert_eq!(set.signing_kid, key_id(b"three-three-three-three-three-th"));
    }

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
