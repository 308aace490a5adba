//! Admins managing editor accounts.

use anthology::editors::Role;
use serde_json::json;

use crate::common::{Backend, TestApp};

crate::on_both_backends!(
    admin_creates_reads_and_lists_editors,
    emails_are_unique_regardless_of_case,
    new_editors_are_validated_field_by_field,
    the_last_active_admin_cannot_be_demoted_or_disabled,
    a_new_password_replaces_the_old_one,
    authorization_comes_before_the_body,
);

/// Who may call an operation is decided before its body is read: an editor
/// learns 403 from an admin-only route, not its validation rules, and an
/// anonymous caller learns 401 — however quickly the body fails.
async fn authorization_comes_before_the_body(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let invalid = json!({"email": "not an email", "display_name": "", "password": "short", "colour": "red"});
    for _ in 0..10 {
        editor.post("/v1/editors", invalid.clone()).await.problem(403);
        editor.patch("/v1/editors/1", json!({"role": "overlord"})).await.problem(403);
        app.anon().post("/v1/stories", json!({"title": ""})).await.problem(401);
        app.anon().patch("/v1/editors/1", json!({"role": "overlord"})).await.problem(401);
    }
    // With the right to call it, the body's problems are told.
    app.admin().await.post("/v1/editors", invalid).await.problem(422);
}

async fn admin_creates_reads_and_lists_editors(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let res = admin
        .post(
            "/v1/editors",
            json!({"email": "Grace@Example.com", "display_name": "Grace Hopper", "password": "a long passphrase"}),
        )
        .await;
    let created = res.ok(201);
    assert_eq!(created["email"], "grace@example.com");
    assert_eq!(created["role"], "editor");
    assert_eq!(created["disabled"], false);
    let location = res.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/v1/editors/{}", created["id"]));
    assert_eq!(admin.get(&location).await.ok(200), created);
    admin.get("/v1/editors/999999").await.problem(404);

    // The new editor can log in with the password it was given.
    let token =
        app.anon().post("/v1/auth/token", json!({"email": "grace@example.com", "password": "a long passphrase"})).await;
    token.ok(200);

    // Pages of one walk every editor exactly once, with a Link to the next page.
    for i in 0..3 {
        app.create_editor(&format!("e{i}@example.com"), Role::Editor);
    }
    let mut seen = Vec::new();
    let mut path = "/v1/editors?limit=2".to_owned();
    loop {
        let res = admin.get(&path).await;
        let page = res.ok(200);
        assert_eq!(res.header("cache-control"), Some("private, no-store"));
        seen.extend(page["data"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()));
        assert_eq!(page["page"]["limit"], 2);
        if !page["page"]["has_more"].as_bool().unwrap() {
            assert!(page["page"]["next_cursor"].is_null());
            assert!(res.header("link").is_none());
            break;
        }
        let link = res.header("link").unwrap();
        let next = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
        assert!(next.contains("limit=2") && link.ends_with("rel=\"next\""), "{link}");
        path = next;
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 5);
}

async fn emails_are_unique_regardless_of_case(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let new = |email: &str| json!({"email": email, "display_name": "Dup", "password": "a long passphrase"});
    admin.post("/v1/editors", new("dup@example.com")).await.ok(201);
    admin.post("/v1/editors", new("DUP@example.com")).await.problem(409);
}

async fn new_editors_are_validated_field_by_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let res =
        admin.post("/v1/editors", json!({"email": "not-an-email", "display_name": "", "password": "short"})).await;
    assert_eq!(res.invalid_fields(), ["display_name", "email", "password"]);
    let res = admin
        .post(
            "/v1/editors",
            json!({"email": "a@example.com", "display_name": "A", "password": "a long passphrase", "role": "owner"}),
        )
        .await;
    assert_eq!(res.invalid_fields(), ["role"]);
    let res = admin
        .post(
            "/v1/editors",
            json!({"email": "a@example.com", "display_name": "A", "password": "a long passphrase", "is_admin": true}),
        )
        .await;
    res.problem(422);
    let res = admin
        .post(
            "/v1/editors",
            json!({"email": "a@example.com", "display_name": "A\u{0}B", "password": "a long passphrase"}),
        )
        .await;
    assert_eq!(res.invalid_fields(), ["display_name"]);
}

async fn the_last_active_admin_cannot_be_demoted_or_disabled(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let me = admin.get("/v1/auth/me").await.ok(200);
    let path = format!("/v1/editors/{}", me["id"]);
    admin.patch(&path, json!({"role": "editor"})).await.problem(409);
    admin.patch(&path, json!({"disabled": true})).await.problem(409);
    // A harmless change still works, and does not end the session.
    let renamed = admin.patch(&path, json!({"display_name": "Chief"})).await.ok(200);
    assert_eq!(renamed["display_name"], "Chief");
    admin.get("/v1/auth/me").await.ok(200);
}

async fn a_new_password_replaces_the_old_one(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let id = app.create_editor("ed@example.com", Role::Editor);
    let old_token = app.login("ed@example.com").await;
    admin.patch(&format!("/v1/editors/{id}"), json!({"password": "a brand new passphrase"})).await.ok(200);
    app.with_token(&old_token).get("/v1/auth/me").await.problem(401);
    app.anon()
        .post("/v1/auth/token", json!({"email": "ed@example.com", "password": "a brand new passphrase"}))
        .await
        .ok(200);
}
