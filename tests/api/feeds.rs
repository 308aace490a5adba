//! Feeds and sitemaps: only public stories, full HTML, well-formed for the
//! formats' own parsers, cacheable, and sitemaps that page by id.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::common::{Backend, Body, Session, TestApp};

crate::on_both_backends!(
    feeds_carry_only_public_stories_in_full,
    feeds_narrow_by_tag_and_revalidate,
    sitemaps_list_public_story_pages,
);

/// A published story, a draft, a scheduled one and an archived one.
async fn a_mixed_site(editor: &Session<'_>) -> Value {
    let public = editor
        .create_story(json!({
            "title": "Mum’s moving in — & <more>",
            "body": "When my mother turned *eighty-four*, we said: “Come & live with us.”",
            "tags": ["family"],
            "author": {"name": "Ruth Ellis"},
        }))
        .await;
    editor.publish(&public["id"], Some("2026-01-01T00:00:00Z")).await;
    editor.create_story(json!({"title": "Draft story", "tags": ["family"]})).await;
    let scheduled = editor.create_story(json!({"title": "Scheduled story", "tags": ["family"]})).await;
    editor.publish(&scheduled["id"], Some("2999-01-01T00:00:00Z")).await;
    let archived = editor.create_story(json!({"title": "Archived story", "tags": ["family"]})).await;
    editor.publish(&archived["id"], Some("2026-01-02T00:00:00Z")).await;
    editor.post(&format!("/v1/stories/{}/archive", archived["id"]), json!({})).await.ok(200);
    public
}

async fn feeds_carry_only_public_stories_in_full(backend: Backend) {
    let template = [("STORY_URL_TEMPLATE", "https://magazine.example/stories/{slug}")];
    let app = TestApp::start_with(backend, &template).await;
    let editor = app.editor().await;
    let story = a_mixed_site(&editor).await;
    let page = format!("https://magazine.example/stories/{}", story["slug"].as_str().unwrap());

    let atom = app.anon().get("/v1/feed.atom").await;
    assert_eq!(atom.header("content-type"), Some("application/atom+xml; charset=utf-8"));
    let feed: atom_syndication::Feed = atom.text().parse().expect("a valid Atom feed");
    assert_eq!(feed.entries.len(), 1, "{}", atom.text());
    let entry = &feed.entries[0];
    assert_eq!(entry.title.value, "Mum’s moving in — & <more>");
    assert_eq!(entry.authors[0].name, "Ruth Ellis");
    assert_eq!(entry.categories[0].term, "family");
    assert_eq!(entry.links[0].href, page);
    let html = entry.content.as_ref().and_then(|c| c.value.clone()).unwrap();
    assert_eq!(html, story["body_html"].as_str().unwrap());

    let rss = app.anon().get("/v1/feed.rss").await;
    assert_eq!(rss.header("content-type"), Some("application/rss+xml; charset=utf-8"));
    let channel: rss::Channel = rss.text().parse().expect("a valid RSS feed");
    assert_eq!(channel.items.len(), 1);
    assert_eq!(channel.items[0].link.as_deref(), Some(page.as_str()));
    // (The parser trims the CDATA it reads.)
    assert_eq!(channel.items[0].content.as_deref(), story["body_html"].as_str().map(str::trim));
    assert_eq!(channel.items[0].dublin_core_ext.as_ref().unwrap().creators, ["Ruth Ellis"]);

    let json_feed = app.anon().get("/v1/feed.json").await;
    assert_eq!(json_feed.header("content-type"), Some("application/feed+json; charset=utf-8"));
    let feed = json_feed.json();
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0]["url"].as_str(), &items[0]["content_html"]), (Some(page.as_str()), &story["body_html"]));
}

async fn feeds_narrow_by_tag_and_revalidate(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    a_mixed_site(&editor).await;
    let other = editor.create_story(json!({"title": "Elsewhere", "tags": ["travel"]})).await;
    editor.publish(&other["id"], Some("2026-02-01T00:00:00Z")).await;
    let all = app.anon().get("/v1/feed.json").await.ok(200);
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let travel = app.anon().get("/v1/feed.json?tag=travel").await.ok(200);
    let titles: Vec<&str> = travel["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Elsewhere"]);
    // A feed's own URL names the tag and nothing else the request carried.
    let junk = app.anon().get("/v1/feed.json?utm_source=x&tag=travel&b=%3Cy%3E").await.ok(200);
    assert!(junk["feed_url"].as_str().unwrap().ends_with("/v1/feed.json?tag=travel"), "{junk}");
    let atom = app.anon().get("/v1/feed.atom?tag=travel&junk=1").await.text();
    assert!(!atom.contains("junk") && atom.contains("/v1/feed.atom?tag=travel</id>"), "{atom}");
    // A tag nobody made is no feed: its title would be the link's words.
    for path in ["/v1/feed.atom", "/v1/feed.rss", "/v1/feed.json"] {
        let res = app.anon().get(&format!("{path}?tag=site-closed-visit-evil-example")).await;
        assert_eq!(res.status.as_u16(), 404, "{path}");
        assert_eq!(res.header("content-type"), Some("application/problem+json"), "{path}");
    }

    for path in ["/v1/feed.atom", "/v1/feed.rss", "/v1/feed.json", "/v1/sitemap.xml"] {
        let res = app.anon().get(path).await;
        assert_eq!(res.header("cache-control"), Some("public, max-age=60, stale-while-revalidate=300"), "{path}");
        let etag = res.header("etag").unwrap_or_else(|| panic!("{path} has no ETag")).to_owned();
        let again = app.anon().send(Method::GET, path, Body::None, &[("If-None-Match", &etag)]).await;
        assert_eq!(again.status.as_u16(), 304, "{path}");
    }
}

async fn sitemaps_list_public_story_pages(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = a_mixed_site(&editor).await;
    let index = app.anon().get("/v1/sitemap.xml").await;
    assert_eq!(index.header("content-type"), Some("application/xml; charset=utf-8"));
    let index = index.text();
    assert!(index.contains("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"), "{index}");
    assert!(index.contains("/v1/sitemaps/stories-1.xml</loc>"), "{index}");
    assert!(!index.contains("stories-2.xml"), "{index}");

    let file = app.anon().get("/v1/sitemaps/stories-1.xml").await;
    assert_eq!(file.status.as_u16(), 200);
    // Streamed as it is read, yet validated like every public response.
    let etag = file.header("etag").expect("a strong ETag").to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    let again =
        app.anon().send(Method::GET, "/v1/sitemaps/stories-1.xml", Body::None, &[("If-None-Match", &etag)]).await;
    assert_eq!(again.status.as_u16(), 304);
    let file = file.text();
    assert_eq!(file.matches("<url>").count(), 1, "{file}");
    assert!(file.contains(&format!("/v1/stories/slug/{}</loc>", story["slug"].as_str().unwrap())), "{file}");
    assert!(file.contains("<lastmod>2026-01-01T00:00:00Z</lastmod>") || file.contains("<lastmod>2026-"), "{file}");
    for hidden in ["draft-story", "scheduled-story", "archived-story"] {
        assert!(!file.contains(hidden), "{hidden} in {file}");
    }
    app.anon().get("/v1/sitemaps/stories-2.xml").await.problem(404);
    app.anon().get("/v1/sitemaps/stories-0.xml").await.problem(404);
    // Past any id, however large: no overflow, just no such file.
    app.anon().get("/v1/sitemaps/stories-9223372036854775807.xml").await.problem(404);
}
