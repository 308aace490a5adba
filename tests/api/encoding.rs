//! Compressed responses: every public read in identity, gzip and br, each
//! with its own strong ETag and 304, the same bytes whether or not the
//! response cache holds them; `Accept-Encoding` read as RFC 9110 says.

use std::collections::BTreeMap;
use std::io::Read;

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::common::{Backend, Body, Session, TestApp, TestResponse};

crate::on_both_backends!(
    public_reads_come_in_every_coding_each_with_its_own_etag,
    accept_encoding_is_read_as_rfc_9110_says,
    a_cache_that_is_off_sends_the_same_bytes_and_tags,
    other_responses_are_compressed_too,
);

/// A published story long enough for compression to matter.
async fn long_story(editor: &Session<'_>) -> Value {
    let paragraph = "When my mother turned eighty-four, we said the words we had avoided for years. ";
    let story = editor.create_story(json!({"title": "Mum moves in", "body": paragraph.repeat(60)})).await;
    editor.publish(&story["id"], Some("2026-01-01T00:00:00Z")).await;
    story
}

fn paths(story: &Value) -> Vec<String> {
    vec![
        format!("/v1/stories/{}", story["id"]),
        format!("/v1/stories/slug/{}", story["slug"].as_str().unwrap()),
        format!("/v1/stories/{}/rating", story["id"]),
        "/v1/stories?limit=20".to_owned(),
        "/v1/feed.atom".to_owned(),
    ]
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> TestResponse {
    app.anon().send(Method::GET, path, Body::None, headers).await
}

/// The body of `res`, decoded from its `Content-Encoding`.
fn decoded(res: &TestResponse) -> Vec<u8> {
    let mut out = Vec::new();
    match res.header("content-encoding") {
        None => out.extend_from_slice(&res.body),
        Some("gzip") => drop(flate2::read::GzDecoder::new(&res.body[..]).read_to_end(&mut out).unwrap()),
        Some("br") => drop(brotli::Decompressor::new(&res.body[..], 4096).read_to_end(&mut out).unwrap()),
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

/// (coding sent, ETag, decoded body) of `path` asked for with `accept`.
async fn fetch(app: &TestApp, path: &str, accept: &str) -> (Option<String>, String, Vec<u8>) {
    let res = get(app, path, &[("Accept-Encoding", accept)]).await;
    assert_eq!(res.status.as_u16(), 200, "{path} ({accept}): {}", res.text());
    let vary = res.header("vary").unwrap_or_default().to_ascii_lowercase();
    assert!(vary.contains("accept-encoding"), "{path}: Vary {vary}");
    let coding = res.header("content-encoding").map(str::to_owned);
    (coding, res.header("etag").unwrap().to_owned(), decoded(&res))
}

async fn public_reads_come_in_every_coding_each_with_its_own_etag(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "60000")]).await;
    let story = long_story(&app.editor().await).await;
    for path in paths(&story) {
        let plain = get(&app, &path, &[]).await;
        assert_eq!(plain.status.as_u16(), 200, "{path}");
        assert_eq!(plain.header("content-encoding"), None, "{path}");
        let identity_tag = plain.header("etag").unwrap().to_owned();
        let mut tags = BTreeMap::from([("identity", identity_tag.clone())]);
        // Twice each: the first may compute the response, the second is cached.
        for (accept, coding) in [("gzip", "gzip"), ("gzip, deflate, br", "br"), ("br;q=0.5, gzip", "gzip")] {
            for _ in 0..2 {
                let (sent, tag, body) = fetch(&app, &path, accept).await;
                assert_eq!(sent.as_deref(), Some(coding), "{path} ({accept})");
                assert_eq!(body, plain.body, "{path} ({accept}): the decoded bytes differ");
                assert!(tag.starts_with('"') && tag != identity_tag, "{path} ({accept}): {tag}");
                assert_eq!(tags.entry(coding).or_insert_with(|| tag.clone()), &tag, "{path}: one tag per coding");
            }
        }
        assert_ne!(tags["gzip"], tags["br"], "{path}");
        // Each coding's tag validates that coding, and only it.
        for (accept, tag) in &tags {
            let accept = *accept;
            let again = get(&app, &path, &[("Accept-Encoding", accept), ("If-None-Match", tag)]).await;
            assert_eq!(again.status.as_u16(), 304, "{path} ({accept}, {tag})");
            assert_eq!(again.header("etag"), Some(tag.as_str()), "{path}");
            assert!(again.body.is_empty() && again.header("content-encoding").is_none(), "{path}");
            let other = if accept == "gzip" { "br" } else { "gzip" };
            let changed = get(&app, &path, &[("Accept-Encoding", other), ("If-None-Match", tag)]).await;
            assert_eq!(changed.status.as_u16(), 200, "{path}: {tag} is not the {other} representation's");
        }
    }
}

