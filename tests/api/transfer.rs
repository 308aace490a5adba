//! `anthology export` and `anthology import`: a site moves from SQLite to
//! PostgreSQL (and back) and reads the same, byte for byte.

use std::process::Command;

use actix_web::http::Method;
use serde_json::json;

use crate::common::{Backend, Body, TestApp, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_anthology");
const VOTER: &str = "6f1c2a4e-8d1b-4f6a-9a52-1f0e3b7c9d01";

/// Runs the binary on `db`; its success, stdout and stderr.
fn anthology(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A small site with everything a site holds.
async fn a_site(app: &TestApp) -> Vec<String> {
    let admin = app.admin().await;
    app.create_editor("ruth@example.com", anthology::editors::Role::Editor);
    let first = admin
        .create_story(json!({
            "title": "Mum’s moving in",
            "body": "When my mother turned eighty-four, we said it: “Come and live with us.” — and she did.",
            "tags": ["family", "ageing"],
        }))
        .await;
    admin.publish(&first["id"], Some("2026-01-01T00:00:00Z")).await;
    let edit = admin
        .with_headers(
            Method::PATCH,
            &format!("/v1/stories/{}", first["id"]),
            Some(json!({"subtitle": "Three generations, one kitchen"})),
            &[("If-Match", "\"v2\"")],
        )
        .await;
    edit.ok(200);
    let second = admin.create_story(json!({"title": "The kitchen table", "tags": ["family"]})).await;
    admin.publish(&second["id"], Some("2026-01-02T00:00:00Z")).await;
    admin.create_story(json!({"title": "A draft, never public"})).await;
    let related = json!([{"story_id": second["id"]}, {"url": "https://www.ageuk.org.uk/", "title": "Age UK"}]);
    admin.send(Method::PUT, &format!("/v1/stories/{}/related", first["id"]), Body::Json(related), &[]).await.ok(200);
    for (voter, score) in [(VOTER, 5), ("0b9e7d3c-2a41-4c8e-b6f5-7d2e9a1c3b4f", 4)] {
        let path = format!("/v1/stories/{}/ratings/{voter}", first["id"]);
        app.anon().send(Method::PUT, &path, Body::Json(json!({"score": score})), &[]).await.ok(201);
    }
    // Suggestions computed and stored, so the export carries them.
    app.suggestions_settled().await;
    // A webhook endpoint, registered after the changes, so nothing is sent.
    let hook = json!({"url": "https://1.1.1.1/hook", "events": ["story.published"], "description": "CDN"});
    admin.post("/v1/webhooks", hook).await.ok(201);
    let (a, b) = (&first["id"], &second["id"]);
    [
        "/v1/stories".to_owned(),
        "/v1/stories?sort=-rating&fields=id,title,rating".to_owned(),
        format!("/v1/stories/{a}"),
        "/v1/stories/slug/mum-s-moving-in".to_owned(),
        format!("/v1/stories/{a}/rating"),
        format!("/v1/stories/{a}/related?suggest=2"),
        format!("/v1/stories/{b}/related"),
        "/v1/tags".to_owned(),
        "/v1/feed.json".to_owned(),
        "/v1/feed.atom".to_owned(),
        "/v1/sitemaps/stories-1.xml".to_owned(),
    ]
    .into()
}

async fn round_trip(from: Backend, to: Backend) {
    let source = TestApp::start_with(from, &[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    let paths = a_site(&source).await;
    let mut before = Vec::new();
    for path in &paths {
        let res = source.anon().get(path).await;
        assert_eq!(res.status.as_u16(), 200, "{path}: {}", res.text());
        before.push((res.body.clone(), res.header("etag").map(str::to_owned)));
    }
    let token = source.login("ruth@example.com").await;
    let revisions = source.with_token(&token).get("/v1/stories/1/revisions").await.ok(200);
    let webhooks = source.admin().await.get("/v1/webhooks").await.ok(200);
    assert_eq!(webhooks["data"].as_array().unwrap().len(), 1);

    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap();
    let (ok, _, stderr) = anthology(&source.test_db, &["export", "--out", path]);
    assert!(ok, "{stderr}");
    let target_db = TestDb::new(to);
    let (ok, stdout, stderr) = anthology(&target_db, &["import", path]);
    assert!(ok && stdout.contains("imported"), "{stdout}{stderr}");
    // Only into an empty database.
    let (ok, _, stderr) = anthology(&target_db, &["import", path]);
    assert!(!ok && stderr.contains("not empty"), "{stderr}");
    // Every story has its ratings row, as the source had.
    {
        let mut conn = crate::seed::migrated(&target_db).conn().unwrap();
        for (what, sql) in crate::seed::RATINGS_ROWS_DISAGREE {
            assert_eq!(crate::seed::count(&mut conn, sql), 0, "{what} disagree with the rows");
        }
    }

    let target = TestApp::start_on(target_db, &[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    for (path, (body, etag)) in paths.iter().zip(before) {
        let res = target.anon().get(path).await;
        assert_eq!(res.text(), String::from_utf8_lossy(&body), "{path}");
        assert_eq!(res.header("etag").map(str::to_owned), etag, "{path}");
    }
    // The same passwords, the same signing keys, the same revisions.
    target.with_token(&token).get("/v1/auth/me").await.ok(200);
    let again = target.login("ruth@example.com").await;
    assert_eq!(target.with_token(&again).get("/v1/stories/1/revisions").await.ok(200), revisions);
    // The same voter key: a re-vote replaces.
    let vote = format!("/v1/stories/1/ratings/{VOTER}");
    target.anon().send(Method::PUT, &vote, Body::Json(json!({"score": 1})), &[]).await.ok(200);
    assert_eq!(target.anon().get("/v1/stories/1/rating").await.ok(200)["count"], 2);
    // Ids carried over, and new ones come after them.
    let next = target.with_token(&again).create_story(json!({"title": "After the move"})).await;
    assert_eq!(next["id"], 4);
    let link = json!({"url": "https://example.com/", "title": "More"});
    assert_eq!(target.with_token(&again).post("/v1/stories/2/related", link).await.ok(201)["id"], 3);
    // Webhook endpoints too (their secrets with them), and new ones come after.
    let admin = target.admin().await;
    assert_eq!(admin.get("/v1/webhooks").await.ok(200), webhooks);
    let hook = json!({"url": "https://1.1.1.1/other", "events": ["story.deleted"]});
    assert_eq!(admin.post("/v1/webhooks", hook).await.ok(201)["id"], 2);
}

#[actix_web::test]
async fn a_site_moves_from_sqlite_to_postgres_unchanged() {
    round_trip(Backend::Sqlite, Backend::Postgres).await;
}

#[actix_web::test]
async fn a_site_moves_from_postgres_to_sqlite_unchanged() {
    round_trip(Backend::Postgres, Backend::Sqlite).await;
}

/// A file that is not whole, or not ours, or of another version, is refused
/// naming the line, and nothing of it is loaded.
async fn broken_files_load_nothing(backend: Backend) {
    let source = TestApp::start(backend).await;
    let editor = source.editor().await;
    for title in ["One", "Two", "Three"] {
        editor.create_story(json!({"title": title})).await;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    assert!(anthology(&source.test_db, &["export", "--out", &path]).0);
    let export = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = export.lines().collect();
    let cut_short = lines[..lines.len() - 1].join("\n");
    let corrupt =
        lines.iter().enumerate().map(|(i, l)| if i == 3 { "{\"table\": \"stories\", \"row\": 5}" } else { l });
    let corrupt = corrupt.collect::<Vec<_>>().join("\n");
    let other_version = export.replacen("\"version\":1", "\"version\":99", 1);
    let cases = [
        (cut_short, format!("line {}: the file ends without its end line", lines.len() - 1)),
        (corrupt, "line 4: not a row of an export".to_owned()),
        (other_version, "line 1: export version 99".to_owned()),
        ("{\"hello\": 1}".to_owned(), "line 1: not an Anthology export".to_owned()),
    ];
    for (content, expected) in cases {
        let target_db = TestDb::new(backend);
        std::fs::write(&path, content).unwrap();
        let (ok, _, stderr) = anthology(&target_db, &["import", &path]);
        assert!(!ok && stderr.contains(&expected), "expected {expected:?}, got {stderr}");
        let target = TestApp::start_on(target_db, &[]).await;
        let admin = target.admin().await;
        assert_eq!(admin.get("/v1/stories").await.ok(200)["data"], json!([]));
    }
}

crate::on_both_backends!(broken_files_load_nothing, an_export_is_checked_and_its_derivations_made_again);

/// An export is only a file: what it says was derived (the HTML, the vote
/// counts) is derived again, and what an editor could not have stored is
/// refused, naming the line, with nothing loaded.
async fn an_export_is_checked_and_its_derivations_made_again(backend: Backend) {
    let source = TestApp::start(backend).await;
    let editor = source.editor().await;
    let story = editor.create_story(json!({"title": "Kept safe", "body": "Plain *words*.", "tags": ["family"]})).await;
    editor.publish(&story["id"], Some("2026-01-01T00:00:00Z")).await;
    let vote = format!("/v1/stories/{}/ratings/{VOTER}", story["id"]);
    source.anon().send(Method::PUT, &vote, Body::Json(json!({"score": 4})), &[]).await.ok(201);
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    assert!(anthology(&source.test_db, &["export", "--out", &path]).0);
    let export = std::fs::read_to_string(&path).unwrap();
    // The file with `change` made to the first row of `table`.
    let altered = |table: &str, change: &dyn Fn(&mut serde_json::Value)| -> String {
        let mut done = false;
        let lines = export.lines().map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            if !done && value["table"] == table {
                change(&mut value["row"]);
                done = true;
            }
            value.to_string()
        });
        lines.collect::<Vec<_>>().join("\n")
    };

    let tampered = altered("stories", &|row| {
        row["body_html"] = json!("<p>Plain</p><script>alert(1)</script><img src=x onerror=alert(2)>");
        row["rating_count"] = json!(-5);
        row["rating_1"] = json!(-5);
    });
    let target_db = TestDb::new(backend);
    std::fs::write(&path, tampered).unwrap();
    let (ok, _, stderr) = anthology(&target_db, &["import", &path]);
    assert!(ok, "{stderr}");
    let target = TestApp::start_on(target_db, &[]).await;
    let read = target.anon().get(&format!("/v1/stories/{}", story["id"])).await.ok(200);
    assert_eq!(read["body_html"], "<p>Plain <em>words</em>.</p>\n");
    assert_eq!(read["rating"], json!({"average": 4.0, "count": 1}));
    let rating = target.anon().get(&format!("/v1/stories/{}/rating", story["id"])).await.ok(200);
    assert_eq!(
        (&rating["count"], &rating["distribution"]["1"], &rating["distribution"]["4"]),
        (&json!(1), &json!(0), &json!(1))
    );

    let refused = [
        (altered("editors", &|row| row["password_hash"] = json!("hunter2")), "password_hash is not an Argon2 hash"),
        (altered("stories", &|row| row["slug"] = json!("../../etc")), "slug"),
        (altered("stories", &|row| row["published_at"] = json!("+10000-01-01T00:00:00")), "outside the years"),
        (altered("story_revisions", &|row| row["content"] = json!("not json")), "is not a story's content"),
        (altered("tags", &|row| row["slug"] = json!("A B <x>")), "tag "),
    ];
    for (content, expected) in refused {
        let target_db = TestDb::new(backend);
        std::fs::write(&path, content).unwrap();
        let (ok, _, stderr) = anthology(&target_db, &["import", &path]);
        assert!(!ok && stderr.contains("line ") && stderr.contains(expected), "expected {expected:?}, got {stderr}");
        let target = TestApp::start_on(target_db, &[]).await;
        assert_eq!(target.admin().await.get("/v1/stories").await.ok(200)["data"], json!([]));
    }
}
