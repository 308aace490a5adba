//! A short-lived, in-process cache of public GET responses.
//!
//! Readers' requests (GET under `/v1/` with no `Authorization`) whose answer
//! is a 200 marked `Cache-Control: public` are kept, body and headers, for
//! `ANTHOLOGY_CACHE_TTL_MS` (2 s by default), at most 16 MiB in all. Every
//! write this process commits that changes what readers see empties it at
//! once (the cache's generation counter, bumped through the hook it hands
//! to [`Db`](crate::db::Db)), so a process always reads its own writes;
//! writes by other processes on the same PostgreSQL show within the TTL —
//! well inside the 60 s that `Cache-Control` already allows any cache.
//! Failed logins, token refreshes and account changes do not empty it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{Error, HttpResponse};

use crate::db::PublicWriteHook;
use crate::http::{PUBLIC_CACHE_CONTROL, if_none_match};

struct CachedResponse {
    /// The cache's generation when the response was computed.
    generation: u64,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
pub struct ResponseCache {
    entries: Option<moka::sync::Cache<String, Arc<CachedResponse>>>,
    /// Public writes this process has committed: an entry computed before
    /// the latest one is stale.
    generation: Arc<AtomicU64>,
}

impl ResponseCache {
    /// `ttl` of zero turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        let entries = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(16 * 1024 * 1024)
                .weigher(|key: &String, value: &Arc<CachedResponse>| {
                    u32::try_from(key.len() + value.body.len() + 512).unwrap_or(u32::MAX)
                })
                .build()
        });
        Self { entries, generation: Arc::new(AtomicU64::new(0)) }
    }

    /// What [`Db`](crate::db::Db) calls after each public write.
    pub fn invalidation_hook(&self) -> PublicWriteHook {
        let generation = self.generation.clone();
        Arc::new(move || {
            generation.fetch_add(1, Ordering::Release);
        })
    }
}

fn replay(req: &ServiceRequest, cached: &CachedResponse) -> HttpResponse {
    let etag = cached.headers.get(header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let not_modified = if_none_match(req.request(), etag);
    let mut response = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    for (name, value) in &cached.headers {
        if !(not_modified && (name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH)) {
            response.append_header((name.clone(), value.clone()));
        }
    }
    if not_modified { response.finish() } else { response.body(cached.body.clone()) }
}

/// The middleware (`actix_web::middleware::from_fn`, over a clone of the cache).
pub async fn serve_cached(
    cache: ResponseCache,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let cacheable = req.method() == Method::GET
        && req.path().starts_with("/v1/")
        && !req.headers().contains_key(header::AUTHORIZATION);
    let (Some(entries), true) = (&cache.entries, cacheable) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let key = req.uri().to_string();
    let generation = cache.generation.load(Ordering::Acquire);
    let cached = entries.get(&key).filter(|c| c.generation == generation);
    crate::metrics::cache_lookup(cached.is_some());
    if let Some(cached) = cached {
        let response = replay(&req, &cached);
        return Ok(req.into_response(response));
    }

    let response = next.call(req).await?;
    let public = response.headers().get(header::CACHE_CONTROL).is_some_and(|v| v == PUBLIC_CACHE_CONTROL);
    if response.status() != StatusCode::OK || !public {
        return Ok(response.map_into_boxed_body());
    }
    let (req, response) = response.into_parts();
    let (response, body) = response.into_parts();
    let body =
        actix_web::body::to_bytes(body).await.map_err(|e| actix_web::error::ErrorInternalServerError(e.into()))?;
    let mut headers = response.headers().clone();
    headers.remove(header::CONTENT_LENGTH);
    entries.insert(key, Arc::new(CachedResponse { generation, headers, body: body.clone() }));
    Ok(ServiceResponse::new(req, response.set_body(body).map_into_boxed_body()))
}
