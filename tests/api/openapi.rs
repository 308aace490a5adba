//! The served OpenAPI document is the committed one, and it is complete.

use crate::common::{Backend, TestApp};

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[actix_web::test]
async fn served_document_is_byte_identical_to_the_committed_copy() {
    let app = TestApp::start(Backend::Sqlite).await;
    let served = app.anon().get("/openapi.json").await;
    assert_eq!(served.status.as_u16(), 200);
    assert!(
        served.text() == COMMITTED,
        "openapi/openapi.json is stale: regenerate it with `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_security_and_problem_errors() {
    let doc: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{id} has no tag");
            assert!(op["security"].is_array(), "{id} declares no security");
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"]["schema"]["$ref"]
                            == "#/components/schemas/Problem",
                        "{id} {status} is not a Problem"
                    );
                }
            }
        }
    }
}

/// Regression: `sort`'s schema was referenced but never defined, which broke
/// both client generators.
#[test]
fn every_reference_resolves() {
    let doc: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    let mut refs = Vec::new();
    fn walk(value: &serde_json::Value, refs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| walk(v, refs));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    walk(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

/// Regression: the generated clients could not send If-Match or
/// If-None-Match where the server honours them.
#[test]
fn conditional_headers_are_declared_where_they_are_honoured() {
    let doc: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let headers: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter(|p| p["in"] == "header").filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            let responses = op["responses"].as_object().unwrap();
            if responses.contains_key("412") {
                assert!(headers.contains(&"If-Match"), "{method} {path} answers 412 but declares no If-Match");
            }
            if responses.contains_key("304") {
                assert!(
                    headers.contains(&"If-None-Match"),
                    "{method} {path} answers 304 but declares no If-None-Match"
                );
            }
        }
    }
}
