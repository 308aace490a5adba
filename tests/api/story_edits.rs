//! Editing with JSON Merge Patch and If-Match, races, revisions and restore.

use actix_web::http::Method;
use diesel::RunQueryDsl;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp};

crate::on_both_backends!(
    patch_needs_a_current_if_match,
    merge_patch_semantics,
    patches_are_validated_like_new_stories,
    racing_editors_get_one_winner_and_412s,
    parallel_stories_with_new_tags_in_any_order_are_all_created,
    parallel_stories_with_one_title_get_the_next_free_slugs,
    revisions_record_every_change_and_restore_makes_a_new_version,
    if_match_lines_are_one_list,
);

async fn patch(
    session: &crate::common::Session<'_>,
    id: &Value,
    etag: Option<&str>,
    body: Value,
) -> crate::common::TestResponse {
    let headers: Vec<(&str, &str)> = etag.map(|e| ("If-Match", e)).into_iter().collect();
    session
        .send(
            Method::PATCH,
            &format!("/v1/stories/{id}"),
            crate::common::Body::Raw("application/merge-patch+json", serde_json::to_vec(&body).unwrap()),
            &headers,
        )
        .await
}

async fn patch_needs_a_current_if_match(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Draft one"})).await;
    let id = &story["id"];
    patch(&editor, id, None, json!({"title": "x"})).await.problem(428);
    patch(&editor, id, Some("\"v7\""), json!({"title": "x"})).await.problem(412);
    patch(&editor, id, Some("W/\"v1\""), json!({"title": "x"})).await.problem(412);
    let res = patch(&editor, id, Some("\"v1\""), json!({"title": "Draft two"})).await;
    let updated = res.ok(200);
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["title"], "Draft two");
    assert_eq!(res.header("etag"), Some("\"v2\""));
    assert_ne!(updated["updated_at"], story["updated_at"]);
    // The editor's read carries the same ETag, for the next If-Match.
    assert_eq!(editor.get(&format!("/v1/stories/{id}")).await.header("etag"), Some("\"v2\""));
    patch(&editor, id, Some("\"v1\""), json!({"title": "stale"})).await.problem(412);
    patch(&editor, id, Some("*"), json!({"title": "Any version"})).await.ok(200);
    patch(&editor, &json!(424242), Some("\"v1\""), json!({"title": "x"})).await.problem(404);
    patch(&app.anon(), id, Some("\"v3\""), json!({"title": "x"})).await.problem(401);
}

async fn merge_patch_semantics(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor
        .create_story(json!({
            "title": "Moving in", "subtitle": "A story", "excerpt": "Hand-written.", "body": "First paragraph.",
            "tags": ["family"], "seo": {"meta_title": "SEO title", "meta_description": "SEO text"}
        }))
        .await;
    let id = &story["id"];
    // Absent fields stay; nested objects merge; null removes or re-derives.
    let updated = patch(
        &editor,
        id,
        Some("\"v1\""),
        json!({"subtitle": null, "excerpt": null, "seo": {"meta_title": null}, "body": "A new **first** paragraph.", "slug": "moved-in"}),
    )
    .await
    .ok(200);
    assert_eq!(updated["title"], "Moving in");
    assert_eq!(updated["subtitle"], Value::Null);
    assert_eq!(updated["excerpt"], "A new first paragraph.");
    assert_eq!(updated["seo"], json!({"meta_title": null, "meta_description": "SEO text", "canonical_url": null}));
    assert_eq!(updated["tags"], json!(["family"]));
    assert_eq!(updated["slug"], "moved-in");
    assert!(updated["body_html"].as_str().unwrap().contains("<strong>first</strong>"));
    app.anon().get("/v1/stories/slug/moved-in").await.problem(404);
    assert_eq!(editor.get("/v1/stories/slug/moved-in").await.ok(200)["id"], *id);

    // `slug: null` derives it again from the (new) title; tags are replaced whole.
    let updated =
        patch(&editor, id, Some("\"v2\""), json!({"title": "Settled in", "slug": null, "tags": ["home", "care"]}))
            .await
            .ok(200);
    assert_eq!(updated["slug"], "settled-in");
    assert_eq!(updated["tags"], json!(["home", "care"]));

    // A patch that changes nothing is no new version (a repeated request,
    // `{}`); it still needs a current If-Match.
    for unchanged in [json!({}), json!({"title": "Settled in", "tags": ["home", "care"], "seo": {}})] {
        let same = patch(&editor, id, Some("\"v3\""), unchanged).await.ok(200);
        assert_eq!((same["version"].as_i64(), same["updated_at"].clone()), (Some(3), updated["updated_at"].clone()));
    }
    patch(&editor, id, Some("\"v2\""), json!({})).await.problem(412);
    let revisions = editor.get(&format!("/v1/stories/{id}/revisions")).await.ok(200);
    assert_eq!(revisions["data"].as_array().unwrap().len(), 3);

    // Another story's slug is a conflict.
    editor.create_story(json!({"title": "Taken"})).await;
    patch(&editor, id, Some("\"v3\""), json!({"slug": "taken"})).await.problem(409);
}

