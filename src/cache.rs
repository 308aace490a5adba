//! Public GET responses: encoded once, and kept a short while in memory.
//!
//! Every public 200 (`Cache-Control: public`) leaves through
//! [`serve_public`], which sends it in the coding the request prefers
//! ([`crate::encoding`]) with that coding's own strong ETag, and answers a
//! matching `If-None-Match` with 304 — whether or not it is cached, so a
//! validator works whatever path served it.
//!
//! Readers' requests (GET under `/v1/` with no `Authorization`) keep their
//! response, in every coding, for `ANTHOLOGY_CACHE_TTL_MS` (2 s by default),
//! at most 16 MiB in all: a hit is a hash lookup and a copy-free `Bytes`
//! clone, compressed once when the entry was made. What a write of this
//! process changes is never served stale to it ([`Db`](crate::db::Db) calls
//! the hook this cache hands it after every commit):
//! - a reader's vote ([`PublicChange::RatingOf`]) drops only the entries of
//!   that story — by id, by slug, its rating, its related links — through a
//!   fixed table of per-story vote counters, so no entry is visited; lists
//!   and feeds show rating figures up to one TTL old (see "Responses and
//!   caching" in `docs/API-DESIGN.md`);
//! - any other public write ([`PublicChange::Everything`]) drops everything.
//!
//! Writes of other processes on the same PostgreSQL show within the TTL,
//! well inside the 60 s that `Cache-Control` already allows any cache
//! (requests that arrive while one request computes an expired entry's
//! successor are served the expired one: a moment more).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{Error, HttpRequest, HttpResponse};

use crate::db::{PublicChange, PublicWriteHook};
use crate::encoding::{Coding, negotiate, vary_on_accept_encoding};
use crate::http::{PUBLIC_CACHE_CONTROL, if_none_match};

/// Slots of the per-story vote counters: stories share a slot when their
/// ids are equal modulo this, which only makes a vote drop a few more
/// entries. 32 KiB, whatever the number of stories.
const VOTE_SLOTS: usize = 4096;

/// What has been written when a response began to be computed.
#[derive(Clone, Copy)]
struct Seen {
    /// [`Generations::everything`].
    everything: u64,
    /// [`Generations::votes`].
    votes: u64,
}

/// Counts of this process's public writes: a response computed before one
/// that changes it is stale.
struct Generations {
    /// Writes that may change any response.
    everything: AtomicU64,
    /// Votes.
    votes: AtomicU64,
    /// Per slot ([`VOTE_SLOTS`]): the value of `votes` after the latest vote
    /// on a story of that slot.
    latest_vote: Box<[AtomicU64]>,
}

