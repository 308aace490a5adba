//! A short-lived, in-process cache of public GET responses.
//!
//! Readers' requests (GET under `/v1/` with no `Authorization`) whose answer
//! is a 200 marked `Cache-Control: public` are kept, body and headers, for
//! `ANTHOLOGY_CACHE_TTL_MS` (2 s by default), at most 16 MiB in all. Any
//! write this process commits empties it at once (a generation counter in
//! [`Db`](crate::db::Db)), so a process always reads its own writes; writes
//! by other processes on the same PostgreSQL show within the TTL — well
//! inside the 60 s that `Cache-Control` already allows any cache.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpResponse};

use crate::http::{PUBLIC_CACHE_CONTROL, if_none_match};
use crate::state::AppState;

struct CachedResponse {
    /// The database generation the response was computed at.
    generation: u64,
    headers: HeaderMap,
    body: Bytes,
}

pub struct ResponseCache {
    entries: Option<moka::sync::Cache<String, Arc<CachedResponse>>>,
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
        Self { entries }
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

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn serve_cached(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let cacheable = req.method() == Method::GET
        && req.path().starts_with("/v1/")
        && !req.headers().contains_key(header::AUTHORIZATION);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(state), true) = (state, cacheable) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let Some(entries) = &state.response_cache.entries else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let key = req.uri().to_string();
    let generation = state.db.generation();
    if let Some(cached) = entries.get(&key).filter(|c| c.generation == generation) {
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
