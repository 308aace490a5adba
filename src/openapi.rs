//! The OpenAPI 3.1 document, generated from the handlers' annotations as they
//! are mounted in `routes.rs`. `GET /openapi.json` serves it and
//! `openapi/openapi.json` is the committed copy; `tests/api/openapi.rs` fails
//! when the two differ. Regenerate with:
//!
//! ```sh
//! cargo run -q -- openapi > openapi/openapi.json
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use actix_web::App;
use actix_web::http::Method;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, RefOr, Response};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, PROBLEM_CONTENT_TYPE, Problem};
use crate::schemas;
use crate::stories::dto::{SortParam, StoryField};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Anthology",
        description = "A headless content API for story publishing: published stories, their reader ratings and related links as JSON for front-end apps, and endpoints for editors.\n\nErrors are RFC 9457 problem documents. Lists use keyset pagination with an opaque cursor. Public reads carry a strong ETag and may be cached for a minute.",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "Anthology maintainers"),
    ),
    servers((url = "/", description = "The server this document came from")),
    tags(
        (name = "auth", description = "Access tokens for editors"),
        (name = "editors", description = "Editor accounts (admins only)"),
        (name = "stories", description = "Stories: drafts, publishing, revisions, lists, search and tags"),
        (name = "ratings", description = "Readers' 1–5 ratings: the one public write, and moderation"),
        (name = "related", description = "A story's \"read next\" list: curated links and suggestions"),
        (name = "preview", description = "Links that show a draft to anyone holding one, before it is published"),
        (name = "webhooks", description = "Endpoints told of story changes, signed as Standard Webhooks specifies (admins only)"),
        (name = "feeds", description = "Atom, RSS and JSON feeds of the newest stories, and the sitemap"),
        (name = "service", description = "Health and readiness probes"),
    ),
    components(schemas(Problem, FieldError, SortParam, StoryField)),
    modifiers(&BearerScheme),
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        scheme.description = Some("An access token from `POST /v1/auth/token`.".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as the app's registrations describe it.
pub fn document() -> Document {
    let (_, mut doc) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(crate::routes::configure).split_for_parts();
    finish_operations(&mut doc);
    doc
}

/// The document as served and committed: pretty JSON with a final newline.
pub static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    let mut json = serde_json::to_string_pretty(&document()).expect("the OpenAPI document serializes");
    json.push('\n');
    json
});

/// A problem response whose example is one of its own kind (the `Problem`
/// schema's example is a 422).
fn problem_response(status: &str, description: &str) -> Response {
    let mut response = schemas::problem_response(description);
    if let Some(RefOr::T(content)) = response.content.get_mut(PROBLEM_CONTENT_TYPE) {
        content.example = example_problem(status);
    }
    let header = match status {
        "401" => Some(("WWW-Authenticate", "`Bearer realm=\"anthology\"`")),
        "503" => Some(("Retry-After", "Seconds to wait before trying again")),
        _ => None,
    };
    if let Some((name, description)) = header {
        response.headers.insert(name.into(), schemas::header(description).into());
    }
    response
}

fn example_problem(status: &str) -> Option<serde_json::Value> {
    use crate::error::ApiError;
    let error = match status {
        "400" => ApiError::BadRequest("limit must be from 1 to 100, got 500".into()),
        "401" => ApiError::Unauthorized("the access token is invalid or has expired"),
        "403" => ApiError::Forbidden("this operation is for admins only"),
        "408" => ApiError::BodyTimeout(crate::json::BODY_DEADLINE.as_secs()),
        "413" => ApiError::PayloadTooLarge(1_048_576),
        "415" => {
            ApiError::UnsupportedMediaType("the body must be JSON, sent with Content-Type: application/json".into())
        }
        "422" => ApiError::invalid("title", "length", "must be 1 to 300 characters long"),
        "500" => ApiError::internal(anyhow::anyhow!("")),
        "503" => ApiError::unavailable(anyhow::anyhow!("")),
        _ => return None,
    };
    serde_json::to_value(error.to_problem()).ok()
}

