//! Reading stories: lists, filters, sorts, pagination, search, tags, caching,
//! derived fields and sanitizing.

use std::collections::HashSet;

use actix_web::http::Method;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::common::{Backend, Body, Session, TestApp, TestDb};
use crate::plans::{COMMON, anthology};

crate::on_both_backends!(
    lists_filter_sort_and_choose_fields,
    pagination_sees_every_story_once_while_stories_are_added,
    search_ranks_the_best_match_first,
    a_search_pages_through_its_newest_matches_once_each,
    public_reads_are_cacheable_and_revalidate_with_304,
    tags_list_counts_public_stories_only,
    derived_fields_of_a_thousand_word_story,
    hostile_markdown_is_sanitized,
    bad_list_parameters_are_400,
    nul_in_query_and_path_strings_is_400,
    cursors_are_sealed_and_every_process_opens_them,
    searches_past_the_bounds_are_400,
    list_items_carry_the_chosen_fields_in_alphabetical_order,
    list_items_and_feeds_carry_each_storys_tags_in_the_editors_order,
);

async fn published(editor: &Session<'_>, story: Value, at: &str) -> Value {
    let created = editor.create_story(story).await;
    editor.publish(&created["id"], Some(at)).await
}

/// A JSON value's object keys in the order they were sent, nested objects'
/// too (`Value` sorts them); none for other values.
#[derive(Default)]
struct Keys(Vec<(String, Keys)>);

