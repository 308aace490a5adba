//! Every failure answers application/problem+json, including actix's own.

use actix_web::http::Method;
use serde_json::json;

use crate::common::{Backend, Body, TestApp};

crate::on_both_backends!(
    malformed_json_is_400,
    wrong_content_type_is_415,
    oversized_bodies_are_413,
    bad_query_and_path_parameters_are_400,
    unknown_routes_are_404_and_wrong_methods_405,
    cors_headers_reach_errors_and_unlisted_origins_get_none,
    a_stalled_body_is_408_and_its_connection_closed,
);

async fn malformed_json_is_400(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    for raw in [&b"{\"email\": "[..], b"not json", b"{} trailing", b""] {
        let res = admin.send(Method::POST, "/v1/editors", Body::Raw("application/json", raw.to_vec()), &[]).await;
        res.problem(400);
    }
    // Well-formed JSON of the wrong shape is a validation failure, naming the field.
    for raw in [&b"\"a string\""[..], b"42", b"null"] {
        let res = admin.send(Method::POST, "/v1/editors", Body::Raw("application/json", raw.to_vec()), &[]).await;
        assert_eq!(res.invalid_fields(), ["body"]);
    }
    let res = admin.post("/v1/editors", serde_json::json!({"email": 5})).await;
    assert_eq!(res.invalid_fields(), ["email"]);
    // A member given twice is named, not lost (the last would win).
    let twice =
        br#"{"email": "a@example.com", "display_name": "A", "email": "b@example.com", "password": "long enough pass"}"#;
    let res = admin.send(Method::POST, "/v1/editors", Body::Raw("application/json", twice.to_vec()), &[]).await;
    assert_eq!(res.invalid_fields(), ["email"]);
}

async fn wrong_content_type_is_415(backend: Backend) {
    let app = TestApp::start(backend).await;
    let body = br#"{"email": "a@example.com", "password": "x"}"#.to_vec();
    let types = ["text/plain", "application/x-www-form-urlencoded", "", "application/json-patch+json"];
    for content_type in types.into_iter().chain(["application/problem+json"]) {
        let res = app.anon().send(Method::POST, "/v1/auth/token", Body::Raw(content_type, body.clone()), &[]).await;
        res.problem(415);
    }
    // A compressed body is not read as JSON.
    let gzip = [("Content-Encoding", "gzip")];
    let res = app.anon().send(Method::POST, "/v1/auth/token", Body::Raw("application/json", body.clone()), &gzip).await;
    res.problem(415);
    // JSON with a charset, a merge patch, or an identity coding is accepted.
    for (content_type, coding) in
        [("application/json; charset=utf-8", "identity"), ("application/merge-patch+json", "IDENTITY")]
    {
        let headers = [("Content-Encoding", coding)];
        let res =
            app.anon().send(Method::POST, "/v1/auth/token", Body::Raw(content_type, body.clone()), &headers).await;
        res.problem(401);
    }
}

async fn oversized_bodies_are_413(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_MAX_BODY_BYTES", "2048")]).await;
    let admin = app.admin().await;
    let big = json!({"title": "Big", "body": "x".repeat(4096)});
    let res = admin.post("/v1/stories", big).await;
    res.problem(413);
    // Just under the limit is fine.
    admin.post("/v1/stories", json!({"title": "Small", "body": "x".repeat(1500)})).await.ok(201);
}

async fn bad_query_and_path_parameters_are_400(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    for query in ["limit=abc", "limit=0", "limit=101", "limit=-1", "cursor=%%%", "cursor=bm90LWEtY3Vyc29y"] {
        let res = admin.get(&format!("/v1/editors?{query}")).await;
        res.problem(400);
    }
    // An id of digits that does not fit an int64.
    admin.get("/v1/editors/99999999999999999999999").await.problem(400);
    app.anon().get("/v1/stories/99999999999999999999999").await.problem(400);
}

