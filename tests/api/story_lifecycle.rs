//! Who sees a story when: drafts, scheduling, publishing, archiving, deleting.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp};

crate::on_both_backends!(
    visibility_follows_the_lifecycle,
    a_scheduled_story_turns_public_by_itself,
    deleting_removes_the_story_and_its_revisions,
    publish_takes_an_optional_body_and_honours_if_match,
    a_tag_list_and_count_follow_the_story,
    times_have_four_digit_years,
    a_repeated_move_changes_nothing,
);

/// What an anonymous reader gets for a story by id, by slug, and in the list.
async fn public_view(app: &TestApp, story: &Value) -> (u16, u16, bool) {
    let by_id = app.anon().get(&format!("/v1/stories/{}", story["id"])).await.status.as_u16();
    let by_slug =
        app.anon().get(&format!("/v1/stories/slug/{}", story["slug"].as_str().unwrap())).await.status.as_u16();
    let list = app.anon().get("/v1/stories").await.ok(200);
    let listed = list["data"].as_array().unwrap().iter().any(|s| s["id"] == story["id"]);
    (by_id, by_slug, listed)
}

async fn visibility_follows_the_lifecycle(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Lifecycle", "body": "Text."})).await;
    let id = &story["id"];
    let editor_status = |s: Value| s["status"].as_str().unwrap().to_owned();

    assert_eq!(public_view(&app, &story).await, (404, 404, false));
    assert_eq!(editor_status(editor.get(&format!("/v1/stories/{id}")).await.ok(200)), "draft");

    let published = editor.publish(id, None).await;
    assert_eq!(published["status"], "published");
    assert!(published["published_at"].is_string());
    assert_eq!(published["version"], 2);
    assert_eq!(public_view(&app, &story).await, (200, 200, true));

    let archived = editor.post(&format!("/v1/stories/{id}/archive"), json!({})).await.ok(200);
    assert_eq!(archived["status"], "archived");
    assert_eq!(archived["published_at"], published["published_at"]);
    assert_eq!(public_view(&app, &story).await, (404, 404, false));

    editor.publish(id, None).await;
    let draft = editor.post(&format!("/v1/stories/{id}/unpublish"), json!({})).await.ok(200);
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["published_at"], Value::Null);
    assert_eq!(public_view(&app, &story).await, (404, 404, false));

    // Editors see every status in the list, and can filter by one.
    let all = editor.get("/v1/stories").await.ok(200);
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    assert_eq!(editor.get("/v1/stories?status=draft").await.ok(200)["data"].as_array().unwrap().len(), 1);
    assert_eq!(editor.get("/v1/stories?status=published").await.ok(200)["data"].as_array().unwrap().len(), 0);
    // Readers may not ask for other statuses.
    app.anon().get("/v1/stories?status=draft").await.problem(400);
    // Lifecycle writes need a token.
    app.anon().post(&format!("/v1/stories/{id}/publish"), json!({})).await.problem(401);
}