impl Generations {
    fn new() -> Self {
        Self {
            everything: AtomicU64::new(0),
            votes: AtomicU64::new(0),
            latest_vote: (0..VOTE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, story_id: i64) -> &AtomicU64 {
        &self.latest_vote[story_id.rem_euclid(VOTE_SLOTS as i64) as usize]
    }

    fn seen(&self) -> Seen {
        Seen { everything: self.everything.load(Ordering::Acquire), votes: self.votes.load(Ordering::Acquire) }
    }

    fn changed(&self, change: PublicChange) {
        match change {
            PublicChange::Everything => {
                self.everything.fetch_add(1, Ordering::AcqRel);
            }
            PublicChange::RatingOf(story_id) => {
                let vote = self.votes.fetch_add(1, Ordering::AcqRel) + 1;
                self.slot(story_id).fetch_max(vote, Ordering::AcqRel);
            }
        }
    }

    /// Whether a response computed after `seen`, showing `story`'s rating
    /// figures if any, is still what this process would compute.
    fn still_fresh(&self, seen: Seen, story: Option<i64>) -> bool {
        seen.everything == self.everything.load(Ordering::Acquire)
            && story.is_none_or(|id| self.slot(id).load(Ordering::Acquire) <= seen.votes)
    }
}

/// A public 200, in every coding we send.
struct CachedResponse {
    /// When it was computed: past the TTL it is stale.
    made: Instant,
    /// Whether a request is computing its successor, while the others are
    /// served this one ([`Refresh`]).
    refreshing: AtomicBool,
    seen: Seen,
    /// The story whose rating figures it shows, if one.
    story: Option<i64>,
    /// The headers every coding shares (no `ETag`, `Content-Length` or
    /// `Content-Encoding`).
    headers: HeaderMap,
    /// Per [`Coding::index`].
    etags: [Option<HeaderValue>; 3],
    bodies: [Bytes; 3],
}

#[derive(Clone)]
pub struct ResponseCache {
    entries: Option<moka::sync::Cache<String, Arc<CachedResponse>>>,
    /// How long an entry is fresh.
    ttl: Duration,
    generations: Arc<Generations>,
}

/// The claim of the one request that computes a stale entry's successor.
/// Dropped without a successor stored (an error, a client gone), it lets
/// the next request try.
struct Refresh(Arc<CachedResponse>);

impl Drop for Refresh {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
    }
}

impl ResponseCache {
    /// `ttl` of zero turns the cache off (responses are still encoded).
    /// An entry is fresh for `ttl`; for one more `ttl` it is kept to be
    /// served while one request computes its successor (in-process
    /// stale-while-revalidate): when a popular entry expired, every request
    /// for it missed at once, each read the database and compressed the
    /// body three ways, and readers behind them waited (p99 of a cached
    /// read at 64 connections on PostgreSQL: 50-100 ms).
    pub fn new(ttl: Duration) -> Self {
        let entries = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .time_to_live(ttl * 2)
                .max_capacity(16 * 1024 * 1024)
                .weigher(|key: &String, value: &Arc<CachedResponse>| {
                    let bodies: usize = value.bodies.iter().map(Bytes::len).sum();
                    u32::try_from(key.len() + bodies + 512).unwrap_or(u32::MAX)
                })
                .build()
        });
        Self { entries, ttl, generations: Arc::new(Generations::new()) }
    }

    /// What [`Db`](crate::db::Db) calls after each public write.
    pub fn invalidation_hook(&self) -> PublicWriteHook {
        let generations = self.generations.clone();
        Arc::new(move |change| generations.changed(change))
    }
}

/// The story whose rating figures a public response shows: the `{id}` of
/// a story's route, or the `id` of the story read by slug (known only
/// from the response).
fn story_shown(req: &HttpRequest, body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Shown {
        id: i64,
    }
    if req.path().starts_with("/v1/stories/") {
        if let Some(id) = req.match_info().get("id") {
            return id.parse().ok();
        }
        if req.match_info().get("slug").is_some() {
            return serde_json::from_slice::<Shown>(body).ok().map(|shown| shown.id);
        }
    }
    None
}