/// What every operation needs and is said once here rather than on every
/// handler: `security: []` for public operations (utoipa writes `[{}]`);
/// optional bodies as optional; and the failures any operation can meet —
/// 400/500/503 everywhere, 401/403 where a token is needed (401 where one
/// is merely accepted), 408/413/415/422 where there is a body.
fn finish_operations(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            // Each security alternative either names the bearer scheme or is `{}` (none).
            let alternatives: Vec<bool> = operation.security.as_ref().map_or(Vec::new(), |reqs| {
                serde_json::to_value(reqs)
                    .ok()
                    .and_then(|v| v.as_array().map(|a| a.iter().map(|r| r.get("bearer").is_some()).collect()))
                    .unwrap_or_default()
            });
            let needs_token = !alternatives.is_empty() && alternatives.iter().all(|bearer| *bearer);
            let takes_token = alternatives.iter().any(|bearer| *bearer);
            if !alternatives.is_empty() && !takes_token {
                operation.security = Some(Vec::new());
            }
            make_nullable_body_optional(operation);
            send_problems_as_problems(operation);
            // A page of a list links the next; a conditional write answers with the new version.
            answers_with(operation, "cursor", "Link", "`<…>; rel=\"next\"` when another page follows");
            answers_with(operation, "If-Match", "ETag", "The new version, for the next If-Match");
            // A read that takes If-None-Match sends the ETag to send back, and may answer 304.
            answers_with(operation, "If-None-Match", "ETag", "Strong validator of the bytes sent (public reads)");
            if takes(operation, "If-None-Match") {
                let not_modified = Response::new("Not modified since the ETag in If-None-Match");
                operation.responses.responses.entry("304".into()).or_insert(not_modified.into());
            }

            let mut common = vec![
                ("400", "Bad path or query parameters"),
                ("500", "Unexpected error (details are logged, not sent)"),
                ("503", "The database is unreachable, or a query ran too long and was cancelled"),
            ];
            if needs_token {
                common.push(("401", "Missing, invalid, expired or revoked token"));
                common.push(("403", "The token's role may not do this"));
            } else if takes_token {
                common.push(("401", "A token was sent, but it is invalid, expired or revoked"));
            }
            if operation.request_body.is_some() {
                common.push(("408", "The body did not arrive in time"));
                common.push(("413", "The body is larger than the configured limit"));
                common.push(("415", "The body is not sent as JSON"));
                common.push(("422", "Some fields are invalid: one `errors[]` entry each"));
            }
            for (status, description) in common {
                operation
                    .responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| problem_response(status, description).into());
            }
        }
    }
}

/// A response declared with `body = Problem` is sent as
/// `application/problem+json`: said here once, not on every handler.
fn send_problems_as_problems(operation: &mut Operation) {
    let is_problem = |content: &RefOr<Content>| {
        matches!(content, RefOr::T(Content { schema: Some(RefOr::Ref(r)), .. })
            if r.ref_location == "#/components/schemas/Problem")
    };
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        if response.content.get("application/json").is_some_and(is_problem)
            && let Some(content) = response.content.shift_remove("application/json")
        {
            response.content.insert(PROBLEM_CONTENT_TYPE.into(), content);
        }
    }
}

/// Whether an operation takes parameter `param`.
fn takes(operation: &Operation, param: &str) -> bool {
    operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| parameters.iter().any(|p| matches!(p, RefOr::T(p) if p.name == param)))
}

/// Adds header `name` to the 200 of an operation that takes parameter
/// `param`, unless the operation declares it itself.
fn answers_with(operation: &mut Operation, param: &str, name: &str, description: &str) {
    if let (true, Some(RefOr::T(ok))) = (takes(operation, param), operation.responses.responses.get_mut("200")) {
        ok.headers.entry(name.into()).or_insert_with(|| schemas::header(description).into());
    }
}

/// utoipa writes an `Option<T>` body as "T or null"; what it means is a body
/// that may be left out: T, not required.
fn make_nullable_body_optional(operation: &mut Operation) {
    let Some(RefOr::T(body)) = operation.request_body.as_mut() else { return };
    let mut optional = false;
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else { continue };
        let mut items = one_of.items.iter().filter(|s| !matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == utoipa::openapi::schema::SchemaType::Type(utoipa::openapi::Type::Null)));
        if let (Some(only), None) = (items.next(), items.next()) {
            content.schema = Some(only.clone());
            optional = true;
        }
    }
    if optional {
        body.required = Some(utoipa::openapi::Required::False);
    }
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}

/// For each path template in the document, the methods it answers: what a
/// 405 lists in `Allow`.
static ALLOWED_METHODS: LazyLock<HashMap<String, Vec<Method>>> = LazyLock::new(|| {
    document()
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let methods = [
                (item.get.is_some(), Method::GET),
                (item.put.is_some(), Method::PUT),
                (item.post.is_some(), Method::POST),
                (item.delete.is_some(), Method::DELETE),
                (item.patch.is_some(), Method::PATCH),
            ];
            (path.clone(), methods.into_iter().filter_map(|(has, m)| has.then_some(m)).collect())
        })
        .collect()
});

/// Every query parameter some GET operation reads.
static READ_QUERY_PARAMETERS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let gets = document().paths.paths.into_values().filter_map(|item| item.get);
    let parameters = gets.flat_map(|operation| operation.parameters.unwrap_or_default());
    parameters
        .filter_map(|p| match p {
            RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p.name),
            _ => None,
        })
        .collect()
});

/// Whether some GET operation reads query parameter `name`: one no operation
/// reads changes no response (the response cache leaves it out of its key).
pub fn reads_query_parameter(name: &str) -> bool {
    READ_QUERY_PARAMETERS.contains(name)
}

/// The methods the route with actix pattern `pattern` (e.g.
/// `/v1/stories/{id:\d+}`) answers, or `None` when it is not an API route.
pub fn allowed_methods(pattern: &str) -> Option<&'static [Method]> {
    ALLOWED_METHODS.get(&crate::http::route_template(pattern)).map(Vec::as_slice)
}
