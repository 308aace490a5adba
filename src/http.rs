//! Response conventions shared by every resource: JSON bodies, caching
//! headers (public with a strong ETag, or private), list envelopes with
//! `Link`, and the client's address.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};

use crate::error::ApiError;
use crate::pagination::{Page, next_link};

/// What a handler answers.
pub type Reply = Result<HttpResponse, ApiError>;

/// Who a response is for: readers see public content only, and their
/// responses may be cached by anyone; editors see everything, privately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Readers,
    Editors,
}

impl Audience {
    /// Editors when the request carried an editor's token.
    pub fn of<T>(editor: &Option<T>) -> Self {
        if editor.is_some() { Self::Editors } else { Self::Readers }
    }
}

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
    public_bytes(req, JSON, to_json(body)?)
}

/// A public, cacheable response of any type, with a strong ETag (of these
/// identity bytes); a matching `If-None-Match` answers 304 with no body.
/// [`crate::cache`] then sends the bytes in the coding the request accepts,
/// under that coding's own ETag: the tag a 304 here is checked against.
pub fn public_bytes(req: &HttpRequest, content_type: &'static str, bytes: Vec<u8>) -> Reply {
    let etag = etag_of(&bytes);
    let response = |mut response: HttpResponseBuilder, etag: String| {
        response
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, PUBLIC_CACHE_CONTROL))
            .insert_header((header::VARY, "Authorization, Accept-Encoding"));
        response
    };
    let sent = crate::encoding::negotiate(req).map(|coding| coding.etag(&etag));
    if let Some(sent) = sent.filter(|tag| if_none_match(req, tag)) {
        return Ok(response(HttpResponse::NotModified(), sent).finish());
    }
    Ok(response(HttpResponse::Ok(), etag).insert_header((header::CONTENT_TYPE, content_type)).body(bytes))
}

/// The same resource read with and without an editor token: public for
/// readers, private for editors.
pub fn json_for<T: Serialize>(req: &HttpRequest, audience: Audience, body: &T) -> Result<HttpResponse, ApiError> {
    match audience {
        Audience::Readers => public_json(req, body),
        Audience::Editors => private_json(StatusCode::OK, body),
    }
}

/// A page of a list, with the `Link: rel="next"` header when more follow.
pub fn page_json<T: Serialize>(
    req: &HttpRequest,
    audience: Audience,
    body: &T,
    page: &Page,
) -> Result<HttpResponse, ApiError> {
    let mut response = json_for(req, audience, body)?;
    if let Some(link) = next_link(req, page).and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// Declares a handler that answers one page of a list only editors (or
/// admins) read: every such list takes the page parameters, reads the page
/// with its module's domain function, and answers it with `Link`. A list
/// under a resource names its id extractor, binding the id for `$read`, and
/// the problem its absence is. (`get` must be in scope: utoipa reads the
/// method from the attribute's name.)
macro_rules! editors_page {
    (
        $(#[doc = $doc:literal])*
        $name:ident, $path:literal, tag = $tag:literal, operation_id = $operation_id:literal, $who:ty,
        $([under $parent:ident($id:ident) or $not_found:ident],)?
        $list:ident, $description:literal, $read:expr
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            tag = $tag, operation_id = $operation_id, security(("bearer" = [])),
            params($($parent,)? PageParams),
            responses((status = 200, description = $description, body = $list) $(, $not_found)?)
        )]
        #[get($path)]
        pub async fn $name(
            req: actix_web::HttpRequest,
            _: $who,
            state: $crate::state::State,
            $($parent($id): $parent,)?
            params: actix_web::web::Query<PageParams>,
        ) -> $crate::http::Reply {
            let page = params.request(&state.cursor_key, &$crate::pagination::list_of(&req))?;
            let body: $list = state.db.read(move |conn| ($read)(conn, page)).await?;
            $crate::http::page_json(&req, $crate::http::Audience::Editors, &body, &body.page)
        }
    };
}
pub(crate) use editors_page;

/// 201 with the new resource (private) and its `Location`.
pub fn created<T: Serialize>(body: &T, location: &str) -> Reply {
    let mut response = private_json(StatusCode::CREATED, body)?;
    let location = HeaderValue::from_str(location).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// 204 after an editor's deletion.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, PRIVATE_CACHE_CONTROL)).finish()
}