impl Keys {
    fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(key, _)| key.as_str()).collect()
    }

    fn of(&self, name: &str) -> &Keys {
        &self.0.iter().find(|(key, _)| key == name).unwrap().1
    }

    /// The keys of a list's first item.
    fn of_first_item(body: &[u8]) -> Keys {
        #[derive(serde::Deserialize)]
        struct List {
            data: Vec<Keys>,
        }
        serde_json::from_slice::<List>(body).unwrap().data.swap_remove(0)
    }
}

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(entry) = map.next_entry::<String, Keys>()? {
                    keys.push(entry);
                }
                Ok(Keys(keys))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Keys::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_unit<E>(self) -> Result<Keys, E> {
                Ok(Keys::default())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

fn ids(list: &Value) -> Vec<i64> {
    list["data"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect()
}

async fn lists_filter_sort_and_choose_fields(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let a = published(
        &editor,
        json!({"title": "Banana", "tags": ["fruit"], "locale": "en-US", "author": {"name": "Ann"}}),
        "2026-01-01T10:00:00Z",
    )
    .await;
    let b = published(
        &editor,
        json!({"title": "apple", "tags": ["fruit", "red"], "author": {"name": "Bob"}}),
        "2026-02-01T10:00:00Z",
    )
    .await;
    let c = published(
        &editor,
        json!({"title": "Cherry", "tags": ["red"], "author": {"name": "Ann"}}),
        "2026-03-01T10:00:00Z",
    )
    .await;
    editor.create_story(json!({"title": "Draft", "tags": ["fruit"]})).await;
    let id = |s: &Value| s["id"].as_i64().unwrap();

    let list = app.anon().get("/v1/stories").await.ok(200);
    assert_eq!(ids(&list), [id(&c), id(&b), id(&a)]);
    let item = &list["data"][0];
    assert!(item.get("body").is_none() && item.get("body_html").is_none());
    assert_eq!(item["title"], "Cherry");
    assert_eq!(item["tags"], json!(["red"]));
    assert_eq!(list["page"], json!({"limit": 20, "next_cursor": null, "has_more": false}));

    let get = |q: &str| {
        let app = &app;
        let path = format!("/v1/stories?{q}");
        async move { ids(&app.anon().get(&path).await.ok(200)) }
    };
    assert_eq!(get("sort=published_at").await, [id(&a), id(&b), id(&c)]);
    // Titles sort by code point: upper case first.
    assert_eq!(get("sort=title").await, [id(&a), id(&c), id(&b)]);
    assert_eq!(get("tag=fruit").await, [id(&b), id(&a)]);
    assert_eq!(get("tag=red&sort=published_at").await, [id(&b), id(&c)]);
    assert_eq!(get("locale=en-US").await, [id(&a)]);
    assert_eq!(get("author=Ann").await, [id(&c), id(&a)]);
    assert_eq!(get("published_after=2026-01-15T00:00:00Z").await, [id(&c), id(&b)]);
    assert_eq!(get("published_before=2026-02-15T00:00:00Z&published_after=2026-01-15T00:00:00Z").await, [id(&b)]);
    assert_eq!(get("tag=nothing").await, Vec::<i64>::new());

    let sparse = app.anon().get("/v1/stories?fields=id,title,body&limit=1").await.ok(200);
    let keys: HashSet<&str> = sparse["data"][0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["id", "title", "body"]));
}

async fn pagination_sees_every_story_once_while_stories_are_added(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let mut expected = HashSet::new();
    for day in 1..=9 {
        // Two stories share each publication time, so ties are broken by id.
        for hour in ["08", "08"] {
            let s =
                published(&editor, json!({"title": format!("Day {day}")}), &format!("2026-05-0{day}T{hour}:00:00Z"))
                    .await;
            expected.insert(s["id"].as_i64().unwrap());
        }
    }
    for sort in ["-published_at", "published_at", "title"] {
        let mut seen = Vec::new();
        let mut path = format!("/v1/stories?limit=4&sort={sort}");
        let mut added = 0;
        loop {
            let res = app.anon().get(&path).await;
            let page = res.ok(200);
            seen.extend(ids(&page));
            // Stories published meanwhile (now, and long ago) must not disturb the walk.
            let s = published(&editor, json!({"title": "Late arrival"}), "2026-06-01T00:00:00Z").await;
            let t = published(&editor, json!({"title": "Early arrival"}), "2020-01-01T00:00:00Z").await;
            added += 2;
            let _ = (s, t);
            match res.header("link") {
                Some(link) => path = link.trim_start_matches('<').split('>').next().unwrap().to_owned(),
                None => break,
            }
        }
        let unique: HashSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a story was seen twice");
        assert!(expected.is_subset(&unique), "{sort}: a story was missed");
        assert!(added > 0);
        expected = unique;
    }
}

async fn search_ranks_the_best_match_first(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let title_hit = published(
        &editor,
        json!({"title": "Mothers and daughters", "body": "A story about family."}),
        "2026-01-01T00:00:00Z",
    )
    .await;
    let body_hit = published(
        &editor,
        json!({"title": "Moving house", "body": "My mother moved in with us after the winter."}),
        "2026-02-01T00:00:00Z",
    )
    .await;
    published(&editor, json!({"title": "Gardening", "body": "Tomatoes and beans."}), "2026-03-01T00:00:00Z").await;
    let draft = editor.create_story(json!({"title": "Mother draft", "body": "mother mother mother"})).await;

    let res = app.anon().get("/v1/stories?q=mother").await.ok(200);
    // Stemming matches "Mothers"; the title outweighs the body; drafts stay hidden.
    assert_eq!(ids(&res), [title_hit["id"].as_i64().unwrap(), body_hit["id"].as_i64().unwrap()]);
    assert_eq!(ids(&app.anon().get("/v1/stories?q=tomatoes%20beans").await.ok(200)).len(), 1);
    assert_eq!(ids(&app.anon().get("/v1/stories?q=tomatoes%20mother").await.ok(200)).len(), 0);
    // An editor's search includes drafts.
    assert!(ids(&editor.get("/v1/stories?q=mother").await.ok(200)).contains(&draft["id"].as_i64().unwrap()));
    // Search syntax characters are just text, never an error.
    for q in ["%22unbalanced", "NEAR(", "-", "*", "mother%20OR", "%E2%80%94", "%27%3B%20DROP%20TABLE%20stories"] {
        app.anon().get(&format!("/v1/stories?q={q}")).await.ok(200);
    }
    // Pages of a search continue in rank order.
    let first = app.anon().get("/v1/stories?q=mother&limit=1").await;
    let link = first.header("link").unwrap().trim_start_matches('<').split('>').next().unwrap().to_owned();
    assert_eq!(ids(&app.anon().get(&link).await.ok(200)), [body_hit["id"].as_i64().unwrap()]);
    // With an explicit sort, matches come in that order.
    assert_eq!(
        ids(&app.anon().get("/v1/stories?q=mother&sort=-published_at").await.ok(200))[0],
        body_hit["id"].as_i64().unwrap()
    );
}

#[derive(diesel::QueryableByName)]
struct StoryId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// A search of a word in more stories than it ranks (1,000): its pages,
/// followed by cursor at two page sizes, give each of the public stories
/// among the newest 1,000 matches (of any status: a draft takes a place)
/// exactly once, in the order the database ranks them, best first.
async fn a_search_pages_through_its_newest_matches_once_each(backend: Backend) {
    let db = TestDb::new(backend);
    anthology(&db, &["seed", "--stories", "5000", "--votes", "0"]);
    let app = TestApp::start_on(db, &[]).await;
    let editor = app.editor().await;
    let draft = editor.create_story(json!({"title": "A mother's draft", "body": "mother"})).await;

    let (candidates, ranked) = match backend {
        Backend::Sqlite => (
            "SELECT rowid AS id FROM stories_fts WHERE stories_fts MATCH 'mother' ORDER BY rowid DESC LIMIT 1000",
            "SELECT stories.id FROM stories JOIN stories_fts ON stories_fts.rowid = stories.id \
             WHERE stories_fts MATCH 'mother' AND stories.id IN (CANDIDATES) AND status = 'published' \
             ORDER BY stories_fts.rank, stories.id",
        ),
        Backend::Postgres => (
            "SELECT id FROM stories WHERE search_vector @@ websearch_to_tsquery('english', 'mother') \
             ORDER BY id DESC LIMIT 1000",
            "SELECT id FROM stories WHERE id IN (CANDIDATES) AND status = 'published' \
             ORDER BY -ts_rank(search_vector, websearch_to_tsquery('english', 'mother'))::float8, id",
        ),
    };
    let expected: Vec<i64> = {
        let mut conn = app.db.conn().unwrap();
        let all: Vec<StoryId> = diesel::sql_query(candidates).load(&mut *conn).unwrap();
        assert_eq!(all.len(), 1000, "the seed has more matches than a search ranks");
        assert_eq!(all[0].id, draft["id"].as_i64().unwrap());
        let ranked: Vec<StoryId> =
            diesel::sql_query(ranked.replace("CANDIDATES", candidates)).load(&mut *conn).unwrap();
        ranked.into_iter().map(|row| row.id).collect()
    };
    assert_eq!(expected.len(), 999);
    for limit in [100, 37] {
        let mut seen = Vec::new();
        let mut path = format!("/v1/stories?q={COMMON}&limit={limit}&fields=id");
        loop {
            let res = app.anon().get(&path).await;
            seen.extend(ids(&res.ok(200)));
            let Some(link) = res.header("link") else { break };
            path = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
        }
        let first_difference = seen.iter().zip(&expected).position(|(a, b)| a != b);
        assert_eq!((seen.len(), first_difference), (expected.len(), None), "pages of {limit}");
    }
}

async fn public_reads_are_cacheable_and_revalidate_with_304(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Cache me", "tags": ["c"]}), "2026-01-01T00:00:00Z").await;
    for path in [
        format!("/v1/stories/{}", story["id"]),
        "/v1/stories/slug/cache-me".to_owned(),
        "/v1/stories".into(),
        "/v1/tags".into(),
    ] {
        let res = app.anon().get(&path).await;
        res.ok(200);
        assert_eq!(res.header("cache-control"), Some("public, max-age=60, stale-while-revalidate=300"), "{path}");
        let etag = res.header("etag").unwrap().to_owned();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{path}: {etag}");
        let again = app.anon().with_headers(Method::GET, &path, None, &[("If-None-Match", &etag)]).await;
        assert_eq!(again.status.as_u16(), 304, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let other = app.anon().with_headers(Method::GET, &path, None, &[("If-None-Match", "\"other\"")]).await;
        assert_eq!(other.status.as_u16(), 200);
        // HEAD: a GET's headers, no body.
        let head = app.anon().with_headers(Method::HEAD, &path, None, &[]).await;
        assert_eq!((head.status.as_u16(), head.header("etag")), (200, Some(etag.as_str())), "{path}");
        assert!(head.body.is_empty(), "{path}");
    }
    // Only where a GET is: HEAD on a write-only route is still 405.
    let head = app.anon().with_headers(Method::HEAD, "/v1/auth/token", None, &[]).await;
    assert_eq!(head.status.as_u16(), 405);
    let single = app.anon().get(&format!("/v1/stories/{}", story["id"])).await;
    assert!(single.header("last-modified").unwrap().ends_with("GMT"));
    // A change makes a new ETag.
    let before = single.header("etag").unwrap().to_owned();
    let v = story["version"].as_i64().unwrap();
    editor
        .send(
            Method::PATCH,
            &format!("/v1/stories/{}", story["id"]),
            crate::common::Body::Json(json!({"title": "Cached"})),
            &[("If-Match", &format!("\"v{v}\""))],
        )
        .await
        .ok(200);
    let after = app.anon().get(&format!("/v1/stories/{}", story["id"])).await;
    assert_ne!(after.header("etag").unwrap(), before);
    // Editors' reads are private.
    let private = editor.get(&format!("/v1/stories/{}", story["id"])).await;
    assert_eq!(private.header("cache-control"), Some("private, no-store"));
    assert_eq!(editor.get("/v1/stories").await.header("cache-control"), Some("private, no-store"));
    // Compressed when asked.
    let gz = app.anon().with_headers(Method::GET, "/v1/stories", None, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
}

async fn tags_list_counts_public_stories_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    published(&editor, json!({"title": "One", "tags": ["family", "ageing"]}), "2026-01-01T00:00:00Z").await;
    published(&editor, json!({"title": "Two", "tags": ["family"]}), "2026-01-02T00:00:00Z").await;
    editor.create_story(json!({"title": "Draft", "tags": ["family", "secret"]})).await;
    let scheduled = editor.create_story(json!({"title": "Later", "tags": ["future"]})).await;
    editor.publish(&scheduled["id"], Some("2999-01-01T00:00:00Z")).await;
    let tags = app.anon().get("/v1/tags").await.ok(200);
    assert_eq!(tags["data"], json!([{"slug": "ageing", "count": 1}, {"slug": "family", "count": 2}]));
    let first = app.anon().get("/v1/tags?limit=1").await;
    assert_eq!(first.ok(200)["data"], json!([{"slug": "ageing", "count": 1}]));
    let link = first.header("link").unwrap().trim_start_matches('<').split('>').next().unwrap().to_owned();
    assert_eq!(app.anon().get(&link).await.ok(200)["data"], json!([{"slug": "family", "count": 2}]));
}

async fn derived_fields_of_a_thousand_word_story(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let opening = "When my mother turned eighty-four, we finally said the words we’d avoided for years: “Come and live with us.” She packed her life into eleven boxes and a suitcase that had been to Lisbon twice.";
    let mut body = format!("{opening}\n\n");
    for i in 0..49 {
        body.push_str(&format!("## Part {i}\n\nThe kitchen became a negotiation of kettles, radio stations and who washed up — every single evening.\n\n"));
    }
    let story = editor.create_story(json!({"title": "Mum’s moving in", "body": body})).await;
    let words = body.split_whitespace().filter(|w| !w.starts_with('#')).count() as i64;
    assert_eq!(story["word_count"], words);
    assert!(words > 900);
    assert_eq!(story["reading_time_minutes"], (words + 229) / 230);
    let excerpt = story["excerpt"].as_str().unwrap();
    // The first paragraph is long enough to stand alone.
    assert_eq!(excerpt, opening);
    // Short opening paragraphs are joined, plain text, cut on a word boundary.
    let short = editor
        .create_story(json!({"title": "Short", "body": format!("Hi.\n\n## Heading\n\n{}", "word ".repeat(100))}))
        .await;
    let excerpt = short["excerpt"].as_str().unwrap();
    assert!(excerpt.starts_with("Hi. Heading word word"), "{excerpt}");
    assert!(excerpt.chars().count() <= 301 && excerpt.ends_with("word…"), "{excerpt}");
    let html = story["body_html"].as_str().unwrap();
    assert!(html.contains("<h2>Part 0</h2>") && html.contains("“Come and live with us.”"));
    // An explicit excerpt is kept as given.
    let custom = editor.create_story(json!({"title": "Custom", "body": body, "excerpt": "Eleven boxes."})).await;
    assert_eq!(custom["excerpt"], "Eleven boxes.");
}

async fn hostile_markdown_is_sanitized(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let corpus = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<svg onload=alert(1)><circle r=10 /></svg>",
        "<a href=\"javascript&#58;alert(1)\">x</a>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
        "<form action=\"https://evil.example\"><input name=x></form>",
        "![x](javascript:alert(1))",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    ];
    for source in corpus {
        let story = editor.create_story(json!({"title": "XSS", "body": source})).await;
        let html = story["body_html"].as_str().unwrap().to_ascii_lowercase();
        for bad in
            ["<script", "onerror", "onload", "javascript:", "data:", "<iframe", "<svg", "<form", "style=", "&#58;"]
        {
            assert!(!html.contains(bad), "{source:?} rendered {html:?}");
        }
        // The source itself is kept exactly as written.
        assert_eq!(story["body"], source);
    }
    let link = editor.create_story(json!({"title": "Link", "body": "[Support](https://support.example/help)"})).await;
    assert_eq!(
        link["body_html"],
        "<p><a href=\"https://support.example/help\" rel=\"noopener noreferrer\">Support</a></p>\n"
    );
}

async fn bad_list_parameters_are_400(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    published(&editor, json!({"title": "A"}), "2026-01-01T00:00:00Z").await;
    published(&editor, json!({"title": "B"}), "2026-01-02T00:00:00Z").await;
    for query in [
        "sort=popularity",
        "fields=id,password_hash",
        "limit=500",
        "cursor=garbage",
        "published_after=yesterday",
        "status=published",
    ] {
        app.anon().get(&format!("/v1/stories?{query}")).await.problem(400);
    }
    // Regression (schemathesis): an empty cursor or fields list is the default, not an error.
    assert_eq!(ids(&app.anon().get("/v1/stories?cursor=&fields=").await.ok(200)).len(), 2);
    // A cursor from one order cannot continue another.
    let page = app.anon().get("/v1/stories?limit=1&sort=title").await.ok(200);
    let cursor = page["page"]["next_cursor"].as_str().unwrap();
    app.anon().get(&format!("/v1/stories?limit=1&cursor={cursor}")).await.problem(400);
    // A cursor of the right order without its key is refused, not read as page one.
    let keyless = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"by":"title","id":1}"#)
    };
    app.anon().get(&format!("/v1/stories?sort=title&cursor={keyless}")).await.problem(400);
    // Too many tags, an oversized title, an unknown field: 422, naming them.
    let tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    assert_eq!(
        editor.post("/v1/stories", json!({"title": "x".repeat(301), "tags": tags})).await.invalid_fields(),
        ["tags", "title"]
    );
    editor.post("/v1/stories", json!({"title": "ok", "colour": "red"})).await.problem(422);
}

