//! One error type for the whole API.
//!
//! - Query functions return `diesel::QueryResult<T>` (or `Result<T, ApiError>`
//!   when they enforce a rule); `From<diesel::result::Error>` lives in `db.rs`.
//! - Handlers and extractors return `Result<T, ApiError>`.
//! - [`ApiError`] renders every failure as RFC 9457 `application/problem+json`
//!   with a stable `type` per variant. Unexpected failures keep their cause
//!   ([`ApiError::internal`]), which is logged once, when the response is
//!   built — inside the request's span, so the log line carries its route
//!   and request id — and never sent.
//!
//! actix's own failures (bad query strings and paths, unknown routes, wrong
//! methods, anything a middleware rejects) are turned into the same shape by
//! the handlers at the bottom of this file.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document: the body of every 4xx and 5xx response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation-failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "1 field is invalid",
    "errors": [{"field": "title", "code": "length", "message": "must be 1 to 300 characters"}]
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem; stable, one per kind.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem, the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for a person to read.
    pub detail: String,
    /// The request path the problem concerns, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// One entry per invalid field (validation failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// One invalid field in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `title` or `seo.canonical_url`.
    pub field: String,
    /// A machine-readable reason, e.g. `required`, `length`, `format`, `taken`.
    pub code: String,
    /// The reason for a person to read.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No usable credentials; `detail` says which part failed.
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed(Vec<Method>),
    #[error("{0}")]
    Conflict(String),
    #[error("the resource changed since the given ETag")]
    PreconditionFailed,
    #[error("this request needs an If-Match header")]
    PreconditionRequired,
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body did not arrive in time (a stalled or trickling client).
    #[error("the body did not arrive within {0} seconds")]
    BodyTimeout(u64),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{} invalid", if .0.len() == 1 { "1 field is".to_owned() } else { format!("{} fields are", .0.len()) })]
    Validation(Vec<FieldError>),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// Too much work of one kind at once (password checks): 503 with
    /// `Retry-After`; nothing is wrong, so nothing is logged.
    #[error("the server is busy; try again shortly")]
    Busy { retry_after_secs: u64 },
    /// The database (or another dependency) is unreachable; the cause is
    /// logged with the response.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The database is reachable but this request may not have more of it
    /// now: a query ran past the statement timeout and was cancelled, or too
    /// many costly reads are running.
    #[error("{0}")]
    Overloaded(&'static str),
    /// Anything unexpected; the cause is logged with the response, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// Wraps an unexpected failure, keeping its cause: a bare 500 for the client.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    /// Wraps a failure to reach the database: 503 with `Retry-After`.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable(cause.into())
    }

    pub fn invalid(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    /// The `type` slug and `title` of each kind of problem.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "Bad request"),
            Self::Unauthorized(_) => ("unauthorized", "Authentication required"),
            Self::Forbidden(_) => ("forbidden", "Forbidden"),
            Self::NotFound => ("not-found", "Not found"),
            Self::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::PreconditionFailed => ("precondition-failed", "Precondition failed"),
            Self::PreconditionRequired => ("precondition-required", "Precondition required"),
            Self::PayloadTooLarge(_) => ("payload-too-large", "Payload too large"),
            Self::BodyTimeout(_) => ("request-timeout", "Request timeout"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::Validation(_) => ("validation-failed", "Validation failed"),
            Self::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            Self::Busy { .. } => ("busy", "Server busy"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Overloaded(_) => ("overloaded", "Service overloaded"),
            Self::Internal(_) => ("internal", "Internal server error"),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (slug, title) = self.kind();
        Problem {
            problem_type: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail: self.to_string(),
            instance: None,
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. } | Self::Unavailable(_) | Self::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // The one place causes are logged: actix builds the response inside
        // the request's span.
        match self {
            Self::Internal(cause) => tracing::error!(error = format!("{cause:#}"), "internal error"),
            Self::Unavailable(cause) => tracing::warn!(error = format!("{cause:#}"), "dependency unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="anthology""#));
            }
            Self::MethodNotAllowed(allowed) => {
                let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                response.insert_header((header::ALLOW, allow));
            }
            Self::TooManyRequests { retry_after_secs } | Self::Busy { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            // Soon: the load that made it so passes quickly.
            Self::Overloaded(_) => {
                response.insert_header((header::RETRY_AFTER, "2"));
            }
            _ => {}
        }
        response.body(serde_json::to_vec(&self.to_problem()).unwrap_or_default())
    }
}

/// actix's query-string extractor failures: 400 with serde's reason.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query string: {err}")).into()
}

/// actix's path extractor failures (an id out of range, say): 400.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid path parameter: {err}")).into()
}

/// The last line of defence, an `ErrorHandlers` default: any 4xx or 5xx that
/// is not already a problem document (a CORS rejection, actix's own errors)
/// becomes one, so no endpoint ever answers with plain text or HTML.
pub fn problem_safety_net<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let problem = Problem {
        problem_type: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: res
            .response()
            .error()
            .filter(|_| status.is_client_error())
            .map(|e| e.to_string())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned()),
        instance: None,
        errors: None,
    };
    let (req, mut response) = res.into_parts();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    let response = response.set_body(BoxBody::new(serde_json::to_vec(&problem).unwrap_or_default()));
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, response).map_into_right_body()))
}
