//! The HTTP server: middleware, the app, and the listener.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, get, web};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::config::CorsOrigins;
use crate::error::{self, ApiError};
use crate::openapi;
use crate::state::AppState;

/// Serves the app on `listener` until SIGINT/SIGTERM, then drains in-flight
/// requests (actix's graceful shutdown, 30 s at most).
pub fn serve(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    if state.config.public_url.is_none() && state.config.addr.ip().is_unspecified() {
        tracing::warn!(
            base = state.config.api_base(),
            "PUBLIC_URL is not set and the listener is on every address: links in feeds, sitemaps and \
             Location headers name a host no client can reach; set PUBLIC_URL to the API's public URL"
        );
    }
    // The webhook outbox is sent from every serving process.
    crate::webhooks::Dispatcher::new(
        state.db.clone(),
        state.config.webhooks_allow_private_urls,
        state.config.webhooks_retry_base,
        state.config.webhooks_retention,
    )
    .spawn();
    // Votes are written, and ranks kept, by every serving process.
    state.votes.spawn_writers(&state.db, &state.config.database_url, state.config.database_pool_size);
    crate::ratings::Upkeep::new(state.db.clone(), state.rating_prior).spawn();
    // Suggestions are computed, and stored, by every serving process.
    crate::related::Suggester::new(state.db.clone()).spawn();
    let state = web::Data::new(state);
    Ok(actix_web::HttpServer::new(move || app(state.clone()))
        .max_connections(MAX_CONNECTIONS_PER_WORKER)
        .listen(listener)?
        .shutdown_timeout(30)
        .run())
}

/// Open connections each worker (one per core) serves at once; past it, new
/// ones wait in the listen queue until some close. actix-web's default
/// (25,000 a worker) is more than the file descriptors a process usually
/// may open, and a client holding that many connections made accepting
/// fail for everyone (`Too many open files`) and cost hundreds of MB.
const MAX_CONNECTIONS_PER_WORKER: usize = 4096;

/// Serves Prometheus metrics on `listener` (`ANTHOLOGY_METRICS_ADDR`), apart
/// from the API, with one worker.
pub fn serve_metrics(listener: TcpListener) -> std::io::Result<Server> {
    Ok(actix_web::HttpServer::new(crate::metrics::app).workers(1).listen(listener)?.shutdown_timeout(5).run())
}

/// The whole application, as every worker (and every test) runs it.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let cors = cors(state.config.cors_allowed_origins.clone());
    let cache = state.response_cache.clone();
    App::new()
        .into_utoipa_app()
        .configure(crate::routes::configure)
        .into_app()
        .app_data(state)
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .service(get_openapi)
        .service(get_docs_redirect)
        .service(SwaggerUi::new("/docs/{_:.*}").config(SwaggerConfig::new(["/openapi.json"]).validator_url("none")))
        .default_service(web::to(unmatched))
        // Public responses: encoded (and cached) here, inside CORS so that a
        // cached response still gets each request's CORS headers.
        .wrap(from_fn(move |req, next| crate::cache::serve_public(cache.clone(), req, next)))
        .wrap(from_fn(crate::http::head_as_get))
        .wrap(cors)
        // Outside CORS, so that its refusals become problem documents too.
        .wrap(ErrorHandlers::new().default_handler(error::problem_safety_net))
        // Everything else, with the same codings.
        .wrap(from_fn(crate::encoding::compress_others))
        .wrap(TracingLogger::<RequestSpan>::new())
        .wrap(from_fn(crate::metrics::record_requests))
}

/// Each request's span (method, route, client, request id…) when INFO is
/// logged, as tracing-actix-web builds it; none otherwise. Building one walks
/// the route table and reads the connection's details, which is work thrown
/// away for a span that is disabled (`RUST_LOG=warn`).
struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        if tracing::level_enabled!(tracing::Level::INFO) {
            DefaultRootSpanBuilder::on_request_start(request)
        } else {
            Span::none()
        }
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Any origin may read; only `writers` may vote or write, so no other site
/// can make its visitors' browsers vote (their preflight is refused, and so
/// is a write that arrives with its `Origin` anyway).
fn cors(writers: Option<CorsOrigins>) -> Cors {
    let may_write = move |origin: &HeaderValue| match &writers {
        Some(CorsOrigins::Any) => true,
        Some(CorsOrigins::List(list)) => list.iter().any(|allowed| origin.as_bytes() == allowed.as_bytes()),
        None => false,
    };
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            // A preflight asks for the method to come; other requests are it.
            let method = head
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
                .unwrap_or_else(|| head.method.clone());
            matches!(method, Method::GET | Method::HEAD) || may_write(origin)
        })
        .block_on_origin_mismatch(true)
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_MATCH, header::IF_NONE_MATCH])
        .expose_headers([header::ETAG, header::LOCATION, header::LINK, header::RETRY_AFTER, header::LAST_MODIFIED])
        .max_age(3600)
}

/// 405 with `Allow` when the path is an API route but the method is not one
/// of its methods; 404 otherwise.
async fn unmatched(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(req
        .resource_map()
        .match_pattern(req.path())
        .and_then(|pattern| openapi::allowed_methods(&pattern))
        .map_or(ApiError::NotFound, |methods| ApiError::MethodNotAllowed(methods.to_vec())))
}

/// The OpenAPI document, byte-identical to `openapi/openapi.json`.
#[get("/openapi.json")]
async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(openapi::DOCUMENT_JSON.as_str())
}

#[get("/docs")]
async fn get_docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish()
}
