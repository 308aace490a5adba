//! Draft previews: a link that shows a story as it is now to anyone holding
//! it, until it expires or is revoked, and never from a cache.

use actix_web::http::Method;
use serde_json::json;

use crate::common::{Backend, Body, TestApp};

crate::on_both_backends!(a_preview_shows_the_draft_as_it_is_now, previews_end);

async fn a_preview_shows_the_draft_as_it_is_now(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "60000")]).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Not yet", "body": "A draft — “with quotes”."})).await;
    app.anon().post(&format!("/v1/stories/{}/preview", story["id"]), json!({})).await.problem(401);
    let link = editor.post(&format!("/v1/stories/{}/preview", story["id"]), json!({})).await.ok(201);
    let path = format!("/v1/preview/{}", link["token"].as_str().unwrap());
    assert!(link["token"].as_str().unwrap().bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));

    let res = app.anon().get(&path).await;
    let read = res.ok(200);
    assert_eq!((read["title"].clone(), read["status"].clone()), (json!("Not yet"), json!("draft")));
    assert_eq!(res.header("cache-control"), Some("private, no-store"));
    assert_eq!(res.header("x-robots-tag"), Some("noindex"));
    // The draft stays hidden from readers.
    app.anon().get(&format!("/v1/stories/{}", story["id"])).await.problem(404);

    // Never cached: an edit shows at once through the same link.
    let edit = Some(json!({"title": "Nearly there"}));
    editor
        .with_headers(Method::PATCH, &format!("/v1/stories/{}", story["id"]), edit, &[("If-Match", "\"v1\"")])
        .await
        .ok(200);
    assert_eq!(app.anon().get(&path).await.ok(200)["title"], "Nearly there");
}

async fn previews_end(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Secret"})).await;
    let preview = format!("/v1/stories/{}/preview", story["id"]);
    let token = |link: serde_json::Value| link["token"].as_str().unwrap().to_owned();

    // Expiry: a one-second link.
    let short = token(editor.post(&preview, json!({"expires_in": 1})).await.ok(201));
    app.anon().get(&format!("/v1/preview/{short}")).await.ok(200);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.anon().get(&format!("/v1/preview/{short}")).await.problem(404);
    assert_eq!(editor.post(&preview, json!({"expires_in": 604801})).await.invalid_fields(), ["expires_in"]);
    // Regression (schemathesis): a whole number written `188.0` is the integer 188.
    editor.post(&preview, json!({"expires_in": 188.0})).await.ok(201);
    assert_eq!(editor.post(&preview, json!({"expires_in": 1.5})).await.invalid_fields(), ["expires_in"]);

    // A tampered token, or garbage.
    let good = token(editor.post(&preview, json!({})).await.ok(201));
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    app.anon().get(&format!("/v1/preview/{}", String::from_utf8(tampered).unwrap())).await.problem(404);
    app.anon().get("/v1/preview/not-a-token").await.problem(404);

    // Revocation ends every link of the story, and new ones work again.
    app.anon().get(&format!("/v1/preview/{good}")).await.ok(200);
    editor.send(Method::DELETE, &preview, Body::None, &[]).await.ok(204);
    app.anon().get(&format!("/v1/preview/{good}")).await.problem(404);
    let fresh = token(editor.post(&preview, json!({})).await.ok(201));
    app.anon().get(&format!("/v1/preview/{fresh}")).await.ok(200);

    // Deleting the story ends its links too.
    editor.delete(&format!("/v1/stories/{}", story["id"])).await.ok(204);
    app.anon().get(&format!("/v1/preview/{fresh}")).await.problem(404);
    editor.post(&preview, json!({})).await.problem(404);
}
