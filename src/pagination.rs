//! Keyset pagination: `limit` and an opaque `cursor` in, a `page` object and a
//! `Link: <…>; rel="next"` header out. Never OFFSET: a cursor names the last
//! row seen (its sort key and id), so pages stay stable while rows are added.

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

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
    /// first page. Opaque: one this API did not issue is 400.
    #[param(pattern = r"^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::BadRequest(format!("limit must be from 1 to {MAX_LIMIT}, got {n}"))),
        }
    }

    /// The decoded cursor, or `None` for the first page. A cursor that we did
    /// not make is a 400, not a 500.
    pub fn cursor<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        let Some(raw) = self.cursor.as_deref().filter(|c| !c.is_empty()) else { return Ok(None) };
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest("cursor is not one this API issued".into()))
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
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

/// Splits one extra fetched row off `rows` (fetch `limit + 1`) to learn
/// whether more follow, and builds the page from the last row's key.
pub fn paginate<T, K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> (Vec<T>, Page) {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if has_more { rows.last().map(|row| encode_cursor(&key(row))) } else { None };
    (rows, Page { limit, next_cursor, has_more })
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