/// The middleware (`actix_web::middleware::from_fn`) that answers HEAD as
/// GET without the body, as RFC 9110 asks (link checkers and monitors send
/// it; every route answered 405): the request is routed, cached and
/// answered as a GET, and actix's HTTP/1 encoder, which decoded a HEAD,
/// leaves the body out.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

pub fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).any(|value| {
        value.split(',').map(str::trim).any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
    })
}

/// The client's address: the socket's peer, unless that peer is a trusted
/// proxy (`TRUSTED_PROXIES`), in which case the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Without trusted
/// proxies the header is ignored, so forging it gains nothing.
///
/// Every address is canonical ([`IpAddr::to_canonical`]) before it is
/// compared or returned: on a dual-stack (`[::]`) listener IPv4 clients
/// arrive as `::ffff:a.b.c.d`, which must match `TRUSTED_PROXIES=a.b.c.d`
/// and count as the same client as `a.b.c.d` does elsewhere.
pub fn client_ip(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
    client_ip_from(peer, forwarded, trusted)
}

fn client_ip_from<'a>(peer: IpAddr, forwarded: impl Iterator<Item = &'a str>, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = forwarded
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    forwarded.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer)
}

/// The key a throttle counts a client by: its canonical address, or for
/// IPv6 its /64, which one household or phone typically owns whole (so
/// hopping addresses inside it gains nothing). Shared by every throttle.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// A route's template from its actix pattern: `/v1/stories/{id:\d+}` →
/// `/v1/stories/{id}`, as the OpenAPI document writes it.
pub fn route_template(pattern: &str) -> String {
    let mut template = String::with_capacity(pattern.len());
    let (mut in_param, mut in_regex) = (false, false);
    for c in pattern.chars() {
        match c {
            '{' => in_param = true,
            '}' => (in_param, in_regex) = (false, false),
            ':' if in_param => in_regex = true,
            _ => {}
        }
        if !in_regex {
            template.push(c);
        }
    }
    template
}

/// The ETag of a versioned resource, for `If-Match`.
pub fn version_etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The versions a write may find, from its `If-Match` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Expected {
    /// No header, or `*`: any current version.
    #[default]
    Any,
    /// The versions the header lists; none (weak or foreign tags only)
    /// matches nothing.
    Versions(Vec<i64>),
}

impl Expected {
    /// The version the write must still find, given the `current` one it
    /// read: `None` for any; `current` when the header lists it (the write
    /// then checks that nothing changed it meanwhile); else one no resource
    /// has (versions start at 1), so the write fails as 412 — after a
    /// missing resource has had its 404.
    pub fn against(&self, current: i64) -> Option<i64> {
        match self {
            Self::Any => None,
            Self::Versions(listed) if listed.contains(&current) => Some(current),
            Self::Versions(_) => Some(i64::MIN),
        }
    }
}

/// Several `If-Match` lines are one comma-separated list (RFC 9110), which
/// matches when any of its tags does; a line that is not visible ASCII holds
/// no tag of ours, so it matches nothing (412), rather than counting as
/// missing (428). `None` when there is no header.
fn if_match_value(req: &HttpRequest) -> Option<Expected> {
    let mut lines = req.headers().get_all(header::IF_MATCH).peekable();
    lines.peek()?;
    let tags: Vec<&str> = lines.flat_map(|line| line.to_str().unwrap_or_default().split(',')).map(str::trim).collect();
    if tags.contains(&"*") {
        return Some(Expected::Any);
    }
    Some(Expected::Versions(
        tags.iter().filter_map(|tag| tag.strip_prefix("\"v")?.strip_suffix('"')?.parse().ok()).collect(),
    ))
}

/// The `If-Match` header of a write, declared and read in one place:
/// `REQUIRED` (edits: missing is 428) or honoured when sent.
pub struct IfMatch<const REQUIRED: bool>(pub Expected);

impl<const REQUIRED: bool> FromRequest for IfMatch<REQUIRED> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match if_match_value(req) {
            None if REQUIRED => Err(ApiError::PreconditionRequired),
            None => Ok(IfMatch(Expected::Any)),
            Some(expected) => Ok(IfMatch(expected)),
        })
    }
}

impl<const REQUIRED: bool> IntoParams for IfMatch<REQUIRED> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let description = if REQUIRED {
            "The story's ETag, e.g. `\"v3\"`"
        } else {
            "The ETag the change is based on, e.g. `\"v3\"`: checked when sent (412 if stale)"
        };
        vec![header_param("If-Match", description, REQUIRED)]
    }
}

/// The `If-None-Match` header of a public read, declared once; the
/// responders of this module answer it with 304.
pub struct IfNoneMatch;

