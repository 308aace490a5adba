//! Response conventions shared by every resource: JSON bodies, caching
//! headers (public with a strong ETag, or private), list envelopes with
//! `Link`, and the client's address.

use actix_web::http::StatusCode;
use std::net::IpAddr;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::pagination::{Page, next_link};

pub const PUBLIC_CACHE_CONTROL: &str = "public, max-age=60, stale-while-revalidate=300";
pub const PRIVATE_CACHE_CONTROL: &str = "private, no-store";
const JSON: &str = "application/json; charset=utf-8";

fn to_json<T: Serialize>(body: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(body).map_err(ApiError::internal)
}

/// A strong ETag: a digest of the exact bytes sent.
pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&Sha256::digest(bytes)[..16]))
}

/// A response that depends on the caller's token: never cached by shared caches.
pub fn private_json<T: Serialize>(status: StatusCode, body: &T) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, JSON))
        .insert_header((header::CACHE_CONTROL, PRIVATE_CACHE_CONTROL))
        .body(to_json(body)?))
}

/// A public, cacheable response with a strong ETag; `If-None-Match` that
/// matches answers 304 with no body.
pub fn public_json<T: Serialize>(req: &HttpRequest, body: &T) -> Result<HttpResponse, ApiError> {
    let bytes = to_json(body)?;
    let etag = etag_of(&bytes);
    let not_modified = if_none_match(req, &etag);
    let mut response = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, PUBLIC_CACHE_CONTROL))
        .insert_header((header::VARY, "Authorization, Accept-Encoding"));
    if not_modified {
        return Ok(response.finish());
    }
    Ok(response.insert_header((header::CONTENT_TYPE, JSON)).body(bytes))
}

/// Public when `public`, private otherwise: the same resource read with and
/// without an editor token.
pub fn json_for<T: Serialize>(req: &HttpRequest, public: bool, body: &T) -> Result<HttpResponse, ApiError> {
    if public { public_json(req, body) } else { private_json(StatusCode::OK, body) }
}

pub fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).any(|value| {
        value.split(',').map(str::trim).any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
    })
}

/// Adds the `Link: rel="next"` header of a list page.
pub fn with_next_link(mut response: HttpResponse, req: &HttpRequest, page: &Page) -> HttpResponse {
    if let Some(link) = next_link(req, page).and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

/// The client's address: the socket's peer, unless that peer is a trusted
/// proxy (`TRUSTED_PROXIES`), in which case the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Without trusted
/// proxies the header is ignored, so forging it gains nothing.
pub fn client_ip(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    forwarded.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer)
}

/// The ETag of a versioned resource, for `If-Match`.
pub fn version_etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The version an `If-Match` header asks for.
pub enum IfMatch {
    Absent,
    /// `*`: any current version.
    Any,
    Version(i64),
    /// Something that cannot match any of our ETags (a weak or foreign one).
    Never,
}

pub fn if_match(req: &HttpRequest) -> IfMatch {
    let Some(value) = req.headers().get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return IfMatch::Absent;
    };
    let value = value.trim();
    if value == "*" {
        return IfMatch::Any;
    }
    value
        .split(',')
        .map(str::trim)
        .find_map(|tag| tag.strip_prefix("\"v")?.strip_suffix('"')?.parse().ok())
        .map_or(IfMatch::Never, IfMatch::Version)
}

impl IfMatch {
    /// The version a write must find, or `None` for any. A missing header
    /// is 428 where `required`.
    pub fn expected_version(self, required: bool) -> Result<Option<i64>, ApiError> {
        match self {
            IfMatch::Absent if required => Err(ApiError::PreconditionRequired),
            IfMatch::Absent | IfMatch::Any => Ok(None),
            IfMatch::Version(v) => Ok(Some(v)),
            // Versions start at 1, so this fails as 412 at the write — after
            // a missing resource has had its 404.
            IfMatch::Never => Ok(Some(i64::MIN)),
        }
    }
}