async fn a_scheduled_story_turns_public_by_itself(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Soon", "body": "Wait for it."})).await;
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let scheduled = editor.publish(&story["id"], Some(&at)).await;
    assert_eq!(scheduled["status"], "scheduled");
    assert_eq!(editor.get("/v1/stories?status=scheduled").await.ok(200)["data"].as_array().unwrap().len(), 1);
    assert_eq!(public_view(&app, &story).await, (404, 404, false));

    tokio_sleep(std::time::Duration::from_millis(2300)).await;
    assert_eq!(public_view(&app, &story).await, (200, 200, true));
    let read = app.anon().get(&format!("/v1/stories/{}", story["id"])).await.ok(200);
    assert_eq!(read["status"], "published");
    let published_at: chrono::DateTime<chrono::Utc> = read["published_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(published_at, at.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
}

/// `/v1/tags`, and how many stories `?tag=kin` lists.
async fn tag_view(app: &TestApp) -> (Value, usize) {
    let tags = app.anon().get("/v1/tags").await.ok(200)["data"].clone();
    let listed = app.anon().get("/v1/stories?tag=kin").await.ok(200)["data"].as_array().unwrap().len();
    (tags, listed)
}

/// The tag index and counters are kept by every write (publish, retag,
/// archive, unpublish, delete), and a scheduled story joins its tag's list
/// and count when its time comes, with no write.
async fn a_tag_list_and_count_follow_the_story(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    let editor = app.editor().await;
    let kin = |count: i64| json!([{"slug": "kin", "count": count}]);
    let story = editor.create_story(json!({"title": "Kin", "tags": ["kin"]})).await;
    let id = &story["id"];
    assert_eq!(tag_view(&app).await, (json!([]), 0));
    editor.publish(id, None).await;
    assert_eq!(tag_view(&app).await, (kin(1), 1));

    let retag = |tags: Value, version: &'static str| {
        let path = format!("/v1/stories/{id}");
        let body = serde_json::to_vec(&json!({ "tags": tags })).unwrap();
        let editor = &editor;
        async move {
            let patch = crate::common::Body::Raw("application/merge-patch+json", body);
            editor.send(Method::PATCH, &path, patch, &[("If-Match", version)]).await.ok(200);
        }
    };
    retag(json!(["other"]), "\"v2\"").await;
    assert_eq!(tag_view(&app).await, (json!([{"slug": "other", "count": 1}]), 0));
    retag(json!(["kin", "other"]), "\"v3\"").await;
    assert_eq!(tag_view(&app).await.1, 1);

    editor.post(&format!("/v1/stories/{id}/archive"), json!({})).await.ok(200);
    assert_eq!(tag_view(&app).await, (json!([]), 0));
    editor.publish(id, None).await;
    editor.post(&format!("/v1/stories/{id}/unpublish"), json!({})).await.ok(200);
    assert_eq!(tag_view(&app).await, (json!([]), 0));

    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    editor.publish(id, Some(&at)).await;
    let other = editor.create_story(json!({"title": "Kin too", "tags": ["kin"]})).await;
    editor.publish(&other["id"], None).await;
    assert_eq!(tag_view(&app).await, (json!([{"slug": "kin", "count": 1}]), 1));
    tokio_sleep(std::time::Duration::from_millis(2300)).await;
    assert_eq!(tag_view(&app).await, (json!([{"slug": "kin", "count": 2}, {"slug": "other", "count": 1}]), 2));

    assert_eq!(editor.delete(&format!("/v1/stories/{id}")).await.status.as_u16(), 204);
    assert_eq!(tag_view(&app).await, (kin(1), 1));
}

async fn tokio_sleep(duration: std::time::Duration) {
    actix_web::rt::time::sleep(duration).await;
}

async fn deleting_removes_the_story_and_its_revisions(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Gone soon", "tags": ["ephemeral"]})).await;
    let id = &story["id"];
    editor.publish(id, None).await;
    app.anon().delete(&format!("/v1/stories/{id}")).await.problem(401);
    // A stale If-Match protects it.
    let stale =
        editor.with_headers(Method::DELETE, &format!("/v1/stories/{id}"), None, &[("If-Match", "\"v1\"")]).await;
    stale.problem(412);
    let res = editor.delete(&format!("/v1/stories/{id}")).await;
    assert_eq!(res.status.as_u16(), 204);
    editor.get(&format!("/v1/stories/{id}")).await.problem(404);
    editor.get(&format!("/v1/stories/{id}/revisions")).await.problem(404);
    editor.delete(&format!("/v1/stories/{id}")).await.problem(404);
    assert_eq!(app.anon().get("/v1/tags").await.ok(200)["data"], json!([]));
}

