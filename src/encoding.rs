//! Content codings (RFC 9110 §8.4): which one a request accepts, compressing
//! a body with it, and the strong ETag of each coding.
//!
//! Public responses are compressed by [`crate::cache`] (once per cached
//! entry, or once per response when it is not cached) and every other
//! response by [`compress_others`]; both use the functions here, so the
//! same request gets the same bytes and the same ETag whichever path
//! answers it.

use std::io::Write;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpMessage};

use crate::http::PUBLIC_CACHE_CONTROL;

/// The codings we send, in the order [`AcceptEncoding::negotiate`] is given
/// them (it breaks ties in the client's preferences by its own ranking, br
/// before gzip).
const SUPPORTED: [Encoding; 3] = [Encoding::brotli(), Encoding::gzip(), Encoding::identity()];

/// gzip's level: the smallest output zlib makes here for our JSON (9 gains
/// under 1 % for more time); never larger than nginx's gzip at any level up
/// to it (its default is 1). Measured in `docs/API-DESIGN.md`, "Compression
/// and the response cache".
const GZIP_LEVEL: u32 = 6;
/// brotli's quality and window: quality 7 is the lowest that beats gzip 6 on
/// size for our JSON (about 8 % smaller); a 256 KiB window is as good as the
/// default 4 MiB one for bodies of that size and much cheaper to set up.
const BROTLI_QUALITY: i32 = 7;
const BROTLI_WINDOW_BITS: i32 = 18;
/// Bodies larger than this are compressed on the blocking pool, not on an
/// async worker.
const COMPRESS_INLINE_MAX: usize = 64 * 1024;
/// Responses other than public ones smaller than this are sent as they are:
/// a problem document or a vote's aggregate gains a few bytes at most.
const COMPRESS_OTHERS_MIN: usize = 1024;

/// A content coding we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Brotli,
}

impl Coding {
    pub const ALL: [Coding; 3] = [Coding::Identity, Coding::Gzip, Coding::Brotli];

    /// Its place in [`Coding::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The `Content-Encoding` it is sent with; none for identity.
    pub fn content_encoding(self) -> Option<HeaderValue> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some(HeaderValue::from_static("gzip")),
            Coding::Brotli => Some(HeaderValue::from_static("br")),
        }
    }

    /// The strong ETag of this coding of a representation whose identity
    /// ETag is `identity` (`"…"`): RFC 9110 §8.8.3 forbids two codings to
    /// share a strong validator, so each other coding adds a suffix that
    /// cannot occur in our tags (`.`, outside base64url).
    pub fn etag(self, identity: &str) -> String {
        let suffix = match self {
            Coding::Identity => return identity.to_owned(),
            Coding::Gzip => ".gzip",
            Coding::Brotli => ".br",
        };
        let opaque = identity.strip_suffix('"').unwrap_or(identity);
        format!("{opaque}{suffix}\"")
    }

    /// `bytes` in this coding; identity is the bytes themselves.
    pub fn encode(self, bytes: &Bytes) -> std::io::Result<Bytes> {
        match self {
            Coding::Identity => Ok(bytes.clone()),
            Coding::Gzip => {
                let out = Vec::with_capacity(bytes.len() / 4);
                let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
                encoder.write_all(bytes)?;
                encoder.finish().map(Bytes::from)
            }
            Coding::Brotli => {
                let params = brotli::enc::BrotliEncoderParams {
                    quality: BROTLI_QUALITY,
                    lgwin: BROTLI_WINDOW_BITS,
                    size_hint: bytes.len(),
                    ..Default::default()
                };
                let mut out = Vec::with_capacity(bytes.len() / 4);
                brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
                Ok(Bytes::from(out))
            }
        }
    }

    /// [`Coding::encode`], off the async workers when the body is large.
    pub async fn encode_async(self, bytes: Bytes) -> Result<Bytes, Error> {
        let encoded = if bytes.len() > COMPRESS_INLINE_MAX {
            web::block(move || self.encode(&bytes)).await?
        } else {
            self.encode(&bytes)
        };
        encoded.map_err(actix_web::error::ErrorInternalServerError)
    }
}

