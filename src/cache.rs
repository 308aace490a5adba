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
//!
//! A miss (a key not cached, or an entry a write of this process made
//! stale) is computed once however many ask at the same time: the others
//! wait for that computation (single-flight) and are answered from its
//! entry as a hit is. A request waits only for a computation that began
//! after every write of this process it must see — one still fresh for the
//! story it shows, learned from the key's previous entry, or, when that is
//! unknown, one no vote has come after — so read-your-write holds;
//! otherwise it computes, and later requests wait for it instead. The wait
//! ends with the computing request: if that one fails, answers something
//! not cached, or is dropped (its client gone), each waiter computes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{Error, HttpRequest, HttpResponse};
use tokio::sync::watch;

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

    /// [`still_fresh`](Self::still_fresh) for a response not computed yet:
    /// when which story it shows is unknown, any vote may have changed it.
    fn still_fresh_for(&self, seen: Seen, shows: Shows) -> bool {
        match shows {
            Shows::Story(story) => self.still_fresh(seen, story),
            Shows::Unknown => {
                seen.everything == self.everything.load(Ordering::Acquire)
                    && seen.votes == self.votes.load(Ordering::Acquire)
            }
        }
    }
}

/// Which story's rating figures a response shows, as far as is known before
/// it is computed: a story read by slug names its id only in the body, so
/// it is learned from the key's previous entry.
#[derive(Clone, Copy, PartialEq)]
enum Shows {
    Story(Option<i64>),
    Unknown,
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
    /// Per key, the latest computation of its response under way: at most
    /// one per request computing, each removed when it ends ([`Lead`]).
    flights: Arc<Mutex<HashMap<String, Arc<Flight>>>>,
}

/// A response being computed, which requests for the same key may wait for
/// instead of computing it again (single-flight).
struct Flight {
    /// What had been written when its computation began.
    seen: Seen,
    shows: Shows,
    /// The entry once stored; closed without one if the computation fails,
    /// answers something not cached, or is dropped (its client gone).
    entry: watch::Receiver<Option<Arc<CachedResponse>>>,
}

/// The computing request's part in its [`Flight`]: finished with the entry,
/// or dropped, it wakes the waiters and leaves the flights map.
struct Lead {
    flights: Arc<Mutex<HashMap<String, Arc<Flight>>>>,
    key: String,
    flight: Arc<Flight>,
    entry: watch::Sender<Option<Arc<CachedResponse>>>,
}

impl Lead {
    fn finish(self, entry: Arc<CachedResponse>) {
        self.entry.send_replace(Some(entry));
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // A later computation of the key may have taken the place: it stays.
        if flights.get(&self.key).is_some_and(|flight| Arc::ptr_eq(flight, &self.flight)) {
            flights.remove(&self.key);
        }
    }
}