async fn unknown_routes_are_404_and_wrong_methods_405(backend: Backend) {
    let app = TestApp::start(backend).await;
    for path in ["/nope", "/v1", "/v1/nope", "/v1/stories/abc", "/v1/editors/1/x"] {
        app.anon().get(path).await.problem(404);
    }
    // A resource has one URL: its id written another way names nothing.
    let editor = app.editor().await;
    let story = editor.create_story(serde_json::json!({"title": "One URL"})).await;
    editor.get(&format!("/v1/stories/{}", story["id"])).await.ok(200);
    for path in [format!("/v1/stories/0{}", story["id"]), format!("/v1/stories/+{}", story["id"])] {
        editor.get(&path).await.problem(404);
    }
    app.anon().get("/v1/sitemaps/stories-01.xml").await.problem(404);
    let res = app.anon().delete("/v1/auth/token").await;
    res.problem(405);
    assert_eq!(res.header("allow"), Some("POST"));
    let res = app.anon().send(Method::PUT, "/v1/editors/1", Body::None, &[]).await;
    res.problem(405);
    assert_eq!(res.header("allow"), Some("GET, PATCH"));
}

async fn cors_headers_reach_errors_and_unlisted_origins_get_none(backend: Backend) {
    let app = TestApp::start_with(backend, &[("CORS_ALLOWED_ORIGINS", "https://magazine.example")]).await;
    let origin = [("Origin", "https://magazine.example")];
    let res = app.anon().send(Method::GET, "/v1/stories/12345", Body::None, &origin).await;
    res.problem(404);
    assert_eq!(res.header("access-control-allow-origin"), Some("https://magazine.example"));
    let res = app.anon().send(Method::GET, "/health", Body::None, &origin).await;
    assert_eq!(res.header("access-control-allow-origin"), Some("https://magazine.example"));

    // A preflight for an editor write from the allowed origin.
    let preflight = app
        .anon()
        .send(
            Method::OPTIONS,
            "/v1/stories",
            Body::None,
            &[
                ("Origin", "https://magazine.example"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization, content-type"),
            ],
        )
        .await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("https://magazine.example"));

    // Any other origin may read…
    let evil = [("Origin", "https://evil.example")];
    let res = app.anon().send(Method::GET, "/health", Body::None, &evil).await;
    assert_eq!(res.header("access-control-allow-origin"), Some("https://evil.example"));
    // …but may not write: its preflight gets no grant, and a write that comes
    // anyway is refused with a problem document.
    for (method, path) in
        [("PUT", "/v1/stories/1/ratings/6f1c2a4e-8d1b-4f6a-9a52-1f0e3b7c9d01"), ("POST", "/v1/stories")]
    {
        let preflight = app
            .anon()
            .send(
                Method::OPTIONS,
                path,
                Body::None,
                &[("Origin", "https://evil.example"), ("Access-Control-Request-Method", method)],
            )
            .await;
        assert!(preflight.header("access-control-allow-origin").is_none(), "{method} {path}");
    }
    let editor = app.editor().await;
    let story = editor.create_story(serde_json::json!({"title": "Rated"})).await;
    editor.publish(&story["id"], None).await;
    let vote = format!("/v1/stories/{}/ratings/6f1c2a4e-8d1b-4f6a-9a52-1f0e3b7c9d01", story["id"]);
    let res = app.anon().send(Method::PUT, &vote, Body::Json(serde_json::json!({"score": 5})), &evil).await;
    assert!(res.status.is_client_error(), "{}", res.status);
    res.problem(res.status.as_u16());
    let rating = app.anon().get(&format!("/v1/stories/{}/rating", story["id"])).await.ok(200);
    assert_eq!(rating["count"], 0);
    // The listed origin votes.
    app.anon().send(Method::PUT, &vote, Body::Json(serde_json::json!({"score": 5})), &origin).await.ok(201);
}

/// A body that stops arriving is cut off once the body deadline has passed:
/// a 408 problem, and the connection closed (the rest of the body will never
/// be read), rather than a connection held for as long as the client likes.
async fn a_stalled_body_is_408_and_its_connection_closed(backend: Backend) {
    use std::io::{Read, Write};
    use std::time::Duration;

    let app = TestApp::start(backend).await;
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    let response = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(
                b"POST /v1/auth/token HTTP/1.1\r\nHost: anthology\r\nContent-Type: application/json\r\n\
                  Content-Length: 200\r\n\r\n{",
            )
            .unwrap();
        // Past the deadline: a server that never closes fails the read.
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).map(|_| response)
    })
    .await
    .unwrap()
    .expect("the server answers and closes the connection");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");
    assert!(response.contains("/problems/request-timeout"), "{response}");
}