async fn patches_are_validated_like_new_stories(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Valid"})).await;
    let id = &story["id"];
    let fields = |res: crate::common::TestResponse| res.invalid_fields();
    assert_eq!(fields(patch(&editor, id, Some("\"v1\""), json!({"title": null})).await), ["title"]);
    assert_eq!(fields(patch(&editor, id, Some("\"v1\""), json!({"title": ""})).await), ["title"]);
    assert_eq!(fields(patch(&editor, id, Some("\"v1\""), json!({"tags": "family"})).await), ["tags"]);
    assert_eq!(fields(patch(&editor, id, Some("\"v1\""), json!({"status": "published"})).await), ["status"]);
    assert_eq!(fields(patch(&editor, id, Some("\"v1\""), json!({"version": 9})).await), ["version"]);
    // Within the body's length, but rendering to more HTML than a story may hold.
    let links = "[a](b) ".repeat(70_000);
    let res = patch(&editor, id, Some("\"v1\""), json!({"body": links})).await;
    assert_eq!(res.invalid_fields(), ["body"]);
    let res = editor.post("/v1/stories", json!({"title": "Links", "body": links})).await;
    assert_eq!(res.invalid_fields(), ["body"]);
    assert_eq!(
        fields(
            patch(&editor, id, Some("\"v1\""), json!({"cover_image": {"url": "data:image/png;base64,xx", "alt": ""}}))
                .await
        ),
        ["cover_image.url"]
    );
    let res = editor
        .send(
            Method::PATCH,
            &format!("/v1/stories/{id}"),
            crate::common::Body::Raw("application/merge-patch+json", b"[1]".to_vec()),
            &[("If-Match", "\"v1\"")],
        )
        .await;
    res.problem(422);
    // Nothing was written by any of them.
    assert_eq!(editor.get(&format!("/v1/stories/{id}")).await.ok(200)["version"], 1);
}