/// `%00` in a string parameter was a 500 on PostgreSQL ("invalid byte
/// sequence") and an empty answer on SQLite; any control character is 400.
async fn nul_in_query_and_path_strings_is_400(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    published(&editor, json!({"title": "Plain", "tags": ["plain"]}), "2026-01-01T00:00:00Z").await;
    for parameter in ["tag", "locale", "author", "q"] {
        for value in ["%00", "a%00b", "x%01", "%7F"] {
            let res = app.anon().get(&format!("/v1/stories?{parameter}={value}")).await;
            let problem = res.problem(400);
            assert!(problem["detail"].as_str().unwrap().starts_with(parameter), "{parameter}={value}: {problem}");
            // Editors' lists too.
            editor.get(&format!("/v1/stories?{parameter}={value}")).await.problem(400);
        }
    }
    for slug in ["%00", "plain%00", "pl%0Bain"] {
        app.anon().get(&format!("/v1/stories/slug/{slug}")).await.problem(400);
        editor.get(&format!("/v1/stories/slug/{slug}")).await.problem(400);
    }
    // Tabs and newlines are text, not control characters, in a search.
    assert_eq!(ids(&app.anon().get("/v1/stories?q=plain%09%0A").await.ok(200)).len(), 1);
    assert_eq!(ids(&app.anon().get("/v1/stories?tag=plain").await.ok(200)).len(), 1);
    app.anon().get("/v1/stories/slug/plain").await.ok(200);
}

