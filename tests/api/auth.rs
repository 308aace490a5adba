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
    failures_count_across_processes_and_a_success_clears_them,
    parallel_wrong_passwords_are_checked_at_most_five_times,
    an_attacker_cannot_lock_out_editors_at_other_addresses_or_behind_its_own,
    an_attacker_cannot_lock_out_editors_from_real_source_addresses,
    the_per_email_ceiling_stops_guessing_spread_over_many_addresses,
    a_dual_stack_listener_trusts_ipv4_proxies_by_their_plain_address,
    generated_key_survives_a_restart,
    a_rotated_key_reaches_every_process_and_old_keys_retire,
    a_retired_key_cannot_mint_new_tokens,
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
    let issued_in_the_future = forge(claims(json!({"iat": now + 600})), header(), SECRET);
    // Lives longer than JWT_TTL_SECONDS (3600).
    let too_long_lived = forge(claims(json!({"exp": now + 3601})), header(), SECRET);
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
        ("iat in the future", issued_in_the_future),
        ("lifetime longer than JWT_TTL_SECONDS", too_long_lived),
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
    let retired_earlier = two_days_earlier.replace("created_at", "retired_at");
    diesel::sql_query(format!(
        "UPDATE server_keys SET created_at = {two_days_earlier}, retired_at = {retired_earlier} WHERE purpose = 'jwt'"
    ))
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

async fn failures_count_across_processes_and_a_success_clears_them(backend: Backend) {
    let app = TestApp::start(backend).await;
    let second = app.another_process(&[]).await;
    app.create_editor("ada@example.com", Role::Editor);
    app.create_editor("bob@example.com", Role::Editor);
    // A success clears the count.
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
    // Failures for many emails from one address do not lock out an editor
    // there (they used to, after 20 from the address).
    for i in 0..20 {
        login(&second, &format!("guess{i}@example.com"), "wrong wrong wrong").await.problem(401);
    }
    login(&app, "bob@example.com", PASSWORD).await.ok(200);
}

/// How many of `responses` had each status, and that every refusal said
/// when to come back.
fn tally(responses: &[crate::common::TestResponse]) -> std::collections::BTreeMap<u16, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for res in responses {
        *counts.entry(res.status.as_u16()).or_default() += 1;
        if matches!(res.status.as_u16(), 429 | 503) {
            let retry_after: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
            assert!((1..=24 * 3600).contains(&retry_after), "{retry_after}");
        }
    }
    counts
}

/// The attempts counted for `email` (from every address), as stored.
fn attempts_counted(app: &TestApp, email: &str) -> i32 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attempts: i32,
    }
    let mut conn = app.db.conn().unwrap();
    let sql = format!("SELECT attempts FROM login_attempts WHERE throttle_key = 'email:{email}'");
    diesel::sql_query(sql).get_result::<Count>(&mut *conn).unwrap().attempts
}

/// Parallel attempts are each counted before any password is checked, so
/// no more than the limit are checked; they used to be checked first and
/// counted after, so all 40 were.
async fn parallel_wrong_passwords_are_checked_at_most_five_times(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.create_editor("ada@example.com", Role::Editor);
    let attempts = (0..40).map(|_| login(&app, "ada@example.com", "wrong wrong wrong"));
    let responses = futures_util::future::join_all(attempts).await;
    let counts = tally(&responses);
    let checked = counts.get(&401).copied().unwrap_or(0);
    assert!(checked <= 5, "{counts:?}");
    // Each refusal is the throttle's (429) or, were password checks all
    // busy for 2 s, the limiter's (503); nothing else.
    assert_eq!(checked + counts.get(&429).unwrap_or(&0) + counts.get(&503).unwrap_or(&0), 40, "{counts:?}");
    assert!(counts.get(&429).copied().unwrap_or(0) >= 30, "{counts:?}");
    assert_eq!(attempts_counted(&app, "ada@example.com"), checked as i32);
    login(&app, "ada@example.com", PASSWORD).await.problem(429);
}

