//! Webhooks: admins register endpoints; each story change writes its event
//! to an outbox in the change's own transaction.

use actix_web::http::Method;
use base64::Engine;
use serde_json::{Value, json};

use crate::common::{Backend, Body, Session, TestApp};

crate::on_both_backends!(admins_manage_webhook_endpoints, private_urls_are_refused, story_changes_fill_the_outbox);

const ALLOW_PRIVATE: &[(&str, &str)] = &[("WEBHOOKS_ALLOW_PRIVATE_URLS", "true")];

/// The event types of an endpoint's deliveries, oldest first.
async fn delivered_types(admin: &Session<'_>, endpoint: &Value) -> Vec<String> {
    let page = admin.get(&format!("/v1/webhooks/{}/deliveries?limit=100", endpoint["id"])).await.ok(200);
    let mut types: Vec<String> =
        page["data"].as_array().unwrap().iter().map(|d| d["type"].as_str().unwrap().to_owned()).collect();
    types.reverse();
    types
}

async fn admins_manage_webhook_endpoints(backend: Backend) {
    let app = TestApp::start_with(backend, ALLOW_PRIVATE).await;
    let admin = app.admin().await;
    let editor = app.editor().await;
    let new = json!({"url": "http://127.0.0.1:9/hook", "events": ["story.published", "story.deleted", "story.published"],
        "description": "front page"});
    editor.post("/v1/webhooks", new.clone()).await.problem(403);
    app.anon().get("/v1/webhooks").await.problem(401);

    let res = admin.post("/v1/webhooks", new).await;
    let created = res.ok(201);
    assert_eq!(res.header("location"), Some(format!("/v1/webhooks/{}", created["id"]).as_str()));
    assert_eq!(created["events"], json!(["story.published", "story.deleted"]));
    assert_eq!((created["description"].clone(), created["disabled"].clone()), (json!("front page"), json!(false)));
    let secret = created["secret"].as_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    assert_eq!(key.len(), 32);

    let path = format!("/v1/webhooks/{}", created["id"]);
    let read = admin.get(&path).await.ok(200);
    assert!(read.get("secret").is_none(), "the secret is shown once: {read}");
    assert_eq!(read["url"], "http://127.0.0.1:9/hook");
    let list = admin.get("/v1/webhooks").await.ok(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0].get("secret").is_none());

    let patched = admin.patch(&path, json!({"events": ["related.updated"], "disabled": true})).await.ok(200);
    assert_eq!((patched["events"].clone(), patched["disabled"].clone()), (json!(["related.updated"]), json!(true)));
    assert_eq!(patched["url"], "http://127.0.0.1:9/hook");
    assert_eq!(admin.patch(&path, json!({"events": []})).await.invalid_fields(), ["events"]);
    assert_eq!(admin.patch(&path, json!({"events": ["ping"]})).await.invalid_fields(), ["events"]);
    assert_eq!(admin.patch(&path, json!({"url": "ftp://example.com/"})).await.invalid_fields(), ["url"]);
    assert_eq!(
        admin.post("/v1/webhooks", json!({"url": "http://x.test/", "events": []})).await.invalid_fields(),
        ["events"]
    );
    admin.post("/v1/webhooks", json!({"url": "http://x.test/", "events": ["story.eaten"]})).await.problem(422);
    admin.patch("/v1/webhooks/999999", json!({"disabled": false})).await.problem(404);

    admin.send(Method::DELETE, &path, Body::None, &[]).await.ok(204);
    admin.get(&path).await.problem(404);
    admin.delete(&path).await.problem(404);
    admin.post(&format!("{path}/ping"), json!({})).await.problem(404);
    admin.get(&format!("{path}/deliveries")).await.problem(404);
}

