//! `ApiJson<T>`, the JSON body extractor every write uses.
//!
//! It exists because actix's `Json` reports failures as plain text and knows
//! nothing of fields. Here: a wrong or missing `Content-Type` (JSON, or a
//! JSON Merge Patch) or any `Content-Encoding` is 415, a body
//! over the configured limit 413, broken JSON 400, and a well-formed body with
//! wrong or unknown fields, or values that fail `validator` rules, 422 with
//! one `errors[]` entry per field.
//!
//! Extraction itself never fails: the outcome is kept and handed over by
//! `get()`, which the handler calls after every other extractor has run. So
//! authorization comes before the body: an editor who posts a bad body to an
//! admin-only route learns 403, not the validation rules (actix answers the
//! first extractor that fails, in whatever order they finish).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};
use crate::state::AppState;

/// `MAX_BYTES` of 0 means the configured `ANTHOLOGY_MAX_BODY_BYTES`; a small
/// number keeps tiny bodies (votes) tiny.
pub struct ApiJson<T, const MAX_BYTES: usize = 0>(Result<T, ApiError>);

impl<T, const MAX_BYTES: usize> ApiJson<T, MAX_BYTES> {
    /// The body, or why it is not acceptable.
    pub fn get(self) -> Result<T, ApiError> {
        self.0
    }
}

/// Like [`ApiJson`], for bodies that may be left out: an empty body is `None`.
pub struct MaybeJson<T>(Result<Option<T>, ApiError>);

impl<T> MaybeJson<T> {
    /// The body if one was sent, or why it is not acceptable.
    pub fn get(self) -> Result<Option<T>, ApiError> {
        self.0
    }
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl<T: DeserializeOwned + Validate + 'static, const MAX_BYTES: usize> FromRequest for ApiJson<T, MAX_BYTES> {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json::<T>(req, payload, MAX_BYTES);
        Box::pin(async move {
            let body = body.await.and_then(|body| {
                body.ok_or_else(|| ApiError::BadRequest("the body is empty: send a JSON document".into()))
            });
            Ok(ApiJson(body))
        })
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for MaybeJson<T> {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json::<T>(req, payload, 0);
        Box::pin(async move { Ok(MaybeJson(body.await)) })
    }
}

/// How long a request's body may take to arrive once its headers have.
/// actix-web bounds the headers (5 s) and idle connections, not bodies: a
/// client sending a body a byte now and then held its connection for ever,
/// and a few thousand of them used up the process's file descriptors (no
/// reader could connect). A megabyte arrives in this time at 80 kB/s.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// Reads, parses and validates the body; `None` when it is empty. A body
/// over `max_bytes` (0: the configured limit) is 413, whether it says so in
/// `Content-Length` or only sends too much.
fn read_json<T: DeserializeOwned + Validate + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    max_bytes: usize,
) -> Extracted<Option<T>> {
    let content_type_ok = is_json_content_type(req);
    // Bodies are read as sent: a compressed one is not JSON to us (415, RFC
    // 9110's answer to a content coding the server does not take).
    let encoded = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|coding| !coding.to_str().is_ok_and(|c| c.trim().eq_ignore_ascii_case("identity")));
    let configured = req.app_data::<web::Data<AppState>>().map_or(64 * 1024, |state| state.config.max_body_bytes);
    let limit = if max_bytes == 0 { configured } else { max_bytes };
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        let read = async {
            let mut bytes = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|err| ApiError::BadRequest(format!("could not read the body: {err}")))?;
                if bytes.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        let bytes = actix_web::rt::time::timeout(BODY_DEADLINE, read)
            .await
            .map_err(|_| ApiError::BodyTimeout(BODY_DEADLINE.as_secs()))??;
        if bytes.is_empty() {
            return Ok(None);
        }
        if encoded {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be sent uncompressed: Content-Encoding is not supported".into(),
            ));
        }
        if !content_type_ok {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON, sent with Content-Type: application/json \
                 (or application/merge-patch+json for a patch)"
                    .into(),
            ));
        }
        let value: T = parse(&bytes)?;
        value.validate().map_err(|errors| ApiError::Validation(field_errors(&errors)))?;
        Ok(Some(value))
    })
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    // Other `+json` types mean other things: a JSON Patch (RFC 6902) read as
    // a merge patch would do something else than its sender asked.
    matches!(essence.as_str(), "application/json" | "application/merge-patch+json")
}