/// A login from `client`, as the trusted proxy 127.0.0.1 forwards it.
async fn login_via(app: &TestApp, client: &str, email: &str, password: &str) -> crate::common::TestResponse {
    let body = Some(json!({"email": email, "password": password}));
    app.anon().with_headers(actix_web::http::Method::POST, "/v1/auth/token", body, &[("X-Forwarded-For", client)]).await
}

/// The attempts counted per (email, address) pair: an attacker at A
/// guessing ed's password is slowed and then refused, even with the right
/// password, but neither ed at B nor another editor at A is locked out.
async fn an_attacker_cannot_lock_out_editors_at_other_addresses_or_behind_its_own(backend: Backend) {
    let app = TestApp::start_with(backend, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.create_editor("ed@example.com", Role::Editor);
    app.create_editor("eve@example.com", Role::Editor);
    let (attacker, elsewhere) = ("10.0.0.1", "10.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(login_via(&app, attacker, "ed@example.com", "wrong wrong wrong").await.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
    let refused = login_via(&app, attacker, "ed@example.com", PASSWORD).await;
    refused.problem(429);
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");

    login_via(&app, elsewhere, "ed@example.com", PASSWORD).await.ok(200);
    login_via(&app, attacker, "eve@example.com", PASSWORD).await.ok(200);
    // IPv6 clients count by their /64: hopping inside it gains nothing.
    for i in 1..=5 {
        login_via(&app, &format!("2001:db8:1:2::{i}"), "ed@example.com", "wrong wrong wrong").await.problem(401);
    }
    login_via(&app, "2001:db8:1:2::99", "ed@example.com", "wrong wrong wrong").await.problem(429);
    login_via(&app, "2001:db8:1:3::1", "ed@example.com", PASSWORD).await.ok(200);
}

/// The same with real source addresses: 127.0.0.2 and 127.0.0.3 are other
/// clients to the server, with no proxy and no header involved.
async fn an_attacker_cannot_lock_out_editors_from_real_source_addresses(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.create_editor("ed@example.com", Role::Editor);
    app.create_editor("eve@example.com", Role::Editor);
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let editor: std::net::IpAddr = "127.0.0.3".parse().unwrap();
    let body = |email: &str, password: &str| json!({"email": email, "password": password});
    for _ in 0..5 {
        app.post_from(attacker, "/v1/auth/token", body("ed@example.com", "wrong wrong wrong")).await.problem(401);
    }
    let refused = app.post_from(attacker, "/v1/auth/token", body("ed@example.com", PASSWORD)).await;
    refused.problem(429);
    assert!(refused.header("retry-after").is_some());
    app.post_from(editor, "/v1/auth/token", body("ed@example.com", PASSWORD)).await.ok(200);
    app.post_from(attacker, "/v1/auth/token", body("eve@example.com", PASSWORD)).await.ok(200);
    // And the harness's own client (127.0.0.1) is a third address.
    login(&app, "ed@example.com", PASSWORD).await.ok(200);
}

/// Guessing spread over many addresses meets the per-email ceiling, which
/// then refuses that email at every new address (and no other email) — but
/// not where the editor logged in before: the throttle must not lock out
/// the people it protects.
async fn the_per_email_ceiling_stops_guessing_spread_over_many_addresses(backend: Backend) {
    let env = [("TRUSTED_PROXIES", "127.0.0.1"), ("LOGIN_FAILURES_PER_EMAIL", "8")];
    let app = TestApp::start_with(backend, &env).await;
    app.create_editor("ed@example.com", Role::Editor);
    app.create_editor("eve@example.com", Role::Editor);
    login_via(&app, "10.0.5.5", "ed@example.com", PASSWORD).await.ok(200);
    for address in 1..=4 {
        for _ in 0..2 {
            let client = format!("10.0.1.{address}");
            login_via(&app, &client, "ed@example.com", "wrong wrong wrong").await.problem(401);
        }
    }
    let refused = login_via(&app, "10.0.9.9", "ed@example.com", PASSWORD).await;
    refused.problem(429);
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    login_via(&app, "10.0.1.1", "eve@example.com", PASSWORD).await.ok(200);
    // Where ed logged in before, ed still can; a guesser there still meets
    // the pair's own limit.
    login_via(&app, "10.0.5.5", "ed@example.com", PASSWORD).await.ok(200);
    for _ in 0..5 {
        login_via(&app, "10.0.5.5", "ed@example.com", "wrong wrong wrong").await.problem(401);
    }
    login_via(&app, "10.0.5.5", "ed@example.com", PASSWORD).await.problem(429);
}

/// On a `[::]` listener IPv4 clients arrive as `::ffff:a.b.c.d`; the trusted
/// proxy 127.0.0.1 must still be recognised, so each forwarded client counts
/// on its own. Were the mapped peer untrusted, the header would be ignored
/// and every client here would share the proxy's count.
async fn a_dual_stack_listener_trusts_ipv4_proxies_by_their_plain_address(backend: Backend) {
    let test_db = crate::common::TestDb::new(backend);
    let app = TestApp::start_listening(test_db, &[("TRUSTED_PROXIES", "127.0.0.1")], "[::]:0").await;
    app.create_editor("ed@example.com", Role::Editor);
    for _ in 0..5 {
        login_via(&app, "10.0.0.9", "ed@example.com", "wrong wrong wrong").await.problem(401);
    }
    login_via(&app, "10.0.0.9", "ed@example.com", "wrong wrong wrong").await.problem(429);
    login_via(&app, "10.0.0.10", "ed@example.com", "wrong wrong wrong").await.problem(401);
    login_via(&app, "::ffff:10.0.0.10", "ed@example.com", PASSWORD).await.ok(200);
}

/// After a rotation the old key verifies only tokens issued before it
/// retired: one forged with it and a fresh `iat` is refused.
async fn a_retired_key_cannot_mint_new_tokens(backend: Backend) {
    use anthology::auth::keys::{kid_of, rotate};
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = diesel::sql_types::Text)]
        secret: String,
    }
    let app = TestApp::start(backend).await;
    let id = app.create_editor("ada@example.com", Role::Editor);
    let old_token = app.login("ada@example.com").await;
    let old_kid = kid_of(&old_token);
    let old_secret = {
        let mut conn = app.db.conn().unwrap();
        diesel::sql_query("SELECT secret FROM server_keys WHERE purpose = 'jwt'").get_result::<Key>(&mut *conn).unwrap()
    }
    .secret;
    let rotation = app.db.write_now(|tx| Ok(rotate(tx, std::time::Duration::from_secs(3600))?)).unwrap();
    // Logins sign with the new key at once, in this process too.
    let new_token = app.login("ada@example.com").await;
    assert_eq!(kid_of(&new_token), Some(rotation.new_kid));
    // Say the rotation was ten minutes ago.
    let mut conn = app.db.conn().unwrap();
    let ten_minutes_earlier = match &*conn {
        anthology::db::DbConnection::Pg(_) => "retired_at - INTERVAL '10 minutes'",
        anthology::db::DbConnection::Sqlite(_) => "datetime(retired_at, '-10 minutes')",
    };
    diesel::sql_query(format!(
        "UPDATE server_keys SET retired_at = {ten_minutes_earlier} WHERE retired_at IS NOT NULL"
    ))
    .execute(&mut *conn)
    .unwrap();
    drop(conn);

    let now = chrono::Utc::now().timestamp();
    let forged_with_old_key = |iat: i64| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = old_kid.clone();
        let claims = json!({
            "iss": "anthology", "aud": "anthology-editors", "sub": id.to_string(), "role": "editor",
            "iat": iat, "nbf": iat, "exp": iat + 3600, "jti": "forged", "ver": 0
        });
        forge(claims, header, &old_secret)
    };
    // A process that reads the keys now (the first re-reads within a minute).
    let other = app.another_process(&[]).await;
    other.with_token(&forged_with_old_key(now)).get("/v1/auth/me").await.problem(401);
    // Issued before the retirement: still valid until it expires, like the real one.
    other.with_token(&forged_with_old_key(now - 20 * 60)).get("/v1/auth/me").await.ok(200);
    // So is the real one, which in this rewritten history came after it.
    other.with_token(&old_token).get("/v1/auth/me").await.problem(401);
    other.with_token(&new_token).get("/v1/auth/me").await.ok(200);
}