impl FromRequest for IfNoneMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(IfNoneMatch))
    }
}

impl IntoParams for IfNoneMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_param("If-None-Match", "An ETag from an earlier response: 304 if unchanged", false)]
    }
}

/// What a request asks for, however it is written: its path and the query
/// parameters some GET operation reads, but those named in `leaving_out`, in
/// name order and one encoding (repeats of a name keep their order).
pub fn canonical_request(uri: &actix_web::http::Uri, leaving_out: &[&str]) -> String {
    let Some(query) = uri.query().filter(|q| !q.is_empty()) else { return uri.path().to_owned() };
    let mut read: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| crate::openapi::reads_query_parameter(name) && !leaving_out.contains(&name.as_ref()))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    read.sort_by(|a, b| a.0.cmp(&b.0));
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(read).finish();
    if query.is_empty() { uri.path().to_owned() } else { format!("{}?{query}", uri.path()) }
}

/// Declares a path extractor for the `{id}` segment of a resource's routes:
/// read, validated and documented in one place.
macro_rules! path_id {
    ($(#[$doc:meta])* $name:ident, $description:literal) => {
        $(#[$doc])*
        pub struct $name(pub i64);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(path_id(req).map($name))
            }
        }

        impl IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                vec![path_id_param($description)]
            }
        }
    };
}

path_id! {
    /// The id of the story a route is about.
    StoryId, "The story's id"
}

path_id! {
    /// The id of the editor a route is about.
    EditorId, "The editor's id"
}

path_id! {
    /// The id of the webhook endpoint a route is about.
    WebhookId, "The endpoint's id"
}

/// An id written any way but its own (`01`, `+1`) names no resource: 404,
/// so one resource has one URL (and one entry in the response cache).
fn path_id(req: &HttpRequest) -> Result<i64, ApiError> {
    let id = req.match_info().get("id").unwrap_or_default();
    let parsed: i64 = id.parse().map_err(|e| ApiError::BadRequest(format!("invalid path parameter: id: {e}")))?;
    if parsed.to_string() != id {
        return Err(ApiError::NotFound);
    }
    Ok(parsed)
}

fn path_id_param(description: &str) -> Parameter {
    let int64 =
        ObjectBuilder::new().schema_type(Type::Integer).format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)));
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .description(Some(description))
        .required(Required::True)
        .schema(Some(int64))
        .build()
}

fn header_param(name: &str, description: &str, required: bool) -> Parameter {
    let schema_type =
        if required { SchemaType::Type(Type::String) } else { SchemaType::from_iter([Type::String, Type::Null]) };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .description(Some(description))
        .required(if required { Required::True } else { Required::False })
        .schema(Some(ObjectBuilder::new().schema_type(schema_type)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn mapped_ipv4_peers_and_forwarded_entries_are_canonical() {
        let trusted = nets(&["127.0.0.1/32"]);
        // A dual-stack listener's view of 127.0.0.1 is trusted as 127.0.0.1.
        let client = client_ip_from(ip("::ffff:127.0.0.1"), ["10.0.0.7"].into_iter(), &trusted);
        assert_eq!(client, ip("10.0.0.7"));
        // Forwarded entries too, whether the proxy wrote them mapped or not.
        let client = client_ip_from(ip("127.0.0.1"), ["::ffff:10.0.0.8, ::ffff:127.0.0.1"].into_iter(), &trusted);
        assert_eq!(client, ip("10.0.0.8"));
        // An untrusted mapped peer is itself, canonical; its header is ignored.
        assert_eq!(client_ip_from(ip("::ffff:192.0.2.1"), ["10.0.0.9"].into_iter(), &trusted), ip("192.0.2.1"));
        // Real IPv6 stays IPv6.
        assert_eq!(client_ip_from(ip("2001:db8::1"), std::iter::empty(), &trusted), ip("2001:db8::1"));
        // Only trusted proxies all the way: the peer.
        assert_eq!(client_ip_from(ip("::ffff:127.0.0.1"), ["127.0.0.1"].into_iter(), &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn throttles_key_ipv4_by_address_and_ipv6_by_its_64() {
        assert_eq!(client_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(client_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(client_key(ip("2001:db8:1:2::ffff")), client_key(ip("2001:db8:1:2:aaaa::1")));
        assert_ne!(client_key(ip("2001:db8:1:2::1")), client_key(ip("2001:db8:1:3::1")));
    }
}