async fn racing_editors_get_one_winner_and_412s(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editors = [app.editor().await, app.editor().await, app.editor().await, app.editor().await];
    let story = editors[0].create_story(json!({"title": "Contested", "body": "Original."})).await;
    let id = story["id"].clone();
    for round in 1..=3 {
        let etag = format!("\"v{round}\"");
        let attempts = editors.iter().enumerate().map(|(n, editor)| {
            let id = id.clone();
            let etag = etag.clone();
            async move { patch(editor, &id, Some(&etag), json!({"body": format!("Round {round}, editor {n}.")})).await }
        });
        let results = join_all(attempts).await;
        let winners: Vec<_> = results.iter().filter(|r| r.status.as_u16() == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}: {:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
        for loser in results.iter().filter(|r| r.status.as_u16() != 200) {
            loser.problem(412);
        }
        let current = editors[0].get(&format!("/v1/stories/{id}")).await.ok(200);
        assert_eq!(current["version"], round + 1);
        assert_eq!(current["body"], winners[0].json()["body"]);
    }
    let revisions = editors[0].get(&format!("/v1/stories/{id}/revisions")).await.ok(200);
    let versions: Vec<i64> =
        revisions["data"].as_array().unwrap().iter().map(|r| r["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [4, 3, 2, 1]);
}

async fn revisions_record_every_change_and_restore_makes_a_new_version(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "First title", "body": "First body.", "tags": ["one"]})).await;
    let id = &story["id"];
    patch(&editor, id, Some("\"v1\""), json!({"title": "Second title", "body": "Second body.", "tags": ["two"]}))
        .await
        .ok(200);
    editor.publish(id, None).await;

    let res = editor.get(&format!("/v1/stories/{id}/revisions?limit=2")).await;
    let page = res.ok(200);
    assert_eq!(res.header("cache-control"), Some("private, no-store"));
    let changes: Vec<&str> = page["data"].as_array().unwrap().iter().map(|r| r["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["published", "edited"]);
    assert_eq!(page["page"]["has_more"], true);
    let next = format!("/v1/stories/{id}/revisions?limit=2&cursor={}", page["page"]["next_cursor"].as_str().unwrap());
    let rest = editor.get(&next).await.ok(200);
    assert_eq!(rest["data"][0]["change"], "created");
    assert_eq!(rest["data"][0]["content"]["title"], "First title");
    assert!(rest["data"][0]["editor"]["display_name"].is_string());

    let first = editor.get(&format!("/v1/stories/{id}/revisions/1")).await.ok(200);
    assert_eq!(first["content"]["body"], "First body.");
    assert_eq!(first["status"], "draft");
    editor.get(&format!("/v1/stories/{id}/revisions/99")).await.problem(404);
    app.anon().get(&format!("/v1/stories/{id}/revisions")).await.problem(401);

    let restored = editor.post(&format!("/v1/stories/{id}/revisions/1/restore"), json!({})).await.ok(200);
    assert_eq!(restored["version"], 4);
    assert_eq!(restored["title"], "First title");
    assert_eq!(restored["tags"], json!(["one"]));
    // Restoring content leaves the lifecycle alone: still published.
    assert_eq!(restored["status"], "published");
    let latest = editor.get(&format!("/v1/stories/{id}/revisions?limit=1")).await.ok(200);
    assert_eq!(latest["data"][0]["change"], "restored");
    editor.post(&format!("/v1/stories/{id}/revisions/1/restore"), json!({})).await.ok(200);
    editor
        .with_headers(Method::POST, &format!("/v1/stories/{id}/revisions/1/restore"), None, &[("If-Match", "\"v1\"")])
        .await
        .problem(412);
}

/// Stories sent at once, each naming the same new tags in its own order:
/// every one is created with its tags in its order, and each tag exists
/// once. (On PostgreSQL two writers creating two new tags in opposite
/// orders each waited for the other's uncommitted tag: a deadlock, answered
/// 500.)
async fn parallel_stories_with_new_tags_in_any_order_are_all_created(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    // Through both processes, where PostgreSQL has a second one.
    let second = app.another_process(&[]).await;
    let other = second.editor().await;
    let orders = [["fern", "moss", "lichen"], ["lichen", "moss", "fern"], ["moss", "fern", "lichen"]];
    let requests = (0..40).map(|i| {
        let session = if i % 2 == 0 { &editor } else { &other };
        let tags = orders[i % orders.len()];
        async move { (tags, session.post("/v1/stories", json!({"title": format!("Woodland {i}"), "tags": tags})).await) }
    });
    for (tags, res) in join_all(requests).await {
        assert_eq!(res.status.as_u16(), 201, "{}", res.text());
        assert_eq!(res.json()["tags"], json!(tags));
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = "SELECT COUNT(*) AS n FROM tags WHERE slug IN ('fern', 'moss', 'lichen')";
    let tags = app.db.read(move |conn| Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n)).await.unwrap();
    assert_eq!(tags, 3);
}

/// A slug derived from the title is never refused, however many stories of
/// one title are created at once through either process: each gets the next
/// free suffix. (PostgreSQL answered 409 to some: their transactions all
/// picked the same free slug, and only one insert of it could win.) An
/// explicit slug that is taken is still 409.
async fn parallel_stories_with_one_title_get_the_next_free_slugs(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let second = app.another_process(&[]).await;
    let other = second.editor().await;
    let requests = (0..40).map(|i| {
        let session = if i % 2 == 0 { &editor } else { &other };
        session.post("/v1/stories", json!({"title": "Twin Title", "body": "b"}))
    });
    let slugs: std::collections::BTreeSet<String> =
        join_all(requests).await.iter().map(|res| res.ok(201)["slug"].as_str().unwrap().to_owned()).collect();
    let expected = std::iter::once("twin-title".to_owned()).chain((2..=40).map(|n| format!("twin-title-{n}")));
    assert_eq!(slugs, expected.collect());
    other.post("/v1/stories", json!({"title": "Twin Title", "slug": "twin-title-7"})).await.problem(409);
}

/// `If-Match` lines are one list, as RFC 9110 says, which matches when any
/// of its tags does; a value that is not visible ASCII matches nothing
/// (412), it is not a missing header (428).
async fn if_match_lines_are_one_list(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Listed"})).await;
    let path = format!("/v1/stories/{}", story["id"]);
    let send = |headers: &'static [(&'static str, &'static str)]| {
        let body = crate::common::Body::Raw("application/merge-patch+json", br#"{"subtitle": "Sub"}"#.to_vec());
        editor.send(Method::PATCH, &path, body, headers)
    };
    send(&[("If-Match", "\"v\u{e9}\"")]).await.problem(412);
    send(&[("If-Match", "\"v9\""), ("If-Match", "W/\"v1\"")]).await.problem(412);
    let patched = send(&[("If-Match", "\"from-elsewhere\""), ("If-Match", "\"v1\"")]).await.ok(200);
    assert_eq!((patched["version"].as_i64(), patched["subtitle"].as_str()), (Some(2), Some("Sub")));
    // Any tag of a list may match, not only the first of ours.
    let send = |headers: &'static [(&'static str, &'static str)], body: &'static [u8]| {
        let body = crate::common::Body::Raw("application/merge-patch+json", body.to_vec());
        editor.send(Method::PATCH, &path, body, headers)
    };
    send(&[("If-Match", "\"v1\", \"v7\"")], br#"{"subtitle": "Stale"}"#).await.problem(412);
    let patched = send(&[("If-Match", "\"v7\", \"v2\"")], br#"{"subtitle": "Later"}"#).await.ok(200);
    assert_eq!(patched["version"], 3);
    editor.send(Method::DELETE, &path, crate::common::Body::None, &[("If-Match", "\"v1\", \"v2\"")]).await.problem(412);
    let res = editor.send(Method::DELETE, &path, crate::common::Body::None, &[("If-Match", "\"v2\", \"v3\"")]).await;
    assert_eq!(res.status.as_u16(), 204);
}
