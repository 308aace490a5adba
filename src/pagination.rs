//! Keyset pagination: `limit` and an opaque `cursor` in, a `page` object and a
//! `Link: <…>; rel="next"` header out. Never OFFSET: a cursor names the last
//! row seen (its sort key and id), so pages stay stable while rows are added.
//!
//! Cursors are sealed ([`CursorKey`]): encrypted and authenticated, so a
//! client can neither read the sort keys inside (a search's relevance
//! scores, a story's rating rank) nor forge or alter one — a cursor this API
//! did not issue is 400 before any of it reaches a query. A cursor is sealed
//! for its list ([`list_of`]: the path and the filters, search and sort): on
//! another list it is 400 too.

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::db::{Internal, Tx};
use crate::error::ApiError;
use crate::server_keys::{self, KeyPurpose};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// `limit` and `cursor`, shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items to return, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page; omit (or leave empty) for the
    /// first page. Opaque (encrypted and authenticated): one this API did not
    /// issue for this list (the same path, filters, search and sort), or
    /// altered, is 400.
    #[param(pattern = r"^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

impl PageParams {
    /// The page asked for of `list` ([`list_of`]), with its cursor opened
    /// with `key` and decoded into the list's key type `K`. A limit out of
    /// range, or a cursor that we did not make for this list, is a 400.
    pub fn request<K: DeserializeOwned>(&self, key: &CursorKey, list: &str) -> Result<PageRequest<K>, ApiError> {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(n) => return Err(ApiError::BadRequest(format!("limit must be from 1 to {MAX_LIMIT}, got {n}"))),
        };
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => Some(
                key.open(raw, list)
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .ok_or_else(|| ApiError::BadRequest("cursor is not one this API issued for this list".into()))?,
            ),
        };
        Ok(PageRequest { limit, after, key: key.clone(), list: list.to_owned() })
    }
}

/// Which list a request pages through: its path, filters, search and sort,
/// but not the page's size, place or fields, which may change from page to
/// page. Cursors are sealed for it.
pub fn list_of(req: &HttpRequest) -> String {
    crate::http::canonical_request(req.uri(), &["cursor", "limit", "fields"])
}

/// A page to fetch of `list`: its size, the key of the last row before it,
/// and the key that seals the cursor of the page after it.
#[derive(Clone)]
pub struct PageRequest<K> {
    pub limit: i64,
    pub after: Option<K>,
    pub key: CursorKey,
    pub list: String,
}

impl<K: Serialize> PageRequest<K> {
    /// How many rows to fetch: one more than the page, to learn whether more follow.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// Splits the extra fetched row off `rows` and builds the page, its
    /// cursor sealed from the last row's key.
    pub fn page_of<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> K) -> (Vec<T>, Page) {
        let has_more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|row| self.key.seal(&serde_json::to_vec(&key(row)).unwrap_or_default(), &self.list))
        } else {
            None
        };
        (rows, Page { limit: self.limit, next_cursor, has_more })
    }
}

/// The key that seals cursors: XChaCha20-Poly1305 (its 24-byte nonces may be
/// random) under a key generated once and kept in `server_keys`, so every
/// process on one database opens every other's cursors.
#[derive(Clone)]
pub struct CursorKey(XChaCha20Poly1305);

/// A sealed cursor is base64url of the nonce and then the ciphertext with its tag.
const NONCE_BYTES: usize = 24;

impl CursorKey {
    /// The key in the database, created on first start.
    pub fn load(tx: &mut Tx<'_, Internal>) -> diesel::QueryResult<Self> {
        let mut keys = server_keys::ensure(tx, KeyPurpose::Cursor)?;
        Ok(Self::from_secret(&keys.swap_remove(0).secret.0))
    }

    /// The cipher key is a digest of the stored secret under a label of its
    /// own, so it is 32 bytes whatever the secret's encoding.
    fn from_secret(secret: &[u8]) -> Self {
        let key: [u8; 32] =
            Sha256::new().chain_update(b"anthology list cursor\0").chain_update(secret).finalize().into();
        Self(XChaCha20Poly1305::new(&key.into()))
    }

    /// `plaintext` sealed for `list`, which authenticates it (associated data).
    fn seal(&self, plaintext: &[u8], list: &str) -> String {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .0
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: list.as_bytes() })
            .expect("XChaCha20-Poly1305 seals any message shorter than 256 GiB");
        URL_SAFE_NO_PAD.encode([&nonce[..], &sealed].concat())
    }

    /// The plaintext of a cursor this key sealed for `list`; `None` for anything else.
    fn open(&self, cursor: &str, list: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_BYTES)?;
        self.0.decrypt(&XNonce::try_from(nonce).ok()?, Payload { msg: sealed, aad: list.as_bytes() }).ok()
    }
}

/// Where a list stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page {
    /// The page size used.
    pub limit: i64,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

/// The `Link` header for the next page: this request's URL with `cursor`
/// replaced, so filters and sort carry over.
pub fn next_link(req: &HttpRequest, page: &Page) -> Option<String> {
    let cursor = page.next_cursor.as_ref()?;
    let mut pairs: Vec<String> = req
        .query_string()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("cursor={cursor}"));
    Some(format!("<{}?{}>; rel=\"next\"", req.path(), pairs.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<K: DeserializeOwned>(key: &CursorKey, cursor: &str) -> Result<PageRequest<K>, ApiError> {
        PageParams { limit: None, cursor: Some(cursor.to_owned()) }.request(key, "/v1/stories")
    }

    #[test]
    fn cursors_open_only_with_the_key_that_sealed_them() {
        let key = CursorKey::from_secret(b"one");
        let list = "/v1/stories?sort=title";
        let cursor = key.seal(br#"{"title":"Apple","id":7}"#, list);
        assert!(!String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(&cursor).unwrap()).contains("Apple"));
        assert_eq!(key.open(&cursor, list).unwrap(), br#"{"title":"Apple","id":7}"#);
        // Sealed twice, the same key looks different: nothing to compare or guess.
        assert_ne!(key.seal(b"7", list), key.seal(b"7", list));
        assert_eq!(CursorKey::from_secret(b"other").open(&cursor, list), None);
        // Another list's cursor opens on no other.
        assert_eq!(key.open(&cursor, "/v1/stories"), None);
        assert_eq!(key.open(&cursor, "/v1/stories?sort=title&tag=family"), None);

        // Every altered byte, a truncation and a forgery are refused.
        let bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        for i in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 1;
            assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(&altered), list), None, "byte {i}");
        }
        assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() - 1]), list), None);
        assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(&bytes[..10]), list), None);
        assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(br#"{"title":"Apple","id":7}"#), list), None);
        assert_eq!(key.open("not base64!", list), None);
    }

    #[test]
    fn a_page_cursor_comes_back_as_the_key_of_its_last_row() {
        let key = CursorKey::from_secret(b"secret");
        let first: PageRequest<i64> = PageParams { limit: Some(2), cursor: None }.request(&key, "/v1/stories").unwrap();
        let (rows, page) = first.page_of(vec![10, 20, 30], |row| *row);
        assert_eq!((rows, page.has_more), (vec![10, 20], true));
        let next: PageRequest<i64> = request(&key, page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.after, Some(20));
        // A cursor of another key type is not this list's.
        assert!(request::<String>(&key, page.next_cursor.as_deref().unwrap()).is_err());
        let forged = URL_SAFE_NO_PAD.encode(b"20");
        assert!(matches!(request::<i64>(&key, &forged), Err(ApiError::BadRequest(_))));
    }
}
