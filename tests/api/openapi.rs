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
