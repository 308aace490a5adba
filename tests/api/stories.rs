//! The story resource, as far as the foundation goes: create and read back.

use actix_web::http::Method;
use serde_json::json;

use crate::common::{Backend, Body, TestApp};

crate::on_both_backends!(
    an_editor_creates_a_draft_that_only_editors_can_read,
    text_comes_back_byte_for_byte,
    slugs_are_derived_unique_and_explicit_ones_are_checked,
    long_titles_keep_their_words_in_the_slug,
    story_fields_are_validated,
    lone_surrogates_are_a_validation_error,
);

async fn an_editor_creates_a_draft_that_only_editors_can_read(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let res = editor
        .post(
            "/v1/stories",
            json!({
                "title": "A new mother", "body": "The first night home.\n\n[Support](https://support.example)",
                "tags": ["family", "parenting", "family"], "author": {"name": "Sam Ward"},
                "cover_image": {"url": "https://img.example/cot.jpg", "alt": "An empty cot"},
                "seo": {"meta_description": "Night one."}
            }),
        )
        .await;
    let story = res.ok(201);
    let location = res.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/v1/stories/{}", story["id"]));
    assert_eq!(res.header("etag"), Some("\"v1\""));
    assert_eq!(story["status"], "draft");
    assert_eq!(story["slug"], "a-new-mother");
    assert_eq!(story["version"], 1);
    assert_eq!(story["tags"], json!(["family", "parenting"]));
    assert_eq!(story["locale"], "en-GB");
    assert_eq!(story["excerpt"], "The first night home. Support");
    assert_eq!(story["published_at"], json!(null));
    assert_eq!(story["seo"], json!({"meta_title": null, "meta_description": "Night one.", "canonical_url": null}));
    assert!(story["body_html"].as_str().unwrap().contains(r#"rel="noopener noreferrer""#));

    app.anon().get(&location).await.problem(404);
    let read = editor.get(&location).await;
    assert_eq!(read.ok(200), story);
    assert_eq!(read.header("cache-control"), Some("private, no-store"));
    app.anon().get("/v1/stories/424242").await.problem(404);
}

async fn text_comes_back_byte_for_byte(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let title = "“Mum’s moving in” — 👩🏽‍🦳 e\u{301}te\u{301} שלום";
    let body = "She said, “It’s only for a while” — and stayed… 🫖\n\nمرحبا and naïve cafe\u{301}.";
    let story =
        editor.post("/v1/stories", json!({"title": title, "body": body, "subtitle": "Ça va — “oui”"})).await.ok(201);
    let read = editor.get(&format!("/v1/stories/{}", story["id"])).await;
    let read_json = read.ok(200);
    assert_eq!(read_json["title"].as_str().unwrap().as_bytes(), title.as_bytes());
    assert_eq!(read_json["body"].as_str().unwrap().as_bytes(), body.as_bytes());
    assert_eq!(read_json["subtitle"], "Ça va — “oui”");
    // Sent as UTF-8, not escaped.
    assert!(read.text().contains("👩🏽‍🦳"));
    assert_eq!(read.header("content-type"), Some("application/json; charset=utf-8"));
    // Transliterated to ASCII, emoji included.
    assert_eq!(read_json["slug"], "mum-s-moving-in-woman-white-hair-ete-shlvm");
}

async fn slugs_are_derived_unique_and_explicit_ones_are_checked(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let mut slugs = Vec::new();
    for _ in 0..3 {
        slugs.push(editor.post("/v1/stories", json!({"title": "Moving in"})).await.ok(201)["slug"].clone());
    }
    assert_eq!(slugs, [json!("moving-in"), json!("moving-in-2"), json!("moving-in-3")]);
    editor.post("/v1/stories", json!({"title": "Other", "slug": "moving-in-2"})).await.problem(409);
    let ok = editor.post("/v1/stories", json!({"title": "Other", "slug": "chosen-by-hand"})).await.ok(201);
    assert_eq!(ok["slug"], "chosen-by-hand");
    let res = editor.post("/v1/stories", json!({"title": "Other", "slug": "Not A Slug"})).await;
    assert_eq!(res.invalid_fields(), ["slug"]);
}

/// Slugs used to be cut at 80 characters, so a long title lost its last
/// words. Derived slugs now keep up to 185 (room for a `-2` suffix within
/// the 190 an explicit slug may have), cut between words.
async fn long_titles_keep_their_words_in_the_slug(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let title =
        "When my mother turned eighty-four, we finally said the words we had avoided for years: come and live with us";
    let expected =
        "when-my-mother-turned-eighty-four-we-finally-said-the-words-we-had-avoided-for-years-come-and-live-with-us";
    assert!(expected.len() > 80);
    let story = editor.create_story(json!({"title": title})).await;
    assert_eq!(story["slug"], expected);
    // The same title again: a suffix, and the story can still be edited (the
    // whole content, slug included, is checked again on every edit).
    let again = editor.create_story(json!({"title": title})).await;
    assert_eq!(again["slug"], format!("{expected}-2"));
    let path = format!("/v1/stories/{}", again["id"]);
    let body = Body::Json(json!({"subtitle": "edited"}));
    editor.send(Method::PATCH, &path, body, &[("If-Match", "\"v1\"")]).await.ok(200);

    // Longer than the limit: cut between words, never inside one.
    let words: Vec<String> = (0..40).map(|i| format!("word{i:02}")).collect();
    let long = editor.create_story(json!({"title": words.join(" ")})).await;
    let slug = long["slug"].as_str().unwrap();
    assert!(slug.len() <= 185 && slug.len() > 170, "{slug}");
    assert!(words.join("-").starts_with(&format!("{slug}-")), "{slug}");
    // An explicit slug may have 190 characters, not more.
    let explicit = "a".repeat(190);
    assert_eq!(editor.create_story(json!({"title": "Explicit", "slug": explicit})).await["slug"], explicit);
    let res = editor.post("/v1/stories", json!({"title": "Too long", "slug": "b".repeat(191)})).await;
    assert_eq!(res.invalid_fields(), ["slug"]);
    app.anon().get(&format!("/v1/stories/slug/{expected}")).await.problem(404);
    assert_eq!(editor.get(&format!("/v1/stories/slug/{expected}")).await.ok(200)["id"], story["id"]);
}

async fn story_fields_are_validated(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let res = editor
        .post(
            "/v1/stories",
            json!({
                "title": "", "locale": "english please", "tags": ["Not a slug"],
                "cover_image": {"url": "javascript:alert(1)", "alt": ""},
                "seo": {"canonical_url": "https://user:pw@example.com/"}
            }),
        )
        .await;
    assert_eq!(res.invalid_fields(), ["cover_image.url", "locale", "seo.canonical_url", "tags", "title"]);
    let res = editor.post("/v1/stories", json!({"title": "x".repeat(301)})).await;
    assert_eq!(res.invalid_fields(), ["title"]);
    let res = editor.post("/v1/stories", json!({"title": "NUL\u{0}byte"})).await;
    assert_eq!(res.invalid_fields(), ["title"]);
    // Every field of the wrong type or unknown has its entry, not only the first.
    let res = editor.post("/v1/stories", json!({"title": 1, "slug": 2, "body": 3, "seo": {"meta_title": 4}})).await;
    assert_eq!(res.invalid_fields(), ["body", "seo.meta_title", "slug", "title"]);
    let res = editor.post("/v1/stories", json!({"title": "T", "x": 1, "tags": [1, "a"], "y": 2})).await;
    assert_eq!(res.invalid_fields(), ["tags[0]", "x", "y"]);
    // XML forbids U+FFFE and U+FFFF: in one story they broke every feed.
    let res = editor.post("/v1/stories", json!({"title": "Bad \u{FFFF}", "body": "x \u{FFFE}"})).await;
    assert_eq!(res.invalid_fields(), ["body", "title"]);
    // Sanitizing a body's HTML takes time growing with the square of its
    // depth; these took seconds to minutes, holding the write lock.
    for deep in [">".repeat(16_000), "- ".repeat(8_000) + "a", "<div>".repeat(8_000)] {
        let res = editor.post("/v1/stories", json!({"title": "Deep", "body": deep})).await;
        assert_eq!(res.invalid_fields(), ["body"]);
    }
    let nested = "> - *quoted* list\n>   - with [a link](https://example.com)\n".repeat(50);
    editor.create_story(json!({"title": "Nested as stories are", "body": nested})).await;
    // No mass assignment: server-owned fields are unknown fields.
    for field in ["id", "version", "status", "published_at", "word_count", "rating", "created_at"] {
        let res = editor.post("/v1/stories", json!({"title": "T", field: 1})).await;
        res.problem(422);
    }
    app.anon().post("/v1/stories", json!({"title": "T"})).await.problem(401);
}

async fn lone_surrogates_are_a_validation_error(backend: Backend) {
    use actix_web::http::Method;
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    for raw in [r#"{"title": "bad \ud800 half"}"#, r#"{"title": "bad \udc00"}"#] {
        let res = editor
            .send(
                Method::POST,
                "/v1/stories",
                crate::common::Body::Raw("application/json", raw.as_bytes().to_vec()),
                &[],
            )
            .await;
        assert_eq!(res.invalid_fields(), ["title"], "{raw}");
    }
    // A proper pair is an emoji, kept as such.
    let raw = r#"{"title": "pair \ud83d\ude00"}"#;
    let res = editor
        .send(Method::POST, "/v1/stories", crate::common::Body::Raw("application/json", raw.as_bytes().to_vec()), &[])
        .await;
    assert_eq!(res.ok(201)["title"], "pair 😀");
}