/// Cursors used to be base64 JSON: a client could read them (a search's
/// relevance scores) and forge them (a rating cursor with a prior of
/// `[0, 0]` divided by zero: 500 on PostgreSQL). They are now sealed under a
/// key kept in the database.
async fn cursors_are_sealed_and_every_process_opens_them(backend: Backend) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let mut expected = Vec::new();
    for title in ["Apple", "Banana", "Cherry"] {
        let story = published(&editor, json!({"title": title}), "2026-01-01T00:00:00Z").await;
        expected.push(story["id"].as_i64().unwrap());
    }
    let first = app.anon().get("/v1/stories?sort=title&limit=1").await.ok(200);
    assert_eq!(ids(&first), expected[..1]);
    let cursor = first["page"]["next_cursor"].as_str().unwrap().to_owned();
    let sealed = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("Apple"), "the cursor shows its key");

    // The cursor pages, here and in another process on the same database.
    let page = |cursor: &str| format!("/v1/stories?sort=title&limit=1&cursor={cursor}");
    assert_eq!(ids(&app.anon().get(&page(&cursor)).await.ok(200)), expected[1..2]);
    let other = app.another_process(&[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    let second = other.anon().get(&page(&cursor)).await.ok(200);
    assert_eq!(ids(&second), expected[1..2]);
    let third = second["page"]["next_cursor"].as_str().unwrap();
    assert_eq!(ids(&app.anon().get(&page(third)).await.ok(200)), expected[2..]);

    // A flipped byte, a truncation: 400.
    for i in [0, sealed.len() / 2, sealed.len() - 1] {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        app.anon().get(&page(&URL_SAFE_NO_PAD.encode(&tampered))).await.problem(400);
    }
    app.anon().get(&page(&URL_SAFE_NO_PAD.encode(&sealed[..sealed.len() - 1]))).await.problem(400);
    // Forged as plain base64 JSON, as cursors used to be: 400, not a page.
    let forged = |json: &str| URL_SAFE_NO_PAD.encode(json.as_bytes());
    let after_apple = forged(&format!(r#"{{"by":"title","title":"Apple","id":{}}}"#, expected[0]));
    app.anon().get(&page(&after_apple)).await.problem(400);
    let zero_prior = forged(r#"{"by":"rating","score":1.0,"prior":[0.0,0.0],"id":1}"#);
    app.anon().get(&format!("/v1/stories?sort=-rating&cursor={zero_prior}")).await.problem(400);

    // A cursor is its list's: the same list written another way (parameters
    // in another order, another page size, parameters no list reads) takes
    // it; another list, even with the same sort, does not.
    let same = format!("/v1/stories?cursor={cursor}&limit=2&utm_source=x&sort=title");
    assert_eq!(ids(&app.anon().get(&same).await.ok(200))[0], expected[1]);
    for other in [
        format!("/v1/stories?cursor={cursor}"),
        format!("/v1/stories?sort=title&tag=family&cursor={cursor}"),
        format!("/v1/tags?cursor={cursor}"),
        format!("/v1/stories/{}/revisions?cursor={cursor}", expected[0]),
    ] {
        editor.get(&other).await.problem(400);
    }
}

/// `q` had no bound and each word became one more condition on the index:
/// 10,000 words took 8.6 s on SQLite, 32,000 were a 500 on PostgreSQL
/// ("stack depth limit exceeded"). At most 200 characters and 8 distinct words.
async fn searches_past_the_bounds_are_400(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    published(&editor, json!({"title": "One two three four", "body": "five six seven eight"}), "2026-01-01T00:00:00Z")
        .await;
    let search = |q: String| {
        let app = &app;
        async move { app.anon().get(&format!("/v1/stories?q={q}")).await }
    };
    // Within the bounds: eight distinct words, repeated up to 200 characters.
    let eight = "one two three four five six seven eight";
    assert_eq!(ids(&search(eight.replace(' ', "%20")).await.ok(200)).len(), 1);
    let repeated = [eight; 5].join(" ");
    assert_eq!(repeated.chars().count(), 199);
    assert_eq!(ids(&search(repeated.replace(' ', "%20")).await.ok(200)).len(), 1);
    // Case does not make a word distinct.
    assert_eq!(ids(&search(format!("{}%20ONE%20One", eight.replace(' ', "%20"))).await.ok(200)).len(), 1);

    let nine = search(format!("{}%20nine", eight.replace(' ', "%20"))).await.problem(400);
    assert_eq!(nine["detail"], "q may have at most 8 distinct words, got 9");
    let long = search("a".repeat(201)).await.problem(400);
    assert_eq!(long["detail"], "q must be at most 200 characters long");
    // What used to take seconds, or fail, is refused at once; so is it for editors.
    let flood: Vec<String> = (0..1000).map(|i| format!("w{i}")).collect();
    search(flood.join("%20")).await.problem(400);
    editor.get(&format!("/v1/stories?q={}", flood.join("%20"))).await.problem(400);
}

mod response_cache {
    use super::*;

    crate::on_both_backends!(
        public_reads_are_served_from_memory_until_this_process_writes,
        writes_readers_never_see_keep_the_cache,
    );

    fn rename_behind_the_apps_back(app: &TestApp, title: &str) {
        use diesel::RunQueryDsl;
        let mut conn = app.db.conn().unwrap();
        diesel::sql_query(format!("UPDATE stories SET title = '{title}'")).execute(&mut *conn).unwrap();
    }

    async fn public_reads_are_served_from_memory_until_this_process_writes(backend: Backend) {
        let app = TestApp::start(backend).await;
        let editor = app.editor().await;
        let story = published(&editor, json!({"title": "Original"}), "2026-01-01T00:00:00Z").await;
        let path = format!("/v1/stories/{}", story["id"]);
        let first = app.anon().get(&path).await;
        assert_eq!(first.ok(200)["title"], "Original");

        // Another writer (think: another process) changes the row: readers see the
        // cached answer, with the same ETag, and a 304 for it, until the TTL passes.
        rename_behind_the_apps_back(&app, "Changed elsewhere");
        let cached = app.anon().get(&path).await;
        assert_eq!(cached.ok(200)["title"], "Original");
        assert_eq!(cached.header("etag"), first.header("etag"));
        assert_eq!(cached.header("cache-control"), first.header("cache-control"));
        let etag = first.header("etag").unwrap();
        assert_eq!(
            app.anon().with_headers(Method::GET, &path, None, &[("If-None-Match", etag)]).await.status.as_u16(),
            304
        );
        // Editors always read the database.
        assert_eq!(editor.get(&path).await.ok(200)["title"], "Changed elsewhere");

        // A write through this process empties the cache at once.
        editor.post(&format!("/v1/stories/{}/archive", story["id"]), json!({})).await.ok(200);
        app.anon().get(&path).await.problem(404);
    }

    /// Failed logins, new tokens and account changes leave readers' cached
    /// responses alone; a vote, which changes a public rating, does not.
    async fn writes_readers_never_see_keep_the_cache(backend: Backend) {
        let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "60000")]).await;
        let admin = app.admin().await;
        let story = published(&admin, json!({"title": "Original"}), "2026-01-01T00:00:00Z").await;
        let path = format!("/v1/stories/{}", story["id"]);
        app.anon().get(&path).await.ok(200);
        rename_behind_the_apps_back(&app, "Changed elsewhere");

        let wrong = json!({"email": "nobody@example.com", "password": "not the password"});
        app.anon().post("/v1/auth/token", wrong).await.problem(401);
        app.editor().await;
        let new_editor =
            json!({"email": "grace@example.com", "display_name": "Grace", "password": "a long passphrase"});
        admin.post("/v1/editors", new_editor).await.ok(201);
        assert_eq!(app.anon().get(&path).await.ok(200)["title"], "Original");

        let voter = uuid::Uuid::new_v4();
        let vote = format!("/v1/stories/{}/ratings/{voter}", story["id"]);
        app.anon().send(Method::PUT, &vote, Body::Json(json!({"score": 4})), &[]).await.ok(201);
        assert_eq!(app.anon().get(&path).await.ok(200)["title"], "Changed elsewhere");
    }

    #[actix_web::test]
    async fn a_ttl_of_zero_turns_the_cache_off() {
        let app = TestApp::start_with(Backend::Sqlite, &[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
        let editor = app.editor().await;
        let story = published(&editor, json!({"title": "Original"}), "2026-01-01T00:00:00Z").await;
        let path = format!("/v1/stories/{}", story["id"]);
        app.anon().get(&path).await.ok(200);
        rename_behind_the_apps_back(&app, "Changed elsewhere");
        assert_eq!(app.anon().get(&path).await.ok(200)["title"], "Changed elsewhere");
    }
}

/// What one request may take of the database, whoever sends it.
mod under_load {
    use std::time::Duration;

    use actix_web::ResponseError;
    use anthology::db::Cost;
    use anthology::error::ApiError;
    use diesel::RunQueryDsl;

    use super::*;

    crate::on_both_backends!(
        a_statement_past_the_timeout_is_cancelled_with_503,
        costly_reads_beyond_their_turns_are_503_while_plain_reads_go_on,
        a_flood_of_searches_leaves_plain_reads_answering,
    );

    /// Counts to a hundred million: seconds of work on either backend.
    const SLOW: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) \
                        SELECT count(*) FROM c";

    /// PostgreSQL's `statement_timeout` on every pooled connection, SQLite's
    /// progress handler: a statement that runs too long is cancelled, and the
    /// request is a 503 problem that says so, not a 500.
    async fn a_statement_past_the_timeout_is_cancelled_with_503(backend: Backend) {
        let app = TestApp::start_with(backend, &[("DATABASE_STATEMENT_TIMEOUT_MS", "300")]).await;
        let err = app
            .db
            .read(|conn| {
                diesel::sql_query(SLOW).execute(conn)?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Overloaded(_)), "{err:?}");
        let response = err.error_response();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers().get("retry-after").unwrap(), "2");
        let problem = err.to_problem();
        assert_eq!((problem.problem_type.as_str(), problem.status), ("/problems/overloaded", 503));
        assert!(problem.detail.contains("ran too long"), "{}", problem.detail);

        // The connection goes back to the pool in good order, and the next
        // request's budget starts afresh.
        for _ in 0..5 {
            app.db.read(|conn| Ok(diesel::sql_query("SELECT 1").execute(conn)?)).await.unwrap();
        }
        app.anon().get("/v1/stories").await.ok(200);
    }

    /// Costly reads (readers' searches, rankings by rating, a filter sorted by title) take
    /// turns, half the pool; with every turn taken they are 503 with
    /// `Retry-After`, while plain reads still find a connection.
    async fn costly_reads_beyond_their_turns_are_503_while_plain_reads_go_on(backend: Backend) {
        // Two connections: one turn for costly reads, one left for plain ones.
        let app = TestApp::start_with(backend, &[("DATABASE_POOL_SIZE", "2"), ("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
        let editor = app.editor().await;
        let story = published(&editor, json!({"title": "Plain reading", "tags": ["t"]}), "2026-01-01T00:00:00Z").await;

        // Something costly holds the only turn until it is let go.
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let db = app.db.clone();
        let holder = actix_web::rt::spawn(async move {
            db.read_costing(Cost::High, move |_conn| {
                let _ = started_tx.send(());
                let _ = released.recv();
                Ok(())
            })
            .await
        });
        started.await.unwrap();

        for path in ["/v1/stories?q=plain", "/v1/stories?sort=-rating", "/v1/stories?tag=t&sort=title"] {
            let res = app.anon().get(path).await;
            assert_eq!(res.problem(503)["type"], "/problems/overloaded", "{path}");
            assert_eq!(res.header("retry-after"), Some("2"), "{path}");
        }
        // Plain reads go on, and so do editors' searches.
        app.anon().get(&format!("/v1/stories/{}", story["id"])).await.ok(200);
        app.anon().get("/v1/stories/slug/plain-reading").await.ok(200);
        assert_eq!(ids(&app.anon().get("/v1/stories?tag=t").await.ok(200)).len(), 1);
        assert_eq!(app.anon().get("/v1/tags").await.ok(200)["data"][0]["count"], 1);
        // Suggestions are stored, not computed when read: a plain read.
        app.anon().get(&format!("/v1/stories/{}/related?suggest=2", story["id"])).await.ok(200);
        assert_eq!(ids(&editor.get("/v1/stories?q=plain").await.ok(200)).len(), 1);

        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        assert_eq!(ids(&app.anon().get("/v1/stories?q=plain").await.ok(200)).len(), 1);
    }

    /// Many long (but valid) searches at once: each is answered, or turned
    /// away with 503 when the turns are taken; every plain read meanwhile is 200.
    async fn a_flood_of_searches_leaves_plain_reads_answering(backend: Backend) {
        let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
        let editor = app.editor().await;
        let words = ["mother", "kitchen", "kettle", "radio", "suitcase", "lisbon", "boxes", "evening"];
        let mut stories = Vec::new();
        for i in 0..12 {
            let body: Vec<&str> = words.iter().cycle().skip(i).take(40 + i).copied().collect();
            let story = json!({"title": format!("{} {i}", words[i % 8]), "body": body.join(" ")});
            stories.push(published(&editor, story, "2026-01-01T00:00:00Z").await["id"].as_i64().unwrap());
        }
        // Eight distinct words, 167 characters.
        let long_search = vec![words.join("%20"); 3].join("%20");

        let mut requests = Vec::new();
        for i in 0..48 {
            let path = match i % 3 {
                0 => format!("/v1/stories/{}", stories[i % stories.len()]),
                1 => "/v1/stories?limit=5".to_owned(),
                _ => format!("/v1/stories?q={long_search}&limit={}", 1 + i % 10),
            };
            let url = format!("{}{path}", app.base_url);
            requests.push((
                path,
                actix_web::rt::spawn(async move {
                    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
                    let mut res = client.get(url).send().await.expect("request sent");
                    let body = res.body().await.expect("body read");
                    (res.status().as_u16(), String::from_utf8_lossy(&body).into_owned())
                }),
            ));
        }
        let mut searches_answered = 0;
        for (path, request) in requests {
            let (status, body) = request.await.unwrap();
            match (path.contains("q="), status) {
                (true, 200) => searches_answered += 1,
                (true, 503) => assert!(body.contains("/problems/overloaded"), "{path}: {body}"),
                (_, status) => assert_eq!(status, 200, "{path}: {body}"),
            }
        }
        assert!(searches_answered > 0);
    }
}

/// List items carry exactly the chosen fields, keys in alphabetical order
/// (nested objects' too), as lists have always sent them; with every field
/// chosen, an item equals the story read on its own.
async fn list_items_carry_the_chosen_fields_in_alphabetical_order(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = json!({
        "title": "Fields", "subtitle": "All of them", "body": "Some *body*.", "tags": ["b", "a"],
        "cover_image": {"url": "https://example.com/c.jpg", "alt": "A cover"},
        "seo": {"meta_title": "Meta", "meta_description": "Described", "canonical_url": "https://example.com/f"},
    });
    let story = published(&editor, story, "2026-01-01T00:00:00Z").await;

    let res = app.anon().get("/v1/stories?fields=title,seo,id,tags,cover_image").await;
    assert_eq!(res.json()["data"][0]["tags"], json!(["b", "a"]));
    let item = Keys::of_first_item(&res.body);
    assert_eq!(item.names(), ["cover_image", "id", "seo", "tags", "title"]);
    assert_eq!(item.of("seo").names(), ["canonical_url", "meta_description", "meta_title"]);
    assert_eq!(item.of("cover_image").names(), ["alt", "url"]);

    // A story's every key, sorted (`Value` sorts them).
    let whole = app.anon().get(&format!("/v1/stories/{}", story["id"])).await.ok(200);
    let every: Vec<&str> = whole.as_object().unwrap().keys().map(String::as_str).collect();
    let item = Keys::of_first_item(&app.anon().get("/v1/stories").await.body);
    let default: Vec<&str> = every.iter().copied().filter(|key| !key.starts_with("body")).collect();
    assert_eq!(item.names(), default);
    assert_eq!(item.of("rating").names(), ["average", "count"]);

    let list = app.anon().get(&format!("/v1/stories?fields={}", every.join(","))).await.ok(200);
    assert_eq!(list["data"][0], whole);
    assert_eq!(
        app.anon().get("/v1/stories?fields=body_html").await.ok(200)["data"][0],
        json!({"body_html": whole["body_html"]})
    );
    assert_eq!(app.anon().get("/v1/stories?fields=id").await.ok(200)["data"][0], json!({"id": story["id"]}));
}

/// A list reads each story's tags with its row: every item has its own, in
/// the order its editor gave them (not the tags' age or name), none when it
/// has none, whichever path the list takes (newest first, a tag, a search,
/// by title); the feed carries the same.
async fn list_items_and_feeds_carry_each_storys_tags_in_the_editors_order(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    published(&editor, json!({"title": "Kelp one", "tags": ["zeta", "alpha", "mid"]}), "2026-01-01T00:00:00Z").await;
    published(&editor, json!({"title": "Kelp two", "tags": ["mid", "zeta", "alpha"]}), "2026-01-02T00:00:00Z").await;
    published(&editor, json!({"title": "Kelp three"}), "2026-01-03T00:00:00Z").await;
    let expected =
        json!({"Kelp one": ["zeta", "alpha", "mid"], "Kelp two": ["mid", "zeta", "alpha"], "Kelp three": []});
    let tags_by_title = |list: Value| -> Value {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (item["title"].as_str().unwrap().to_owned(), item["tags"].clone()))
            .collect()
    };
    for path in ["/v1/stories", "/v1/stories?sort=title", "/v1/stories?q=kelp", "/v1/stories?sort=-published_at"] {
        assert_eq!(tags_by_title(app.anon().get(path).await.ok(200)), expected, "{path}");
    }
    let in_tag = app.anon().get("/v1/stories?tag=alpha").await.ok(200);
    assert_eq!(
        tags_by_title(in_tag),
        json!({"Kelp one": ["zeta", "alpha", "mid"], "Kelp two": ["mid", "zeta", "alpha"]})
    );
    let without = app.anon().get("/v1/stories?fields=title").await.ok(200);
    assert!(without["data"].as_array().unwrap().iter().all(|item| item.get("tags").is_none()));

    let feed = app.anon().get("/v1/feed.json").await.json();
    let feed_tags: Value = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["title"].as_str().unwrap().to_owned(), item["tags"].clone()))
        .collect();
    assert_eq!(feed_tags["Kelp two"], json!(["mid", "zeta", "alpha"]));
}