async fn publish_takes_an_optional_body_and_honours_if_match(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Bodiless"})).await;
    let path = format!("/v1/stories/{}/publish", story["id"]);
    // No body at all publishes now.
    let res = editor.with_headers(Method::POST, &path, None, &[]).await;
    assert_eq!(res.ok(200)["status"], "published");
    assert_eq!(res.header("etag"), Some("\"v2\""));
    // A stale version is refused; the current one works.
    editor.with_headers(Method::POST, &path, Some(json!({})), &[("If-Match", "\"v1\"")]).await.problem(412);
    editor.with_headers(Method::POST, &path, Some(json!({})), &[("If-Match", "\"v2\"")]).await.ok(200);
    // Backdating is allowed; a malformed time or an unknown field is 422.
    let back = editor.publish(&story["id"], Some("2020-01-02T03:04:05Z")).await;
    assert_eq!(back["published_at"], "2020-01-02T03:04:05Z");
    assert_eq!(editor.post(&path, json!({"at": "yesterday"})).await.invalid_fields(), ["at"]);
    assert_eq!(editor.post(&path, json!({"when": "now"})).await.invalid_fields(), ["when"]);
    editor.post("/v1/stories/987654/publish", json!({})).await.problem(404);
}

/// RFC 3339 years have four digits. SQLite compares stored times as text,
/// so a story scheduled for `+10000-…` sorted before every real date and
/// was public at once.
async fn times_have_four_digit_years(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Embargoed", "body": "Not before its time."})).await;
    let path = format!("/v1/stories/{}/publish", story["id"]);
    for at in ["+10000-01-01T00:00:00Z", "-0044-03-15T00:00:00Z", "9999-12-31T23:00:00-05:00"] {
        let res = editor.post(&path, json!({ "at": at })).await;
        assert_eq!(res.invalid_fields(), ["at"], "{at}");
    }
    assert_eq!(public_view(&app, &story).await, (404, 404, false));
    assert_eq!(editor.get(&format!("/v1/stories/{}", story["id"])).await.ok(200)["status"], "draft");
    for filter in ["published_after=%2B10000-01-01T00:00:00Z", "published_before=-0044-03-15T00:00:00Z"] {
        app.anon().get(&format!("/v1/stories?{filter}")).await.problem(400);
    }
    let published = editor.post(&path, json!({"at": "9999-12-31T23:59:59Z"})).await.ok(200);
    assert_eq!(published["status"], "scheduled");
    assert_eq!(public_view(&app, &story).await, (404, 404, false));
}

/// A double click on "Publish": the story is published once, keeps its
/// publication time, and makes one version and one revision.
async fn a_repeated_move_changes_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Clicked twice"})).await;
    let path = format!("/v1/stories/{}/publish", story["id"]);
    let clicks = (0..20).map(|_| editor.send(Method::POST, &path, crate::common::Body::None, &[]));
    let answers: Vec<Value> = futures_util::future::join_all(clicks).await.into_iter().map(|res| res.ok(200)).collect();
    let first = &answers[0];
    assert!(answers.iter().all(|a| a["version"] == 2 && a["published_at"] == first["published_at"]), "{answers:?}");
    let again = editor.publish(&story["id"], None).await;
    assert_eq!((&again["version"], &again["published_at"]), (&first["version"], &first["published_at"]));
    let revisions = editor.get(&format!("/v1/stories/{}/revisions", story["id"])).await.ok(200);
    assert_eq!(revisions["data"].as_array().unwrap().len(), 2);
    // A stale If-Match is still refused, moving or not.
    let stale = editor.send(Method::POST, &path, crate::common::Body::None, &[("If-Match", "\"v1\"")]).await;
    stale.problem(412);
    // An explicit time is a move; unpublishing twice is one move.
    let moved = editor.publish(&story["id"], Some("2020-01-01T00:00:00Z")).await;
    assert_eq!((moved["version"].as_i64(), moved["published_at"].as_str()), (Some(3), Some("2020-01-01T00:00:00Z")));
    let unpublish = format!("/v1/stories/{}/unpublish", story["id"]);
    for _ in 0..2 {
        let draft = editor.post(&unpublish, json!({})).await.ok(200);
        assert_eq!((draft["version"].as_i64(), draft["status"].as_str()), (Some(4), Some("draft")));
    }
}