/// One coding of a public response, for `req`: 304 with no body when its
/// `If-None-Match` holds that coding's tag.
fn answer(
    req: &HttpRequest,
    headers: &HeaderMap,
    coding: Coding,
    etag: Option<&HeaderValue>,
    body: impl FnOnce() -> Bytes,
) -> HttpResponse {
    let unchanged = etag.and_then(|tag| tag.to_str().ok()).is_some_and(|tag| if_none_match(req, tag));
    let mut response = if unchanged {
        HttpResponse::new(StatusCode::NOT_MODIFIED)
    } else {
        HttpResponse::with_body(StatusCode::OK, body()).map_into_boxed_body()
    };
    let out = response.headers_mut();
    for (name, value) in headers {
        if !(unchanged && name == header::CONTENT_TYPE) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(tag) = etag {
        out.insert(header::ETAG, tag.clone());
    }
    if let (false, Some(encoding)) = (unchanged, coding.content_encoding()) {
        out.insert(header::CONTENT_ENCODING, encoding);
    }
    response
}

/// 406: the request accepts none of the codings we send, not even identity.
fn not_acceptable() -> HttpResponse {
    HttpResponse::NotAcceptable().insert_header((header::VARY, "Accept-Encoding")).finish()
}

/// The middleware (`actix_web::middleware::from_fn`, over a clone of the
/// cache): serves public GET responses, from the cache when it can.
pub async fn serve_public(
    cache: ResponseCache,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::GET {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let entries = cache
        .entries
        .as_ref()
        .filter(|_| req.path().starts_with("/v1/") && !req.headers().contains_key(header::AUTHORIZATION));
    let key = req.uri().path_and_query().map_or("", |pq| pq.as_str());
    let (seen, started) = (cache.generations.seen(), Instant::now());
    let mut refresh: Option<Refresh> = None;
    if let Some(entries) = entries {
        // This process's writes drop entries at once (generations); the TTL
        // only bounds how late other processes' writes show.
        let cached = entries.get(key).filter(|c| cache.generations.still_fresh(c.seen, c.story)).filter(|c| {
            let stale = c.made.elapsed() >= cache.ttl;
            // The first request to find it stale computes its successor;
            // the others are served it meanwhile.
            if stale && !c.refreshing.swap(true, Ordering::AcqRel) {
                refresh = Some(Refresh(c.clone()));
                return false;
            }
            true
        });
        crate::metrics::cache_lookup(cached.is_some());
        if let Some(cached) = cached {
            let Some(coding) = negotiate(req.request()) else {
                return Ok(req.into_response(not_acceptable()));
            };
            let etag = cached.etags[coding.index()].as_ref();
            let response =
                answer(req.request(), &cached.headers, coding, etag, || cached.bodies[coding.index()].clone());
            return Ok(req.into_response(response));
        }
    }
    let key = entries.map(|_| key.to_owned());

    let response = next.call(req).await?;
    let public = response.headers().get(header::CACHE_CONTROL).is_some_and(|v| v == PUBLIC_CACHE_CONTROL);
    if response.status() != StatusCode::OK || !public {
        // What was cached is gone (another process deleted the story, say):
        // the expired entry is not served to anyone any more.
        if let (Some(_), Some(entries), Some(key)) = (&refresh, entries, &key) {
            entries.invalidate(key);
        }
        return Ok(response.map_into_boxed_body());
    }
    let (req, response) = response.into_parts();
    let Some(coding) = negotiate(&req) else {
        return Ok(ServiceResponse::new(req, not_acceptable()));
    };
    let (response, body) = response.into_parts();
    let body =
        actix_web::body::to_bytes(body).await.map_err(|e| actix_web::error::ErrorInternalServerError(e.into()))?;
    let mut headers = response.headers().clone();
    headers.remove(header::CONTENT_LENGTH);
    vary_on_accept_encoding(&mut headers);
    let identity_etag = headers.remove(header::ETAG).next().and_then(|tag| tag.to_str().ok().map(str::to_owned));
    let etag_of =
        |coding: Coding| identity_etag.as_deref().and_then(|tag| HeaderValue::try_from(coding.etag(tag)).ok());

    let (Some(entries), Some(key)) = (entries, key) else {
        // Not cached: only the coding this request takes. (A 304 left the
        // handler as such: `http::public_bytes`.)
        let encoded = coding.encode_async(body).await?;
        let response = answer(&req, &headers, coding, etag_of(coding).as_ref(), || encoded);
        return Ok(ServiceResponse::new(req, response));
    };
    let mut bodies: [Bytes; 3] = Default::default();
    for each in Coding::ALL {
        bodies[each.index()] = each.encode_async(body.clone()).await?;
    }
    let cached = Arc::new(CachedResponse {
        made: started,
        refreshing: AtomicBool::new(false),
        seen,
        story: story_shown(&req, &body),
        headers,
        etags: Coding::ALL.map(etag_of),
        bodies,
    });
    entries.insert(key, cached.clone());
    let etag = cached.etags[coding.index()].as_ref();
    let response = answer(&req, &cached.headers, coding, etag, || cached.bodies[coding.index()].clone());
    Ok(ServiceResponse::new(req, response))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpRequest, test, web};
    use tokio::sync::Semaphore;

    use super::*;

    /// A handler whose answers count how many times it ran, and which waits
    /// for a permit once `held` is set: a refresh that takes as long as the
    /// test wants.
    struct Origin {
        runs: AtomicUsize,
        held: AtomicBool,
        permits: Semaphore,
        /// Answers 404 once set: the thing was deleted elsewhere.
        gone: AtomicBool,
    }

    async fn counted(req: HttpRequest, origin: web::Data<Origin>) -> crate::http::Reply {
        let run = origin.runs.fetch_add(1, Ordering::AcqRel) + 1;
        if origin.held.load(Ordering::Acquire) {
            origin.permits.acquire().await.expect("open").forget();
        }
        if origin.gone.load(Ordering::Acquire) {
            return Err(crate::error::ApiError::NotFound);
        }
        crate::http::public_bytes(&req, "application/json", format!("{{\"run\":{run}}}").into_bytes())
    }

    fn origin() -> web::Data<Origin> {
        web::Data::new(Origin { runs: 0.into(), held: false.into(), permits: Semaphore::new(0), gone: false.into() })
    }

    /// A service with `cache` in front of `origin`'s handler.
    macro_rules! cached_app {
        ($cache:expr, $origin:expr) => {{
            let cache = $cache.clone();
            test::init_service(
                App::new()
                    .app_data($origin.clone())
                    .wrap(from_fn(move |req, next| serve_public(cache.clone(), req, next)))
                    .route("/v1/thing", web::get().to(counted)),
            )
            .await
        }};
    }

    #[actix_web::test]
    async fn an_expired_entry_is_served_while_one_request_computes_its_successor() {
        let ttl = Duration::from_millis(100);
        let origin = origin();
        let app = cached_app!(ResponseCache::new(ttl), origin);
        let get = || test::TestRequest::get().uri("/v1/thing").to_request();
        let body = |response: ServiceResponse| async { String::from_utf8(test::read_body(response).await.to_vec()) };

        assert_eq!(body(test::call_service(&app, get()).await).await.unwrap(), r#"{"run":1}"#);
        assert_eq!(body(test::call_service(&app, get()).await).await.unwrap(), r#"{"run":1}"#);
        actix_web::rt::time::sleep(ttl + Duration::from_millis(20)).await;

        // The first request after the TTL refreshes, and is held there…
        origin.held.store(true, Ordering::Release);
        let refresh = test::call_service(&app, get());
        let others = async {
            // …while the others are served the expired entry, without waiting.
            actix_web::rt::task::yield_now().await;
            let mut seen = Vec::new();
            for _ in 0..3 {
                let served = actix_web::rt::time::timeout(Duration::from_secs(5), test::call_service(&app, get()));
                seen.push(body(served.await.expect("served, not held behind the refresh")).await.unwrap());
            }
            origin.permits.add_permits(1);
            seen
        };
        let (refreshed, others) = futures_util::future::join(refresh, others).await;
        assert_eq!(others, vec![r#"{"run":1}"#; 3]);
        assert_eq!(body(refreshed).await.unwrap(), r#"{"run":2}"#);
        assert_eq!(origin.runs.load(Ordering::Acquire), 2, "one refresh, however many asked");

        // The successor is fresh for a TTL.
        origin.held.store(false, Ordering::Release);
        assert_eq!(body(test::call_service(&app, get()).await).await.unwrap(), r#"{"run":2}"#);
    }

    #[actix_web::test]
    async fn an_expired_entry_whose_successor_fails_is_served_no_more() {
        let ttl = Duration::from_millis(100);
        let (origin, cache) = (origin(), ResponseCache::new(ttl));
        let app = cached_app!(cache, origin);
        let get = || test::TestRequest::get().uri("/v1/thing").to_request();
        let kept = || cache.entries.as_ref().expect("on").contains_key("/v1/thing");
        assert_eq!(test::call_service(&app, get()).await.status(), StatusCode::OK);
        actix_web::rt::time::sleep(ttl + Duration::from_millis(20)).await;
        assert!(kept(), "expired, but kept to be served during a refresh");

        // Deleted elsewhere: the refresh finds it gone, and the expired copy
        // goes too, so that readers arriving next are not served it.
        origin.gone.store(true, Ordering::Release);
        assert_eq!(test::call_service(&app, get()).await.status(), StatusCode::NOT_FOUND);
        assert!(!kept());
        assert_eq!(test::call_service(&app, get()).await.status(), StatusCode::NOT_FOUND);
    }
}
