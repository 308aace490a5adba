//! Tokens: issue, every way of being rejected, revocation, throttling.

use anthology::editors::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::common::{Backend, PASSWORD, TestApp};

const SECRET: &str = "test-secret-test-secret-test-secret!";

crate::on_both_backends!(
    login_issues_a_bearer_token_for_the_editor,
    wrong_email_and_wrong_password_look_the_same,
    missing_and_malformed_tokens_are_401_with_www_authenticate,
    forged_expired_and_misaddressed_tokens_are_rejected,
    disabling_or_demoting_revokes_tokens_at_once,
    repeated_failures_are_throttled_with_retry_after,
    failures_count_across_processes_and_per_address,
    generated_key_survives_a_restart,
    a_rotated_key_reaches_every_process_and_old_keys_retire,
    editors_get_403_where_admins_are_needed,
);

async fn login_issues_a_bearer_token_for_the_editor(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.create_editor("Ada@Example.com", Role::Editor);
    // Emails are case-insensitive.
    let res = app.anon().post("/v1/auth/token", json!({"email": "ADA@example.COM", "password": PASSWORD})).await;
    let body = res.ok(200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(res.header("cache-control"), Some("private, no-store"));
    let token = body["access_token"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    assert!(header.kid.is_some());

    let me = app.with_token(token).get("/v1/auth/me").await.ok(200);
    assert_eq!(me["id"], id);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["role"], "editor");
    assert!(me.get("password_hash").is_none());
}

async fn wrong_email_and_wrong_password_look_the_same(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.create_editor("ada@example.com", Role::Editor);
    let wrong_password =
        app.anon().post("/v1/auth/token", json!({"email": "ada@example.com", "password": "nope nope nope"})).await;
    let wrong_email =
        app.anon().post("/v1/auth/token", json!({"email": "bob@example.com", "password": PASSWORD})).await;
    assert_eq!(wrong_password.problem(401), wrong_email.problem(401));
    assert_eq!(wrong_password.header("www-authenticate"), wrong_email.header("www-authenticate"));
}

async fn missing_and_malformed_tokens_are_401_with_www_authenticate(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app.anon().get("/v1/auth/me").await;
    res.problem(401);
    assert!(res.header("www-authenticate").unwrap().starts_with("Bearer"));

    for value in ["Basic YTpi", "Bearer", "Bearer not.a.jwt", "token"] {
        let res = app
            .anon()
            .send(actix_web::http::Method::GET, "/v1/auth/me", crate::common::Body::None, &[("Authorization", value)])
            .await;
        res.problem(401);
        assert!(res.header("www-authenticate").is_some(), "{value}");
    }
}

fn forge(claims: serde_json::Value, header: Header, secret: &str) -> String {
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn forged_expired_and_misaddressed_tokens_are_rejected(backend: Backend) {
    let app = TestApp::start_with(backend, &[("JWT_SECRET", SECRET)]).await;
    let id = app.create_editor("ada@example.com", Role::Admin);
    let token = app.login("ada@example.com").await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid;
    let now = chrono::Utc::now().timestamp();
    let claims = |overrides: serde_json::Value| {
        let mut base = json!({
            "iss": "anthology", "aud": "anthology-editors", "sub": id.to_string(), "role": "admin",
            "iat": now, "nbf": now, "exp": now + 600, "jti": "x", "ver": 0
        });
        base.as_object_mut().unwrap().extend(overrides.as_object().unwrap().clone());
        base
    };
    let header = || {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = kid.clone();
        h
    };

    // The same claims, properly signed, are accepted: the cases below fail for their one flaw.
    let good = forge(claims(json!({})), header(), SECRET);
    app.with_token(&good).get("/v1/auth/me").await.ok(200);

    let expired = forge(claims(json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})), header(), SECRET);
    let not_yet = forge(claims(json!({"nbf": now + 3600})), header(), SECRET);
    let wrong_audience = forge(claims(json!({"aud": "someone-else"})), header(), SECRET);
    let wrong_issuer = forge(claims(json!({"iss": "evil"})), header(), SECRET);
    let wrong_signature = forge(claims(json!({})), header(), "another-secret-another-secret-another");
    let mut hs512 = Header::new(Algorithm::HS512);
    hs512.kid = kid.clone();
    let wrong_algorithm = forge(claims(json!({})), hs512, SECRET);
    let unknown_kid = {
        let mut h = header();
        h.kid = Some("who-knows".into());
        forge(claims(json!({})), h, SECRET)
    };
    let no_exp = {
        let mut c = claims(json!({}));
        c.as_object_mut().unwrap().remove("exp");
        forge(c, header(), SECRET)
    };
    // `alg: none`: an unsigned token with the good claims.
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let alg_none = format!("{}.{}.", b64(json!({"alg": "none", "typ": "JWT", "kid": kid})), b64(claims(json!({}))));

    for (case, token) in [
        ("expired", expired),
        ("not yet valid", not_yet),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("wrong signature", wrong_signature),
        ("HS512", wrong_algorithm),
        ("unknown kid", unknown_kid),
        ("no exp", no_exp),
        ("alg none", alg_none),
    ] {
        let res = app.with_token(&token).get("/v1/auth/me").await;
        assert_eq!(res.status.as_u16(), 401, "{case} was accepted: {}", res.text());
        res.problem(401);
    }
}

