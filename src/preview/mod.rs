//! Draft previews: signed, expiring links that let anyone holding one read a
//! story as it is now, whatever its status — so an editor can show a draft in
//! the real front-end before publishing.
//!
//! A token is `base64url(story id, expiry, preview generation)` and an
//! HMAC-SHA256 of it under a key kept in the database (so every process
//! accepts every process's tokens). It is checked in constant time, then its
//! generation against the story's: revoking a story's previews moves the
//! generation on, and deleting the story removes it, so old tokens stop
//! working at once. Anything wrong with a token is a plain 404.
//!
//! Routes: `handlers.rs`. SQL: `queries.rs`. Wire types: `dto.rs`.

pub(crate) mod dto;
pub(crate) mod handlers;
mod queries;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::{DbConnection, Internal, Tx};
use crate::error::ApiError;
use crate::http::Audience;
use crate::server_keys::{self, KeyPurpose};
use crate::stories::StoryKey;
use crate::stories::dto::Story;
use dto::PreviewLink;

/// A preview lives a day unless asked otherwise (a week at most: `PreviewRequest`).
pub const DEFAULT_LIFETIME_SECS: i64 = 24 * 3600;

/// Signs and checks preview tokens.
pub struct PreviewKey {
    key: Vec<u8>,
}

/// What a token says.
#[derive(Debug, PartialEq, Eq)]
struct Claims {
    story_id: i64,
    expires_at: i64,
    generation: i64,
}

impl PreviewKey {
    /// The key is made once and kept in the database, like the voter key.
    pub fn load(tx: &mut Tx<'_, Internal>) -> QueryResult<Self> {
        let mut keys = server_keys::ensure(tx, KeyPurpose::Preview)?;
        Ok(Self { key: keys.swap_remove(0).secret.0 })
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    fn sign(&self, claims: &Claims) -> String {
        let payload = format!("{}.{}.{}", claims.story_id, claims.expires_at, claims.generation);
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let signature = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(signature))
    }

    /// The claims of a token this key signed; `None` for anything else.
    fn verify(&self, token: &str) -> Option<Claims> {
        let (payload, signature) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let mut parts = payload.split('.').map(str::parse::<i64>);
        let claims =
            Claims { story_id: parts.next()?.ok()?, expires_at: parts.next()?.ok()?, generation: parts.next()?.ok()? };
        parts.next().is_none().then_some(claims)
    }
}

/// A new preview link for story `story_id`, valid for `lifetime_secs`.
pub fn create(
    conn: &mut DbConnection,
    key: &PreviewKey,
    story_id: i64,
    lifetime_secs: i64,
) -> Result<PreviewLink, ApiError> {
    let generation = queries::generation(conn, story_id)?.ok_or(ApiError::NotFound)?;
    let expires_at = Utc::now() + chrono::Duration::seconds(lifetime_secs);
    let token = key.sign(&Claims { story_id, expires_at: expires_at.timestamp(), generation });
    Ok(PreviewLink { token, expires_at: DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at) })
}

/// The story a token lets its holder read, as it is now.
pub fn read(conn: &mut DbConnection, key: &PreviewKey, token: &str) -> Result<Story, ApiError> {
    let claims = key.verify(token).ok_or(ApiError::NotFound)?;
    if claims.expires_at <= Utc::now().timestamp() {
        return Err(ApiError::NotFound);
    }
    let generation = queries::generation(conn, claims.story_id)?.ok_or(ApiError::NotFound)?;
    if generation != claims.generation {
        return Err(ApiError::NotFound);
    }
    crate::stories::read(conn, &StoryKey::Id(claims.story_id), Audience::Editors)
}

/// Revokes every preview link of story `story_id`.
pub fn revoke(tx: &mut Tx<'_, Internal>, story_id: i64) -> Result<(), ApiError> {
    if !queries::next_generation(tx, story_id)? {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_untouched_tokens_of_this_key_verify() {
        let key = PreviewKey { key: b"0123456789abcdef0123456789abcdef".to_vec() };
        let claims = Claims { story_id: 7, expires_at: 2_000_000_000, generation: 3 };
        let token = key.sign(&claims);
        assert_eq!(key.verify(&token), Some(Claims { story_id: 7, expires_at: 2_000_000_000, generation: 3 }));
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
        let other = PreviewKey { key: b"fedcba9876543210fedcba9876543210".to_vec() };
        assert_eq!(other.verify(&token), None);
        let (payload, signature) = token.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode("8.2000000000.3");
        assert_eq!(key.verify(&format!("{forged}.{signature}")), None);
        assert_eq!(key.verify(&format!("{payload}.{}", &signature[1..])), None);
        assert_eq!(key.verify("garbage"), None);
    }
}