/// A missing request's part: wait for another's computation, or lead one.
enum Part {
    Wait(watch::Receiver<Option<Arc<CachedResponse>>>, Shows),
    Lead(Lead),
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
        Self { entries, ttl, generations: Arc::new(Generations::new()), flights: Arc::default() }
    }

    /// The part of a request that must compute `key`'s response, having
    /// seen `seen`: it waits for the computation under way when that one
    /// began after every write of this process the request must see (so a
    /// reader still reads its own vote), else it leads its own, which later
    /// requests then wait for. `may_wait` is false for a refresh (nobody
    /// waits for an expired entry: they are served it) and for a request
    /// that already waited once in vain: they compute.
    fn take_part(&self, key: &str, seen: Seen, shows: Shows, may_wait: bool) -> Part {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = flights.get(key).filter(|f| may_wait && self.generations.still_fresh_for(f.seen, f.shows))
        {
            return Part::Wait(flight.entry.clone(), flight.shows);
        }
        let (sender, receiver) = watch::channel(None);
        let flight = Arc::new(Flight { seen, shows, entry: receiver });
        flights.insert(key.to_owned(), flight.clone());
        Part::Lead(Lead { flights: self.flights.clone(), key: key.to_owned(), flight, entry: sender })
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

/// The key of a request's response: its path and the query parameters the
/// API reads, in one order and one encoding ([`crate::http::canonical_request`]).
/// Others change nothing in the response, and were a way to make any
/// request a miss (`?x=<random>`).
fn cache_key(uri: &actix_web::http::Uri) -> String {
    crate::http::canonical_request(uri, &[])
}

/// `req` answered from a cached entry, in the coding it prefers, as a hit is.
fn from_entry(req: &HttpRequest, cached: &CachedResponse) -> HttpResponse {
    let Some(coding) = negotiate(req) else {
        return not_acceptable();
    };
    let etag = cached.etags[coding.index()].as_ref();
    answer(req, &cached.headers, coding, etag, || cached.bodies[coding.index()].clone())
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
    let (mut seen, mut started) = (cache.generations.seen(), Instant::now());
    let mut refresh: Option<Refresh> = None;
    let mut lead: Option<Lead> = None;
    if let Some(entries) = entries {
        let key = &cache_key(req.uri());
        // This process's writes drop entries at once (generations); the TTL
        // only bounds how late other processes' writes show.
        let prior = entries.get(key);
        let cached = prior.clone().filter(|c| cache.generations.still_fresh(c.seen, c.story)).filter(|c| {
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
            let response = from_entry(req.request(), &cached);
            return Ok(req.into_response(response));
        }
        // A miss waits for the computation of the same response under way
        // rather than repeat it (when a vote made a popular entry stale,
        // every reader of it read the database and compressed three ways at
        // once). The story it will show is the previous entry's, unless a
        // write since may have given the key to another (a slug).
        let shows = match &prior {
            Some(prior) if prior.seen.everything == seen.everything => Shows::Story(prior.story),
            _ => Shows::Unknown,
        };
        // A refresh has no waiters: the others are served the expired entry.
        let mut may_wait = refresh.is_none();
        lead = loop {
            match cache.take_part(key, seen, shows, may_wait) {
                Part::Lead(lead) => break Some(lead),
                Part::Wait(mut entry, expected) => {
                    let entry = entry.wait_for(Option::is_some).await.ok().and_then(|entry| Option::clone(&entry));
                    // Joined on a story learned from the previous entry that
                    // the response proved wrong: taken only if still fresh.
                    let right = |e: &CachedResponse| {
                        expected == Shows::Unknown
                            || expected == Shows::Story(e.story)
                            || cache.generations.still_fresh(e.seen, e.story)
                    };
                    if let Some(entry) = entry.filter(|e| right(e)) {
                        let response = from_entry(req.request(), &entry);
                        return Ok(req.into_response(response));
                    }
                    // It failed, was not cached, or its client went: this
                    // request computes, without waiting again.
                    (may_wait, seen, started) = (false, cache.generations.seen(), Instant::now());
                }
            }
        };
    }

    let response = next.call(req).await?;
    let public = response.headers().get(header::CACHE_CONTROL).is_some_and(|v| v == PUBLIC_CACHE_CONTROL);
    if response.status() != StatusCode::OK || !public {
        // What was cached is gone (another process deleted the story, say):
        // the expired entry is not served to anyone any more.
        if let (Some(_), Some(entries), Some(lead)) = (&refresh, entries, &lead) {
            entries.invalidate(lead.key.as_str());
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
    // A response streamed without one (a sitemap file, written as it is
    // read) gets its strong ETag here, where its bytes are whole.
    let identity_etag = headers
        .remove(header::ETAG)
        .next()
        .and_then(|tag| tag.to_str().ok().map(str::to_owned))
        .or_else(|| Some(crate::http::etag_of(&body)));
    let etag_of =
        |coding: Coding| identity_etag.as_deref().and_then(|tag| HeaderValue::try_from(coding.etag(tag)).ok());

    let (Some(entries), Some(lead)) = (entries, lead) else {
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
    entries.insert(lead.key.clone(), cached.clone());
    let response = from_entry(&req, &cached);
    lead.finish(cached);
    Ok(ServiceResponse::new(req, response))
}

#[cfg(test)]
mod tests {
    use std::pin::{Pin, pin};
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll, Waker};

    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpRequest, test, web};
    use futures_util::future::{join4, join5};
    use tokio::sync::Semaphore;

    use super::*;

    /// The key keeps the parameters the API reads, in one order and one
    /// encoding, and nothing else: `?x=<random>` is no way around the cache.
    #[actix_web::test]
    async fn keys_hold_only_the_parameters_read() {
        let key = |uri: &str| cache_key(&uri.parse().unwrap());
        assert_eq!(key("/v1/stories"), "/v1/stories");
        assert_eq!(key("/v1/stories?"), "/v1/stories");
        assert_eq!(key("/v1/stories?x=1&utm_source=feed"), "/v1/stories");
        assert_eq!(key("/v1/stories?limit=5&x=1&cursor=abc"), "/v1/stories?cursor=abc&limit=5");
        assert_eq!(key("/v1/stories?cursor=abc&limit=5"), "/v1/stories?cursor=abc&limit=5");
        assert_eq!(key("/v1/feed.json?tag=a%20b&junk=%3Cy%3E"), key("/v1/feed.json?tag=a+b"));
        assert_ne!(key("/v1/stories?tag=family"), key("/v1/stories?tag=travel"));
        // Repeats keep their order (the request is refused as 400 anyway).
        assert_eq!(key("/v1/stories?tag=b&tag=a"), "/v1/stories?tag=b&tag=a");
    }

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
        crate::http::public_bytes(&req, "application/json", ran(run).into_bytes())
    }

    /// The body of the handler's `run`th answer: always story 7's.
    fn ran(run: usize) -> String {
        format!(r#"{{"id":7,"run":{run}}}"#)
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
                    .route("/v1/thing", web::get().to(counted))
                    .route("/v1/stories/{id}", web::get().to(counted))
                    .route("/v1/stories/slug/{slug}", web::get().to(counted)),
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

        assert_eq!(body(test::call_service(&app, get()).await).await.unwrap(), ran(1));
        assert_eq!(body(test::call_service(&app, get()).await).await.unwrap(), ran(1));
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
        assert_eq!(others, vec![ran(1); 3]);
        assert_eq!(body(refreshed).await.unwrap(), ran(2));
        assert_eq!(origin.runs.load(Ordering::Acquire), 2, "one refresh, however many asked");

        // The successor is fresh for a TTL.
        origin.held.store(false, Ordering::Release);
        assert_eq!(body(test::call_service(&app, get()).await).await.unwrap(), ran(2));
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

    /// Polls `future` once, as a server does before it waits for anything:
    /// far enough to lead or to join a computation.
    fn poll_once<F: Future>(future: &mut Pin<&mut F>) -> Poll<F::Output> {
        future.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    async fn text(response: ServiceResponse) -> String {
        String::from_utf8(test::read_body(response).await.to_vec()).expect("UTF-8")
    }

    fn in_flight(cache: &ResponseCache) -> usize {
        cache.flights.lock().expect("not poisoned").len()
    }

    #[actix_web::test]
    async fn concurrent_misses_of_one_key_run_the_handler_once() {
        let (origin, cache) = (origin(), ResponseCache::new(Duration::from_secs(60)));
        let app = cached_app!(cache, origin);
        let get = |headers: &[(&str, &str)]| {
            headers.iter().fold(test::TestRequest::get().uri("/v1/thing"), |req, &h| req.insert_header(h)).to_request()
        };
        origin.held.store(true, Ordering::Release);
        let (first, second, gzip_holder, br, ()) = join5(
            test::call_service(&app, get(&[])),
            test::call_service(&app, get(&[])),
            // Waiters answer as a hit does: their own coding, tag and 304.
            test::call_service(&app, get(&[("Accept-Encoding", "gzip"), ("If-None-Match", "*")])),
            test::call_service(&app, get(&[("Accept-Encoding", "br")])),
            async {
                actix_web::rt::task::yield_now().await;
                origin.permits.add_permits(1);
            },
        )
        .await;
        assert_eq!(origin.runs.load(Ordering::Acquire), 1, "one computation, however many asked");
        assert_eq!((text(first).await, text(second).await), (ran(1), ran(1)));
        assert_eq!(gzip_holder.status(), StatusCode::NOT_MODIFIED);
        let header = |response: &ServiceResponse, name| response.headers().get(name).cloned();
        assert!(header(&gzip_holder, header::ETAG).is_some_and(|tag| tag.to_str().unwrap().ends_with(".gzip\"")));
        assert_eq!(header(&br, header::CONTENT_ENCODING), Some(HeaderValue::from_static("br")));
        assert!(header(&br, header::ETAG).is_some_and(|tag| tag.to_str().unwrap().ends_with(".br\"")));
        assert_eq!(in_flight(&cache), 0);
    }

    /// Two requests for `$uri` at once, the first computing (held) and the
    /// second waiting for it; then a vote on story `$story` and a third
    /// request. Their bodies, once the handler is let go.
    macro_rules! two_then_a_vote {
        ($app:expr, $cache:expr, $origin:expr, $uri:expr, $story:expr) => {{
            let get = || test::TestRequest::get().uri($uri).to_request();
            $origin.held.store(true, Ordering::Release);
            let (first, joined, after_vote, ()) = join4(
                test::call_service(&$app, get()),
                test::call_service(&$app, get()),
                async {
                    // Both above are parked by now.
                    actix_web::rt::task::yield_now().await;
                    $cache.generations.changed(PublicChange::RatingOf($story));
                    test::call_service(&$app, get()).await
                },
                async {
                    for _ in 0..2 {
                        actix_web::rt::task::yield_now().await;
                    }
                    $origin.permits.add_permits(2);
                },
            )
            .await;
            (text(first).await, text(joined).await, text(after_vote).await)
        }};
    }

    #[actix_web::test]
    async fn a_request_after_a_vote_never_waits_for_a_computation_begun_before_it() {
        let (origin, cache) = (origin(), ResponseCache::new(Duration::from_secs(60)));
        let app = cached_app!(cache, origin);
        let get = || test::TestRequest::get().uri("/v1/stories/7").to_request();
        assert_eq!(text(test::call_service(&app, get()).await).await, ran(1));

        cache.generations.changed(PublicChange::RatingOf(7));
        let (first, joined, after_vote) = two_then_a_vote!(app, cache, origin, "/v1/stories/7", 7);
        assert_eq!((first, joined), (ran(2), ran(2)));
        assert_eq!(after_vote, ran(3), "computed after its vote, not joined to the one before");
        assert_eq!(in_flight(&cache), 0);
    }

    #[actix_web::test]
    async fn a_story_by_slug_is_waited_for_only_while_no_vote_could_have_changed_it() {
        let (origin, cache) = (origin(), ResponseCache::new(Duration::from_secs(60)));
        let app = cached_app!(cache, origin);
        let uri = "/v1/stories/slug/seven";

        // Never cached: which story it shows is unknown until it is
        // computed, so a vote on any story stops the waiting.
        assert_eq!(two_then_a_vote!(app, cache, origin, uri, 8), (ran(1), ran(1), ran(2)));

        // Cached once, it is known to show story 7: made stale by a vote on
        // it, its computation is still waited for after a vote on another.
        cache.generations.changed(PublicChange::RatingOf(7));
        assert_eq!(two_then_a_vote!(app, cache, origin, uri, 8), (ran(3), ran(3), ran(3)));
        assert_eq!(origin.runs.load(Ordering::Acquire), 3);
        assert_eq!(in_flight(&cache), 0);
    }

    #[actix_web::test]
    async fn waiters_compute_when_the_computation_fails_or_is_dropped() {
        let (origin, cache) = (origin(), ResponseCache::new(Duration::from_secs(60)));
        let app = cached_app!(cache, origin);
        let get = || test::TestRequest::get().uri("/v1/thing").to_request();

        // It fails (deleted meanwhile, say): the waiter asks the handler again.
        origin.held.store(true, Ordering::Release);
        origin.gone.store(true, Ordering::Release);
        let mut first = pin!(test::call_service(&app, get()));
        let mut waiter = pin!(test::call_service(&app, get()));
        assert!(poll_once(&mut first).is_pending() && poll_once(&mut waiter).is_pending());
        origin.permits.add_permits(1);
        assert_eq!(first.await.status(), StatusCode::NOT_FOUND);
        origin.gone.store(false, Ordering::Release);
        origin.permits.add_permits(1);
        assert_eq!(text(waiter.await).await, ran(2));

        // Its client goes, and the request with it: the waiter computes.
        cache.generations.changed(PublicChange::Everything);
        let mut first = Box::pin(test::call_service(&app, get()));
        let mut waiter = pin!(test::call_service(&app, get()));
        assert!(poll_once(&mut first.as_mut()).is_pending() && poll_once(&mut waiter).is_pending());
        drop(first);
        assert_eq!(in_flight(&cache), 0, "the dropped computation left");
        origin.permits.add_permits(1);
        assert_eq!(text(waiter.await).await, ran(4));
        assert_eq!(origin.runs.load(Ordering::Acquire), 4);
        assert_eq!(in_flight(&cache), 0);
    }
}