async fn accept_encoding_is_read_as_rfc_9110_says(backend: Backend) {
    let app = TestApp::start(backend).await;
    let story = long_story(&app.editor().await).await;
    let path = format!("/v1/stories/{}", story["id"]);
    let plain = get(&app, &path, &[]).await;
    // Codings we do not send (or that are unknown) leave identity, which
    // is acceptable unless excluded.
    for accept in ["deflate", "compress, x-unknown", "gzip;q=0", "*"] {
        let (sent, tag, body) = fetch(&app, &path, accept).await;
        assert_eq!(sent, None, "{accept}");
        assert_eq!((tag.as_str(), &body[..]), (plain.header("etag").unwrap(), &plain.body[..]), "{accept}");
    }
    let (sent, ..) = fetch(&app, &path, "identity;q=0, gzip;q=0.1").await;
    assert_eq!(sent.as_deref(), Some("gzip"));
    // Nothing acceptable at all: 406, as a problem document.
    for accept in ["identity;q=0", "*;q=0", "deflate, identity;q=0"] {
        let refused = get(&app, &path, &[("Accept-Encoding", accept)]).await;
        refused.problem(406);
    }
}

async fn a_cache_that_is_off_sends_the_same_bytes_and_tags(backend: Backend) {
    let cached = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "60000")]).await;
    let story = long_story(&cached.editor().await).await;
    let uncached = cached.another_process(&[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    for path in paths(&story) {
        for accept in ["identity", "gzip", "br"] {
            for _ in 0..2 {
                let (from_cache, from_database) = (
                    get(&cached, &path, &[("Accept-Encoding", accept)]).await,
                    get(&uncached, &path, &[("Accept-Encoding", accept)]).await,
                );
                assert_eq!(from_cache.body, from_database.body, "{path} ({accept})");
                assert_eq!(from_cache.header("etag"), from_database.header("etag"), "{path} ({accept})");
                assert_eq!(from_cache.header("content-encoding"), from_database.header("content-encoding"));
                // A tag from either process validates at the other.
                let tag = from_cache.header("etag").unwrap();
                let again = get(&uncached, &path, &[("Accept-Encoding", accept), ("If-None-Match", tag)]).await;
                assert_eq!(again.status.as_u16(), 304, "{path} ({accept})");
            }
        }
    }
}

/// Private responses (an editor's read, a preview) are compressed by the
/// same code when they are large enough; they keep no shared ETag.
async fn other_responses_are_compressed_too(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = long_story(&editor).await;
    let path = format!("/v1/stories/{}", story["id"]);
    let plain = editor.get(&path).await;
    assert_eq!(plain.header("cache-control"), Some("private, no-store"));
    for accept in ["gzip", "br"] {
        let res = editor.send(Method::GET, &path, Body::None, &[("Accept-Encoding", accept)]).await;
        assert_eq!(res.header("content-encoding"), Some(accept));
        assert_eq!(res.header("cache-control"), Some("private, no-store"));
        assert_eq!(serde_json::from_slice::<Value>(&decoded(&res)).unwrap(), plain.json());
    }
    // Small answers and problems go as they are.
    let missing = app.anon().send(Method::GET, "/v1/stories/999999", Body::None, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(missing.header("content-encoding"), None);
    missing.problem(404);
}
