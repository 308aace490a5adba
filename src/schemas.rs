//! Schema pieces that wire types borrow to describe themselves: a leaf, so
//! that DTOs need not import the document's assembler ([`crate::openapi`]).

use utoipa::openapi::header::Header;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};

use crate::error::PROBLEM_CONTENT_TYPE;

/// A copy of `schema` in which no property is required: for merge patches
/// and sparse fieldsets.
pub fn all_optional(schema: RefOr<Schema>, description: &str) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.required.clear();
            object.description = Some(description.to_owned());
            object.examples.clear();
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// A JSON response whose body is the named component, with headers
/// `(name, description)`.
pub fn json_response(description: &str, schema: &str, headers: &[(&str, &str)]) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name(schema))));
    for (name, about) in headers {
        response = response.header(*name, header(about));
    }
    response.build()
}

/// A problem document response (RFC 9457).
pub fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_CONTENT_TYPE, Content::new(Some(Ref::from_schema_name("Problem"))))
        .build()
}

/// A string header.
pub fn header(description: &str) -> Header {
    let mut header = Header::new(ObjectBuilder::new().schema_type(Type::String));
    header.description = Some(description.to_owned());
    header
}

/// Declares a set of problem answers for handlers' `responses(...)`: each
/// status with its description, written once for every route that meets it.
macro_rules! problems {
    ($(#[doc = $doc:literal])* $name:ident { $($status:literal => $description:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
                std::collections::BTreeMap::from([
                    $(($status.to_owned(), $crate::schemas::problem_response($description).into())),+
                ])
            }
        }
    };
}
pub(crate) use problems;