async fn disabling_or_demoting_revokes_tokens_at_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let id = app.create_editor("ed@example.com", Role::Admin);
    let token = app.login("ed@example.com").await;
    app.with_token(&token).get("/v1/editors").await.ok(200);

    admin.patch(&format!("/v1/editors/{id}"), json!({"role": "editor"})).await.ok(200);
    app.with_token(&token).get("/v1/auth/me").await.problem(401);

    // A new token carries the new role; disabling ends it too, and login.
    let token = app.login("ed@example.com").await;
    assert_eq!(app.with_token(&token).get("/v1/auth/me").await.ok(200)["role"], "editor");
    admin.patch(&format!("/v1/editors/{id}"), json!({"disabled": true})).await.ok(200);
    app.with_token(&token).get("/v1/auth/me").await.problem(401);
    app.anon().post("/v1/auth/token", json!({"email": "ed@example.com", "password": PASSWORD})).await.problem(401);
}

async fn repeated_failures_are_throttled_with_retry_after(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.create_editor("ada@example.com", Role::Editor);
    let attempt = |password: &'static str| {
        let app = &app;
        async move { app.anon().post("/v1/auth/token", json!({"email": "ada@example.com", "password": password})).await }
    };
    for _ in 0..5 {
        attempt("wrong wrong wrong").await.problem(401);
    }
    // Even the right password waits now: the throttle does not reveal it.
    let res = attempt(PASSWORD).await;
    res.problem(429);
    let retry_after: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after));
}

async fn generated_key_survives_a_restart(backend: Backend) {
    let first = TestApp::start(backend).await;
    first.create_editor("ada@example.com", Role::Editor);
    let token = first.login("ada@example.com").await;
    let TestApp { test_db, .. } = first;
    let second = TestApp::start_on(test_db, &[]).await;
    second.with_token(&token).get("/v1/auth/me").await.ok(200);
}

async fn editors_get_403_where_admins_are_needed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    editor.get("/v1/editors").await.problem(403);
    editor
        .post("/v1/editors", json!({"email": "x@example.com", "display_name": "X", "password": "long enough!"}))
        .await
        .problem(403);
    app.anon().get("/v1/editors").await.problem(401);
}

async fn a_rotated_key_reaches_every_process_and_old_keys_retire(backend: Backend) {
    use anthology::auth::keys::{kid_of, rotate};
    use diesel::RunQueryDsl;
    let first = TestApp::start(backend).await;
    first.create_editor("ada@example.com", Role::Editor);
    let old_token = first.login("ada@example.com").await;
    let ttl = std::time::Duration::from_secs(3600);
    let rotation = first.db.write_now(|tx| Ok(rotate(tx, ttl)?)).unwrap();
    assert_eq!(rotation.retired, 0);

    // A process started now signs with the new key…
    let second = first.another_process(&[]).await;
    let new_token = second.login("ada@example.com").await;
    assert_eq!(kid_of(&new_token), Some(rotation.new_kid));
    assert_ne!(kid_of(&new_token), kid_of(&old_token));
    // …which the first process has not loaded: a token naming an unknown key
    // makes it re-read the keys (at most once a second).
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    first.with_token(&new_token).get("/v1/auth/me").await.ok(200);
    // Tokens signed with the old key stay valid until they expire.
    second.with_token(&old_token).get("/v1/auth/me").await.ok(200);

    // Once the new key has signed for longer than a token lives, the next
    // rotation deletes the old one, and its tokens stop working.
    let mut conn = first.db.conn().unwrap();
    let two_days_earlier = match &*conn {
        anthology::db::DbConnection::Pg(_) => "created_at - INTERVAL '2 days'",
        anthology::db::DbConnection::Sqlite(_) => "datetime(created_at, '-2 days')",
    };
    diesel::sql_query(format!("UPDATE server_keys SET created_at = {two_days_earlier} WHERE purpose = 'jwt'"))
        .execute(&mut *conn)
        .unwrap();
    drop(conn);
    assert_eq!(first.db.write_now(|tx| Ok(rotate(tx, ttl)?)).unwrap().retired, 1);
    let third = first.another_process(&[]).await;
    third.with_token(&old_token).get("/v1/auth/me").await.problem(401);
    third.with_token(&new_token).get("/v1/auth/me").await.ok(200);
}

async fn login(app: &TestApp, email: &str, password: &str) -> crate::common::TestResponse {
    app.anon().post("/v1/auth/token", json!({"email": email, "password": password})).await
}

async fn failures_count_across_processes_and_per_address(backend: Backend) {
    let app = TestApp::start(backend).await;
    let second = app.another_process(&[]).await;
    app.create_editor("ada@example.com", Role::Editor);
    // A success clears the email's count.
    for _ in 0..4 {
        login(&app, "ada@example.com", "wrong wrong wrong").await.problem(401);
    }
    login(&second, "ada@example.com", PASSWORD).await.ok(200);
    // Failures through two processes behind one balancer add up.
    for i in 0..5 {
        let process = if i % 2 == 0 { &app } else { &second };
        login(process, "ada@example.com", "wrong wrong wrong").await.problem(401);
    }
    login(&app, "ada@example.com", PASSWORD).await.problem(429);
    login(&second, "ada@example.com", PASSWORD).await.problem(429);
    // One address trying many emails is stopped too: 9 failures so far, 11 more make 20.
    for i in 0..11 {
        login(&second, &format!("guess{i}@example.com"), "wrong wrong wrong").await.problem(401);
    }
    login(&app, "fresh@example.com", "anything at all").await.problem(429);
}