/// Deserialises with the path of the failing field, so the 422 can name it.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            // A shape error found before a syntax error further on is still broken JSON.
            serde_json::error::Category::Data => match serde_json::from_slice::<serde_json::Value>(bytes) {
                // A member named twice is lost when the body is read as a
                // document (the last one wins), so it is named here.
                Ok(_) if inner.to_string().starts_with("duplicate field `") => {
                    let name = inner.to_string().split('`').nth(1).unwrap_or_default().to_owned();
                    let parent = path.rsplit_once('.').map_or("", |(parent, _)| parent);
                    let field = if parent.is_empty() { name } else { format!("{parent}.{name}") };
                    ApiError::invalid(field, "duplicate", "is given more than once")
                }
                Ok(document) => shape_errors::<T>(document),
                Err(_) => ApiError::BadRequest(format!("the body is not valid JSON: {inner}")),
            },
            // `"\ud800"` is well-formed JSON but no Unicode text: a bad value, not bad syntax.
            // (serde_json says "unexpected end of hex escape" for a leading
            // surrogate that no trailing one follows.)
            serde_json::error::Category::Syntax if is_lone_surrogate(&inner.to_string()) => ApiError::invalid(
                if path == "." { "body".to_owned() } else { path },
                "encoding",
                "must be valid Unicode text (a lone surrogate escape is not)",
            ),
            _ => ApiError::BadRequest(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    deserializer.end().map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

fn is_lone_surrogate(message: &str) -> bool {
    message.contains("surrogate") || message.starts_with("unexpected end of hex escape")
}

/// An integer field that, as JSON Schema says, also takes a number with no
/// fractional part (`4.0`); serde alone would reject it.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::{Error, Unexpected};
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64 => Ok(f as i64),
        Some(f) => Err(D::Error::invalid_value(Unexpected::Float(f), &"a whole number")),
        None => Err(D::Error::custom("a whole number in the int64 range")),
    }
}

/// [`whole_number`] for a field that may be left out or null.
pub fn optional_whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] i64);
    Ok(Option::<Whole>::deserialize(deserializer)?.map(|Whole(n)| n))
}

/// Deserialises an already-parsed document (a merged patch, say), naming
/// each bad field in the 422.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    match serde_path_to_error::deserialize(&value) {
        Ok(read) => Ok(read),
        Err(_) => Err(shape_errors::<T>(value)),
    }
}

/// How many bad fields of a body's shape are named at most: each costs one
/// more reading of the body.
const SHAPE_ERRORS_MAX: usize = 20;

/// A well-formed document of the wrong shape, as a 422 with one entry per
/// bad field (the contract's rule): serde stops at the first, so each bad
/// field is set aside and the rest read again. A missing field ends the
/// search (there is nothing to set aside).
fn shape_errors<T: DeserializeOwned>(mut document: serde_json::Value) -> ApiError {
    let mut errors: Vec<FieldError> = Vec::new();
    for _ in 0..SHAPE_ERRORS_MAX {
        let Err(err) = serde_path_to_error::deserialize::<_, T>(&document) else { break };
        let path = err.path().to_string();
        let error = shape_error(&path, &err.into_inner().to_string());
        let set_aside = error.code != "required" && remove(&mut document, &path);
        // A required field set aside for its type is then missing too.
        if !errors.iter().any(|known| known.field == error.field) {
            errors.push(error);
        }
        if !set_aside {
            break;
        }
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    ApiError::Validation(errors)
}

/// Removes the member at `path` (`seo.meta_title`; for `tags[2]`, the whole
/// `tags`), if there is one.
fn remove(document: &mut serde_json::Value, path: &str) -> bool {
    let path = path.split('[').next().unwrap_or_default();
    let mut keys: Vec<&str> = path.split('.').filter(|key| !key.is_empty()).collect();
    let Some(last) = keys.pop() else { return false };
    let mut node = document;
    for key in keys {
        let Some(next) = node.get_mut(key) else { return false };
        node = next;
    }
    node.as_object_mut().and_then(|members| members.remove(last)).is_some()
}

/// One bad field of a well-formed document, named: serde reports a missing
/// field at its parent, so the name is taken from the message.
fn shape_error(path: &str, message: &str) -> FieldError {
    let message = strip_position(message);
    let parent = if path == "." { "" } else { path };
    let join = |name: &str| if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") };
    if let Some(name) = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        return FieldError::new(join(name), "required", "is required");
    }
    if message.starts_with("unknown field `") {
        let known = message.split_once(", expected").map_or(String::new(), |(_, e)| format!(" (expected{e})"));
        return FieldError::new(path, "unknown", format!("is not a field here{known}"));
    }
    let field = if parent.is_empty() { "body" } else { parent };
    if message.contains("did not match any variant") {
        return FieldError::new(
            field,
            "shape",
            "matches none of the shapes this field may take (see the schema's oneOf)",
        );
    }
    FieldError::new(field, "type", message)
}

/// serde_json appends " at line 1 column 42", which says nothing about the field.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Flattens `validator`'s tree into one entry per field, with JSON paths.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    let mut fields: Vec<_> = errors.errors().iter().collect();
    fields.sort_by_key(|(name, _)| name.to_string());
    for (name, kind) in fields {
        let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
        match kind {
            ValidationErrorsKind::Field(list) => {
                if let Some(first) = list.first() {
                    out.push(FieldError::new(path, first.code.to_string(), message_for(first)));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

fn message_for(error: &validator::ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    // Field types (`crate::fields`) give their own messages; what is left is
    // `validator`'s built-in `range`.
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match (error.code.as_ref(), param("min"), param("max")) {
        ("range", Some(min), Some(max)) => format!("must be from {min} to {max}"),
        (code, ..) => format!("is invalid ({code})"),
    }
}
