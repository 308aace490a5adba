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
    /// The page asked for, with its cursor decoded into the list's key type
    /// `K`. A limit out of range, or a cursor that we did not make, is a 400.
    pub fn request<K: DeserializeOwned>(&self) -> Result<PageRequest<K>, ApiError> {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(n) => return Err(ApiError::BadRequest(format!("limit must be from 1 to {MAX_LIMIT}, got {n}"))),
        };
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => Some(
                URL_SAFE_NO_PAD
                    .decode(raw)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .ok_or_else(|| ApiError::BadRequest("cursor is not one this API issued".into()))?,
            ),
        };
        Ok(PageRequest { limit, after })
    }
}

/// A page to fetch: its size, and the key of the last row before it.
#[derive(Debug, Clone)]
pub struct PageRequest<K> {
    pub limit: i64,
    pub after: Option<K>,
}

impl<K: Serialize> PageRequest<K> {
    /// How many rows to fetch: one more than the page, to learn whether more follow.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// Splits the extra fetched row off `rows` and builds the page, its
    /// cursor from the last row's key.
    pub fn page_of<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> K) -> (Vec<T>, Page) {
        let has_more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more { rows.last().map(|row| encode_cursor(&key(row))) } else { None };
        (rows, Page { limit: self.limit, next_cursor, has_more })
    }
}

fn encode_cursor<K: Serialize>(key: &K) -> String {
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