/// The coding a request's `Accept-Encoding` prefers among those we send
/// (q-values, `*`, `identity;q=0`, as RFC 9110 §12.5.3 reads them), or
/// `None` when it accepts none of them, not even identity. No header, or
/// one that does not parse: identity.
pub fn negotiate(req: &impl HttpMessage) -> Option<Coding> {
    if !req.headers().contains_key(header::ACCEPT_ENCODING) {
        return Some(Coding::Identity);
    }
    let Some(accepted) = req.get_header::<AcceptEncoding>() else {
        return Some(Coding::Identity);
    };
    match accepted.negotiate(SUPPORTED.iter())? {
        Encoding::Known(ContentEncoding::Brotli) => Some(Coding::Brotli),
        Encoding::Known(ContentEncoding::Gzip) => Some(Coding::Gzip),
        _ => Some(Coding::Identity),
    }
}

/// Adds `Accept-Encoding` to a response's `Vary`, unless it is there.
pub fn vary_on_accept_encoding(headers: &mut HeaderMap) {
    let listed = headers
        .get_all(header::VARY)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|name| name.trim().eq_ignore_ascii_case("accept-encoding") || name.trim() == "*"));
    if !listed {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// The middleware (`actix_web::middleware::from_fn`) that compresses every
/// response the response cache has not already encoded: editors' and
/// previews' private responses, writes' answers, the OpenAPI document and
/// the documentation's files. Streamed bodies and small ones go as they are;
/// a client that accepts no coding we send gets identity (RFC 9110 §12.1
/// lets a server disregard the header rather than refuse).
pub async fn compress_others(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    // Public responses left the response cache in their coding already; a
    // range is a part of the identity bytes.
    let done = |headers: &HeaderMap| {
        headers.contains_key(header::CONTENT_ENCODING)
            || headers.get(header::CACHE_CONTROL).is_some_and(|v| v == PUBLIC_CACHE_CONTROL)
    };
    if response.status() == StatusCode::PARTIAL_CONTENT || done(response.headers()) {
        return Ok(response);
    }
    let (req, response) = response.into_parts();
    let (mut response, body) = response.into_parts();
    let body = match body.try_into_bytes() {
        Ok(bytes) if bytes.len() >= COMPRESS_OTHERS_MIN => bytes,
        Ok(bytes) => return Ok(ServiceResponse::new(req, response.set_body(BoxBody::new(bytes)))),
        Err(stream) => return Ok(ServiceResponse::new(req, response.set_body(stream))),
    };
    let coding = negotiate(&req).unwrap_or(Coding::Identity);
    if coding == Coding::Identity {
        return Ok(ServiceResponse::new(req, response.set_body(BoxBody::new(body))));
    }
    let encoded = coding.encode_async(body).await?;
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    if let Some(value) = coding.content_encoding() {
        headers.insert(header::CONTENT_ENCODING, value);
    }
    vary_on_accept_encoding(headers);
    Ok(ServiceResponse::new(req, response.set_body(BoxBody::new(encoded))))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn negotiated(accept: &str) -> Option<Coding> {
        negotiate(&TestRequest::default().insert_header((header::ACCEPT_ENCODING, accept)).to_http_request())
    }

    #[test]
    fn negotiation_follows_q_values_and_refusals() {
        assert_eq!(negotiate(&TestRequest::default().to_http_request()), Some(Coding::Identity));
        assert_eq!(negotiated("gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(negotiated("br;q=0.5, gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("deflate, compress"), Some(Coding::Identity));
        assert_eq!(negotiated("*"), Some(Coding::Identity));
        assert_eq!(negotiated("identity;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("identity;q=0"), None);
        assert_eq!(negotiated("*;q=0"), None);
        assert_eq!(negotiated("gzip;q=0, identity"), Some(Coding::Identity));
    }

    #[test]
    fn each_coding_has_its_own_strong_etag() {
        assert_eq!(Coding::Identity.etag("\"abc\""), "\"abc\"");
        assert_eq!(Coding::Gzip.etag("\"abc\""), "\"abc.gzip\"");
        assert_eq!(Coding::Brotli.etag("\"abc\""), "\"abc.br\"");
    }

    #[test]
    fn vary_gains_accept_encoding_once() {
        let mut headers = HeaderMap::new();
        vary_on_accept_encoding(&mut headers);
        vary_on_accept_encoding(&mut headers);
        assert_eq!(headers.get_all(header::VARY).count(), 1);
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("Authorization, Accept-Encoding"));
        vary_on_accept_encoding(&mut headers);
        assert_eq!(headers.get_all(header::VARY).count(), 1);
    }
}
