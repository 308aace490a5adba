//! Prometheus metrics, served on a second listener (`ANTHOLOGY_METRICS_ADDR`,
//! off by default) so they never share the public port: requests by route,
//! method and status; latency by route; response-cache hits and misses;
//! database pool use and waits; votes; webhook deliveries; and the process's
//! own figures.
//!
//! Recorded with the `metrics` facade, rendered by its Prometheus exporter.
//! Route labels are the routes' templates (`/v1/stories/{id}`), never raw
//! paths, so however many paths clients invent the label set stays small.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, get};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds: a cached read takes well under a
/// millisecond, a search tens of them, a login about fifty.
const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// How often histogram samples are folded into their buckets: the
/// exporter's own default when it runs the upkeep itself.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder is process-wide (the `metrics` facade allows one): every app
/// in the process records into it.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .expect("the latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (a test harness's) only means ours sees nothing.
        let _ = metrics::set_global_recorder(recorder);
        // A histogram keeps every sample until upkeep folds it into the
        // buckets; `build_recorder` leaves upkeep to us. Without it, and with
        // nobody scraping (the listener is off by default), every request's
        // samples stayed for good: RSS grew by about 0.6 MiB per second
        // under load (exporter's docs: "upkeep task").
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        metrics::describe_counter!("http_requests_total", "Requests answered, by route template, method and status");
        metrics::describe_histogram!("http_request_duration_seconds", "Time to answer, by route template");
        metrics::describe_counter!("response_cache_hits_total", "Public reads answered from the response cache");
        metrics::describe_counter!("response_cache_misses_total", "Public reads the response cache did not have");
        metrics::describe_gauge!("db_pool_connections", "Pooled database connections, by state");
        metrics::describe_histogram!("db_pool_wait_seconds", "Time spent waiting for a pooled connection");
        metrics::describe_counter!("votes_total", "Readers' votes, by outcome");
        metrics::describe_counter!("webhook_deliveries_total", "Webhook delivery attempts, by outcome");
        metrics_process::Collector::default().describe();
        handle
    })
}

/// Starts recording; call once at start-up, before requests arrive.
pub fn install() {
    handle();
}

/// A route's label: its template, or `unmatched` for paths no route has.
fn route_label(pattern: Option<String>) -> String {
    pattern.map_or_else(|| "unmatched".to_owned(), |pattern| crate::http::route_template(&pattern))
}

/// The request counter and the latency histogram of one path, method and status.
type Series = (metrics::Counter, metrics::Histogram);

/// Paths a worker remembers the series of ([`series`]) before it forgets
/// them all: clients choose paths, so the memory must stay bounded.
const REMEMBERED_PATHS: usize = 4096;
/// Longer paths are not remembered (a story's slug is at most 190 bytes).
const REMEMBERED_PATH_MAX: usize = 256;

/// The series one path was recorded into, by method label and status.
type PathSeries = Vec<(&'static str, StatusCode, Series)>;

/// The methods counted by name; any other is counted as `other`. Clients
/// choose the method too (`curl -X ANYTHING`), and each label value made a
/// series kept for the life of the process: memory without bound.
const LABELLED_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn method_label(method: &Method) -> &'static str {
    LABELLED_METHODS.into_iter().find(|name| *name == method.as_str()).unwrap_or("other")
}

thread_local! {
    /// Per worker thread, by path.
    static SERIES: RefCell<HashMap<String, PathSeries>> = RefCell::new(HashMap::new());
}

/// The series of a request's route, method and status. Finding the route's
/// template walks the route table, and finding a series hashes its labels:
/// done once per path a worker answers, not on every request.
fn series(req: &HttpRequest, method: &Method, status: StatusCode) -> Series {
    let (path, method) = (req.path(), method_label(method));
    let known = SERIES.with_borrow(|paths| {
        let known = paths.get(path)?.iter().find(|(m, s, _)| *m == method && *s == status);
        known.map(|(_, _, series)| series.clone())
    });
    if let Some(series) = known {
        return series;
    }
    let pattern = req.match_pattern();
    let remember = pattern.is_some() && path.len() <= REMEMBERED_PATH_MAX;
    let route = route_label(pattern);
    let series = (
        metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status.as_u16().to_string()),
        metrics::histogram!("http_request_duration_seconds", "route" => route),
    );
    if remember {
        SERIES.with_borrow_mut(|paths| {
            if paths.len() >= REMEMBERED_PATHS {
                paths.clear();
            }
            paths.entry(path.to_owned()).or_default().push((method, status, series.clone()));
        });
    }
    series
}

/// The middleware (`actix_web::middleware::from_fn`): counts and times every request.
pub async fn record_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let response = next.call(req).await?;
    let (requests, latency) = series(response.request(), &method, response.status());
    requests.increment(1);
    latency.record(started.elapsed());
    Ok(response)
}

/// A hit or a miss of the response cache.
pub fn cache_lookup(hit: bool) {
    // Resolved once: the recorder is installed before the first request.
    static HITS: LazyLock<metrics::Counter> = LazyLock::new(|| metrics::counter!("response_cache_hits_total"));
    static MISSES: LazyLock<metrics::Counter> = LazyLock::new(|| metrics::counter!("response_cache_misses_total"));
    if hit { HITS.increment(1) } else { MISSES.increment(1) }
}

/// A connection taken from the pool: how long it took, and how many
/// connections the pool then holds and how many of them are idle.
pub fn pool_checkout(waited: Duration, connections: u32, idle: u32) {
    metrics::histogram!("db_pool_wait_seconds").record(waited);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(connections - idle));
}

/// A vote's outcome: `created`, `replaced` or `throttled`.
pub fn vote(outcome: &'static str) {
    metrics::counter!("votes_total", "outcome" => outcome).increment(1);
}

/// A webhook delivery attempt's outcome: `delivered`, `retrying` or `failed`.
pub fn webhook_delivery(outcome: &'static str) {
    metrics::counter!("webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// `GET /metrics`: the Prometheus text format.
#[get("/metrics")]
async fn scrape() -> HttpResponse {
    metrics_process::Collector::default().collect();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(handle().render())
}

/// The metrics listener's app.
pub fn app() -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    actix_web::App::new().service(scrape)
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn route_labels_are_templates_not_paths() {
        assert_eq!(route_label(Some(r"/v1/stories/{id:\d+}/rating".into())), "/v1/stories/{id}/rating");
        assert_eq!(route_label(Some("/v1/stories/slug/{slug}".into())), "/v1/stories/slug/{slug}");
        assert_eq!(route_label(None), "unmatched");
    }
}
