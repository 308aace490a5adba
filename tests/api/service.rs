//! Probes, the database going away, and the documentation pages.

use diesel::Connection;
use diesel::connection::SimpleConnection;

use crate::common::{Backend, TestApp};

crate::on_both_backends!(health_and_readiness_answer, docs_are_served_without_a_cdn);

async fn health_and_readiness_answer(backend: Backend) {
    let app = TestApp::start(backend).await;
    assert_eq!(app.anon().get("/health").await.ok(200)["status"], "ok");
    assert_eq!(app.anon().get("/ready").await.ok(200)["status"], "ready");
}

async fn docs_are_served_without_a_cdn(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app.anon().get("/docs").await;
    assert_eq!(res.status.as_u16(), 308);
    assert_eq!(res.header("location"), Some("/docs/"));
    let page = app.anon().get("/docs/").await;
    assert_eq!(page.status.as_u16(), 200);
    let html = page.text();
    assert!(html.contains("swagger"), "{html}");
    // Every script and stylesheet comes from this server.
    assert!(!html.contains("https://") && !html.contains("http://"), "{html}");
    let init = app.anon().get("/docs/swagger-initializer.js").await;
    assert!(init.text().contains("/openapi.json"), "{}", init.text());
    // Regression: Swagger UI sent the document's URL to its online validator.
    assert!(init.text().contains(r#""validatorUrl": "none""#), "{}", init.text());
}

/// When PostgreSQL goes away mid-flight, requests get 503, not 500.
#[actix_web::test]
async fn a_database_that_is_gone_answers_503() {
    let app = TestApp::start(Backend::Postgres).await;
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let name = url::Url::parse(&app.test_db.url).unwrap().path().trim_start_matches('/').to_owned();
    let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
    admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).unwrap();
    let res = app.anon().get("/ready").await;
    res.problem(503);
    assert!(res.header("retry-after").is_some());
    app.anon().get("/v1/stories/1").await.problem(503);
    // The probe that does not touch the database still answers.
    app.anon().get("/health").await.ok(200);
}

/// Connections that PostgreSQL closes under the pool (a restart, an
/// operator, a proxy's idle timeout) are dropped when they fail and replaced:
/// nothing is checked at checkout, so at most one request per pooled
/// connection sees 503, and the requests after it are answered. (SQLite's
/// connections are in the process: nothing can close them under it.)
#[actix_web::test]
async fn connections_closed_under_the_pool_are_replaced() {
    let app = TestApp::start_with(Backend::Postgres, &[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    app.anon().get("/v1/stories").await.ok(200);
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let name = url::Url::parse(&app.test_db.url).unwrap().path().trim_start_matches('/').to_owned();
    let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
    let terminate = format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'");
    admin.batch_execute(&terminate).unwrap();

    let mut failed = 0;
    // The pool holds at most 4 connections in tests.
    for _ in 0..8 {
        let res = app.anon().get("/v1/stories").await;
        if res.status.as_u16() != 200 {
            res.problem(503);
            failed += 1;
        }
    }
    // At least the connection the first request took was dead (the kill
    // reached the pool); at most each of the pool's.
    assert!((1..=4).contains(&failed), "{failed} requests failed");
    for _ in 0..4 {
        app.anon().get("/v1/stories").await.ok(200);
    }
}

/// The SQLite file holds the signing and voter-hash keys: it and its WAL are
/// created readable by their owner only.
#[actix_web::test]
async fn the_sqlite_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::start(Backend::Sqlite).await;
    app.editor().await.create_story(serde_json::json!({"title": "Private"})).await;
    let path = app.test_db.url.trim_start_matches("sqlite://").to_owned();
    for file in [path.clone(), format!("{path}-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{file} is {mode:o}");
    }
}