async fn private_urls_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    for url in [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.0.0.8/",
        "http://192.168.1.20/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.1.1/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
    ] {
        let res = admin.post("/v1/webhooks", json!({"url": url, "events": ["story.published"]})).await;
        assert_eq!(res.invalid_fields(), ["url"], "{url}");
    }
    let public = admin.post("/v1/webhooks", json!({"url": "https://1.1.1.1/hook", "events": ["ping"]})).await;
    assert_eq!(public.invalid_fields(), ["events"]);
    let good = admin.post("/v1/webhooks", json!({"url": "https://1.1.1.1/hook", "events": ["story.updated"]})).await;
    let path = format!("/v1/webhooks/{}", good.ok(201)["id"]);
    assert_eq!(admin.patch(&path, json!({"url": "http://127.0.0.1/"})).await.invalid_fields(), ["url"]);
}

async fn story_changes_fill_the_outbox(backend: Backend) {
    let app = TestApp::start_with(backend, ALLOW_PRIVATE).await;
    let admin = app.admin().await;
    let editor = app.editor().await;
    let all = ["story.published", "story.updated", "story.unpublished", "story.deleted", "related.updated"];
    // Port 9 (discard): nothing listens, so nothing is delivered meanwhile.
    let hook = |events: Value| json!({"url": "http://127.0.0.1:9/hook", "events": events});
    let everything = admin.post("/v1/webhooks", hook(json!(all))).await.ok(201);
    let deletions = admin.post("/v1/webhooks", hook(json!(["story.deleted"]))).await.ok(201);
    let disabled = admin.post("/v1/webhooks", hook(json!(all))).await.ok(201);
    admin.patch(&format!("/v1/webhooks/{}", disabled["id"]), json!({"disabled": true})).await.ok(200);

    let story = editor.create_story(json!({"title": "Outbox", "body": "First."})).await;
    let other = editor.create_story(json!({"title": "Other"})).await;
    let id = story["id"].clone();
    let path = format!("/v1/stories/{id}");
    // A draft's edits and links concern nobody yet.
    let edit = |version: &str, body: &str| {
        let if_match = format!("\"v{version}\"");
        let body = json!({"body": body});
        let path = path.clone();
        let editor = &editor;
        async move { editor.with_headers(Method::PATCH, &path, Some(body), &[("If-Match", &if_match)]).await }
    };
    let version = |story: Value| story["version"].to_string();
    let edited = edit(&version(story.clone()), "Second.").await.ok(200);
    let related = format!("{path}/related");
    editor.send(Method::PUT, &related, Body::Json(json!([{"story_id": other["id"]}])), &[]).await.ok(200);
    assert_eq!(delivered_types(&admin, &everything).await, Vec::<String>::new());

    let published = editor.publish(&id, None).await;
    assert_ne!(version(published.clone()), version(edited));
    edit(&version(published), "Third.").await.ok(200);
    // A change that fails leaves no event behind: it was in the same transaction.
    edit("1", "Lost.").await.problem(412);
    editor.send(Method::PUT, &related, Body::Json(json!([])), &[]).await.ok(200);
    editor.post(&format!("{path}/unpublish"), json!({})).await.ok(200);
    editor.publish(&id, None).await;
    editor.post(&format!("{path}/archive"), json!({})).await.ok(200);
    editor.delete(&path).await.ok(204);
    assert_eq!(
        delivered_types(&admin, &everything).await,
        [
            "story.published",
            "story.updated",
            "related.updated",
            "story.unpublished",
            "story.published",
            "story.unpublished",
            "story.deleted",
        ]
    );
    assert_eq!(delivered_types(&admin, &deletions).await, ["story.deleted"]);
    assert_eq!(delivered_types(&admin, &disabled).await, Vec::<String>::new());

    // A ping goes to the one endpoint asked, disabled or not.
    let ping = admin.post(&format!("/v1/webhooks/{}/ping", disabled["id"]), json!({})).await.ok(202);
    assert!(ping["event_id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(delivered_types(&admin, &disabled).await, ["ping"]);
    let page = admin.get(&format!("/v1/webhooks/{}/deliveries", disabled["id"])).await.ok(200);
    assert_eq!(page["data"][0]["event_id"], ping["event_id"]);
    assert_eq!(delivered_types(&admin, &deletions).await, ["story.deleted"]);
}
